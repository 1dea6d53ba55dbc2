"""The 2-D lab tab's settings: its limits (environment variables, see the package docstring), the fixed sizes of
the view (T, the grid, the point subsets), the dropdown choices and the colours.

Part of the tab package playground/ui/lab2d (its __init__ has the layout).
"""
from __future__ import annotations

import numpy as np

from playground import toy2d
from playground.ui.limits import LIMITS, env_num

MAX_POINTS = min(env_num("PLAYGROUND_LAB2D_MAX_POINTS", 10_000, 5_000), toy2d.MAX_N)
MAX_PARTICLES = env_num("PLAYGROUND_LAB2D_MAX_PARTICLES", 5_000, 2_000)
MAX_TRAIN_SECONDS = min(env_num("PLAYGROUND_LAB2D_TRAIN_SECONDS", 30, 15, float), LIMITS.max_train_seconds)
AUTO_TRAIN_SECONDS = min(env_num("PLAYGROUND_LAB2D_AUTO_SECONDS", 15, 10, float), MAX_TRAIN_SECONDS)
MAX_STEPS = min(LIMITS.max_steps, toy2d.MAX_STEPS)

T_LAB = 1000  # diffusion steps of every schedule in this tab
TRAIN_STEPS = 2000  # a run ends here or at its time budget, whichever comes first (enough for every toy set)
VIEW = 3.0  # the plots show [−VIEW, VIEW]² of the standardized data
HEAT = 32  # one 32 × 32 grid carries the density heatmap (smoothed in the browser) and the score arrows
GRID = np.linspace(-VIEW, VIEW, HEAT)
CELL = float(GRID[1] - GRID[0])
DISAGREE_POINTS = 128  # noised points on which learned and exact ε̂ are compared, per move of t
DIST_POINTS = 2000  # data points (a fixed subset) that sample sets are compared with
PATHS = 6  # particles whose whole path is drawn
PATH_COLORS = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628"]
ANIM_PARTICLES = 300  # particles per sampler in the animation
ANIM_FRAMES = 40
STUDY_STEPS = (10, 25, 50, 100)

DRAWING = "drawing"
DATASET_CHOICES = [(toy2d.DATASET_LABELS[k], k) for k in toy2d.DATASETS] + [("draw your own", DRAWING)]
SAMPLER_CHOICES = [(toy2d.SAMPLER_LABELS[k], k) for k in toy2d.SAMPLERS_2D]
OBJECTIVE_CHOICES = [("v (recommended)", "v"), ("ε", "eps"), ("x₀", "x0"), ("flow matching (velocity u)", "flow")]
ARROW_CHOICES = [("exact", "exact"), ("learned", "learned"), ("both", "both")]
GIF_LABELS = {"ddpm": "DDPM", "ddim": "DDIM", "dpmpp_2m": "DPM-Solver++(2M)", "pf_ode": "probability-flow ODE",
              "sde": "reverse SDE", "langevin": "annealed Langevin"}  # the GIF's bitmap font has no η or en dash
COLORS = {"ddpm": "#d62728", "ddim": "#1f77b4", "dpmpp_2m": "#17becf", "pf_ode": "#2ca02c", "sde": "#ff7f0e",
          "langevin": "#9467bd"}
EXACT_COLOR, LEARNED_COLOR, CLOUD_COLOR = "#111111", "#e8590c", "#c2410c"
FONT = dict(size=14)
