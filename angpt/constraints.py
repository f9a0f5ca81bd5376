"""Weight constraints: nGPT's unit norm (= 1) and anGPT's norm bound (<= 1).

Which matrices and which axis (PyTorch layout W in R^{out x in}; `dim` is the axis the
norm is taken over, so dim=1 constrains rows, vectors in the input space, and dim=0
constrains columns, vectors in the output space):

    matrix              shape           nGPT (Loshchilov 2024)   anGPT (Franke 2025)
    embed.weight        V x d_m         dim 1 (rows)             dim 1 (rows)
    attn.qkv.weight     3 d_m x d_m     dim 1 (rows)             dim 1 (rows)
    attn.proj.weight    d_m x d_m       dim 0 (columns)          dim 1 (rows)
    mlp.fc.weight       2 d_mlp x d_m   dim 1 (rows)             dim 1 (rows)
    mlp.proj.weight     d_m x d_mlp     dim 0 (columns)          dim 1 (rows)
    head.weight         V x d_m         dim 1 (rows)             dim 1 (rows)

nGPT's rule is "unit along the embedding dimension d_m"; anGPT bounds every row over its
input dimension, the only axis consistent with its factors nu_p and nu_d. The scaling
vectors (alpha, s_qk, s_u, s_v, s_z) are not constrained.

cfg.constraint picks the projection: 'unit' w <- w / ||w||, 'bound' w <- w / max(1, ||w||),
'none' nothing. At init (`normalize_`, called by build_model) nGPT and anGPT weights are set
to norm exactly 1 along their axes whatever the projection. Both run in float32 and cast back.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
from torch import nn

AXES: dict[str, dict[str, int]] = {
    "ngpt": {"embed.weight": 1, "attn.qkv.weight": 1, "attn.proj.weight": 0,
             "mlp.fc.weight": 1, "mlp.proj.weight": 0, "head.weight": 1},
    "angpt": {"embed.weight": 1, "attn.qkv.weight": 1, "attn.proj.weight": 1,
              "mlp.fc.weight": 1, "mlp.proj.weight": 1, "head.weight": 1},
}


def constrained_weights(model: nn.Module) -> list[tuple[str, nn.Parameter, int]]:
    """(name, parameter, dim) for every constrained matrix of `model` ([] for GPT, folded)."""
    cfg = model.cfg
    if cfg.arch not in AXES or getattr(model, "folded", False):
        return []
    axes = AXES[cfg.arch]
    out = []
    for name, p in model.named_parameters():
        key = next((k for k in axes if name == k or name.endswith("." + k)), None)
        if key is not None:
            out.append((name, p, axes[key]))
    return out


def _check_model(model, fn: str) -> None:
    if not isinstance(model, nn.Module) or not hasattr(getattr(model, "cfg", None), "constraint"):
        raise ValueError(f"{fn} expects an angpt Transformer (a module with a ModelConfig as .cfg), "
                         f"got {type(model).__name__}")


# The projection runs over stacked rows: every constrained vector of one length goes into one
# (N, k) matrix (nGPT's column-constrained W_o, W_d enter transposed), is normalized there and
# copied back with one foreach copy. A handful of kernels per step, whatever the depth,
# instead of four per matrix. The plan (which parameters, which axis) is resolved once per
# model, not by name on every call.
_PLANS: "weakref.WeakKeyDictionary[nn.Module, list]" = weakref.WeakKeyDictionary()


def _plan(model: nn.Module) -> list[list[tuple[str, nn.Parameter, int]]]:
    """constrained_weights(model) grouped by vector length (cached per model)."""
    plan = _PLANS.get(model)
    if plan is None:
        groups: dict[int, list] = {}
        for name, p, dim in constrained_weights(model):
            groups.setdefault(p.shape[dim], []).append((name, p, dim))
        plan = _PLANS[model] = list(groups.values())
    return plan


def _project_groups_(groups: list[list[tuple[torch.Tensor, int]]], unit: bool, check: bool = False) -> list[torch.Tensor]:
    """Project every (parameter, dim) of each same-length group in place; with check, returns
    one all-finite flag per group (device tensors: reading them is the caller's choice).
    Pure tensor code over its arguments, so torch.compile can take it as one graph."""
    finite = []
    with torch.no_grad():
        for group in groups:
            rows = [p if dim == 1 else p.t() for p, dim in group]  # (n_i, k): the constrained vectors
            W = torch.cat(rows).float()  # (N, k)
            n = torch.linalg.vector_norm(W, dim=1, keepdim=True)  # (N, 1)
            if check:
                finite.append(torch.isfinite(n).all())
            W = W / n.clamp_min(1e-12 if unit else 1.0)
            parts = W.split([r.shape[0] for r in rows])
            torch._foreach_copy_([p for p, _ in group], [w if dim == 1 else w.t() for w, (_, dim) in zip(parts, group)])
    return finite


def _groups(model: nn.Module) -> list[list[tuple[torch.Tensor, int]]]:
    return [[(p, dim) for _, p, dim in group] for group in _plan(model)]


def _check_mode(mode: str) -> None:
    if mode not in ("unit", "bound"):
        raise ValueError(f"unknown weight constraint {mode!r}; valid choices: 'unit', 'bound', 'none'")


def _project_(model: nn.Module, mode: str, check: bool = True) -> nn.Module:
    _check_mode(mode)
    finite = _project_groups_(_groups(model), unit=mode == "unit", check=check)
    if finite and not bool(torch.stack(finite).all()):  # one host sync
        bad = [name for name, p, dim in constrained_weights(model)
               if not bool(torch.isfinite(p.detach().float().norm(dim=dim)).all())]
        raise ValueError(f"constrained weight(s) {bad} have a NaN or infinite norm; the projection cannot "
                         f"repair them (the weights diverged: reload a checkpoint or lower the lr)")
    return model


def constrain_(model: nn.Module, check: bool = True) -> nn.Module:
    """The projection after each optimizer step, in place; returns the model.

    nGPT: renormalize to unit norm; anGPT: scale rows with norm > 1 back to 1; GPT and
    folded models: no-op. cfg.weight_constraint overrides the arch's own choice.
    check: raise ValueError if a constrained matrix has a NaN/inf norm (projecting would keep
    it); this reads one flag from the device, a host sync. check=False never syncs: a
    non-finite weight then stays non-finite (NaN/inf in, NaN/inf or 0 out) for the caller's
    next check to find (the training loop's loss and checkpoint checks).
    """
    _check_model(model, "constrain_")
    mode = model.cfg.constraint
    if mode == "none":
        return model
    return _project_(model, mode, check)


def constraint_step(model: nn.Module, compile: bool = False) -> Callable[[], None]:
    """`constrain_(model, check=False)` as a function of no arguments, for the training loop.

    compile=True: the projection is one torch.compile'd graph (fullgraph: a graph break is
    an error), so on a GPU the concatenation, norms, division and copies of each group fuse
    into a few kernels instead of running as separate launches after every optimizer step.
    Eager and compiled give the same weights (tests/test_models.py)."""
    _check_model(model, "constraint_step")
    mode = model.cfg.constraint
    if mode == "none" or not _plan(model):
        return lambda: None
    _check_mode(mode)
    groups, unit = _groups(model), mode == "unit"
    project = torch.compile(_project_groups_, fullgraph=True) if compile else _project_groups_

    def step() -> None:
        project(groups, unit)

    return step


def normalize_(model: nn.Module) -> nn.Module:
    """Set every constrained matrix to norm exactly 1 along its axis (the init of nGPT/anGPT)."""
    _check_model(model, "normalize_")
    return _project_(model, "unit")


def weight_norms(model: nn.Module) -> dict[str, torch.Tensor]:
    """{name: norms along the constrained axis} for every constrained matrix."""
    return {name: p.detach().float().norm(dim=dim) for name, p, dim in constrained_weights(model)}


__all__ = ["AXES", "constrained_weights", "constrain_", "constraint_step", "normalize_", "weight_norms"]
