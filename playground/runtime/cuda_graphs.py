"""CUDA graphs: launch a whole training step, or one model call of a sampler, as a single graph replay.

The default UNet is small: a training step is hundreds of tiny kernels, and launching them from Python costs
far more CPU time than the GPU spends on them, so an eager step leaves the GPU idle most of the time (the profile
is in the README, "On a GPU", and bench/bench_gpu.py RESULTS). A CUDA graph records the kernels once and replays
them with one launch.

What a graph needs, and how it is met here:

- **Static memory.** A replay reads and writes the same addresses every time. Inputs are copied into
  fixed buffers before each replay; outputs are read from fixed buffers after it.
- **No host work inside.** Nothing in the captured region may read a value back (no ``.item()``, no
  ``.cpu()``) or change shape. The learning rate and the EMA weight live in device tensors that the host
  refills before each replay; AdamW is fused and ``capturable`` (its step counter is a device tensor).
- **Warm-up first.** The first steps of a run are eager (on a side stream, as PyTorch's docs ask), so
  cuBLAS/cuDNN handles and the optimiser state exist before capture.

:class:`GraphedTrainStep` is used by :class:`playground.mnist.train.Trainer` on CUDA (``TrainConfig.cuda_graph``);
:class:`GraphedModelFn` by the samplers' ``model_fn`` (``sample.make_model_fn(..., cuda_graph=True)``).
Neither is used on the CPU or MPS, where there is no launch overhead to save.
"""
from __future__ import annotations

from typing import Callable

import torch

__all__ = ["GraphedTrainStep", "GraphedModelFn", "cuda_graphs_ok"]


def cuda_graphs_ok(device: torch.device) -> bool:
    """Whether CUDA graphs can be used on ``device`` (a CUDA device: yes)."""
    return torch.device(device).type == "cuda" and torch.cuda.is_available()


class GraphedTrainStep:
    """A training step body ``body(x0, labels, t, eps, drop) -> outputs`` captured once, replayed per step.

    ``body`` must do the whole step without host syncs: forward, loss, backward, clipping, optimiser step and
    EMA update, returning the tensors the caller reads (per-sample losses, a stats row). ``before_capture`` runs
    just before capture (it sets the gradients to None so that the captured backward allocates them in the
    graph's pool and writes, rather than accumulates, them on every replay).
    """

    def __init__(self, body: Callable[..., tuple[torch.Tensor, ...]], example: tuple[torch.Tensor, ...],
                 before_capture: Callable[[], None]):
        self.static_in = tuple(x.detach().clone() for x in example)
        self.graph = torch.cuda.CUDAGraph()
        before_capture()
        torch.cuda.synchronize()
        with torch.cuda.graph(self.graph):
            self.static_out = body(*self.static_in)

    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Copy ``inputs`` into the static buffers and replay. The outputs are overwritten by the next replay."""
        for buf, x in zip(self.static_in, inputs):
            buf.copy_(x, non_blocking=True)
        self.graph.replay()
        return self.static_out


class GraphedModelFn:
    """``model_fn(x_t, t) -> output`` replayed from a CUDA graph, one graph per batch shape.

    x_t and t (as a (B,) long tensor: a sampler's scalar t is expanded) are copied into static buffers and the
    graph replays the whole call: CFG's two passes, autocast and all. The timestep is an input of the graph, so
    one capture serves every step of a run and every later batch of the same shape (``sample.generate`` in
    batches). Shapes beyond ``max_graphs``, other devices or dtypes run eagerly.
    """

    def __init__(self, model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], device: torch.device,
                 max_graphs: int = 4):
        self.model_fn, self.device, self.max_graphs = model_fn, torch.device(device), max_graphs
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self.pool = None  # one memory pool shared by this object's graphs
        self.eager_calls = 0

    def _capture(self, x_t: torch.Tensor, t: torch.Tensor):
        static_x, static_t = x_t.detach().clone(), t.detach().clone()
        cur = torch.cuda.current_stream(self.device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(cur)
        with torch.cuda.stream(side):  # warm-up (lazy inits, cuDNN's choices) outside the capture
            self.model_fn(static_x, static_t)
        cur.wait_stream(side)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, pool=self.pool):
            out = self.model_fn(static_x, static_t)
        if self.pool is None:
            self.pool = g.pool()
        return g, static_x, static_t, out

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=x_t.device).long().reshape(-1).expand(x_t.shape[0])
        key = (tuple(x_t.shape), x_t.dtype)
        if x_t.device != self.device or (key not in self.graphs and len(self.graphs) >= self.max_graphs):
            self.eager_calls += 1
            return self.model_fn(x_t, t)
        if key not in self.graphs:
            self.graphs[key] = self._capture(x_t, t)
        g, static_x, static_t, out = self.graphs[key]
        static_x.copy_(x_t)
        static_t.copy_(t)
        g.replay()
        return out.clone()  # the next replay overwrites `out`
