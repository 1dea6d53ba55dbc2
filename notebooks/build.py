"""Write the teaching notebooks from the cell texts below: ``python notebooks/build.py`` (``--check``: exit 1 if a
committed notebook differs from what this script writes; tests/test_notebooks.py runs that).

The .ipynb files are generated so they stay small and diff-friendly: no outputs, no execution counts, fixed cell
ids, the same metadata everywhere. Edit the text here, rerun the script, commit both.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
REPO = "diffusion-playground/diffusion-playground"


def badge(filename: str) -> str:
    """The first cell of every notebook: open this very file in Colab."""
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{REPO}/blob/main/notebooks/{filename})")


# The second cell of every notebook. From a clone it only finds the clone's code (and changes nothing when
# `import playground` already works); elsewhere (Colab) it clones the project and installs it.
INSTALL = r'''# Setup: from a clone of the project this only finds its code. Where `playground` cannot be imported
# (Colab, or this notebook on its own) it clones the project and installs it: a minute or two, once.
import importlib
import os
import subprocess
import sys
from pathlib import Path

REPO_URL = "https://github.com/diffusion-playground/diffusion-playground"
# Run from a clone (this notebook in its notebooks/ folder)? Then use that clone's code, installed or not.
clone = next((d for d in (Path.cwd(), *Path.cwd().parents) if (d / "playground" / "__init__.py").is_file()), None)
if clone is not None and str(clone) not in sys.path:
    sys.path.insert(0, str(clone))
try:
    import playground  # importable: nothing is downloaded
except ImportError:
    clone = Path("diffusion-playground").resolve()
    if not clone.exists():
        subprocess.run(["git", "clone", "--depth", "1", REPO_URL, str(clone)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", str(clone)], check=True)
    sys.path.insert(0, str(clone))
    importlib.invalidate_caches()
    import playground
ROOT = Path(playground.__file__).resolve().parents[1]  # the project: data/, checkpoints/, app.py
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.chdir(ROOT)  # relative paths (checkpoints/, data/) now work as in the README
print(f"playground {playground.__version__} from {ROOT}")'''

SIZE_SWITCH = '''SMALL = os.environ.get("PLAYGROUND_NOTEBOOK_CI") == "1"  # tiny sizes for the automated test; full sizes for you
torch.manual_seed(0)
if SMALL:
    torch.set_num_threads(1)  # the test machine is small and busy: one thread is faster there'''

# --------------------------------------------------------------------------------------------------------------
NB1 = [
    ("md", """# 1 · The forward process and noise schedules

Diffusion models learn to undo a fixed *forward process* that turns data into noise a little at a time. This
notebook builds that process with the project's core (`playground.schedules`, `playground.diffusion`):

1. make the noise schedules and plot $\\bar\\alpha_t$ and $\\mathrm{SNR}(t)$;
2. noise a real MNIST digit at several $t$;
3. check numerically that running the one-step chain $q(x_t \\mid x_{t-1})$ again and again gives exactly the
   closed form $q(x_t \\mid x_0)$.

**Time in code.** The code's $t$ runs $0, 1, \\dots, T-1$ (the papers' $1, \\dots, T$, shifted by one), and the
clean image sits at "$t = -1$", where $\\bar\\alpha_{-1} = 1$."""),
    ("code", """import math
import os
import time

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

""" + SIZE_SWITCH),
    ("md", """## Noise schedules

A schedule is the list of per-step noise variances $\\beta_t$. Everything else follows from it:

$$\\alpha_t = 1 - \\beta_t, \\qquad \\bar\\alpha_t = \\prod_{s \\le t} \\alpha_s, \\qquad
\\mathrm{SNR}(t) = \\frac{\\bar\\alpha_t}{1 - \\bar\\alpha_t}.$$

$\\bar\\alpha_t$ is the fraction of the signal's *variance* that is left at step $t$, and $1 - \\bar\\alpha_t$ the
variance of the noise. (The SNR's denominator is $1-\\bar\\alpha_t$, not squared: both are variances already.)

- **linear** (DDPM): $\\beta$ from $10^{-4}$ to $0.02$; **scaled linear** (Stable Diffusion): linear in
  $\\sqrt\\beta$; **cosine** (improved DDPM): $\\bar\\alpha$ follows a squared cosine, so the signal survives
  longer; **sigmoid**: $\\bar\\alpha$ follows a sigmoid.
- **Zero terminal SNR** rescales a schedule so that $\\bar\\alpha_{T-1} = 0$: the last step is pure noise, as
  sampling assumes when it starts from $x_T \\sim \\mathcal N(0, I)$. Without it the linear schedule keeps
  $\\sqrt{\\bar\\alpha_{T-1}} \\approx 0.006$ of the image at the end. The price: an $\\varepsilon$-predicting
  network cannot recover $x_0$ at that step, since $\\hat x_0 = (x_t - \\sqrt{1-\\bar\\alpha_t}\\,\\hat\\varepsilon)
  / \\sqrt{\\bar\\alpha_t}$ divides by zero (use $v$-prediction there)."""),
    ("code", """from playground.schedules import SCHEDULES, make_schedule

T = 1000
schedules = {name: make_schedule(name, T) for name in SCHEDULES}
schedules["linear, zero terminal SNR"] = make_schedule("linear", T, zero_terminal_snr=True)
schedules["scaled_linear, zero terminal SNR"] = make_schedule("scaled_linear", T, zero_terminal_snr=True)

for name, s in schedules.items():
    print(f"{name:34s} ᾱ_0 = {float(s.alpha_bar[0]):.5f}   ᾱ_(T-1) = {float(s.alpha_bar[-1]):.2e}   "
          f"SNR(T-1) = {s.terminal_snr:.2e}")
    # the tables are what the formulas above say
    assert torch.allclose(s.alpha_bar, torch.cumprod(1 - s.betas, 0))
    assert torch.allclose(s.snr, s.alpha_bar / (1 - s.alpha_bar))"""),
    ("code", """t_axis = np.arange(T)
fig = make_subplots(rows=1, cols=2, subplot_titles=("ᾱ_t", "SNR(t) = ᾱ_t / (1 − ᾱ_t)  (log axis)"))
colors = dict(zip(SCHEDULES, px.colors.qualitative.Plotly))
for name, s in schedules.items():
    color = colors[s.name]  # a zero-terminal-SNR variant: its base schedule's colour, dotted
    dash = "dot" if s.zero_terminal_snr else "solid"
    line = dict(color=color, dash=dash)
    fig.add_trace(go.Scatter(x=t_axis, y=s.alpha_bar.numpy(), name=name, line=line, legendgroup=name), 1, 1)
    snr = s.snr.numpy().copy()
    snr[snr <= 0] = np.nan  # SNR = 0 at the last step of a zero-terminal-SNR schedule: not on a log axis
    fig.add_trace(go.Scatter(x=t_axis, y=snr, name=name, line=line, legendgroup=name, showlegend=False), 1, 2)
fig.update_yaxes(type="log", exponentformat="power", row=1, col=2)
fig.update_xaxes(title_text="t")
fig.update_layout(height=420, legend=dict(orientation="h", y=-0.2))
fig.show()"""),
    ("md", """The log-SNR axis is where schedules differ most clearly: linear spends many steps at very low SNR (nearly
pure noise), cosine falls more evenly. The zero-terminal-SNR variants (dotted) drop to SNR = 0 at the very end,
which a log axis cannot show.

## Noising a real digit

The forward process has a closed form **from $x_0$** (DDPM Eq. 4):

$$q(x_t \\mid x_0) = \\mathcal N\\big(\\sqrt{\\bar\\alpha_t}\\,x_0,\\ (1-\\bar\\alpha_t)\\,I\\big), \\qquad
x_t = \\sqrt{\\bar\\alpha_t}\\,x_0 + \\sqrt{1-\\bar\\alpha_t}\\,\\varepsilon, \\quad \\varepsilon \\sim \\mathcal N(0, I).$$

So any $x_t$ can be made in one line, without running the chain: `q_sample(s, x0, t, eps)`. Pixels are in
$[-1, 1]$. Below, one $\\varepsilon$ is kept for every $t$, so you watch one image dissolve."""),
    ("code", """from playground.mnist.data import load_mnist, to_unit_range
from playground.diffusion import q_sample, q_step

mnist = load_mnist()  # the MNIST test split bundled in data/MNIST (no download)
print(mnist.source)
x0 = mnist.heldout_x0()[:1]  # (1, 1, 28, 28) in [-1, 1]
print("digit:", int(mnist.heldout_labels[0]), "| shape", tuple(x0.shape), "| range", float(x0.min()), float(x0.max()))

ts = [0, 50, 100, 250, 500, 750, 999]
eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
shown = ["linear", "cosine"]
frames, titles = [], []
for name in shown:
    s = schedules[name]
    for t in ts:
        x_t = q_sample(s, x0, torch.tensor([t]), eps)
        frames.append((to_unit_range(x_t)[0, 0].numpy() * 255).astype(np.uint8))
        titles.append(f"{name}, t = {t}, ᾱ = {float(s.alpha_bar[t]):.3f}")

fig = px.imshow(np.stack(frames), facet_col=0, facet_col_wrap=len(ts), binary_string=True,
                facet_row_spacing=0.12, facet_col_spacing=0.01)
for ann in fig.layout.annotations:  # "facet_col=i" → a readable title
    ann.text = titles[int(ann.text.split("=")[1])]
    ann.font.size = 10
fig.update_xaxes(showticklabels=False).update_yaxes(showticklabels=False)
fig.update_layout(height=330, margin=dict(t=40, b=10))
fig.show()"""),
    ("md", """At the same $t$ the cosine schedule has kept much more of the digit: compare the columns.

## One step at a time, or all at once

The forward process is *defined* as a chain of small steps (DDPM Eq. 2):

$$q(x_t \\mid x_{t-1}) = \\mathcal N\\big(\\sqrt{\\alpha_t}\\,x_{t-1},\\ \\beta_t\\,I\\big), \\qquad
x_t = \\sqrt{\\alpha_t}\\,x_{t-1} + \\sqrt{\\beta_t}\\,\\varepsilon_t.$$

Note the $\\alpha_t$ (one step), not $\\bar\\alpha_t$: writing $\\bar\\alpha_t$ next to $x_{t-1}$ is a common slip.
Running the chain from $x_0$, the mean gets a factor $\\sqrt{\\alpha_s}$ at every step, so it is
$\\prod_s \\sqrt{\\alpha_s}\\,x_0 = \\sqrt{\\bar\\alpha_t}\\,x_0$; the variance obeys
$v_t = \\alpha_t v_{t-1} + \\beta_t$, and $v_t = 1 - \\bar\\alpha_t$ solves it:
$\\alpha_t(1-\\bar\\alpha_{t-1}) + 1 - \\alpha_t = 1 - \\bar\\alpha_t$. The chain and the closed form are the
same distribution. Let's check it numerically: run `K` independent chains of `q_step` from one digit, and compare
each pixel's mean and standard deviation with $\\sqrt{\\bar\\alpha_t}\\,x_0$ and $\\sqrt{1-\\bar\\alpha_t}$. Beside it
runs the slip, $x_t = \\sqrt{\\bar\\alpha_t}\\,x_{t-1} + \\sqrt{1-\\bar\\alpha_t}\\,\\varepsilon$, from the same noise."""),
    ("code", """K = 200 if SMALL else 2000  # independent chains
T_CHECK = (10, 100, 300) if SMALL else (10, 100, 500, 999)
s = schedules["linear"]
g = torch.Generator().manual_seed(1)

x = x0.expand(K, -1, -1, -1).clone()  # K copies of the digit
x_slip = x.clone()
flat0 = x0.flatten()
rows, hist = [], {}
start = time.perf_counter()
for t in range(max(T_CHECK) + 1):
    noise = torch.randn(x.shape, generator=g)
    x = q_step(s, x, torch.tensor(t), noise)  # √α_t·x_{t−1} + √β_t·ε: the chain
    ab = float(s.alpha_bar[t])
    x_slip = math.sqrt(ab) * x_slip + math.sqrt(1 - ab) * noise  # the slip: ᾱ_t in the one-step kernel
    if t in T_CHECK:
        mean, std = x.mean(0).flatten(), x.std(0).flatten()  # per pixel, over the K chains
        se_mean, se_std = math.sqrt(1 - ab) / math.sqrt(K), math.sqrt(1 - ab) / math.sqrt(2 * K)
        err_mean = float((mean - math.sqrt(ab) * flat0).abs().max())
        err_std = float((std - math.sqrt(1 - ab)).abs().max())
        # the signal left: the mean's coefficient on x0 (least squares), chain and slip
        coef = float(mean @ flat0 / (flat0 @ flat0))
        coef_slip = float(x_slip.mean(0).flatten() @ flat0 / (flat0 @ flat0))
        rows.append((t, math.sqrt(ab), coef, coef_slip, math.sqrt(1 - ab), float(std.mean()),
                     float(x_slip.std(0).mean()), err_mean / se_mean, err_std / se_std))
        hist[t] = x[:, 0, 14, 14].clone()  # one pixel (the centre of the image) across the chains
print(f"{K} chains x {max(T_CHECK) + 1} steps in {time.perf_counter() - start:.1f} s\\n")
print("      |   signal left (× x0)    |       noise std         | worst of 784 pixels,")
print("    t |  √ᾱ_t    chain    slip  | √(1−ᾱ_t)  chain    slip | in standard errors: mean  std")
for t, c_true, c, c_slip, sd_true, sd, sd_slip, z_mean, z_std in rows:
    print(f"{t:5d} | {c_true:6.4f}  {c:6.4f}  {c_slip:7.4f} |  {sd_true:6.4f}  {sd:6.4f}  {sd_slip:6.4f} |"
          f"                    {z_mean:4.1f}  {z_std:4.1f}")
    # every pixel's mean and std agree with the closed form to within sampling error (784 pixels: max ≈ 3.5)
    assert z_mean < 6 and z_std < 6, (t, z_mean, z_std)"""),
    ("md", """The chain's signal coefficient and noise level match $\\sqrt{\\bar\\alpha_t}$ and $\\sqrt{1-\\bar\\alpha_t}$ to
within sampling error at every $t$ (the worst of 784 pixels is a few standard errors off, as chance allows),
while the slip destroys the signal far too fast. Here is one pixel's distribution across the chains against the
closed form's Gaussian:"""),
    ("code", """fig = make_subplots(rows=1, cols=len(hist), subplot_titles=[f"t = {t}" for t in hist])
centre = float(x0[0, 0, 14, 14])
for i, (t, values) in enumerate(hist.items(), start=1):
    ab = float(s.alpha_bar[t])
    m, sd = math.sqrt(ab) * centre, math.sqrt(1 - ab)
    fig.add_trace(go.Histogram(x=values.numpy(), histnorm="probability density", nbinsx=30, name="chain",
                               marker_color="#636EFA", showlegend=i == 1), 1, i)
    grid = np.linspace(m - 4 * sd, m + 4 * sd, 200)
    pdf = np.exp(-0.5 * ((grid - m) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    fig.add_trace(go.Scatter(x=grid, y=pdf, name="closed form N(√ᾱ·x0, 1−ᾱ)", line=dict(color="#EF553B"),
                             showlegend=i == 1), 1, i)
fig.update_layout(height=320, bargap=0.05, legend=dict(orientation="h", y=-0.2))
fig.show()"""),
    ("md", """## Where next

- Notebook 2 trains a small model to *reverse* this process and samples it with DDPM, DDIM and DPM-Solver++.
- Notebook 3 does diffusion in two dimensions, where the exact score of the noised data can be computed and drawn.
- The app's *Forward noising* tab shows the same charts live for your own images (`python app.py`)."""),
]

# --------------------------------------------------------------------------------------------------------------
NB2 = [
    ("md", """# 2 · Train a small model, then sample it three ways

The network learns the reverse of the forward process from notebook 1. Here you train the project's MNIST UNet
for a few minutes on the CPU with the project's own trainer, save it as a checkpoint, and sample it with DDPM,
DDIM and DPM-Solver++(2M) from the same seed. The shipped checkpoint (trained for longer) is sampled the same way
for comparison."""),
    ("code", """import os
import tempfile
import time
from pathlib import Path

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import torch

""" + SIZE_SWITCH + """
DEVICE = "cpu" if SMALL else None  # None: CUDA, then Apple's MPS, then the CPU"""),
    ("md", """## Training

Every step draws a batch of digits $x_0$, a timestep $t$ uniformly from $\\{0, \\dots, T-1\\}$ and noise
$\\varepsilon$, makes $x_t = \\sqrt{\\bar\\alpha_t}\\,x_0 + \\sqrt{1-\\bar\\alpha_t}\\,\\varepsilon$, and trains the network
to predict $\\varepsilon$ from $(x_t, t)$ with the mean squared error $\\lVert \\varepsilon - \\hat\\varepsilon_\\theta(x_t, t)
\\rVert^2$ (DDPM's "simple" loss, Eq. 14). The presets add what makes a short run work: min-SNR-$\\gamma$ weighting
of the loss, AdamW with warmup and cosine decay, an exponential moving average (EMA) of the weights for
sampling, and a label that is dropped 10% of the time, so one network learns both $p(x \\mid \\text{digit})$ and
$p(x)$ for classifier-free guidance.

The `quick` preset reaches recognisable digits in a few CPU minutes (the network sees 2×2-pixel patches, which
halves the cost of a step); on a GPU the `gpu` preset takes seconds. The time budget stops the run cleanly."""),
    ("code", """from playground.mnist.train import PRESETS, TrainConfig, Trainer

print("presets:", ", ".join(PRESETS))
if SMALL:  # the automated test: a handful of steps, just to run every line
    cfg = TrainConfig.from_preset("tiny", steps=30, time_budget_s=None, batch_size=32, warmup_steps=5,
                                  log_every=10, preview_every=0)
elif torch.cuda.is_available():
    cfg = TrainConfig.from_preset("gpu")  # 1,800 steps: about 10 s on a recent GPU
else:
    cfg = TrainConfig.from_preset("quick", time_budget_s=180.0)  # 3 minutes on a laptop CPU
budget = "no time limit" if cfg.time_budget_s is None else f"a budget of {cfg.time_budget_s:.0f} s"
print(f"objective {cfg.prediction_type}, {cfg.schedule} schedule, T = {cfg.T}, batch {cfg.batch_size}, "
      f"lr {cfg.lr}, at most {cfg.steps:,} steps, {budget}")

trainer = Trainer(cfg, device=DEVICE)
print(f"data: {trainer.data.source} | device: {trainer.device} | "
      f"{trainer.model.num_params() / 1e6:.2f} M parameters | bf16 autocast: {trainer.bf16}")
steps, losses, last = [], [], 0.0
for ev in trainer.run():  # a TrainEvent every cfg.log_every steps; trainer.stop() would end it cleanly
    if ev.kind in ("step", "preview"):
        steps.append(ev.step)
        losses.append(ev.loss_mean)
    if ev.kind == "done" or time.perf_counter() - last > 20:
        last = time.perf_counter()
        print(f"step {ev.step:5d}  loss (mean of the last 100) {ev.loss_mean:.4f}  {ev.steps_per_s:5.1f} steps/s  "
              f"{ev.elapsed_s:4.0f} s")
print(ev.message)"""),
    ("code", """fig = go.Figure(go.Scatter(x=steps, y=losses, mode="lines"))
fig.update_layout(title="training loss (running mean)", xaxis_title="step", yaxis_title="loss", yaxis_type="log",
                  height=320)
fig.show()"""),
    ("md", """## Save and load a checkpoint

A checkpoint is a plain dictionary: the EMA weights, the model's config (so the network rebuilds from the file
alone) and how it was trained (objective, schedule, $T$, steps, data). It is written atomically and read back
with `torch.load(weights_only=True)` only, so loading a file never runs code from it."""),
    ("code", """from playground.mnist.checkpoint import DEFAULT_CHECKPOINT, load_model, save_checkpoint

if SMALL:  # the automated test leaves nothing behind
    scratch = tempfile.TemporaryDirectory()
    out_dir = Path(scratch.name)
else:
    out_dir = ROOT / "runs"  # git-ignored
CKPT = out_dir / "notebook_mnist.pt"
save_checkpoint(CKPT, ema_state=trainer.ema.state_dict(), config=trainer.model.config, meta=trainer.meta())
# (trainer.save(CKPT) does the same)

model, meta = load_model(CKPT, device=trainer.device)
print(f"{CKPT}: {CKPT.stat().st_size / 1e6:.1f} MB, {meta.prediction_type}-prediction, {meta.schedule} schedule, "
      f"T = {meta.T}, {meta.steps} steps in {meta.wall_time_s:.0f} s on {meta.data}")"""),
    ("md", """## Three samplers from one seed

All three start from the same $x_T \\sim \\mathcal N(0, I)$ and walk a list of timesteps down to the clean image,
asking the network for $\\hat\\varepsilon$ (hence $\\hat x_0 = (x_t - \\sqrt{1-\\bar\\alpha_t}\\,\\hat\\varepsilon)/\\sqrt{\\bar\\alpha_t}$)
at each one. They differ in how they step from $t$ to the next listed timestep $t'$:

- **DDPM** (ancestral): sample the posterior $q(x_{t'} \\mid x_t, \\hat x_0)$, a Gaussian whose mean mixes $\\hat x_0$
  and $x_t$, with fresh noise at every step. On a subset of the steps it uses $\\beta'_t = 1 - \\bar\\alpha_t /
  \\bar\\alpha_{t'}$.
- **DDIM**: $x_{t'} = \\sqrt{\\bar\\alpha_{t'}}\\,\\hat x_0 + \\sqrt{1-\\bar\\alpha_{t'}-\\sigma_t^2}\\,\\hat\\varepsilon + \\sigma_t z$ with
  $\\sigma_t(\\eta) = \\eta\\sqrt{(1-\\bar\\alpha_{t'})/(1-\\bar\\alpha_t)}\\,\\sqrt{1-\\bar\\alpha_t/\\bar\\alpha_{t'}}$, so
  $\\sigma_t^2 = \\eta^2\\tilde\\beta_t$. With $\\eta = 0$ (below) it is deterministic: the same $x_T$ always gives the
  same digit.
- **DPM-Solver++(2M)**: DDIM with $\\eta = 0$ is a first-order solver of the probability-flow ODE;
  DPM-Solver++(2M) solves the same ODE to second order in $\\lambda = \\tfrac12\\log\\mathrm{SNR}$ by reusing the
  previous step's $\\hat x_0$: good digits in fewer steps.

Each sampler calls the network once per step (one *function evaluation*, NFE); with classifier-free guidance,
$\\hat\\varepsilon = \\hat\\varepsilon(x_t, \\varnothing) + w\\,(\\hat\\varepsilon(x_t, c) - \\hat\\varepsilon(x_t, \\varnothing))$ with
$w = 1.5$, the conditional and unconditional inputs go through together as one batch of twice the size. Here is the list of timesteps that actually runs (with 'leading'
spacing, 50 steps of 1000 start at $t = 980$, not 999):"""),
    ("code", """from playground.mnist.sample import generate
from playground.samplers import make_timesteps
from playground.render import image_grid, to_uint8

N_DIGITS = 10 if SMALL else 20  # digits per sampler (the labels cycle 0, 1, ..., 9)
STEPS = 5 if SMALL else 50
SEED = 0
GUIDANCE = 1.5  # classifier-free guidance scale w (1 = the plain conditional model)
SAMPLERS = {"DDPM": "ddpm", "DDIM (η = 0)": "ddim", "DPM-Solver++(2M)": "dpmpp_2m"}

pairs = make_timesteps(meta.T, STEPS, "leading")  # (t, t') pairs, noisy to clean; t' = −1 is the clean image
shown = [f"{t}→{t_prev}" for t, t_prev in pairs]
print(f"{len(pairs)} steps:", ", ".join(shown if len(shown) <= 8 else shown[:4] + ["..."] + shown[-3:]))


def sample_all(model, meta, title):
    \"\"\"Sample N_DIGITS digits with each sampler from the same seed; show the grids side by side.\"\"\"
    grids, names = [], []
    for name, sampler in SAMPLERS.items():
        start = time.perf_counter()
        x, labels = generate(model, meta, num=N_DIGITS, sampler=sampler, steps=STEPS, seed=SEED, guidance=GUIDANCE)
        grids.append(image_grid(to_uint8(x[:, 0].cpu().numpy()), ncol=5, scale=2))  # rows of 5: 0-4, 5-9, ...
        names.append(f"{name}: {STEPS} steps, {time.perf_counter() - start:.1f} s")
    fig = px.imshow(np.stack(grids), facet_col=0, binary_string=True, title=title, facet_col_spacing=0.02)
    for ann in fig.layout.annotations:
        ann.text = names[int(ann.text.split("=")[1])]
    fig.update_xaxes(showticklabels=False).update_yaxes(showticklabels=False)
    fig.update_layout(height=300 if N_DIGITS <= 10 else 460, margin=dict(t=70, b=10))
    fig.show()


sample_all(model, meta, f"your model: {meta.steps} steps of training")"""),
    ("md", """## The shipped checkpoint

`checkpoints/mnist_eps_cond.pt` is the app's default model: the full-resolution UNet trained with the `shipped`
recipe (3,500 steps at batch 128). Same samplers, same seed:"""),
    ("code", """shipped, shipped_meta = load_model(DEFAULT_CHECKPOINT, device=trainer.device)
print(f"{DEFAULT_CHECKPOINT.name}: {shipped_meta.steps} steps, {shipped_meta.wall_time_s / 60:.0f} min of training, "
      f"{sum(p.numel() for p in shipped.parameters()) / 1e6:.2f} M parameters")
sample_all(shipped, shipped_meta, f"shipped checkpoint: {shipped_meta.steps} steps of training")"""),
    ("md", """DDIM and DPM-Solver++ are deterministic given $x_T$, so they draw nearly the same digits; DDPM adds fresh
noise at every step and wanders off. Things to try: fewer `STEPS` (DPM-Solver++ holds up best), `GUIDANCE = 0`
(unconditional) or 3, a longer training run (`time_budget_s`), or `TrainConfig.from_preset("quick",
prediction_type="v")`. The app's *Sampling* tab shows the same comparison step by step."""),
]

# --------------------------------------------------------------------------------------------------------------
NB3 = [
    ("md", """# 3 · The 2-D lab: exact scores and samplers you can see

In two dimensions a whole data distribution is a point cloud, and everything a diffusion model needs can be
computed *exactly* for it, with no network at all. For $N$ data points $x_0^{(i)}$ the noised data at step $t$ is
a mixture of Gaussians,

$$q_t(x) = \\frac1N \\sum_{i=1}^N \\mathcal N\\big(x;\\ \\sqrt{\\bar\\alpha_t}\\,x_0^{(i)},\\ (1-\\bar\\alpha_t)\\,I\\big),$$

and its score is a pull towards the (shrunk) data points,

$$\\nabla_x \\log q_t(x) = \\frac{\\sqrt{\\bar\\alpha_t}\\,\\mathbb E[x_0 \\mid x_t = x] - x}{1-\\bar\\alpha_t}, \\qquad
\\mathbb E[x_0 \\mid x_t = x] = \\sum_i w_i(x)\\,x_0^{(i)}, \\quad
w_i(x) = \\operatorname{softmax}_i\\Big(-\\frac{\\lVert x - \\sqrt{\\bar\\alpha_t}\\,x_0^{(i)}\\rVert^2}{2(1-\\bar\\alpha_t)}\\Big).$$

$\\mathbb E[x_0 \\mid x_t]$ is the *ideal denoiser* (Tweedie's formula), and the ideal noise prediction is
$\\hat\\varepsilon = -\\sqrt{1-\\bar\\alpha_t}\\,\\nabla_x \\log q_t(x)$. The core is `playground.toy2d`; the app's
*2-D lab* tab is built on it, and the whole app runs inline at the end of this notebook."""),
    ("code", """import os
import time

import numpy as np
import plotly.figure_factory as ff
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

""" + SIZE_SWITCH + """
N_POINTS = 300 if SMALL else 2000  # data points
N_PARTICLES = 200 if SMALL else 2000  # samples per sampler
STEPS = 20 if SMALL else 100  # sampler steps
GRID = 11 if SMALL else 17  # score arrows per axis"""),
    ("code", """from playground import toy2d
from playground.diffusion import q_sample
from playground.schedules import make_schedule

dataset = toy2d.get_dataset("moons")  # also: swiss_roll, gaussians8, checkerboard, circles, gaussian
x0 = dataset.sample(N_POINTS, seed=0)  # (N, 2), standardized
s = make_schedule("cosine", 1000)
print(f"{dataset.label}: {tuple(x0.shape)} points | {s.describe()}")

T_SHOW = (0, 200, 400, 600, 999)
eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
fig = make_subplots(rows=1, cols=len(T_SHOW),
                    subplot_titles=[f"t = {t}, ᾱ = {float(s.alpha_bar[t]):.2f}" for t in T_SHOW])
for i, t in enumerate(T_SHOW, start=1):
    x_t = q_sample(s, x0, torch.tensor(t), eps)  # the same closed form as for images
    fig.add_trace(go.Scatter(x=x_t[:, 0], y=x_t[:, 1], mode="markers", marker=dict(size=3), showlegend=False), 1, i)
fig.update_xaxes(range=[-3.5, 3.5]).update_yaxes(range=[-3.5, 3.5])
fig.update_layout(height=300, margin=dict(t=40))
fig.show()"""),
    ("md", """## The exact score field

Below, the colour is $\\log q_t$, and each arrow is the score times $1-\\bar\\alpha_t$,
$(1-\\bar\\alpha_t)\\,\\nabla\\log q_t(x) = \\sqrt{\\bar\\alpha_t}\\,\\mathbb E[x_0 \\mid x_t = x] - x$: the step from $x$ to
the (shrunk) denoised point, drawn at a third of its length. (The score itself grows like $1/(1-\\bar\\alpha_t)$
as $t \\to 0$.) At large $t$ everything points to the centre; at small $t$ each arrow points to the nearest part
of the data."""),
    ("code", """T_FIELD = (50, 300, 700)
arrow_axis = np.linspace(-3, 3, GRID)  # arrows
fine_axis = np.linspace(-3, 3, 6 * GRID)  # the density
fig = make_subplots(rows=1, cols=len(T_FIELD), subplot_titles=[f"t = {t}" for t in T_FIELD])
for i, t in enumerate(T_FIELD, start=1):
    ab = float(s.alpha_bar[t])
    density = toy2d.exact_on_grid(x0, fine_axis, fine_axis, ab).log_density  # (G, G)
    q = toy2d.exact_on_grid(x0, arrow_axis, arrow_axis, ab)  # .score is (G, G, 2)
    arrows = (1 - ab) * q.score.numpy()  # √ᾱ·E[x0|x] − x
    fig.add_trace(go.Heatmap(x=fine_axis, y=fine_axis, z=density.numpy(), colorscale="Blues", showscale=False,
                             zmin=float(density.max()) - 8, zmax=float(density.max())), 1, i)
    gx, gy = np.meshgrid(arrow_axis, arrow_axis)
    quiver = ff.create_quiver(gx, gy, arrows[..., 0], arrows[..., 1], scale=0.33, arrow_scale=0.25)
    fig.add_trace(go.Scatter(quiver.data[0], line=dict(color="#C2185B", width=1), showlegend=False), 1, i)
    fig.add_trace(go.Scatter(x=x0[:, 0], y=x0[:, 1], mode="markers", marker=dict(size=2, color="rgba(0,0,0,0.3)"),
                             showlegend=False), 1, i)
fig.update_xaxes(range=[-3, 3]).update_yaxes(range=[-3, 3])
fig.update_layout(height=360, margin=dict(t=40))
fig.show()"""),
    ("md", """Three identities hold exactly, and the code checks them: the score is the gradient of $\\log q_t$ (autograd
through the exact log-density), $\\hat\\varepsilon = -\\sqrt{1-\\bar\\alpha_t}\\,\\nabla\\log q_t$, and Tweedie's formula
$\\mathbb E[x_0 \\mid x_t] = (x_t + (1-\\bar\\alpha_t)\\nabla\\log q_t)/\\sqrt{\\bar\\alpha_t}$."""),
    ("code", """t = 300
ab = float(s.alpha_bar[t])
x_t = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
x_grad = x_t.clone().requires_grad_(True)
(grad,) = torch.autograd.grad(toy2d.exact_log_density(x0.double(), x_grad, ab).sum(), x_grad)
ex = toy2d.exact_quantities(x0.double(), x_t, ab)  # log_density, score, x0_hat, eps at the points x_t
checks = {
    "score = ∇ log q_t (autograd)": (ex.score, grad),
    "ε̂ = −√(1−ᾱ)·score": (ex.eps, -(1 - ab) ** 0.5 * ex.score),
    "E[x0|x_t] = (x_t + (1−ᾱ)·score)/√ᾱ": (ex.x0_hat, (x_t + (1 - ab) * ex.score) / ab**0.5),
}
for name, (a, b) in checks.items():
    err = float((a - b).abs().max())
    print(f"{name:38s} max |difference| = {err:.1e}")
    assert err < 1e-8, name"""),
    ("md", """## Six samplers from one $x_T$

Every sampler starts from the same particles $x_T \\sim \\mathcal N(0, I)$ and uses the exact denoiser as its
"network". The VP forward SDE is $dx = -\\tfrac12\\beta(t)\\,x\\,dt + \\sqrt{\\beta(t)}\\,dw$; the samplers follow its
reverse in different ways:

- **DDPM**, **DDIM** ($\\eta = 0$), **DPM-Solver++(2M)**: the same step functions as for MNIST (notebook 2).
- **Probability-flow ODE**: $dx = -\\tfrac12\\beta(t)\\,[x + \\nabla\\log q_t(x)]\\,dt$, deterministic, integrated with
  Heun's method (2 evaluations per step). Written in $\\bar x = x/\\sqrt{\\bar\\alpha_t}$ and
  $\\tilde\\sigma = \\sqrt{(1-\\bar\\alpha_t)/\\bar\\alpha_t}$ it reads $d\\bar x/d\\tilde\\sigma = \\hat\\varepsilon$, and Euler's
  method on that *is* DDIM with $\\eta = 0$.
- **Reverse SDE**: $dx = -\\beta(t)\\,[\\tfrac12 x + \\nabla\\log q_t(x)]\\,dt + \\sqrt{\\beta(t)}\\,d\\bar w$, with time
  running backwards (Euler–Maruyama).
- **Annealed Langevin**: at each noise level, a few steps of $x \\leftarrow x + \\tfrac{a}{2}\\nabla\\log q_t(x) +
  \\sqrt{a}\\,z$ with the step size $a \\propto \\sigma_t^2$ (not $\\sigma_t$), then one denoising step.

How close are the samples to the data? The **energy distance** $D(X, Y) = \\sqrt{2\\,\\mathbb E\\lVert X-Y\\rVert -
\\mathbb E\\lVert X-X'\\rVert - \\mathbb E\\lVert Y-Y'\\rVert}$ is 0 only for equal distributions; the yardstick is the
distance between the data and fresh points from the same distribution (finite samples never reach 0). NFE counts
score evaluations, not steps."""),
    ("code", """den = toy2d.exact_denoiser(x0, s)
x_T = toy2d.start_noise(N_PARTICLES, seed=0)
reference = toy2d.reference_distance(dataset, x0, N_PARTICLES)  # fresh data against the data
fresh = dataset.sample(N_PARTICLES, seed=10_000)
fresh_nearest = float(toy2d.nearest_distance(fresh, x0).median())
print(f"yardstick (fresh data against the data): energy distance {reference:.4f}\\n")

trajectories = {}
print(f"{'sampler':30s} {'NFE':>4s} {'energy distance':>16s} {'time':>7s}")
for name in toy2d.SAMPLERS_2D:
    start = time.perf_counter()
    traj = toy2d.sample_2d(den, s, x_T, sampler=name, num_steps=STEPS, seed=1)
    took = time.perf_counter() - start
    trajectories[name] = traj
    dist = toy2d.energy_distance(traj.samples, x0)
    print(f"{toy2d.SAMPLER_LABELS[name]:30s} {traj.nfe:4d} {dist:16.4f} {took:6.2f}s")"""),
    ("code", """names = list(trajectories)
fig = make_subplots(rows=2, cols=3, subplot_titles=[toy2d.SAMPLER_LABELS[n] for n in names],
                    vertical_spacing=0.1, horizontal_spacing=0.04)
for i, name in enumerate(names):
    row, col = divmod(i, 3)
    pts = trajectories[name].samples
    fig.add_trace(go.Scatter(x=x0[:, 0], y=x0[:, 1], mode="markers", marker=dict(size=3, color="#BBBBBB"),
                             name="data", showlegend=i == 0), row + 1, col + 1)
    fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", marker=dict(size=3, color="#C2185B"),
                             name="samples", showlegend=i == 0), row + 1, col + 1)
    # a few particle paths, from x_T to the data
    for k in range(5):
        path = trajectories[name].xs[:, k]
        fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines", line=dict(width=1, color="#1565C0"),
                                 showlegend=False), row + 1, col + 1)
fig.update_xaxes(range=[-3, 3]).update_yaxes(range=[-3, 3])
fig.update_layout(height=650, legend=dict(orientation="h", y=-0.05), margin=dict(t=40))
fig.show()"""),
    ("md", """The deterministic samplers (DDIM, DPM-Solver++, the ODE) draw smooth paths; DDPM, the SDE and Langevin
jitter. An energy distance at or below the yardstick means the samples are as close to the data as fresh data
is, or closer, and closer is suspicious: see below.

## Memorization: the ideal denoiser against a trained network

The exact score belongs to the $N$ data points themselves: $q_t$ is a mixture of $N$ Gaussians that shrink onto
the points as $t \\to 0$. A sampler that follows it all the way down can only land **on a training point**:
the ideal denoiser memorizes. (The samplers above used 'trailing' spacing, whose last step starts at
$t = T/n - 1$, e.g. $t = 9$ for 100 steps, where the mixture is still a slight blur; 'linspace' spacing ends at
$t = 0$.) A network cannot represent such a spiky field, so its samples fall *between* the points, like fresh data: it generalizes. A small
MLP trained for a few seconds with the project's loss shows it; the measure is each sample's distance to its
nearest training point."""),
    ("code", """if SMALL:
    train_cfg = toy2d.TrainConfig2D(steps=100, time_budget_s=None)
else:
    train_cfg = toy2d.TrainConfig2D(time_budget_s=15.0)  # 15 s of CPU time
learned, mlp_trainer = toy2d.train_denoiser(x0, s, train_cfg, device="cpu")
print(f"MLP ({mlp_trainer.model_cfg.prediction_type}-prediction): {mlp_trainer.model.num_params():,} parameters, "
      f"{mlp_trainer.step} steps in {mlp_trainer.elapsed_s:.1f} s, final loss {mlp_trainer.losses[-1]:.3f}\\n")

print(f"{f'DDIM, {STEPS} steps ending at t = 0':36s} {'median nearest':>14s} {'on a training point (< 1e-5)':>30s} "
      f"{'energy distance':>16s}")
print(f"{'fresh data (the yardstick)':36s} {fresh_nearest:14.4f} {'':>30s} {reference:16.4f}")
for label, d in (("ideal denoiser (exact score)", den), ("trained MLP", learned)):
    pts = toy2d.sample_2d(d, s, x_T, sampler="ddim", num_steps=STEPS, spacing="linspace").samples
    nearest = toy2d.nearest_distance(pts, x0)
    print(f"{label:36s} {float(nearest.median()):14.4f} {float((nearest < 1e-5).float().mean()):30.0%} "
          f"{toy2d.energy_distance(pts, x0):16.4f}")"""),
    ("md", """## The whole app, inline

The app's tabs (forward noising, sampling, training, draw & edit, this 2-D lab, theory) run right here. In Colab
the page appears through a public `gradio.live` link. Stop it with `demo.close()`."""),
    ("code", """import urllib.request

from playground.ui.launch import build_demo, launch

demo = build_demo()
launch(demo, inline=True, height=900, prevent_thread_lock=True)  # the app's theme, CSS, queue and limits
if SMALL:  # the automated test: the page must answer, then the server stops (no server left running)
    with urllib.request.urlopen(demo.local_url, timeout=120) as response:
        assert response.status == 200, response.status
    print("the app answered", response.status, "at", demo.local_url)
    demo.close()"""),
]

NOTEBOOKS = {
    "01_forward_process.ipynb": NB1,
    "02_train_and_sample.ipynb": NB2,
    "03_2d_lab.ipynb": NB3,
}


def build(filename: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """Badge, install cell, then the notebook's own cells; ids fixed so a rebuild changes nothing."""
    stem = filename.split("_")[0]
    body = [("md", badge(filename)), ("code", INSTALL), *cells]
    out = []
    for i, (kind, text) in enumerate(body):
        cell = new_markdown_cell(text) if kind == "md" else new_code_cell(text)
        cell["id"] = f"nb{stem}-{i:02d}"
        out.append(cell)
    nb = new_notebook(cells=out, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    })
    nbformat.validate(nb)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for filename, cells in NOTEBOOKS.items():
        path = HERE / filename
        text = render(build(filename, cells))
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(filename)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(HERE.parent)}")
    if stale:
        print("out of date (run python notebooks/build.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
