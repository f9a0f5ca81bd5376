"""Particles on the sphere: the simulation against the paper's closed forms and rates."""

import math

import numpy as np
import pytest

from angpt import particles as P

# r0 != 1 and alpha != 1 so that every factor of the closed forms matters
R0, ALPHA = 2.0, 0.5


@pytest.mark.parametrize("scheme", P.SCHEMES)
@pytest.mark.parametrize("n,beta", [(64, 5.0), (16, 1.0), (8, 0.3)])
def test_initial_velocity_matches_closed_form(scheme, n, beta):
    measured = P.measured_initial_velocity(scheme, n, beta, r0=R0, alpha=ALPHA, tau=1.0)
    theory = P.initial_velocity(scheme, n, beta, r0=R0, alpha=ALPHA, tau=1.0)
    assert measured == pytest.approx(theory, rel=0.02)


def test_closed_forms_differ_where_the_schemes_differ():
    """The table is not one number in disguise: speed factors change gamma'(0) as Thm 4.1 says."""
    n, beta = 16, 2.0
    v = {s: P.initial_velocity(s, n, beta, r0=R0, alpha=ALPHA, tau=1.0) for s in P.SCHEMES}
    post = 2 / (math.exp(beta) + n - 1)
    assert v["post-ln"] == pytest.approx(post) and v["cod"] == pytest.approx(post)
    assert v["pre-ln"] == pytest.approx(post / R0) and v["ln-scaling"] == pytest.approx(post / R0)
    assert v["mix-ln"] == pytest.approx(post)  # Post-LN phase first
    assert P.initial_velocity("mix-ln", n, beta, r0=R0, tau=0.0) == pytest.approx(post / R0)
    peri = 2 / (R0 * math.sqrt(math.exp(2 * beta) + n - 1))
    assert v["peri-ln"] == pytest.approx(peri)
    assert v["ngpt"] == pytest.approx(peri * R0 * ALPHA)
    # no overflow for a huge inverse temperature
    # (e^{2 beta} overflows float64 for beta > 355; the answer ~ 2 e^{-beta} does not)
    assert P.initial_velocity("peri-ln", 8, 700.0) == pytest.approx(2 * math.exp(-700.0))


def test_mix_ln_with_no_post_phase_moves_like_pre_ln():
    m = P.measured_initial_velocity("mix-ln", 16, 1.0, r0=R0, tau=0.0)
    assert m == pytest.approx(P.initial_velocity("pre-ln", 16, 1.0, r0=R0), rel=0.02)


@pytest.fixture(scope="module")
def cone_runs():
    """Terminal phase (Thm 4.3): 8 tokens in a narrow cone, d = 16, beta = 1."""
    return P.simulate_grid(P.SCHEMES, [1.0], 8, 16, T=60.0, dt=0.01, init="cone", delta=0.05,
                           tau=10.0, record_every=20)


def test_post_ln_collapses_exponentially_at_rate_two(cone_runs):
    run = cone_runs[("post-ln", 1.0)]
    # Var ~ e^{-2t}: deviations from the centroid shrink like e^{-t} (attention ~ averaging)
    assert P.log_slope(run.t, run.spread, 3.0, 15.0) == pytest.approx(-2.0, rel=0.03)
    assert run.spread[run.at(15.0)] < 1e-12 * run.spread[0]
    np.testing.assert_array_equal(run.radii, 1.0)


def test_ngpt_rate_is_two_alpha():
    run = P.simulate("ngpt", 8, 16, 1.0, T=30.0, dt=0.01, init="cone", alpha=ALPHA, record_every=20)
    assert P.log_slope(run.t, run.spread, 3.0, 25.0) == pytest.approx(-2.0 * ALPHA, rel=0.03)


@pytest.mark.parametrize("scheme", ["pre-ln", "peri-ln"])
def test_pre_and_peri_ln_collapse_polynomially(cone_runs, scheme):
    run = cone_runs[(scheme, 1.0)]
    # Var ~ t^{-2} (s ~ r ~ t): a straight line of slope -2 on log-log axes, not exponential
    assert P.log_slope(run.t, run.spread, 20.0, 60.0, log_x=True) == pytest.approx(-2.0, rel=0.05)
    assert run.spread[-1] > 1e-5 * run.spread[0]


def test_pre_ln_radius_grows_linearly(cone_runs):
    run = cone_runs[("pre-ln", 1.0)]
    r = run.mean_radius
    # Thm 4.3(i): r_k(t) >= (1 - delta) t; in the cone <theta, A> -> 1, so r(t) ~ r0 + t
    assert np.all(run.radii[-1] >= (1 - 0.05) * run.t[-1])
    assert r[-1] - r[0] == pytest.approx(run.t[-1], rel=0.02)
    late = run.t >= 30.0
    assert np.polyfit(run.t[late], r[late], 1)[0] == pytest.approx(1.0, rel=0.01)


def test_cod_collapses_like_exp_minus_four_sqrt_t(cone_runs):
    run = cone_runs[("cod", 1.0)]
    slope = P.log_slope(np.sqrt(run.t + 1.0), run.spread, 2.5, 7.5)
    assert slope == pytest.approx(-4.0, rel=0.05)


def test_ln_scaling_collapses_like_one_over_t(cone_runs):
    """The book's LN-Scaling (Pre-LN reading N(x)/sqrt(l)): in a cluster A ~ c theta_bar with
    c = 1/sqrt(t+1), so r grows by ~2 sqrt(t+1) and the angular speed c/r ~ 1/(2(t+1)):
    deviations shrink like (t+1)^{-1/2}, Var ~ t^{-1}, slower than Pre-LN's t^{-2}."""
    run = cone_runs[("ln-scaling", 1.0)]
    assert P.log_slope(run.t + 1.0, run.spread, 20.0, 61.0, log_x=True) == pytest.approx(-1.0, rel=0.1)
    growth = run.mean_radius - run.mean_radius[0]
    assert growth[-1] == pytest.approx(2 * (math.sqrt(run.t[-1] + 1) - 1), rel=0.05)


def test_mix_ln_switches_from_post_to_pre_at_tau(cone_runs):
    run = cone_runs[("mix-ln", 1.0)]
    before = run.t <= 10.0
    np.testing.assert_array_equal(run.radii[before], 1.0)
    assert run.mean_radius[-1] == pytest.approx(1.0 + 50.0, rel=0.02)
    assert run.spread[run.at(10.0)] < 1e-6 * run.spread[0]  # exponential phase first
    # then Pre-LN from r = 1: Var ~ (1 + t - tau)^{-2}, polynomial in the time since the switch
    late = run.t >= 20.0
    assert P.log_slope(1.0 + run.t[late] - 10.0, run.spread[late], 10.0, 51.0, log_x=True) == pytest.approx(-2.0, rel=0.1)


def test_peri_ln_starts_faster_than_pre_ln_from_random_tokens():
    """Thm 4.2: ||A_j(0)|| is small for random tokens; Peri-LN and nGPT divide it out."""
    runs = P.simulate_grid(P.SCHEMES, [1.0], 64, 32, T=0.1, dt=0.01, init="random", r0=1.0)
    speed0 = {s: runs[(s, 1.0)].speed[0] for s in P.SCHEMES}
    assert speed0["peri-ln"] > 3 * speed0["pre-ln"]
    assert speed0["ngpt"] > 3 * speed0["post-ln"]
    assert speed0["pre-ln"] == pytest.approx(speed0["post-ln"])  # r0 = 1: same field at t = 0


def test_grid_equals_single_runs():
    grid = P.simulate_grid(["pre-ln", "ngpt"], [0.5, 2.0], 6, 5, T=1.0, dt=0.05, seed=3)
    one = P.simulate("ngpt", 6, 5, 2.0, T=1.0, dt=0.05, seed=3)
    np.testing.assert_allclose(grid[("ngpt", 2.0)].cosine, one.cosine, rtol=1e-12)
    assert not np.allclose(grid[("ngpt", 0.5)].cosine, one.cosine)


def test_run_record_shapes_and_states():
    run = P.simulate("peri-ln", 5, 3, 1.0, T=1.0, dt=0.1, record_every=3, keep_states=True)
    assert run.t.tolist() == pytest.approx([0.0, 0.3, 0.6, 0.9, 1.0])
    assert run.cosine.shape == run.spread.shape == run.speed.shape == (5,)
    assert run.radii.shape == (5, 5) and run.states.shape == (5, 5, 3)
    np.testing.assert_allclose(np.linalg.norm(run.states, axis=-1), 1.0, atol=1e-12)
    # the spread identity for unit vectors: (1/n) sum ||theta - mean||^2 = 1 - ||mean||^2
    np.testing.assert_allclose(run.spread, 1 - np.sum(run.states.mean(1) ** 2, -1), atol=1e-12)


def test_initial_states():
    theta, r = P.initial_state("cone", 10, 7, delta=0.1, seed=1)
    G = theta @ theta.T
    assert G.min() >= 1 - 0.1 - 1e-12 and np.allclose(r, 1.0)
    theta, r = P.initial_state("random", 50, 400, seed=0)
    assert np.allclose(np.linalg.norm(theta, axis=1), 1.0)
    assert r.mean() == pytest.approx(20.0, rel=0.05)  # ||N(0, I_400)|| ~ sqrt(400)
    theta, _ = P.initial_state("symmetric", 3, 4)
    np.testing.assert_array_equal(theta @ theta.T, np.eye(3))


@pytest.mark.parametrize("call,needle", [
    (lambda: P.simulate("pre-ln", n=1), "n must be an integer >= 2, got 1"),
    (lambda: P.simulate("pre-ln", d=1), "d must be an integer >= 2, got 1"),
    (lambda: P.simulate("pre-ln", beta=0.0), "beta must be a positive finite number, got 0.0"),
    (lambda: P.simulate("pre-ln", beta=-1), "got -1"),
    (lambda: P.simulate("layernorm"), "unknown scheme 'layernorm'; valid choices: 'post-ln', 'pre-ln'"),
    (lambda: P.simulate_grid(["ngpt", "dyt"]), "unknown scheme 'dyt'"),
    (lambda: P.simulate("ngpt", init="uniform"), "unknown init 'uniform'; valid choices: 'symmetric'"),
    (lambda: P.simulate("ngpt", n=8, d=4, init="symmetric"), "needs n <= d, got n=8, d=4"),
    (lambda: P.simulate("ngpt", dt=0), "dt must be a positive finite number, got 0"),
    (lambda: P.simulate("ngpt", alpha=-0.1), "alpha must be a positive finite number, got -0.1"),
    (lambda: P.simulate("mix-ln", tau=-1.0), "tau must be a finite number >= 0, got -1.0"),
    (lambda: P.initial_velocity("rms", 4, 1.0), "unknown scheme 'rms'; valid choices:"),
    (lambda: P.initial_velocity("ngpt", 1, 1.0), "n must be an integer >= 2, got 1"),
    (lambda: P.initial_velocity("ngpt", 4, float("nan")), "beta must be a positive finite number, got nan"),
    (lambda: P.mean_pairwise_cosine(np.ones((2, 1, 4))), "tokens >= 2"),
])
def test_bad_input(call, needle):
    with pytest.raises(ValueError) as err:
        call()
    assert needle in str(err.value)


def test_mean_pairwise_cosine():
    same = np.ones((3, 5, 4))
    assert P.mean_pairwise_cosine(same) == pytest.approx(1.0)
    ortho = np.eye(4)[None].repeat(2, 0) * np.array([1.0, 2.0, 3.0, 4.0])[None, :, None]
    assert P.mean_pairwise_cosine(ortho) == pytest.approx(0.0, abs=1e-12)
    # per sequence, then averaged: one collapsed sequence and one orthogonal one -> 0.5
    assert P.mean_pairwise_cosine(np.concatenate([same[:1, :4], ortho[:1]])) == pytest.approx(0.5)


def test_cosine_profile_reads_the_residual_hooks():
    torch = pytest.importorskip("torch")

    class Fake:
        """Two blocks that pull the tokens together (a stand-in for run_with_cache)."""

        class cfg:
            n_layers = 2

        hook_names = ["hook_embed", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post", "hook_final"]

        def run_with_cache(self, idx, names_filter=None):
            x = torch.nn.functional.one_hot(idx, 8).float()  # (B, T, 8)
            common = torch.ones_like(x)
            acts = [x, x + common, x + 10 * common, x]
            cache = {h: a for h, a in zip(self.hook_names, acts) if h in names_filter}
            return None, cache

    idx = torch.arange(8).reshape(2, 4)
    prof = P.cosine_profile(Fake(), idx)
    assert list(prof) == Fake.hook_names[:3]
    assert prof["hook_embed"] == pytest.approx(0.0, abs=1e-7)
    assert prof["blocks.0.hook_resid_post"] == pytest.approx(10 / 11, rel=1e-5)  # <e_j+1, e_k+1> = 10, ||e_j+1||^2 = 11
    assert prof["blocks.1.hook_resid_post"] > prof["blocks.0.hook_resid_post"]
    with pytest.raises(ValueError, match="not in the model's cache"):
        P.cosine_profile(Fake(), idx, hooks=["blocks.5.hook_resid_post"])


# ---------------------------------------------------------------------------- fixes of the audit


@pytest.mark.parametrize("scheme", ["post-ln", "ngpt", "cod", "mix-ln"])
def test_velocity_ignores_the_radius_on_the_sphere(scheme):
    """On the sphere (and in Mix-LN's Post-LN phase) s_j does not contain r_j: `velocity` must
    not divide by a radius the caller passes. With r ~ 3.8 it used to return the Pre-LN field."""
    theta, r = P.initial_state("random", 12, 6, seed=2)  # r ~ sqrt(6)
    r = 1.5 * r
    v, dr = P.velocity(scheme, theta, r, t=0.5, beta=1.0, alpha=0.5, tau=1.0)
    v1, dr1 = P.velocity(scheme, theta, np.ones_like(r), t=0.5, beta=1.0, alpha=0.5, tau=1.0)
    np.testing.assert_allclose(v, v1, rtol=1e-12)
    np.testing.assert_array_equal(dr, 0.0)
    # ... while Pre-LN's speed does divide by r
    vp, _ = P.velocity("pre-ln", theta, r, t=0.5, beta=1.0)
    vp1, _ = P.velocity("pre-ln", theta, np.ones_like(r), t=0.5, beta=1.0)
    np.testing.assert_allclose(vp * r[:, None], vp1, rtol=1e-12)


def test_mix_ln_keeps_its_initial_radius_until_tau():
    """Table 2: dr/dt = 0 in Mix-LN's Post-LN phase, so r(tau) = r(0), then Pre-LN growth."""
    run = P.simulate("mix-ln", 16, 16, 1.0, T=8.0, dt=0.02, init="random", tau=4.0, seed=0)
    r0 = run.radii[0]
    assert r0.mean() == pytest.approx(4.0, rel=0.2)  # ||N(0, I_16)|| ~ sqrt(16)
    before = run.t < 4.0
    np.testing.assert_array_equal(run.radii[before], np.broadcast_to(r0, run.radii[before].shape))
    assert np.all(run.radii[-1] > r0)  # grows after tau


def test_ln_scaling_field_is_pre_ln_on_the_scaled_input():
    """'ln-scaling' is the book's LN-Scaling: x_j <- x_j + Attn(c N(x))_j with Q = K = V = I and
    c = 1/sqrt(l), l = t + 1. A direct computation of that update gives the same field."""
    theta, r = P.initial_state("random", 10, 5, seed=4)
    t, beta = 2.0, 1.5
    y = theta / math.sqrt(t + 1.0)  # what the sublayer reads
    logits = beta * y @ y.T
    w = np.exp(logits - logits.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    a = w @ y  # Attn(y) with V = I: the update of x = r theta
    radial = np.sum(theta * a, axis=1)
    v_ref = (a - radial[:, None] * theta) / r[:, None]  # d theta/dt = P_theta a / r
    v, dr = P.velocity("ln-scaling", theta, r, t=t, beta=beta)
    np.testing.assert_allclose(v, v_ref, rtol=1e-10)
    np.testing.assert_allclose(dr, radial, rtol=1e-10)


def test_ln_scaling_clusters_slower_and_cod_faster_than_pre_ln():
    """The two LN-Scaling rows point opposite ways. The book's LN-Scaling is Pre-LN with a
    smaller, flatter sublayer input (logits / l, output / sqrt(l)): it clusters *slower* than
    Pre-LN, like the trained model it names, whose deep sublayers read less. The paper's CoD
    row keeps the tokens on the sphere, where s = sqrt(t+1) < r ~ t: it clusters *faster*."""
    runs = P.simulate_grid(["pre-ln", "ln-scaling", "cod"], [1.0], 32, 16, T=20.0, dt=0.02,
                           init="random", seed=0, record_every=50)
    cos = {s: runs[(s, 1.0)].cosine for s in ("pre-ln", "ln-scaling", "cod")}
    late = runs[("pre-ln", 1.0)].t >= 2.0
    assert np.all(cos["ln-scaling"][late] < cos["pre-ln"][late])
    assert np.all(cos["cod"][late] > cos["pre-ln"][late])
    assert cos["ln-scaling"][-1] < cos["pre-ln"][-1] - 0.2
