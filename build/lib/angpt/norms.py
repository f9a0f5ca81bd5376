"""Per-layer norm tables from a cache, and recording them while a model trains.

Chapters 3 to 6 and 10 use this module (through `angpt.tracking`, which adds the norm-lab
grid): `norm_profile` measures the token norms at every hook of one forward pass;
`sublayer_profile` what each sublayer reads and writes; `NormRecorder` keeps the same table
(plus weight-row norms and the learned scales) every k steps of a training run, on a fixed
probe batch. The training loop imports this module, so it imports nothing that trains.

Everything returned is plain Python (lists of dicts of floats), so plotly, json and
pandas take it as is.

Conventions
-----------
* The norm of a token is the L2 norm of its vector over the last dim (d_model): nGPT
  and anGPT keep it near 1; a GPT with init std sigma starts near sigma * sqrt(d).
* `std` is the population std (divide by n): then mean^2 + std^2 = E||x||^2 exactly,
  which `expected_growth_from_profile` relies on.
* Residual depth: `hook_embed` has layer -1, block hooks their block index i, and
  `hook_final` layer n_layers. `residual_profile` maps this to "stream after l blocks",
  l = 0 (the embedding) .. n_layers.
"""

from __future__ import annotations

import math
import re
import time
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from .constraints import constrained_weights

# The hook sites whose tensors are token vectors of width d_model, in forward order.
SITES = ("embed", "resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post", "final")
STAT_KEYS = ("mean", "std", "min", "max")
_BLOCK_HOOK = re.compile(r"^blocks\.(\d+)\.hook_(\w+)$")


# --------------------------------------------------------------------------------------
# Pure statistics (no model needed)
# --------------------------------------------------------------------------------------


def token_norms(x: torch.Tensor) -> torch.Tensor:
    """L2 norm of every token vector: (..., d) -> (N,) flattened, in float32."""
    if not isinstance(x, torch.Tensor) or x.dim() < 1 or x.shape[-1] == 0:
        raise ValueError(f"token_norms needs a tensor of shape (..., d) with d >= 1, got {_describe(x)}")
    return x.detach().float().reshape(-1, x.shape[-1]).norm(dim=-1)


def summarize(values: torch.Tensor) -> dict[str, float]:
    """mean, std (population), min, max of a 1-D tensor of values, as floats."""
    v = values.detach().float().reshape(-1)
    if v.numel() == 0:
        raise ValueError("summarize needs at least one value, got an empty tensor")
    return {
        "mean": v.mean().item(),
        "std": v.std(unbiased=False).item(),  # population std: mean^2 + std^2 = E v^2
        "min": v.min().item(),
        "max": v.max().item(),
    }


def norm_stats(x: torch.Tensor) -> dict[str, float]:
    """Statistics of the token norms of x (..., d)."""
    return summarize(token_norms(x))


def parse_hook(name: str, n_layers: int | None = None) -> tuple[int, str]:
    """(layer, site) of a hook name: 'blocks.3.hook_resid_pre' -> (3, 'resid_pre').

    'hook_embed' -> (-1, 'embed'); 'hook_final' -> (n_layers, 'final'), so n_layers is
    required for it. Other names raise ValueError.
    """
    if name == "hook_embed":
        return -1, "embed"
    if name == "hook_final":
        if n_layers is None:
            raise ValueError("parse_hook('hook_final') needs n_layers to place it after the last block")
        return n_layers, "final"
    m = _BLOCK_HOOK.match(name)
    if not m:
        raise ValueError(
            f"unknown hook name {name!r}; valid: 'hook_embed', 'blocks.{{i}}.hook_<site>', 'hook_final'"
        )
    return int(m.group(1)), m.group(2)


def profile_from_cache(cache: dict[str, torch.Tensor], n_layers: int,
                       sites: Iterable[str] = SITES) -> list[dict]:
    """One record {hook, layer, site, mean, std, min, max} per cached hook whose site is
    in `sites`, in the cache's order. Other hooks (attention patterns, ...) are skipped."""
    keep = _site_filter(_check_sites(sites), n_layers)
    names = [n for n in cache if keep(n)]
    records = []
    for name, row in zip(names, _stat_rows([cache[n] for n in names])):
        layer, site = parse_hook(name, n_layers)
        records.append({"hook": name, "layer": layer, "site": site, **dict(zip(STAT_KEYS, row))})
    return records


def residual_profile(records: Sequence[dict]) -> dict[str, np.ndarray]:
    """The residual stream after l blocks, l = 0..L: hook_embed then each resid_post.

    Returns arrays `depth` (0..L), `mean`, `std`, `min`, `max` and `sq` = E||x||^2.
    """
    by_hook = {r["hook"]: r for r in records}
    if "hook_embed" not in by_hook:
        raise ValueError("residual_profile needs the 'hook_embed' record (use sites including 'embed')")
    rows = [by_hook["hook_embed"]]
    i = 0
    while f"blocks.{i}.hook_resid_post" in by_hook:
        rows.append(by_hook[f"blocks.{i}.hook_resid_post"])
        i += 1
    out = {k: np.array([r[k] for r in rows], dtype=float) for k in STAT_KEYS}
    out["depth"] = np.arange(len(rows))
    out["sq"] = out["mean"] ** 2 + out["std"] ** 2
    return out


def expected_preln_growth(embed_sq: float, update_sq) -> np.ndarray:
    """Expected residual norm of pre-LN after each update, if the updates are independent.

    Pre-LN adds each sublayer's output to the stream: x_k = x_0 + f_1 + ... + f_k. If the
    f_j are zero-mean and independent of each other and of x_0, the cross terms vanish in
    expectation and E||x_k||^2 = E||x_0||^2 + sum_{j<=k} E||f_j||^2 (Xiong et al. 2020).
    Each f_j reads a *normalized* input, so E||f_j||^2 does not grow with the stream: with
    a constant c the norm grows like sqrt(E||x_0||^2 + k c), the sqrt(depth) law.

    embed_sq   E||x_0||^2
    update_sq  E||f_j||^2, a sequence (one per update) or a float with `n` = len: use
               `np.full(n, c)` for a constant update size
    Returns sqrt(E||x_k||^2) for k = 0..len(update_sq), length len(update_sq) + 1.
    """
    if not (isinstance(embed_sq, (int, float, np.floating)) and embed_sq >= 0 and math.isfinite(embed_sq)):
        raise ValueError(f"embed_sq must be a finite number >= 0, got {embed_sq!r}")
    upd = np.asarray(update_sq, dtype=float).reshape(-1)
    if upd.size == 0 or (upd < 0).any() or not np.isfinite(upd).all():
        raise ValueError(f"update_sq must be a non-empty sequence of finite numbers >= 0, got {update_sq!r}")
    return np.sqrt(embed_sq + np.concatenate([[0.0], np.cumsum(upd)]))


def expected_growth_from_profile(records: Sequence[dict]) -> dict[str, np.ndarray]:
    """Measured sublayer outputs -> the residual norm they would give if independent.

    Takes E||x_0||^2 from hook_embed and E||f||^2 from each block's hook_attn_out and
    hook_mlp_out (in order), and returns per block boundary l = 0..L: `depth`, the
    `expected` norm sqrt(E||x_0||^2 + sum of E||f||^2 so far), and the `measured`
    sqrt(E||x_l||^2) from resid_post, so a chapter can put both side by side.
    """
    by_hook = {r["hook"]: r for r in records}
    upd = []
    i = 0
    while f"blocks.{i}.hook_attn_out" in by_hook and f"blocks.{i}.hook_mlp_out" in by_hook:
        for site in ("attn_out", "mlp_out"):
            r = by_hook[f"blocks.{i}.hook_{site}"]
            upd.append(r["mean"] ** 2 + r["std"] ** 2)
        i += 1
    if not upd:
        raise ValueError("expected_growth_from_profile needs attn_out and mlp_out records of block 0")
    res = residual_profile(records)
    e = by_hook["hook_embed"]
    expected = expected_preln_growth(e["mean"] ** 2 + e["std"] ** 2, upd)[::2]  # after each block
    n = min(len(expected), len(res["depth"]))
    return {"depth": res["depth"][:n], "expected": expected[:n], "measured": np.sqrt(res["sq"][:n])}


def heatmap(records: Sequence[dict], site: str = "resid_post", stat: str = "mean"):
    """(steps, layers, z) from recorder records: z[layer_index][step_index] of `stat`.

    Records must carry a 'step' key (NormRecorder.to_records()). Missing cells are NaN.
    """
    _check_sites([site])
    if stat not in STAT_KEYS:
        raise ValueError(f"unknown stat {stat!r}; valid choices: {', '.join(map(repr, STAT_KEYS))}")
    need = ("site", "step", "layer", stat)
    for i, r in enumerate(records):
        missing = [k for k in need if not isinstance(r, dict) or k not in r]
        if missing:
            raise ValueError(f"heatmap needs records with keys {list(need)} (NormRecorder.to_records()); "
                             f"record {i} lacks {missing}: {r!r}")
    rows = [r for r in records if r["site"] == site]
    steps = sorted({r["step"] for r in rows})
    layers = sorted({r["layer"] for r in rows})
    si = {s: j for j, s in enumerate(steps)}
    li = {l: j for j, l in enumerate(layers)}
    z = np.full((len(layers), len(steps)), np.nan)
    for r in rows:
        z[li[r["layer"]], si[r["step"]]] = r[stat]
    return steps, layers, z


# --------------------------------------------------------------------------------------
# Measuring a model
# --------------------------------------------------------------------------------------


def _stat_rows(tensors: Sequence[torch.Tensor]) -> list[list[float]]:
    """[mean, std, min, max] of the token norms of each tensor, with one device sync.

    Hooks of one model have the same number of tokens, so their norms stack into one
    (hooks, tokens) matrix and the four statistics are four reductions, not 4 per hook.
    """
    if not tensors:
        return []
    norms = [token_norms(x) for x in tensors]
    if len({n.numel() for n in norms}) == 1:
        n = torch.stack(norms)  # (hooks, tokens)
        std, mean = torch.std_mean(n, dim=1, unbiased=False)
        rows = torch.stack([mean, std, n.amin(dim=1), n.amax(dim=1)], dim=1)
    else:
        rows = torch.stack([torch.stack([n.mean(), n.std(unbiased=False), n.min(), n.max()]) for n in norms])
    return rows.cpu().tolist()


def _site_filter(sites: tuple[str, ...], n_layers: int) -> Callable[[str], bool]:
    def keep(name: str) -> bool:
        try:
            return parse_hook(name, n_layers)[1] in sites
        except ValueError:
            return False
    return keep


@torch.no_grad()
def norm_profile(model: torch.nn.Module, idx: torch.Tensor, sites: Iterable[str] = SITES) -> list[dict]:
    """Token-norm statistics at every hook of one forward pass of `model` on `idx` (B, T).

    Returns a list of records {hook, layer, site, mean, std, min, max}, in forward order,
    one per hook whose site is in `sites` (default: all token-vector hooks). The model is
    put in eval mode for the pass and restored after.
    """
    sites = _check_sites(sites)
    if not (hasattr(model, "run_with_cache") and hasattr(getattr(model, "cfg", None), "n_layers")):
        raise ValueError(f"norm_profile expects an angpt Transformer (run_with_cache and cfg.n_layers), "
                         f"got {type(model).__name__}")
    n_layers = model.cfg.n_layers
    was_training = model.training
    model.eval()
    try:
        _, cache = model.run_with_cache(idx, names_filter=_site_filter(sites, n_layers))
    finally:
        model.train(was_training)
    return profile_from_cache(cache, n_layers, sites)


def weight_row_norms(model: torch.nn.Module) -> dict[str, tuple[torch.Tensor, int]]:
    """{name: (param, dim)}: the matrices whose vector norms we track, and the dim of the vectors.

    nGPT/anGPT: exactly the constrained matrices (angpt.constraints.constrained_weights).
    GPT family: every 2-D weight, by rows (dim 1, the input dim of a Linear; the
    embedding vector of an Embedding), the same axis anGPT bounds.
    """
    if model.cfg.arch in ("ngpt", "angpt"):
        return {name: (p, dim) for name, p, dim in constrained_weights(model)}
    return {name: (p, 1) for name, p in model.named_parameters() if p.dim() == 2}


@torch.no_grad()
def weight_stats(model: torch.nn.Module, bound_tol: float = 1e-6) -> dict[str, dict[str, float]]:
    """Per matrix: mean/std/min/max of its vector norms, and `at_bound`, the fraction of
    vectors with norm >= 1 - bound_tol (meaningful for anGPT's ||w|| <= 1 bound)."""
    names, rows = [], []
    for name, (p, dim) in weight_row_norms(model).items():
        n = p.detach().float().norm(dim=dim)  # one norm per vector
        rows.append(torch.stack([n.mean(), n.std(unbiased=False), n.min(), n.max(),
                                 (n >= 1.0 - bound_tol).float().mean()]))
        names.append(name)
    if not rows:
        return {}
    values = torch.stack(rows).cpu().tolist()
    return {name: dict(zip((*STAT_KEYS, "at_bound"), row)) for name, row in zip(names, values)}


@torch.no_grad()
def scale_stats(model: torch.nn.Module) -> dict[str, dict[str, float]]:
    """mean/min/max of every learned scale (model.scales(): alphas, s_qk, s_z, norm gains)."""
    scales = model.scales() if hasattr(model, "scales") else {}
    names = list(scales)
    if not names:
        return {}
    rows = torch.stack([torch.stack([v.float().mean(), v.float().min(), v.float().max()])
                        for v in (scales[n].detach().reshape(-1) for n in names)]).cpu().tolist()
    return {n: dict(zip(("mean", "min", "max"), r)) for n, r in zip(names, rows)}


@torch.no_grad()
def sublayer_profile(model, idx: torch.Tensor) -> dict:
    """Per sublayer k = 1 .. 2L (attention, MLP, attention, ...), as the RMS ||x|| / sqrt(d)
    averaged over the tokens of `idx`:
      input   what the sublayer reads (after its input norm, LN-Scaling's 1/sqrt(l), DyT, ...)
      output  what it contributes (after Peri-LN's output norm; hook_attn_out / hook_mlp_out)
      stream  the residual stream after its update (hook_resid_mid / hook_resid_post)
    and `embed`, the stream before the first block. Eval mode, restored after."""
    d = model.cfg.d_model
    seen: dict[str, float] = {}
    handles = []
    for i, blk in enumerate(model.blocks):
        for site, mod in (("attn", blk.attn), ("mlp", blk.mlp)):
            def grab(_m, args, key=f"{i}.{site}"):
                seen[key] = float(args[0].float().norm(dim=-1).mean()) / math.sqrt(d)
            handles.append(mod.register_forward_pre_hook(grab))
    try:
        recs = norm_profile(model, idx, sites=("embed", "attn_out", "resid_mid", "mlp_out", "resid_post"))
    finally:
        for h in handles:
            h.remove()
    by = {r["hook"]: r["mean"] / math.sqrt(d) for r in recs}
    out = {"k": [], "input": [], "output": [], "stream": [], "embed": by["hook_embed"]}
    for i in range(model.cfg.n_layers):
        for site, out_hook, stream_hook in (("attn", "attn_out", "resid_mid"), ("mlp", "mlp_out", "resid_post")):
            out["k"].append(len(out["k"]) + 1)
            out["input"].append(seen[f"{i}.{site}"])
            out["output"].append(by[f"blocks.{i}.hook_{out_hook}"])
            out["stream"].append(by[f"blocks.{i}.hook_{stream_hook}"])
    return out


# --------------------------------------------------------------------------------------


class NormRecorder:
    """Keeps norm statistics of a training model every `every` steps.

    The training loop (angpt.train, TrainConfig.track_every > 0) calls
    `record(step, model)` after each optimizer step (after the weight constraint); the
    recorder ignores steps that are not multiples of `every`. Each record is measured on
    one fixed probe batch under torch.no_grad, so records are comparable across steps
    and cost one small forward pass.

    probe   LongTensor (B, T) of token ids; default: `probe_batch` x `probe_len` random
            tokens drawn once with `seed` (set_probe() replaces it, e.g. by real text)
    sites   which hook sites to keep (default all token-vector sites)
    weights also keep weight-vector norms and the learned scales

    history     list of dicts {step, norms: [profile records], weights: {...},
                scales: {...}, seconds: time this record took}
    to_records()         flat norm records with a 'step' key, for plotly / heatmap()
    weight_records(), scale_records()   the same for weights and scales
    """

    def __init__(self, every: int = 10, probe: torch.Tensor | None = None, *, probe_batch: int = 4,
                 probe_len: int = 64, seed: int = 0, sites: Iterable[str] = SITES, weights: bool = True):
        for name, v in (("every", every), ("probe_batch", probe_batch), ("probe_len", probe_len)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.every = every
        self.probe_batch, self.probe_len, self.seed = probe_batch, probe_len, seed
        self.sites = _check_sites(sites)
        self.weights = weights
        self.probe = None
        if probe is not None:
            self.set_probe(probe)
        self.history: list[dict] = []

    def set_probe(self, idx: torch.Tensor) -> None:
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.dtype not in (torch.long, torch.int):
            raise ValueError(f"probe must be an integer tensor of shape (B, T), got {_describe(idx)}")
        self.probe = idx.detach().long()

    def _default_probe(self, model) -> torch.Tensor:
        cfg = model.cfg
        g = torch.Generator().manual_seed(self.seed)
        t = min(self.probe_len, cfg.seq_len)
        return torch.randint(0, cfg.vocab_size, (self.probe_batch, t), generator=g)

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def record(self, step: int, model: torch.nn.Module, force: bool = False) -> dict:
        """Measure now if `step` is due (or force); return the new entry, else {}."""
        if not force and not self.due(step):
            return {}
        t0 = time.perf_counter()
        if self.probe is None:
            self.probe = self._default_probe(model)
        device = next(model.parameters()).device
        if self.probe.device != device:
            self.probe = self.probe.to(device)
        entry = {"step": int(step), "norms": norm_profile(model, self.probe, self.sites)}
        if self.weights:
            entry["weights"] = weight_stats(model)
            entry["scales"] = scale_stats(model)
        entry["seconds"] = time.perf_counter() - t0
        self.history.append(entry)
        return entry

    @property
    def seconds(self) -> float:
        """Total time spent recording."""
        return sum(e["seconds"] for e in self.history)

    def to_records(self) -> list[dict]:
        """[{step, hook, layer, site, mean, std, min, max}, ...] over the whole history."""
        return [{"step": e["step"], **r} for e in self.history for r in e["norms"]]

    def weight_records(self) -> list[dict]:
        """[{step, name, mean, std, min, max, at_bound}, ...]"""
        return [{"step": e["step"], "name": n, **s} for e in self.history for n, s in e.get("weights", {}).items()]

    def scale_records(self) -> list[dict]:
        """[{step, name, mean, min, max}, ...]"""
        return [{"step": e["step"], "name": n, **s} for e in self.history for n, s in e.get("scales", {}).items()]


# --------------------------------------------------------------------------------------
# nGPT's step on the sphere: LERP-then-normalize against SLERP (chapter 4)
# --------------------------------------------------------------------------------------


def lerp_angle(alpha, theta):
    """Angle moved by nGPT's update Norm(h + alpha (x - h)) from h toward x, for unit h, x
    at angle theta: in the plane of h and x the point is (1 - alpha + alpha cos theta,
    alpha sin theta), so the angle is atan2(alpha sin theta, 1 - alpha + alpha cos theta).
    SLERP would move exactly alpha * theta. Works on floats and numpy arrays."""
    alpha, theta = np.asarray(alpha, dtype=float), np.asarray(theta, dtype=float)
    if (alpha < 0).any() or (alpha > 1).any():
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
    return np.arctan2(alpha * np.sin(theta), 1.0 - alpha + alpha * np.cos(theta))


def measured_lerp_angle(alpha: float, theta: float, d: int = 64, n: int = 256, seed: int = 0) -> float:
    """The same angle measured: n random pairs (h, x) of unit vectors in R^d at angle theta,
    through angpt.layers.unit (the model's Norm); mean angle between h and the result."""
    for name, value in (("alpha", alpha), ("theta", theta)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
    for name, value, lo in (("d", d, 2), ("n", n, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    from .layers import unit

    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, d, 2, generator=g, dtype=torch.float64))  # (n, d, 2) orthonormal pairs
    h, e = q[..., 0], q[..., 1]
    x = math.cos(theta) * h + math.sin(theta) * e
    y = unit(h + alpha * (x - h))
    return torch.arccos((y * h).sum(-1).clamp(-1, 1)).mean().item()


@torch.no_grad()
def sublayer_angles(model: torch.nn.Module, idx: torch.Tensor) -> list[dict]:
    """Angle (degrees) between the stream and what each sublayer writes, per token.

    Per block i: 'attn' compares blocks.i.hook_resid_pre with hook_attn_out, 'mlp'
    compares hook_resid_mid with hook_mlp_out. This is the theta of the LERP step
    h -> h + alpha (h_X - h) in nGPT/anGPT (and the direction of the update in GPT).
    Returns [{layer, site, mean, std, min, max}] in degrees.
    """
    n_layers = model.cfg.n_layers
    wanted = [f"blocks.{i}.hook_{s}" for i in range(n_layers)
              for s in ("resid_pre", "attn_out", "resid_mid", "mlp_out")]
    was_training = model.training
    model.eval()
    try:
        _, cache = model.run_with_cache(idx, names_filter=wanted)
    finally:
        model.train(was_training)
    out, rows = [], []
    for i in range(n_layers):
        for site, (a, b) in (("attn", ("resid_pre", "attn_out")), ("mlp", ("resid_mid", "mlp_out"))):
            x, f = cache[f"blocks.{i}.hook_{a}"].float(), cache[f"blocks.{i}.hook_{b}"].float()
            cos = torch.nn.functional.cosine_similarity(x, f, dim=-1).clamp(-1, 1)
            rows.append(summarize(torch.rad2deg(torch.arccos(cos))))
            out.append({"layer": i, "site": site})
    return [{**o, **r} for o, r in zip(out, rows)]


def _check_sites(sites) -> tuple[str, ...]:
    sites = (sites,) if isinstance(sites, str) else tuple(sites)
    bad = [s for s in sites if s not in SITES]
    if bad or not sites:
        raise ValueError(f"unknown site(s) {bad or sites!r}; valid choices: {', '.join(map(repr, SITES))}")
    return sites


def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {tuple(x.shape)}"
    return f"{type(x).__name__}"


__all__ = ["SITES", "STAT_KEYS", "token_norms", "summarize", "norm_stats", "parse_hook", "profile_from_cache", "residual_profile", "expected_preln_growth", "expected_growth_from_profile", "heatmap", "norm_profile", "weight_row_norms", "weight_stats", "scale_stats", "sublayer_profile", "NormRecorder", "lerp_angle", "measured_lerp_angle", "sublayer_angles"]
