"""Inputs that never fail silently: numeric boxes clamp and write back, bad uploads keep the last outputs.

**Numeric boxes** (every ``gr.Number`` and every slider's number box, on every tab, with no code in the tab):
:data:`CLAMP_JS` is installed once per page (``launch.build_page`` → :func:`install`). While the user types,
an out-of-range value never reaches the component (so no event sends it to the server, where Gradio's
preprocessing would answer "Value 0 is less than minimum value 1" with an HTTP error). On Enter, on leaving
the box or on its change, the box is clamped to its ``min`` / ``max`` attributes *as they are now* (a slider's
max follows T), the value in effect is written back, and a note under the box says what happened
("5000 is above the maximum, 9: using 9") for a few seconds. A box opts out with the class ``no-clamp``.
The handlers still clamp what API callers send, with a ``gr.Warning``, outside any GPU function.

**Uploads:** wrap the upload's handler in :func:`keep_outputs_on_error`. A bad file then leaves every output
as it was and shows ONE warning, instead of red "Error" badges on each output and the message twice.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import gradio as gr

CLAMP_NOTE_CLASS = "dp-clamp-note"

CLAMP_JS = r"""
() => {
  if (window.__dpClamp) return [];
  window.__dpClamp = true;
  const box = (el) => el && el.tagName === "INPUT" && el.type === "number" && !el.closest(".no-clamp") &&
    (el.min !== "" || el.max !== "") ? el : null;
  const bounds = (el) => [el.min === "" ? -Infinity : Number(el.min), el.max === "" ? Infinity : Number(el.max)];
  const out = (el) => { const v = Number(el.value), [lo, hi] = bounds(el);
    return el.value !== "" && Number.isFinite(v) && (v < lo || v > hi); };
  const note = (el, text) => {
    const host = el.closest(".block") || el.parentElement;
    let n = host.querySelector(":scope .CLAMP_NOTE");
    if (!n) { n = document.createElement("div"); n.className = "CLAMP_NOTE"; n.setAttribute("role", "status");
      host.appendChild(n); }
    n.textContent = text;
    clearTimeout(n.__t);
    n.__t = setTimeout(() => n.remove(), 5000);
  };
  const fmt = (v) => String(Math.round(v * 1e6) / 1e6);
  const clamp = (el) => {
    if (!out(el)) return;
    const v = Number(el.value), [lo, hi] = bounds(el), c = Math.min(Math.max(v, lo), hi);
    el.value = fmt(c);
    el.dispatchEvent(new Event("input", { bubbles: true }));
    note(el, v > hi ? `${fmt(v)} is above the maximum, ${fmt(hi)}: using ${fmt(c)}`
                    : `${fmt(v)} is below the minimum, ${fmt(lo)}: using ${fmt(c)}`);
  };
  // capture phase: runs before the component's own listeners, so they only ever see values in range
  const on = (type, act) => document.addEventListener(type, (e) => { const el = box(e.target); if (el) act(el, e); },
                                                      true);
  on("input", (el, e) => { if (out(el)) e.stopImmediatePropagation(); });
  on("keydown", (el, e) => { if (e.key === "Enter") clamp(el); });
  on("change", (el) => clamp(el));
  on("focusout", (el) => clamp(el));
  return [];
}
""".replace("CLAMP_NOTE", CLAMP_NOTE_CLASS)

CSS = f"""
.{CLAMP_NOTE_CLASS} {{ font-size: 0.85em; color: #8a5a00; background: #fff4d6; border-radius: 4px;
  padding: 2px 6px; margin-top: 4px; }}
"""


def install(demo: gr.Blocks) -> None:
    """Install :data:`CLAMP_JS` on the page once (call inside the Blocks, after the tabs)."""
    demo.load(None, None, None, js=CLAMP_JS, api_visibility="private")


def keep_outputs_on_error(fn: Callable[..., Any], n_outputs: int) -> Callable[..., Any]:
    """``fn`` with its outputs left as they were when it raises gr.Error (or ValueError): one gr.Warning instead.

    ``n_outputs`` is the number of output components of the event. The signature is kept (Gradio reads it,
    e.g. for ``gr.Request`` and ``progress`` parameters)."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (gr.Error, ValueError) as e:
            gr.Warning(getattr(e, "message", None) or str(e))
            skip = gr.skip()
            return skip if n_outputs == 1 else tuple(skip for _ in range(n_outputs))

    wrapped.__signature__ = inspect.signature(fn)
    return wrapped


def in_range(value, lo: float, hi: float, what: str, cast=int, warn: bool = True):
    """``value`` as ``cast`` clamped to [lo, hi]; says so with a gr.Warning when it had to clamp.

    For handlers that API callers reach (the page's boxes are clamped in the browser already)."""
    try:
        v = cast(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{what} must be a number (got {value!r}).") from None
    c = cast(min(max(v, lo), hi))
    if c != v and warn:
        gr.Warning(f"{what} {v:g} is outside {lo:g} … {hi:g}: using {c:g}.")
    return c
