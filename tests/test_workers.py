"""playground.runtime.workers: calls side by side, results in order, thread counts left as they were."""
from __future__ import annotations

import threading

import pytest
import torch

from playground.runtime.workers import cpu_workers, ordered_map


def test_results_come_in_order_and_the_calls_overlap():
    barrier = threading.Barrier(2, timeout=10)  # passes only if two calls run at the same time

    def call(i):
        if i < 2:
            barrier.wait()
        return i * i, torch.get_num_threads()

    out = list(ordered_map(call, ((i,) for i in range(7)), workers=2))
    assert [r for r, _ in out] == [i * i for i in range(7)]
    assert {n for _, n in out} == {1}  # one intra-op thread per worker


def test_thread_counts_are_restored_for_the_caller_and_for_new_threads():
    prev = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        list(ordered_map(lambda i: i, ((i,) for i in range(4)), workers=2))
        assert torch.get_num_threads() == 2
        seen = []
        th = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        th.start()
        th.join()
        assert seen == [2]  # a worker's set_num_threads(1) must not leak into threads made later
    finally:
        torch.set_num_threads(prev)


def test_args_are_drawn_in_the_callers_thread_in_order():
    gen = torch.Generator().manual_seed(0)
    seq = torch.randn(15, generator=torch.Generator().manual_seed(0)).reshape(5, 3)
    args = ((torch.randn(3, generator=gen),) for _ in range(5))
    out = torch.stack(list(ordered_map(lambda x: x * 2, args, workers=2)))
    torch.testing.assert_close(out, 2 * seq, rtol=0, atol=0)


def test_an_error_in_a_call_reaches_the_caller_and_stopping_early_runs_no_more():
    ran = []

    def call(i):
        ran.append(i)
        if i == 3:
            raise ValueError("boom")
        return i

    with pytest.raises(ValueError, match="boom"):
        list(ordered_map(call, ((i,) for i in range(50)), workers=2))
    assert len(ran) < 50
    ran.clear()
    it = ordered_map(lambda i: ran.append(i) or i, ((i,) for i in range(50)), workers=2)
    assert next(it) == 0
    it.close()
    assert len(ran) <= 5  # the calls in flight (≤ 2·workers), then nothing


def test_one_worker_runs_in_the_callers_thread_and_gpus_get_one():
    caller = threading.get_ident()
    assert list(ordered_map(lambda: threading.get_ident(), [()] * 3, workers=1)) == [caller] * 3
    assert cpu_workers("cuda") == 1 and cpu_workers("mps") == 1
    assert cpu_workers("cpu") == max(1, torch.get_num_threads())
