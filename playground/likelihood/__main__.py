"""CLI: bits/dim of a checkpoint on MNIST digits.

    python -m playground.likelihood --checkpoint checkpoints/mnist_eps_cond.pt --num 100 [--held-out]
                                    [--estimator full|fast|ode] [--both-splits] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys

import torch

from .mnist import ESTIMATORS, evaluate, load

DEFAULTS = dict(checkpoint="checkpoints/mnist_eps_cond.pt", num=100, estimator="full", variance="beta_tilde", k=16,
                ode_steps=50, probe="rademacher", seed=0, batch=125, bf16="auto", device=None, threads=None)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m playground.likelihood", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=DEFAULTS["checkpoint"], help="a Diffusion Playground checkpoint")
    p.add_argument("--num", type=int, default=DEFAULTS["num"], help="digits to evaluate (first N of the split)")
    p.add_argument("--held-out", action="store_true", help="the 2,000 held-out digits instead of the training ones")
    p.add_argument("--both-splits", action="store_true", help="train and held-out, and the gap between them")
    p.add_argument("--estimator", choices=ESTIMATORS, default=DEFAULTS["estimator"],
                   help="full: every t; fast: L_T + L_0 + k stratified t; ode: probability-flow ODE")
    p.add_argument("--variance", choices=("beta_tilde", "beta"), default=DEFAULTS["variance"],
                   help="reverse variance of the bound: β̃_t or β_t (both are printed)")
    p.add_argument("--k", type=int, default=DEFAULTS["k"], help="strata of the fast estimate")
    p.add_argument("--ode-steps", type=int, default=DEFAULTS["ode_steps"], help="Heun steps in λ (2 NFE each)")
    p.add_argument("--probe", choices=("rademacher", "gaussian"), default=DEFAULTS["probe"],
                   help="Hutchinson probe of the ODE's trace")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--batch", type=int, default=DEFAULTS["batch"], help="network inputs per call")
    p.add_argument("--bf16", choices=("auto", "on", "off"), default=DEFAULTS["bf16"],
                   help="bf16 autocast for the network; auto: on a CPU with native bf16 (as the sampler)")
    p.add_argument("--device", default=DEFAULTS["device"], help="cpu, cuda, mps (default: pick the best)")
    p.add_argument("--threads", type=int, default=DEFAULTS["threads"], help="torch CPU threads")
    p.add_argument("--json", default=None, help="also write the reports (with the per-t curve) to this file")
    return p.parse_args(argv)


def _line(r) -> str:
    var = f", σ² = {'β̃_t' if r.variance == 'beta_tilde' else 'β_t'}" if r.variance else ""
    alt = {k: v for k, v in r.other.items() if k.startswith("bpd_")}
    alt_s = "".join(f"; with the other variance {v:.4f}" for v in alt.values())
    return (f"{r.split:>8}: {r.bpd:.4f} ± {r.se:.4f} bits/dim ({r.estimator}, {r.n} digits{var}{alt_s}) "
            f"in {r.seconds:.1f} s")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model, meta = load(args.checkpoint, args.device)
    except Exception as e:  # CheckpointError, unknown device: a message, not a traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.checkpoint}: {meta.prediction_type}-prediction, {meta.schedule} T = {meta.T}")
    splits = (False, True) if args.both_splits else (args.held_out,)
    reports = []
    for held in splits:
        try:
            r = evaluate(model, meta, n=args.num, held_out=held, estimator=args.estimator, k=args.k,
                         variance=args.variance, ode_steps=args.ode_steps, probe=args.probe, seed=args.seed,
                         batch=args.batch, bf16={"auto": None, "on": True, "off": False}[args.bf16])
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        reports.append(r)
        print(_line(r), flush=True)
    if len(reports) == 2:
        gap = reports[1].bpd - reports[0].bpd
        se = (reports[0].se ** 2 + reports[1].se ** 2) ** 0.5
        verdict = "beyond twice its error: memorized" if gap > 2 * se else "within twice its error: no sign of it"
        print(f"     gap: held-out − train = {gap:+.4f} ± {se:.4f} bits/dim ({verdict})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump([r.to_dict() for r in reports], f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
