"""Concentration of measure, and every constant normalization factor anGPT uses.

This module is the one source of the factors nu: the models read them from here, and the
book's derivations check these very functions by Monte Carlo.

Convention: a factor nu for a map g is 1 / sqrt(E ||g(x)||^2) with x uniform on the unit
sphere (and weight rows of unit norm), so that ||nu * g(x)|| concentrates around 1.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import numpy as np


def _check_dim(name: str, value) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


# --------------------------------------------------------------------------------------
# The factors (closed forms)
# --------------------------------------------------------------------------------------


def nu_linear(d_in: int, d_out: int) -> float:
    """Factor for x -> W x with W (d_out x d_in) of unit rows and x uniform on S^{d_in-1}.

    Each entry (W x)_i = <w_i, x> is the cosine between a unit row and a uniform point, so
    E <w_i, x>^2 = 1/d_in and E ||W x||^2 = d_out/d_in. Hence nu = sqrt(d_in/d_out).
    """
    _check_dim("d_in", d_in)
    _check_dim("d_out", d_out)
    return math.sqrt(d_in / d_out)


def nu_lerp(alpha):
    """Factor for the LERP update (1-alpha) h + alpha x of two independent unit vectors.

    E ||(1-alpha) h + alpha x||^2 = (1-alpha)^2 + alpha^2 (the cross term has mean 0), so
    nu(alpha) = 1/sqrt(alpha^2 + (1-alpha)^2). Works element-wise on floats, numpy arrays
    and torch tensors (the model applies it per dimension to a learned alpha vector).
    """
    if isinstance(alpha, (int, float)):
        if not math.isfinite(alpha):
            raise ValueError(f"alpha must be finite, got {alpha!r}")
        return 1.0 / math.sqrt(alpha * alpha + (1.0 - alpha) ** 2)
    return (alpha * alpha + (1 - alpha) ** 2) ** -0.5  # numpy or torch, element-wise


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0))),
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "identity": lambda x: x,
}


def _activation(fn):
    if callable(fn):
        return fn
    if fn not in ACTIVATIONS:
        raise ValueError(f"unknown activation {fn!r}; valid choices: {', '.join(map(repr, ACTIVATIONS))}")
    return ACTIVATIONS[fn]


def activation_second_moment(fn="silu", std: float = 0.5, nodes: int = 201) -> float:
    """E[f(x)^2] for x ~ N(0, std^2), by Gauss-Hermite quadrature (exact to ~1e-12 for SiLU)."""
    if not (isinstance(std, (int, float)) and std > 0 and math.isfinite(std)):
        raise ValueError(f"std must be a positive finite number, got {std!r}")
    f = _activation(fn)
    x, w = _hermegauss(nodes)  # weight exp(-x^2/2)
    return float(np.sum(w * f(std * x) ** 2) / math.sqrt(2.0 * math.pi))


@functools.lru_cache(maxsize=8)
def _hermegauss(nodes: int):
    """Gauss-Hermite nodes and weights, cached: computing 201 of them costs ~50 ms."""
    _check_dim("nodes", nodes)
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    x.flags.writeable = w.flags.writeable = False
    return x, w


def nu_activation(fn="silu", std: float = 0.5) -> float:
    """Factor for an element-wise activation whose inputs are N(0, std^2): 1/sqrt(E f(x)^2).

    anGPT's gate input is sqrt(d_m) * nu_uz * W_z h with unit rows and unit h, i.e. a
    point of norm sqrt(d_m) in R^{4 d_m}: entries of variance d_m/(4 d_m) = 1/4, std 0.5.
    For SiLU this gives ~3.72, the paper's "3.74 (Monte Carlo)". See angpt.blocks.
    """
    return 1.0 / math.sqrt(activation_second_moment(fn, std))


def mlp_gate_std(mlp_ratio: int = 4) -> float:
    """Std of the entries of anGPT's SiLU input: sqrt(d_m) * (unit vector in R^{ratio d_m})."""
    _check_dim("mlp_ratio", mlp_ratio)
    return 1.0 / math.sqrt(mlp_ratio)


def angpt_factors(d_model: int, n_heads: int, mlp_ratio: int = 4) -> dict[str, float]:
    """Every constant factor of an anGPT block, by name (methods.md §4.2).

    nu_qkv  per-head projection d_m -> d_h          sqrt(d_m/d_h)
    nu_p    attention output d_m (concat) -> d_m    sqrt(d_h/d_m): each head output is ~unit,
                                                     so the concatenation has norm^2 n_h
    nu_uz   MLP up/gate d_m -> r d_m                sqrt(1/r)
    nu_acf  SiLU with inputs N(0, 1/r)              1/sqrt(E SiLU(x)^2)
    nu_d    MLP down r d_m -> d_m                   sqrt(r)
    gate_scale  sqrt(d_m), nGPT's trick that puts the SiLU input at O(1) scale
    """
    _check_dim("d_model", d_model)
    _check_dim("n_heads", n_heads)
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
    d_head = d_model // n_heads
    d_mlp = mlp_ratio * d_model
    return {
        "nu_qkv": nu_linear(d_model, d_head),
        "nu_p": math.sqrt(d_head / d_model),
        "nu_uz": nu_linear(d_model, d_mlp),
        "nu_acf": nu_activation("silu", mlp_gate_std(mlp_ratio)),
        "nu_d": math.sqrt(d_mlp / d_model),
        "gate_scale": math.sqrt(d_model),
    }


# --------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------


def _check_nonneg(name: str, value) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return arr


def _check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid choices: {', '.join(map(repr, choices))}")


def _out(value):
    """A float for scalar input, an array otherwise."""
    return float(value) if np.ndim(value) == 0 else value


# --------------------------------------------------------------------------------------
# Sampling: Gaussian vectors, uniform points on the sphere, unit-row weights
# --------------------------------------------------------------------------------------

_BATCH_ELEMS = 1 << 20  # ~8 MB of float64 per batch: memory stays small at any n and d


def as_rng(seed=0) -> np.random.Generator:
    """A numpy Generator from an int seed (or a Generator, returned as is).

    Every sampling function takes `seed` and goes through here, so each result in the
    book is reproducible from the seed printed next to it.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or a numpy Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def batch_sizes(n: int, row_elems: int, max_elems: int = _BATCH_ELEMS):
    """Split n rows of `row_elems` numbers each into batches of at most `max_elems` numbers."""
    _check_dim("n", n)
    _check_dim("row_elems", row_elems)
    step = max(1, max_elems // row_elems)
    for start in range(0, n, step):
        yield min(step, n - start)


def gaussian_vectors(n: int, d: int, seed=0) -> np.ndarray:
    """n standard Gaussian vectors g ~ N(0, I_d), shape (n, d)."""
    _check_dim("n", n)
    _check_dim("d", d)
    return as_rng(seed).standard_normal((n, d))


def _normalize_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def sphere_points(n: int, d: int, seed=0) -> np.ndarray:
    """n points uniform on the unit sphere S^{d-1}, shape (n, d).

    A Gaussian vector divided by its norm: the Gaussian is rotation invariant, so its
    direction is uniform (the standard construction, e.g. Vershynin 2018, §3.3).
    """
    return _normalize_rows(gaussian_vectors(n, d, seed))


def unit_rows(d_out: int, d_in: int, seed=0) -> np.ndarray:
    """A weight matrix W (d_out x d_in) whose rows have norm exactly 1: anGPT at init."""
    return sphere_points(d_out, d_in, seed)


# --------------------------------------------------------------------------------------
# Norms of random vectors
# --------------------------------------------------------------------------------------

VECTOR_KINDS = ("gaussian", "sphere")


def _gamma_ratio_series(x: float) -> float:
    """Gamma(x + 1/2) / (Gamma(x) sqrt(x)) - 1 for large x, by its asymptotic series.

    (Relative error below 1e-14 for x >= 50.) Needed because d - (E||g||)^2 subtracts two numbers
    of size d: through lgamma it loses about 1e-3 at d = 1e6.
    """
    return (-1 / (8 * x) + 1 / (128 * x**2) + 5 / (1024 * x**3) - 21 / (32768 * x**4)
            - 399 / (262144 * x**5) + 869 / (4194304 * x**6))


def gaussian_norm_mean(d: int) -> float:
    """E||g|| for g ~ N(0, I_d): sqrt(2) Gamma((d+1)/2) / Gamma(d/2) (chi distribution mean).

    Computed with log-gamma (an asymptotic series for d >= 100) so it stays finite at any d.
    It lies in [d/sqrt(d+1), sqrt(d)] (schemes.md §8.1), so sqrt(d) - E||g|| ~ 1/(4 sqrt(d)).
    """
    _check_dim("d", d)
    if d >= 100:
        return math.sqrt(d) * (1.0 + _gamma_ratio_series(d / 2))
    return math.sqrt(2.0) * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))


def gaussian_norm_var(d: int) -> float:
    """Var||g|| = E||g||^2 - (E||g||)^2 = d - (E||g||)^2; it tends to 1/2 (as 1/2 - 1/(8d)).

    For d >= 100 written as d (1 - (1 + e)^2) = -d e (2 + e), e the small series term, so
    no digits are lost to cancellation.
    """
    _check_dim("d", d)
    if d >= 100:
        e = _gamma_ratio_series(d / 2)
        return -d * e * (2.0 + e)
    m = gaussian_norm_mean(d)
    return d - m * m


def norm_samples(d: int, n: int, kind: str = "gaussian", seed=0) -> np.ndarray:
    """||x|| of n random vectors in R^d, shape (n,). kind: 'gaussian' (N(0, I_d)) or 'sphere'.

    Drawn in batches, so n * d may exceed memory. On the sphere the norm is 1 up to
    rounding: the point of drawing it is to see the two constructions side by side.
    """
    _check_dim("d", d)
    _check_dim("n", n)
    _check_choice("kind", kind, VECTOR_KINDS)
    rng = as_rng(seed)
    out = []
    for b in batch_sizes(n, d):
        x = rng.standard_normal((b, d))
        if kind == "sphere":
            x = _normalize_rows(x)
        out.append(np.linalg.norm(x, axis=1))
    return np.concatenate(out)


def chi_density(r, d: int):
    """Density of ||g|| for g ~ N(0, I_d) (the chi distribution with d degrees of freedom):
    r^{d-1} exp(-r^2/2) / (2^{d/2-1} Gamma(d/2)), evaluated in logs so it stays finite."""
    _check_dim("d", d)
    r = _check_nonneg("r", r)
    with np.errstate(divide="ignore"):
        log_r = (d - 1) * np.log(r) if d > 1 else np.zeros_like(r)  # r^0 = 1, also at r = 0
        log_f = log_r - r * r / 2 - (d / 2 - 1) * math.log(2.0) - math.lgamma(d / 2)
    return _out(np.exp(log_f))


def sphere_coordinate_density(t, d: int):
    """Density of one coordinate theta_1 (= the cosine with any fixed unit vector) of a point
    uniform on S^{d-1}, d >= 2: Gamma(d/2) / (sqrt(pi) Gamma((d-1)/2)) (1 - t^2)^{(d-3)/2} on
    (-1, 1). Variance 1/d; close to N(0, 1/d) for large d."""
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 2:
        raise ValueError(f"d must be an integer >= 2, got {d!r}")
    t = np.asarray(t, dtype=float)
    inside = np.abs(t) < 1
    log_c = math.lgamma(d / 2) - 0.5 * math.log(math.pi) - math.lgamma((d - 1) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(inside, np.exp(log_c + (d - 3) / 2 * np.log(np.where(inside, 1 - t * t, 1.0))), 0.0)
    return _out(f)


def norm_stats(dims, n: int = 20_000, kind: str = "gaussian", seed=0, keep_samples: bool = False) -> list[dict]:
    """Monte Carlo mean and variance of ||x|| against the closed forms, for each d in dims.

    Returns one record per d with: d, n, mean, var (sample), se_mean (standard error of the
    mean), mean_closed, var_closed (Gaussian: the chi formulas; sphere: 1 and 0), and the
    same for the scaled norm ||x||/sqrt(d) (Gaussian only, whose spread ~ 1/sqrt(2d)):
    scaled_mean, scaled_std. Each d gets its own stream derived from `seed`.
    keep_samples=True adds the norms themselves as `samples` (for histograms).
    """
    _check_choice("kind", kind, VECTOR_KINDS)
    records = []
    for d, ss in _streams(dims, seed):
        r = norm_samples(d, n, kind, np.random.default_rng(ss))
        if kind == "gaussian":
            mean_c, var_c = gaussian_norm_mean(d), gaussian_norm_var(d)
        else:
            mean_c, var_c = 1.0, 0.0
        scale = math.sqrt(d) if kind == "gaussian" else 1.0
        records.append(dict(
            d=d, n=n, mean=float(r.mean()), var=float(r.var(ddof=1)),
            se_mean=float(r.std(ddof=1) / math.sqrt(n)), mean_closed=mean_c, var_closed=var_c,
            scaled_mean=float(r.mean() / scale), scaled_std=float(r.std(ddof=1) / scale),
        ))
        if keep_samples:
            records[-1]["samples"] = r
    return records


def _seed_int(seed) -> int:
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**63))
    as_rng(seed)  # validates
    return int(seed)


def _streams(dims, seed) -> list[tuple[int, np.random.SeedSequence]]:
    """(d, seed sequence) for each dimension: every d gets its own stream derived from seed,
    so adding a dimension to a sweep leaves the others' samples unchanged."""
    dims = list(dims)
    if not dims:
        raise ValueError("dims must list at least one dimension")
    return list(zip(dims, np.random.SeedSequence(_seed_int(seed)).spawn(len(dims))))


# --------------------------------------------------------------------------------------
# Near-orthogonality
# --------------------------------------------------------------------------------------


def pairwise_cosines(n_points: int, d: int, seed=0) -> np.ndarray:
    """Cosines <theta_i, theta_j> of all n(n-1)/2 pairs of n uniform unit vectors in R^d.

    Each cosine has mean 0 and variance exactly 1/d (E theta theta^T = I/d), so the
    spread is 1/sqrt(d): in high dimension random directions are nearly orthogonal.
    """
    _check_dim("d", d)
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}")
    x = sphere_points(n_points, d, seed)
    gram = x @ x.T  # (n, n)
    return gram[np.triu_indices(n_points, k=1)]


def max_cosine_bound(n_points: int, d: int, delta: float = 0.05) -> float:
    """A level t with P(max over pairs |cos| >= t) <= delta, from the cap bound + a union bound.

    Ball's cap bound gives P(<theta, theta'> >= t) <= exp(-d t^2/2) for a fixed theta', so
    P(|cos| >= t) <= 2 exp(-d t^2/2) per pair and, over n(n-1)/2 pairs,
    t = sqrt(2 ln(n(n-1)/delta) / d): the max cosine grows only like sqrt(log n / d).
    """
    _check_dim("d", d)
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}")
    if not (isinstance(delta, (int, float)) and 0 < delta < 1):
        raise ValueError(f"delta must lie in (0, 1), got {delta!r}")
    return math.sqrt(2.0 * math.log(n_points * (n_points - 1) / delta) / d)


def cosine_stats(dims, n_points: int = 200, seed=0, keep_samples: bool = False) -> list[dict]:
    """Spread of pairwise cosines against 1/sqrt(d), and the max |cos| against its bound.

    One record per d: n_pairs, mean, std, std_closed = 1/sqrt(d), max_abs, max_bound
    (max_cosine_bound at delta = 0.05); keep_samples=True adds the cosines as `samples`.
    """
    records = []
    for d, ss in _streams(dims, seed):
        c = pairwise_cosines(n_points, d, np.random.default_rng(ss))
        records.append(dict(
            d=d, n_pairs=len(c), mean=float(c.mean()), std=float(c.std(ddof=1)),
            std_closed=1.0 / math.sqrt(d), max_abs=float(np.abs(c).max()),
            max_bound=max_cosine_bound(n_points, d),
        ))
        if keep_samples:
            records[-1]["samples"] = c
    return records


# --------------------------------------------------------------------------------------
# Concentration inequalities
# --------------------------------------------------------------------------------------


def gaussian_concentration_bound(t, lip: float = 1.0):
    """P(|f(g) - E f(g)| >= t) <= 2 exp(-t^2 / (2 L^2)) for g ~ N(0, I_d), f L-Lipschitz.

    Gaussian concentration (Tsirelson-Ibragimov-Sudakov; Boucheron-Lugosi-Massart 2013,
    Thm 5.6; schemes.md §8.1). No d in it: ||g|| fluctuates by O(1) at every d.
    Works on floats and arrays; capped at 1 (it is a probability bound).
    """
    t = _check_nonneg("t", t)
    lip = _check_positive("lip", lip)
    return _out(np.minimum(1.0, 2.0 * np.exp(-t * t / (2.0 * lip * lip))))


def levy_bound(t, d: int, lip: float = 1.0):
    """Levy's lemma with an explicit constant, for theta uniform on S^{d-1} and d >= 3:

        P(|f(theta) - E f(theta)| >= t) <= 2 exp(-(d - 2) t^2 / (2 L^2))

    for f L-Lipschitz in the Euclidean metric. Source: the sphere has Ricci curvature d - 2,
    so Bakry-Emery gives a log-Sobolev inequality and the one-sided bound
    exp(-(d-2) t^2 / (2 L^2)) (Ledoux 2001, The Concentration of Measure Phenomenon, Ch. 5;
    schemes.md §8.2); the two-sided form doubles it. (A Euclidean L-Lipschitz f is also
    L-Lipschitz for the geodesic distance, which is never shorter.) Capped at 1.
    """
    t = _check_nonneg("t", t)
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 3:
        raise ValueError(f"levy_bound needs an integer d >= 3 (the sphere S^{{d-1}} with curvature d-2 > 0), got {d!r}")
    lip = _check_positive("lip", lip)
    return _out(np.minimum(1.0, 2.0 * np.exp(-(d - 2) * t * t / (2.0 * lip * lip))))


def levy_radius(d: int, lip: float = 1.0, delta: float = 0.05) -> float:
    """The t at which levy_bound(t, d, lip) = delta: f stays within E f +- t w.p. >= 1 - delta."""
    if not (isinstance(delta, (int, float)) and 0 < delta < 1):
        raise ValueError(f"delta must lie in (0, 1), got {delta!r}")
    levy_bound(0.0, d, lip)  # validates d and lip
    return lip * math.sqrt(2.0 * math.log(2.0 / delta) / (d - 2))


def cap_bound(eps, d: int):
    """Normalized area of the cap {theta in S^{d-1} : theta_1 >= eps} <= exp(-d eps^2 / 2).

    Elementary, for 0 <= eps < 1 (K. Ball 1997, An elementary introduction to modern
    convex geometry, Lemma 2.2; schemes.md §8.2). Works on floats and arrays.
    """
    eps = _check_nonneg("eps", eps)
    if np.any(eps >= 1):
        raise ValueError(f"cap_bound needs 0 <= eps < 1, got {eps!r}")
    _check_dim("d", d)
    return _out(np.exp(-d * eps * eps / 2.0))


def _half_norm(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x[:, : max(1, x.shape[1] // 2)], axis=1)


# name -> (formula, Lipschitz constant, f: (n, d) array -> (n,) array)
LIPSCHITZ_FUNCTIONS: dict[str, tuple[str, float, Callable[[np.ndarray], np.ndarray]]] = {
    "norm": ("||x||", 1.0, lambda x: np.linalg.norm(x, axis=1)),
    "coordinate": ("x_1", 1.0, lambda x: x[:, 0]),
    "max_coordinate": ("max_i x_i", 1.0, lambda x: x.max(axis=1)),
    "dist_to_orthant": ("distance to the negative orthant {y <= 0}: ||max(x, 0)||", 1.0,
                        lambda x: np.linalg.norm(np.maximum(x, 0.0), axis=1)),
    "half_norm": ("||P x||, P the projection on the first d/2 coordinates", 1.0, _half_norm),
}


def _lipschitz(fn):
    if fn not in LIPSCHITZ_FUNCTIONS:
        raise ValueError(f"unknown Lipschitz function {fn!r}; valid choices: {', '.join(map(repr, LIPSCHITZ_FUNCTIONS))}")
    return LIPSCHITZ_FUNCTIONS[fn]


def lipschitz_samples(fn, d: int, n: int, kind: str = "sphere", seed=0):
    """f(x) for n random x (kind 'gaussian' or 'sphere'), f one of LIPSCHITZ_FUNCTIONS.

    fn may also be a list of names: then every function is evaluated on the SAME points
    and a dict name -> (n,) array is returned (one draw, several functions).
    """
    names = [fn] if isinstance(fn, str) else list(fn)
    if not names:
        raise ValueError("fn must name at least one Lipschitz function")
    funcs = [_lipschitz(name)[2] for name in names]
    _check_dim("d", d)
    _check_dim("n", n)
    _check_choice("kind", kind, VECTOR_KINDS)
    rng = as_rng(seed)
    out = [[] for _ in names]
    for b in batch_sizes(n, d):
        x = rng.standard_normal((b, d))
        if kind == "sphere":
            x = _normalize_rows(x)
        for acc, f in zip(out, funcs):
            acc.append(f(x))
    values = {name: np.concatenate(acc) for name, acc in zip(names, out)}
    return values[fn] if isinstance(fn, str) else values


def tail_probabilities(fn, d: int, ts, n: int = 20_000, kind: str = "sphere", seed=0) -> dict:
    """Measured P(|f(x) - E f| >= t) for each t, next to the concentration bound.

    E f is the sample mean (its error, ~ std/sqrt(n), is far below the t that matter).
    The bound is levy_bound(t, d, L) on the sphere and gaussian_concentration_bound(t, L)
    for Gaussian vectors, L the Lipschitz constant of f. Returns dict(t, prob, bound,
    mean, std, n). A measured probability of 0 means "below 1/n". With a list of names,
    returns a dict name -> such a dict, all measured on the same points.
    """
    ts = _check_nonneg("ts", np.atleast_1d(np.asarray(ts, dtype=float)))
    names = [fn] if isinstance(fn, str) else list(fn)
    for name in names:
        _lipschitz(name)
    if kind == "sphere" and isinstance(d, (int, np.integer)) and d < 3:
        raise ValueError(f"on the sphere the Levy bound needs d >= 3, got d={d!r}")
    values = lipschitz_samples(names, d, n, kind, seed)
    results = {}
    for name, v in values.items():
        lip = LIPSCHITZ_FUNCTIONS[name][1]
        dev = np.abs(v - v.mean())
        prob = (dev[None, :] >= ts[:, None]).mean(axis=1)
        bound = levy_bound(ts, d, lip) if kind == "sphere" else gaussian_concentration_bound(ts, lip)
        results[name] = dict(t=ts, prob=prob, bound=np.asarray(bound), mean=float(v.mean()),
                             std=float(v.std()), n=n)
    return results[fn] if isinstance(fn, str) else results


# --------------------------------------------------------------------------------------
# Monte Carlo estimates of every anGPT factor
# --------------------------------------------------------------------------------------

FACTORS = ("nu_qkv", "nu_p", "nu_uz", "nu_acf", "nu_d", "nu_lerp")
COMPONENTS = FACTORS + ("mlp",)


def closed_form_factor(name: str, d_model: int, n_heads: int, mlp_ratio: int = 4, alpha: float = 0.05) -> float:
    """The closed form of one factor: angpt_factors(...)[name], or nu_lerp(alpha)."""
    _check_choice("factor", name, FACTORS)
    if name == "nu_lerp":
        return nu_lerp(_check_alpha(alpha))
    return angpt_factors(d_model, n_heads, mlp_ratio)[name]


def _check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    return float(alpha)


def _check_sizes(d_model, n_heads, mlp_ratio, n_samples):
    angpt_factors(d_model, n_heads, mlp_ratio)  # validates d_model, n_heads, mlp_ratio
    _check_dim("n_samples", n_samples)


def _silu(x):
    return ACTIVATIONS["silu"](x)


def _factor_statistic(name, d_model, n_heads, mlp_ratio, alpha, n_samples, rng) -> np.ndarray:
    """Per-sample s with E s = 1/nu^2, for the factor `name` (shape (n_samples,)).

    The weights are drawn once (unit rows), the inputs fresh for every sample. That is
    enough: for ANY W with unit rows, E_x ||W x||^2 = sum_i ||w_i||^2 / d = r/d, because
    E x x^T = I/d for x uniform on S^{d-1}; the samples are i.i.d. given W.
    """
    d_h, d_mlp = d_model // n_heads, mlp_ratio * d_model
    if name == "nu_qkv":  # one head's projection d_m -> d_h
        W = unit_rows(d_h, d_model, rng)
        return _batched_sq_norm(lambda b: sphere_points(b, d_model, rng) @ W.T, n_samples, d_model + d_h)
    if name == "nu_p":  # concat of n_h unit head outputs (norm^2 n_h) -> d_m
        W = unit_rows(d_model, d_model, rng)
        def draw(b):
            heads = sphere_points(b * n_heads, d_h, rng).reshape(b, d_model)  # (b, n_h*d_h)
            return heads @ W.T
        return _batched_sq_norm(draw, n_samples, 2 * d_model)
    if name == "nu_uz":  # d_m -> r d_m
        W = unit_rows(d_mlp, d_model, rng)
        return _batched_sq_norm(lambda b: sphere_points(b, d_model, rng) @ W.T, n_samples, d_model + d_mlp)
    if name == "nu_d":  # unit input in R^{r d_m} -> d_m
        W = unit_rows(d_model, d_mlp, rng)
        return _batched_sq_norm(lambda b: sphere_points(b, d_mlp, rng) @ W.T, n_samples, d_model + d_mlp)
    if name == "nu_acf":  # per-entry mean of SiLU(z~)^2 with z~ = sqrt(d_m) nu_uz W_z h
        W = unit_rows(d_mlp, d_model, rng)
        gate = math.sqrt(d_model) * nu_linear(d_model, d_mlp)
        out = []
        for b in batch_sizes(n_samples, d_model + d_mlp):
            z = gate * (sphere_points(b, d_model, rng) @ W.T)  # (b, r d_m), entries ~ N(0, 1/r)
            out.append((_silu(z) ** 2).mean(axis=1))
        return np.concatenate(out)
    if name == "nu_lerp":  # (1 - alpha) h + alpha x, h and x independent unit vectors
        def draw(b):
            return (1 - alpha) * sphere_points(b, d_model, rng) + alpha * sphere_points(b, d_model, rng)
        return _batched_sq_norm(draw, n_samples, 2 * d_model)
    raise AssertionError(name)


def _batched_sq_norm(draw, n, row_elems):
    return np.concatenate([np.sum(draw(b) ** 2, axis=1) for b in batch_sizes(n, row_elems)])


def mc_factor(name: str, d_model: int = 256, n_heads: int = 4, mlp_ratio: int = 4, *,
              alpha: float = 0.05, n_samples: int = 4000, seed=0) -> tuple[float, float]:
    """Monte Carlo estimate of one anGPT factor and its standard error: (estimate, stderr).

    name in FACTORS. The estimate is 1/sqrt(mean s) over i.i.d. samples s with E s = 1/nu^2
    (unit-row weights, inputs uniform on the sphere; see _factor_statistic); the standard
    error follows by the delta method: se(nu) = se(mean s) / (2 (mean s)^{3/2}).
    For nu_acf the SiLU input comes through the model's own path, z~ = sqrt(d_m) nu_uz W_z h,
    so the test of the quadrature value is also a test of the N(0, 1/r) assumption.
    """
    _check_choice("factor", name, FACTORS)
    _check_sizes(d_model, n_heads, mlp_ratio, n_samples)
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2 for a standard error, got {n_samples!r}")
    alpha = _check_alpha(alpha)
    s = _factor_statistic(name, d_model, n_heads, mlp_ratio, alpha, n_samples, as_rng(seed))
    m, se_m = float(s.mean()), float(s.std(ddof=1) / math.sqrt(len(s)))
    return m ** -0.5, 0.5 * se_m * m ** -1.5


def mc_activation_factor(fn="silu", std: float = 0.5, n_samples: int = 1_000_000, seed=0) -> tuple[float, float]:
    """1/sqrt(E f(x)^2) for x ~ N(0, std^2) by plain Monte Carlo: (estimate, stderr).

    The check of nu_activation's quadrature (how the paper got its "3.74").
    """
    f = _activation(fn)
    _check_positive("std", std)
    _check_dim("n_samples", n_samples)
    rng = as_rng(seed)
    s = np.concatenate([f(std * rng.standard_normal(b)) ** 2 for b in batch_sizes(n_samples, 1)])
    m, se_m = float(s.mean()), float(s.std(ddof=1) / math.sqrt(len(s)))
    return m ** -0.5, 0.5 * se_m * m ** -1.5


def component_norms(name: str, d_model: int = 256, n_heads: int = 4, mlp_ratio: int = 4, *,
                    alpha: float = 0.05, n_samples: int = 2000, seed=0) -> np.ndarray:
    """||nu * g(x)|| for n_samples inputs: the norms the factor is meant to keep near 1.

    name in COMPONENTS, with the closed-form factors of angpt_factors:
      nu_qkv   nu_qkv W h             one head's q/k/v, W (d_h x d_m)
      nu_p     nu_p W_p concat(o_i)   o_i independent unit head outputs
      nu_uz    nu_uz W_u h            MLP up projection
      nu_acf   u * nu_acf SiLU(z~)    the gated product m, u = nu_uz W_u h, z~ as in mc_factor
      nu_d     nu_d W_d m             m uniform unit in R^{r d_m}
      nu_lerp  nu(alpha) ((1-alpha) h + alpha x)
      mlp      the whole MLP h -> nu_d W_d (u * nu_acf SiLU(z~))
    """
    _check_choice("component", name, COMPONENTS)
    _check_sizes(d_model, n_heads, mlp_ratio, n_samples)
    alpha = _check_alpha(alpha)
    rng = as_rng(seed)
    f = angpt_factors(d_model, n_heads, mlp_ratio)
    if name in ("nu_qkv", "nu_p", "nu_uz", "nu_d", "nu_lerp"):
        s = _factor_statistic(name, d_model, n_heads, mlp_ratio, alpha, n_samples, rng)
        nu = nu_lerp(alpha) if name == "nu_lerp" else f[name]
        return nu * np.sqrt(s)
    d_mlp = mlp_ratio * d_model
    W_u, W_z = unit_rows(d_mlp, d_model, rng), unit_rows(d_mlp, d_model, rng)
    W_d = unit_rows(d_model, d_mlp, rng)
    out = []
    for b in batch_sizes(n_samples, d_model + 3 * d_mlp):
        h = sphere_points(b, d_model, rng)
        u = f["nu_uz"] * (h @ W_u.T)                       # (b, r d_m), norm ~ 1
        z = f["gate_scale"] * f["nu_uz"] * (h @ W_z.T)     # (b, r d_m), entries ~ N(0, 1/r)
        m = u * f["nu_acf"] * _silu(z)
        if name == "mlp":
            m = f["nu_d"] * (m @ W_d.T)                    # (b, d_m)
        out.append(np.linalg.norm(m, axis=1))
    return np.concatenate(out)


def operator_norm(W) -> float:
    """||W||_2, the largest singular value: the Lipschitz constant of x -> W x (and of
    x -> ||W x||). From the smaller Gram matrix, much cheaper than a full SVD."""
    W = np.asarray(W, dtype=float)
    if W.ndim != 2 or W.size == 0:
        raise ValueError(f"W must be a non-empty 2-D array, got shape {W.shape}")
    gram = W @ W.T if W.shape[0] <= W.shape[1] else W.T @ W
    return math.sqrt(max(0.0, float(np.linalg.eigvalsh(gram)[-1])))


def norm_spread(name: str, dims, n_heads: int = 4, mlp_ratio: int = 4, *, alpha: float = 0.05,
                n_samples: int = 2000, delta: float = 0.05, seed=0, keep_samples: bool = False) -> list[dict]:
    """How tightly ||nu * g(x)|| sits around 1 as the width d grows (d_h = d / n_heads).

    One record per d: mean, std, the central 1 - delta interval (lo, hi) of the norm, and,
    for the single-sphere linear maps (nu_qkv, nu_uz, nu_d), the Levy radius
    levy_radius(d_in, L, delta) with L = nu ||W||_op the Lipschitz constant of x -> ||nu W x||
    for the drawn W (else None). Levy bounds the deviation from the mean with prob >= 1-delta.
    keep_samples=True adds the norms themselves as `samples`.
    """
    _check_choice("component", name, COMPONENTS)
    records = []
    for d, ss in _streams(dims, seed):
        r = component_norms(name, d, n_heads, mlp_ratio, alpha=alpha, n_samples=n_samples,
                            seed=np.random.default_rng(ss))
        lo, hi = np.quantile(r, [delta / 2, 1 - delta / 2])
        levy = None
        if name in ("nu_qkv", "nu_uz", "nu_d"):
            d_h, d_mlp = d // n_heads, mlp_ratio * d
            d_out, d_in = {"nu_qkv": (d_h, d), "nu_uz": (d_mlp, d), "nu_d": (d, d_mlp)}[name]
            # the same W as component_norms drew: the first draw of the same stream
            W = unit_rows(d_out, d_in, np.random.default_rng(ss))
            lip = angpt_factors(d, n_heads, mlp_ratio)[name] * operator_norm(W)
            levy = levy_radius(d_in, lip, delta) if d_in >= 3 else None
        records.append(dict(d=d, mean=float(r.mean()), std=float(r.std(ddof=1)),
                            lo=float(lo), hi=float(hi), levy=levy))
        if keep_samples:
            records[-1]["samples"] = r
    return records


# --------------------------------------------------------------------------------------
# Errors in a factor, compounded over the LERP updates of a deep model
# --------------------------------------------------------------------------------------


def _check_error(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1 < value < 10:
        raise ValueError(f"{name} must be a relative error in (-1, 10), e.g. 0.02 for +2 %, got {value!r}")
    return float(value)


def lerp_norms(n_lerps: int, alpha: float = 0.05, *, sublayer_error: float = 0.0,
               lerp_error: float = 0.0, lerp_factor: bool = True) -> np.ndarray:
    """RMS norm of the stream after k = 0..n_lerps LERP updates, starting from a unit vector:

        h <- (1 + lerp_error) nu(alpha) ((1 - alpha) h + alpha (1 + sublayer_error) x)

    with x a fresh unit vector independent of h each time (a sublayer output whose factor is
    off by sublayer_error); lerp_factor=False drops nu(alpha). Exact recursion for the
    expected square: E||h'||^2 = c^2 nu^2 ((1-alpha)^2 E||h||^2 + alpha^2 (1+eps)^2).
    Its fixed point is (1+eps)^2 when c = 1: a sublayer factor off by 2 % leaves the stream
    2 % off. But c^2 nu^2 (1-alpha)^2 is within a few 1e-3 of 1 for small alpha, so an error
    c in nu(alpha) itself compounds over the depth: the most critical factor.
    Returns an array of n_lerps + 1 norms.
    """
    _check_dim("n_lerps", n_lerps)
    a = _check_alpha(alpha)
    eps, c = _check_error("sublayer_error", sublayer_error), 1 + _check_error("lerp_error", lerp_error)
    g2 = (c * (nu_lerp(a) if lerp_factor else 1.0)) ** 2
    out = np.empty(n_lerps + 1)
    out[0] = m = 1.0
    for k in range(1, n_lerps + 1):
        m = g2 * ((1 - a) ** 2 * m + a * a * (1 + eps) ** 2)
        out[k] = m
    return np.sqrt(out)


def simulate_lerp_norms(n_lerps: int, alpha: float = 0.05, *, sublayer_error: float = 0.0,
                        lerp_error: float = 0.0, lerp_factor: bool = True, d: int = 256,
                        n_samples: int = 500, seed=0) -> np.ndarray:
    """Monte Carlo of lerp_norms: n_samples streams in R^d, fresh uniform unit x per update.
    Returns the RMS norm after k = 0..n_lerps updates (compare with lerp_norms)."""
    _check_dim("n_lerps", n_lerps)
    _check_dim("d", d)
    _check_dim("n_samples", n_samples)
    a = _check_alpha(alpha)
    eps, c = _check_error("sublayer_error", sublayer_error), 1 + _check_error("lerp_error", lerp_error)
    g = c * (nu_lerp(a) if lerp_factor else 1.0)
    rng = as_rng(seed)
    h = sphere_points(n_samples, d, rng)
    out = [1.0]
    for _ in range(n_lerps):
        h = g * ((1 - a) * h + a * (1 + eps) * sphere_points(n_samples, d, rng))
        out.append(float(np.sqrt(np.mean(np.sum(h * h, axis=1)))))
    return np.array(out)


# --------------------------------------------------------------------------------------
# The attention average, and inputs that break the assumptions
# --------------------------------------------------------------------------------------


def attention_sq_sum(probs):
    """sum_j a_tj^2 per query position: E||o_t||^2 for o_t = sum_j a_tj v_j with independent
    zero-mean unit v_j (methods.md §4.3). 1 for one-hot attention, 1/t for uniform causal
    attention. numpy arrays or torch tensors of shape (..., T, T); returns (..., T).
    """
    return (probs * probs).sum(-1)


def dense_sq_sum(seq_len: int) -> np.ndarray:
    """sum_j a_tj^2 = 1/t for uniform causal attention over t = 1..T: the dense extreme."""
    _check_dim("seq_len", seq_len)
    return 1.0 / np.arange(1, seq_len + 1)


def mc_attention_sq_norm(weights, d_head: int = 64, n_samples: int = 2000, seed=0) -> tuple[float, float]:
    """Monte Carlo E||sum_j a_j v_j||^2 for one row of attention weights a and independent
    unit v_j uniform in R^{d_head}: (estimate, stderr); compare with attention_sq_sum(a)."""
    a = np.asarray(weights, dtype=float)
    if a.ndim != 1 or a.size < 1 or np.any(a < 0) or not np.all(np.isfinite(a)):
        raise ValueError(f"weights must be a 1-D array of finite non-negative numbers, got shape {a.shape}")
    _check_dim("d_head", d_head)
    _check_dim("n_samples", n_samples)
    rng = as_rng(seed)
    t = a.size
    s = np.concatenate([
        np.sum(np.einsum("j,bjd->bd", a, sphere_points(b * t, d_head, rng).reshape(b, t, d_head)) ** 2, axis=1)
        for b in batch_sizes(n_samples, t * d_head)
    ])
    return float(s.mean()), float(s.std(ddof=1) / math.sqrt(len(s)))


def effective_dimension(eigenvalues) -> float:
    """(sum lambda)^2 / sum lambda^2 for a covariance spectrum: d for isotropic inputs, k for
    inputs spread evenly over k directions. Norm fluctuations scale like 1/sqrt(this)."""
    lam = _check_nonneg("eigenvalues", eigenvalues)
    if lam.ndim != 1 or lam.sum() <= 0:
        raise ValueError(f"eigenvalues must be a 1-D array with a positive sum, got {eigenvalues!r}")
    return float(lam.sum() ** 2 / np.sum(lam * lam))


def mc_linear(d_in: int, d_out: int, *, n_samples: int = 2000, input_rank: int | None = None,
              decay: float = 0.0, alignment: float = 0.0, seed=0) -> dict:
    """||nu W x|| with nu = nu_linear(d_in, d_out), when x is NOT uniform on the sphere.

    Inputs: unit vectors in the span of the first k = input_rank coordinates (default all d_in),
    with variance i^(-decay) along coordinate i (decay 0: uniform on that sub-sphere;
    decay > 0: correlated, anisotropic inputs). Weights: unit rows whose squared mass in that
    k-dim input subspace is k/d_in + alignment (1 - k/d_in): alignment 0 is a random W
    (the lemma's assumption), 1 puts every row inside the subspace, as trained weights that
    read the directions the data uses would. Then E||W x||^2 = d_out * mass / k (exactly, for
    decay 0), so the right factor differs from nu by sqrt(k / (d_in * mass)).
    Returns dict(norms, estimate, stderr, closed, effective_dim): estimate is the factor that
    would give E||nu W x||^2 = 1, closed is nu_linear(d_in, d_out).
    """
    _check_dim("d_in", d_in)
    _check_dim("d_out", d_out)
    _check_dim("n_samples", n_samples)
    k = d_in if input_rank is None else input_rank
    _check_dim("input_rank", k)
    if k > d_in:
        raise ValueError(f"input_rank={k} exceeds d_in={d_in}")
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 <= decay < 10:
        raise ValueError(f"decay must be a number in [0, 10), got {decay!r}")
    if isinstance(alignment, bool) or not isinstance(alignment, (int, float)) or not 0 <= alignment <= 1:
        raise ValueError(f"alignment must be a number in [0, 1], got {alignment!r}")
    if alignment > 0 and k == d_in:
        raise ValueError("alignment needs an input subspace: set input_rank < d_in")
    rng = as_rng(seed)
    mass = k / d_in + alignment * (1 - k / d_in)
    g = rng.standard_normal((d_out, d_in))
    inside, outside = g.copy(), g.copy()
    inside[:, k:], outside[:, :k] = 0.0, 0.0
    W = math.sqrt(mass) * _normalize_rows(inside)
    if k < d_in:
        W = W + math.sqrt(1 - mass) * _normalize_rows(outside)
    scale = np.arange(1, k + 1, dtype=float) ** (-decay / 2)  # std along each input direction
    nu = nu_linear(d_in, d_out)
    sq = np.concatenate([
        np.sum((_normalize_rows(rng.standard_normal((b, k)) * scale) @ W[:, :k].T) ** 2, axis=1)
        for b in batch_sizes(n_samples, k + d_out)
    ])
    m, se_m = float(sq.mean()), float(sq.std(ddof=1) / math.sqrt(len(sq)))
    return dict(norms=nu * np.sqrt(sq), estimate=m ** -0.5, stderr=0.5 * se_m * m ** -1.5,
                closed=nu, effective_dim=effective_dimension(scale ** 2))
