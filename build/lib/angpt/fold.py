"""Fold anGPT's constant factors into its weights: same outputs, no normalization left.

After training, alpha and s_z are frozen, so every factor of an anGPT block is a constant
(Franke et al. 2025 fold them for zero inference overhead; the book's page 'Zero-overhead
inference', book/09_inference.md, derives it; `fold_error` and the tests check it):

  projections   W_qkv' = nu_qkv W_qkv      (on q, k it is removed by QK-norm anyway)
                W_o'   = nu_p W_o
                W_u'   = nu_uz nu_acf W_u,  W_z' = sqrt(d_m) nu_uz W_z,  W_d' = nu_d W_d
  LERP          h <- nu(a) (h + a (x - h)) = D_a h + D_b x,
                D_a = diag(nu(a) (1 - a)),  D_b = diag(nu(a) a)
  head          W_head' = diag(s_z) W_head

D_b folds into the rows of the sublayer's output matrix (W_o or W_d). To remove D_a too,
carry g = P^{-1} h instead of h, where P is the running product of the D_a's so far
(P = I at the embedding). Every reader of h is linear, so P folds into the *columns* of the
next matrices that read the stream (W_qkv, W_fc, W_head), and P_new^{-1} into the *rows* of
the output matrices: with P_new = D_a P,

    g_new = P_new^{-1} (D_a P g + D_b x) = g + P_new^{-1} D_b x.

The residual becomes a plain add, as in a GPT with its RMSNorms deleted. What is left:
QK-norm with its gain s_qk (it sits between W_q and the scores, so it cannot fold; as in
GPT+ it is then the only normalization), the softmax scale sqrt(d_h) (an argument of
scaled_dot_product_attention), and, only with cfg.attn_factor 'sqrt_t' or 'exact', the
per-position attention factor. Folding is done in float64 and cast back.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .factors import nu_lerp
from .layers import RMSNorm, TaperNorm
from .model import Transformer

_STREAM_HOOKS = ("hook_resid_pre", "hook_resid_mid", "hook_resid_post")


def _check_angpt(model) -> None:
    if not isinstance(model, Transformer):
        raise ValueError(f"fold expects an angpt Transformer, got {type(model).__name__}")
    if model.folded:
        raise ValueError("this model is already folded")
    if model.cfg.arch != "angpt":
        raise ValueError(
            f"only anGPT can be folded, got arch {model.cfg.arch!r}: nGPT normalizes every token "
            f"exactly (a per-token division, not a constant) and the GPT family has its norms "
            f"(except TaperNorm, norm 'taper', once its gate is 0)"
        )


def _lerp_diagonals(block, alpha) -> tuple[torch.Tensor, torch.Tensor]:
    """(D_a, D_b) of h <- D_a h + D_b x for this block's LERP with `alpha`, in float64."""
    a = alpha().detach().double().abs()
    nu = nu_lerp(a) if block.lerp_factor else torch.ones_like(a)
    return nu * (1 - a), nu * a


@torch.no_grad()
def _carry(blk, alpha, P: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One LERP update h <- D_a h + D_b x with the stream carried as g = P^{-1} h.

    Returns the new P = D_a P and the row scale D_b / P_new to fold into the sublayer's
    output matrix, so that the residual becomes a plain add g <- g + W' x."""
    D_a, D_b = _lerp_diagonals(blk, alpha)
    if bool((D_a.abs() < 1e-12).any()):
        raise ValueError(f"{what} equals 1, so D_a is singular and h cannot be carried as P^-1 h")
    P = D_a * P
    return P, D_b / P


def fold(model: Transformer, check: bool = True) -> Transformer:
    """A folded copy of an anGPT model (on the same device and dtype; `model` is untouched).

    A TaperNorm GPT (norm 'taper') tapered off to g = 0 folds too: `fold_taper`.

    The folded model's residual stream is g = P^{-1} h; `folded.stream_scale[hook]` holds P
    (float32, shape (d_m,)) for each residual-stream hook, so `cache[hook] * P` is anGPT's h.
    check: verify on a random batch that the logits agree (relative error <= 1e-4, in
    float32 on a copy when the model is in half precision); raises RuntimeError otherwise.
    """
    if isinstance(model, Transformer) and model.cfg.arch == "gpt" and model.cfg.norm == "taper":
        return fold_taper(model, check=check)
    _check_angpt(model)
    cfg = model.cfg
    ref = model.head.weight
    out = Transformer(cfg, folded=True)  # the shell: FoldedBlocks, no s_z, no final norm
    state: dict[str, torch.Tensor] = {"embed.weight": model.embed.weight.detach().double()}
    P = torch.ones(cfg.d_model, dtype=torch.float64, device=ref.device)  # g = P^{-1} h
    stream_scale: dict[str, torch.Tensor] = {"hook_embed": P}

    for i, blk in enumerate(model.blocks):
        pre = f"blocks.{i}."
        stream_scale[pre + "hook_resid_pre"] = P
        # attention: P into the columns of W_qkv, P_new^{-1} D_b nu_p into the rows of W_o
        attn = blk.attn
        state[pre + "attn.qkv.weight"] = attn.qkv_factor * attn.qkv.weight.double() * P
        if attn.qk_norm is not None:  # QK-norm's gains, stored as used (the folded scale is plain)
            g_q = attn.qk_norm.s_qk().detach().double()
            g_k = g_q if attn.k_norm is None else attn.k_norm.s_qk().detach().double()
            if out.blocks[i].attn.qk_gain_on_q:  # after RoPE q.k sees only the product: it goes on q
                state[pre + "attn.qk_norm.s_qk.raw"] = g_q * g_k
            else:
                state[pre + "attn.qk_norm.s_qk.raw"] = g_q
                if attn.k_norm is not None:
                    state[pre + "attn.k_norm.s_qk.raw"] = g_k
        P, out_rows = _carry(blk, blk.alpha_attn, P, f"block {i}: an attention alpha")
        stream_scale[pre + "hook_resid_mid"] = P
        state[pre + "attn.proj.weight"] = out_rows[:, None] * attn.out_factor * attn.proj.weight.double()
        # MLP: nu_uz nu_acf into u's rows, sqrt(d_m) nu_uz into z's rows, P into all columns
        mlp = blk.mlp
        W_u, W_z = mlp.fc.weight.double().chunk(2, dim=0)
        W_u = (mlp.u_factor * mlp.act_factor) * W_u * P
        W_z = mlp.z_factor * W_z * P
        state[pre + "mlp.fc.weight"] = torch.cat([W_u, W_z], dim=0)
        P, out_rows = _carry(blk, blk.alpha_mlp, P, f"block {i}: an MLP alpha")
        stream_scale[pre + "hook_resid_post"] = P
        state[pre + "mlp.proj.weight"] = out_rows[:, None] * mlp.out_factor * mlp.proj.weight.double()

    stream_scale["hook_final"] = P
    s_z = model.s_z().detach().double()
    state["head.weight"] = s_z[:, None] * model.head.weight.double() * P

    out = out.to(device=ref.device, dtype=ref.dtype)
    missing, unexpected = out.load_state_dict({k: v.to(ref.dtype) for k, v in state.items()}, strict=False)
    assert not unexpected and not missing, (missing, unexpected)
    out.stream_scale = {k: v.float() for k, v in stream_scale.items()}
    out.train(model.training)
    if check:
        if ref.dtype in (torch.float32, torch.float64):
            err = fold_error(model, out)
        else:  # half precision: its own rounding (~1e-2) would hide a folding error; check in float32
            m32 = copy.deepcopy(model).float()
            err = fold_error(m32, fold(m32, check=False))
        if not err <= 1e-4:
            raise RuntimeError(f"folded model differs from the original: relative logit error {err:.3g} > 1e-4")
    return out


@torch.no_grad()
def fold_error(model: Transformer, folded: Transformer, idx: torch.Tensor | None = None, seed: int = 0) -> float:
    """max over the batch of ||logits_folded - logits|| / ||logits|| (per position, then max).

    idx: (B, T) token ids; default a random batch of 2 x min(seq_len, 32) tokens.
    """
    cfg = model.cfg
    if idx is None:
        g = torch.Generator().manual_seed(seed)
        idx = torch.randint(0, cfg.vocab_size, (2, min(cfg.seq_len, 32)), generator=g)
    idx = idx.to(model.head.weight.device)
    # compare at full float32 precision: after training on a GPU, TF32 matmuls may still be
    # switched on, and their ~1e-3 rounding would swamp the folding error we measure
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        a, b = model(idx).double(), folded(idx).double()
    finally:
        torch.set_float32_matmul_precision(precision)
    return float(((b - a).norm(dim=-1) / a.norm(dim=-1).clamp_min(1e-30)).max())


# --------------------------------------------------------------------------------------
# TaperNorm at g = 0
# --------------------------------------------------------------------------------------


@torch.no_grad()
def fold_taper(model, check: bool = True):
    """A copy of a tapered-off GPT with every g = 0 TaperNorm folded into the next matrices.

    With row-vector tokens a tapered norm is h -> h D, D = diag(c gamma~) (times LN-Scaling's
    1/sqrt(l) if set), so W (D h) = (W D) h: D scales the *columns* of W_qkv and W_fc (each
    reads the normalized input), the columns of W_head for a tapered final norm; a Peri-LN
    output norm D_out scales the *rows* of the sublayer's output matrix. What is left: no
    normalization inside the blocks, and the final RMSNorm where it was kept (Internal-Taper).
    Done in float64 and cast back. check: verify on a random batch that the logits agree
    (relative error <= 1e-5); raise RuntimeError otherwise.
    """
    if not isinstance(model, Transformer):
        raise ValueError(f"fold_taper expects an angpt Transformer, got {type(model).__name__}")
    if model.folded:
        raise ValueError("this model is already folded")
    cfg = model.cfg
    if cfg.arch != "gpt" or cfg.norm != "taper":
        raise ValueError(f"fold_taper folds TaperNorm models (arch 'gpt', norm 'taper'), got arch {cfg.arch!r}, "
                         f"norm {cfg.norm!r}")
    if cfg.placement not in ("pre", "peri"):
        raise ValueError(f"TaperNorm folds in a pre-LN (or Peri-LN) model; placement {cfg.placement!r} puts a norm "
                         f"on the stream itself; valid choices: 'pre', 'peri'")
    for name, m in model.named_modules():
        if isinstance(m, TaperNorm) and m.tapers and float(m.gate) != 0.0:
            raise ValueError(f"{name} has gate g = {float(m.gate):.4g}; only a tapered-off model (g = 0, after the "
                             f"taper: TrainConfig.gate_warmup + gate_taper <= 1) folds")
    out = copy.deepcopy(model)
    f64 = lambda m: m.scale.detach().double()  # noqa: E731
    for blk in out.blocks:
        for norm_name, lin in (("norm_attn", blk.attn.qkv), ("norm_mlp", blk.mlp.fc)):
            D = f64(getattr(blk, norm_name)) * blk.in_scale  # (d_m,)
            lin.weight.copy_((lin.weight.double() * D[None, :]).to(lin.weight.dtype))
            setattr(blk, norm_name, nn.Identity())
        for norm_name, lin in (("out_attn", blk.attn.proj), ("out_mlp", blk.mlp.proj)):
            norm = getattr(blk, norm_name)
            if isinstance(norm, TaperNorm):
                lin.weight.copy_((f64(norm)[:, None] * lin.weight.double()).to(lin.weight.dtype))
                setattr(blk, norm_name, nn.Identity())
        blk.in_scale = 1.0
    final = out.final_norm
    if isinstance(final, TaperNorm):
        if final.tapers:  # All-Taper: the final map folds into the head
            out.head.weight.copy_((out.head.weight.double() * f64(final)[None, :]).to(out.head.weight.dtype))
            out.final_norm = nn.Identity()
        else:  # Internal-Taper: the final norm stays an RMSNorm
            keep = RMSNorm(cfg.d_model, eps=final.eps).to(final.weight)
            keep.weight.copy_(final.weight)
            out.final_norm = keep
    out.folded = True
    if check:
        if model.head.weight.dtype in (torch.float32, torch.float64):
            err = fold_error(model, out)
        else:  # half precision: its own rounding would hide a folding error; check in float32
            m32 = copy.deepcopy(model).float()
            err = fold_error(m32, fold_taper(m32, check=False))
        if not err <= 1e-5:
            raise RuntimeError(f"folded model differs from the original: relative logit error {err:.3g} > 1e-5")
    return out


__all__ = ["fold", "fold_error", "fold_taper"]
