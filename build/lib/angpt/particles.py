"""Tokens as interacting particles on the sphere: normalization as speed regulation.

The idealised model of Karagodin, Ge, Polyanskiy and Rigollet, "Normalization in Attention
Dynamics" (arXiv:2510.22026, NeurIPS 2025). Write each token as x_j = r_j theta_j with
theta_j on the unit sphere S^{d-1}, take Q = K = V = I, no MLP, full (non-causal) attention,
and let depth be the time t. The model has only attention, so one unit of time is one
attention layer, i.e. one block of a real network (whose MLP has no counterpart here); the
layer with 1-based index l runs over l - 1 <= t < l.

    A_j   = c(t) sum_k w_jk theta_k ,  w_jk = softmax_k(beta c(t)^2 <theta_j, theta_k>)
    dtheta_j/dt = P_{theta_j} A_j / s_j(t) ,   P_theta v = v - <theta, v> theta
    dr_j/dt     = (radial law of the scheme)

c(t) = 1 except for LN-Scaling. The normalization scheme enters only through the speed
factor s_j and the radial law (the paper's Table 2, plus the book's LN-Scaling):

    scheme       s_j(t)              dr_j/dt
    post-ln      1                   0            (on the sphere)
    pre-ln       r_j                 <theta_j, A_j>
    mix-ln       1 for t < tau,      0, then <theta_j, A_j>
                 r_j after
    peri-ln      r_j ||A_j||         <theta_j, A_j> / ||A_j||
    ngpt         ||A_j|| / alpha     0            (on the sphere)
    cod          sqrt(t + 1)         0            (the paper's "CoD" row, on the sphere)
    ln-scaling   r_j                 <theta_j, A_j>   with c(t) = 1/sqrt(t + 1)

Two LN-Scaling rows, which behave in opposite ways:
- 'cod' is the paper's idealisation of the curse-of-depth fix: tokens stay on the sphere and
  each step is damped by 1/sqrt(t + 1). It clusters *faster* than Pre-LN (whose 1/r_j ~ 1/t
  damps more).
- 'ln-scaling' is the LN-Scaling the book trains (chapter 10; Sun et al. 2025, official code
  `1/sqrt(layer_index + 1)` on the norm's output): a Pre-LN block whose sublayer reads
  N(x)/sqrt(l), l = t + 1 the 1-based layer. With Q = K = V = I that input scales the
  attention logits by 1/l and the output by 1/sqrt(l), and the radius still grows (by
  ~2 sqrt(t + 1)). It clusters *slower* than Pre-LN: in a cluster Var ~ t^{-1}, not t^{-2}.

Mix-LN follows Table 2's ODE: dr/dt = 0 before tau, so the Pre-LN growth starts from
r(tau) = r(0) (pass r0=1 to start it from a normalized stream instead).

Integration: explicit Euler with step dt, then every theta_j is renormalized to unit norm.
Everything is vectorised numpy; no torch, except inside `cosine_profile`, which measures the
same summary on a real network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SCHEMES = ("post-ln", "pre-ln", "mix-ln", "peri-ln", "ngpt", "cod", "ln-scaling")
INITS = ("symmetric", "random", "cone")

# Display names, and the book's preset each idealised scheme stands for (for colours:
# viz.color(PRESET_OF[scheme])). Pre-LN is the plain GPT preset.
NAMES = {
    "post-ln": "Post-LN", "pre-ln": "Pre-LN", "mix-ln": "Mix-LN", "peri-ln": "Peri-LN",
    "ngpt": "nGPT", "cod": "CoD (the paper's idealisation)", "ln-scaling": "LN-Scaling",
}
PRESET_OF = {  # 'cod' stands for no preset of the book (viz.color(None) is grey)
    "post-ln": "post-ln", "pre-ln": "gpt", "mix-ln": "mix-ln", "peri-ln": "peri-ln",
    "ngpt": "ngpt", "cod": None, "ln-scaling": "ln-scaling",
}
ON_SPHERE = ("post-ln", "ngpt", "cod")  # r_j = 1 throughout


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def _check_scheme(scheme) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; valid choices: {', '.join(map(repr, SCHEMES))}")


# Size guard: simulate_grid takes one Python-level Euler step per dt; beyond this it would run
# for many minutes (1e6 steps of 32 tokens take ~1 min on one core).
MAX_STEPS = 10**6


def _check_int(name: str, value, lo: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")


def _check_pos(name: str, value) -> None:
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _check_nonneg(name: str, value) -> None:
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


# --------------------------------------------------------------------------------------
# Initial states
# --------------------------------------------------------------------------------------


def initial_state(init: str, n: int, d: int, *, r0: float | None = None, delta: float = 0.05,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(theta, r): n unit vectors in R^d (rows, shape (n, d)) and their radii (shape (n,)).

    symmetric  theta_j = e_j, an orthonormal start (needs n <= d); radii r0 (default 1)
    random     x_j ~ N(0, I_d), theta_j = x_j/||x_j||; radii ||x_j|| (about sqrt(d)),
               or r0 for every token if r0 is given
    cone       theta_j = N(e_1 + eps u_j) with u_j unit and orthogonal to e_1, and
               eps^2 = delta/(2 - delta), so every pairwise cosine is >= 1 - delta
               (Thm 4.3's cone); radii r0 (default 1)
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; valid choices: {', '.join(map(repr, INITS))}")
    _check_int("n", n, 2)
    _check_int("d", d, 2)
    if r0 is not None:
        _check_pos("r0", r0)
    rng = np.random.default_rng(seed)
    if init == "symmetric":
        if n > d:
            raise ValueError(f"the symmetric start needs n <= d, got n={n}, d={d}; use init='random' or 'cone'")
        theta = np.eye(n, d)
        r = np.full(n, 1.0 if r0 is None else float(r0))
    elif init == "random":
        x = rng.standard_normal((n, d))
        norms = np.linalg.norm(x, axis=1)
        theta = x / norms[:, None]
        r = norms if r0 is None else np.full(n, float(r0))
    else:
        if not (isinstance(delta, (int, float)) and 0.0 < delta < 1.0):
            raise ValueError(f"cone width delta must lie in (0, 1), got {delta!r}")
        u = rng.standard_normal((n, d))
        u[:, 0] = 0.0  # orthogonal to the cone's axis e_1
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        eps = math.sqrt(delta / (2.0 - delta))
        x = u * eps
        x[:, 0] = 1.0
        theta = x / np.linalg.norm(x, axis=1, keepdims=True)
        r = np.full(n, 1.0 if r0 is None else float(r0))
    return theta, r


# --------------------------------------------------------------------------------------
# The vector field
# --------------------------------------------------------------------------------------

# Table 2 as four switches per scheme, so that a batch of schemes integrates in one loop:
#   c(t)    = (t + 1)^(-in_power)                                    (LN-Scaling's input scale)
#   s_j(t)  = r_j^[radial on] * (||A_j|| if by_norm_A) * (t + 1)^time_power / gain   (gain = alpha for nGPT)
#   dr_j/dt = [radial on] * <theta_j, A_j> / (||A_j|| if by_norm_A)
# "radial on" (never / always / after tau) is when the stream is not normalized: then the token
# has a radius that grows and divides its speed; on the sphere neither happens, whatever r holds.
#             by_norm_A  time_power  in_power  radial
_RULES = {
    "post-ln":    (False,    0.0,        0.0,      "never"),
    "pre-ln":     (False,    0.0,        0.0,      "always"),
    "mix-ln":     (False,    0.0,        0.0,      "after_tau"),  # Post-LN for t < tau
    "peri-ln":    (True,     0.0,        0.0,      "always"),
    "ngpt":       (True,     0.0,        0.0,      "never"),
    "cod":        (False,    0.5,        0.0,      "never"),
    "ln-scaling": (False,    0.0,        0.5,      "always"),
}


class _Field:
    """The velocity field of a batch of (scheme, beta) pairs sharing n, d, alpha and tau."""

    def __init__(self, schemes, betas, alpha: float, tau: float):
        self.beta = np.asarray(betas, dtype=float)[:, None, None]  # (B, 1, 1)
        self.by_norm_A = np.array([_RULES[s][0] for s in schemes])[:, None]  # (B, 1)
        self.time_power = np.array([_RULES[s][1] for s in schemes])[:, None]  # (B, 1)
        self.in_power = np.array([_RULES[s][2] for s in schemes])[:, None, None]  # (B, 1, 1)
        self.gain = np.array([alpha if s == "ngpt" else 1.0 for s in schemes])[:, None]  # (B, 1)
        self.always = np.array([_RULES[s][3] == "always" for s in schemes])  # (B,)
        self.after_tau = np.array([_RULES[s][3] == "after_tau" for s in schemes])  # (B,)
        self.tau = tau

    def __call__(self, theta: np.ndarray, r: np.ndarray, t: float):
        """theta (B, n, d) unit rows, r (B, n) -> (dtheta/dt (B, n, d), dr/dt (B, n), G (B, n, n))."""
        G = theta @ theta.transpose(0, 2, 1)  # (B, n, n) pairwise cosines
        c = (t + 1.0) ** -self.in_power  # (B, 1, 1) the sublayer reads c theta (LN-Scaling)
        # softmax_k(beta c^2 G_jk); the row maximum is the diagonal G_jj = 1, so subtract it
        W = np.exp(self.beta * c**2 * (G - 1.0))
        W /= W.sum(axis=-1, keepdims=True)
        A = c * (W @ theta)  # (B, n, d) attention outputs A_j (values c theta_k)
        radial = np.einsum("bnd,bnd->bn", theta, A)  # <theta_j, A_j>
        PA = A - radial[..., None] * theta  # tangent projection P_{theta_j} A_j
        norm_A = np.where(self.by_norm_A, np.sqrt(np.einsum("bnd,bnd->bn", A, A)), 1.0)
        on = (self.always | (self.after_tau & (t >= self.tau)))[:, None]  # (B, 1) radius in play
        s = np.where(on, r, 1.0) * norm_A * (t + 1.0) ** self.time_power / self.gain  # (B, n) speed factors
        dr = on * radial / norm_A
        return PA / s[..., None], dr, G


def velocity(scheme: str, theta: np.ndarray, r: np.ndarray, t: float, beta: float,
             alpha: float = 1.0, tau: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(dtheta/dt (n, d), dr/dt (n,)) of one scheme at time t, for unit rows theta (n, d) and radii r (n,)."""
    _check_scheme(scheme)
    _check_pos("beta", beta)
    _check_pos("alpha", alpha)  # nGPT divides by it: 0 would give a silent zero velocity
    _check_nonneg("tau", tau)
    _check_nonneg("t", t)
    theta, r = np.asarray(theta, dtype=float), np.asarray(r, dtype=float)
    if theta.ndim != 2 or theta.shape[0] < 1 or theta.shape[1] < 1:
        raise ValueError(f"theta must be an (n, d) array of unit rows, got shape {theta.shape}")
    norms = np.linalg.norm(theta, axis=1)
    if not np.all(np.abs(norms - 1.0) <= 1e-6):
        raise ValueError(f"theta must have unit rows (token directions on the sphere), got row norms in "
                         f"[{norms.min():.6g}, {norms.max():.6g}]; divide each row by its norm")
    if r.shape != (theta.shape[0],) or not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise ValueError(f"r must hold one positive finite radius per row of theta, shape ({theta.shape[0]},), "
                         f"got shape {r.shape}")
    v, dr, _ = _Field([scheme], [beta], alpha, tau)(theta[None], r[None], t)
    return v[0], dr[0]


# --------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParticleRun:
    """Summaries of one simulated trajectory, one entry per recorded time.

    t        (R,)   times (t = i * dt at the recorded steps; depth in layers)
    cosine   (R,)   mean pairwise cosine (sum_{j != k} <theta_j, theta_k>) / (n (n - 1))
    spread   (R,)   spread around the centroid, (1/n) sum_j ||theta_j - mean theta||^2
                    (the "Var" of Thm 4.3; computed from differences, so it stays accurate
                    down to ~1e-30, far below the float64 floor of 1 - cosine)
    radii    (R, n) token radii r_j (1 for the schemes that stay on the sphere)
    speed    (R,)   mean angular speed (1/n) sum_j ||dtheta_j/dt||
    states   (R, n, d) the unit vectors theta_j, only with keep_states=True, else None
    """

    scheme: str
    init: str
    n: int
    d: int
    beta: float
    dt: float
    alpha: float
    tau: float
    t: np.ndarray
    cosine: np.ndarray
    spread: np.ndarray
    radii: np.ndarray
    speed: np.ndarray
    states: np.ndarray | None = field(default=None, repr=False)

    @property
    def mean_radius(self) -> np.ndarray:
        return self.radii.mean(axis=1)

    def at(self, t: float) -> int:
        """Index of the recorded time closest to t."""
        return int(np.argmin(np.abs(self.t - t)))


def simulate_grid(schemes=SCHEMES, betas=(1.0,), n: int = 32, d: int = 16, *, T: float = 10.0,
                  dt: float = 0.01, init: str = "random", alpha: float = 1.0, tau: float | None = None,
                  r0: float | None = None, delta: float = 0.05, seed: int = 0, record_every: int = 1,
                  keep_states: bool = False) -> dict[tuple[str, float], ParticleRun]:
    """Simulate every (scheme, beta) pair from the same initial state, in one vectorised loop.

    Returns {(scheme, beta): ParticleRun}. n tokens in dimension d; T is the horizon and dt
    the Euler step (one attention layer, i.e. one block, is one unit of time); the state is
    recorded at t = 0, every `record_every` steps, and at the end. alpha: nGPT's step size ("eigen learning rate",
    constant here). tau: length of Mix-LN's Post-LN phase (default T/4, like the mix-ln
    preset's mix_fraction = 0.25). See `initial_state` for init, r0, delta and seed.
    """
    schemes, betas = list(schemes), list(betas)
    if not schemes or not betas:
        raise ValueError("need at least one scheme and one beta")
    for s in schemes:
        _check_scheme(s)
    for b in betas:
        _check_pos("beta", b)
    betas = [float(b) for b in betas]
    _check_int("n", n, 2)
    _check_int("d", d, 2)
    _check_pos("T", T)
    _check_pos("dt", dt)
    _check_pos("alpha", alpha)
    _check_int("record_every", record_every, 1)
    _check_int("seed", seed, 0)
    if T / dt > MAX_STEPS:
        raise ValueError(f"T/dt = {T / dt:.3g} Euler steps (T={T!r}, dt={dt!r}) exceeds the size guard "
                         f"MAX_STEPS={MAX_STEPS:.0e}: use a larger dt or a shorter T")
    tau = 0.25 * T if tau is None else tau
    _check_nonneg("tau", tau)
    theta0, r0_ = initial_state(init, n, d, r0=r0, delta=delta, seed=seed)

    pairs = [(s, b) for s in schemes for b in betas]
    B = len(pairs)
    field_ = _Field([s for s, _ in pairs], [b for _, b in pairs], alpha, tau)
    theta = np.repeat(theta0[None], B, axis=0)  # (B, n, d)
    # the stream is normalized after every step (Post-LN, nGPT, CoD): r = 1. Mix-LN keeps r(0)
    # through its Post-LN phase (Table 2: dr/dt = 0 there, and s = 1 does not read r)
    on_sphere = np.array([s in ON_SPHERE for s, _ in pairs])
    r = np.where(on_sphere[:, None], 1.0, r0_[None, :])  # (B, n)

    steps = max(1, int(round(T / dt)))
    R = steps // record_every + 1 + (steps % record_every != 0)  # every record_every-th step, and the last
    out_t, out_cos, out_spread = np.empty(R), np.empty((R, B)), np.empty((R, B))
    out_r, out_speed = np.empty((R, B, n)), np.empty((R, B))
    out_states = np.empty((R, B, n, d)) if keep_states else None
    k = 0
    for i in range(steps + 1):
        t = i * dt
        v, dr, G = field_(theta, r, t)
        if i % record_every == 0 or i == steps:
            centred = theta - theta.mean(axis=1, keepdims=True)  # (B, n, d)
            out_t[k] = t
            out_cos[k] = (G.sum(axis=(1, 2)) - np.trace(G, axis1=1, axis2=2)) / (n * (n - 1))
            out_spread[k] = np.einsum("bnd,bnd->b", centred, centred) / n
            out_r[k] = r
            out_speed[k] = np.sqrt(np.einsum("bnd,bnd->bn", v, v)).mean(axis=1)
            if keep_states:
                out_states[k] = theta
            k += 1
        if i == steps:
            break
        theta = theta + dt * v  # explicit Euler on the sphere ...
        theta /= np.sqrt(np.einsum("bnd,bnd->bn", theta, theta))[..., None]  # ... then back onto it
        r = r + dt * dr
    return {
        (s, b): ParticleRun(s, init, n, d, b, float(dt), float(alpha), float(tau), out_t.copy(),
                            out_cos[:, j].copy(), out_spread[:, j].copy(), out_r[:, j].copy(),
                            out_speed[:, j].copy(), None if out_states is None else out_states[:, j].copy())
        for j, (s, b) in enumerate(pairs)
    }


def simulate(scheme: str, n: int = 32, d: int = 16, beta: float = 1.0, **kw) -> ParticleRun:
    """Simulate n tokens in dimension d at inverse temperature beta under one scheme.

    Keyword arguments as in `simulate_grid` (T, dt, init, alpha, tau, r0, delta, seed,
    record_every, keep_states).
    """
    _check_scheme(scheme)
    _check_pos("beta", beta)
    return simulate_grid([scheme], [beta], n, d, **kw)[(scheme, float(beta))]


# --------------------------------------------------------------------------------------
# Theory (the paper's Theorem 4.1, symmetric start) and its numerical check
# --------------------------------------------------------------------------------------


def initial_velocity(scheme: str, n: int, beta: float, *, r0: float = 1.0, alpha: float = 1.0,
                     tau: float = 1.0) -> float:
    """Closed form of dgamma/dt at t = 0 from the orthonormal start (Thm 4.1).

    gamma(t) = <theta_j, theta_k> for any j != k, and dgamma/dt(0) = (1/s_j + 1/s_k)/(e^beta + n - 1),
    with ||A_j(0)|| = sqrt(e^{2 beta} + n - 1)/(e^beta + n - 1) for Peri-LN and nGPT:

        post-ln, cod, mix-ln (tau > 0)          2 / (e^beta + n - 1)
        pre-ln, ln-scaling, mix-ln (tau = 0)    2 / (r0 (e^beta + n - 1))   (c(0) = 1)
        peri-ln                                 2 / (r0 sqrt(e^{2 beta} + n - 1))
        ngpt                                    2 alpha / sqrt(e^{2 beta} + n - 1)
    """
    _check_scheme(scheme)
    _check_int("n", n, 2)
    _check_pos("beta", beta)
    _check_pos("r0", r0)
    _check_pos("alpha", alpha)
    _check_nonneg("tau", tau)
    log_n1 = math.log(n - 1)
    # computed in logs so that large beta does not overflow
    log_z = np.logaddexp(beta, log_n1)  # log(e^beta + n - 1)
    log_z2 = 0.5 * np.logaddexp(2.0 * beta, log_n1)  # log sqrt(e^{2 beta} + n - 1)
    if scheme in ("post-ln", "cod") or (scheme == "mix-ln" and tau > 0):
        return float(2.0 * math.exp(-log_z))
    if scheme in ("pre-ln", "ln-scaling", "mix-ln"):
        return float(2.0 * math.exp(-log_z) / r0)
    if scheme == "peri-ln":
        return float(2.0 * math.exp(-log_z2) / r0)
    return float(2.0 * alpha * math.exp(-log_z2))  # ngpt


def measured_initial_velocity(scheme: str, n: int, beta: float, *, d: int | None = None,
                              r0: float = 1.0, alpha: float = 1.0, tau: float = 1.0,
                              dt: float = 1e-6) -> float:
    """dgamma/dt at t = 0 measured by one Euler step of the simulation from the orthonormal start.

    gamma(0) = 0 for every pair, so the slope is the mean pairwise cosine after one step / dt.
    """
    run = simulate(scheme, n, d or n, beta, T=dt, dt=dt, init="symmetric", alpha=alpha, tau=tau, r0=r0)
    return float((run.cosine[-1] - run.cosine[0]) / dt)


def log_slope(x: np.ndarray, y: np.ndarray, lo: float, hi: float, *, log_x: bool = False) -> float:
    """Least-squares slope of log(y) against x (or log x) over lo <= x <= hi.

    Exponential decay y ~ e^{-c x} gives slope -c on the (x, log y) line; a power law
    y ~ x^{-p} gives slope -p on the (log x, log y) line (log_x=True).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = (x >= lo) & (x <= hi) & (y > 0)
    if keep.sum() < 2:
        raise ValueError(f"need at least 2 positive points in [{lo}, {hi}], got {int(keep.sum())}")
    xs = np.log(x[keep]) if log_x else x[keep]
    return float(np.polyfit(xs, np.log(y[keep]), 1)[0])


# --------------------------------------------------------------------------------------
# The same summary on a real network
# --------------------------------------------------------------------------------------


def mean_pairwise_cosine(x) -> float:
    """Mean pairwise cosine among the tokens of each sequence, averaged over the batch.

    x: (B, T, D) numpy array or torch tensor (T >= 2). Pairs j != k only.
    """
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] < 2:
        raise ValueError(f"need a (batch, tokens >= 2, dim) array, got shape {x.shape}")
    u = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-30)
    G = u @ u.transpose(0, 2, 1)  # (B, T, T)
    T = x.shape[1]
    per_seq = (G.sum(axis=(1, 2)) - np.trace(G, axis1=1, axis2=2)) / (T * (T - 1))
    return float(per_seq.mean())


def cosine_profile(model, idx, hooks=None) -> dict[str, float]:
    """Mean pairwise cosine of the token representations, hook by hook, in a real network.

    model: an angpt Transformer (anything with `run_with_cache` and `cfg.n_layers`);
    idx: LongTensor (B, T). hooks: the hook names to read, by default the embedding and
    the residual stream after every block (`hook_embed`, `blocks.{i}.hook_resid_post`), so
    entry i is "after i blocks", the analogue of the particles at time t = i (one unit of
    time per block: the particle model has attention only, so a block's MLP has no counterpart).
    Returns {hook name: mean pairwise cosine among tokens of a sequence, averaged over the batch}.
    """
    import torch  # only here: the rest of the module is numpy-only

    if not (hasattr(model, "run_with_cache") and hasattr(getattr(model, "cfg", None), "n_layers")):
        raise ValueError(f"cosine_profile expects an angpt Transformer (run_with_cache and cfg.n_layers), "
                         f"got {type(model).__name__}")
    if hooks is None:
        hooks = ["hook_embed"] + [f"blocks.{i}.hook_resid_post" for i in range(model.cfg.n_layers)]
    hooks = list(hooks)
    param = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    if param is not None and isinstance(idx, torch.Tensor):
        idx = idx.to(param.device)  # a model trained on the GPU reads text from the CPU
    with torch.no_grad():
        _, cache = model.run_with_cache(idx, names_filter=hooks)
    missing = [h for h in hooks if h not in cache]
    if missing:
        raise ValueError(f"hooks {missing} not in the model's cache; valid choices: {list(model.hook_names)}")
    return {h: mean_pairwise_cosine(cache[h]) for h in hooks}


__all__ = [
    "SCHEMES", "INITS", "NAMES", "PRESET_OF", "ParticleRun", "initial_state", "velocity",
    "simulate_grid", "simulate", "initial_velocity", "measured_initial_velocity", "log_slope",
    "mean_pairwise_cosine", "cosine_profile",
]
