"""Draw & edit's jobs: SDEdit, the SDEdit strip, inpainting and DDIM inversion, each a generator of typed events
(playground/ui/events.py: a :class:`Step` per sampler step, then one :class:`Done`). The widget handlers stream
them and the public endpoints run them to the end (handlers.py); the maths is in playground/editing/edits.py.

Part of the tab package playground/ui/edit (its __init__ has the layout).
"""
from __future__ import annotations

import time
from typing import Iterator

import torch

from playground import render
from playground.editing import edits
from playground.mnist.data import to_unit_range
from playground.samplers import normalize_sampler
from playground.ui.edit.digits import (
    clamp_steps,
    img,
    mask_overlay,
    maybe_img,
    pair_frame,
    save_gif,
    save_png,
    setup,
    verdict,
    verdict_md,
)
from playground.ui.events import Done, Step
from playground.ui.limits import interactive_work
from playground.ui.page import user_errors

STRIP = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
Events = Iterator[Step | Done]


def _seconds(t_start: float) -> str:
    return f"{time.perf_counter() - t_start:.1f} s"


# --- SDEdit ----------------------------------------------------------------------------------------------------


def sdedit_job(digit, strength, sampler, steps, label_choice, guidance, seed, path, session_models) -> Events:
    """SDEdit: Steps show noised / x_t / x0_pred; Done adds result, numbers, files; result = (files, numbers)."""
    su = setup(digit, path, session_models, label_choice)
    with user_errors():
        t0 = edits.strength_to_t0(float(strength), su.s.T)
        kind = normalize_sampler(sampler)
    n = min(clamp_steps(steps, su.s.T), max(t0, 1))
    frames, noised, st = [], su.x0, None
    t_start = time.perf_counter()
    with interactive_work(), user_errors():
        loop = edits.sdedit_loop(su.model_fn(guidance), su.s, su.x0, t0, sampler=kind, num_steps=n,
                                 generator=torch.Generator().manual_seed(int(seed)),
                                 prediction_type=su.meta.prediction_type)
        for st in loop:
            noised = st.x_t if st.phase == "noise" else noised
            frames.append(pair_frame(st.x_t, st.x0_pred))
            status = (f"… **Running** — step **{st.i}/{st.n}**, t = {st.t} · SDEdit from t₀ = {t0} "
                      f"(strength {float(strength):.2f}) · {su.what}")
            yield Step(st.i, st.n, status,
                       {"noised": img(noised), "x_t": img(st.x_t), "x0_pred": maybe_img(st.x0_pred)})
    out = st.x_t
    v = verdict(out, su.x0)
    v.update(t0=t0, T=su.s.T, steps=0 if t0 == 0 else n, sampler=kind, label=su.label, guidance=float(guidance),
             seed=int(seed))
    captions = [["input"], [f"x_t at t0 = {t0}"], [f"result · d = {v['distance_to_input']:.3f}",
                                                   f"{v['predicted_digit']} · p = {v['confidence']:.2f}"]]
    summary = render.captioned_row([img(su.x0, 4), img(noised, 4), img(out, 4)], captions)
    files = [f for f in (save_png(summary, f"sdedit-t0-{t0}"), save_gif(frames, f"sdedit-t0-{t0}-trajectory")) if f]
    status = (f"✓ **Done** — SDEdit from t₀ = {t0} of T = {su.s.T} (strength {float(strength):.2f}), "
              f"{v['steps']} {kind.upper()} steps, {su.what}, guidance {float(guidance):g}, seed {int(seed)} · "
              f"{_seconds(t_start)}")
    show = {"noised": img(noised), "x_t": img(out), "x0_pred": maybe_img(st.x0_pred), "result": img(out),
            "numbers": verdict_md(v), "files": files}
    yield Done(status, show, (files, v))


def strip_job(digit, sampler, steps, label_choice, guidance, seed, path, session_models,
              strengths=STRIP) -> Events:
    """SDEdit at each strength from one seed: a Step per strength shows the growing strip; Done adds the files."""
    su = setup(digit, path, session_models, label_choice)
    with user_errors():
        kind = normalize_sampler(sampler)
        t0s = [edits.strength_to_t0(v, su.s.T) for v in strengths]
    n = clamp_steps(steps, su.s.T)
    tiles, caps, rows = [img(su.x0, 5)], [["input", "", ""]], []
    with interactive_work(), user_errors():
        for t0, used, out in edits.sdedit_strip(su.model_fn(guidance), su.s, su.x0, t0s, seed=int(seed), num_steps=n,
                                                sampler=kind, prediction_type=su.meta.prediction_type):
            v = verdict(out, su.x0)
            rows.append({"t0": t0, "steps": used, **v})
            tiles.append(img(out, 5))
            caps.append([f"t0 = {t0}", f"d = {v['distance_to_input']:.3f}",
                         f"{v['predicted_digit']} · p = {v['confidence']:.2f}"])
            yield Step(len(rows), len(t0s), f"… **Running** — {len(rows)}/{len(t0s)} done",
                       {"strip": render.captioned_row(tiles, caps, size=26)})
    strip = render.captioned_row(tiles, caps, size=26)
    md = (f"✓ **The dial, from one seed** ({kind.upper()}, {su.what}, guidance {float(guidance):g}). "
          f"**d**: distance to your input (faithfulness). **p**: the classifier's confidence in "
          f"the digit it sees (realism). Small t₀ keeps your strokes, flaws and all; large t₀ "
          f"hands over to the model: a clean digit (of the label asked for) that forgets the input. "
          f"Steps grow with t₀, ⌈{n}·t₀/T⌉: {rows[0]['steps']} … {rows[-1]['steps']} (a fixed step size).")
    files = [save_png(strip, "sdedit-strip")]
    yield Done(md, {"strip": strip, "files": files}, (files, rows))


# --- inpainting ------------------------------------------------------------------------------------------------


def inpaint_job(digit, keep, sampler, steps, resamplings, jump, label_choice, guidance, seed, path,
                session_models) -> Events:
    """Inpainting with RePaint's replacement (and resampling for r > 1): Steps show mask / x_t / x0_pred."""
    su = setup(digit, path, session_models, label_choice)
    kind = normalize_sampler(sampler)
    n = clamp_steps(steps, su.s.T)
    r, j = max(int(resamplings), 1), max(int(jump), 1)
    frames, st = [], None
    overlay = mask_overlay(su.x0, keep)
    t_start = time.perf_counter()
    with interactive_work(), user_errors():
        loop = edits.inpaint_loop(su.model_fn(guidance), su.s, su.x0, keep.to(su.x0.device), sampler=kind,
                                  generator=torch.Generator().manual_seed(int(seed)), num_steps=n,
                                  eta=1.0 if kind == "ddpm" else 0.0, jump_length=j, jump_n_sample=r,
                                  prediction_type=su.meta.prediction_type)
        for st in loop:
            frames.append(pair_frame(st.x_t, st.x0_pred))
            act = "resampling: back up to" if st.phase == "resample" else "step"
            yield Step(st.i, st.n, f"… **Running** — {act} {st.i}/{st.n}, t = {st.t} · {su.what}",
                       {"mask": overlay, "x_t": img(st.x_t), "x0_pred": maybe_img(st.x0_pred)})
    out, x0 = st.x_t, su.x0
    kept = keep.to(out.device).expand_as(out) > 0.5
    v = verdict(out, x0)
    v.update(kept_max_abs_change=float((out[kept] - x0[kept]).abs().max()) if kept.any() else 0.0,
             regenerated_pixels=int((~kept).sum()), steps=n, resamplings=r, jump_length=j, sampler=kind,
             label=su.label, guidance=float(guidance), seed=int(seed),
             model_calls=sum(op[0] == "down" for op in edits.repaint_ops(n, j, r)))
    summary = render.captioned_row([img(x0, 4), mask_overlay(x0, keep, 4), img(out, 4)],
                                   [["input"], ["mask (tinted: regenerated)"],
                                    [f"result · {v['predicted_digit']} · p = {v['confidence']:.2f}"]])
    files = [f for f in (save_png(summary, "inpaint"), save_gif(frames, "inpaint-trajectory")) if f]
    res = f"RePaint resampling r = {r}, j = {j}" if r > 1 else "replacement method (no resampling)"
    status = (f"✓ **Done** — {n} {kind.upper()} steps, {res}, {v['model_calls']} model calls, {su.what}, guidance "
              f"{float(guidance):g}, seed {int(seed)} · {_seconds(t_start)}")
    show = {"mask": overlay, "x_t": img(out), "x0_pred": maybe_img(st.x0_pred), "result": img(out),
            "numbers": inpaint_md(v), "files": files}
    yield Done(status, show, (files, v))


def inpaint_md(v: dict) -> str:
    return (f"**kept pixels: max |change| = {v['kept_max_abs_change']:g}** (replaced by the original at every step, "
            f"exactly x₀ at the end) · **{v['regenerated_pixels']} pixels regenerated** · "
            f"**classifier: {v['predicted_digit']}, p = {v['confidence']:.2f}**")


# --- DDIM inversion --------------------------------------------------------------------------------------------


def invert_job(digit, steps, label_choice, guidance, path, session_models) -> Events:
    """DDIM inversion x₀ → x_T, then reconstruction x_T → x₀ (2n steps in all): Steps show x_t (and x0_pred)."""
    su = setup(digit, path, session_models, label_choice)
    n = clamp_steps(steps, su.s.T)
    fn = su.model_fn(guidance)
    frames, st = [], None
    t_start = time.perf_counter()
    kw = dict(num_steps=n, spacing="trailing", prediction_type=su.meta.prediction_type)
    with interactive_work(), user_errors():
        for st in edits.ddim_invert_loop(fn, su.s, su.x0, **kw):
            frames.append(pair_frame(st.x_t, st.x0_pred))
            yield Step(st.i, 2 * n, f"… **Running** — encoding x₀ → x_T: step {st.i}/{st.n}, t = {st.t} · {su.what}",
                       {"x_t": img(st.x_t), "x0_pred": maybe_img(st.x0_pred)})
        latent = st.x_t
        yield Step(n, 2 * n, "… **Running** — decoding x_T → x₀", {"latent": img(latent)})
        for st in edits.ddim_reconstruct_loop(fn, su.s, latent, **kw):
            frames.append(pair_frame(st.x_t, st.x0_pred))
            yield Step(n + st.i, 2 * n, f"… **Running** — decoding x_T → x₀: step {st.i}/{st.n}, t = {st.t} · "
                       f"{su.what}", {"x_t": img(st.x_t), "x0_pred": maybe_img(st.x0_pred), "latent": img(latent)})
    recon, x0 = st.x_t, su.x0
    rmse = float(edits.pixel_rmse(recon, x0)[0])
    v = {"rmse": round(rmse, 5),
         "max_abs_error": round(float((to_unit_range(recon) - to_unit_range(x0)).abs().max()), 4),
         "latent_std": round(float(latent.std()), 4), "latent_mean": round(float(latent.mean()), 4), "steps": n,
         "label": su.label, "guidance": float(guidance), "T": su.s.T}
    err = (to_unit_range(recon) - to_unit_range(x0)).abs().clamp(max=0.2) * 5 * 2 - 1  # |error| ×5 for display
    summary = render.captioned_row([img(x0, 4), img(latent, 4), img(recon, 4), img(err, 4)],
                                   [["input x0", ""], ["latent x_T", f"std {v['latent_std']:.2f}"],
                                    ["reconstruction", f"RMSE {rmse:.4f}"], ["|error| × 5", ""]])
    files = [f for f in (save_png(summary, f"ddim-inversion-{n}steps"), save_gif(frames, f"ddim-inversion-{n}steps"))
             if f]
    status = (f"✓ **Done** — {n} DDIM steps up (x₀ → x_T), {n} down (x_T → x₀), η = 0, {su.what}, guidance "
              f"{float(guidance):g} · {_seconds(t_start)}")
    show = {"x_t": img(recon), "x0_pred": img(recon), "latent": img(latent), "recon": img(recon), "err": img(err),
            "numbers": invert_md(v), "files": files}
    yield Done(status, show, (files, v))


def invert_md(v: dict) -> str:
    return (f"**reconstruction RMSE {v['rmse']:.4f}** ([0, 1] pixels; max |error| {v['max_abs_error']:.3f}) · "
            f"**latent std {v['latent_std']:.2f}**, mean {v['latent_mean']:+.2f} (a draw of N(0, I) has std "
            f"1.00: the round trip works, yet the latent is not the kind of noise sampling starts from)")
