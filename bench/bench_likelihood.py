"""Likelihood benchmarks (#24): every term of the bound, the fast estimate against it, the ODE likelihood on MNIST
and in 2-D, and whether bf16 autocast changes the bound. Targets on 2 CPU cores: full ≤ 2 min, fast ≤ 10 s within
its SE of the full, MNIST ODE ≤ 5 min (100 digits), 2-D ODE ≤ 5 s (2,000 points).

    python bench/bench_likelihood.py                      # the issue's sizes (run on an idle machine)
    python bench/bench_likelihood.py --num 2 --points 200 --ode-steps 2 --tiny   # a smoke run
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from playground.likelihood.mnist import evaluate, load  # noqa: E402
from playground.runtime.device import bf16_autocast_ok  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint", default="checkpoints/mnist_eps_cond.pt")
    p.add_argument("--num", type=int, default=100)
    p.add_argument("--points", type=int, default=2000)
    p.add_argument("--ode-steps", type=int, default=50)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--tiny", action="store_true", help="a tiny random UNet (T = 20) instead of the checkpoint")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.tiny:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        import tempfile

        from conftest import make_tiny_checkpoint

        args.checkpoint = str(make_tiny_checkpoint(Path(tempfile.mkdtemp()) / "tiny.pt", T=20))
    model, meta = load(args.checkpoint, "cpu")
    print(f"{args.checkpoint}: {meta.prediction_type}, T = {meta.T}; threads {torch.get_num_threads()}; "
          f"native bf16: {bf16_autocast_ok(torch.device('cpu'))}")
    full = evaluate(model, meta, n=args.num, estimator="full", batch=args.batch)
    print(f"full bound, every t, {args.num} digits: {full.bpd:.4f} ± {full.se:.4f} bits/dim (β: "
          f"{full.other['bpd_beta']:.4f}) in {full.seconds:.1f} s  [target ≤ 120 s]")
    fast = evaluate(model, meta, n=args.num, estimator="fast", batch=args.batch)
    diff = fast.bpd - full.bpd
    print(f"fast (16 strata): {fast.bpd:.4f} ± {fast.se:.4f} in {fast.seconds:.1f} s; fast − full = {diff:+.4f} "
          f"({abs(diff) / max(fast.se, 1e-12):.2f} SE)  [target ≤ 10 s, within its SE]")
    if bf16_autocast_ok(torch.device("cpu")):
        t0 = time.perf_counter()
        bf = evaluate(model, meta, n=args.num, estimator="full", batch=args.batch, bf16=True)
        print(f"full bound with bf16 autocast: {bf.bpd:.4f} ± {bf.se:.4f} (fp32 {full.bpd:.4f}) in "
              f"{time.perf_counter() - t0:.1f} s")
    ode = evaluate(model, meta, n=args.num, estimator="ode", ode_steps=args.ode_steps, batch=args.batch)
    print(f"ODE likelihood ({ode.other['nfe']} NFE, Hutchinson): {ode.bpd:.4f} ± {ode.se:.4f} bits/dim in "
          f"{ode.seconds:.1f} s  [target ≤ 300 s]")
    bench_2d(args.points)


def bench_2d(points: int) -> None:
    from playground import toy2d
    from playground.likelihood.toy2d import likelihood_2d
    from playground.schedules import make_schedule

    s = make_schedule("linear", 1000)
    data = toy2d.make_dataset("moons", 2000, seed=0)
    _, trainer = toy2d.train_denoiser(data, s, toy2d.TrainConfig2D(time_budget_s=5.0), device="cpu")
    r = likelihood_2d(s, data, trainer.ema.requires_grad_(False), trainer.model_cfg.prediction_type,
                      toy2d.make_dataset("moons", points, seed=1))
    print(f"2-D, {points} points: exact {r.exact_nll[0]:.3f}, ODE {r.ode_nll[0]:.3f} ± {r.ode_nll[1]:.3f} "
          f"({r.ode_nfe} NFE, exact trace) in {r.seconds['ode']:.2f} s [target ≤ 5 s], bound {r.bound[0]:.3f} "
          f"± {r.bound[1]:.3f} in {r.seconds['bound']:.2f} s")


if __name__ == "__main__":
    main()
