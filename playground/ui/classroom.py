"""Page-wide features for a live class: presenter mode, keyboard shortcuts, deep links and "copy link".

Not a tab: ``app.py`` calls :func:`build_header` above the tabs and :func:`finish` after them. Tabs take part
by registering their deep-link settings (``page.param``) and their first-load work (``page.on_load``).

Deep links: ``?tab=sample&steps=10&eta=1&seed=3`` or ``?tab=forward&image=rocket&schedule=linear&t=600``,
plus ``present=1`` anywhere. A setting belongs to a tab (``seed`` means the Sampling seed with ``tab=sample``
and the noise seed with ``tab=forward``). Unknown or bad settings are ignored and listed in a visible note,
never an error page. The link's settings are applied first; the tabs' own first-load work (the first example
image, the model list) runs after, on the linked values.
"""
from __future__ import annotations

import json
import math
from typing import Any, Callable
from urllib.parse import urlencode

import gradio as gr

from playground.ui.page import FAST, PRIVATE, Page, Param

SHORTCUTS_HELP = ("Keys: **← / →** move t (Shift: ×10) · **Space** play / pause t · **S** sample · "
                  "**1–9** switch tabs · **P** presenter mode. Not while typing in a field.")

PRESENT_CSS = """
body.present { --text-xxs: 14px; --text-xs: 16px; --text-sm: 19px; --text-md: 23px; --text-lg: 27px; --text-xl: 32px;
  --text-xxl: 38px; --body-text-color-subdued: #222; }
body.present .gradio-container { max-width: 100% !important; }
body.present .explain, body.present .hide-when-presenting { display: none !important; }
body.present .numbers, body.present .numbers * { font-size: 26px !important; }
body.present .prose, body.present .md { font-size: var(--text-lg); }
body.present button[role=tab] { font-size: 17px; font-weight: 600; max-width: none;
  padding-left: 6px; padding-right: 6px; }
body.present .js-plotly-plot .main-svg text { font-size: 19px !important; fill: #000 !important; }
body.present .js-plotly-plot .scatterlayer .js-line { stroke-width: 5px !important; }
body.present .js-plotly-plot .gridlayer path { stroke: #9a9a9a !important; }
body.present .js-plotly-plot .zerolinelayer path { stroke: #000 !important; }
body.present #title p { display: none; }
body.present .status, body.present .status * { font-size: 19px !important; }
body.present #sample-panels .panel-title h3 { font-size: 22px; margin: 0; }
body.present #sample-panels .row-label, body.present #sample-panels .row-label * { font-size: 17px !important; }
body.present #sample-panels .sample-img { height: 205px !important; }
#sample-status { scroll-margin-top: 6px; }
#classroom-bar { align-items: center; }
#deeplink-note { border-left: 4px solid #e0a000; padding-left: 10px; }
"""

TOGGLE_PRESENT_JS = "(on) => { document.body.classList.toggle('present', !!on); return []; }"

# Keyboard shortcuts, installed once per page. Keys never fire while the user types in a field
# (text/number inputs, text areas, selects, editable content) or with Ctrl/Alt/Meta held.
# FORWARD_TAB and SAMPLE_TAB are placeholders for the tabs' positions: see keys_js.
KEYS_JS = r"""
() => {
  if (window.__dpKeys) return [];
  window.__dpKeys = true;
  const typing = (el) => el && (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
    (el.tagName === "INPUT" && !["range", "checkbox", "radio", "button"].includes(el.type)));
  const tabs = () => Array.from(document.querySelectorAll("button[role=tab]"));
  const selectTab = (i) => { const b = tabs()[i]; if (b) b.click(); };
  const nudge = (dt) => {
    const r = document.querySelector("#t-slider input[type=range]");
    if (!r) return;
    const v = Math.min(Math.max(Number(r.value) + dt, Number(r.min)), Number(r.max));
    r.value = String(v);
    r.dispatchEvent(new Event("input", { bubbles: true }));
    r.dispatchEvent(new Event("change", { bubbles: true }));
  };
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.altKey || e.metaKey || typing(e.target)) return;
    const onRange = e.target && e.target.type === "range";
    if ((e.key === "ArrowLeft" || e.key === "ArrowRight") && !onRange) {
      nudge((e.key === "ArrowRight" ? 1 : -1) * (e.shiftKey ? 10 : 1));
      e.preventDefault();
    } else if (e.key === " " && !(e.target && e.target.tagName === "BUTTON")) {
      const b = document.querySelector("#play-btn"); if (b) { selectTab(FORWARD_TAB); b.click(); e.preventDefault(); }
    } else if (e.key === "s" || e.key === "S") {
      selectTab(SAMPLE_TAB);
      setTimeout(() => {
        const b = document.querySelector("#sample-btn"); if (b) b.click();
        // the step counter, the row labels and the images, from the top of the screen (presenter mode at 720 p)
        const st = document.querySelector("#sample-status"); if (st) st.scrollIntoView({ block: "start" });
      }, 150);
    } else if (/^[1-9]$/.test(e.key)) {
      selectTab(Number(e.key) - 1);
    } else if (e.key === "p" || e.key === "P") {
      const c = document.querySelector("#present-toggle input[type=checkbox]"); if (c) c.click();
    }
  });
  return [];
}
"""

PLAY_TAB_ID, SAMPLE_TAB_ID = "forward", "sample"  # Space plays t on the Forward tab; S samples on the Sampling tab


def keys_js(tab_ids: list[str]) -> str:
    """KEYS_JS with the positions of the Forward and Sampling tabs among ``tab_ids`` (the page's order) filled in."""
    return (KEYS_JS.replace("FORWARD_TAB", str(tab_ids.index(PLAY_TAB_ID)))
            .replace("SAMPLE_TAB", str(tab_ids.index(SAMPLE_TAB_ID))))


# --- deep-link parameters ------------------------------------------------------------------------------------------


def _number(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError("not a number") from None


def as_int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        v = _number(raw)
        if not math.isfinite(v) or v != int(v):
            raise ValueError("not a whole number")
        if not lo <= v <= hi:
            raise ValueError(f"outside {lo}…{hi}")
        return int(v)
    return parse


def as_float(lo: float, hi: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        v = _number(raw)
        if not math.isfinite(v) or not lo <= v <= hi:
            raise ValueError(f"outside {lo:g}…{hi:g}")
        return v
    return parse


def as_bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError("use 1 or 0")


def one_of(choices) -> Callable[[str], Any]:
    """Accept a choice's value (or its label, case-insensitively) from a list of values or (label, value) pairs."""
    pairs = [(c, c) if not isinstance(c, tuple) else c for c in choices]

    def parse(raw: str):
        for label, value in pairs:
            if raw == str(value) or raw.strip().lower() in (str(value).lower(), str(label).lower()):
                return value
        raise ValueError("choose one of " + ", ".join(str(v) for _, v in pairs))
    return parse


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def apply_links(params: list[Param], tab_ids: list[str], query: dict[str, str]):
    """Query parameters → (selected tab id, {param index: update}, presenter on?, note Markdown or "").

    Pure: the handler below wraps it with the request; tests call it directly.
    """
    ignored: list[str] = []
    query = {str(k): str(v) for k, v in query.items()}
    tab = tab_ids[0]
    raw_tab = query.pop("tab", None)
    if raw_tab is not None:
        low = raw_tab.strip().lower()
        if low in tab_ids:
            tab = low
        elif low.isdigit() and 1 <= int(low) <= len(tab_ids):
            tab = tab_ids[int(low) - 1]
        else:
            ignored.append(f"`tab={raw_tab[:40]}` (choose one of {', '.join(tab_ids)})")
    present = False
    if "present" in query:
        raw = query.pop("present")
        try:
            present = as_bool(raw)
        except ValueError:
            ignored.append(f"`present={raw[:40]}` (use 1 or 0)")
    updates: dict[int, Any] = {}
    by_name = {p.name: i for i, p in enumerate(params) if p.tab == tab}
    for name, raw in query.items():
        i = by_name.get(name)
        if i is None:
            other = sorted({p.tab for p in params if p.name == name})
            why = f"a setting of the {', '.join(other)} tab; add tab={other[0]}" if other else "unknown setting"
            ignored.append(f"`{name[:40]}` ({why})")
            continue
        p = params[i]
        try:
            value = p.parse(raw)
        except (ValueError, TypeError) as e:
            ignored.append(f"`{name}={raw[:40]}` ({e})")
            continue
        updates[i] = p.update(value) if p.update else value
    note = ("⚠ **Some settings in the link were ignored:** " + "; ".join(ignored) + ".") if ignored else ""
    return tab, updates, present, note


def build_header(page: Page) -> None:
    """The bar above the tabs: presenter toggle, copy-link button, the link's URL, the shortcuts line, the note."""
    with gr.Row(elem_id="classroom-bar"):
        present = gr.Checkbox(False, label="Presenter mode (P)", elem_id="present-toggle", scale=0, min_width=210)
        copy_btn = gr.Button("Copy link to this view", size="sm", scale=0, min_width=230, elem_id="copy-link",
                             elem_classes="hide-when-presenting")
        link_box = gr.Textbox(show_label=False, placeholder="a link that opens this tab with these settings",
                              interactive=False, scale=3, elem_id="view-link", buttons=["copy"], lines=1, max_lines=1,
                              elem_classes="hide-when-presenting")
    gr.Markdown(SHORTCUTS_HELP, elem_classes="explain", elem_id="shortcuts-help")
    note = gr.Markdown(visible=False, elem_id="deeplink-note")
    page.components.update(present=present, copy_link=copy_btn, view_link=link_box, deeplink_note=note)
    present.change(None, [present], None, js=TOGGLE_PRESENT_JS, **FAST)


def _copy_link_js(params: list[Param], tab_ids: list[str], copy: bool = True) -> str:
    """JS: the active tab and the current values of its settings → a URL (copied, and shown in the box).

    ``copy=False``: the refresh after a setting or the tab changed; its last argument is the box's value, and an
    empty box stays empty (nothing was copied yet), so the box never shows a stale link."""
    spec = json.dumps([[p.tab, p.name] for p in params])
    head = ("" if copy else
            "  const shown = vals.pop(); if (!shown) return shown;\n"
            "  await new Promise((r) => setTimeout(r, 60));  // the tab button's aria-selected settles first\n")
    tail = ("  try {{ navigator.clipboard && navigator.clipboard.writeText(url); }} catch (e) {{}}\n"
            if copy else "").replace("{{", "{").replace("}}", "}")
    return f"""
async (...vals) => {{
{head}  const spec = {spec}, tabIds = {json.dumps(tab_ids)};
  const btns = Array.from(document.querySelectorAll("button[role=tab]"));
  const i = Math.max(0, btns.findIndex((b) => b.getAttribute("aria-selected") === "true"));
  const tab = tabIds[i] || tabIds[0];
  const q = new URLSearchParams();
  q.set("tab", tab);
  spec.forEach(([t, name], k) => {{
    let v = vals[k];
    if (t !== tab || v === null || v === undefined || v === "") return;
    if (typeof v === "boolean") v = v ? "1" : "0";
    if (name === "model") v = String(v).split("/").pop().replace(/\\.pt$/, "");
    q.set(name, String(v));
  }});
  if (document.body.classList.contains("present")) q.set("present", "1");
  const url = location.origin + location.pathname + "?" + q.toString();
{tail}  return url;
}}
"""


def finish(page: Page, tab_ids: list[str]) -> None:
    """After every tab is built: the deep-link load event (then the tabs' first-load work), the copy-link
    button and the keyboard shortcuts."""
    params = list(page.params)
    comps = [p.component for p in params]
    present, note = page.components["present"], page.components["deeplink_note"]

    def on_load(request: gr.Request):
        query = dict(request.query_params) if request is not None else {}
        tab, updates, on, text = apply_links(params, tab_ids, query)
        vals = [updates.get(i, gr.skip()) for i in range(len(params))]
        return (gr.Tabs(selected=tab), on if on else gr.skip(), gr.Markdown(text, visible=bool(text)), *vals)

    load = page.demo.load(on_load, None, [page.tabs, present, note, *comps], **FAST)
    for wire in page.load_steps:
        wire(load)
    page.demo.load(None, None, None, js=keys_js(tab_ids), **PRIVATE)
    box = page.components["view_link"]
    page.components["copy_link"].click(None, comps, box, js=_copy_link_js(params, tab_ids), **FAST)
    refresh = dict(fn=None, inputs=[*comps, box], outputs=box, js=_copy_link_js(params, tab_ids, copy=False), **FAST)
    for comp in {id(c): c for c in [*comps, present]}.values():  # a copied link follows the settings it names
        comp.change(**refresh)
    page.tabs.select(**refresh)


def link_for(tab: str, **settings) -> str:
    """The query string of a deep link (for the README and tests).

    link_for('sample', steps=10) → '?tab=sample&steps=10'."""
    return "?" + urlencode({"tab": tab, **{k: _fmt(v) for k, v in settings.items()}})
