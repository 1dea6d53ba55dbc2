"""The 2-D lab tab's flow-matching section: the velocity field (exact and learned), diffusion's probability-flow
ODE against the flow ODE from one x_T with their straightness, and reflow round by round.

Part of the tab package playground/ui/lab2d (its __init__ has the layout). The maths is in playground/toy2d/flow2d.py
and playground/flow.py (x_t = (1 − t)·x_0 + t·ε, t = 0 data, t = 1 noise, dx/dt = u, sampled from t = 1 down to 0).
"""
from __future__ import annotations

import time

import gradio as gr
import numpy as np
import torch

from playground import toy2d
from playground.flow import length_ratio
from playground.ui import jobs
from playground.ui.lab2d.config import COLORS, EXACT_COLOR, GRID, LEARNED_COLOR, MAX_PARTICLES
from playground.ui.lab2d.figures import on_axes, panels, path_traces
from playground.ui.lab2d.runs import _distance_row, _yardstick
from playground.ui.lab2d.session import lab_schedule, model_key, whole_number
from playground.ui.lab2d.view import _square_layout, arrow_segments, f4, plot_data
from playground.ui.limits import adapt_threads, interactive_work
from playground.ui.page import PROGRESS, user_errors

SOURCE_CHOICES = [("exact (the N points' own fields)", "exact"), ("trained networks", "learned")]
FLOW_COLOR = "#9467bd"
TRAIN_SECONDS = 5.0  # each network of the comparison: flow matching reaches the data in ≤ 5 s (bench_flow.py 2d)
REFLOW_STEPS = (1, 2, 4)
MAX_REFLOW_ROUNDS = 3
ODE_STEPS = 50  # the comparison's paths: Heun on both ODEs


def _trained(state: dict, schedule: str, ztsnr: bool, cache: dict | None, progress) -> dict:
    """A v-prediction diffusion MLP and a flow-matching MLP for these settings, TRAIN_SECONDS each (cached)."""
    key = (model_key(state, schedule, ztsnr), TRAIN_SECONDS)
    if cache and cache.get("key") == key:
        return cache
    s = lab_schedule(schedule, ztsnr)
    progress(0.0, desc="training the diffusion network (v-prediction)")
    cfg = toy2d.TrainConfig2D(time_budget_s=TRAIN_SECONDS, seed=0)
    diff = toy2d.Toy2DTrainer(state["x0"], s, cfg, toy2d.MLPConfig(T=s.T, prediction_type="v"))
    for _ in diff.run():
        pass
    progress(0.5, desc="training the flow-matching network")
    flow = toy2d.train_flow(state["x0"], cfg)
    return {"key": key, "data": state["key"], "den": diff.denoiser(), "u": toy2d.model_velocity_fn(flow.ema),
            "steps": (diff.step, flow.step)}


def _velocity_figure(state: dict, t_flow: float, u_learned) -> dict:
    """Arrows of −u(x, t) (the direction a sample moves as t falls) on the grid, exact and, if given, learned."""
    coarse = GRID[1::2]  # every other grid line: the velocity does not vanish on the data, so a full grid is a carpet
    gy, gx = np.meshgrid(coarse, coarse, indexing="ij")
    pts = np.stack([gx, gy], -1).reshape(-1, 2)
    x = torch.from_numpy(pts)
    d_exact = -toy2d.exact_velocity(state["x0"], x, t_flow).double().numpy()
    half = 0.25 * float(np.median(np.linalg.norm(d_exact, axis=1))) or 1.0
    xs, ys = arrow_segments(pts, d_exact, half)
    traces = [{"type": "scattergl", "mode": "lines", "x": f4(xs), "y": f4(ys), "hoverinfo": "skip",
               "line": {"color": EXACT_COLOR, "width": 1.8}}]
    legend = "<span style='color:#111'>━ exact u*</span>"
    if u_learned is not None:
        with torch.no_grad():
            d = -u_learned(x.float(), t_flow).double().numpy()
        xs, ys = arrow_segments(pts, d, half)
        traces.append({"type": "scattergl", "mode": "lines", "x": f4(xs), "y": f4(ys), "hoverinfo": "skip",
                       "line": {"color": LEARNED_COLOR, "width": 1.2}})
        legend += "   <span style='color:#e8590c'>━ learned û</span>"
    data = state["dist"][:600].numpy()
    traces.insert(0, {"type": "scattergl", "mode": "markers", "x": f4(data[:, 0]), "y": f4(data[:, 1]),
                      "marker": {"size": 3, "color": "#cccccc"}, "hoverinfo": "skip"})
    return {"data": traces, "layout": _square_layout(f"−velocity at flow time t = {t_flow:.2f}:  {legend}", 460)}


def _check_t_flow(t_flow) -> float:
    with user_errors():
        t = toy2d.as_finite(t_flow, "flow time t")
    if not 0.0 < t <= 1.0:
        raise gr.Error(f"The flow time t must be in (0, 1]: the velocity (x − E[x₀|x_t])/t is undefined at t = 0; "
                       f"got {t}.")
    return t


def lab_flow_compare(state: dict | None, schedule: str, ztsnr: bool, source: str, t_flow, particles, seed,
                     cache: dict | None = None, progress=PROGRESS):
    """Diffusion's probability-flow ODE and the flow ODE from one x_T (Heun, ODE_STEPS steps each), with path
    length ÷ chord for both and Liu et al.'s straightness for the flow; and the velocity field at t_flow.

    Returns (paths figure, velocity figure, numbers Markdown, the trained networks (cache) or the old cache)."""
    if not state:
        raise gr.Error("Pick a dataset first.")
    if source not in dict((v, k) for k, v in SOURCE_CHOICES):
        raise gr.Error(f"Unknown field source {source!r}: choose exact or learned.")
    t_flow = _check_t_flow(t_flow)
    particles = whole_number(particles, "Number of particles", 10, MAX_PARTICLES, "PLAYGROUND_LAB2D_MAX_PARTICLES")
    seed = whole_number(seed, "Seed", 0, 2**31 - 1, "")
    s = lab_schedule(schedule, ztsnr)
    adapt_threads()
    with interactive_work():
        if source == "learned":
            cache = _trained(state, schedule, ztsnr, cache, progress)
            den, u = cache["den"], cache["u"]
        else:
            den, u = toy2d.exact_denoiser(state["x0"], s), toy2d.exact_velocity_fn(state["x0"])
        progress(0.8, desc="integrating both ODEs")
        x_T = toy2d.start_noise(particles, seed)
        with torch.no_grad():
            vp = toy2d.sample_2d(den, s, x_T, sampler="pf_ode", num_steps=ODE_STEPS)
            fl = toy2d.flow_ode(u, x_T, ODE_STEPS, "heun")
        vel = _velocity_figure(state, t_flow, cache["u"] if source == "learned" else None)
    ratio_vp, ratio_fl = float(length_ratio(vp.xs).mean()), fl.length_ratio()
    d_vp, ref = _distance_row(state, vp.samples)
    d_fl, _ = _distance_row(state, fl.samples)
    titles = [f"<b>diffusion: probability-flow ODE</b> ({schedule})<br>length ÷ chord = {ratio_vp:.3f}",
              f"<b>flow matching: flow ODE</b> (straight path)<br>length ÷ chord = {ratio_fl:.3f}"]
    layout, sufs = panels(titles, 380)
    data = state["dist"][:600].numpy()
    fig = {"data": path_traces(sufs[0], vp.xs.numpy(), data, COLORS["pf_ode"])
           + path_traces(sufs[1], fl.xs.numpy(), data, FLOW_COLOR), "layout": layout}
    what = ("the exact fields of the N points" if source == "exact" else
            f"networks trained {TRAIN_SECONDS:g} s each ({cache['steps'][0]:,} and {cache['steps'][1]:,} steps)")
    md = (f"Both from the same {particles:,} x_T, {ODE_STEPS} Heun steps each, with {what}.  \n"
          f"| | length ÷ chord (1 = straight) | Liu straightness (0 = straight, constant speed) "
          f"| distance to the data (× data-vs-data) |\n|---|---|---|---|\n"
          f"| diffusion PF-ODE | **{ratio_vp:.3f}** | — (its speed is not constant in any t) | {d_vp / ref:.2f}× |\n"
          f"| flow ODE | **{ratio_fl:.3f}** | **{fl.straightness():.4f}** | {d_fl / ref:.2f}× |\n\n"
          "Length ÷ chord counts only the points of a path, so it does not depend on how time is parameterised. "
          "Each flow path is the diffusion path at the same signal-to-noise ratio, scaled by √((1 − t)² + t²): "
          "the straight path's marginal shrinks to half the variance at t = ½ and grows back, while the VP path "
          "keeps it. So as curves, the flow's paths are often *longer* (on data of one point they are exactly "
          "straight, 1.000, and diffusion's are arcs). What few Euler steps need is a path straight in its own "
          "coordinates and time, Liu's straightness near 0: each Euler step on the flow ODE is a DDIM step, and "
          "reflow (below) drives that number down.")
    return plot_data(fig), plot_data(vel), md, cache


def lab_velocity(state: dict | None, t_flow, cache: dict | None = None):
    """The velocity figure alone, for a move of its t slider (learned arrows when the networks are trained)."""
    if not state:
        return gr.skip()
    learned = cache["u"] if cache and cache.get("data") == state["key"] else None
    return plot_data(_velocity_figure(state, _check_t_flow(t_flow), learned))


def _reflow_figure(done: list) -> dict:
    """done: [(ReflowRound, {steps: energy ÷ data-vs-data}), …], one row of panels per round."""
    titles = [f"round {r.round}, <b>{k} step{'s' if k > 1 else ''}</b><br>{e[k]:.2f}× data-vs-data"
              for r, e in done for k in REFLOW_STEPS]
    layout, sufs = panels(titles, 240, top=50)
    traces = []
    for suf, (r, k) in zip(sufs, [(r, k) for r, _ in done for k in REFLOW_STEPS]):
        x = r.samples[k][:800].numpy()
        traces.append(on_axes(suf, {"type": "scatter", "mode": "markers", "x": f4(x[:, 0]), "y": f4(x[:, 1]),
                                    "marker": {"size": 3, "color": FLOW_COLOR, "opacity": 0.5}}))
    return {"data": traces, "layout": layout}


def _reflow_table(done: list) -> str:
    rows = ["| round | 1 step | 2 steps | 4 steps | Liu straightness | length ÷ chord | cost |",
            "|---|---|---|---|---|---|---|"]
    for r, e in done:
        rows.append(f"| {r.round} | " + " | ".join(f"{e[k]:.2f}×" for k in REFLOW_STEPS)
                    + f" | {r.straightness:.4f} | {r.length_ratio:.3f} | {r.train_s:.1f} s |")
    return "\n".join(rows)


def lab_reflow(state: dict | None, rounds, seconds, seed, request: gr.Request = None):
    """Flow matching, then `rounds` reflows (Liu et al. 2022), streaming (figure, Markdown) after each round: the
    1-, 2- and 4-step Euler samples from one test noise, their energy distance ÷ data-vs-data, the straightness."""
    if not state:
        raise gr.Error("Pick a dataset first.")
    rounds = whole_number(rounds, "Reflow rounds", 0, MAX_REFLOW_ROUNDS, "")
    seed = whole_number(seed, "Seed", 0, 2**31 - 1, "")
    with user_errors():
        seconds = min(max(toy2d.as_finite(seconds, "Training time"), 1.0), 15.0)
    cfg = toy2d.TrainConfig2D(time_budget_s=seconds, seed=seed)
    n_test = 1000
    ref = _yardstick(state, n_test)[0]  # fresh data points' energy distance: the ÷ in every ratio
    done: list = []
    t0 = time.perf_counter()
    adapt_threads()
    with interactive_work(), jobs.running("lab2d-reflow", request) as stop:
        gen = toy2d.reflow(state["x0"], rounds=rounds, cfg=cfg, n_test=n_test, seed=seed, steps=REFLOW_STEPS)
        for r in gen:
            done.append((r, {k: toy2d.energy_distance(r.samples[k], state["dist"]) / ref for k in REFLOW_STEPS}))
            left = rounds - r.round
            head = (f"✓ **Done**: {rounds} reflow round(s) in {time.perf_counter() - t0:.0f} s." if left == 0 else
                    f"… **Running**: round {r.round} of {rounds} done, {time.perf_counter() - t0:.0f} s; the next "
                    f"pairs each noise point with where this flow takes it, then trains on the straight lines.")
            fig = plot_data(_reflow_figure(done))
            yield fig, head + "\n\n" + _reflow_table(done)
            if stop.is_set() and left:  # Stop: the rounds so far stay on screen
                yield fig, (f"■ **Stopped** after round {r.round} of {rounds}: the rounds so far are kept.\n\n"
                            + _reflow_table(done))
                return
