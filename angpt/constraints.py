"""Weight constraints: nGPT's unit norm (= 1) and anGPT's norm bound (<= 1).

Which matrices and which axis (PyTorch layout W in R^{out x in}; `dim` is the axis the
norm is taken over, so dim=1 constrains rows, vectors in the input space, and dim=0
constrains columns, vectors in the output space):

    matrix              shape           nGPT (methods.md §3.3)   anGPT (§4.6)
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


@torch.no_grad()
def _project_(model: nn.Module, mode: str) -> nn.Module:
    finite = []  # one flag per matrix, read with a single sync at the end
    for name, p, dim in constrained_weights(model):
        w = p.detach().float()
        n = w.norm(dim=dim, keepdim=True)
        finite.append((name, torch.isfinite(n).all()))
        if mode == "unit":
            w = w / n.clamp_min(1e-12)
        elif mode == "bound":
            w = w / n.clamp_min(1.0)
        else:
            raise ValueError(f"unknown weight constraint {mode!r}; valid choices: 'unit', 'bound', 'none'")
        p.copy_(w.to(p.dtype))
    if finite and not bool(torch.stack([f for _, f in finite]).all()):
        bad = [name for name, f in finite if not bool(f)]
        raise ValueError(f"constrained weight(s) {bad} have a NaN or infinite norm; the projection cannot "
                         f"repair them (the weights diverged: reload a checkpoint or lower the lr)")
    return model


def constrain_(model: nn.Module) -> nn.Module:
    """The projection after each optimizer step, in place; returns the model.

    nGPT: renormalize to unit norm; anGPT: scale rows with norm > 1 back to 1; GPT and
    folded models: no-op. cfg.weight_constraint overrides the arch's own choice.
    Raises ValueError if a constrained matrix has a NaN/inf norm (projecting would keep it).
    """
    _check_model(model, "constrain_")
    mode = model.cfg.constraint
    if mode == "none":
        return model
    return _project_(model, mode)


def normalize_(model: nn.Module) -> nn.Module:
    """Set every constrained matrix to norm exactly 1 along its axis (the init of nGPT/anGPT)."""
    _check_model(model, "normalize_")
    return _project_(model, "unit")


def weight_norms(model: nn.Module) -> dict[str, torch.Tensor]:
    """{name: norms along the constrained axis} for every constrained matrix."""
    return {name: p.detach().float().norm(dim=dim) for name, p, dim in constrained_weights(model)}


__all__ = ["AXES", "constrained_weights", "constrain_", "normalize_", "weight_norms"]
