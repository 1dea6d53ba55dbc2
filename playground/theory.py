"""Theory text for the app's fourth tab: one section per idea, each linked to the control that shows it.

Plain data (no gradio): ``SECTIONS`` is a list of :class:`Section`; ``app.py`` renders each one as
Markdown with LaTeX and a "Show me" button that switches to ``tab`` and sets ``control`` to ``value``.
Symbols follow the code: t is 0-based in the code and 1-based in the papers; ᾱ_{t−1} = 1 at the start.
Papers: DDPM arXiv:2006.11239, DDIM arXiv:2010.02502, improved DDPM arXiv:2102.09672,
v-prediction arXiv:2202.00512, CFG arXiv:2207.12598, zero terminal SNR arXiv:2305.08891.
"""
from __future__ import annotations

from dataclasses import dataclass

from playground.theory_steps import FEWER_STEPS

__all__ = ["Section", "SECTIONS", "LATEX_DELIMITERS", "INTRO"]

LATEX_DELIMITERS = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "$", "right": "$", "display": False},
]


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    body: str  # Markdown + LaTeX
    tab: str  # id of the tab that shows it
    button: str  # label of the "show me" button
    control: str | None = None  # name of the control app.py sets (see app.py THEORY_LINKS)
    value: object = None


INTRO = r"""
## The maths behind each control

Each section ends with a button that jumps to the control that shows the idea at work.
Notation: $x_0$ a clean image, $\varepsilon\sim\mathcal N(0,I)$, $\beta_t$ the noise schedule,
$\alpha_t = 1-\beta_t$, $\bar\alpha_t=\prod_{s\le t}\alpha_s$.

**Counting steps.** The papers, and the equations below, number the noising steps $t = 1,\dots,T$ and keep $t=0$ for
the clean image. The app (its sliders, its code, and diffusers) numbers the same steps $t = 0,\dots,T-1$. So the
equations' step $t$ is the app's $t-1$: the paper's last step $t=T$ (where $\bar\alpha_T$ and $\mathrm{SNR}(T)$ live)
is the slider's $t=T-1$, which the app calls "terminal SNR(T−1)". The clean image is $x_0$ in both.
"""

FORWARD = r"""
### 1. The forward process: one step, and the closed form

One step of the Markov chain adds a little Gaussian noise (DDPM Eq. 2):

$$q(x_t\mid x_{t-1}) = \mathcal N\!\big(\sqrt{\alpha_t}\,x_{t-1},\ \beta_t I\big),
\qquad x_t = \sqrt{\alpha_t}\,x_{t-1} + \sqrt{\beta_t}\,\varepsilon .$$

Composing $t$ Gaussian steps gives a Gaussian again, so any $x_t$ can be drawn **directly from $x_0$** (DDPM Eq. 4):

$$q(x_t\mid x_0) = \mathcal N\!\big(\sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I\big),
\qquad x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon .$$

*Common slip:* $\bar\alpha_t$ belongs to the closed form from $x_0$; the one-step kernel from $x_{t-1}$ uses
$\alpha_t$. The "closed form vs. step-by-step chain" button in the Forward tab runs both routes and compares their
statistics.

**Signal-to-noise ratio.** $\mathrm{SNR}(t) = \dfrac{\bar\alpha_t}{1-\bar\alpha_t}$ (not $(1-\bar\alpha_t)^2$ in the
denominator). Schedules are easiest to compare on the log-SNR axis $\lambda_t = \log\mathrm{SNR}(t)$: linear, cosine,
scaled-linear and sigmoid differ in how fast $\lambda_t$ falls, and in where they end.
"""

ZTSNR = r"""
### 2. Zero terminal SNR

Most schedules leave a little signal at the last step: $\bar\alpha_{T}>0$, so training never sees pure noise but
sampling starts from it. Rescaling $\sqrt{\bar\alpha_t}$ linearly so that $\sqrt{\bar\alpha_T}=0$ (arXiv:2305.08891,
Alg. 1) fixes that: $\mathrm{SNR}(T)=0$ (the slider's $t=T-1$). Then $\varepsilon$-prediction breaks at that last step,
because $\hat x_0 = (x_t-\sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}$ is $0/0$ there; $v$-prediction
(section 6) stays well defined. The app floors that one $\bar\alpha$ at $2^{-24}$ and warns you. diffusers does not do
the same everywhere: its DDPM and DDIM schedulers do not floor it (their $\hat x_0$ becomes $\pm\infty$ at that step),
while its DPM-Solver++, Euler and UniPC schedulers set $\bar\alpha_T = 2^{-24}$ when `rescale_betas_zero_snr` is on,
and none of them warns.
"""

LOSS = r"""
### 3. From the variational bound to the simple loss

Training maximises a lower bound on $\log p_\theta(x_0)$. Written as a loss, that is the same
as **minimising the negative bound** $L_\text{VLB} \ge -\log p_\theta(x_0)$ (DDPM Eq. 5):

$$L_\text{VLB} = \mathbb E_q\Big[\underbrace{D_\text{KL}\big(q(x_T\mid x_0)\,\|\,p(x_T)\big)}_{L_T}
+ \sum_{t>1} \underbrace{D_\text{KL}\big(q(x_{t-1}\mid x_t,x_0)\,\|\,p_\theta(x_{t-1}\mid x_t)\big)}_{L_{t-1}}
\ \underbrace{-\ \log p_\theta(x_0\mid x_1)}_{L_0}\Big].$$

The forward posterior is Gaussian and known in closed form (DDPM Eqs. 6–7):

$$q(x_{t-1}\mid x_t,x_0)=\mathcal N(\tilde\mu_t,\tilde\beta_t I),\quad
\tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,x_0 +
\frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t,\quad
\tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t .$$

With $p_\theta(x_{t-1}\mid x_t) = \mathcal N(\mu_\theta(x_t,t),\sigma_t^2 I)$ and a fixed $\sigma_t$, each KL term is a
squared distance between means: $L_{t-1} = \frac{1}{2\sigma_t^2}\,\|\tilde\mu_t-\mu_\theta\|^2 + C$.
Substituting $x_0 = (x_t-\sqrt{1-\bar\alpha_t}\,\varepsilon)/\sqrt{\bar\alpha_t}$ gives
$\tilde\mu_t = \frac{1}{\sqrt{\alpha_t}}\big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,\varepsilon\big)$, so we
choose the same form for the model,
$\mu_\theta = \frac{1}{\sqrt{\alpha_t}}\big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,\varepsilon_\theta(x_t,t)\big)$, and get (DDPM Eq. 12)

$$L_{t-1} = \frac{\beta_t^2}{2\sigma_t^2\,\alpha_t\,(1-\bar\alpha_t)}\;\mathbb E_{x_0,\varepsilon}\Big[\big\|\varepsilon-\varepsilon_\theta\big(\sqrt{\bar\alpha_t}\,x_0+\sqrt{1-\bar\alpha_t}\,\varepsilon,\ t\big)\big\|^2\Big] + C.$$

Dropping the weight in front and sampling $t$ uniformly gives the **simple loss** (DDPM Eq. 14):

$$L_\text{simple} = \mathbb E_{t,\,x_0,\,\varepsilon}\big[\|\varepsilon-\varepsilon_\theta(x_t,t)\|^2\big].$$

Dropping the weight down-weights the easy, low-noise steps. The trainer here goes further with Min-SNR-$\gamma$
weighting (arXiv:2303.09556, $\gamma=5$). The "loss by t bucket" chart in the Train tab shows how hard each noise level
is.
"""  # noqa: E501 (display equations, one per line: the tests quote them whole)

DDPM = r"""
### 4. DDPM sampling (ancestral)

Start from $x_T\sim\mathcal N(0,I)$ and repeatedly sample the learned reverse step (DDPM Alg. 2):

$$x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,\varepsilon_\theta(x_t,t)\Big) + \sigma_t z,\qquad z\sim\mathcal N(0,I),\quad \sigma_t^2 = \tilde\beta_t\ \text{(or } \beta_t).$$

Equivalently: predict $\hat x_0 = (x_t-\sqrt{1-\bar\alpha_t}\,\hat\varepsilon)/\sqrt{\bar\alpha_t}$ and sample the
posterior $q(x_{t-1}\mid x_t,\hat x_0)$. On a subset of steps ($t\to t'$) the same formulas hold with $\alpha_t$
replaced by $\bar\alpha_t/\bar\alpha_{t'}$. The Sampling tab shows $x_t$ and the predicted $\hat x_0$ at every step.
"""  # noqa: E501 (display equations, one per line: the tests quote them whole)

DDIM = r"""
### 5. DDIM and the η interpolation

DDIM keeps the same marginals $q(x_t\mid x_0)$ but uses a non-Markovian forward process, so the **same trained
network** can be sampled with any amount of randomness (DDIM Eq. 12):

$$x_{t-1} = \sqrt{\bar\alpha_{t-1}}\;\underbrace{\frac{x_t-\sqrt{1-\bar\alpha_t}\,\hat\varepsilon}{\sqrt{\bar\alpha_t}}}_{\text{predicted }x_0}
+ \underbrace{\sqrt{1-\bar\alpha_{t-1}-\sigma_t^2}\;\hat\varepsilon}_{\text{direction pointing to }x_t} +
\underbrace{\sigma_t z}_{\text{random noise}},$$

$$\sigma_t(\eta) = \eta\,\sqrt{\frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}}\;\sqrt{1-\frac{\bar\alpha_t}{\bar\alpha_{t-1}}}\qquad\text{(DDIM Eq. 16).}$$

- $\eta=0$: deterministic; the same $x_T$ always gives the same image, and few steps work well.
- $\eta=1$: $\sigma_t^2=\tilde\beta_t$, exactly DDPM on the full grid. With one seed, the DDPM and DDIM(η=1) panels
then match.

**Timestep spacing.** With $n$ of $T$ steps, *leading* spacing runs $t = k\lfloor T/n\rfloor$ (50 of 1000 starts at
$t=980$, not 999);
*trailing* starts at $t=T-1$; *linspace* rounds an even grid from $T-1$ to 0. The Sampling tab prints the list that
actually runs.
"""  # noqa: E501 (display equations, one per line: the tests quote them whole)

VPRED = r"""
### 6. v-prediction

Instead of $\varepsilon$ the network can predict the "velocity" (Salimans & Ho, arXiv:2202.00512):

$$v = \sqrt{\bar\alpha_t}\,\varepsilon-\sqrt{1-\bar\alpha_t}\,x_0,\qquad
\hat x_0 = \sqrt{\bar\alpha_t}\,x_t-\sqrt{1-\bar\alpha_t}\,\hat v,\qquad
\hat\varepsilon = \sqrt{1-\bar\alpha_t}\,x_t+\sqrt{\bar\alpha_t}\,\hat v .$$

Writing $\sqrt{\bar\alpha_t}=\cos\phi$, $\sqrt{1-\bar\alpha_t}=\sin\phi$, $x_t$ and $v$ are a rotation of
$(x_0,\varepsilon)$ by $\phi$. Since $x_0$ and $\varepsilon$ are independent,
$\mathrm{Var}[v] = \bar\alpha_t + (1-\bar\alpha_t)\,\mathrm{Var}[x_0]$: the target
has unit variance at every noise level **only for unit-variance data**. MNIST scaled to $[-1,1]$ is not: its
always-black border pixels have variance 0, so there the $v$ target shrinks from 1 at low noise to 0 at high noise.
Either way $\hat x_0$ stays finite at zero terminal SNR.
The Sampling tab's "ε vs v" button samples both shipped checkpoints from one seed.
"""

CFG = r"""
### 7. Classifier-free guidance

Train one network for both $p(x\mid c)$ and $p(x)$ by replacing the label $c$ with a null label $\varnothing$ 10 % of
the time. At sampling time, extrapolate from the unconditional towards the conditional prediction (arXiv:2207.12598):

$$\tilde\varepsilon_\theta(x_t,c) = \varepsilon_\theta(x_t,\varnothing) + w\,\big(\varepsilon_\theta(x_t,c)-\varepsilon_\theta(x_t,\varnothing)\big).$$

Here $w=0$ is unconditional, $w=1$ the plain conditional model, and $w>1$ pushes samples towards their class (the paper
writes $w_\text{paper} = w-1$). Since $\varepsilon_\theta \approx -\sqrt{1-\bar\alpha_t}\,\nabla_{x_t}\log p(x_t)$,
this samples approximately from $p(x_t)\,p(c\mid x_t)^{w}$: sharper, more typical digits, with less variety as $w$
grows.
"""  # noqa: E501 (display equations, one per line: the tests quote them whole)

SECTIONS: list[Section] = [
    Section("forward", "Forward process", FORWARD, "forward", "Show me: move t in the Forward tab", "t_mid"),
    Section("ztsnr", "Zero terminal SNR", ZTSNR, "forward", "Show me: zero terminal SNR at t = T−1", "ztsnr"),
    Section("loss", "Simple loss", LOSS, "train", "Show me: the Train tab's loss by t bucket",
            "loss_buckets"),
    Section("ddpm", "DDPM", DDPM, "sample", "Show me: DDPM vs DDIM side by side", "ddpm_panels"),
    Section("ddim", "DDIM and η", DDIM, "sample", "Show me: set η = 1 (DDIM becomes DDPM)", "eta_one"),
    Section("v", "v-prediction", VPRED, "sample", "Show me: the ε vs v comparison", "epsv_open"),
    Section("cfg", "Guidance", CFG, "sample", "Show me: guidance scale 4", "guidance_four"),
]

# --- Draw & edit (playground/editing/edits.py, tab "edit"): SDEdit, inpainting, DDIM inversion, interpolation --------

EDIT_SDEDIT = r"""
### SDEdit: the forward process as a dial between faithful and realistic

Take your drawing $x^{(g)}$, noise it to a chosen $t_0$ with the forward process, and run the reverse sampler from
there (SDEdit, arXiv:2108.01073, Alg. 1, here in its variance-preserving form):

$$x_{t_0} = \sqrt{\bar\alpha_{t_0}}\,x^{(g)} + \sqrt{1-\bar\alpha_{t_0}}\,\varepsilon,\qquad
x_{t_0}\ \xrightarrow{\ \text{DDIM or DDPM, } t_0\to 0\ }\ \hat x .$$

Noise erases fine detail first and coarse shape last, so $t_0$ decides how much of the input survives: with small
$t_0$ the result keeps your strokes (and their flaws); with large $t_0$ the model has more freedom, the digit looks
like MNIST and forgets the input. At $t_0=T$ only $\sqrt{\bar\alpha_T}\approx 0.006$ of it is left: a fresh sample.
Under each result the tab prints its **distance to the input** (faithfulness) and the MNIST classifier's **confidence**
(realism); the strip over $t_0 = 0.2T \dots 0.9T$, all from one seed, shows the trade-off.
The model only knows digits framed like MNIST, so a drawing is framed the same way first: the stroke's box scaled to
20×20 pixels, then centred by its centre of mass in 28×28.
"""

EDIT_INPAINT = r"""
### Inpainting by replacement, and RePaint's resampling

Keep the pixels you trust ($m=1$), regenerate the rest ($m=0$). After every reverse step, overwrite the known region
with the original, noised to the level the step landed on (RePaint, arXiv:2201.09865, Eq. 8):

$$x^{\text{known}}_{t-1} = \sqrt{\bar\alpha_{t-1}}\,x_0 + \sqrt{1-\bar\alpha_{t-1}}\,\varepsilon,\qquad
x^{\text{unknown}}_{t-1} \sim p_\theta(x_{t-1}\mid x_t),\qquad
x_{t-1} = m\odot x^{\text{known}}_{t-1} + (1-m)\odot x^{\text{unknown}}_{t-1}.$$

The last step lands on $t=0$, where the known part is $x_0$ itself: kept pixels come out **exactly** unchanged.
Replacement alone harmonises poorly: the generated region only sees the known one through freshly drawn noise.
RePaint therefore goes back up, $x_t\sim\mathcal N\big(\sqrt{1-\beta_t}\,x_{t-1},\ \beta_t I\big)$, and redoes the
steps: every $j$ steps it jumps $j$ steps back, $r$ times in all (about $r\times$ the model calls).
*Slip to avoid:* RePaint's Algorithm 1, line 5, as printed, scales $\varepsilon$ by the variance $1-\bar\alpha_t$;
Eq. 8, used here, has the standard deviation $\sqrt{1-\bar\alpha_t}$.
"""

EDIT_INVERT = r"""
### DDIM inversion: running the ODE backwards

With $\eta=0$, a DDIM step is deterministic (DDIM Eq. 12 with $\sigma_t=0$), a discretisation of an ODE (DDIM Eq. 14):

$$x_{t'} = \sqrt{\bar\alpha_{t'}}\;\frac{x_t-\sqrt{1-\bar\alpha_t}\,\hat\varepsilon}{\sqrt{\bar\alpha_t}} + \sqrt{1-\bar\alpha_{t'}}\;\hat\varepsilon .$$

Nothing in it requires $t'<t$: with $t'>t$ it **encodes**, from $x_0$ up to a latent $x_T$ (DDIM §5.4), and decoding
$x_T$ with the same steps should give $x_0$ back. The one approximation: the exact inverse of the step $t'\to t$ needs
$\hat\varepsilon(x_{t'},t')$, but $x_{t'}$ is what we are computing, so inversion uses $\hat\varepsilon(x_t,t')$. The
error shrinks with the step size. Measured with the shipped model (two held-out digits, RMSE of $[0,1]$ pixels): about
**0.007 at 100 + 100 steps**, 0.023 at 20, 0.037 at 10.
**Guidance breaks it.** With $w>1$ the guided $\tilde\varepsilon$ extrapolates between two predictions; the error at 10
steps grows from 0.037 ($w=1$) to 0.051 ($w=3$) and 0.074 ($w=5$). This is why image editors need tricks such as
null-text inversion. And the round trip working does not make $x_T$ ordinary noise: these latents have a standard
deviation near 0.4, not the 1 of $\mathcal N(0,I)$.
"""  # noqa: E501 (display equations, one per line: the tests quote them whole)

EDIT_INTERP = r"""
### Interpolating latents: why slerp

A sample of $\mathcal N(0,I_d)$ has norm close to $\sqrt d$ ($d=784$ here): latents live near a sphere. The straight
line between two of them passes through norms near $\sqrt{d/2}$ that the sampler never starts from. Spherical
interpolation keeps the norm:

$$z(\alpha) = \frac{\sin\big((1-\alpha)\theta\big)}{\sin\theta}\,z_a + \frac{\sin(\alpha\theta)}{\sin\theta}\,z_b,
\qquad
\cos\theta = \frac{\langle z_a, z_b\rangle}{\lVert z_a\rVert\,\lVert z_b\rVert}.$$

Invert two digits with DDIM, walk the arc, decode each point: $\alpha=0$ and $\alpha=1$ give back the two
reconstructions.
"""

SECTIONS += [
    Section("edit_sdedit", "SDEdit", EDIT_SDEDIT, "edit", "Show me: SDEdit at strength 0.5", "edit_sdedit"),
    Section("edit_inpaint", "Inpainting", EDIT_INPAINT, "edit", "Show me: regenerate the left half", "edit_inpaint"),
    Section("edit_invert", "DDIM inversion", EDIT_INVERT, "edit", "Show me: invert a digit and decode it",
            "edit_invert"),
    Section("edit_interp", "Latent interpolation", EDIT_INTERP, "edit", "Show me: interpolate two digits",
            "edit_interp"),
]

# --- 2-D lab (playground/toy2d.py, tab "lab2d"): the score, PF-ODE vs SDE, Langevin, memorization -----------------

LAB2D_SCORE = r"""
### The score: what the network really learns

The **score** of a density is the gradient of its log, $\nabla_x\log p(x)$: an arrow field pointing uphill in density.
Writing $p(x)=e^{-E(x)}/Z$ (an energy-based model), $\nabla_x\log p = -\nabla_x E$, and the unknown normaliser $Z$
drops out. Noising the N data points gives a mixture of Gaussians, so the score of the noised data is known **exactly**
(the 2-D lab computes it; $w_i$ is a softmax over the points):

$$q_t(x)=\frac1N\sum_{i}\mathcal N\big(x;\sqrt{\bar\alpha_t}\,x_0^{(i)},(1-\bar\alpha_t)I\big),\qquad
\nabla_x\log q_t(x)=\frac{\sqrt{\bar\alpha_t}\,\mathbb E[x_0\mid x_t=x]-x}{1-\bar\alpha_t},\qquad
\mathbb E[x_0\mid x_t=x]=\sum_i w_i(x)\,x_0^{(i)} .$$

Denoising score matching (Vincent 2011) shows that the simple loss trains exactly this: the best $\hat\varepsilon$ is
$\mathbb E[\varepsilon\mid x_t]$, and Tweedie's formula gives

$$\nabla_x\log q_t(x_t) = -\frac{\hat\varepsilon(x_t,t)}{\sqrt{1-\bar\alpha_t}} .$$

*Scale:* the score is $1/\sigma_t$ times $\hat\varepsilon$ (with $\sigma_t=\sqrt{1-\bar\alpha_t}$), so it grows without
bound as $t\to0$; the tab's arrows follow $\sigma_t^2\nabla\log q_t = \sqrt{\bar\alpha_t}\,\mathbb E[x_0\mid x_t]-x_t$,
the step from $x_t$ to the (scaled) ideal denoised point, which stays in the units of the data.
*Slip to avoid:* the score is $-\hat\varepsilon/\sqrt{1-\bar\alpha_t}$, not $-\hat\varepsilon/(1-\bar\alpha_t)$ and not
$-\hat\varepsilon$.
"""

LAB2D_SDE = r"""
### The reverse SDE and the probability-flow ODE

Score-SDE (Song et al. 2021, arXiv:2011.13456) writes the forward process as the SDE
$dx = -\tfrac12\beta(t)\,x\,dt + \sqrt{\beta(t)}\,dW$. It has a reverse-time SDE (Eq. 6) and an ODE with **the same
marginals** $q_t$ at every $t$, the probability flow (Eq. 13):

$$dx = \Big[-\tfrac12\beta(t)\,x-\beta(t)\,\nabla_x\log q_t(x)\Big]dt+\sqrt{\beta(t)}\,d\bar W,\qquad
\frac{dx}{dt} = -\tfrac12\beta(t)\Big[x+\nabla_x\log q_t(x)\Big].$$

In $\bar x = x/\sqrt{\bar\alpha_t}$ and $\tilde\sigma_t=\sqrt{(1-\bar\alpha_t)/\bar\alpha_t}$ the ODE is simply
$d\bar x/d\tilde\sigma = \hat\varepsilon(x,t)$: **DDIM with $\eta=0$ is its Euler method** (DDIM §4.3); the lab
integrates it with Heun's method (Karras et al. 2022). The SDE, by Euler–Maruyama, has DDPM's drift with more noise
($\tilde\sigma^2/\tilde\sigma_{\text{next}}^2$ times DDPM's variance per step); both agree as the steps shrink.
From one $x_T$ the ODE paths are smooth and deterministic: run it forward and back and you return to the start.
The SDE paths jitter, yet end on the same distribution.
"""

LAB2D_LANGEVIN = r"""
### Langevin dynamics and annealing (NCSN)

With only a score you can still sample: unadjusted Langevin dynamics
$x\leftarrow x+\tfrac{\alpha}{2}\nabla_x\log p(x)+\sqrt{\alpha}\,z$ converges to $p$ as $\alpha\to0$ (for finite
$\alpha$ a Gaussian's variance $v$ comes out as $v/(1-\alpha/4v)$). Far from the data the score of clean data is
useless, so Song & Ermon (2019, arXiv:1907.05600, Alg. 1) **anneal**: $L$ steps at each noise level $\sigma_i$ from
large to small, with

$$\alpha_i = \epsilon\cdot\frac{\sigma_i^2}{\sigma_L^2}
\qquad(\text{step size} \propto \sigma_i^2,\ \text{not } \sigma_i),$$

so every level takes steps of the same size relative to its own blur. In the lab the levels are the sampler's
timesteps and $\sigma_i=\tilde\sigma_t$; the last step jumps to $\mathbb E[x_0\mid x]$. Langevin needs the most score
evaluations of the six samplers for the same quality: compare the numbers table.
"""

LAB2D_MEMORIZE = r"""
### Memorization: the ideal denoiser only knows its training points

The exact score above belongs to the *empirical* distribution: N points, blurred. Followed down to $t=0$ it can only
end **on a training point**: a perfect denoiser reproduces its training set (the 2-D lab's histogram shows distances
near 0). A network that cannot represent N sharp spikes smooths between them and produces new points:
it generalizes, because it is *not* a perfect minimiser of the training loss.
"""

SECTIONS += [
    Section("lab2d_score", "The score", LAB2D_SCORE, "lab2d", "Show me: exact and learned score at t = 300",
            "lab2d_score"),
    Section("lab2d_sde", "PF-ODE vs SDE", LAB2D_SDE, "lab2d", "Show me: ODE, SDE, DDIM and DDPM paths", "lab2d_pfode"),
    Section("lab2d_langevin", "Langevin", LAB2D_LANGEVIN, "lab2d", "Show me: Langevin against the SDE and ODE",
            "lab2d_langevin"),
    Section("lab2d_memorize", "Memorization", LAB2D_MEMORIZE, "lab2d", "Show me: ideal denoiser vs trained network",
            "lab2d_memorize"),
]

# --- flow matching and rectified flow (issue #21). "Show me" targets: the tabs get them in the UI step. ---------

FLOW_OBJECTIVE = r"""
### Flow matching: regress the velocity of a straight line

Draw data $x_0$, noise $\varepsilon$ and a time $t\in[0,1]$, and put a point on the **straight line** between them:

$$x_t = (1-t)\,x_0 + t\,\varepsilon,\qquad u = \frac{dx_t}{dt} = \varepsilon - x_0 .$$

Train a network to predict that velocity (conditional flow matching, Lipman et al. 2022, arXiv:2210.02747):

$$\mathcal L = \mathbb E_{t,x_0,\varepsilon}\,\big\|u_\theta(x_t,t) - (\varepsilon - x_0)\big\|^2 .$$

The minimiser is the *marginal* velocity
$u^*(x,t)=\mathbb E[\varepsilon-x_0\mid x_t=x] = (x-\mathbb E[x_0\mid x_t=x])/t$, and integrating
$dx/dt = u^*$ from $t=1$ (noise) to $t=0$ carries the noise distribution onto the data. $t$ is drawn
uniformly, or logit-normally ($t=\mathrm{sigmoid}(n)$, $n\sim\mathcal N(0,1)$), which Stable Diffusion 3 found better.

*Direction of time.* This app uses Stable Diffusion 3's convention: $t=0$ is data, $t=1$ is noise, as for diffusion.
Lipman et al. and Liu et al. (rectified flow) run the other way, data at $t=1$; their $t$ is $1-t$ here, and their
velocity has the opposite sign.
"""

FLOW_PARAMS = r"""
### Four names for one denoiser: ε, x₀, v and u

On any Gaussian path $x_t=\alpha_t x_0+\sigma_t\varepsilon$ a network that knows two of
$\{x_t,\hat x_0,\hat\varepsilon\}$ knows them all. The four outputs differ only in what is regressed:

| output | target | from it |
|---|---|---|
| $\varepsilon$ | the noise | $\hat x_0 = (x_t-\sigma_t\hat\varepsilon)/\alpha_t$ |
| $x_0$ | the data | $\hat\varepsilon = (x_t-\alpha_t\hat x_0)/\sigma_t$ |
| $v$ | $\alpha_t\varepsilon-\sigma_t x_0$ (VP: $\alpha^2+\sigma^2=1$) | $\hat x_0=\alpha_t x_t-\sigma_t\hat v$ |
| $u$ | $\varepsilon-x_0$ | $\hat x_0=x_t-t\,\hat u,\ \hat\varepsilon=x_t+(1-t)\,\hat u$ (straight path) |

**v is the velocity on the circle.** Write the VP path as $x=\cos\phi\,x_0+\sin\phi\,\varepsilon$; then
$dx/d\phi = -\sin\phi\,x_0+\cos\phi\,\varepsilon = v$. **u is the velocity on the straight line**
$x_t=(1-t)x_0+t\varepsilon$. They are not the same vector: $u=\varepsilon-x_0$ does not depend on $t$ at all.

Any Gaussian path is a VP path after rescaling: $x_t/\sqrt{\alpha_t^2+\sigma_t^2}$ has
$\bar\alpha=\alpha_t^2/(\alpha_t^2+\sigma_t^2)$. So a flow model is an $(\hat x_0,\hat\varepsilon)$ predictor on a
VP-equivalent schedule, and DDPM, DDIM and DPM-Solver++ run on it unchanged. At pure noise ($t=1$,
$\bar\alpha=0$) $\varepsilon$-prediction's $\hat x_0$ is $0/0$; $u$ gives $\hat x_0 = x_t-\hat u$ without dividing.
"""

FLOW_DDIM_EULER = r"""
### DDIM is Euler's method on the flow ODE

Hold $\hat x_0,\hat\varepsilon$ fixed over one step. In the straight-path coordinates, DDIM ($\eta=0$) lands on

$$x_{t'} = (1-t')\,\hat x_0 + t'\,\hat\varepsilon
= x_t + (t'-t)\,(\hat\varepsilon-\hat x_0) = x_t + (t'-t)\,\hat u ,$$

which is one Euler step of $dx/dt=\hat u$ from $t$ to $t'$. The two samplers give the same images to floating-point
precision (tests/test_flow.py), on a flow model and, through the conversion, on an $\varepsilon$ model too.
Heun's method (EDM Algorithm 1) re-evaluates the velocity at the end of the step and averages: second order, at 2 NFE
per step (1 on the last step, onto $t=0$).
"""

FLOW_STRAIGHT = r"""
### Why straight paths need fewer steps, and what reflow buys

Euler's error per step grows with how much the velocity changes along the path. If every path were a straight line
travelled at constant speed, **one** Euler step would be exact. The marginal velocity is not straight: paths from
nearby noise points bend to reach different data points (they cannot cross). Two numbers measure this:
path length ÷ endpoint distance (1 for a straight path, whatever the time parameterisation), and Liu et al.'s
straightness $\int_0^1\mathbb E\,\|(x_1-x_0)-u(x_t,t)\|^2\,dt$ (0 for a straight path at constant speed).

**Reflow** (rectified flow, Liu et al. 2022, arXiv:2209.03003): run the trained flow from noise $x_1$ to its endpoint
$x_0=\mathrm{ODE}(x_1)$, and train again on the straight lines between these *pairs*. The new paths follow the pairing
the old flow already found, so they cross less and straighten; each round lowers the straightness and the cost of
few-step sampling, and the 1-step samples approach the many-step ones. The price: the pairs cost one ODE solve per
training point, and errors of the first flow are inherited (the endpoints are the old model's samples, not the data).

Measured on MNIST (`checkpoints/mnist_flow_reflow.pt`): one reflow of the shipped flow model on 3,000 pairs took
its **one** Euler step from a blurred class mean (Fréchet 14.6× real-vs-real) to sharp digits (1.05×, 98 %
confident), in 704 s of CPU; in 2-D one round takes one Euler step within 0.9× of data-vs-data on every dataset.
"""

SECTIONS += [
    Section("flow_objective", "Flow matching", FLOW_OBJECTIVE, "train", "Show me: the flow-matching objective",
            "train_flow"),
    Section("flow_params", "ε, x₀, v, u", FLOW_PARAMS, "sample", "Show me: an ε and a v model side by side",
            "epsv_open"),
    Section("flow_ddim_euler", "DDIM = Euler", FLOW_DDIM_EULER, "sample",
            "Show me: deterministic DDIM, η = 0 (Euler on the ODE)", "flow_ddim"),
    Section("flow_straight", "Straight paths and reflow", FLOW_STRAIGHT, "lab2d",
            "Show me: flow matching in the 2-D lab", "lab2d_flow"),
]

LIK_BPD = r"""
### Bits per dimension

A model's likelihood of an image is a tiny number, so papers report $-\log_2 p(x)$ per pixel:

$$\text{bits/dim} = \frac{-\ln p(x)}{D\,\ln 2},\qquad D = 784 \text{ for MNIST}.$$

Pixels take 256 values, so 8 bits/dim is a uniform guess; DDPM reached 3.70–3.75 on CIFAR-10, improved DDPM 2.94,
VDM 2.65. A diffusion model gives an **upper bound** on $-\log p$ (the variational bound, below) or, through the
probability-flow ODE, an exact density. Training *minimises* the bound, which is the same as maximising the ELBO.
The same number on the training digits and on held-out digits measures memorization: a model that knows its
training set scores them better.
"""

LIK_TERMS = r"""
### The bound's terms

The negative ELBO splits into one term per step (Ho et al. 2020, Eq. 5; papers' 1-based $t$):

$$L = \underbrace{D_{KL}\big(q(x_T\mid x_0)\,\|\,\mathcal N(0,I)\big)}_{L_T}
+ \sum_{t=2}^{T}\underbrace{D_{KL}\big(q(x_{t-1}\mid x_t,x_0)\,\|\,p_\theta(x_{t-1}\mid x_t)\big)}_{L_{t-1}}
\underbrace{-\log p_\theta(x_0\mid x_1)}_{L_0}.$$

Both distributions of $L_{t-1}$ are Gaussians with the posterior mean $\tilde\mu_t$; the model's uses $\hat x_0$, so
$\tilde\mu_t(x_0)-\tilde\mu_t(\hat x_0) = \frac{\sqrt{\bar\alpha_{t-1}}\beta_t}{1-\bar\alpha_t}(x_0-\hat x_0)$ and
with $\sigma_t^2=\tilde\beta_t$

$$L_{t-1} = \tfrac12\big(\mathrm{SNR}(t-1)-\mathrm{SNR}(t)\big)\,\|x_0-\hat x_0\|^2 \quad(\text{VDM Eq. 13}).$$

The reverse variance is a choice: $\sigma_t^2=\beta_t$ or $\tilde\beta_t$ (DDPM §3.2: the first is optimal for
$x_0\sim\mathcal N(0,I)$, the second for a single point). The tab shows each term's share: almost all of the bound
sits at the smallest $t$, where $L_{\text{simple}}$, which weights every $t$ alike, puts little of its attention.
"""

LIK_DECODER = r"""
### The discretized decoder

Pixels are discrete, so $L_0$ must be a probability, not a density. Ho et al. (§3.3) integrate the Gaussian
$\mathcal N(\hat x_0, \sigma_1^2)$ over each pixel's bin: the levels $-1 + 2k/255$ get bins of width $2/255$,

$$p(x_0\mid x_1) = \prod_i \int_{\delta_-(x_0^i)}^{\delta_+(x_0^i)} \mathcal N(x;\hat x_0^i,\sigma_1^2)\,dx,
\qquad \delta_\pm(x) = \begin{cases}\pm\infty & x=\pm1\\ x\pm\tfrac1{255}&\text{else}\end{cases}$$

with **open-ended edge bins**, so the 256 probabilities sum to exactly 1. On MNIST most pixels are black ($-1$), and
the open edge bin gives them probability close to 1 once $\hat x_0$ is near $-1$. The decoder's variance is $\beta_1$
under $\sigma_t^2=\beta_t$ and $\tilde\beta_2$ under $\tilde\beta_t$ ($\tilde\beta_1=0$, so improved DDPM clips it).
"""

LIK_ODE = r"""
### The ODE likelihood

The probability-flow ODE (Song et al. 2021) moves data to noise deterministically, so the change of variables gives
an exact density. With log-SNR $\lambda$ as time and $x=a_\lambda\hat x_0+\sigma_\lambda\hat\varepsilon$,

$$\frac{dx}{d\lambda} = f = a'_\lambda\,\hat x_0 + \sigma'_\lambda\,\hat\varepsilon,\qquad
\log p_0(x_0) = \log p_T(x_T)
+ \int_{\lambda_{\max}}^{\lambda_{\min}} \operatorname{tr}\frac{\partial f}{\partial x}\,d\lambda .$$

The trace of a 784×784 Jacobian is estimated by **Hutchinson's trick**, $\operatorname{tr}J = \mathbb E[z^\top J z]$
for Rademacher or Gaussian $z$ (one backward pass); in 2-D it is exact. The density is continuous, so the digits are
**uniformly dequantized** ($x_0+u$, $u\sim U(-\tfrac1{255},\tfrac1{255})$, the decoder's bins) and
$\text{bits/dim} = \frac{-\ln p(x_0+u)}{D\ln2} + \log_2 127.5$. The same code takes any model that gives
$(\hat x_0,\hat\varepsilon)$ on a Gaussian path: a flow-matching path only changes $a_\lambda$ and $\sigma_\lambda$.
"""

LIK_WEIGHTING = r"""
### Weighting: a choice of which noise levels matter

Kingma & Gao (2023) write every objective as
$\tfrac12\int w(\lambda)\,\mathbb E\|\varepsilon-\hat\varepsilon_\lambda\|^2 d\lambda$. Let $p(\lambda)$ be the density
of $\lambda$ under the objective's $t$-sampling (for $t$ uniform on a schedule, $p(\lambda)=1/(T|d\lambda/dt|)$).
The target errors convert as $\|\delta x_0\|^2=e^{-\lambda}\|\delta\varepsilon\|^2$,
$\|\delta v\|^2=(1+e^{-\lambda})\|\delta\varepsilon\|^2$ and
$\|\delta u\|^2=(1+e^{-\lambda/2})^2\|\delta\varepsilon\|^2$:

| objective | $w(\lambda)$ |
|---|---|
| ELBO | $1$ |
| $\varepsilon$-prediction | $p(\lambda)$ |
| $x_0$-prediction | $p(\lambda)\,e^{-\lambda}$ |
| $v$-prediction | $p(\lambda)\,(1+e^{-\lambda})$ |
| min-SNR-$\gamma$ | $p(\lambda)\,\min(1,\gamma e^{-\lambda})$ |
| flow matching, $t\sim U(0,1)$ | $\tfrac12 e^{-\lambda/2}$ |
| flow matching, logit-normal $t$ | $\tfrac12\,\mathcal N(-\lambda/2; m, s^2)\,(1+e^{-\lambda/2})^2$ |
| EDM | $\mathcal N(\lambda; -2P_{\text{mean}}, 4P_{\text{std}}^2)\,(e^{-\lambda}+\sigma_d^2)/\sigma_d^2$ |

On the cosine schedule $p(\lambda)\propto\operatorname{sech}(\lambda/2)$, so $v$-prediction is
$\propto e^{-\lambda/2}$, the same as flow matching with uniform $t$. Only $w=1$ is the likelihood; every other
choice trades likelihood for sample quality by caring less about the least noisy levels.
*Slips to avoid:* min-SNR clamps $\mathrm{SNR}$ from **above** ($\min$, not $\max$), and its $\varepsilon$-form
weight is $\min(\mathrm{SNR},\gamma)/\mathrm{SNR}$, not $\mathrm{SNR}/\min(\mathrm{SNR},\gamma)$.
"""

SECTIONS += [
    Section("lik_bpd", "Bits per dimension", LIK_BPD, "likelihood", "Show me: bits/dim, train vs held-out",
            "lik_bpd"),
    Section("lik_terms", "The bound's terms", LIK_TERMS, "likelihood", "Show me: every term of the bound",
            "lik_terms"),
    Section("lik_decoder", "The discretized decoder", LIK_DECODER, "likelihood", "Show me: L_0 beside the KL terms",
            "lik_decoder"),
    Section("lik_ode", "The ODE likelihood", LIK_ODE, "likelihood", "Show me: the ODE likelihood", "lik_ode"),
    Section("lik_weighting", "Weighting", LIK_WEIGHTING, "likelihood",
            "Show me: the weightings on the cosine schedule", "lik_weighting"),
]

# --- Fewer steps (tab "solvers"): in playground/theory_steps.py ----------------------------------------------------

SECTIONS += [Section(*row) for row in FEWER_STEPS]
