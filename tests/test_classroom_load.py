"""A classroom on the live app: 10 simulated students for about 10 s (bench/bench_classroom.py).

Raw HTTP through Gradio's queue protocol (queue/join + the session's queue/data SSE stream), not
gradio_client. Each student uploads an image once and moves the Forward slider about once a second
through /forward; 2 of the 10 press Sample once through /sample (the tiny test checkpoint, the live
server's defaults). The run is bounded: 10 s of load, then at most what is left of HARD_BOUND_S for
requests in flight. Latency numbers are benchmark figures, not asserted here (the CI machine is shared):
the test only checks that they were measured.
"""
from __future__ import annotations

import importlib.util
import math
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDENTS, SECONDS, HARD_BOUND_S = 10, 10.0, 60.0


def _bench():
    spec = importlib.util.spec_from_file_location("bench_classroom", ROOT / "bench" / "bench_classroom.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_classroom"] = mod  # dataclasses look the module up by name
    spec.loader.exec_module(mod)
    return mod


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


@pytest.mark.timeout(420)  # includes starting the live app (up to 180 s on a busy machine)
def test_classroom_ten_students(live_app):
    bench = _bench()
    t0 = time.perf_counter()
    r = bench.run_classroom(live_app.url, students=STUDENTS, seconds=SECONDS, sample_share=1 / 6,
                            hard_timeout=HARD_BOUND_S, drain=HARD_BOUND_S, server_pid=live_app.proc.pid)
    took = time.perf_counter() - t0
    report = bench.format_report(r)
    print(report)
    assert took <= HARD_BOUND_S + 10, f"the run took {took:.1f} s, over its bound of {HARD_BOUND_S:.0f} s\n{report}"

    acc, fwd, smp = r["accounting"], r["forward"], r["sampling"]
    # every request accounted for: each join got a completion, a counted failure, or was still in flight at the bound
    assert acc["no_request_lost"], report
    assert acc["lost"] == 0 and acc["attempts"] == acc["ok"] + acc["failed"] + acc["unfinished"], report
    assert r["failures"]["total"] == 0, report
    assert r["uploads"]["ok"] == STUDENTS, report

    # the slider: every student moved it, and the moves were answered
    assert fwd["sent"] >= STUDENTS and fwd["completed"] >= STUDENTS, report
    assert fwd["completed"] >= fwd["sent"] - STUDENTS, report  # at most one move per student in flight at the bound
    for key in ("latency_ms", "queue_wait_ms"):
        st = fwd[key]
        assert st["n"] > 0 and all(_finite(st[q]) for q in ("p50", "p95", "max")), (key, st)
        assert 0 <= st["p50"] <= st["p95"] <= st["max"], (key, st)
    assert _finite(fwd["moves_per_student_per_s"]) and fwd["moves_per_student_per_s"] > 0, report

    # sampling: 2 of the 10 pressed Sample; each completed or was at least told its place in line
    assert smp["sent"] == 2, report
    for q in smp["requests"]:
        assert q["outcome"] in ("ok", "unfinished"), q
        assert q["outcome"] == "ok" or q["told"], f"sampling request neither completed nor told its place: {q}"
        assert all(t["rank"] is not None and t["queue_size"] >= 1 for t in q["told"]), q
        if q["outcome"] == "ok":
            assert _finite(q["completion_s"]) and q["frames"] >= 1, q
            assert _finite(q["wait_s"]) and 0 <= q["wait_s"] <= q["completion_s"], q
    if smp["completed"]:
        assert _finite(smp["completion_s"]["p50"]) and _finite(smp["wait_s"]["p50"]), report

    assert _finite(r["cpu_s"]["bench"]), r["cpu_s"]
