"""Monte Carlo checks of every anGPT factor, and what happens when their assumptions fail.

Each factor of angpt.factors estimated by sampling (`mc_factor`, `mc_linear`, ...), the norm
of each component of a block, how an error in one factor compounds over the LERP updates of
a deep model, and the attention average on inputs that break the assumptions. Numpy only.
`angpt.concentration` re-exports every name.
"""

from __future__ import annotations

import math

import numpy as np

from .factors import ACTIVATIONS, _activation, _check_dim, _positive_moment, angpt_factors, nu_linear, nu_lerp
from .sampling import (_check_choice, _check_nonneg, _check_positive, _normalize_rows, _streams, as_rng,
                       batch_sizes, levy_radius, sphere_points, unit_rows)

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
    _positive_moment(m, fn, std)
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
    zero-mean unit v_j (the cross terms vanish in expectation). 1 for one-hot attention, 1/t for uniform causal
    attention. numpy arrays or torch tensors of shape (..., T, T); returns (..., T).
    """
    if not (hasattr(probs, "shape") and hasattr(probs, "dtype")):
        try:  # nested lists of numbers are fine
            probs = np.asarray(probs, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"probs must be an array of attention weights of shape (..., T, T), got "
                             f"{probs!r} ({type(probs).__name__})") from None
    floating = getattr(probs.dtype, "is_floating_point", None)  # torch dtypes have it, numpy's not
    if probs.ndim < 1 or not (floating if floating is not None else np.issubdtype(probs.dtype, np.number)):
        raise ValueError(f"probs must be a numeric array of shape (..., T, T), got dtype {probs.dtype} "
                         f"and shape {tuple(probs.shape)}")
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


__all__ = ["mc_factor", "mc_linear", "FACTORS", "COMPONENTS", "closed_form_factor", "mc_activation_factor", "component_norms", "operator_norm", "norm_spread", "lerp_norms", "simulate_lerp_norms", "attention_sq_sum", "dense_sq_sum", "mc_attention_sq_norm", "effective_dimension"]
