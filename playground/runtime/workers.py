"""Independent network calls on the CPU's cores as separate calls, one intra-op thread each.

At the batch sizes here (a 1.3 M-parameter UNet, 28×28) two calls side by side, one thread each, beat one call on
two threads: oneDNN's per-op barriers and the elementwise ops scale badly to 2 threads (bench/bench_likelihood.py
RESULTS). ATen releases the GIL, so Python threads are enough. On a GPU, or with one thread, calls run in turn.

Note: PyTorch's OpenMP thread count is per thread, but a worker's ``torch.set_num_threads(1)`` also becomes the
default of threads created later, so ``ordered_map`` sets the caller's count again when it ends.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator

import torch

__all__ = ["cpu_workers", "ordered_map"]


def cpu_workers(device: torch.device | str) -> int:
    """How many calls to run at once on ``device``: the intra-op thread count on a CPU, else 1."""
    return max(1, torch.get_num_threads()) if torch.device(device).type == "cpu" else 1


def ordered_map(fn: Callable, args: Iterable[tuple], workers: int) -> Iterator:
    """fn(*a) for each a of args, yielded in args' order.

    ``args`` is consumed in the calling thread, in order (so a seeded generator inside it draws as it would
    sequentially); with workers > 1, up to 2·workers calls run at once, each on a thread with one intra-op
    thread. Closing the iterator early waits for the calls in flight and runs no more."""
    if workers <= 1:
        for a in args:
            yield fn(*a)
        return
    prev = torch.get_num_threads()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="playground-worker",
                              initializer=torch.set_num_threads, initargs=(1,))
    pending: deque = deque()
    try:
        for a in args:
            pending.append(pool.submit(fn, *a))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(prev)  # the default for threads made from now on (see the module's note)
