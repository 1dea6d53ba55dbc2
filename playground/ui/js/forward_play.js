// Forward tab, "Play through t", in the browser: sweeps the t slider from its value to T−1 in PLAY_SECONDS,
// with no server request per frame. Each frame moves the slider like a drag (an input event), which redraws
// x_t through forward_blend.js (a js-only event). A second click pauses; starting at the end rewinds to 0.
// Returns the button's new label; at the end of the sweep it clicks #play-end, whose js-only event puts
// the label back. Time-based, so a slow browser shows fewer frames but the sweep still takes PLAY_SECONDS.
() => {
  const PLAY_SECONDS = __PLAY_SECONDS__, FRAME_MS = 40;
  const st = (window.__dpPlay = window.__dpPlay || { on: false });
  const range = () => document.querySelector("#t-slider input[type=range]");
  const r = range();
  if (!r) return ["__PLAY_LABEL__"];
  if (st.on) { st.on = false; return ["__PLAY_LABEL__"]; }
  const tMax = Number(r.max);
  const t0 = Number(r.value) >= tMax ? 0 : Number(r.value);
  const since = performance.now();
  st.on = true;
  let last = -1;
  const frame = (now) => {
    if (!st.on) return;
    const el = range();
    if (!el) { st.on = false; return; }
    if (now - last >= FRAME_MS) {
      last = now;
      const t = Math.min(Math.round(t0 + ((now - since) / 1000 / PLAY_SECONDS) * (tMax + 1)), tMax);
      if (String(t) !== el.value) {
        el.value = String(t);
        el.dispatchEvent(new Event("input", { bubbles: true }));
      }
      if (t >= tMax) {
        st.on = false;
        el.dispatchEvent(new Event("change", { bubbles: true }));
        const end = document.querySelector("#play-end");
        if (end) end.click();
        return;
      }
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  return ["__PAUSE_LABEL__"];
}
