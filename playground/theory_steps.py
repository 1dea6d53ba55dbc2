"""Theory text of the "Fewer steps" tab (solvers, orders, time grids, failures; distillation), as rows that
playground.theory turns into its Sections: (key, title, body, tab, button, control).
Papers: DPM-Solver++ arXiv:2211.01095, EDM arXiv:2206.00364, progressive distillation arXiv:2202.00512,
guided distillation arXiv:2210.03142, consistency models arXiv:2303.01469, LCM arXiv:2310.04378.
"""
from __future__ import annotations

FEWER_STEPS: list[tuple] = []

# --- Fewer steps (playground/solvers.py, solver_lab.py, tab "solvers"): solvers, orders, grids, failures -------------

SOLVERS_ODE = r"""
### Sampling is solving an ODE

DDIM with $\eta=0$ follows the probability-flow ODE. In $\bar x = x/\alpha_t$ and $\tilde\sigma_t=\sigma_t/\alpha_t$
(with $\alpha_t=\sqrt{\bar\alpha_t}$, $\sigma_t=\sqrt{1-\bar\alpha_t}$) it reads
$$\frac{d\bar x}{d\tilde\sigma} = \frac{\bar x - \hat x_0(x,t)}{\tilde\sigma} = \hat\varepsilon(x,t),$$
so a sampler is a numerical method for it: DDIM is Euler's method, EDM's sampler (Karras et al. 2022, Alg. 1) is
Heun's, DPM-Solver++ integrates it exactly in $\lambda=\log(\alpha/\sigma)$ except for $\hat x_0$, which it
extrapolates from earlier steps. DDPM adds fresh noise: it solves the reverse SDE, not this ODE, so its endpoint
never converges to the ODE's. **NFE** counts network evaluations, not steps: a Heun step costs two, its last one
(onto $\tilde\sigma=0$) one, so $n$ steps cost $2n-1$.
"""

SOLVERS_ORDER = r"""
### Local and global error; a solver's order

One step of size $h$ makes a **local** error $O(h^{p+1})$; over the $1/h$ steps to the end they add up to a
**global** error $O(h^p)$: $p$ is the order. With NFE $\propto 1/h$, $\log(\text{error}) \approx
-p\,\log(\text{NFE}) + c$: the order is the slope on log-log axes (1 for DDIM, 2 for Heun and DPM-Solver++(2M),
3 for (3M)), visible only once the steps are small enough (the asymptotic range) and before rounding error sets a
floor. The one-Gaussian model has an exact endpoint in closed form, so its slopes are measured exactly.
"""

SOLVERS_LOGSNR = r"""
### Why log-SNR is the natural clock

Between two noise levels the ODE's linear part can be integrated exactly (DPM-Solver, Lu et al. 2022): with
$h=\lambda_{\text{next}}-\lambda$, $x_{\text{next}} = \frac{\sigma_{\text{next}}}{\sigma}x - \alpha_{\text{next}}
(e^{-h}-1)\,\hat x_0$. What is left to approximate is $\hat x_0$ as a function of $\lambda$, which changes at a
similar rate everywhere on that axis, so steps of equal $h$ make similar errors. Uniform steps in $t$ crowd the
log-SNR axis where the schedule is flat and leave gaps where it is steep: the tick plot shows where each grid puts
its steps. Any schedule (and a flow path $x_t=(1-t)x_0+t\,\varepsilon$) is one curve $\lambda(t)$, so a solver in
$\lambda$ runs on all of them.
"""

SOLVERS_KARRAS = r"""
### Karras' ρ

EDM (Karras et al. 2022, Eq. 5) spaces the noise levels as
$$\tilde\sigma_i = \Big(\tilde\sigma_{\max}^{1/\rho} + \tfrac{i}{n-1}\big(\tilde\sigma_{\min}^{1/\rho}
-\tilde\sigma_{\max}^{1/\rho}\big)\Big)^{\rho},\quad i=0,\dots,n-1,\qquad \tilde\sigma_n = 0 .$$
$\rho=1$ is uniform in $\tilde\sigma$; $\rho\to\infty$ is uniform in $\log\tilde\sigma$ (= uniform in log-SNR);
$\rho=7$ puts more steps at low noise, where the fine detail is decided. Lowering $\tilde\sigma_{\max}$ below the
schedule's starts the solve late: pure noise is read as a partly clean image, and the error cannot fall below that.
"""

SOLVERS_FAILURES = r"""
### What goes wrong with few steps

- **One step:** from pure noise the best single guess is $\hat x_0=\mathbb E[x_0\mid x_T]$, the blurred average of
  every digit the noise could become.
- **Leading spacing at 1–3 steps:** 'leading' puts $n$ steps at $t=k\lfloor T/n\rfloor$, so 1 step runs at $t=0$
  and pure noise is treated as a clean digit ('trailing' starts at $T-1$).
- **Karras' grid at 2 steps:** with $n=2$ the grid is $\tilde\sigma_{\max}$ then $\tilde\sigma_{\min}$: one jump
  from pure noise to almost clean, no better than one step. $\rho$ only helps once there are points in between.
- **Schedule mismatch:** the network's $t$ means the noise level of the schedule it was trained on; sampling with
  another schedule's $\bar\alpha_t$ at that $t$ gives wrong $\hat x_0$ at every step.
- **Guidance too high:** $\tilde\varepsilon=\varepsilon_u+w(\varepsilon_c-\varepsilon_u)$ extrapolates outside
  the training data. The shipped model still draws confident digits at $w=8$ (thicker strokes); at $w=200$ most
  are no longer the digit asked for.
- **ε-prediction at zero terminal SNR, no $\hat x_0$ clipping:** at $\bar\alpha_{T-1}=0$,
  $\hat x_0=(x-\sigma\hat\varepsilon)/\sqrt{\bar\alpha}$ is $0/0$; read as $\div 2^{-12}$ it reaches hundreds, and
  a 2-step solve cannot recover. Clipping $\hat x_0$ to $[-1,1]$ hides it; v-prediction stays finite.
- **Not failures on this model:** DDPM with 5 steps (its last step returns $\hat x_0$ from $t\approx200$, a clean
  digit) and $w=8$ both give digits the classifier calls confidently, so the gallery does not show them.
- **First order, 2 steps, in 2-D:** from pure noise $\hat x_0=\mathbb E[x_0\mid x_T]$ is the mean of all modes,
  and an Euler step lands between them.
"""

FEWER_STEPS += [
    ("solvers_ode", "Sampling as an ODE", SOLVERS_ODE, "solvers", "Show me: errors against the exact ODE",
            "solvers_ode"),
    ("solvers_order", "A solver's order", SOLVERS_ORDER, "solvers", "Show me: the slopes of orders 1 and 2",
            "solvers_order"),
    ("solvers_logsnr", "Log-SNR clock", SOLVERS_LOGSNR, "solvers", "Show me: a grid uniform in log-SNR",
            "solvers_logsnr"),
    ("solvers_karras", "Karras' ρ", SOLVERS_KARRAS, "solvers", "Show me: Karras' grid, ρ = 7",
            "solvers_karras"),
    ("solvers_failures", "Few-step failures", SOLVERS_FAILURES, "solvers", "Show me: one step",
            "solvers_failures"),
]

DISTILL_PROGRESSIVE = r"""
### Progressive distillation: one student step for two teacher steps

Deterministic DDIM is a map: from $z_t$ it lands on $z_{t''}$ after two teacher steps $t\to t'\to t''$. A student
initialised as the teacher learns to land there in **one** step (Salimans & Ho 2022, Alg. 2). One DDIM step with
clean estimate $\tilde x$ gives $z_{t''}=\alpha_{t''}\tilde x+\tfrac{\sigma_{t''}}{\sigma_t}(z_t-\alpha_t\tilde x)$, so
the target is
$$\tilde x=\frac{z_{t''}-\frac{\sigma_{t''}}{\sigma_t}z_t}{\alpha_{t''}-\frac{\sigma_{t''}}{\sigma_t}\alpha_t},\qquad
\mathcal L=\max\!\big(\mathrm{SNR}(t),1\big)\,\lVert\hat x_\theta(z_t)-\tilde x\rVert^2 .$$
Each round halves the steps and the student becomes the next teacher: 16 → 8 → 4 → 2 → 1. The student is not
asked to denoise better than the teacher; it is asked to take the teacher's *path* in bigger jumps, which is
learnable because the teacher's ODE is deterministic. The student must predict $v$ or $x_0$, not $\varepsilon$: a
one-step ε student divides its error by $\alpha_{T-1}\approx 0$. What it can lose: the teacher's few-step paths
already average over modes, and each round copies the previous student's errors, so sharpness fades round by round.
"""

DISTILL_ODE = r"""
### The teacher's ODE: what a student can copy

A diffusion model defines a deterministic map from noise to data, the probability-flow ODE
$\frac{dx}{dt}=f(t)x-\tfrac12 g(t)^2\nabla_x\log p_t(x)$, whose exact solution DDIM with $\eta=0$ approximates
(DDIM is Euler's method on it, in the variables $x/\alpha$ and $\sigma/\alpha$). Because the map
$x_T\mapsto x_0$ is a *function*, a network can learn it directly: that is all a few-step student does. With CFG the
teacher's velocity is the guided one, $\hat v=v_\varnothing+w(v_c-v_\varnothing)$, and the student learns the guided
map, so it samples with one plain pass a step (Meng et al. 2023). The shipped MNIST student has $w=1.5$ built in.
"""

DISTILL_MATCHING = r"""
### What each distillation matches

- **Progressive** (Salimans & Ho 2022): one student step $=$ two teacher DDIM steps, on the student's grid;
  $\log_2 N$ rounds from $N$ steps to one. Each round's errors are copied into the next.
- **Consistency** (Song et al. 2023): $f_\theta(x_t,t)=f_{\theta^-}(\hat x_{t'},t')$ for neighbouring $t'<t$
  on one teacher ODE path ($\hat x_{t'}$ one ODE step from $x_t$, $\theta^-$ an EMA copy), with
  $f_\theta(x,\epsilon)=x$: every point of a path maps to the path's start. One model serves 1, 2, 4 … steps
  (a step re-noises and maps again).
- **Reflow** (Liu et al. 2022, the flow-matching section): retrain flow matching on the teacher's own
  (noise, image) pairs, so the paths straighten and one Euler step goes far; then distil.

Measured in 2-D (the Fewer steps tab's distillation section runs all three from one $x_T$): at the same number
of optimiser steps, the consistency student's one step is 0.70–0.83× the progressive student's energy distance
on every dataset, and its best is two steps; one Euler step after one reflow is better still, but from a model
trained for it from scratch. On MNIST the shipped student is progressive (1 step: Fréchet 1.31× real-vs-real
after 486 s); one reflow of the flow model (704 s) gives one Euler step at 1.05×. A consistency student of the
MNIST teacher was not trained here.
"""

DISTILL_ONE_STEP = r"""
### Why one step loses sharpness or diversity

From pure noise, one step of any *unchanged* teacher returns $\hat x_0=\mathbb E[x_0\mid x_T]$: with nearly no
signal in $x_T$ that is the mean of all digits of the class, a blurred class mean the classifier still reads
(the comparison counts its grey pixels: real digits have about 5 %). A student regresses the teacher's *end
point* of the path from $x_T$, a sharp digit, not the mean; what it gives up is variety: a network of the same
size must put the whole path into one evaluation, and where it cannot, it drifts towards typical digits
(adversarial distillation adds a GAN loss, which buys sharpness at the price of variety). On MNIST, the
1-step student's Fréchet distance is 1.3× real against 10.9× for the teacher's one step; 4 student steps are
best (1.11×).
"""

DISTILL_LCM = r"""
### LCM: the same idea in latent space

Stable Diffusion denoises a VAE's $64\times64\times4$ latent $z$, not pixels. A latent consistency model (Luo et
al. 2023) applies consistency distillation to that latent ODE with guidance built in (the guided teacher, as
here) and a skipping step $k$ between $t$ and $t'$ (several teacher steps at once, for speed): 2 to 4 steps
instead of 25 to 50, then one VAE decode. LCM-LoRA trains only low-rank adapters, so one small file turns
any fine-tuned model of the same base into a few-step model. Nothing in the method needs the pixels: the
student copies an ODE's map, wherever the ODE lives. The round here (4 teacher steps into 2) is the same
training signal on $28\times28$ pixels.
"""

FEWER_STEPS += [
    ("distill_progressive", "Progressive distillation", DISTILL_PROGRESSIVE, "solvers",
            "Show me: distil a 2-D teacher down to one step", "distill_progressive"),
    ("distill_ode", "The teacher's ODE", DISTILL_ODE, "solvers",
            "Show me: the MNIST student and its teacher", "distill_mnist_compare"),
    ("distill_matching", "What each distillation matches", DISTILL_MATCHING, "solvers",
            "Show me: a round of progressive distillation on MNIST", "distill_mnist_round"),
    ("distill_one_step", "One step: sharpness or diversity", DISTILL_ONE_STEP, "solvers",
            "Show me: one step, student against teacher", "distill_mnist_one_step"),
    ("distill_lcm", "LCM: distillation in latent space", DISTILL_LCM, "solvers",
            "Show me: the same training signal, on pixels", "distill_mnist_lcm"),
]
