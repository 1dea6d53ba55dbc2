"""Benchmark: a classroom of N students on one server (raw HTTP, Gradio's own queue protocol).

    python bench/bench_classroom.py --start --students 10 --seconds 30        # starts `python app.py`, stops it after
    python bench/bench_classroom.py --url http://127.0.0.1:7860/ --students 60 --json out.json

Each student is one thread with one Gradio session (one browser tab). It uploads the image once, then moves
the Forward tab's t slider about once a second through the public `/forward` endpoint (random t, the same
image; start times and intervals jittered ±20 %; a move that takes longer than the interval is followed at
once by the next, as a student dragging the slider would). A share of the students (default 1 in 6) press
Sample once, at a random moment in the first half of the run, through `/sample` with the app's defaults (the
values in the page's config: 50 steps, 10 images, 3 samplers with the shipped checkpoint; the tiny test
checkpoint in tests). While their sample runs they watch it (no slider moves), then go back to the slider.

Protocol (read from gradio_client 2.x / gradio 6.x, `client.py`, `utils.py`, `routes.py`, `queueing.py`):
  GET  {root}config                         protocol "sse_v3", api_prefix "/gradio_api", dependencies[].id = fn_index
  GET  {root}gradio_api/info                parameter names and defaults of the named endpoints
  POST {root}gradio_api/upload              multipart, field "files" → ["<server path>"]; the input is then
                                            {"path": p, "orig_name": name, "meta": {"_type": "gradio.FileData"}}
  POST {root}gradio_api/queue/join          {"data": [...], "fn_index": id, "session_hash": s, "event_data": null,
                                            "trigger_id": null} → {"event_id": e}; 503 = "Queue is full" (max_size)
  GET  {root}gradio_api/queue/data?session_hash=s   SSE, "data: {json}\\n\\n" per message, all events of the session:
       estimation {rank (0 = next), queue_size, rank_eta}   on joining a line, and again whenever a job starts
       process_starts {eta}   process_generating {output}   process_completed {output, success}
       heartbeat (every 15 s)   unexpected_error {message}   close_stream (no event of the session left pending)
  The browser's per-session /heartbeat stream is not opened: the queue does not need it.
What is measured: /forward latency = join POST sent → process_completed received; queue wait = → process_starts;
sampling wait (→ process_starts), first streamed frame, completion, and every place in line a sampling student
was told. Every attempt ends in exactly one outcome: ok, a failure (error = success false, queue_full, http_error,
lost = the stream closed without our completion, timeout, exception), or unfinished (still waiting or running
when the run's drain time ran out: abandoned, not failed). "No request lost" = attempts = ok + failed + unfinished
and lost = 0. The x_t image of each completed move is fetched like the browser does (--no-fetch to skip); streamed
sampling frames are not downloaded.

The bench is blocking sockets in threads (http.client): no busy loops, no gradio_client (one Client per student
would cost more CPU than the server it measures). Its own CPU time is reported next to the server's.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = """
BEFORE figures: git commit 0ceecc2 (the forward path before the slider blend moved into the browser). The
working tree had the lead's uncommitted changes at the time, so the app ran from a clean export of the commit:

    git archive 0ceecc2 | tar -x -C /tmp/classroom-before          # read-only: the checkout is untouched
    python bench/bench_classroom.py --start --app-dir /tmp/classroom-before --students 10 --seconds 30
    python bench/bench_classroom.py --start --app-dir /tmp/classroom-before --students 30 --seconds 30
    python bench/bench_classroom.py --start --app-dir /tmp/classroom-before --students 60 --seconds 30

The shipped checkpoint, `python app.py` defaults (queue max_size 64; /forward concurrency 4, /sample 2; torch's
default threads), 2-core machine SHARED with other agents' jobs: load average 6.8 → 8.3 (N=10), 7.8 → 9.5
(N=30), 8.8 → 10.3 (N=60) (uptime before → after each run, 16:37–16:42). 512×512 astronaut.png, one move
≈ every 1 s per student (±20 %), 1 in 6 students press Sample once (app defaults: 50 steps, 10 images,
DDPM + DDIM + DPM++, guidance 1.5), 60 s drain after the 30 s window.

| N students                                         | 10            | 30              | 60                  |
|----------------------------------------------------|---------------|-----------------|---------------------|
| /forward moves completed / sent (in 30 s)          | 243 / 243     | 229 / 229       | 154 / 154           |
| /forward latency p50 / p95 / max (join → done)     | 372 / 949 / 2500 ms | 3294 / 4048 / 4354 ms | 9998 / 11494 / 11878 ms |
| /forward queue wait p50 / p95 (join → starts)      | 122 / 538 ms  | 2816 / 3527 ms  | 9285 / 10843 ms     |
| deepest place in the forward line told             | 6             | 26              | 56                  |
| moves served per student per s (on the slider)     | 0.81 (0.90)   | 0.23 (0.25)     | 0.06 (0.06)         |
| slowest student, moves per s on the slider         | 0.82          | 0.22            | 0.03                |
| whole server: moves per s                          | 8.1           | 7.6             | 5.1                 |
| x_t image fetch p50                                | 76 ms         | 143 ms          | 240 ms              |
| upload of the image, p50 (all students at once)    | 0.7 s         | 1.7 s           | 5.3 s               |
| /sample completed / pressed                        | 2 / 2         | 2 / 5           | 0 / 10              |
| /sample wait (join → starts), each                 | 0.0, 0.1 s    | 0.3, 0.3, 72, 75 s, (1 still in line) | 0.1, 0.5 s, (8 still in line) |
| /sample completion (join → done)                   | 60.0, 63.4 s  | 73.6, 78.3 s    | none within 30 + 60 s |
| places told to sampling students (rank+1/size)     | 1/1, 1/1      | 1/1 ×3, 2/2→1/2, 3/3→2/2→1/1 | 1/1 ×3, 2/2, 3/3, … 8/8 (never updated) |
| failures (HTTP, success=false, queue full, timeouts) | 0           | 0               | 0                   |
| accounting: attempts = ok + failed + unfinished, lost | 245 = 245+0+0, 0 | 234 = 231+0+3, 0 | 164 = 154+0+10, 0 |
| CPU s: bench / server (wall)                       | 0.7 / 59 (76 s) | 1.2 / 66 (90 s) | 1.2 / 55 (90 s)   |

Reading it: the server serves about 5–8 /forward moves per second in total on this loaded machine (each call
decodes the uploaded PNG again and draws ε anew, ~0.25–0.7 s of server time under this load), so per-student
rate ≈ that ceiling / N and the line at the "forward" concurrency group (limit 4) becomes the latency. The
queue's max_size 64 was never hit: each student has at most one request outstanding (the bench, like a slider,
waits for the move before sending the next), so N = 60 reached 56 queued events, 8 short of refusals. A
sampling student is told a place once, on joining; Gradio re-sends estimations only when a job of the same
concurrency group starts, so with 2 samples of ~60–75 s running, "8/8" stayed on screen with rank_eta null
(no sample had finished yet to estimate from), and "1/1" meant a 72 s wait.

AFTER (2026-11-22, the browser blends x_t; /forward reuses the decoded image and noise; the idle dev machine, load
0.3–2.8 from the runs themselves; 1 in 6 press Sample; 60 s drain):
  python bench/bench_classroom.py --start --students 10 --seconds 30
  python bench/bench_classroom.py --start --students 30 --seconds 30
  python bench/bench_page_slider.py --start --students 60 --seconds 40                 (the class: all 60 on /forward)
  python bench/bench_page_slider.py --start --students 60 --api-students 6 --seconds 40 (54 on the page, 6 API clients)

| class                                  | 10 on /forward | 30 on /forward | 60 on /forward | 60: 6 on /forward, 54 on the page |
|----------------------------------------|----------------|----------------|----------------|-----------------------------------|
| /forward completed / sent              | 260 / 260      | 694 / 694      | 843 / 843      | 305 + 4 samples unfinished / 309  |
| /forward p50 / p95 / max               | 39 / 165 / 699 ms | 1024 / 1290 / 2123 ms | 2883 / 4442 / 4994 ms | 88 / 376 / 684 ms |
| moves served per /forward student per s | 0.86          | 0.74           | 0.27           | 0.99 (before the one-thread change) |
| /sample done / pressed (all told a place) | 2 / 2       | 5 / 5          | 6 / 10         | 6 / 10                            |
| /sample wait p50 / max                 | 0.0 / 0.0 s    | 31.5 / 52.6 s  | 44.0 / 79.5 s  | 43.0 / 86.5 s                     |
| failures; lost                         | 0; 0           | 0; 0           | 0; 0           | 0; 0                              |
| page slider in Chromium p50 / p95      |                |                | 127 / 226 ms   | 148 / 234 ms (180 / 321 ms before two sampling jobs ran on one thread each) |

THE DISTILLED STUDENT (2026-12-07, git 1f2251d, the idle dev machine: AMD EPYC, 2 cores; load 1.2 → 1.9 and
1.0 → 0.6 before → after): 60 students, 6 of them API clients on /forward (the rest of the class on the page costs
the server nothing per move), 1 in 6 press Sample once with 10 digits, 60 s drain:
  python bench/bench_classroom.py --start --students 60 --api-students 6 --seconds 30      (the app's defaults)
  python bench/bench_classroom.py --start --students 60 --api-students 6 --seconds 30 \
      --sample-model mnist_v_student.pt --sample-steps 2 --sample-spacing trailing     (the 2-step student)

| /sample with                               | defaults: mnist_eps_cond, 50 steps, 3 samplers | mnist_v_student, 2 steps (+ its teacher's DDIM and DPM++ at 2) |
|--------------------------------------------|-------------------|-------------------|
| /sample done / pressed (all told a place)  | 9 / 10 (1 running at the end) | 10 / 10   |
| /sample wait p50 / p95 (join → starts)     | 34.1 / 61.4 s     | 0.09 / 0.14 s     |
| /sample completion p50 / p95               | 49.5 / 77.2 s     | 0.8 / 1.3 s       |
| /forward (6 API clients) p50 / p95         | 35 / 192 ms       | 22 / 96 ms        |
| failures; lost                             | 0; 0              | 0; 0              |
"""  # noqa: E501 (a table of measured results: its rows cannot wrap)


ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGE = ROOT / "assets" / "examples" / "astronaut.png"
FAILURE_KINDS = ("error", "queue_full", "http_error", "lost", "timeout", "exception", "upload_failed", "fetch_failed")


# --- small helpers -------------------------------------------------------------------------------


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False)
        return r.stdout.strip() if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _pct(xs: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]); None for no data."""
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def _stats(xs: list[float], scale: float = 1.0) -> dict[str, float | int | None]:
    if not xs:
        return {"n": 0, "p50": None, "p95": None, "max": None, "mean": None}
    return {"n": len(xs), "p50": _pct(xs, 50) * scale, "p95": _pct(xs, 95) * scale, "max": max(xs) * scale,
            "mean": sum(xs) / len(xs) * scale}


def _proc_cpu_s(pid: int | None) -> float | None:
    """user + system CPU seconds of a process (Linux /proc), None where unavailable."""
    if not pid:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class _Http:
    """One keep-alive connection to the server (re-opened after any error)."""

    def __init__(self, host: str, port: int, timeout: float = 30.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def _c(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float | None = None) -> tuple[int, bytes]:
        """A whole request → (status, body). Retries once on a stale keep-alive connection."""
        for attempt in (0, 1):
            c = self._c()
            try:
                if timeout is not None:
                    c.timeout = timeout
                    if c.sock is not None:
                        c.sock.settimeout(timeout)
                c.request(method, path, body=body, headers=headers or {})
                r = c.getresponse()
                data = r.read()
                if r.will_close:
                    self.close()
                return r.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise
            except BaseException:
                self.close()
                raise
        raise RuntimeError("unreachable")


def _multipart(name: str, filename: str, content: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = "----classroom" + uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# --- the app's endpoints, from its config ----------------------------------------------------------


@dataclass
class Endpoint:
    fn_index: int
    names: list[str | None]  # one per input; None for a State input (sent as null)
    defaults: list[Any]

    def data(self, **values) -> list[Any]:
        out = list(self.defaults)
        for k, v in values.items():
            out[self.names.index(k)] = v
        return out


@dataclass
class Server:
    host: str
    port: int
    root: str  # URL path of the app, ending in "/"
    api: str  # root + api_prefix, ending in "/"
    max_file_size: int | None
    forward: Endpoint
    sample: Endpoint

    @classmethod
    def discover(cls, url: str, timeout: float = 30.0) -> Server:
        u = urllib.parse.urlsplit(url if url.endswith("/") else url + "/")
        if u.scheme != "http":
            raise ValueError(f"only plain http:// is supported (loopback benchmark), got {url!r}")
        h = _Http(u.hostname or "127.0.0.1", u.port or 80, timeout)
        try:
            st, body = h.request("GET", u.path + "config")
            if st != 200:
                raise RuntimeError(f"GET {u.path}config → HTTP {st}")
            config = json.loads(body)
            if config.get("protocol") not in ("sse_v3", "sse_v2.1", "sse_v2", "sse_v1"):
                raise RuntimeError(f"unsupported queue protocol {config.get('protocol')!r}")
            api = u.path + config.get("api_prefix", "/gradio_api").strip("/") + "/"
            st, body = h.request("GET", api + "info")
            if st != 200:
                raise RuntimeError(f"GET {api}info → HTTP {st}")
            info = json.loads(body)["named_endpoints"]
        finally:
            h.close()
        comps = {c["id"]: c for c in config["components"]}

        def endpoint(api_name: str) -> Endpoint:
            dep = next((d for i, d in enumerate(config["dependencies"]) if d.get("api_name") == api_name), None)
            if dep is None:
                raise RuntimeError(f"the app has no /{api_name} endpoint")
            params = list(info[f"/{api_name}"]["parameters"])
            names, defaults = [], []
            for cid in dep["inputs"]:
                if comps.get(cid, {}).get("type") == "state":  # gradio_client inserts null for State inputs
                    names.append(None)
                    defaults.append(None)
                else:
                    p = params.pop(0)
                    names.append(p.get("parameter_name"))
                    defaults.append(p.get("parameter_default"))
            return Endpoint(int(dep.get("id", config["dependencies"].index(dep))), names, defaults)

        return cls(u.hostname or "127.0.0.1", u.port or 80, u.path, api, config.get("max_file_size"),
                   endpoint("forward"), endpoint("sample"))


# --- one request through the queue ------------------------------------------------------------------


@dataclass
class Attempt:
    kind: str  # "forward" | "sample"
    student: int
    t_sent: float  # perf_counter when the join POST was sent
    outcome: str = "pending"
    detail: str = ""
    event_id: str | None = None
    t_starts: float | None = None
    t_first_frame: float | None = None
    t_done: float | None = None
    frames: int = 0
    estimations: list[tuple[float, int | None, int | None, float | None]] = field(default_factory=list)
    output: dict | None = None
    fetch_s: float | None = None

    @property
    def latency(self) -> float | None:
        return None if self.t_done is None else self.t_done - self.t_sent

    @property
    def wait(self) -> float | None:
        return None if self.t_starts is None else self.t_starts - self.t_sent


class _Run:
    """Shared state of one classroom run: deadlines, the request budget, every attempt."""

    def __init__(self, server: Server, stop_at: float, abort_at: float, max_requests: int):
        self.server = server
        self.stop_at, self.abort_at = stop_at, abort_at
        self.max_requests = max_requests
        self.lock = threading.Lock()
        self.n_claimed = 0
        self.attempts: list[Attempt] = []
        self.uploads: list[float] = []
        self.upload_failures: list[str] = []
        self.fetch_failures: list[str] = []
        self.stop = threading.Event()

    def claim(self) -> bool:
        with self.lock:
            if self.n_claimed >= self.max_requests:
                self.stop.set()
                return False
            self.n_claimed += 1
            return True


def _call(run: _Run, post: _Http, stream: _Http, session: str, kind: str, student: int, ep: Endpoint, data: list,
          timeout: float | None) -> Attempt:
    """Join the queue and follow the session's SSE stream until this event completes (or a deadline)."""
    s = run.server
    a = Attempt(kind, student, time.perf_counter())
    with run.lock:
        run.attempts.append(a)
    hard = run.abort_at
    limit = hard if timeout is None else min(hard, a.t_sent + timeout)

    def remaining() -> float:
        return limit - time.perf_counter()

    body = json.dumps({"data": data, "fn_index": ep.fn_index, "session_hash": session, "event_data": None,
                       "trigger_id": None}).encode()
    try:
        st, resp = post.request("POST", s.api + "queue/join", body, {"Content-Type": "application/json"},
                                timeout=max(0.5, remaining()))
    except TimeoutError:
        a.outcome = "unfinished" if limit >= hard else "timeout"
        a.detail = "no answer to queue/join"
        return a
    except OSError as e:
        a.outcome, a.detail = "exception", f"queue/join: {e!r}"
        return a
    if st == 503:
        a.outcome, a.detail = "queue_full", resp.decode(errors="replace")[:200]
        return a
    if st != 200:
        a.outcome, a.detail = "http_error", f"queue/join HTTP {st}: {resp.decode(errors='replace')[:200]}"
        return a
    try:
        a.event_id = json.loads(resp)["event_id"]
    except (ValueError, KeyError):
        a.outcome, a.detail = "http_error", f"queue/join answered {resp[:200]!r}"
        return a

    c = None
    try:
        stream.close()  # one stream per request: a fresh connection is cheapest to reason about
        c = stream._c()
        c.timeout = max(0.5, remaining())
        c.request("GET", s.api + "queue/data?session_hash=" + urllib.parse.quote(session))
        r = c.getresponse()
        if r.status != 200:
            a.outcome, a.detail = "http_error", f"queue/data HTTP {r.status}: {r.read()[:200]!r}"
            return a
        buf = b""
        while True:
            left = remaining()
            if left <= 0:
                raise TimeoutError
            c.sock.settimeout(min(left, 60.0))
            try:
                chunk = r.read1(65536)
            except TimeoutError:
                if remaining() <= 0:
                    raise
                continue
            if not chunk:  # the server ended the stream
                if a.outcome == "pending":
                    a.outcome, a.detail = "lost", "the SSE stream ended without process_completed for this event"
                return a
            buf += chunk
            while b"\n\n" in buf:
                raw, buf = buf.split(b"\n\n", 1)
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                msg = json.loads(line[5:])
                m = msg.get("msg")
                now = time.perf_counter()
                if m == "heartbeat":
                    continue
                if m == "close_stream":
                    if a.outcome == "pending":
                        a.outcome, a.detail = "lost", "close_stream before process_completed for this event"
                    r.read()  # the terminating chunk: leaves the connection reusable
                    return a
                if m == "unexpected_error":
                    a.outcome, a.detail = "exception", f"unexpected_error: {msg.get('message')}"
                    return a
                if msg.get("event_id") not in (None, a.event_id):
                    continue  # another event of this session (not expected: one request at a time)
                if m == "estimation":
                    a.estimations.append((now, msg.get("rank"), msg.get("queue_size"), msg.get("rank_eta")))
                elif m == "process_starts":
                    a.t_starts = now
                elif m in ("process_generating", "process_streaming"):
                    a.frames += 1
                    if a.t_first_frame is None:
                        a.t_first_frame = now
                elif m == "process_completed":
                    a.t_done = now
                    if msg.get("success"):
                        a.outcome = "ok"
                        a.output = msg.get("output") or {}
                    else:
                        out = msg.get("output") or {}
                        a.outcome = "error"
                        a.detail = str(out.get("error") or msg.get("title") or out)[:300]
                    # close_stream follows at once (no other event of the session is pending): wait for it
                    # briefly, so that the connection closes cleanly, but never hold the student up for it
                    limit = min(limit, now + 5.0)
    except TimeoutError:
        if a.outcome == "pending":
            a.outcome = "unfinished" if limit >= hard else "timeout"
            a.detail = "still in line" if a.t_starts is None else "still running"
        stream.close()
        return a
    except (OSError, http.client.HTTPException, ValueError) as e:
        if a.outcome == "pending":
            a.outcome, a.detail = "exception", f"queue/data: {e!r}"
        stream.close()
        return a
    finally:
        if a.outcome == "pending":
            a.outcome, a.detail = "exception", "left the stream without an outcome"
            stream.close()


def _fetch_image(run: _Run, h: _Http, a: Attempt) -> None:
    """GET the x_t image of a completed move, as the browser would (timed separately from the latency)."""
    try:
        first = (a.output or {}).get("data", [None])[0]
        url = first.get("url") if isinstance(first, dict) else None
        if not url:
            return
        u = urllib.parse.urlsplit(url)
        t0 = time.perf_counter()
        st, body = h.request("GET", u.path + (("?" + u.query) if u.query else ""),
                             timeout=max(0.5, run.abort_at - t0))
        if st != 200 or not body:
            raise OSError(f"HTTP {st}, {len(body)} bytes")
        a.fetch_s = time.perf_counter() - t0
    except (OSError, http.client.HTTPException) as e:
        with run.lock:
            run.fetch_failures.append(f"student {a.student}: {e!r}"[:200])


# --- a student ------------------------------------------------------------------------------------


def _page_student(run: _Run, i: int, samples_at: float | None, sample_args: dict, seed: int) -> None:
    """A student on the page: the browser blends x_t, so slider moves send nothing; they may press Sample once."""
    rng = random.Random(seed * 1_000_003 + i)
    s = run.server
    session = uuid.uuid4().hex[:11]
    post, stream = _Http(s.host, s.port), _Http(s.host, s.port)
    try:
        if samples_at is None or run.stop.wait(max(0.0, samples_at - time.perf_counter())) or not run.claim():
            return
        _call(run, post, stream, session, "sample", i, s.sample,
              s.sample.data(**sample_args, seed=rng.randrange(2**31 - 1)), None)
    finally:
        post.close()
        stream.close()


def _student(run: _Run, i: int, image: tuple[str, bytes, str], samples_at: float | None, period: float,
             forward_timeout: float, sample_args: dict, fetch_images: bool, seed: int, t0: float) -> None:
    rng = random.Random(seed * 1_000_003 + i)
    s = run.server
    session = uuid.uuid4().hex[:11]
    post, stream = _Http(s.host, s.port), _Http(s.host, s.port)
    try:
        start = t0 + rng.uniform(0.0, period)  # jittered start
        if run.stop.wait(max(0.0, start - time.perf_counter())):
            return
        name, content, ctype = image
        body, ct = _multipart("files", name, content, ctype)
        u0 = time.perf_counter()
        try:
            st, resp = post.request("POST", s.api + "upload", body, {"Content-Type": ct},
                                    timeout=max(0.5, run.stop_at - u0))
            if st != 200:
                raise OSError(f"HTTP {st}: {resp[:200]!r}")
            path = json.loads(resp)[0]
        except (OSError, ValueError, IndexError, http.client.HTTPException) as e:
            with run.lock:
                run.upload_failures.append(f"student {i}: {e!r}"[:200])
            return
        with run.lock:
            run.uploads.append(time.perf_counter() - u0)
        filedata = {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}
        T = int(s.forward.defaults[s.forward.names.index("diffusion_steps")] or 1000)
        sampled = samples_at is None
        next_move = time.perf_counter()
        while not run.stop.is_set():
            now = time.perf_counter()
            if now >= run.stop_at:
                break
            if not sampled and now >= samples_at:
                sampled = True
                if not run.claim():
                    break
                data = s.sample.data(**sample_args, seed=rng.randrange(2**31 - 1))
                _call(run, post, stream, session, "sample", i, s.sample, data, None)
                next_move = time.perf_counter()
                continue
            wake = min(next_move, samples_at if not sampled else next_move, run.stop_at)
            if wake > now:
                if run.stop.wait(wake - now):
                    break
                continue
            if not run.claim():
                break
            sent = time.perf_counter()
            a = _call(run, post, stream, session, "forward", i, s.forward,
                      s.forward.data(image=filedata, t=rng.randrange(T)), forward_timeout)
            if a.outcome == "ok" and fetch_images:
                _fetch_image(run, post, a)
            next_move = max(sent + period * rng.uniform(0.8, 1.2), time.perf_counter())
    finally:
        post.close()
        stream.close()


# --- the run ----------------------------------------------------------------------------------------


def run_classroom(url: str, students: int = 10, seconds: float = 30.0, *, sample_share: float = 1 / 6,
                  max_requests: int | None = None, period: float = 1.0, image: str | os.PathLike = DEFAULT_IMAGE,
                  sample_steps: int | None = None, sample_images: int | None = None, show_dpm: bool | None = None,
                  sample_model: str | None = None, sample_spacing: str | None = None,
                  forward_timeout: float = 30.0, drain: float = 60.0, hard_timeout: float | None = None,
                  fetch_images: bool = True, seed: int = 0, server_pid: int | None = None,
                  api_students: int | None = None) -> dict:
    """Drive `students` simulated students against the Gradio server at `url` for `seconds`; returns the figures.

    After `seconds` no new request starts; outstanding ones get up to `drain` seconds more, then are abandoned
    (outcome "unfinished"). `hard_timeout` bounds the whole call (config, uploads, load and drain) from its start;
    `max_requests` bounds the number of queue joins. `server_pid` (optional) adds the server's CPU seconds.
    `api_students`: how many students move t through `/forward` (API clients, or the page before the browser
    blended x_t); the others are page students, whose moves send nothing (default: all students use `/forward`).
    """
    t_call = time.perf_counter()
    hard_timeout = float(hard_timeout) if hard_timeout is not None else seconds + drain + 60.0
    if max_requests is None:
        max_requests = math.ceil(students * seconds / period * 1.5) + students + 10
    uptime_before, load_before = _uptime(), os.getloadavg()
    server = Server.discover(url, timeout=min(30.0, hard_timeout))
    img = Path(image)
    content = img.read_bytes()
    types = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
    ctype = types.get(img.suffix.lower(), "application/octet-stream")

    sample_args: dict[str, Any] = {}
    if sample_steps is not None:
        sample_args["steps"] = int(sample_steps)
    if sample_images is not None:
        sample_args["n_images"] = int(sample_images)
    if show_dpm is not None:
        sample_args["show_dpm"] = bool(show_dpm)
    if sample_model is not None:  # a listed checkpoint's file name, e.g. mnist_v_student.pt
        sample_args["path"] = sample_model
    if sample_spacing is not None:
        sample_args["spacing"] = sample_spacing
    n_sampling = 0 if sample_share <= 0 else min(students, max(1, round(students * sample_share)))
    samplers_idx = {round(k * students / n_sampling) for k in range(n_sampling)} if n_sampling else set()
    rng = random.Random(seed)

    t0 = time.perf_counter()
    stop_at = t0 + seconds
    abort_at = min(stop_at + drain, t_call + hard_timeout)
    run = _Run(server, stop_at, abort_at, max_requests)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    srv0 = _proc_cpu_s(server_pid)
    threads = []
    n_api = students if api_students is None else max(0, min(students, int(api_students)))
    api_idx = {round(k * students / n_api) + (1 if n_api < students else 0) for k in range(n_api)} if n_api else set()
    api_idx = {i % students for i in api_idx}
    for i in range(students):
        at = t0 + rng.uniform(0.15, 0.5) * seconds if i in samplers_idx else None
        if i in api_idx:
            th = threading.Thread(target=_student, name=f"student-{i}", daemon=True,
                                  args=(run, i, (img.name, content, ctype), at, period, forward_timeout, sample_args,
                                        fetch_images, seed, t0))
        else:
            th = threading.Thread(target=_page_student, name=f"page-student-{i}", daemon=True,
                                  args=(run, i, at, sample_args, seed))
        th.start()
        threads.append(th)
    run.stop.wait(max(0.0, stop_at - time.perf_counter()))
    t_load_end = time.perf_counter()
    join_by = abort_at + 5.0  # every blocking read has a timeout that ends by abort_at
    for th in threads:
        th.join(timeout=max(0.0, join_by - time.perf_counter()))
    run.stop.set()
    stuck = [th.name for th in threads if th.is_alive()]
    t_end = time.perf_counter()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    srv1 = _proc_cpu_s(server_pid)

    with run.lock:
        attempts = list(run.attempts)
    fwd = [a for a in attempts if a.kind == "forward"]
    smp = [a for a in attempts if a.kind == "sample"]
    fwd_ok = [a for a in fwd if a.outcome == "ok"]
    load_s = max(1e-9, t_load_end - t0)
    # a move "served" = completed within the load window (the drain only finishes what was in flight). A student
    # who pressed Sample watches it instead of moving the slider: that time is left out of their own rate.
    def slider_s(i: int) -> float:
        busy = sum(max(0.0, min(a.t_done or t_end, t_load_end) - max(a.t_sent, t0)) for a in smp if a.student == i)
        return load_s - busy

    movers = sorted(api_idx)  # the students who move t through /forward
    per_student = [sum(1 for a in fwd_ok if a.student == i and a.t_done <= t_load_end) / load_s for i in movers]
    per_student_slider = [sum(1 for a in fwd_ok if a.student == i and a.t_done <= t_load_end) / slider_s(i)
                          for i in movers if slider_s(i) >= 0.2 * load_s]
    outcomes: dict[str, int] = {}
    for a in attempts:
        outcomes[a.outcome] = outcomes.get(a.outcome, 0) + 1
    by_kind = {k: outcomes.get(k, 0) for k in FAILURE_KINDS}
    by_kind["upload_failed"] = len(run.upload_failures)
    by_kind["fetch_failed"] = len(run.fetch_failures)
    n_failed = sum(by_kind.values())
    examples = [f"{a.kind} (student {a.student}): {a.outcome}: {a.detail}" for a in attempts
                if a.outcome not in ("ok", "unfinished")][:5] + run.upload_failures[:3] + run.fetch_failures[:3]
    n_ok = outcomes.get("ok", 0)
    n_unfinished = outcomes.get("unfinished", 0)
    n_att_failed = sum(v for k, v in outcomes.items() if k not in ("ok", "unfinished"))

    def rel(x):
        return None if x is None else round(x - t0, 3)

    sample_records = []
    for a in smp:
        sample_records.append({
            "student": a.student, "joined_at_s": rel(a.t_sent), "outcome": a.outcome, "detail": a.detail,
            "wait_s": a.wait, "first_frame_s": None if a.t_first_frame is None else a.t_first_frame - a.t_sent,
            "completion_s": a.latency, "frames": a.frames,
            "told": [{"at_s": round(t - a.t_sent, 3), "rank": r, "queue_size": q, "rank_eta": eta}
                     for t, r, q, eta in a.estimations],
        })
    result = {
        "config": {"url": url, "students": students, "api_students": n_api,
                   "sampling_students": len(smp) or n_sampling, "seconds": seconds,
                   "period_s": period, "sample_share": sample_share, "max_requests": max_requests, "drain_s": drain,
                   "hard_timeout_s": hard_timeout, "image": str(img), "image_bytes": len(content),
                   "fetch_images": fetch_images, "forward_timeout_s": forward_timeout, "seed": seed,
                   "forward_fn_index": server.forward.fn_index, "sample_fn_index": server.sample.fn_index,
                   "sample_settings": dict(zip(server.sample.names, server.sample.data(**sample_args)))},
        "load": {"uptime_before": uptime_before, "uptime_after": _uptime(), "loadavg_before": load_before,
                 "loadavg_after": os.getloadavg()},
        "wall_s": {"total": t_end - t_call, "load_window": load_s, "drain": t_end - t_load_end},
        "uploads": {"ok": len(run.uploads), "failed": len(run.upload_failures), "ms": _stats(run.uploads, 1e3)},
        "forward": {
            "sent": len(fwd), "completed": len(fwd_ok),
            "latency_ms": _stats([a.latency for a in fwd_ok], 1e3),
            "queue_wait_ms": _stats([a.wait for a in fwd_ok if a.wait is not None], 1e3),
            "image_fetch_ms": _stats([a.fetch_s for a in fwd_ok if a.fetch_s is not None], 1e3),
            "moves_per_student_per_s": sum(per_student) / max(1, len(movers)),
            "moves_per_student_per_slider_s": (sum(per_student_slider) / len(per_student_slider)
                                               if per_student_slider else None),
            "slowest_student_moves_per_slider_s": min(per_student_slider) if per_student_slider else None,
            "told_rank_max": max((r for a in fwd for _, r, _, _ in a.estimations if r is not None), default=None),
        },
        "sampling": {
            "sent": len(smp), "completed": sum(1 for a in smp if a.outcome == "ok"),
            "told_a_place": sum(1 for a in smp if a.estimations),
            "wait_s": _stats([a.wait for a in smp if a.wait is not None]),
            "completion_s": _stats([a.latency for a in smp if a.outcome == "ok"]),
            "requests": sample_records,
        },
        "failures": {"total": n_failed, "by_kind": by_kind, "examples": examples},
        "accounting": {"attempts": len(attempts), "ok": n_ok, "failed": n_att_failed, "unfinished": n_unfinished,
                       "lost": outcomes.get("lost", 0), "outcomes": outcomes, "stuck_threads": stuck,
                       "no_request_lost": (len(attempts) == n_ok + n_att_failed + n_unfinished
                                           and outcomes.get("lost", 0) == 0 and outcomes.get("pending", 0) == 0
                                           and not stuck)},
        "cpu_s": {"bench": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
                  "server": None if srv0 is None or srv1 is None else srv1 - srv0},
    }
    return result


# --- report -------------------------------------------------------------------------------------------


def _f(x, fmt="{:.0f}", none="–") -> str:
    return none if x is None else fmt.format(x)


def format_report(r: dict) -> str:
    c, f, s = r["config"], r["forward"], r["sampling"]
    lat, qw, fe = f["latency_ms"], f["queue_wait_ms"], f["image_fetch_ms"]
    ss = c["sample_settings"]
    lines = [
        (f"classroom: {c['students']} students ({c['sampling_students']} press Sample; "
         f"{c.get('api_students', c['students'])} move t through /forward, the others on the page), "
         f"{c['seconds']:g} s, a move every ~{c['period_s']:g} s, {c['url']}"),
        f"load before: {r['load']['uptime_before']}",
        f"load after:  {r['load']['uptime_after']}",
        "",
        "| what | value |",
        "|---|---|",
        f"| /forward moves completed / sent | {f['completed']} / {f['sent']} |",
        f"| /forward latency p50 / p95 / max (join → process_completed) | {_f(lat['p50'])} / {_f(lat['p95'])} / "
             f"{_f(lat['max'])} ms |",
        f"| /forward queue wait p50 / p95 (join → process_starts) | {_f(qw['p50'])} / {_f(qw['p95'])} ms |",
        f"| /forward deepest place in line told (rank+1) | "
             f"{_f(None if f['told_rank_max'] is None else f['told_rank_max'] + 1)} |",
        f"| x_t image fetch p50 | {_f(fe['p50'])} ms |",
        (f"| moves served per student per second: all the window / time on the slider (mean, slowest student) | "
         f"{_f(f['moves_per_student_per_s'], '{:.2f}')} / {_f(f['moves_per_student_per_slider_s'], '{:.2f}')}, "
         f"{_f(f['slowest_student_moves_per_slider_s'], '{:.2f}')} |"),
        f"| /sample completed / sent (told a place in line) | {s['completed']} / {s['sent']} ({s['told_a_place']}) |",
        f"| /sample wait p50 / max (join → process_starts) | {_f(s['wait_s']['p50'], '{:.1f}')} / "
             f"{_f(s['wait_s']['max'], '{:.1f}')} s |",
        (f"| /sample completion p50 / max (join → process_completed) | {_f(s['completion_s']['p50'], '{:.1f}')} / "
         f"{_f(s['completion_s']['max'], '{:.1f}')} s |"),
        f"| uploads ok (p50) | {r['uploads']['ok']} ({_f(r['uploads']['ms']['p50'])} ms) |",
        (f"| failures | {r['failures']['total']} "
         + (("(" + ", ".join(f"{k} {v}" for k, v in r['failures']['by_kind'].items() if v) + ")")
            if r['failures']['total'] else "")
         + " |"),
        (f"| accounting: attempts = ok + failed + unfinished; lost | {r['accounting']['attempts']} = "
         f"{r['accounting']['ok']} + {r['accounting']['failed']} + {r['accounting']['unfinished']}; lost "
         f"{r['accounting']['lost']} → "
         f"{'no request lost' if r['accounting']['no_request_lost'] else 'REQUESTS LOST'} |"),
        (f"| CPU seconds: bench / server (wall {r['wall_s']['total']:.1f} s) | {r['cpu_s']['bench']:.1f} / "
         f"{_f(r['cpu_s']['server'], '{:.1f}')} |"),
        "",
        (f"sampling settings: steps {ss.get('steps')}, {ss.get('n_images')} images, DPM++ {ss.get('show_dpm')}, "
         f"guidance {ss.get('guidance')}, {Path(str(ss.get('path'))).name}"),
    ]
    if s["requests"]:
        lines.append("| student | joined at | places told (place/queue size, as the UI shows rank+1) | wait | first "
                     "frame | done | outcome |")
        lines.append("|---|---|---|---|---|---|---|")
        for q in s["requests"]:
            told = [f"{t['rank'] + 1}/{t['queue_size']}" for t in q["told"] if t["rank"] is not None]
            if len(told) > 8:
                told = told[:4] + ["…"] + told[-3:]
            lines.append(f"| {q['student']} | {q['joined_at_s']:.1f} s | {' → '.join(told) or '(none)'} | "
                         f"{_f(q['wait_s'], '{:.1f} s')} | {_f(q['first_frame_s'], '{:.1f} s')} | "
                         f"{_f(q['completion_s'], '{:.1f} s')} | "
                         f"{q['outcome']}{(': ' + q['detail']) if q['detail'] else ''} |")
    for e in r["failures"]["examples"]:
        lines.append("failure: " + e)
    return "\n".join(lines)


# --- starting the app ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def start_app(env_extra: dict[str, str] | None = None, timeout: float = 180.0, app_dir: str | os.PathLike = ROOT):
    """`python app.py --host 127.0.0.1 --port <free>` in app_dir with this environment (+ env_extra).

    Returns (url, proc, log, tmp). app_dir defaults to this checkout; a `git archive <commit>` export measures
    a commit without touching the working tree.
    """
    app_dir = Path(app_dir).resolve()
    port = _free_port()
    tmp = Path(tempfile.mkdtemp(prefix="bench-classroom-"))
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    env.setdefault("GRADIO_TEMP_DIR", str(tmp / "gradio-tmp"))
    log = tmp / "app.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, str(app_dir / "app.py"), "--host", "127.0.0.1", "--port", str(port)],
                                cwd=app_dir, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with code {proc.returncode}:\n"
                               f"{log.read_text(errors='replace')[-3000:]}")
        try:
            h = _Http("127.0.0.1", port, 3.0)
            st, _ = h.request("GET", "/config")
            h.close()
            if st == 200:
                return url, proc, log, tmp
        except OSError:
            pass
        if time.time() > deadline:
            stop_app(proc, tmp)
            raise RuntimeError(f"app.py did not answer within {timeout:.0f} s")
        time.sleep(0.5)


def stop_app(proc: subprocess.Popen, tmp: Path | None = None) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="an already running server, e.g. http://127.0.0.1:7860/")
    where.add_argument("--start", action="store_true", help="start `python app.py --port <free>` (this environment "
                       "passed through, plus --env), stop it at the end")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment for --start")
    ap.add_argument("--app-dir", default=str(ROOT), help="with --start: the checkout whose app.py runs (default: this "
                    "one; e.g. an export made with `git archive <commit> | tar -x -C DIR`)")
    ap.add_argument("--students", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the load window")
    ap.add_argument("--sample-share", type=float, default=1 / 6, help="share of students who press Sample once")
    ap.add_argument("--api-students", type=int, default=None,
                    help="students who move t through /forward (API clients); "
                    "the rest use the page, whose moves send nothing (default: all)")
    ap.add_argument("--max-requests", type=int, default=None,
                    help="hard bound on queue joins (default: 1.5× the planned moves)")
    ap.add_argument("--period", type=float, default=1.0, help="seconds between a student's slider moves")
    ap.add_argument("--drain", type=float, default=60.0, help="seconds after the window for requests in flight")
    ap.add_argument("--hard-timeout", type=float, default=None,
                    help="bound on the whole run (default seconds+drain+60)")
    ap.add_argument("--forward-timeout", type=float, default=30.0)
    ap.add_argument("--sample-steps", type=int, default=None, help="default: the app's default (the config)")
    ap.add_argument("--sample-images", type=int, default=None, help="default: the app's default (the config)")
    ap.add_argument("--sample-model", default=None, help="checkpoint file name for /sample, e.g. mnist_v_student.pt")
    ap.add_argument("--sample-spacing", default=None, help="timestep spacing for /sample (default: the app's)")
    ap.add_argument("--image", default=str(DEFAULT_IMAGE))
    ap.add_argument("--no-fetch", action="store_true", help="do not download the x_t image of each move")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--server-pid", type=int, default=None, help="with --url: report this process's CPU time")
    ap.add_argument("--json", help="write the result dict here")
    args = ap.parse_args(argv)

    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])])
    commit = _git("log", "-1", "--format=%h")
    dirty = _git("status", "--porcelain", "--", "app.py", "playground")
    app_dir = Path(args.app_dir).resolve() if args.start else None
    if app_dir is not None and app_dir != ROOT:
        dirty = ""  # the app does not run from this checkout
    proc = tmp = None
    url, pid = args.url, args.server_pid
    try:
        if args.start:
            extra = dict(kv.split("=", 1) for kv in args.env)
            t = time.perf_counter()
            url, proc, log, tmp = start_app(extra, app_dir=args.app_dir)
            pid = proc.pid
            print(f"started app.py at {url} in {time.perf_counter() - t:.1f} s (log {log})", flush=True)
        r = run_classroom(url, args.students, args.seconds, sample_share=args.sample_share,
                          api_students=args.api_students,
                          max_requests=args.max_requests, period=args.period, image=args.image,
                          sample_steps=args.sample_steps, sample_images=args.sample_images,
                          sample_model=args.sample_model, sample_spacing=args.sample_spacing,
                          forward_timeout=args.forward_timeout, drain=args.drain, hard_timeout=args.hard_timeout,
                          fetch_images=not args.no_fetch, seed=args.seed, server_pid=pid)
    finally:
        if proc is not None:
            stop_app(proc, tmp)
    r["command"] = command
    r["git_commit"] = commit
    r["git_dirty_app"] = dirty or ""
    r["app_dir"] = str(app_dir) if app_dir is not None else None
    print(f"command: {command}\ngit commit of this checkout: {commit}"
          + ("  (uncommitted changes under app.py/playground/)" if dirty else "")
          + (f"; the app ran from {app_dir}" if app_dir is not None and app_dir != ROOT else ""))
    print(format_report(r))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1, default=str))
        print(f"wrote {args.json}")
    return 0 if r["accounting"]["no_request_lost"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
