"""Sketchpads that draw on the first stroke: Gradio 6's Sketchpad starts with no tool selected ("select the draw
tool to start"), and students try to draw at once. :func:`sketchpad` makes one with the app's options (a black,
fixed-colour brush, no layers or crop), and :func:`ready_js` selects its brush as soon as it is on screen.

Used by Draw & edit (the digit canvas) and the 2-D lab (draw your own distribution); each registers its
canvases with ``page.on_load(lambda loaded: loaded.then(None, None, None, js=ready_js([...])))``.
"""
from __future__ import annotations

import json

import gradio as gr

ARMED = "dpArmed"  # data attribute set on a brush button once it was selected for the user

_JS = """
() => {
  const ids = IDS;
  window.__dpSketchIds = Array.from(new Set([...(window.__dpSketchIds || []), ...ids]));
  if (window.__dpSketch) return [];
  window.__dpSketch = true;
  const arm = () => window.__dpSketchIds.forEach((id) => {
    const root = document.getElementById(id);
    const brush = root && root.querySelector("button[aria-label=Brush]");
    if (!brush || brush.offsetParent === null || brush.dataset.ARMED) return;  // not on screen, or done
    brush.dataset.ARMED = "1";  // once: a user who then picks the eraser or pan keeps that tool
    if (!brush.parentElement.querySelector("button.highlight")) brush.click();
  });
  let timer = null;  // at most one check per 120 ms, however busy the page (a debounce could wait for ever)
  new MutationObserver(() => { if (!timer) timer = setTimeout(() => { timer = null; arm(); }, 120); })
    .observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["class", "style"] });
  arm();
  return [];
}
"""


def ready_js(elem_ids: list[str]) -> str:
    """JS (a js-only event) that selects the brush of each sketchpad ``#elem_id`` once it is shown."""
    return _JS.replace("IDS", json.dumps(list(elem_ids))).replace("ARMED", ARMED)


def sketchpad(elem_id: str, size: int, brush_px: int, label: str, height: int) -> gr.Sketchpad:
    """A square ``size`` px Sketchpad with a black brush of ``brush_px`` px (the app reads its composite)."""
    return gr.Sketchpad(type="numpy", image_mode="RGBA", canvas_size=(size, size), fixed_canvas=True,
                        brush=gr.Brush(default_size=brush_px, colors=["#000000"], color_mode="fixed"),
                        layers=False, label=label, elem_id=elem_id, height=height, transforms=())
