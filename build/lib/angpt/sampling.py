"""Concentration of measure: random vectors, their norms and angles, and the bounds on them.

Sampling (Gaussian vectors, uniform points on the sphere, unit-row weights), Monte Carlo
norm statistics against their closed forms, near-orthogonality, and the Gaussian and Levy
concentration inequalities. Numpy only. `angpt.concentration` re-exports every name.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .factors import _check_dim

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
    It lies in [d/sqrt(d+1), sqrt(d)] (Wendel's inequality for Gamma ratios), so sqrt(d) - E||g|| ~ 1/(4 sqrt(d)).
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
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (a sample variance needs two samples), got {n!r}")
    dims = _check_work("norm_stats", n, dims, lambda d: n * d)
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


# Size guard for the Monte Carlo sweeps: ~1e9 random numbers take tens of seconds on one
# core; far more would look like a hang.
MAX_SAMPLE_ELEMS = 10**9


def _check_dims(dims) -> list:
    if isinstance(dims, (str, bytes)) or not hasattr(dims, "__iter__"):
        raise ValueError(f"dims must be a list of integer dimensions, e.g. [4, 64], got {dims!r}")
    dims = list(dims)
    if not dims:
        raise ValueError("dims must list at least one dimension")
    for d in dims:
        _check_dim("each entry of dims", d)
    return dims


def _check_work(fn: str, n, dims, elems) -> list:
    dims = _check_dims(dims)
    total = sum(elems(int(d)) for d in dims)
    if total > MAX_SAMPLE_ELEMS:
        raise ValueError(f"{fn} with n={n} and dims={dims} would draw {total:.3g} numbers, more than the "
                         f"size guard MAX_SAMPLE_ELEMS={MAX_SAMPLE_ELEMS:.0e}; use fewer samples or dimensions")
    return dims


def _seed_int(seed) -> int:
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**63))
    as_rng(seed)  # validates
    return int(seed)


def _streams(dims, seed) -> list[tuple[int, np.random.SeedSequence]]:
    """(d, seed sequence) for each dimension: every d gets its own stream derived from seed,
    so adding a dimension to a sweep leaves the others' samples unchanged."""
    dims = _check_dims(dims)
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
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 3:
        raise ValueError(f"n_points must be an integer >= 3 (a spread needs at least two pairs), got {n_points!r}")
    dims = _check_work("cosine_stats", n_points, dims, lambda d: n_points * n_points + n_points * d)
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
    Thm 5.6). No d in it: ||g|| fluctuates by O(1) at every d.
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
    exp(-(d-2) t^2 / (2 L^2)) (Ledoux 2001, The Concentration of Measure Phenomenon, Ch. 5);
    the two-sided form doubles it. (A Euclidean L-Lipschitz f is also
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
    convex geometry, Lemma 2.2). Works on floats and arrays.
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


__all__ = ["as_rng", "batch_sizes", "gaussian_vectors", "sphere_points", "unit_rows", "VECTOR_KINDS", "gaussian_norm_mean", "gaussian_norm_var", "norm_samples", "chi_density", "sphere_coordinate_density", "norm_stats", "pairwise_cosines", "max_cosine_bound", "cosine_stats", "gaussian_concentration_bound", "levy_bound", "levy_radius", "cap_bound", "LIPSCHITZ_FUNCTIONS", "lipschitz_samples", "tail_probabilities"]
