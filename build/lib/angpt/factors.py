"""Every constant normalization factor anGPT uses, in closed form: the one source of nu.

The models (angpt.blocks, angpt.fold) read their factors from here; the book's derivations
check these very functions by Monte Carlo (angpt.factor_checks). `angpt.concentration`
re-exports every name, so `cm.nu_linear(...)` keeps working.

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
    if isinstance(alpha, (int, float, np.number)) and not isinstance(alpha, (bool, np.bool_)):
        # a scalar is a caller's LERP weight: it must be one (a learned alpha vector, below, may
        # leave [0, 1] during training and is taken as it is)
        if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
            raise ValueError(f"alpha must be finite and lie in [0, 1], got {alpha!r}")
        alpha = float(alpha)
        return 1.0 / math.sqrt(alpha * alpha + (1.0 - alpha) ** 2)
    if not (hasattr(alpha, "dtype") and hasattr(alpha, "shape")) or isinstance(alpha, bool):
        raise ValueError(f"alpha must be a number in [0, 1], a numpy array or a torch tensor, got "
                         f"{alpha!r} ({type(alpha).__name__})")
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
    return 1.0 / math.sqrt(_positive_moment(activation_second_moment(fn, std), fn, std))


def _positive_moment(m: float, fn, std) -> float:
    if not (m > 0 and math.isfinite(m)):  # e.g. f = 0: no factor can restore a zero output
        raise ValueError(f"activation {fn!r} has E f(x)^2 = {m!r} at std={std!r}; the factor "
                         f"1/sqrt(E f(x)^2) needs a positive finite second moment")
    return m


def mlp_gate_std(mlp_ratio: int = 4) -> float:
    """Std of the entries of anGPT's SiLU input: sqrt(d_m) * (unit vector in R^{ratio d_m})."""
    _check_dim("mlp_ratio", mlp_ratio)
    return 1.0 / math.sqrt(mlp_ratio)


def angpt_factors(d_model: int, n_heads: int, mlp_ratio: int = 4) -> dict[str, float]:
    """Every constant factor of an anGPT block, by name (Franke et al. 2025, arXiv:2505.22014; derived
    and checked on the book's page book/02_factors.md).

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
    _check_dim("mlp_ratio", mlp_ratio)
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


__all__ = ["nu_linear", "nu_lerp", "ACTIVATIONS", "activation_second_moment", "nu_activation", "mlp_gate_std", "angpt_factors"]
