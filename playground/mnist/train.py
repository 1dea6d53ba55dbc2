"""Train the MNIST diffusion UNet: objectives eps / x0 / v (any schedule) or flow (matching), EMA, AdamW with warmup
and cosine decay, bf16 autocast where it helps, stoppable and resumable, streaming events.

Notation
--------
===============  =================================================================
x0               clean digits, (B, 1, 28, 28) in [-1, 1]                   DDPM x_0
eps              noise ~ N(0, I), same shape                                DDPM ε
t                (B,) long timesteps, uniform in [0, T); objective flow: continuous t ∈ [0, 1) (t = 0 data,
                 t = 1 noise), uniform or logit-normal (SD3), the network told 1000·t (playground/flow.py)
labels           (B,) digit labels; replaced by the null label with prob. ``label_dropout``
                 so one network learns p(x|c) and p(x) (CFG, arXiv:2207.12598)
loss             per-sample MSE to the eps / x0 / v target, optionally min-SNR-γ weighted
                 (arXiv:2303.09556), averaged over the batch; flow: ‖û − (ε − x_0)‖², unweighted
ema              θ_ema ← d·θ_ema + (1−d)·θ, d ramped up as min(decay, (1+n)/(10+n))
t-bucket loss    running loss per tenth of [0, T): how hard each noise level is
===============  =================================================================

Use from Python (the app streams these events)::

    trainer = Trainer(TrainConfig.from_preset("quick"))
    for ev in trainer.run():          # TrainEvent every `log_every` steps (+ previews)
        print(ev.step, ev.loss_mean)  # trainer.stop() from another thread ends it cleanly
    model = trainer.sampling_model()  # EMA weights, eval mode, usable at any moment

Command line::

    python -m playground.train                      # the "quick" preset (5 minutes on 2 CPU cores)
    python -m playground.train --preset shipped --objective v --out checkpoints/mnist_v_cond.pt
    python -m playground.train --preset shipped --objective flow --out checkpoints/mnist_flow_cond.pt
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch

from playground import diffusion, flow, samplers
from playground.mnist.checkpoint import CheckpointError, CheckpointMeta, load_checkpoint, save_checkpoint
from playground.mnist.config_cli import option
from playground.mnist.data import MNISTSplits, batches, load_mnist, to_unit_range
from playground.mnist.loss_stats import N_BUCKETS, LossStats  # noqa: F401  (N_BUCKETS: re-exported)
from playground.mnist.model import UNet, UNetConfig
from playground.mnist.sample import make_model_fn
from playground.runtime import distributed
from playground.runtime.cuda_graphs import GraphedTrainStep, cuda_graphs_ok
from playground.runtime.device import bf16_autocast_ok, pick_device
from playground.schedules import FLOW_SCHEDULE, make_schedule

__all__ = ["TrainConfig", "TrainEvent", "Trainer", "PRESETS", "train"]

EAGER_WARMUP_STEPS = 3  # eager steps before a CUDA graph is captured (handles, optimiser state)
# cuBLAS is deterministic only with a fixed workspace; PyTorch refuses deterministic mode without this setting.
# It must be in the environment before cuBLAS starts, so it is set when the trainer is imported (PyTorch's advice).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in the checkpoint's meta.extra)."""

    prediction_type: str = option("eps", "what the network predicts: eps | x0 | v, or flow (the velocity u = ε − x_0 "
                                  "on the straight path; min-SNR-γ off, schedule 'flow')", aliases=("--objective",))
    schedule: str = option("linear", "noise schedule: linear | scaled_linear | cosine | sigmoid (flow: the path's)")
    T: int = option(1000, "diffusion steps")
    zero_terminal_snr: bool = option(False, "rescale the schedule so that ᾱ_{T−1} = 0")
    steps: int = option(1500, "stop after this many optimiser steps …")
    time_budget_s: float | None = option(300.0, "… or after this much wall time (s), whichever first",
                                         aliases=("--time-budget",))
    batch_size: int = option(128, "digits per optimiser step (the global batch under torchrun)")
    lr: float = option(2e-3, "peak AdamW learning rate")
    warmup_steps: int = option(100, "linear warmup steps, then cosine decay to lr × final_lr_frac …")
    warmup_frac: float | None = option(None, "… or warm up over this fraction of the planned steps")
    final_lr_frac: float = option(0.1, "the learning rate at the end, as a fraction of lr")
    weight_decay: float = option(1e-4, "AdamW weight decay")
    adam_beta2: float = option(0.999, "AdamW's second-moment decay (0.99 adapts faster in short runs)")
    grad_clip: float = option(1.0, "clip the gradient norm at this value")
    ema_decay: float = option(0.999, "EMA of the weights, used for sampling")
    label_dropout: float = option(0.1, "P(label → null) during training, for classifier-free guidance")
    min_snr_gamma: float | None = option(5.0, "min-SNR-γ loss weighting; none (or ≤ 0) = plain MSE (flow: none)")
    t_sampling: str = option("uniform", "uniform t, or lognormal: log-SNR(t) ~ N(logsnr_mean, logsnr_std²); "
                             "flow: uniform or logit_normal: t = sigmoid(N(logit_mean, logit_std²)) (SD3)")
    logsnr_mean: float = option(2.4, "lognormal t: mean of log-SNR (EDM's ln σ ~ N(−1.2, 1.2²) is N(2.4, 2.4²))")
    logsnr_std: float = option(2.4, "lognormal t: standard deviation of log-SNR")
    logit_mean: float = option(0.0, "flow, logit_normal t: the mean m of the logit (SD3: 0)")
    logit_std: float = option(1.0, "flow, logit_normal t: the standard deviation s of the logit (SD3: 1)")
    conditional: bool = option(True, "class-conditional (CFG-capable) model")
    seed: int = option(0, "seeds the weights, the data order and every t, ε and label dropout")
    bf16: str = option("auto", "bf16 autocast: auto (where the hardware has native bf16) | on | off")
    channels_last: bool = option(True, "NHWC memory format (faster fp32 convs on CPU, what cuDNN's bf16 wants)")
    cuda_graph: bool = option(True, "CUDA: replay the whole step as one CUDA graph after the eager warm-up")
    deterministic: bool = option(False, "CUDA: deterministic kernels only (bit-identical reruns; the CPU always is)")
    log_every: int = option(10, "a step event every N steps")
    preview_every: int = option(200, "fixed-seed sample previews every N steps (0 = never)")
    preview_steps: int = option(20, "DDIM steps of a preview")
    preview_guidance: float = option(2.0, "classifier-free guidance scale of a preview")
    checkpoint_every: int = option(0, "also write the checkpoint every N steps (0 = only at the end)")
    model: UNetConfig = option(default_factory=UNetConfig, help="the UNet (its own flags below)")

    @classmethod
    def from_preset(cls, name: str = "quick", **overrides) -> "TrainConfig":
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
        kw = {**PRESETS[name], **overrides}
        if is_flow(kw.get("prediction_type", "eps")):  # flow matching's loss is the plain MSE of the velocity
            kw.setdefault("min_snr_gamma", None)
        return cls(**kw)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        if isinstance(kw.get("model"), dict):
            kw["model"] = UNetConfig.from_dict(kw["model"])
        return cls(**kw)


# Named presets the app offers. "quick" is also the CLI default. Their measured quality and speed are in
# the README ("Quick training", "On a GPU") and bench/bench_recipe.py / bench/bench_gpu.py RESULTS.
PRESETS: dict[str, dict] = {
    # Recognisable digits in 5 minutes on 2 CPU cores. The UNet sees 2×2-pixel patches (14×14 at the top level):
    # cheaper per step on the CPU, and better at a fixed time. A higher peak LR, a short warmup and a decay to
    # 0.3× suit runs of a few hundred to ~1,600 steps.
    "quick": dict(steps=100_000, time_budget_s=300.0, batch_size=128, lr=3e-3, warmup_steps=50, final_lr_frac=0.3,
                  model=UNetConfig(patch_size=2)),
    # A demo-length run that streams nicely in the app.
    "tiny": dict(steps=100_000, time_budget_s=60.0, batch_size=64, lr=3e-3, warmup_steps=50, final_lr_frac=0.3,
                 preview_every=100, model=UNetConfig(patch_size=2)),
    # The recipe of the shipped checkpoints: step-based, so a busy machine cannot cut it short.
    "shipped": dict(steps=3_500, time_budget_s=None, batch_size=128, lr=2e-3, warmup_steps=200, preview_every=1000),
    # A GPU run: close to the shipped checkpoint's quality in seconds on one GPU (bench/bench_gpu.py recipe).
    "gpu": dict(steps=1_800, time_budget_s=None, batch_size=128, lr=2e-3, warmup_steps=100, preview_every=300),
}


def is_flow(prediction_type: str) -> bool:
    """True for the flow-matching objective (prediction type 'u', alias 'flow')."""
    return diffusion.normalize_prediction_type(prediction_type) == "u"


@dataclass
class TrainEvent:
    """One report from the training loop; plain values the UI can show directly."""

    kind: str  # "step" | "preview" | "checkpoint" | "done"
    step: int
    total_steps: int
    loss: float  # loss of the last batch
    loss_mean: float  # mean over the last 100 steps
    bucket_loss: list[float]  # running loss per t-bucket (N_BUCKETS of [0, T)); nan = not seen yet
    elapsed_s: float
    steps_per_s: float
    lr: float
    preview: torch.Tensor | None = None  # (n, 1, 28, 28) float in [0, 1], fixed seed
    preview_labels: list[int] | None = None
    message: str = ""
    planned_steps: int = 0  # steps this run expects to reach (time budget: from the steps/s measured so far)


class Trainer:
    """Holds model, EMA, optimiser and data; ``run()`` is the stoppable training generator."""

    def __init__(
        self,
        config: TrainConfig | None = None,
        *,
        data: MNISTSplits | None = None,
        data_dir: str | None = None,
        download: bool = False,
        device: str | torch.device | None = None,
        resume: str | Path | None = None,
        out: str | Path | None = None,
        resume_out: str | Path | None = None,
        stop_event: threading.Event | None = None,
        callbacks: list[Callable[[TrainEvent], None]] | None = None,
    ):
        self.cfg = cfg = config or TrainConfig()
        self.dist = distributed.from_env()  # torchrun: this rank's place; else one process
        self.device = distributed.init(self.dist, pick_device(str(device) if device is not None else None))
        if cfg.batch_size % self.dist.world_size:
            raise ValueError(f"batch_size {cfg.batch_size} must divide evenly over {self.dist.world_size} processes")
        self.stop_event = stop_event or threading.Event()
        self.callbacks = list(callbacks or [])
        self.out, self.resume_out = out, resume_out
        self.data = data or load_mnist(data_dir, download=download)
        self.prediction_type = diffusion.normalize_prediction_type(cfg.prediction_type)
        self.flow = self.prediction_type == "u"
        # flow: the straight path; its VP-equivalent grid (schedules 'flow') is where previews and samplers run
        self.schedule = (make_schedule(FLOW_SCHEDULE, cfg.T) if self.flow
                         else make_schedule(cfg.schedule, cfg.T, cfg.zero_terminal_snr))
        _check_objective(cfg, self.flow)
        self.bf16 = cfg.bf16 == "on" or (cfg.bf16 == "auto" and bf16_autocast_ok(self.device))
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.step, self.wall_time_s = 0, 0.0
        self.data_gen = torch.Generator().manual_seed(cfg.seed)  # data order: CPU on every device
        # t, ε and label dropout: drawn where they are used (a CUDA generator on a GPU: no copies, no syncs)
        noise_device = self.device if self.device.type == "cuda" else "cpu"
        self.noise_gen = torch.Generator(noise_device).manual_seed(cfg.seed + 1)
        resume_obj = self._read_resume(resume) if resume is not None else None
        self._build_model(UNetConfig.from_dict(resume_obj["config"]) if resume_obj else self._model_config())
        if resume_obj is not None:
            self._load_resume(resume_obj)
        self.x0 = self.data.train_x0().to(self.device)  # (N, 1, 28, 28)
        self.labels = self.data.train_labels.to(self.device)
        self.stats = LossStats(cfg.T)
        self.t_probs = None if self.flow else timestep_probs(self.schedule, cfg)  # None = uniform
        self._t_probs_gen = None if self.t_probs is None else self.t_probs.to(self.noise_gen.device)
        self.sched_dev = self.schedule.to(self.device)  # the same tables on the device: ᾱ_t gathered there
        self.net = self.model  # what the step calls: the model, or its DistributedDataParallel wrapper
        if self.dist.enabled:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.planned_steps = cfg.steps
        self.lr = cfg.lr  # the learning rate of the last step
        self.clock: Callable[[], float] = time.perf_counter  # wall clock of the time budget (tests substitute one)

    def _model_config(self) -> UNetConfig:
        cfg = self.cfg
        if cfg.conditional:
            return dataclasses.replace(cfg.model, num_classes=cfg.model.num_classes or 10)
        return dataclasses.replace(cfg.model, num_classes=None)

    def _read_resume(self, resume: str | Path) -> dict:
        """A resume checkpoint, refused if it was trained with another objective, schedule or T."""
        obj = load_checkpoint(resume)
        rmeta = CheckpointMeta.from_dict(obj["meta"])
        if (diffusion.normalize_prediction_type(rmeta.prediction_type) != self.prediction_type
                or rmeta.schedule != self.schedule.name or rmeta.T != self.cfg.T):
            raise CheckpointError(f"cannot resume {resume}: it was trained with "
                                  f"{rmeta.prediction_type}/{rmeta.schedule}/T={rmeta.T}, this run asks for "
                                  f"{self.prediction_type}/{self.schedule.name}/T={self.cfg.T}")
        return obj

    def _build_model(self, model_cfg: UNetConfig) -> None:
        """The UNet (seeded init), its EMA copy and AdamW, on the device; the CUDA-graph plumbing where it runs."""
        cfg = self.cfg
        with torch.random.fork_rng(devices=[]):  # weight init: seeded, global RNG left untouched
            torch.manual_seed(cfg.seed)
            self.model = UNet(model_cfg)
        self.ema = copy.deepcopy(self.model).requires_grad_(False).eval()
        self.model.to(self.device, memory_format=self.memory_format)
        self.ema.to(self.device, memory_format=self.memory_format)
        # CUDA graph: the whole step replays as one launch, so the LR and EMA weight live in device tensors
        self.use_graph = cfg.cuda_graph and cuda_graphs_ok(self.device) and not self.dist.enabled
        # fused AdamW: one kernel over all parameters (bench_recipe RESULTS)
        self.opt = torch.optim.AdamW(self.model.parameters(),
                                     lr=torch.tensor(cfg.lr, device=self.device) if self.use_graph
                                     else cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, cfg.adam_beta2),
                                     fused=self.device.type in ("cpu", "cuda"), capturable=self.use_graph)
        self._ema_w = torch.zeros((), device=self.device) if self.device.type == "cuda" else None  # 1 − d, on the GPU
        self._graph: GraphedTrainStep | None = None
        self._side = torch.cuda.Stream(self.device) if self.use_graph else None

    def _load_resume(self, obj: dict) -> None:
        """Weights, optimiser, step count, wall time and both random streams from a resume checkpoint."""
        self.ema.load_state_dict(obj["ema"])
        self.model.load_state_dict(obj.get("model", obj["ema"]))
        if "optimizer" in obj:
            self.opt.load_state_dict(obj["optimizer"])
        rmeta = CheckpointMeta.from_dict(obj["meta"])
        self.step, self.wall_time_s = int(rmeta.steps), float(rmeta.wall_time_s)
        ts = obj.get("train_state") or {}
        if "noise_gen" in ts:
            try:
                self.noise_gen.set_state(ts["noise_gen"])
            except (RuntimeError, TypeError):  # saved on another kind of device: a fresh stream seeded by the step
                self.noise_gen.manual_seed(self.cfg.seed + 1 + self.step)
        if "data_gen" in ts:
            self.data_gen.set_state(ts["data_gen"])

    # ------------------------------------------------------------------ helpers
    @property
    def null_label(self) -> int | None:
        return self.model.config.null_label

    def autocast(self, cache: bool = True):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=cache)  # no cache in a graph

    @contextlib.contextmanager
    def determinism(self):
        """CUDA: with ``deterministic``, deterministic kernels only (cuDNN, cuBLAS, no atomics); without, cuDNN may
        time its convolution algorithms and keep the fastest (benchmark mode). Restored after."""
        if self.device.type != "cuda":
            yield
            return
        cudnn = torch.backends.cudnn
        prev = torch.are_deterministic_algorithms_enabled(), cudnn.deterministic, cudnn.benchmark
        torch.use_deterministic_algorithms(self.cfg.deterministic)
        cudnn.deterministic, cudnn.benchmark = self.cfg.deterministic, not self.cfg.deterministic
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(prev[0])
            cudnn.deterministic, cudnn.benchmark = prev[1], prev[2]

    @property
    def warmup_steps(self) -> int:
        """warmup_steps, or warmup_frac of the planned steps (at least 1)."""
        if self.cfg.warmup_frac is None:
            return self.cfg.warmup_steps
        return max(1, round(self.cfg.warmup_frac * self.planned_steps))

    def lr_at(self, progress: float) -> float:
        """Linear warmup over warmup_steps, then cosine decay by run progress in [0, 1]."""
        cfg = self.cfg
        if self.step < self.warmup_steps:
            return cfg.lr * (self.step + 1) / self.warmup_steps
        p = min(max(progress, 0.0), 1.0)
        return cfg.lr * (cfg.final_lr_frac + (1 - cfg.final_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))

    def plan(self, run_s: float, steps_run: int, wall0: float = 0.0) -> int:
        """The steps this run will reach: ``steps``, or with a time budget what the steps/s measured so far
        (``steps_run`` steps in ``run_s`` seconds of this run) leaves room for. Sets and returns planned_steps."""
        cfg = self.cfg
        planned = cfg.steps
        if cfg.time_budget_s is not None and steps_run > 0 and run_s > 0:
            left = max(cfg.time_budget_s - wall0 - run_s, 0.0)
            planned = min(cfg.steps, self.step + int(steps_run / run_s * left))
        self.planned_steps = max(planned, self.step, 1)
        return self.planned_steps

    def stop(self) -> None:
        """Ask the loop to stop after the current step (thread-safe)."""
        self.stop_event.set()

    def sampling_model(self) -> UNet:
        """The EMA model (eval mode) -- a usable model at any moment of training."""
        return self.ema.eval()

    def meta(self) -> CheckpointMeta:
        return CheckpointMeta(
            prediction_type=self.prediction_type,
            schedule=self.schedule.name,
            T=self.cfg.T,
            zero_terminal_snr=self.schedule.zero_terminal_snr,
            steps=self.step,
            wall_time_s=round(self.wall_time_s, 1),
            data=self.data.source,
            conditional=self.model.config.conditional,
            extra={"train_config": self.cfg.to_dict(), "final_loss_mean": self.stats.mean, "bf16": self.bf16,
                   "device": str(self.device)},
        )

    def save(self, path: str | Path, *, resume_state: bool = False) -> Path:
        """Atomically write the EMA weights (+ raw weights, optimiser, RNG when resume_state)."""
        kw = {}
        if resume_state:
            kw = dict(model_state=self.model.state_dict(), optimizer_state=self.opt.state_dict(),
                      train_state={"noise_gen": self.noise_gen.get_state(), "data_gen": self.data_gen.get_state()})
        return save_checkpoint(path, ema_state=self.ema.state_dict(), config=self.model.config, meta=self.meta(), **kw)

    @torch.no_grad()
    def preview(self, n: int = 10) -> tuple[torch.Tensor, list[int]]:
        """Fixed-seed DDIM samples of the EMA model: ((n, 1, 28, 28) in [0, 1], labels)."""
        labels = [i % 10 for i in range(n)]
        model = self.sampling_model()
        cond = model.config.conditional
        model_fn = make_model_fn(model, torch.tensor(labels, device=self.device) if cond else None,
                                 self.cfg.preview_guidance, bf16=self.bf16, flow_schedule=self.schedule if self.flow
                                 else None)
        if not cond:
            labels = [-1] * n
        x = samplers.sample(model_fn, self.schedule, (n, 1, 28, 28), sampler="ddim",
                            num_steps=min(self.cfg.preview_steps, self.cfg.T),
                            spacing="trailing" if self.flow else "leading",
                            prediction_type=self.prediction_type, clip_x0=True,
                            generator=torch.Generator().manual_seed(1234), device=self.device)
        return to_unit_range(x).cpu(), labels

    @torch.no_grad()
    def _ema_update(self) -> None:
        """θ_ema ← θ_ema + (1 − d)(θ − θ_ema); on CUDA the weight 1 − d is a device tensor (refilled every step)."""
        ema_p, p = list(self.ema.parameters()), [q.detach() for q in self.model.parameters()]
        if self._ema_w is None:
            torch._foreach_lerp_(ema_p, p, 1.0 - self._ema_decay())
        else:  # (torch 2.11's _foreach_lerp_ with a tensor weight reads it back: not capturable)
            diff = torch._foreach_sub(p, ema_p)
            torch._foreach_mul_(diff, self._ema_w)
            torch._foreach_add_(ema_p, diff)

    def _ema_decay(self) -> float:
        return min(self.cfg.ema_decay, (1 + self.step) / (10 + self.step))  # self.step: counting this step

    def _draw(self, B: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """t, ε and the label-dropout mask of a batch of B, in that order from ``noise_gen``."""
        g, dev = self.noise_gen, self.noise_gen.device
        if self.flow:  # continuous t ∈ [0, 1)
            t = flow.sample_t(B, self.cfg.t_sampling, generator=g, mean=self.cfg.logit_mean, std=self.cfg.logit_std)
        elif self.t_probs is None:
            t = torch.randint(0, self.cfg.T, (B,), generator=g, device=dev)
        else:
            t = torch.multinomial(self._t_probs_gen, B, replacement=True, generator=g)
        eps = torch.randn((B, *self.x0.shape[1:]), generator=g, device=dev)
        drop = torch.rand(B, generator=g, device=dev) < self.cfg.label_dropout
        return t.to(self.device), eps.to(self.device), drop.to(self.device)

    def _body(self, x0, labels, t, eps, drop, capturing: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, loss, backward, clip, AdamW and EMA: no host syncs, so a CUDA graph can capture it whole.
        Returns the per-sample losses (B,) and the batch's LossStats row."""
        cfg = self.cfg
        if self.flow:  # the straight path, the network told 1000·t
            x_t, t_in = flow.flow_inputs(x0, eps, t)
        else:
            x_t, t_in = diffusion.q_sample(self.sched_dev, x0, t, eps).float(), t
        y = None
        if self.model.config.conditional:
            y = torch.where(drop, torch.full_like(labels, self.null_label), labels)
        self.model.train()
        with self.autocast(cache=not capturing):
            out = self.net(x_t.contiguous(memory_format=self.memory_format), t_in, y)
        if self.flow:
            per_sample = flow.flow_loss(out, x0, eps)
        else:
            per_sample = diffusion.training_loss(self.sched_dev, out.float(), x0, eps, t, self.prediction_type,
                                                 cfg.min_snr_gamma)
        if not capturing:  # in a graph the grads were set to None before capture: backward writes them afresh
            self.opt.zero_grad(set_to_none=True)
        per_sample.mean().backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        self._ema_update()
        per_sample = per_sample.detach()
        t_cell = (t * cfg.T).long().clamp(max=cfg.T - 1) if self.flow else t  # flow: buckets are tenths of [0, 1)
        return per_sample, self.stats.row(per_sample, t_cell)

    def _set_step_scalars(self, lr: float) -> None:
        self.lr = lr  # the host's copy (events report it without reading the device)
        for g in self.opt.param_groups:
            if isinstance(g["lr"], torch.Tensor):
                g["lr"].fill_(lr)  # a kernel, not a host sync
            else:
                g["lr"] = lr
        if self._ema_w is not None:
            self._ema_w.fill_(1.0 - self._ema_decay())

    def _step_rows(self, x0: torch.Tensor, labels: torch.Tensor,
                   lr: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One optimiser step on a (global) batch: (per-sample losses, timesteps, stats row) of this rank's share."""
        t, eps, drop = self._draw(x0.shape[0])
        x0, labels, t, eps, drop = (distributed.shard(v, self.dist) for v in (x0, labels, t, eps, drop))
        self.step += 1  # the EMA ramp counts this step
        self._set_step_scalars(lr)
        with self.determinism():
            if not self.use_graph:
                per_sample, row = self._body(x0, labels, t, eps, drop)
            elif self._graph is None and self._eager_steps < EAGER_WARMUP_STEPS:
                self._eager_steps += 1
                cur = torch.cuda.current_stream(self.device)
                self._side.wait_stream(cur)
                with torch.cuda.stream(self._side):  # warm-up on a side stream (PyTorch's capture recipe)
                    per_sample, row = self._body(x0, labels, t, eps, drop)
                cur.wait_stream(self._side)
                for x in (per_sample, row):
                    x.record_stream(cur)
            else:
                if self._graph is None:
                    self._graph = GraphedTrainStep(lambda *a: self._body(*a, capturing=True),
                                                   (x0, labels, t, eps, drop),
                                                   before_capture=lambda: self.opt.zero_grad(set_to_none=True))
                per_sample, row = (x.clone() for x in self._graph(x0, labels, t, eps, drop))
        return per_sample, t, row

    _eager_steps = 0

    def train_step(self, x0: torch.Tensor, labels: torch.Tensor, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimiser step on a batch. Returns per-sample losses (B,) and their timesteps."""
        per_sample, t, _ = self._step_rows(x0, labels, lr)
        return per_sample, t

    def _event(self, kind: str, loss: float, t0_wall: float, steps0: int, **kw) -> TrainEvent:
        run_s = self.clock() - t0_wall
        ev = TrainEvent(kind=kind, step=self.step, total_steps=self.cfg.steps, loss=loss, loss_mean=self.stats.mean,
                        bucket_loss=list(self.stats.buckets), elapsed_s=self.wall_time_s,
                        steps_per_s=(self.step - steps0) / run_s if run_s > 0 else 0.0, lr=self.lr,
                        planned_steps=self.planned_steps, **kw)
        for cb in self.callbacks:
            cb(ev)
        return ev

    # ------------------------------------------------------------------ the loop
    def run(self) -> Iterator[TrainEvent]:
        """Train until ``steps``, the time budget, ``stop()``, or the generator is closed.

        Yields TrainEvents. On any exit the checkpoint is written to ``out`` (EMA only) and
        ``resume_out`` (full state), if given.
        """
        cfg = self.cfg
        it = batches(self.x0, self.labels, cfg.batch_size, self.data_gen)
        t0, steps0, wall0 = self.clock(), self.step, self.wall_time_s
        reason = "steps"
        main = self.dist.is_main
        try:
            while self.step < cfg.steps:
                run_s = self.clock() - t0
                over_budget = cfg.time_budget_s is not None and wall0 + run_s >= cfg.time_budget_s
                if self.dist.enabled:  # rank 0 decides, every log_every steps, for all ranks
                    if (self.step - steps0) % cfg.log_every == 0:
                        want = self.stop_event.is_set() or over_budget
                        stop, self.planned_steps = distributed.agree(
                            want, self.plan(run_s, self.step - steps0, wall0), self.dist, self.device)
                        if stop:
                            reason = "stopped" if self.stop_event.is_set() else "time budget"
                            break
                else:
                    if self.stop_event.is_set():
                        reason = "stopped"
                        break
                    if over_budget:
                        reason = "time budget"
                        break
                    # progress of the plan: the steps/s measured so far say how many steps the budget leaves room for
                    # (a slow machine warms up and decays in fewer steps instead of spending its budget in warmup)
                    self.plan(run_s, self.step - steps0, wall0)
                progress = self.step / self.planned_steps
                x0, labels = next(it)
                _, _, row = self._step_rows(x0, labels, self.lr_at(progress))
                self.stats.push(row)  # folded (one host sync) only when an event is due
                self.wall_time_s = wall0 + self.clock() - t0
                if main and cfg.preview_every and self.step % cfg.preview_every == 0:
                    self.stats.flush()
                    img, lab = self.preview()
                    yield self._event("preview", self.stats.last, t0, steps0, preview=img, preview_labels=lab)
                elif self.step % cfg.log_every == 0 or self.step == 1:
                    self.stats.flush()
                    self.wall_time_s = wall0 + self.clock() - t0  # after the sync: the GPU's work is done
                    yield self._event("step", self.stats.last, t0, steps0)
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and main:
                    self._write()
                    yield self._event("checkpoint", self.stats.last, t0, steps0,
                                      message=f"checkpoint at step {self.step}")
        except GeneratorExit:
            reason = "stopped"
            self._write()
            raise
        self.stats.flush()
        self.wall_time_s = wall0 + self.clock() - t0
        self._write()
        img, lab = self.preview() if main else (None, None)
        msg = f"finished ({reason}) after {self.step} steps, {self.wall_time_s:.0f} s"
        yield self._event("done", self.stats.last, t0, steps0, preview=img, preview_labels=lab, message=msg)

    def _write(self) -> None:
        if not self.dist.is_main:  # rank 0 alone writes
            return
        if self.out:
            self.save(self.out)
        if self.resume_out:
            self.save(self.resume_out, resume_state=True)


def _check_objective(cfg: TrainConfig, is_flow_run: bool) -> None:
    """Options that belong to the other family are refused with a clear message, not ignored."""
    if is_flow_run:
        if cfg.min_snr_gamma is not None:
            raise ValueError("min-SNR-γ weights the diffusion objectives; flow matching trains on the plain velocity "
                             "MSE: set min_snr_gamma to none (TrainConfig.from_preset does so for flow)")
        if cfg.t_sampling not in flow.T_SAMPLINGS:
            raise ValueError(f"flow matching samples t as {' or '.join(flow.T_SAMPLINGS)}, not {cfg.t_sampling!r}")
        if cfg.zero_terminal_snr:
            raise ValueError("zero_terminal_snr is a VP-schedule option; the flow path already ends in pure noise")
    elif cfg.t_sampling == "logit_normal":
        raise ValueError("logit_normal t is for the flow objective; diffusion uses uniform or lognormal")


def timestep_probs(schedule, cfg: TrainConfig) -> torch.Tensor | None:
    """P(t) for training timesteps, (T,) float64 summing to 1, or None for uniform t.

    "lognormal": log-SNR λ_t ~ N(logsnr_mean, logsnr_std²) on the schedule's grid, i.e.
    P(t) ∝ pdf(λ_t)·|λ_{t+1} − λ_{t−1}|/2 (the normal's mass in t's cell of the λ axis).
    """
    if cfg.t_sampling == "uniform":
        return None
    if cfg.t_sampling != "lognormal":
        raise ValueError(f"unknown t_sampling {cfg.t_sampling!r}: 'uniform' or 'lognormal'")
    lam = schedule.log_snr.double().clamp(min=-40.0, max=40.0)  # finite at zero terminal SNR
    width = torch.gradient(lam)[0].abs()  # |dλ/dt|: the λ-length of each t's cell
    z = (lam - cfg.logsnr_mean) / cfg.logsnr_std
    p = torch.exp(-0.5 * z * z) * width
    return p / p.sum()


def train(config: TrainConfig | None = None, **trainer_kwargs) -> Iterator[TrainEvent]:
    """Convenience: ``Trainer(config, **kw).run()``."""
    return Trainer(config, **trainer_kwargs).run()
