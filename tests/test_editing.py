"""playground/editing/edits.py: drawings → MNIST digits, SDEdit, inpainting (replacement + RePaint), DDIM inversion,
slerp interpolation. Numbers, not smoke: exact equalities where the maths gives them (t0 = 0, kept pixels,
the inverse step undone by the forward one), parity with diffusers (DDIMInverseScheduler, RePaint's jump
schedule), an exact Gaussian denoiser where the answer is known in closed form, and the shipped model's
round-trip error pinned at the value measured on the dev machine.
"""
import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_MODEL
from PIL import Image, ImageDraw

from playground.diffusion import q_sample, q_step
from playground.editing import drawing, edits
from playground.mnist.checkpoint import DEFAULT_CHECKPOINT, load_model
from playground.mnist.data import load_mnist, to_model_range
from playground.mnist.model import UNet, UNetConfig
from playground.mnist.sample import make_model_fn
from playground.samplers import ddim_step, make_timesteps, sample_loop
from playground.schedules import make_schedule

pytestmark = [pytest.mark.usefixtures("one_thread_module"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:diffusers.*")]

S0 = 0.5  # std of the Gaussian "data" of the exact denoiser


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def gaussian_model(s, s0=S0):
    """Exact ε-denoiser for x_0 ~ N(0, s0²·I), pixel by pixel: E[ε|x_t] = √(1−ᾱ)·x/(ᾱ·s0² + 1 − ᾱ)."""
    ab_table = s.alpha_bar

    def model_fn(x, t):
        ab = ab_table[t.cpu()].to(x.dtype).view(-1, *[1] * (x.ndim - 1))
        return (1 - ab).sqrt() * x / (ab * s0**2 + 1 - ab)

    return model_fn


@pytest.fixture(scope="module")
def tiny():
    """A tiny random class-conditional UNet (T = 100 schedule) as model_fn builder: labels → model_fn."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = UNet(UNetConfig(**TINY_MODEL))
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
    model.eval().requires_grad_(False)
    return model


@pytest.fixture(scope="module")
def shipped():
    model, meta = load_model(DEFAULT_CHECKPOINT)
    return model, make_schedule(meta.schedule, meta.T, meta.zero_terminal_snr)


def stroke_canvas(size=400, width=18, ink="black", paper="white", mode="RGB"):
    """A hand-drawn-looking '3' as a polyline on a canvas."""
    im = Image.new(mode, (size, size), paper)
    k = size / 400
    pts = [(150, 100), (250, 90), (260, 150), (190, 200), (265, 250), (250, 320), (140, 320)]
    ImageDraw.Draw(im).line([(x * k, y * k) for x, y in pts], fill=ink, width=max(1, round(width * k)), joint="curve")
    return im


def com(img):
    ys, xs = np.indices(img.shape)
    m = img.sum()
    return (ys * img).sum() / m, (xs * img).sum() / m


# --- the core stays free of gradio ------------------------------------------------------------------


def test_core_does_not_import_gradio():
    tree = ast.parse(Path(edits.__file__).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "gradio" not in names and "scipy" not in names  # scipy is a dev-only dependency


# --- 1. drawings → MNIST format ---------------------------------------------------------------------


def test_drawing_is_framed_like_mnist():
    p = edits.prepare_digit(np.asarray(stroke_canvas()), background="white")
    img = p.image
    assert img.shape == (28, 28) and img.dtype == np.float32
    assert img.min() >= 0 and img.max() == pytest.approx(1.0)
    top, left, h, w = drawing._bbox(img > 0.25)
    assert max(h, w) in (19, 20, 21)  # the longer side of the stroke box is 20 (±1 for anti-aliased edges)
    assert h > w  # aspect kept: the '3' is taller than wide
    cy, cx = com(img)
    assert abs(cy - 14.0) <= 0.5 and abs(cx - 14.0) <= 0.5  # centre of mass at the centre, integer shift
    x0 = p.x0
    assert x0.shape == (1, 1, 28, 28) and float(x0.min()) >= -1 and float(x0.max()) <= 1
    assert "20" in p.describe() and "400×400" in p.describe()


def test_the_same_stroke_in_any_encoding_gives_the_same_digit():
    ref = edits.prepare_digit(np.asarray(stroke_canvas()), background="white").image
    rgba = np.zeros((400, 400, 4), np.uint8)  # black strokes on a transparent canvas (a sketchpad layer)
    rgba[..., 3] = 255 - np.asarray(stroke_canvas().convert("L"))
    inverted = 255 - np.asarray(stroke_canvas().convert("L"))  # white on black, like MNIST
    variants = {
        "rgba transparent, auto": edits.prepare_digit(rgba).image,
        "rgba transparent, white": edits.prepare_digit(rgba, background="white").image,
        "gray, auto": edits.prepare_digit(np.asarray(stroke_canvas().convert("L"))).image,
        "inverted, auto": edits.prepare_digit(inverted).image,
        "inverted, black": edits.prepare_digit(inverted, background="black").image,
        "float [0, 1]": edits.prepare_digit(np.asarray(stroke_canvas()).astype(np.float32) / 255).image,
        "uint16": edits.prepare_digit(np.asarray(stroke_canvas().convert("L")).astype(np.uint16) * 257).image,
        "PIL": edits.prepare_digit(stroke_canvas()).image,
    }
    for name, img in variants.items():
        assert np.abs(img - ref).max() < 1e-5, name


def test_mnist_digits_come_back_almost_unchanged():
    """MNIST digits already are what the pipeline makes: re-framing 200 held-out digits changes little.

    (A 1-pixel shift happens when a digit's centre of mass sits on a half pixel: 13.5 rounds either way.)"""
    images = load_mnist().heldout_images[:200].numpy()
    errs = np.array([np.sqrt(((edits.prepare_digit(im).image - im / 255.0) ** 2).mean()) for im in images])
    assert np.median(errs) < 0.015 and np.percentile(errs, 90) < 0.03, (np.median(errs), np.percentile(errs, 90))


@pytest.mark.parametrize("canvas, background, message", [
    (np.full((300, 300, 3), 255, np.uint8), "white", "empty"),
    (np.full((300, 300, 3), 255, np.uint8), "auto", "empty"),
    (np.zeros((300, 300, 4), np.uint8), "auto", "empty"),  # fully transparent
    (np.zeros((300, 300, 4), np.uint8), "white", "empty"),
    (np.zeros((300, 300, 3), np.uint8), "white", "all ink"),  # a black canvas on a white sketchpad
    (np.zeros((300, 300, 3), np.uint8), "auto", "all ink"),
    (np.full((300, 300), 250, np.uint8), "auto", "empty"),  # almost white: below the contrast floor
])
def test_empty_and_all_ink_canvases_get_a_clear_message(canvas, background, message):
    with pytest.raises(ValueError, match=message):
        edits.prepare_digit(canvas, background=background)


def test_a_canvas_mostly_covered_in_ink_is_refused():
    c = np.full((200, 200), 255, np.uint8)
    c[10:190, 10:190] = 0  # 81% ink
    with pytest.raises(ValueError, match="all ink"):
        edits.prepare_digit(c, background="white")


@pytest.mark.parametrize("bad, message", [
    (np.zeros((0, 10), np.uint8), "no pixels"),
    (np.zeros((10, 10, 7), np.uint8), "channels"),
    (np.full((10, 10), np.nan, np.float32), "NaN"),
    (np.zeros((2, 3, 4, 5), np.uint8), "image"),
])
def test_unreadable_arrays_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        edits.prepare_digit(bad)


def test_a_huge_rgba_canvas_gives_the_same_digit_quickly():
    import time

    big = np.zeros((4000, 4000, 4), np.uint8)  # 64 MB of RGBA, stroke scaled ×10
    big[..., 3] = 255 - np.asarray(stroke_canvas(4000).convert("L"))
    t = time.perf_counter()
    p = edits.prepare_digit(big, background="white")
    dt = time.perf_counter() - t
    ref = edits.prepare_digit(np.asarray(stroke_canvas()), background="white").image
    assert p.input_size == (4000, 4000) and p.box[2] > 2000  # the box is reported in input pixels
    assert np.sqrt(((p.image - ref) ** 2).mean()) < 0.05
    assert dt < 5.0, f"{dt:.1f} s"


def test_a_hairline_on_a_big_canvas_is_thickened_to_mnist_width():
    c = stroke_canvas(1000, width=1)  # a 1-px pen on 1000 px: 0.03 px after scaling, invisible untreated
    p = edits.prepare_digit(np.asarray(c), background="white")
    assert p.thickened > 0
    width = drawing._stroke_width(p.image > 0.5)
    assert 1.4 <= width <= 3.0, width  # MNIST's median is 2.0 (10th–90th percentile 1.5–2.8)
    thick = edits.prepare_digit(np.asarray(stroke_canvas(400, width=18)), background="white")
    assert thick.thickened == 0  # a normal pen is left alone


def test_heldout_digit_and_its_label():
    x0, label = edits.heldout_digit(0)
    data = load_mnist()
    assert x0.shape == (1, 1, 28, 28) and label == int(data.heldout_labels[0])
    assert torch.equal(x0, to_model_range(data.heldout_images[:1]))
    with pytest.raises(ValueError, match="index"):
        edits.heldout_digit(len(data.heldout_images))


# --- 2. masks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, holes", [("top half", 392), ("left half", 392), ("bottom-right quarter", 196)])
def test_preset_masks(name, holes):
    keep = edits.preset_keep_mask(name)
    assert keep.shape == (1, 1, 28, 28) and set(keep.unique().tolist()) <= {0.0, 1.0}
    assert int((keep == 0).sum()) == holes
    if name == "top half":
        assert keep[0, 0, :14].eq(0).all() and keep[0, 0, 14:].eq(1).all()
    if name == "bottom-right quarter":
        assert keep[0, 0, 14:, 14:].eq(0).all() and int(keep[0, 0, :14].sum()) == 14 * 28
    with pytest.raises(ValueError, match="unknown mask"):
        edits.preset_keep_mask("diagonal")


def test_brush_mask_from_a_painted_layer():
    layer = np.zeros((280, 280, 4), np.uint8)
    layer[:, :140, :3] = 255
    layer[:, :140, 3] = 255  # painted the left half (any colour; alpha decides)
    keep = edits.keep_mask_from_brush(layer)
    assert torch.equal(keep, edits.preset_keep_mask("left half"))
    assert torch.equal(edits.keep_mask_from_brush(np.zeros((280, 280, 4), np.uint8)), torch.ones(1, 1, 28, 28))


# --- 3. SDEdit --------------------------------------------------------------------------------------


def test_strength_and_sdedit_timesteps():
    assert [edits.strength_to_t0(v, 1000) for v in (0, 0.2, 0.5, 1)] == [0, 200, 500, 1000]
    with pytest.raises(ValueError, match="strength"):
        edits.strength_to_t0(1.5, 1000)
    pairs = edits.sdedit_timesteps(600, 50)
    assert pairs[0][0] == 599 and pairs[-1][1] == -1 and len(pairs) == 50  # starts where the input was noised
    assert edits.sdedit_timesteps(1000, 50) == make_timesteps(1000, 50, "trailing")
    assert len(edits.sdedit_timesteps(7, 50)) == 7  # never more steps than t0
    assert [edits.strip_steps(t0, 50, 1000) for t0 in (1, 200, 500, 1000)] == [1, 10, 25, 50]


def test_sdedit_at_t0_zero_returns_the_input_exactly(tiny):
    s = make_schedule("linear", 100)
    x0 = torch.rand(2, 1, 28, 28, generator=gen(1)) * 2 - 1
    states = list(edits.sdedit_loop(make_model_fn(tiny, torch.tensor([3, 3]), 1.0), s, x0, 0, generator=gen()))
    assert len(states) == 1 and torch.equal(states[0].x_t, x0)


def test_sdedit_noises_the_input_with_the_forward_process(tiny):
    """The first frame is q(x_{t0−1} | x0) with ε = the generator's first draw; the run ends on clean."""
    s = make_schedule("linear", 100)
    x0 = torch.rand(1, 1, 28, 28, generator=gen(1)) * 2 - 1
    states = list(edits.sdedit_loop(make_model_fn(tiny, torch.tensor([3]), 1.0), s, x0, 40, generator=gen(7),
                                    num_steps=10))
    eps = torch.randn(x0.shape, generator=gen(7))
    assert states[0].phase == "noise" and states[0].t == 39
    assert torch.equal(states[0].x_t, q_sample(s, x0, torch.tensor(39), eps))
    assert [st.t for st in states[1:]] == [t_prev for _, t_prev in edits.sdedit_timesteps(40, 10)]
    assert states[-1].t == -1 and all(st.phase == "denoise" for st in states[1:])


def test_sdedit_at_full_strength_ignores_the_input_exactly(tiny):
    """With zero terminal SNR, ᾱ_{T−1} = 0: x_{T−1} = ε whatever x0 is, so two inputs give one output."""
    s = make_schedule("linear", 100, zero_terminal_snr=True)
    fn = make_model_fn(tiny, torch.tensor([5]), 1.0)
    xa = torch.full((1, 1, 28, 28), -1.0)
    xb = torch.rand(1, 1, 28, 28, generator=gen(2)) * 2 - 1
    for sampler in ("ddim", "ddpm"):
        out_a = edits.sdedit(fn, s, xa, 100, generator=gen(3), num_steps=10, sampler=sampler, prediction_type="v")
        out_b = edits.sdedit(fn, s, xb, 100, generator=gen(3), num_steps=10, sampler=sampler, prediction_type="v")
        assert torch.equal(out_a, out_b), sampler


def test_sdedit_with_the_shipped_model_dial_from_faithful_to_free(shipped):
    """t0 = T−1 (ᾱ = 4e-5 left of the input): two different digits with one seed give nearly the same
    image; at t0 = T/2 they stay different; distance to the input grows with t0 (measured: 0.016, 0.37;
    0.04 → 0.30 → 0.41)."""
    model, s = shipped
    fn = make_model_fn(model, torch.tensor([5]), 1.0)
    xa, _ = edits.heldout_digit(0)
    xb, _ = edits.heldout_digit(1)
    out = {(k, t0): edits.sdedit(fn, s, x, t0, generator=gen(0), num_steps=10)
           for k, x in (("a", xa), ("b", xb)) for t0 in (100, 500, 999)}
    assert float(edits.pixel_rmse(out["a", 999], out["b", 999])) < 0.03
    assert float(edits.pixel_rmse(out["a", 500], out["b", 500])) > 0.2
    d = [float(edits.pixel_rmse(out["a", t0], xa)) for t0 in (100, 500, 999)]
    assert d[0] < 0.08 and d[0] < d[1] < d[2], d


def test_sdedit_strip_uses_one_seed_and_proportional_steps(tiny):
    s = make_schedule("linear", 100)
    fn = make_model_fn(tiny, torch.tensor([2]), 1.0)
    x0 = torch.rand(1, 1, 28, 28, generator=gen(4)) * 2 - 1
    rows = list(edits.sdedit_strip(fn, s, x0, [0, 20, 90], seed=11, num_steps=20))
    assert [(t0, n) for t0, n, _ in rows] == [(0, 0), (20, 4), (90, 18)]
    assert torch.equal(rows[0][2], x0)
    assert torch.equal(rows[2][2], edits.sdedit(fn, s, x0, 90, generator=gen(11), num_steps=18))


# --- 4. inpainting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler, eta, r", [("ddpm", 1.0, 1), ("ddim", 0.0, 1), ("ddim", 0.5, 1), ("ddpm", 1.0, 3)])
def test_inpainting_keeps_the_known_pixels_exactly(tiny, sampler, eta, r):
    s = make_schedule("linear", 100)
    x0 = torch.rand(2, 1, 28, 28, generator=gen(5)) * 2 - 1
    keep = edits.preset_keep_mask("top-left quarter")
    out = edits.inpaint(make_model_fn(tiny, torch.tensor([8, 8]), 1.5), s, x0, keep, generator=gen(6), sampler=sampler,
                    eta=eta, num_steps=10, jump_length=3, jump_n_sample=r)
    known = keep.expand_as(x0) > 0.5
    assert torch.equal(out[known], x0[known])
    assert (out[~known] - x0[~known]).abs().mean() > 0.05  # the hole was regenerated


def test_inpainting_is_the_plain_sampler_in_the_hole_and_the_noised_original_outside():
    """With a pixel-by-pixel model the kept region cannot influence the hole, so the hole must follow the
    plain sampler given the same noise, step for step (RePaint Eq. 8, unknown part); the kept pixels after the
    first step are √ᾱ·x0 + √(1−ᾱ)·ε_known with the drawn ε (Eq. 8, known part), and x0 itself at the end."""
    s = make_schedule("linear", 1000)
    fn = gaussian_model(s)
    shape = (3, 1, 8, 8)
    x0 = torch.rand(shape, generator=gen(1)) * 2 - 1
    keep = torch.zeros(1, 1, 8, 8)
    keep[..., :, :4] = 1
    pairs = make_timesteps(1000, 20, "trailing")
    g = gen(9)  # replay inpaint's draws: x_T, then (z, z_known) per step
    x_T = torch.randn(shape, generator=g)
    zs, zks = zip(*[(torch.randn(shape, generator=g), torch.randn(shape, generator=g)) for _ in pairs])
    for sampler in ("ddpm", "ddim"):
        states = list(edits.inpaint_loop(fn, s, x0, keep, generator=gen(9), sampler=sampler, eta=0.0, num_steps=20))
        plain = list(sample_loop(fn, s, shape, sampler=sampler, eta=0.0, timesteps=pairs, x_T=x_T,
                                 noises=lambda i: zs[i]))
        hole = keep.expand(shape) < 0.5
        for st, ref in zip(states, plain):
            torch.testing.assert_close(st.x_t[hole], ref.x_t[hole], rtol=1e-5, atol=1e-5)
        t_prev = pairs[0][1]
        first_known = q_sample(s, x0, torch.tensor(t_prev), zks[0])
        assert torch.equal(states[0].x_t[~hole], first_known[~hole])
        assert torch.equal(states[-1].x_t[~hole], x0[~hole])


def test_q_jump_is_the_one_step_kernel_composed():
    s = make_schedule("cosine", 1000)
    x = torch.randn(4, 1, 8, 8, generator=gen(1), dtype=torch.float64)
    z = torch.randn(4, 1, 8, 8, generator=gen(2), dtype=torch.float64)
    torch.testing.assert_close(edits.q_jump(s, x, 499, 500, z), q_step(s, x, torch.tensor(500), z), rtol=0, atol=1e-12)
    torch.testing.assert_close(edits.q_jump(s, x, -1, 300, z), q_sample(s, x, torch.tensor(300), z),
                               rtol=0, atol=1e-12)
    # two jumps a→b→c have the mean and variance of one a→c: √(ᾱ_c/ᾱ_a) and 1 − ᾱ_c/ᾱ_a
    ab = s.alpha_bar.tolist()  # plain floats: pytest.approx compares numbers, not 0-d tensors
    r1, r2 = ab[400] / ab[100], ab[800] / ab[400]
    mean, var = math.sqrt(r1 * r2), r2 * (1 - r1) + (1 - r2)
    assert mean == pytest.approx(math.sqrt(ab[800] / ab[100]), rel=1e-12)
    assert var == pytest.approx(1 - ab[800] / ab[100], rel=1e-12)
    with pytest.raises(ValueError, match="t_from < t_to"):
        edits.q_jump(s, x, 500, 500, z)


@pytest.mark.parametrize("n, j, r", [(20, 5, 3), (50, 10, 10), (30, 7, 2), (10, 10, 4)])
def test_repaint_schedule_matches_diffusers(n, j, r):
    """Our moves, written out as the list of timesteps diffusers' RePaintScheduler visits, are that list."""
    from diffusers import RePaintScheduler

    sched = RePaintScheduler(num_train_timesteps=1000)
    sched.set_timesteps(n, jump_length=j, jump_n_sample=r)
    stride = 1000 // n
    visited = []
    for op in edits.repaint_ops(n, j, r):
        if op[0] == "down":
            visited.append(n - 1 - op[1])  # diffusers' index of the step: counted from the clean end
        else:
            u = n - op[1]
            visited.extend(range(u + 1, u + (op[1] - op[2]) + 1))
    assert [v * stride for v in visited] == sched.timesteps.tolist()
    pairs = make_timesteps(1000, n, "leading")
    downs = [pairs[op[1]][0] for op in edits.repaint_ops(n, j, r) if op[0] == "down"]
    theirs = sched.timesteps.tolist()
    assert downs == [t for i, t in enumerate(theirs) if i == 0 or t < theirs[i - 1]]  # the model-call timesteps


def test_repaint_ops_counts():
    assert edits.repaint_ops(25, 10, 1) == [("down", k) for k in range(25)]
    ops = edits.repaint_ops(50, 10, 4)
    downs = sum(op[0] == "down" for op in ops)
    assert downs == 50 + 3 * 10 * 4  # 4 jump points (u = 0, 10, 20, 30), each redone 3 more times over 10 steps
    with pytest.raises(ValueError, match="jump_n_sample"):
        edits.repaint_ops(10, 2, 0)


def test_inpainting_bad_masks(tiny):
    s = make_schedule("linear", 100)
    fn = make_model_fn(tiny, torch.tensor([1]), 1.0)
    x0 = torch.zeros(1, 1, 28, 28)
    with pytest.raises(ValueError, match="nothing to inpaint"):
        edits.inpaint(fn, s, x0, torch.ones(1, 1, 28, 28), generator=gen())
    with pytest.raises(ValueError, match="keep must be"):
        edits.inpaint(fn, s, x0, torch.ones(28, 28), generator=gen())
    with pytest.raises(ValueError, match="DDPM or DDIM"):
        edits.inpaint(fn, s, x0, edits.preset_keep_mask("top half"), generator=gen(), sampler="dpm++")


# --- 5. DDIM inversion ---------------------------------------------------------------------------------


@pytest.mark.parametrize("t, t_next", [(-1, 19), (19, 39), (479, 499), (979, 999), (-1, 999)])
def test_inverse_step_is_undone_by_the_ddim_step(t, t_next):
    s = make_schedule("linear", 1000)
    x = torch.randn(2, 1, 8, 8, generator=gen(1), dtype=torch.float64)
    eps = torch.randn(2, 1, 8, 8, generator=gen(2), dtype=torch.float64)
    up = edits.ddim_inverse_step(s, x, t, t_next, eps)
    ab, ab_n = (1.0 if t < 0 else float(s.alpha_bar[t])), float(s.alpha_bar[t_next])
    by_hand = math.sqrt(ab_n) * (x - math.sqrt(1 - ab) * eps) / math.sqrt(ab) + math.sqrt(1 - ab_n) * eps  # Eq. 12
    torch.testing.assert_close(up.x_prev, by_hand, rtol=0, atol=1e-12)
    down = ddim_step(s, up.x_prev, t_next, t, eps, None, eta=0.0)
    torch.testing.assert_close(down.x_prev, x, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="inversion goes up"):
        edits.ddim_inverse_step(s, x, t_next, t, eps)


@pytest.mark.parametrize("spacing, n", [("leading", 50), ("trailing", 50), ("leading", 7), ("trailing", 7)])
def test_inversion_matches_diffusers_ddim_inverse_scheduler(spacing, n):
    """Same model, same ᾱ (our float64 table loaded into diffusers): the same latent, to 1e-10.

    Where n does not divide T under trailing spacing (1000/7), diffusers steps up from t − ⌊T/n⌋
    instead of from the previous listed timestep (as its DDIMScheduler does downwards, see
    test_parity_diffusers.py). We start each step where the last one ended, so that the decoder
    retraces the encoder's grid exactly; there we check our latent against DDIM Eq. 12 by hand."""
    from diffusers import DDIMInverseScheduler

    s = make_schedule("linear", 1000)
    fn = gaussian_model(s)
    x0 = (torch.rand(2, 1, 8, 8, generator=gen(3), dtype=torch.float64) * 2 - 1)
    sched = DDIMInverseScheduler(num_train_timesteps=1000, beta_schedule="linear", timestep_spacing=spacing,
                                 set_alpha_to_one=True, clip_sample=False, prediction_type="epsilon")
    sched.alphas_cumprod = s.alpha_bar.clone()
    sched.set_timesteps(n)
    x = x0
    for t in sched.timesteps:
        x = sched.step(fn(x, torch.full((2,), int(t))), int(t), x).prev_sample
    ours = edits.ddim_invert(fn, s, x0, num_steps=n, spacing=spacing)
    pairs = make_timesteps(1000, n, spacing)
    assert sched.timesteps.tolist() == [t for t, _ in reversed(pairs)]
    grid_is_even = all(t - t_prev == 1000 // n for t, t_prev in pairs[:-1])
    if grid_is_even:
        torch.testing.assert_close(ours, x, rtol=0, atol=1e-10)
        return
    assert (ours - x).abs().max() > 1e-6  # the documented difference
    by_hand = x0
    for t_next, t in reversed(pairs):
        eps = fn(by_hand, torch.full((2,), t_next))
        ab, ab_n = (1.0 if t < 0 else float(s.alpha_bar[t])), float(s.alpha_bar[t_next])
        by_hand = math.sqrt(ab_n) * (by_hand - math.sqrt(1 - ab) * eps) / math.sqrt(ab) + math.sqrt(1 - ab_n) * eps
    torch.testing.assert_close(ours, by_hand, rtol=0, atol=1e-10)


def test_inversion_of_gaussian_data_converges_to_the_exact_ode_map():
    """For x0 ~ N(0, s0²) the probability-flow ODE is linear: x_t = x0·√(ᾱ_t·s0² + 1 − ᾱ_t)/s0. DDIM inversion
    with the exact denoiser approaches it as the steps grow (the error falls roughly like 1/n)."""
    s = make_schedule("linear", 1000)
    fn = gaussian_model(s)
    x0 = (torch.randn(4, 1, 8, 8, generator=gen(0), dtype=torch.float64) * S0).clamp(-1, 1)
    ab_T = float(s.alpha_bar[-1])
    exact = x0 * math.sqrt(ab_T * S0**2 + 1 - ab_T) / S0
    err = {n: float((edits.ddim_invert(fn, s, x0, num_steps=n) - exact).abs().max()) for n in (10, 50, 200)}
    assert err[10] > err[50] > err[200] and err[200] < 0.005, err
    assert err[10] / err[200] > 8  # ≈ 1/n: 20× the steps, ≥ 8× smaller error


# Measured on the dev machine (torch 2.14.1, CPU, fp32): the first two held-out digits (a 7 and a 3), with their
# own labels, trailing spacing. RMSE in [0, 1] pixels of decode(invert(x0)) against x0.
PINNED_RMSE_100 = [0.0080, 0.0053]  # 100 + 100 steps, w = 1
PINNED_RMSE_10 = {1.0: 0.0370, 3.0: 0.0510, 5.0: 0.0741}  # 10 + 10 steps, mean of the two, by guidance w
PINNED_RMSE_20 = 0.0231  # 20 + 20 steps, w = 1
PINNED_LATENT_STD = 0.42  # std of the latents at 100 steps: the round trip works, yet x_T is not N(0, I)-like


@pytest.fixture(scope="module")
def two_digits():
    data = load_mnist()
    return to_model_range(data.heldout_images[:2]), data.heldout_labels[:2]


def test_inversion_round_trip_of_real_digits_is_pinned(shipped, two_digits):
    model, s = shipped
    x0, y = two_digits
    r = edits.invert_and_reconstruct(make_model_fn(model, y, 1.0), s, x0, num_steps=100)
    np.testing.assert_allclose(r.rmse.numpy(), PINNED_RMSE_100, rtol=0.1, atol=0.001)
    assert float(r.latent_std.mean()) == pytest.approx(PINNED_LATENT_STD, abs=0.05)
    assert len(r.timesteps) == 100 and r.timesteps[0][0] == 999


def test_inversion_drifts_with_guidance_and_with_few_steps(shipped, two_digits):
    model, s = shipped
    x0, y = two_digits
    rows = edits.inversion_sweep(lambda w: make_model_fn(model, y, w), s, x0, steps=(10,), guidances=(1.0, 3.0, 5.0))
    rows += edits.inversion_sweep(lambda w: make_model_fn(model, y, w), s, x0, steps=(20,), guidances=(1.0,))
    rmse = {(r["steps"], r["w"]): r["rmse"] for r in rows}
    for w, pinned in PINNED_RMSE_10.items():
        assert rmse[10, w] == pytest.approx(pinned, rel=0.1, abs=0.002), (w, rmse[10, w])
    assert rmse[10, 1.0] < rmse[10, 3.0] < rmse[10, 5.0]  # guidance breaks the ODE's invertibility
    assert rmse[20, 1.0] == pytest.approx(PINNED_RMSE_20, rel=0.1, abs=0.002)
    assert rmse[10, 1.0] > rmse[20, 1.0] > 2 * sum(PINNED_RMSE_100) / 2  # fewer steps, bigger error


def test_invert_leaves_the_global_rng_alone(tiny):
    s = make_schedule("linear", 100)
    fn = make_model_fn(tiny, torch.tensor([0]), 1.0)
    x0 = torch.zeros(1, 1, 28, 28)
    before = torch.get_rng_state()
    edits.invert_and_reconstruct(fn, s, x0, num_steps=5)
    edits.sdedit(fn, s, x0, 50, generator=gen(), num_steps=5)
    edits.inpaint(fn, s, x0, edits.preset_keep_mask("left half"), generator=gen(), num_steps=5)
    assert torch.equal(before, torch.get_rng_state())


# --- 6. interpolation --------------------------------------------------------------------------------


def test_slerp_end_points_and_norm():
    za, zb = torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    za[..., 0, 0], zb[..., 0, 1] = 1.0, 1.0  # orthogonal unit vectors
    z = edits.slerp(za, zb, [0.0, 0.25, 0.5, 1.0])
    assert torch.equal(z[0], za[0]) and torch.equal(z[-1], zb[0])
    torch.testing.assert_close(z.flatten(1).norm(dim=1), torch.ones(4))  # the arc keeps the norm (a line: 0.71)
    torch.testing.assert_close(z[2, 0], torch.tensor([[math.sqrt(0.5), math.sqrt(0.5)], [0.0, 0.0]]))
    torch.testing.assert_close(edits.slerp(za, za, [0.3])[0], za[0])  # θ = 0 falls back to the line


@pytest.mark.parametrize("labels", [None, (3, 8)])
def test_interpolation_end_points_are_the_two_reconstructions(tiny, labels):
    s = make_schedule("linear", 100)
    xa = torch.rand(1, 1, 28, 28, generator=gen(1)) * 2 - 1
    xb = torch.rand(1, 1, 28, 28, generator=gen(2)) * 2 - 1
    res = edits.interpolate(lambda lab: make_model_fn(tiny, lab, 1.0), s, xa, xb, num=5, labels=labels, num_steps=10)
    assert res.images.shape == (5, 1, 28, 28) and res.alphas == [0, 0.25, 0.5, 0.75, 1]
    torch.testing.assert_close(res.images[0], res.reconstructions[0], rtol=0, atol=1e-4)
    torch.testing.assert_close(res.images[-1], res.reconstructions[1], rtol=0, atol=1e-4)
    assert float((res.images[2] - res.images[0]).abs().mean()) > 1e-3  # the middle is somewhere else
    assert res.labels == ([None] * 5 if labels is None else [3, 3, 8, 8, 8])


# --- 7. numbers and validation ----------------------------------------------------------------------------


def test_pixel_rmse_and_classifier(shipped):
    a, b = torch.full((2, 1, 28, 28), -1.0), torch.full((2, 1, 28, 28), 1.0)
    assert edits.pixel_rmse(a, b).tolist() == [1.0, 1.0] and edits.pixel_rmse(a, a).tolist() == [0.0, 0.0]
    assert float(edits.pixel_rmse(a, b + 5)[0]) == 1.0  # measured on clamped display pixels
    x0, label = edits.heldout_digit(1)
    pred, conf = edits.classify(x0)
    assert int(pred) == label and float(conf) > 0.9


@pytest.mark.parametrize("call, message", [
    (lambda fn, s, x: edits.sdedit(fn, s, x * 3, 10, generator=gen()), r"range \[−1, 1\]"),
    (lambda fn, s, x: edits.sdedit(fn, s, x[0], 10, generator=gen()), "tensor"),
    (lambda fn, s, x: edits.sdedit(fn, s, x, 10, generator=None), "generator"),
    (lambda fn, s, x: edits.sdedit(fn, s, x, 101, generator=gen()), "t0 must be"),
    (lambda fn, s, x: edits.sdedit(fn, s, x, 10, generator=gen(), num_steps=0), "at least 1"),
    (lambda fn, s, x: edits.sdedit(fn, s, x, 10, generator=gen(), sampler="lms"), "unknown sampler"),
    (lambda fn, s, x: edits.ddim_invert(fn, s, x, num_steps=101), "at most 100"),
    (lambda fn, s, x: edits.sdedit(fn, s, x * float("nan"), 10, generator=gen()), "NaN"),
])
def test_bad_arguments_raise_value_errors(tiny, call, message):
    s = make_schedule("linear", 100)
    fn = make_model_fn(tiny, torch.tensor([0]), 1.0)
    x = torch.full((1, 1, 28, 28), 0.5)
    with pytest.raises(ValueError, match=message):
        call(fn, s, x)
