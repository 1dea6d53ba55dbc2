"""The real client and several users at once, against the live app (tests/conftest.py ``live_app``).

* each public endpoint (``/forward``, ``/sample``, ``/train``) through ``gradio_client``;
* N_CLIENTS clients in threads at once, mixing forward, sample and training requests: every
  request answered, each answer equal to what the same request gives alone (same seed → same
  image), none lost, and no session state leaking between clients.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import LIVE_LIMITS
from PIL import Image

N_FORWARD_CLIENTS, FORWARD_REQS = 5, 4  # 5 clients × 4 requests
N_SAMPLE_CLIENTS, SAMPLE_REQS = 3, 2  # 3 clients × 2 requests
N_TRAIN_CLIENTS = 2  # one trains, the other must get "busy" (one job per server)
N_CLIENTS = N_FORWARD_CLIENTS + N_SAMPLE_CLIENTS + N_TRAIN_CLIENTS  # 10
TRAIN_ARGS = dict(preset="tiny", objective="eps", schedule="linear", t=50, zero_terminal_snr=False, batch_size=16,
                  lr=2e-3, steps=40, time_budget_s=6, conditional=True, model_size="small (16, 32, 64)",
                  preview_every=0)


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _photo(dirpath: Path, i: int) -> Path:
    rng = np.random.default_rng(100 + i)
    p = dirpath / f"photo{i}.png"
    Image.fromarray(rng.integers(0, 256, (24 + 4 * i, 40 + 2 * i, 3), dtype=np.uint8)).save(p)  # distinct sizes
    return p


def _new_client(live_app):
    from gradio_client import Client

    return Client(live_app.url, verbose=False)


def _forward(c, photo, t, seed):
    from gradio_client import handle_file

    img, stats = c.predict(handle_file(str(photo)), "cosine", 1000, t, False, seed, api_name="/forward")
    return _pixels(img), stats


def _files(x) -> list[str]:
    """A File output: a list of paths, or an update dict {"__type__": "update", "value": [...], ...}."""
    if isinstance(x, dict):
        x = x.get("value")
    return [f if isinstance(f, str) else f.get("path") for f in (x or [])]


def _sample(c, ckpt, seed, steps=8, n=2, digit="5", show_dpm=False):
    res = c.predict(ckpt, steps, 0.5, "trailing", True, digit, 2.0, n, seed, show_dpm, api_name="/sample")
    return [_pixels(p) for p in res[:4]], res[6], _files(res[7])


def test_public_api_is_exactly_the_documented_endpoints(client):
    api = client.view_api(return_format="dict", print_info=False)
    assert set(api["named_endpoints"]) == {"/forward", "/sample", "/train", "/sdedit", "/inpaint", "/invert", "/lab2d",
                                           "/likelihood", "/solvers", "/distill"}
    assert not api["unnamed_endpoints"]
    sample_params = [p["parameter_name"] for p in api["named_endpoints"]["/sample"]["parameters"]]
    assert sample_params[:3] == ["path", "steps", "eta"] and "n_images" in sample_params


def test_forward_endpoint(client, tmp_path):
    photo = _photo(tmp_path, 0)
    a, sa = _forward(client, photo, 300, 7)
    b, sb = _forward(client, photo, 300, 7)
    c, _ = _forward(client, photo, 300, 8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)  # same seed → same ε; new seed → new ε
    assert sa == sb and sa["t"] == 300 and sa["T"] == 1000 and 0 < sa["alpha_bar"] < 1
    assert abs(sa["snr"] - sa["alpha_bar"] / (1 - sa["alpha_bar"])) < 1e-9 * max(1, sa["snr"])
    assert (sa["width"], sa["height"]) == (40, 24)


def test_sample_endpoint_streams_and_is_reproducible(client, live_app):
    ckpt = str(live_app.ckpt_dir / "mnist_eps_cond.pt")
    job = client.submit(ckpt, 60, 0.0, "trailing", True, "mixed 0–9", 2.0, 4, 3, True, api_name="/sample")
    updates = list(job)  # every streamed update
    final = job.result()
    assert len(updates) >= 2, "sampling should stream intermediate frames"
    assert "Running" in updates[0][6] and "Done" in final[6] and "step **60/60**" in final[6]
    imgs = [_pixels(p) for p in final[:6]]
    assert all(im.ndim == 3 and im.size > 0 for im in imgs)
    assert [Path(f).suffix for f in _files(final[7])] == [".png", ".gif"] * 3
    again = client.predict(ckpt, 60, 0.0, "trailing", True, "mixed 0–9", 2.0, 4, 3, True, api_name="/sample")
    assert all(np.array_equal(a, _pixels(b)) for a, b in zip(imgs, again[:6]))


def test_train_endpoint_and_session_models_do_not_leak(live_app, tmp_path):
    trainer_client, other_client = _new_client(live_app), _new_client(live_app)
    t0 = time.perf_counter()
    job = trainer_client.submit(*TRAIN_ARGS.values(), api_name="/train")
    updates = list(job)
    status, loss_fig, bucket_fig, preview, ckpt_file, dropdown = job.result()
    assert time.perf_counter() - t0 < float(LIVE_LIMITS["PLAYGROUND_MAX_TRAIN_SECONDS"]) + 60
    assert len(updates) >= 2 and "Finished" in status and Path(preview).is_file()
    ckpt_path = ckpt_file if isinstance(ckpt_file, str) else ckpt_file.get("value") or ckpt_file.get("path")
    assert ckpt_path and Path(ckpt_path).is_file() and ckpt_path.endswith(".pt")
    trained = dropdown if isinstance(dropdown, str) else dropdown.get("value")
    # the session that trained it can sample with it ...
    imgs, st, _ = _sample(trainer_client, trained, seed=1, steps=3)
    assert "Done" in st and imgs[0].size > 0
    # ... another session cannot see it (PLAYGROUND_SAVE_TRAINED=0: it lives in the trainer's gr.State only)
    with pytest.raises(Exception, match="Unknown checkpoint"):
        _sample(other_client, trained, seed=1, steps=3)


def test_many_clients_at_once(live_app, tmp_path):
    """N_CLIENTS clients in threads, all at once: forward, sample and train mixed."""
    ckpt = str(live_app.ckpt_dir / "mnist_eps_cond.pt")
    photos = [_photo(tmp_path, i) for i in range(N_FORWARD_CLIENTS)]
    fwd_reqs = {i: [(100 + 150 * k, 10 * i + k) for k in range(FORWARD_REQS)] for i in range(N_FORWARD_CLIENTS)}
    smp_reqs = {i: [(1000 + 10 * i + k, str((i + k) % 10)) for k in range(SAMPLE_REQS)]
                for i in range(N_SAMPLE_CLIENTS)}

    # what each request gives alone, one at a time
    solo = _new_client(live_app)
    alone_fwd = {(i, k): _forward(solo, photos[i], t, s) for i, reqs in fwd_reqs.items()
                 for k, (t, s) in enumerate(reqs)}
    alone_smp = {(i, k): _sample(solo, ckpt, s, digit=d)[0] for i, reqs in smp_reqs.items()
                 for k, (s, d) in enumerate(reqs)}

    clients = [_new_client(live_app) for _ in range(N_CLIENTS)]
    submitted, answered, lock = [], [], threading.Lock()
    start = threading.Barrier(N_CLIENTS)

    def note(kind, key, value):
        with lock:
            answered.append((kind, key, value))

    def forward_user(i):
        start.wait()
        for k, (t, s) in enumerate(fwd_reqs[i]):
            with lock:
                submitted.append(("forward", (i, k)))
            note("forward", (i, k), _forward(clients[i], photos[i], t, s))

    def sample_user(i):
        start.wait()
        for k, (s, d) in enumerate(smp_reqs[i]):
            with lock:
                submitted.append(("sample", (i, k)))
            note("sample", (i, k), _sample(clients[N_FORWARD_CLIENTS + i], ckpt, s, digit=d))

    def train_user(i):
        start.wait()
        time.sleep(0.5 * i)  # the first one starts the job, the second arrives while it runs
        with lock:
            submitted.append(("train", (i, 0)))
        c = clients[N_FORWARD_CLIENTS + N_SAMPLE_CLIENTS + i]
        note("train", (i, 0), c.predict(*TRAIN_ARGS.values(), api_name="/train"))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(N_CLIENTS) as pool:
        futs = [pool.submit(forward_user, i) for i in range(N_FORWARD_CLIENTS)]
        futs += [pool.submit(sample_user, i) for i in range(N_SAMPLE_CLIENTS)]
        futs += [pool.submit(train_user, i) for i in range(N_TRAIN_CLIENTS)]
        for f in futs:
            f.result(timeout=240)  # re-raises any client error
    wall = time.perf_counter() - t0

    n_expected = N_FORWARD_CLIENTS * FORWARD_REQS + N_SAMPLE_CLIENTS * SAMPLE_REQS + N_TRAIN_CLIENTS
    assert len(submitted) == len(answered) == n_expected  # none lost
    assert sorted((k, key) for k, key, _ in answered) == sorted(submitted)
    for kind, key, value in answered:
        if kind == "forward":
            img, stats = value
            ref_img, ref_stats = alone_fwd[key]
            assert np.array_equal(img, ref_img), f"forward {key} differs from the same request alone"
            assert stats == ref_stats
        elif kind == "sample":
            imgs, status, files = value
            assert "Done" in status and len(files) == 4
            assert all(np.array_equal(a, b) for a, b in zip(imgs, alone_smp[key])), f"sample {key} differs from alone"
    statuses = sorted(v[0] for k, _, v in answered if k == "train")
    assert sum("Finished" in s for s in statuses) == 1 and sum("Busy" in s for s in statuses) == 1, statuses
    # different users got different things (no cross-talk): all forward images are distinct
    fwd_imgs = [v[0].tobytes() for k, _, v in answered if k == "forward"]
    assert len(set(fwd_imgs)) == len(fwd_imgs)
    print(f"\n{N_CLIENTS} clients, {n_expected} concurrent requests answered in {wall:.1f} s")
    # the server is still healthy afterwards
    _, stats = _forward(solo, photos[0], 500, 1)
    assert stats["t"] == 500
    assert_no_server_crash(live_app)


# Transport errors of one connection, not of the app: a client that hung up mid-upload (the bad-upload tests do),
# and uvicorn's h11 refusing to end a file response shorter than its Content-Length (a cached file replaced while
# it was served; seen once in a fresh-clone run, not reproduced; see the closing note of stop 26).
TRANSPORT = ("starlette.requests.ClientDisconnect", "h11._util.LocalProtocolError")


def assert_no_server_crash(live_app) -> None:
    """Every traceback in the server log is a deliberate gr.Error (gradio logs those too) or a transport error."""
    lines = [ln for ln in live_app.log_text().splitlines() if ln and not ln.startswith(" ")]
    ends = [lines[i + 1] for i, ln in enumerate(lines[:-1]) if ln.startswith("Traceback")]
    assert all(e.startswith(("gradio.exceptions.Error", *TRANSPORT)) for e in ends), ends


def test_a_paused_sampling_stream_leaves_grad_mode_alone(tmp_path, monkeypatch, one_thread):
    """Regression: gradio resumes generator handlers on pool threads. A sampling stream paused at a
    `yield` must leave that thread's grad mode as it found it, or a training step that runs on the
    same thread next fails in backward() ('element 0 of tensors does not require grad')."""
    import torch
    from conftest import make_tiny_checkpoint

    from playground.ui import sampling

    d = tmp_path / "ck"
    make_tiny_checkpoint(d / "mnist_eps_cond.pt")
    monkeypatch.setenv("PLAYGROUND_CHECKPOINT_DIR", str(d))
    monkeypatch.setattr(sampling, "STREAM_EVERY_S", 0.0, raising=False)  # stream after every step
    gen = sampling.sample_compare(None, 5, 0.0, "trailing", True, "1", 2.0, 1, 0, False)
    first = next(gen)  # paused mid-run, at a yield
    assert "Running" in first[6] or "Done" in first[6]
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()
    w = torch.nn.Parameter(torch.ones(2))
    (w * 2).sum().backward()  # a training step on this thread still works
    assert w.grad is not None
    gen.close()
