""""Show me" that shows: after a Theory button switches tab and sets a control, scroll it into view and flash it.

Tabs need no code for this: ``page.link(control, outputs, fn, inputs, target=elem_id)`` names what to show
(default: the first output, which gets an ``elem_id`` if it has none). The Theory tab chains
:func:`reveal_js` after the button's server update. The script waits until the element is laid out (the tab
it lives on has just been selected, up to 10 s), scrolls it to the middle of the viewport (its top to the top
when it is taller than the viewport), scrolls again in the next 1.2 s if the tab's layout has moved it out of
view, and outlines it for :data:`FLASH_MS` with the class ``dp-reveal``.
"""
from __future__ import annotations

import json

FLASH_MS = 2200
REVEAL_CLASS = "dp-reveal"

CSS = f"""
@keyframes dp-reveal-flash {{ 0%, 100% {{ box-shadow: 0 0 0 0 rgba(236, 72, 153, 0); }}
  20%, 70% {{ box-shadow: 0 0 0 5px rgba(236, 72, 153, 0.85); }} }}
.{REVEAL_CLASS} {{ animation: dp-reveal-flash {FLASH_MS}ms ease-in-out; border-radius: 8px; }}
"""

_JS = """
() => {
  const id = ELEM_ID, t0 = performance.now();
  const shown = (el) => el && el.offsetParent !== null && el.getBoundingClientRect().height > 0;
  const go = () => {
    const el = document.getElementById(id);
    if (!shown(el)) { if (performance.now() - t0 < 10000) setTimeout(go, 60); return; }
    // taller than the screen: its top at the top; else in the middle. Placed again while the tab's plots and
    // images finish laying out above it (they can push it down after the first scroll).
    const place = () => {
      const r = el.getBoundingClientRect(), tall = r.height > innerHeight - 20;
      if (tall ? Math.abs(r.top) > 4 : r.top < 0 || r.bottom > innerHeight)
        el.scrollIntoView({ block: tall ? "start" : "center", inline: "nearest" });
    };
    place();
    for (const ms of [250, 600, 1200]) setTimeout(place, ms);
    el.classList.remove("REVEAL");
    void el.offsetWidth;  // restart the animation when the same control is shown twice
    el.classList.add("REVEAL");
    setTimeout(() => el.classList.remove("REVEAL"), FLASH_MS);
  };
  setTimeout(go, 30);
  return [];
}
"""


def reveal_js(elem_id: str) -> str:
    """JS (a js-only event) that scrolls ``#elem_id`` into the middle of the viewport and flashes it."""
    return (_JS.replace("ELEM_ID", json.dumps(elem_id)).replace("REVEAL", REVEAL_CLASS)
            .replace("FLASH_MS", str(FLASH_MS)))
