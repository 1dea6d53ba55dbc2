"""The loss bookkeeping the training UI shows: the last batch, a moving mean, and the loss per noise level.

A trainer on a GPU must not read values back every step (each read waits for the GPU), so a step only queues
a small device tensor (:meth:`LossStats.row`) and the rows are folded on the host, in order, when an event is
due (:meth:`LossStats.flush`: one host sync for all of them). ``update`` does both at once.
"""
from __future__ import annotations

import math

import torch

__all__ = ["N_BUCKETS", "LossStats"]

N_BUCKETS = 10


class LossStats:
    """The loss bookkeeping the UI shows: the last batch, the mean of the last ``window`` steps, and a running
    mean (EMA, weight 0.1) of the loss in each of ``n_buckets`` equal t-buckets of [0, T)."""

    def __init__(self, T: int, n_buckets: int = N_BUCKETS, window: int = 100):
        self.T, self.n_buckets, self.window = T, n_buckets, window
        self.recent: list[float] = []
        self.buckets = [float("nan")] * n_buckets
        self.last = float("nan")
        self.pending: list[torch.Tensor] = []  # rows not yet folded (device tensors)

    @property
    def mean(self) -> float:
        return float(sum(self.recent) / len(self.recent)) if self.recent else float("nan")

    def row(self, per_sample: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """One batch's statistics as a device tensor (1 + 2·n_buckets,): [mean, per-bucket sums, per-bucket counts].
        A one-hot product, not index_add: no atomics, so deterministic on a GPU, and no host sync."""
        onehot = torch.nn.functional.one_hot((t * self.n_buckets // self.T).long(), self.n_buckets).float()  # (B, n)
        loss = per_sample.float()
        return torch.cat([loss.mean()[None], loss @ onehot, onehot.sum(0)])

    def push(self, row: torch.Tensor) -> None:
        """Queue a row (stays on the device until :meth:`flush`)."""
        self.pending.append(row)

    def flush(self) -> float:
        """Fold the queued rows in order, with one host sync for all of them. Returns the last batch's mean."""
        if self.pending:
            rows = torch.stack(self.pending).cpu().tolist()
            self.pending.clear()
            for r in rows:
                self._fold(r)
        return self.last

    def _fold(self, stats: list[float]) -> None:
        self.last = stats[0]
        self.recent = (self.recent + [self.last])[-self.window:]
        for k, (s, c) in enumerate(zip(stats[1:1 + self.n_buckets], stats[1 + self.n_buckets:])):
            if c > 0:
                old = self.buckets[k]
                self.buckets[k] = s / c if math.isnan(old) else 0.9 * old + 0.1 * (s / c)

    def update(self, per_sample: torch.Tensor, t: torch.Tensor) -> float:
        """Record one batch: per-sample losses (B,) at timesteps t (B,). Returns the batch mean (one host sync)."""
        self.push(self.row(per_sample, t))
        return self.flush()
