"""The Fewer-steps tab's handlers and failure presets (shipped checkpoints, small sizes)."""
import gradio as gr
import numpy as np
import pytest
import torch

from playground import solver_failures as F
from playground import solvers as S
from playground.mnist.checkpoint import DEFAULT_CHECKPOINT
from playground.ui import solvers as U


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_api_streams_one_solver_at_a_time_and_grid_changes_the_errors():
    args = ("2-D: one Gaussian (closed form)", ["ddim", "dpmpp_2m"])
    a = list(U.solvers_api(*args, "logsnr", 7, 0, 0, 3, "2, 8, 32", 0))
    b = list(U.solvers_api(*args, "karras", 7, 0, 0, 3, "2, 8, 32", 0))
    assert len(a) >= 2 and set(a[-1][1]) == {"ddim", "dpmpp_2m"}
    assert list(a[0][1]) == ["ddim"] and a[0][1]["ddim"]["nfe"] == [2, 8, 32]  # a finished solver is always shown
    assert a[-1][1]["ddim"]["nfe"] == [2, 8, 32]
    assert a[-1][1]["dpmpp_2m"]["error"] != b[-1][1]["dpmpp_2m"]["error"]


@pytest.mark.parametrize("bad, msg", [("1, x", "whole numbers"), ("0, 4", "1 … 128"), ("", "1 … 128")])
def test_bad_nfe_list_is_a_clear_error(bad, msg):
    with pytest.raises(gr.Error, match=msg):
        list(U.solvers_api("2-D: one Gaussian (closed form)", ["ddim"], "logsnr", 7, 0, 0, 3, bad, 0))


def test_bad_grid_parameters_are_a_clear_error():
    with pytest.raises(gr.Error, match="σ_min and σ_max"):
        list(U.solvers_api("2-D: one Gaussian (closed form)", ["ddim"], "karras", 7, 0, 1e6, 3, "4", 0))
    with pytest.raises(gr.Error, match="pick at least one solver"):
        list(U.solvers_api("2-D: one Gaussian (closed form)", [], "karras", 7, 0, 0, 3, "4", 0))


@pytest.fixture(scope="module")
def good_run():
    """The good run's digits and verdict from x_T(seed 0), 16 digits: shared by every preset's test."""
    x = F.run_digits(str(DEFAULT_CHECKPOINT), F.GOOD, 16, 0)
    return x, F.verdict(x, F.default_labels(16))


@pytest.mark.parametrize("key", [p.key for p in F.PRESETS])
def test_each_failure_preset_fails_by_the_classifier(key, good_run):
    """Each preset's bad run scores far below the good run from the same x_T on the figure its verdict names,
    so the gallery cannot silently turn into good samples."""
    p = F._preset(key)
    bad = F.run_digits(str(DEFAULT_CHECKPOINT), p.bad, 16, 0)
    vb, vg = F.verdict(bad, F.default_labels(16)), good_run[1]
    assert vg["confident"] >= 0.9 and vg["agreement"] >= 0.9
    assert vb[p.measure] < vg[p.measure] - 0.3, (key, vb, vg)
    assert float((bad - good_run[0]).abs().mean()) > 0.05  # not the good digits again


def test_zero_terminal_snr_failure_is_the_unclipped_x0():
    """The ε-at-zero-terminal-SNR preset fails because x̂₀ = 0/0 goes unclipped: the same run clipped is fine, and
    the unclipped x̂₀ blows far past [−1, 1]."""
    import dataclasses
    bad = F._preset("ztsnr_eps").bad
    clipped = F.run_digits(str(DEFAULT_CHECKPOINT), dataclasses.replace(bad, clip_x0=True), 16, 0)
    assert F.verdict(clipped, F.default_labels(16))["confident"] >= 0.9
    assert float(F.run_digits(str(DEFAULT_CHECKPOINT), bad, 16, 0).abs().max()) > 20


def test_preset_run_shows_both_grids_and_verdicts():
    img, fig, md = U.preset_run("one_step", 0)
    assert fig is None and img.shape[1] > img.shape[0]  # failure and good run side by side
    assert "confident" in md and "agreement" in md and "Why" in md
    with pytest.raises(gr.Error, match="unknown failure preset"):
        U.preset_run("nope", 0)


def test_grid_plot_follows_the_grid_and_the_steps():
    """The tick plot draws the chosen grid's own points on the log-SNR axis, one tick per step."""
    s = U.model_schedule("2-D: one Gaussian (closed form)")
    figs = {(k, n): U.grid_figure(s, k, n, 7.0, None, None, 3.0) for k in ("trailing", "logsnr", "karras")
            for n in (3, 12)}
    for (k, n), fig in figs.items():
        ticks = fig.data[-1].x
        assert len(ticks) == n
        np.testing.assert_allclose(ticks, S.make_grid(s, n, k).log_snr, rtol=1e-9)
        assert fig.layout.meta["grid"] == k and fig.layout.meta["steps"] == n
    np.testing.assert_allclose(np.diff(figs["logsnr", 12].data[-1].x), np.diff(figs["logsnr", 12].data[-1].x)[0],
                               rtol=1e-2)  # uniform in log-SNR: equal gaps
    assert not np.allclose(figs["trailing", 12].data[-1].x, figs["karras", 12].data[-1].x)
    with pytest.raises(ValueError, match="1 … T"):
        U.grid_figure(s, "logsnr", 0, 7.0, None, None, 3.0)


def test_two_ddim_steps_land_between_the_modes():
    r = F.run_preset_2d("gaussians8", n_points=500, n_particles=300)
    assert r["bad_near"] < 0.1 < 0.8 < r["good_near"]


def test_digits_problem_is_cached_and_its_floor_follows_the_precision():
    """The MNIST reference is solved once per (model, digits, seed, precision): a grid change reuses it; bf16 runs
    the reference and the solvers alike, with the higher floor for the order fit."""
    from playground import solver_lab as L
    F.digits_problem.cache_clear()
    a = F.digits_problem(str(DEFAULT_CHECKPOINT), 2, 0, ref_steps=6, bf16=False)
    assert F.digits_problem(str(DEFAULT_CHECKPOINT), 2, 0, ref_steps=6, bf16=False) is a
    b = F.digits_problem(str(DEFAULT_CHECKPOINT), 2, 0, ref_steps=6, bf16=True)
    assert (a.floor, b.floor) == (L.FLOOR_MNIST, L.FLOOR_MNIST_BF16) and "bf16" in b.name
    assert a.ref.shape == (2, 1, 28, 28) and float((a.ref - b.ref).abs().max()) > 0
    F.digits_problem.cache_clear()


def test_a_newer_run_of_the_same_session_stops_the_older_one():
    """A grid change while the curves stream starts a second run into the same plot: the first one stops there
    (it would interleave with the newer), another session's run goes on, and both newer runs finish."""
    from types import SimpleNamespace

    args = ("2-D: one Gaussian (closed form)", ["ddim", "heun"], "karras", 7.0, 0.0, 0.0, 3.0, "1, 2, 4, 8", 0)
    a, b = SimpleNamespace(session_hash="a"), SimpleNamespace(session_hash="b")
    old, other = U.solvers_api(*args, request=a), U.solvers_api(*args, request=b)
    next(old), next(other)
    newer = U.solvers_api(*args[:2], "trailing", *args[3:], request=a)
    *_, (fig, table, _md) = newer
    assert list(old) == []  # superseded: nothing more from the old run
    assert len(list(other)) >= 1  # another session is not touched
    assert set(table) == {"ddim", "heun"} and all(v["order"] is not None for v in table.values())
    assert U._NEWEST == {}  # finished runs leave nothing behind
