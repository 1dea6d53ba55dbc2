// Forward tab, in the browser: x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε drawn on a canvas at every move of t, with no server call.
// `payload` (sent by the server once per image, noise seed or schedule; forward.client_payload) holds x₀ as
// uint8 pixels, ε as int8 (ε·eps_scale), and the schedule's ᾱ_t and β_t tables. Returns the numbers line
// (Markdown) and moves the chart markers with Plotly.restyle. Mirrors forward._pixels / _numbers_md.
(t, payload) => {
  const P = payload;
  if (!P || !P.alpha_bar) return [undefined];
  const cache = (window.__dpForward = window.__dpForward || {});
  if (cache.key !== P.key) {
    const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    cache.key = P.key;
    cache.x0 = bytes(P.x0);
    cache.eps = new Int8Array(bytes(P.eps).buffer);
  }
  const T = P.T;
  t = Math.min(Math.max(Math.round(Number(t) || 0), 0), T - 1);
  const ab = P.alpha_bar[t], beta = P.beta[t];
  const a = Math.sqrt(ab), b = Math.sqrt(Math.max(1 - ab, 0));

  // 1. x_t on the canvas: pixel = a·(x₀ − 127.5) + b·127.5·ε + 127.5
  const canvas = document.querySelector("#xt-image canvas");
  if (canvas) {
    const { w, h, c } = P;
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(w, h);
    const out = img.data, x0 = cache.x0, eps = cache.eps;
    const be = (b * 127.5) / P.eps_scale, off = 127.5 - a * 127.5;
    for (let i = 0, n = w * h; i < n; i++) {
      for (let k = 0; k < 3; k++) {
        const j = i * c + (c === 1 ? 0 : k);
        out[4 * i + k] = a * x0[j] + be * eps[j] + off;  // Uint8ClampedArray rounds and clips
      }
      out[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    canvas.dataset.t = String(t);
  }

  // 2. the chart markers (the last four traces of the schedule figure; figures.schedule_figure_with_marker)
  const snr = ab / (1 - ab), lam = Math.log(ab) - Math.log(1 - ab);
  const gd = document.querySelector("#schedule-plot .js-plotly-plot");
  if (gd && window.Plotly && gd.data && gd.data.length >= 4) {
    const k = gd.data.length - 4;
    window.Plotly.restyle(gd, {
      x: [[t, t, t], [t], [t], [t / (T - 1)]],
      y: [[ab, a, b], [snr > 0 ? snr : null], [beta], [isFinite(lam) ? lam : null]],
    }, [k, k + 1, k + 2, k + 3]);
  }

  // 3. the numbers line, formatted like Python's format specs (.4f, .4g, +.2f, .3g)
  const g = (x, p) => {
    if (x === 0) return "0";
    if (!isFinite(x)) return x > 0 ? "inf" : "-inf";
    const e = Math.floor(Math.log10(Math.abs(Number(x.toPrecision(p)))));
    const strip = (s) => (s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s);
    if (e < -4 || e >= p) {
      const [m, ex] = x.toExponential(p - 1).split("e");
      const n = Number(ex);
      return `${strip(m)}e${n < 0 ? "-" : "+"}${String(Math.abs(n)).padStart(2, "0")}`;
    }
    return strip(x.toFixed(Math.max(p - 1 - e, 0)));
  };
  const ln = Math.log(snr);
  const lamTxt = snr === 0 ? "−∞" : (ln >= 0 ? "+" : "-") + Math.abs(ln).toFixed(2);
  const md =
    `**t = ${t}** of T = ${T} &nbsp;·&nbsp; ᾱ<sub>t</sub> = **${ab.toFixed(4)}** &nbsp;·&nbsp; ` +
    `signal √ᾱ = ${a.toFixed(3)}, noise √(1−ᾱ) = ${b.toFixed(3)}  \n` +
    `SNR(t) = **${g(snr, 4)}** (log-SNR ${lamTxt}) &nbsp;·&nbsp; β<sub>t</sub> = ${g(beta, 4)} &nbsp;·&nbsp; ` +
    `terminal SNR(T−1) = **${g(P.terminal_snr, 3)}**` + (P.zero_terminal_snr ? " (zero terminal SNR)" : "");
  return [md];
}
