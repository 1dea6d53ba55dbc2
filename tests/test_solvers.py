"""The solver lab's core: Heun and DPM-Solver++(3M) step for step against diffusers, orders on the one Gaussian
(exact endpoint in closed form), the grids, the NFE count, and DDIM = Heun's Euler step."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from playground import solver_lab as L
from playground import solvers as S
from playground.schedules import make_schedule

diffusers = pytest.importorskip("diffusers")


def toy_model(x, t):
    """A smooth, deterministic ε-model that depends on x and t (float or long t)."""
    tf = t.double().reshape(-1, *([1] * (x.ndim - 1)))
    return (0.6 * torch.tanh(x.double()) + 0.05 * torch.cos(tf / 150.0) * x.double()).to(x.dtype)


def _x_T(shape=(3, 1, 4, 4)):
    return torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _grid_from(t, sigmas_tilde, kind="diffusers"):
    """A Grid from diffusers' timesteps and VE sigmas: α = 1/√(σ̃² + 1), σ = σ̃·α; the clean end last."""
    alphas = [1 / math.sqrt(sg * sg + 1) for sg in sigmas_tilde]
    return S.Grid(kind, (*[float(v) for v in t], -1.0), (*alphas, 1.0),
                  (*[sg * a for sg, a in zip(sigmas_tilde, alphas)], 0.0))


@pytest.mark.parametrize("n", [4, 10, 20])
def test_heun_matches_diffusers_step_for_step(n):
    sch = diffusers.HeunDiscreteScheduler(num_train_timesteps=1000, beta_schedule="linear",
                                          timestep_spacing="trailing")
    sch.set_timesteps(n)
    sig = sch.sigmas.double().tolist()  # σ0, σ1, σ1, …, σ_{n−1}, σ_{n−1}, 0
    ts = sch.timesteps.double().tolist()  # t0, t1, t1, …
    grid = _grid_from([ts[0], *ts[1::2]], sig[0::2])
    assert grid.n_steps == n
    xb = _x_T() * sch.init_noise_sigma
    x_ours = list(S.solve("heun", toy_model, grid, xb * grid.alpha[0], prediction_type="eps"))
    theirs, nfe = [], 0
    for k, t in enumerate(sch.timesteps):
        inp = sch.scale_model_input(xb, t)
        out = toy_model(inp, t.reshape(1))
        nfe += 1
        xb = sch.step(out, t, xb).prev_sample
        if not sch.state_in_first_order or k == len(sch.timesteps) - 1:
            continue
        theirs.append(xb)
    theirs.append(xb)  # after the final Euler step
    # their states are x̄ after each complete step (the correction done): compare x = α·x̄
    complete = [theirs[i] for i in range(len(theirs))]
    assert nfe == S.solver_nfe("heun", n) == 2 * n - 1
    assert len(x_ours) == n
    for i, (a, b) in enumerate(zip(x_ours, complete)):
        torch.testing.assert_close(a, b * grid.alpha[i + 1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n", [5, 12, 25])
def test_dpmpp_3m_matches_diffusers_step_for_step(n):
    sch = diffusers.DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_schedule="linear", solver_order=3,
                                                algorithm_type="dpmsolver++", timestep_spacing="trailing",
                                                final_sigmas_type="zero", lower_order_final=True)
    sch.set_timesteps(n)
    s = make_schedule("linear", 1000)
    ts = [int(t) for t in sch.timesteps]
    grid = S._points("diffusers", s, ts)
    x = _x_T().float()
    ours = list(S.solve("dpmpp_3m", toy_model, grid, x.double(), prediction_type="eps"))
    for i, t in enumerate(sch.timesteps):
        x = sch.step(toy_model(x, t.reshape(1)), t, x).prev_sample
        torch.testing.assert_close(ours[i].float(), x, rtol=2e-4, atol=2e-4)


def test_heun_first_half_is_ddim_and_one_step_is_x0():
    """Heun's Euler step in (x̄, σ̃) is DDIM's step (DDIM §4.3): with one step both land on x̂_0; and the
    correction-free Heun (n = 1) equals DDIM, DPM-Solver++(2M) and (3M)."""
    s = make_schedule("linear", 1000)
    x = _x_T()
    g = S.make_grid(s, 1, "trailing")
    outs = [list(S.solve(k, toy_model, g, x))[-1] for k in ("ddim", "heun", "dpmpp_2m", "dpmpp_3m")]
    for o in outs[1:]:
        torch.testing.assert_close(o.double(), outs[0].double(), rtol=1e-5, atol=1e-5)


def test_grids_descend_and_nfe_is_honest():
    s = make_schedule("linear", 1000)
    lo, hi = S.sigma_tilde_range(s)
    for kind in S.GRIDS:
        for n in (1, 2, 7, 64):
            g = S.make_grid(s, n, kind)
            assert g.n_steps == n and g.t[-1] == -1.0 and g.sigma[-1] == 0.0
            assert all(a > b for a, b in zip(g.t, g.t[1:])), (kind, n, g.t)
    k = S.make_grid(s, 10, "karras", rho=7.0)
    st = [sg / a for sg, a in zip(k.sigma[:-1], k.alpha[:-1])]
    assert st[0] == pytest.approx(hi, rel=1e-3) and st[-1] == pytest.approx(lo, rel=1e-3)
    root = np.array(st) ** (1 / 7)  # uniform in σ̃^{1/ρ}
    assert np.allclose(np.diff(root), np.diff(root)[0], rtol=1e-3)
    ls = S.make_grid(s, 9, "logsnr").log_snr
    assert np.allclose(np.diff(ls), np.diff(ls)[0], rtol=1e-2)
    assert [S.solver_nfe(k, S.steps_for_nfe(k, 4)) for k in ("ddim", "heun")] == [4, 3]
    with pytest.raises(ValueError, match="σ_min and σ_max"):
        S.make_grid(s, 5, "karras", sigma_max=hi * 2)
    with pytest.raises(ValueError, match="unknown solver"):
        S.normalize_solver("rk45")


def test_measured_orders_on_the_gaussian():
    """Orders within 0.3 of theory (1, 2, 2) on the log-SNR grid, against the closed-form endpoint."""
    p = L.toy_problem("gaussian", n_particles=400)
    curves = {c.solver: c for c in L.error_curves(p, ["ddim", "heun", "dpmpp_2m", "ddpm"], L.GridSpec("logsnr"),
                                                  nfes=(8, 16, 32, 64, 128))}
    assert abs(curves["ddim"].order - 1) < 0.3
    assert abs(curves["heun"].order - 2) < 0.3
    assert abs(curves["dpmpp_2m"].order - 2) < 0.3
    assert curves["ddpm"].order is None and min(curves["ddpm"].err) > 0.5  # DDPM does not solve this ODE
    assert curves["heun"].err[-1] < curves["ddim"].err[-1] / 5


def test_gaussian_endpoint_is_exact():
    """The closed form equals a very fine 3M solve to t = 0 then x̂_0, up to the last jump's O(σ̃_min²)."""
    p = L.toy_problem("gaussian", n_particles=50)
    fine = L.fine_reference(p.model_fn, p.schedule, p.x_T, "x0", steps=1000)
    assert float((fine - p.ref).norm(dim=1).max()) < 1e-3


def test_curves_stream_every_point_and_share_the_first_call():
    """error_curves yields after every NFE point (done only at the last), and the network call at x_T is made once
    for all solvers and NFE values: the shared x_T gives the same endpoints as fresh runs."""
    p = L.toy_problem("moons", n_points=200, n_particles=50)
    calls = []

    def counted(x, t):
        calls.append(x is p.x_T)
        return p.model_fn(x, t)

    q = dataclasses.replace(p, model_fn=counted)
    states = [(c.solver, len(c.nfe), c.done) for c in L.error_curves(q, ["ddim", "heun"], L.GridSpec("logsnr"),
                                                                      nfes=(1, 2, 4))]
    assert states == [("ddim", 1, False), ("ddim", 2, False), ("ddim", 3, True), ("heun", 1, False),
                      ("heun", 2, True)]  # Heun: budgets 1 and 2 buy the same 1 step
    assert sum(calls) == 1 and len(calls) == (1 + 2 + 4) + (1 + 3) - 4
    for n in (1, 4):
        *_, fresh = S.solve("ddim", p.model_fn, S.make_grid(p.schedule, n, "logsnr"), p.x_T.clone(),
                            prediction_type="x0")
        got = [c for c in L.error_curves(p, ["ddim"], L.GridSpec("logsnr"), nfes=(n,))][-1].err[0]
        assert got == pytest.approx(L._rms(fresh, p.ref, False), rel=1e-6)


def test_a_solver_named_twice_fills_one_curve():
    p = L.toy_problem("gaussian", n_particles=200)
    seen = [(c.solver, len(c.nfe), c.done) for c in L.error_curves(p, ["ddim", "heun", "DDIM"], L.GridSpec("logsnr"),
                                                                    nfes=(1, 4))]
    assert seen == [("ddim", 1, False), ("ddim", 2, True), ("heun", 1, False), ("heun", 2, True)]


def test_2d_reference_is_far_finer_than_the_finest_solve():
    """The 2-D reference (REF_STEPS of 3M) moves far less when its steps double than the best solver's error at
    NFE 64, so the curves measure the solvers, not the reference."""
    p = L.toy_problem("moons", n_points=300, n_particles=100)
    finer = L.fine_reference(p.model_fn, p.schedule, p.x_T, "x0", steps=2 * L.REF_STEPS)
    best = min(c.err[-1] for c in L.error_curves(p, ["dpmpp_2m", "dpmpp_3m"], L.GridSpec("logsnr"), nfes=(64,)))
    assert L._rms(p.ref, finer, False) < best / 5


def test_far_field_series_is_the_exact_denoiser():
    """The ideal denoiser's Taylor series (low SNR) equals the softmax over all data points to float64 rounding,
    takes over exactly where R ≤ FAR_R, and leaves the rest (and mixed t) to the softmax."""
    from playground.toy2d import exact_denoiser, make_dataset, start_noise
    s = make_schedule("linear", 1000)
    data = make_dataset("gaussians8", 500, 1)
    fast, exact = L.ideal_denoiser(data, s), exact_denoiser(data, s).fn
    x = start_noise(300, 2).double() * 1.5
    used = []
    for t in (999, 900, 700, 500, 300, 150, 50, 0):
        tt = torch.full((300,), float(t))
        before = fast.far_calls[0]
        torch.testing.assert_close(fast(x, tt), exact(x, tt), rtol=0, atol=1e-12)
        used.append(fast.far_calls[0] > before)
    assert used[:3] == [True, True, True] and used[-2:] == [False, False]  # series at high noise only
    mixed = torch.tensor([999.0, 10.0] * 150)
    before = fast.far_calls[0]
    torch.testing.assert_close(fast(x, mixed), exact(x, mixed), rtol=0, atol=1e-12)
    assert fast.far_calls[0] == before
