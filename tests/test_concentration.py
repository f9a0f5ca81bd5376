"""Concentration of measure and anGPT's factors: closed forms against Monte Carlo.

Every closed form in angpt.concentration is checked here by sampling (within 1 % and within
a few standard errors), every bound by measuring the probability it bounds, and every public
function for its ValueError on bad input. Seeds are fixed, so the tests are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from angpt import concentration as cm

D_MODEL, N_HEADS = 256, 4


# --- the factors the models import: names and values are a contract ---------------------

def test_factor_functions_keep_their_values():
    f = cm.angpt_factors(1024, 16)  # anGPT's factors at d_m = 1024, d_h = 64 (Franke et al. 2025)
    assert f["nu_qkv"] == 4.0 and f["nu_p"] == 0.25 and f["nu_uz"] == 0.5 and f["nu_d"] == 2.0
    assert f["gate_scale"] == 32.0
    assert 3.72 < f["nu_acf"] < 3.721  # 1/sqrt(E SiLU(x)^2), x ~ N(0, 1/4), by quadrature
    assert cm.nu_lerp(0.05) == pytest.approx(1.0512, abs=1e-4)
    assert cm.nu_lerp(0.5) == pytest.approx(math.sqrt(2))
    assert cm.nu_activation("silu", 1.0) == pytest.approx(1.6765, abs=1e-4)  # 1/sqrt(0.35578)


@pytest.mark.parametrize("name", cm.FACTORS)
def test_monte_carlo_factor_matches_closed_form(name):
    est, se = cm.mc_factor(name, D_MODEL, N_HEADS, alpha=0.3, n_samples=3000, seed=1)
    closed = cm.closed_form_factor(name, D_MODEL, N_HEADS, alpha=0.3)
    assert abs(est - closed) < 0.01 * closed, (name, est, closed)
    assert abs(est - closed) < 5 * se + 1e-3 * closed, (name, est, se, closed)  # se is honest
    assert 0 < se < 0.005 * closed


def test_closed_form_factor_is_the_models_source():
    f = cm.angpt_factors(D_MODEL, N_HEADS)
    for name in ("nu_qkv", "nu_p", "nu_uz", "nu_acf", "nu_d"):
        assert cm.closed_form_factor(name, D_MODEL, N_HEADS) == f[name]
    assert cm.closed_form_factor("nu_lerp", D_MODEL, N_HEADS, alpha=0.1) == cm.nu_lerp(0.1)


@pytest.mark.parametrize("std", [0.5, 1.0])
def test_silu_quadrature_against_monte_carlo(std):
    est, se = cm.mc_activation_factor("silu", std, n_samples=400_000, seed=2)
    closed = cm.nu_activation("silu", std)
    assert abs(est - closed) < 0.01 * closed and abs(est - closed) < 5 * se


def test_silu_gate_input_has_std_one_half():
    # z~ = sqrt(d_m) nu_uz W_z h: entries of variance 1/r; the quadrature point of nu_acf
    assert cm.mlp_gate_std(4) == 0.5
    rng = np.random.default_rng(3)
    W, h = cm.unit_rows(4 * D_MODEL, D_MODEL, rng), cm.sphere_points(500, D_MODEL, rng)
    z = math.sqrt(D_MODEL) * cm.nu_linear(D_MODEL, 4 * D_MODEL) * (h @ W.T)
    assert z.std() == pytest.approx(0.5, rel=0.01)


@pytest.mark.parametrize("name", cm.COMPONENTS)
def test_component_norms_concentrate_near_one(name):
    r = cm.component_norms(name, D_MODEL, N_HEADS, alpha=0.2, n_samples=1000, seed=4)
    assert r.shape == (1000,)
    assert abs(np.mean(r * r) - 1) < 0.03, (name, np.mean(r * r))  # E||nu g||^2 = 1
    assert r.std() < 0.12


def test_spread_shrinks_with_width_and_levy_bounds_it():
    recs = cm.norm_spread("nu_qkv", [32, 128, 512], n_samples=600, seed=5)
    stds = [r["std"] for r in recs]
    assert stds[0] > stds[1] > stds[2]
    assert stds[0] / stds[2] == pytest.approx(4.0, rel=0.25)  # ~ 1/sqrt(d)
    for r in recs:
        assert r["hi"] - r["mean"] <= r["levy"] and r["mean"] - r["lo"] <= r["levy"]
    assert cm.norm_spread("mlp", [64], n_samples=200)[0]["levy"] is None


# --- norms of Gaussian vectors --------------------------------------------------------

def test_gaussian_norm_closed_forms():
    for d in (1, 2, 16, 99, 100, 1000):
        m = cm.gaussian_norm_mean(d)
        assert d / math.sqrt(d + 1) <= m <= math.sqrt(d)
    for d in (100, 101, 400):  # the series branch joins the log-gamma formula
        exact = math.sqrt(2) * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))
        assert cm.gaussian_norm_mean(d) == pytest.approx(exact, rel=1e-12)
        assert cm.gaussian_norm_var(d) == pytest.approx(d - exact**2, abs=1e-10)
    assert cm.gaussian_norm_mean(1) == pytest.approx(math.sqrt(2 / math.pi))
    assert cm.gaussian_norm_mean(2) == pytest.approx(math.sqrt(math.pi / 2))
    # Var||g|| -> 1/2, from below, with error ~ 1/(8d)
    v = [cm.gaussian_norm_var(d) for d in (4, 64, 4096, 10**6)]
    assert v == sorted(v) and v[0] < 0.5
    assert abs(v[-1] - 0.5) < 1e-6
    assert abs(cm.gaussian_norm_var(4096) - (0.5 - 1 / (8 * 4096))) < 1e-7


def test_gaussian_norm_monte_carlo_matches_closed_forms():
    for rec in cm.norm_stats([16, 1024], n=20_000, seed=6):
        d = rec["d"]
        assert abs(rec["mean"] - rec["mean_closed"]) < 4 * rec["se_mean"]
        assert rec["var"] == pytest.approx(rec["var_closed"], rel=0.05)  # se of a variance ~ 1 %
        assert rec["scaled_std"] == pytest.approx(1 / math.sqrt(2 * d), rel=0.05)
    r = cm.norm_samples(64, 20_000, "gaussian", seed=7)
    assert np.mean(r * r) == pytest.approx(64, rel=0.01)  # E||g||^2 = d
    s = cm.norm_samples(64, 100, "sphere", seed=7)
    assert np.allclose(s, 1.0)


def test_batched_sampling_is_reproducible_and_bounded():
    a = cm.norm_samples(5000, 600, seed=8)  # 3e6 numbers, drawn in several batches
    b = cm.norm_samples(5000, 600, seed=8)
    assert np.array_equal(a, b) and len(list(cm.batch_sizes(600, 5000))) > 1
    g = np.random.default_rng(9)
    assert cm.as_rng(g) is g
    assert cm.sphere_points(3, 5, seed=1).shape == (3, 5)


# --- near-orthogonality -----------------------------------------------------------------

def test_pairwise_cosines_spread_like_one_over_sqrt_d():
    for rec in cm.cosine_stats([16, 256, 4096], n_points=150, seed=10):
        assert rec["n_pairs"] == 150 * 149 // 2
        assert rec["std"] == pytest.approx(rec["std_closed"], rel=0.05)
        assert abs(rec["mean"]) < 4 * rec["std_closed"] / math.sqrt(rec["n_pairs"]) * 3
        assert rec["max_abs"] <= rec["max_bound"]


# --- tail bounds ------------------------------------------------------------------------

@pytest.mark.parametrize("fn", list(cm.LIPSCHITZ_FUNCTIONS))
@pytest.mark.parametrize("kind, d, tmax", [("sphere", 64, 0.6), ("gaussian", 64, 4.0)])
def test_tail_probabilities_stay_under_the_bounds(fn, kind, d, tmax):
    n = 8000
    r = cm.tail_probabilities(fn, d, np.linspace(0, tmax, 9), n=n, kind=kind, seed=11)
    slack = 4 * np.sqrt(r["prob"] * (1 - r["prob"]) / n) + 1 / n
    assert np.all(r["prob"] <= r["bound"] + slack), (fn, kind, r["prob"], r["bound"])
    assert r["prob"][0] == 1.0 and r["bound"][0] == 1.0


def test_levy_bound_formula_and_cap_bound():
    assert cm.levy_bound(0.3, 102) == pytest.approx(2 * math.exp(-100 * 0.09 / 2))
    assert cm.levy_bound(0.6, 102, lip=2.0) == pytest.approx(2 * math.exp(-100 * 0.36 / 8))
    assert cm.levy_bound(0.0, 10) == 1.0  # capped at 1
    t = 0.3
    assert cm.levy_bound(cm.levy_radius(50, 1.5, 0.05), 50, 1.5) == pytest.approx(0.05)
    assert cm.gaussian_concentration_bound(2.0) == pytest.approx(2 * math.exp(-2))
    arr = cm.levy_bound(np.array([0.1, t]), 50)
    assert arr.shape == (2,) and arr[1] < arr[0]
    # the cap {theta_1 >= eps}, measured
    x = cm.sphere_points(20_000, 32, seed=12)
    for eps in (0.1, 0.3, 0.5):
        assert np.mean(x[:, 0] >= eps) <= cm.cap_bound(eps, 32)


# --- attention average ------------------------------------------------------------------

def test_attention_output_norm_is_sum_of_squared_weights():
    rng = np.random.default_rng(13)
    rows = [np.full(16, 1 / 16), np.eye(8)[3], rng.dirichlet(np.ones(10) * 0.3)]
    for a in rows:
        est, se = cm.mc_attention_sq_norm(a, d_head=32, n_samples=3000, seed=14)
        want = float(cm.attention_sq_sum(a))
        assert abs(est - want) < 0.01 * want + 4 * se
    assert np.allclose(cm.dense_sq_sum(4), [1, 1 / 2, 1 / 3, 1 / 4])
    probs = np.tril(np.ones((5, 5)))
    probs /= probs.sum(-1, keepdims=True)
    assert np.allclose(cm.attention_sq_sum(probs), cm.dense_sq_sum(5))


# --- when the assumptions break ---------------------------------------------------------

def test_inputs_off_the_sphere_shift_the_factor_as_derived():
    d, r, k = 256, 64, 16
    iso = cm.mc_linear(d, r, n_samples=3000, seed=15)
    assert iso["estimate"] == pytest.approx(iso["closed"], rel=0.01)
    low = cm.mc_linear(d, r, input_rank=k, n_samples=3000, seed=15)  # random W: still right
    assert low["estimate"] == pytest.approx(low["closed"], rel=0.01)
    for alignment in (0.5, 1.0):
        al = cm.mc_linear(d, r, input_rank=k, alignment=alignment, n_samples=3000, seed=15)
        mass = k / d + alignment * (1 - k / d)
        assert al["estimate"] / al["closed"] == pytest.approx(math.sqrt(k / (d * mass)), rel=0.01)
    cor = cm.mc_linear(d, r, decay=1.0, n_samples=2000, seed=15)
    assert cor["effective_dim"] < d / 5
    assert cm.effective_dimension(np.ones(7)) == pytest.approx(7)


# --- bad input --------------------------------------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda: cm.gaussian_vectors(0, 4), "n must be an integer >= 1, got 0"),
    (lambda: cm.sphere_points(4, 0), "d must be an integer >= 1, got 0"),
    (lambda: cm.sphere_points(4, 2.5), "d must be an integer >= 1, got 2.5"),
    (lambda: cm.as_rng(-1), "seed must be a non-negative integer"),
    (lambda: cm.as_rng("x"), "seed must be"),
    (lambda: cm.gaussian_norm_mean(0), "d must be an integer >= 1, got 0"),
    (lambda: cm.norm_samples(4, 10, kind="ball"), "unknown kind 'ball'; valid choices: 'gaussian', 'sphere'"),
    (lambda: cm.norm_stats([], 10), "at least one dimension"),
    (lambda: cm.pairwise_cosines(1, 4), "n_points must be an integer >= 2, got 1"),
    (lambda: cm.max_cosine_bound(10, 4, delta=1.5), "delta must lie in"),
    (lambda: cm.levy_bound(-0.1, 10), "t must be finite and >= 0, got -0.1"),
    (lambda: cm.levy_bound(0.1, 2), "d >= 3.*got 2"),
    (lambda: cm.levy_bound(0.1, 10, lip=0), "lip must be a positive finite number, got 0"),
    (lambda: cm.gaussian_concentration_bound(-1), "t must be finite and >= 0"),
    (lambda: cm.cap_bound(1.0, 10), "0 <= eps < 1"),
    (lambda: cm.cap_bound(-0.5, 10), "eps must be finite and >= 0"),
    (lambda: cm.tail_probabilities("entropy", 10, [0.1]), "unknown Lipschitz function 'entropy'; valid choices: 'norm'"),
    (lambda: cm.tail_probabilities("norm", 2, [0.1]), "d >= 3"),
    (lambda: cm.tail_probabilities("norm", 10, [-1.0]), "ts must be finite and >= 0"),
    (lambda: cm.mc_factor("nu_x", 64, 2), "unknown factor 'nu_x'; valid choices: 'nu_qkv'"),
    (lambda: cm.mc_factor("nu_qkv", 64, 3), "d_model=64 is not divisible by n_heads=3"),
    (lambda: cm.mc_factor("nu_qkv", 64, 2, n_samples=0), "n_samples must be an integer >= 1, got 0"),
    (lambda: cm.mc_factor("nu_lerp", 64, 2, alpha=1.5), "alpha must be a number in \\[0, 1\\], got 1.5"),
    (lambda: cm.component_norms("attn", 64, 2), "unknown component 'attn'"),
    (lambda: cm.mc_activation_factor("swish"), "unknown activation 'swish'; valid choices: 'silu'"),
    (lambda: cm.mc_activation_factor("silu", std=0), "std must be a positive finite number, got 0"),
    (lambda: cm.nu_activation("silu", -1.0), "std must be a positive finite number"),
    (lambda: cm.mc_attention_sq_norm([[0.5, 0.5]]), "1-D array"),
    (lambda: cm.mc_attention_sq_norm([-0.5, 1.5]), "non-negative"),
    (lambda: cm.dense_sq_sum(0), "seq_len must be an integer >= 1, got 0"),
    (lambda: cm.mc_linear(16, 4, input_rank=32), "input_rank=32 exceeds d_in=16"),
    (lambda: cm.mc_linear(16, 4, alignment=0.5), "alignment needs an input subspace"),
    (lambda: cm.mc_linear(16, 4, decay=-1), "decay must be"),
    (lambda: cm.effective_dimension([0.0, 0.0]), "positive sum"),
    (lambda: cm.norm_spread("nu_qkv", []), "at least one dimension"),
    (lambda: cm.nu_linear(0, 4), "d_in must be an integer >= 1, got 0"),
    (lambda: cm.nu_lerp(float("nan")), "alpha must be finite"),
])
def test_bad_input_raises_value_error_naming_the_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- exact densities and several functions on one draw -----------------------------------

@pytest.mark.parametrize("d", [1, 3, 64, 4096])
def test_chi_density_integrates_to_one_and_matches_samples(d):
    r = np.linspace(max(0.0, math.sqrt(d) - 12), math.sqrt(d) + 12, 20001)
    f = cm.chi_density(r, d)
    assert np.trapezoid(f, r) == pytest.approx(1.0, abs=1e-6)
    assert np.trapezoid(r * f, r) == pytest.approx(cm.gaussian_norm_mean(d), rel=1e-6)


@pytest.mark.parametrize("d", [3, 16, 256])
def test_sphere_coordinate_density_has_variance_one_over_d(d):
    t = np.linspace(-1, 1, 200001)
    f = cm.sphere_coordinate_density(t, d)
    assert np.trapezoid(f, t) == pytest.approx(1.0, abs=1e-4)
    assert np.trapezoid(t * t * f, t) * d == pytest.approx(1.0, abs=1e-4)
    x = cm.sphere_points(20_000, d, seed=16)[:, 0]
    assert np.mean(np.abs(x) <= 0.5 / math.sqrt(d)) == pytest.approx(
        np.trapezoid(f * (np.abs(t) <= 0.5 / math.sqrt(d)), t), abs=0.015)


def test_several_functions_share_one_draw():
    many = cm.tail_probabilities(["coordinate", "half_norm"], 32, [0.0, 0.1], n=500, seed=17)
    one = cm.tail_probabilities("coordinate", 32, [0.0, 0.1], n=500, seed=17)
    assert np.array_equal(many["coordinate"]["prob"], one["prob"])
    recs = cm.cosine_stats([8], n_points=10, keep_samples=True)
    assert recs[0]["samples"].shape == (45,)
    assert cm.norm_stats([8], n=10, keep_samples=True)[0]["samples"].shape == (10,)
    with pytest.raises(ValueError, match="at least one Lipschitz function"):
        cm.lipschitz_samples([], 8, 10)
    with pytest.raises(ValueError, match="d must be an integer >= 2, got 1"):
        cm.sphere_coordinate_density(0.1, 1)
    with pytest.raises(ValueError, match="r must be finite and >= 0"):
        cm.chi_density(-1.0, 3)


# --- factor errors compounded over depth ------------------------------------------------

@pytest.mark.parametrize("kw", [dict(), dict(sublayer_error=0.1), dict(lerp_error=0.02),
                                dict(lerp_error=-0.02), dict(lerp_factor=False)])
def test_lerp_norm_recursion_matches_simulation(kw):
    closed = cm.lerp_norms(24, 0.05, **kw)
    sim = cm.simulate_lerp_norms(24, 0.05, d=128, n_samples=400, seed=18, **kw)
    assert closed.shape == sim.shape == (25,)
    assert np.allclose(sim, closed, rtol=0.01), (kw, sim[-1], closed[-1])


def test_lerp_factor_is_the_critical_one():
    assert np.allclose(cm.lerp_norms(100, 0.05), 1.0)  # exact factors: the norm stays 1
    sub = cm.lerp_norms(5000, 0.05, sublayer_error=0.02)[-1]
    assert sub == pytest.approx(1.02, abs=1e-3)  # fixed point (1 + eps): harmless
    up, down = cm.lerp_norms(24, 0.05, lerp_error=0.02)[-1], cm.lerp_norms(24, 0.05, lerp_error=-0.02)[-1]
    assert up > 1.3 and down < 0.75  # 2 % in nu(alpha) compounds over 24 updates
    assert cm.lerp_norms(24, 0.05, lerp_factor=False)[-1] < 0.35
    with pytest.raises(ValueError, match="sublayer_error must be a relative error"):
        cm.lerp_norms(4, sublayer_error=-1.0)
    with pytest.raises(ValueError, match="n_lerps must be an integer >= 1, got 0"):
        cm.lerp_norms(0)


def test_operator_norm_is_the_largest_singular_value():
    W = np.random.default_rng(19).standard_normal((30, 80))
    assert cm.operator_norm(W) == pytest.approx(np.linalg.norm(W, 2), rel=1e-10)
    assert cm.operator_norm(W.T) == pytest.approx(np.linalg.norm(W, 2), rel=1e-10)
    with pytest.raises(ValueError, match="non-empty 2-D array"):
        cm.operator_norm(np.ones(3))
