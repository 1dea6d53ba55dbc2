"""Tab "Fewer steps": each solver's endpoint error against NFE (its order as a slope), where a grid puts its steps on
the log-SNR axis, and what goes wrong in one click. Core: playground/solvers.py, solver_lab.py, solver_failures.py.
Public endpoint: ``/solvers`` (:func:`solvers_api`).
"""
from __future__ import annotations

import time

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from playground import render
from playground import solver_failures as F
from playground import solver_lab as L
from playground import solvers as S
from playground.mnist.checkpoint import DEFAULT_CHECKPOINT, V_CHECKPOINT
from playground.schedules import NoiseSchedule, make_schedule
from playground.ui import distill as distill_section
from playground.ui import distill_mnist
from playground.ui.page import PRIVATE, Page, explain, user_errors

TAB_ID = "solvers"
TAB_TITLE = "Fewer steps"

MODELS = {"2-D: one Gaussian (closed form)": ("2d", "gaussian"), "2-D: two moons (ideal denoiser)": ("2d", "moons"),
          "2-D: 8 Gaussians (ideal denoiser)": ("2d", "gaussians8"), "MNIST ε (shipped)": ("mnist", "eps"),
          "MNIST v (shipped)": ("mnist", "v")}
MAX_NFE = 128
STREAM_EVERY_S = 0.5  # a finished NFE point is shown if the last update is this old; a finished solver always


def parse_nfes(text: str) -> list[int]:
    """'1, 2, 4' → [1, 2, 4]; ValueError on anything else, or outside 1 … MAX_NFE."""
    try:
        vals = sorted({int(v) for v in str(text).replace(";", ",").split(",") if v.strip()})
    except ValueError:
        raise ValueError(f"NFE list must be whole numbers separated by commas, got {text!r}") from None
    if not vals or vals[0] < 1 or vals[-1] > MAX_NFE:
        raise ValueError(f"NFE values must lie in 1 … {MAX_NFE}, got {text!r}")
    return vals


def _problem(model: str, n_digits: int, seed: int):
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    kind, name = MODELS[model]
    if kind == "2d":
        return L.toy_problem(name, 2000, 1000, int(seed))
    path = DEFAULT_CHECKPOINT if name == "eps" else V_CHECKPOINT
    return F.digits_problem(str(path), int(n_digits), int(seed))


def error_figure(curves: list[L.Curve], units: str, title: str = "") -> go.Figure:
    """Log-log error against NFE, one line per solver, dashed slope guides for orders 1, 2, 3."""
    fig = go.Figure()
    for c in curves:
        label = S.SOLVER_LABELS[c.solver] + (f" (order ≈ {c.order:.2f})" if c.order is not None else "")
        fig.add_trace(go.Scatter(x=c.nfe, y=[max(e, 1e-12) for e in c.err], mode="lines+markers", name=label))
    if curves and curves[0].nfe:
        e0 = max(c.err[0] for c in curves)
        xs = [1, max(max(c.nfe) for c in curves)]
        for p in (1, 2, 3):
            fig.add_trace(go.Scatter(x=xs, y=[e0, e0 * xs[1] ** -p], mode="lines", name=f"slope −{p}",
                                     line=dict(dash="dot", width=1, color="gray"), hoverinfo="skip"))
    fig.update_layout(xaxis=dict(type="log", title="NFE (network evaluations)"),
                      yaxis=dict(type="log", title=f"endpoint error ({units})"), height=420,
                      margin=dict(l=60, r=10, t=40 if title else 30, b=50), legend=dict(font=dict(size=11)),
                      title=dict(text=title, font=dict(size=13)) if title else None)
    return fig


def model_schedule(model: str) -> NoiseSchedule:
    """The noise schedule a MODELS entry samples on: the 2-D lab's linear T = 1000, or the checkpoint's own."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    kind, name = MODELS[model]
    if kind == "2d":
        return make_schedule("linear", 1000)
    return F.model_schedule(str(DEFAULT_CHECKPOINT if name == "eps" else V_CHECKPOINT))


def grid_figure(s: NoiseSchedule, kind: str, n: int, rho: float, sigma_min, sigma_max, shift: float) -> go.Figure:
    """Where an n-step grid puts its steps: ticks on the log-SNR axis (x), over the schedule's curve t(log SNR).

    The clean end (log SNR = +∞) is left out; a point at zero terminal SNR (−∞) is drawn at the table's floor."""
    g = S.make_grid(s, n, kind, rho=rho, sigma_min=sigma_min, sigma_max=sigma_max, shift=shift)
    table = S.log_snr_table(s)
    ls = [max(v, float(table[-1])) for v in g.log_snr]
    fig = go.Figure(go.Scatter(x=table, y=np.arange(s.T), mode="lines", name="the schedule: t against log SNR",
                               line=dict(color="steelblue")))
    fig.add_trace(go.Scatter(x=ls, y=list(g.t[:-1]), mode="markers", name="grid points on the curve",
                             marker=dict(size=7, color="crimson")))
    fig.add_trace(go.Scatter(x=ls, y=[-0.06 * s.T] * n, mode="markers", name=f"{S.GRID_LABELS[g.kind]}: {n} steps",
                             marker=dict(symbol="line-ns-open", size=16, color="crimson",
                                         line=dict(width=2, color="crimson"))))
    gaps = np.diff(ls)
    title = (f"{S.GRID_LABELS[g.kind]}, {n} step{'s' if n != 1 else ''}: log SNR {ls[0]:.1f} → {ls[-1]:.1f}"
             + (f", gaps {gaps.min():.2f} … {gaps.max():.2f}" if n > 1 else "") + ", then the clean end")
    fig.update_layout(title=dict(text=title, font=dict(size=13)), xaxis_title="log SNR (noisy ← → clean)",
                      yaxis_title="model time t", height=320, margin=dict(l=60, r=10, t=40, b=40),
                      legend=dict(font=dict(size=11)), meta=dict(grid=g.kind, steps=n, log_snr=ls))
    return fig


def _table(curves: list[L.Curve]) -> dict:
    return {c.solver: {"nfe": c.nfe, "error": c.err, "order": c.order, "theory_order": S.ORDER[c.solver],
                       **({"quality": c.extra} if any(c.extra) else {})} for c in curves}


def _orders_md(curves: list[L.Curve]) -> str:
    rows = ["| solver | measured order | theory |", "|---|---|---|"]
    for c in curves:
        got = f"… (NFE {c.nfe[-1]} done)" if not c.done else "—" if c.order is None else f"{c.order:.2f}"
        rows.append(f"| {S.SOLVER_LABELS[c.solver]} | {got} | {S.ORDER[c.solver] or 'none (SDE)'} |")
    return "\n".join(rows)


_NEWEST: dict[str, object] = {}  # session → its newest error-curve run


def _superseded(session: str, run: object) -> bool:
    """Whether a newer run of this session has started (a grid change while the curves still stream)."""
    return _NEWEST.get(session) is not run


def solvers_api(model: str, solvers: list[str], grid: str, rho: float, sigma_min: float, sigma_max: float,
                shift: float, nfe_list: str, seed: int, n_digits: int = 16, request: gr.Request = None):
    """Error against NFE for each solver on one time grid, streamed one solver at a time.

    Args: model (a MODELS label), solvers (names from SOLVERS), grid (GRIDS), rho / sigma_min / sigma_max (Karras;
    0 = the schedule's own σ̃ range), shift (SD3), nfe_list ('1, 2, 4, …'), seed, n_digits (MNIST batch).
    Returns: (plot, error table as JSON {solver: {nfe, error, order, theory_order[, quality]}}, orders as Markdown).
    A run stops (without a last word) once a newer one of the same session starts: two streams into one plot
    would interleave, and the older grid's curves could be the last ones drawn.
    """
    session, run = str(getattr(request, "session_hash", None) or id(object())), object()
    _NEWEST[session] = run
    try:
        yield from _solvers_stream(model, solvers, grid, rho, sigma_min, sigma_max, shift, nfe_list, seed, n_digits,
                                   lambda: _superseded(session, run))
    finally:
        if not _superseded(session, run):
            del _NEWEST[session]


def _solvers_stream(model, solvers, grid, rho, sigma_min, sigma_max, shift, nfe_list, seed, n_digits, superseded):
    with user_errors():
        nfes = parse_nfes(nfe_list)
        if not solvers:
            raise ValueError("pick at least one solver")
        names = [S.normalize_solver(v) for v in solvers]
        spec = L.GridSpec(S.normalize_grid(grid), float(rho), float(sigma_min) or None, float(sigma_max) or None,
                          float(shift))
        if MODELS.get(model, ("",))[0] == "mnist":  # the fine reference comes first (cached afterwards): say so
            wait = go.Figure().update_layout(title=f"Solving the reference ({F.REF_STEPS_MNIST} DPM-Solver++(3M) "
                                             "steps, once per model, digits and seed) …", height=420)
            yield wait, {}, "*Reference first: the errors follow, one NFE point at a time.*"
        p = _problem(model, int(n_digits), int(seed))
        spec.make(p.schedule, 1)  # bad grid parameters fail here, before any solving
        images = p.x_T.ndim == 4
        on_sample = (lambda _s, _n, x: F.verdict(x, F.default_labels(x.shape[0]))) if images else None
        units = "pixel RMSE, pixels in [0, 1]" if images else "RMS distance, data units"
        title = (f"MNIST: the model's own ODE (guidance w = {F.CURVE_GUIDANCE:g})"
                 + (", UNet in bf16" if "bf16" in p.name else "") if images else "")
        curves, shown = [], 0.0
        for c in L.error_curves(p, names, spec, nfes, seed=int(seed), on_sample=on_sample):
            if not curves or curves[-1] is not c:
                curves.append(c)
            if superseded():
                return
            if c.done or time.monotonic() - shown >= STREAM_EVERY_S:  # every point on MNIST, every solver in 2-D
                shown = time.monotonic()
                yield error_figure(curves, units, title), _table(curves), _orders_md(curves)


def preset_run(key: str, seed: int):
    """A failure preset beside the good run from the same x_T: (image, verdict Markdown)."""
    with user_errors():
        if key == "between_modes":
            r = F.run_preset_2d(seed=int(seed))
            md = (f"**DDIM, 2 steps:** {r['bad_near']:.0%} of particles within 0.1 of a data point; "
                  f"**DPM-Solver++(2M), 20 steps:** {r['good_near']:.0%}. *Why:* a first-order step from pure noise "
                  "aims at the mean of all modes, E[x₀|x_T], which lies between them. "
                  "(Theory: *What goes wrong with few steps*.)")
            fig = go.Figure([go.Scatter(x=r["data"][:, 0], y=r["data"][:, 1], mode="markers", name="data",
                                        marker=dict(size=3, color="lightgray")),
                             go.Scatter(x=r["bad"][:, 0], y=r["bad"][:, 1], mode="markers", name="DDIM, 2 steps",
                                        marker=dict(size=3)),
                             go.Scatter(x=r["good"][:, 0], y=r["good"][:, 1], mode="markers", name="DPM++ 20",
                                        marker=dict(size=3))])
            fig.update_layout(height=380, margin=dict(l=30, r=10, t=30, b=30))
            return None, fig, md
        r = F.run_preset(key, str(DEFAULT_CHECKPOINT), 16, int(seed))
        bad, good = (render.image_grid(render.to_uint8(((x[:, 0].numpy() + 1) / 2).clip(0, 1)), ncol=4)
                     for x in (r["bad"], r["good"]))
        img = render.upscale(render.hstack_with_gap([bad, good], gap=8), 3)
        p, vb, vg = r["preset"], r["bad_verdict"], r["good_verdict"]
        fmt = lambda v: ", ".join(f"{k} {x:.0%}" for k, x in v.items())  # noqa: E731
        md = (f"**{p.title}** (left): {fmt(vb)}. **Good run** (right, DPM-Solver++(2M) 20 steps, w = 1.5): "
              f"{fmt(vg)}.  \n*Why:* {p.why} (Theory: *What goes wrong with few steps*.)")
        return img, None, md


def build(page: Page) -> None:
    """The Fewer-steps tab."""
    explain("A sampler is an ODE solver with an **order**: halve its step and its error falls 2^order times. "
            "Pick solvers and a time grid; the plot shows each solver's endpoint error against NFE on log-log "
            "axes, with its measured slope. 2-D models are compared against the exact PF-ODE endpoint.")
    with gr.Row():
        model = gr.Dropdown(list(MODELS), value="2-D: one Gaussian (closed form)", label="Model")
        solvers = gr.CheckboxGroup([(S.SOLVER_LABELS[k], k) for k in S.SOLVERS], value=list(S.SOLVERS),
                                   label="Solvers")
    with gr.Row():
        grid = gr.Dropdown([(S.GRID_LABELS[k], k) for k in S.GRIDS], value="logsnr", label="Time grid",
                           elem_id="solvers-grid")
        rho = gr.Number(7.0, label="ρ (Karras)")
        sigma_min = gr.Number(0.0, label="σ_min (Karras; 0 = schedule's)")
        sigma_max = gr.Number(0.0, label="σ_max (Karras; 0 = schedule's)")
        shift = gr.Number(3.0, label="shift (SD3)")
    with gr.Row():
        nfe_list = gr.Textbox("1, 2, 4, 8, 16, 32, 64", label="NFE list")
        seed = gr.Number(0, precision=0, label="Seed")
        n_digits = gr.Number(16, precision=0, label="Digits (MNIST)")
        run = gr.Button("Run", variant="primary")
    with gr.Row():
        plot = gr.Plot(show_label=False, elem_id="solvers-plot")
        with gr.Column():
            orders = gr.Markdown()
            table = gr.JSON(label="Error table")
    with gr.Row():
        grid_steps = gr.Slider(1, 64, value=8, step=1, label="Steps shown on the grid plot", elem_id="solvers-steps")
    ticks = gr.Plot(show_label=False, elem_id="solvers-ticks")
    inputs = [model, solvers, grid, rho, sigma_min, sigma_max, shift, nfe_list, seed, n_digits]
    heavy = dict(concurrency_id="solvers", concurrency_limit=2)
    run.click(solvers_api, inputs, [plot, table, orders], api_name="solvers", **heavy)

    def ticks_fn(model_name, grid_kind, n, r, smin, smax, sh):
        with user_errors():
            return grid_figure(model_schedule(model_name), grid_kind, int(n), float(r), float(smin) or None,
                               float(smax) or None, float(sh))

    tick_in = [model, grid, grid_steps, rho, sigma_min, sigma_max, shift]
    for comp in (grid, rho, sigma_min, sigma_max, shift):
        comp.change(ticks_fn, tick_in, ticks, **PRIVATE).then(solvers_api, inputs, [plot, table, orders],
                                                              **PRIVATE, **heavy)
    for comp in (model, grid_steps):  # the error plot is redrawn by Run (a model switch may mean MNIST)
        comp.change(ticks_fn, tick_in, ticks, **PRIVATE)
    page.on_load(lambda loaded: loaded.then(ticks_fn, tick_in, ticks, **PRIVATE))
    _gallery(page, seed, heavy)
    page.link("solvers_ode", [model, grid], lambda: ("2-D: one Gaussian (closed form)", "logsnr"))
    page.link("solvers_order", [solvers], lambda: ["ddim", "heun", "dpmpp_2m"])
    page.link("solvers_logsnr", [grid], lambda: "logsnr")
    page.link("solvers_karras", [grid, rho], lambda: ("karras", 7.0))


def _gallery(page: Page, seed, heavy: dict) -> None:
    """What goes wrong, one click each: a failure beside the good run from the same x_T, with its verdict."""
    gr.Markdown("### What goes wrong, one click each")
    with gr.Row():
        preset = gr.Dropdown([(p.title, p.key) for p in F.PRESETS] + [("2-D: 2 DDIM steps land between the modes",
                                                                     "between_modes")],
                             value="leading1", label="Failure")
        go_btn = gr.Button("Show me")
    with gr.Row():
        pimg = gr.Image(label="failure (left) · good run, same x_T (right)", type="numpy")
        pfig = gr.Plot(show_label=False)
    pmd = gr.Markdown()
    go_btn.click(preset_run, [preset, seed], [pimg, pfig, pmd], **PRIVATE, **heavy)
    page.link("solvers_failures", [preset], lambda: "one_step")
    distill_section.build(page)  # part 2: fewer steps by distillation
    distill_mnist.build(page)  # … and on MNIST: the shipped student, and a round trained here


__all__ = ["build", "solvers_api", "preset_run", "parse_nfes", "error_figure", "grid_figure", "model_schedule",
           "TAB_ID", "TAB_TITLE"]
