"""One transformer block per family; each `forward` shows its residual rule.

Every block has the same five hook points, in this order of execution:
    hook_resid_pre   the residual stream entering the block
    hook_attn_out    what the attention sublayer contributes (before it is mixed in)
    hook_resid_mid   the stream after the attention update
    hook_mlp_out     what the MLP sublayer contributes
    hook_resid_post  the stream leaving the block

  GPTBlock     GPT family: Pre/Post/Peri/Mix-LN, LN-Scaling, DyT, optional QK-norm
  NGPTBlock    nGPT: everything on the unit sphere, LERP with eigen learning rates alpha
  ANGPTBlock   anGPT: every exact normalization replaced by its constant factor nu
  FoldedBlock  anGPT after `angpt.fold`: constants in the weights, a plain residual add

Shapes: h is (B, T, d_m) throughout.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import factors
from .config import ModelConfig
from .layers import CausalSelfAttention, HookPoint, Scale, SwiGLU, _mul, make_norm, unit


def _qk_options(cfg: ModelConfig) -> dict:
    """QK-norm's gain (shared or separate q, k gains) and its place relative to RoPE."""
    return dict(qk_gain=cfg.qk_norm_gain, qk_position=cfg.qk_norm_position)


class _HookedBlock(nn.Module):
    """Registers the five hook points in execution order (the pinned hook list relies on it)."""

    def _add_hooks(self):
        self.hook_resid_pre = HookPoint()
        self.hook_attn_out = HookPoint()
        self.hook_resid_mid = HookPoint()
        self.hook_mlp_out = HookPoint()
        self.hook_resid_post = HookPoint()


# --------------------------------------------------------------------------------------
# GPT family
# --------------------------------------------------------------------------------------


def layer_placement(cfg: ModelConfig, layer: int) -> str:
    """Where the norm of layer `layer` (0-based) sits: 'pre', 'post' or 'peri'.

    Mix-LN (Li et al. 2025, arXiv:2412.13795): Post-LN in the first floor(mix_fraction * L) layers, Pre-LN
    after (mix_fraction 0.25: 3 of 12 layers, as in the official scripts). Note that with
    L < 4 and the default fraction no layer is Post-LN.
    """
    if cfg.placement == "mix":
        return "post" if layer < math.floor(cfg.mix_fraction * cfg.n_layers) else "pre"
    return cfg.placement


class GPTBlock(_HookedBlock):
    """A Llama-style block: RoPE attention and SwiGLU, with the norm placed by cfg.

        Pre-LN    h <- h + F(s * N(h))
        Peri-LN   h <- h + N_out(F(s * N_in(h)))
        Post-LN   h <- N(h + F(s * h))
        Mix-LN    Post-LN in the first layers, Pre-LN after
    s = 1/sqrt(layer) with LN-Scaling (cfg.depth_scaling; 1-based layer, the factor
    multiplies the norm output including its gain, as in Sun et al. 2025, arXiv:2502.05795), else 1. With Post-LN
    and LN-Scaling together (not a paper's system) s multiplies the raw sublayer input.
    N is RMSNorm, LayerNorm or DyT (cfg.norm). QK-norm (cfg.qk_norm, GPT+) is RMSNorm over
    the head dim whatever cfg.norm is, with learnable gains shared by the heads: one for q
    and one for k, applied before RoPE (cfg.qk_norm_gain, cfg.qk_norm_position); softmax
    scale 1/sqrt(d_h). The MLP hidden width is cfg.d_mlp = mlp_ratio * d_m (4 d_m, as nGPT),
    not Llama's 8/3 d_m: all archs then have the same matrices and parameter counts.
    """

    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.layer, self.placement = layer, layer_placement(cfg, layer)
        self.in_scale = 1.0 / math.sqrt(layer + 1) if cfg.depth_scaling else 1.0
        # DyT's alpha_0 depends on the position: attention side, MLP side (official LLaMA recipe)
        norm = lambda alpha: make_norm(cfg.norm, cfg.d_model, alpha)  # noqa: E731
        self.norm_attn, self.norm_mlp = norm(cfg.dyt_alpha_attn), norm(cfg.dyt_alpha_mlp)  # N (N_in for Peri-LN)
        peri = self.placement == "peri"
        self.out_attn = norm(cfg.dyt_alpha_attn) if peri else nn.Identity()  # N_out (Peri-LN only)
        self.out_mlp = norm(cfg.dyt_alpha_mlp) if peri else nn.Identity()
        self.attn = CausalSelfAttention(cfg.d_model, cfg.n_heads, cfg.seq_len,
                                        qk_norm="rms" if cfg.qk_norm else None, **_qk_options(cfg))
        self.mlp = SwiGLU(cfg.d_model, cfg.d_mlp)
        self._add_hooks()

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # h: (B, T, d_m)
        h, s = self.hook_resid_pre(h), self.in_scale
        if self.placement == "post":  # Post-LN: h <- N(h + F(h))
            a = self.hook_attn_out(self.attn(_mul(h, s)))
            h = self.hook_resid_mid(self.norm_attn(h + a))
            m = self.hook_mlp_out(self.mlp(_mul(h, s)))
            h = self.hook_resid_post(self.norm_mlp(h + m))
        else:  # Pre-LN: h <- h + F(s N(h));  Peri-LN: h <- h + N_out(F(s N_in(h)))
            a = self.hook_attn_out(self.out_attn(self.attn(_mul(self.norm_attn(h), s))))
            h = self.hook_resid_mid(h + a)
            m = self.hook_mlp_out(self.out_mlp(self.mlp(_mul(self.norm_mlp(h), s))))
            h = self.hook_resid_post(h + m)
        return h


# --------------------------------------------------------------------------------------
# nGPT
# --------------------------------------------------------------------------------------


def _alpha(cfg: ModelConfig) -> Scale:
    """An eigen learning rate alpha in R^{d_m}: init cfg.alpha_init (0.05), scale 1/sqrt(d_m)."""
    return Scale(cfg.d_model, cfg.alpha_init, 1.0 / math.sqrt(cfg.d_model))


class NGPTBlock(_HookedBlock):
    """nGPT (Loshchilov et al. 2024), as in the paper and the official code.

        h_A = Norm(W_o attn(h))                   q, k: Norm(RoPE(W h)) * s_qk, scale sqrt(d_h)
        h   = Norm(Norm(h) + alpha_A * (h_A - Norm(h)))   LERP toward h_A, back onto the sphere
        h_M = Norm(W_d (s_u u * SiLU(sqrt(d_m) s_v v)))
        h   = Norm(Norm(h) + alpha_M * (h_M - Norm(h)))

    alpha is used as |alpha| (official code). The Norm(h) inside each LERP is the official
    code's: h is already unit, so it changes nothing in the forward pass, but its backward
    pass removes the radial part of the gradient that reaches h through the LERP
    (cfg.lerp_norm_input=False drops it: same outputs, other gradients). The sqrt(d_m) multiplies
    only the SiLU branch v (paper eq. 21; the code's fused `suv` scales both halves, which
    Norm(h_M) makes irrelevant up to s_u's learning dynamics). QK-norm is always on.
    Weight axes (unit norm, see angpt.constraints): embedding, head, W_qkv, W_fc by rows;
    W_o, W_d by columns: every constrained vector lives in R^{d_m}.
    """

    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.attn = CausalSelfAttention(cfg.d_model, cfg.n_heads, cfg.seq_len, qk_norm="l2",
                                        softmax_scale=math.sqrt(cfg.d_head), **_qk_options(cfg))
        self.mlp = SwiGLU(cfg.d_model, cfg.d_mlp, z_factor=math.sqrt(cfg.d_model), learnable_scales=True)
        self.alpha_attn, self.alpha_mlp = _alpha(cfg), _alpha(cfg)
        self.lerp_norm_input = cfg.lerp_norm_input
        self._add_hooks()

    def lerp(self, h: torch.Tensor, x: torch.Tensor, alpha: Scale) -> torch.Tensor:
        """Norm(h + |alpha| (x - h)), with h normalized first as in the official code."""
        if self.lerp_norm_input:
            h = unit(h)
        return unit(h + alpha().abs() * (x - h))

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # h: (B, T, d_m), unit rows
        h = self.hook_resid_pre(h)
        a = self.hook_attn_out(unit(self.attn(h)))
        h = self.hook_resid_mid(self.lerp(h, a, self.alpha_attn))
        m = self.hook_mlp_out(unit(self.mlp(h)))
        h = self.hook_resid_post(self.lerp(h, m, self.alpha_mlp))
        return h


# --------------------------------------------------------------------------------------
# anGPT
# --------------------------------------------------------------------------------------


def angpt_factors(cfg: ModelConfig) -> dict[str, float]:
    """The constant factors an anGPT block uses, from angpt.factors (one source).

    Each is multiplied by cfg.factor_scale (ablation: perturb every constant factor except
    nu(alpha)); `gate_scale` = sqrt(d_m) is nGPT's SiLU-input trick, not a normalization
    factor, and is left unscaled.
    """
    f = factors.angpt_factors(cfg.d_model, cfg.n_heads, cfg.mlp_ratio)
    return {k: v if k == "gate_scale" else v * cfg.factor_scale for k, v in f.items()}


class ANGPTBlock(_HookedBlock):
    """anGPT (Franke et al. 2025): nGPT with each Norm() replaced by a constant factor nu.

        q, k, v = nu_qkv W_qkv h;  q, k = Norm(RoPE(q)) * s_qk, Norm(RoPE(k)) * s_qk
        h_A = nu_p W_o concat(softmax(sqrt(d_h) q k^T) v)
        h   = nu(alpha_A) * (h + alpha_A * (h_A - h))          nu(a) = 1/sqrt(a^2 + (1-a)^2)
        u   = nu_uz W_u h;  z = sqrt(d_m) nu_uz W_z h
        h_M = nu_d W_d (u * nu_acf SiLU(z))
        h   = nu(alpha_M) * (h + alpha_M * (h_M - h))

    Every nu comes from angpt.factors. Choices where the paper is silent (see the book's page
    'Choices where the papers are silent', book/choices.md), each with its switch where the
    book needs an ablation:
      - QK-norm kept exact: per-head L2 after a standard RoPE, learnable s_qk (init 1,
        scale 1/sqrt(d_m)), softmax scale sqrt(d_h). Norm erases nu_qkv on q, k, so
        it matters for v only. cfg.qk_norm=False drops Norm and s_qk: q, k are then ~unit
        per head through nu_qkv alone.
      - no attention averaging factor; cfg.attn_factor 'sqrt_t' / 'exact' add one.
      - SiLU input sqrt(d_m) nu_uz W_z h, nu_acf = 1/sqrt(E SiLU(x)^2), x ~ N(0, 1/ratio);
        no s_u, s_v.
      - alpha a vector in R^{d_m} used as |alpha|, nu(alpha) per dimension;
        cfg.lerp_factor=False drops nu(alpha) (the paper: unstable).
      - alpha init cfg.alpha_init (0.05), scale 1/sqrt(d_m).
      - weights: rows (input dim) bounded by 1, set to 1 at init (angpt.constraints,
        switch cfg.weight_constraint).
      - cfg.factor_scale multiplies every factor except nu(alpha).
    """

    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.layer, self.lerp_factor = layer, cfg.lerp_factor
        self.factors = f = angpt_factors(cfg)
        self.attn = CausalSelfAttention(
            cfg.d_model, cfg.n_heads, cfg.seq_len, qk_norm="l2" if cfg.qk_norm else None,
            softmax_scale=math.sqrt(cfg.d_head), qkv_factor=f["nu_qkv"], out_factor=f["nu_p"],
            attn_factor=cfg.attn_factor, **_qk_options(cfg))
        self.mlp = SwiGLU(cfg.d_model, cfg.d_mlp, u_factor=f["nu_uz"], z_factor=f["gate_scale"] * f["nu_uz"],
                          act_factor=f["nu_acf"], out_factor=f["nu_d"])
        # each sublayer's constant output factor (nu_p nu_qkv; nu_uz nu_acf nu_d) rides on the
        # LERP's coefficient nu(alpha) alpha instead of on a (B, T, d_m) activation
        self.attn.defer_out_scale = self.mlp.defer_out_scale = True
        self.alpha_attn, self.alpha_mlp = _alpha(cfg), _alpha(cfg)
        self._add_hooks()

    def lerp(self, h: torch.Tensor, x: torch.Tensor, alpha: Scale) -> torch.Tensor:
        """nu(alpha) * (h + alpha * (x - h)), per dimension, with |alpha| (the reference form;
        `forward` computes the same with coefficients from `lerp_coefficients`)."""
        a = alpha().abs()  # (d_m,)
        nu = factors.nu_lerp(a) if self.lerp_factor else torch.ones_like(a)  # (d_m,)
        # nu (h + a (x - h)) = (nu (1 - a)) h + (nu a) x: two d_m-vectors, one fused multiply-add
        return torch.addcmul((nu * (1 - a)) * h, nu * a, x)

    def forward(self, h: torch.Tensor, coefs: tuple | None = None) -> torch.Tensor:  # h: (B, T, d_m), norm ~ 1
        """coefs: this block's LERP coefficients from `lerp_coefficients` (the Transformer
        computes every block's at once); None computes them here."""
        if coefs is None:
            coefs = lerp_coefficients([self])[0]
        A_att, B_att, C_att, A_mlp, B_mlp, C_mlp = coefs
        h = self.hook_resid_pre(h)
        a = self.attn(h)  # W_o o; with nu_p nu_qkv it is hook_attn_out, norm ~ 1
        h = self.hook_resid_mid(_mix(h, a, A_att, B_att, C_att, self.hook_attn_out, self.attn.out_scale))
        m = self.mlp(h)  # W_d m; with nu_uz nu_acf nu_d it is hook_mlp_out, norm ~ 1
        h = self.hook_resid_post(_mix(h, m, A_mlp, B_mlp, C_mlp, self.hook_mlp_out, self.mlp.out_scale))
        return h


def _mix(h, y, A, B, C, hook: HookPoint, c: float) -> torch.Tensor:
    """The LERP A h + B (c y) of the stream h and a sublayer's output y without its constant c,
    as A h + C y with C = c B; in the hook's form (c y, which a hook may replace) when watched."""
    if hook.watched:
        return torch.addcmul(A * h, B, hook(_mul(y, c)))
    return torch.addcmul(A * h, C, y)


def lerp_coefficients(blocks) -> list[tuple[torch.Tensor, ...]]:
    """Every anGPT block's LERP coefficients in one pass, [(A_att, B_att, C_att, A_mlp, B_mlp,
    C_mlp)] per block, each (d_m,):

        A = nu(a) (1 - a),   B = nu(a) a,   C = c B,   a = |alpha|

    with c the sublayer's constant output factor (its `out_scale`). All 2 L alphas are stacked
    and go through |.|, nu and the products together: a dozen small kernels per forward pass
    instead of a dozen per LERP (the values are the same, element by element).
    """
    L = len(blocks)
    first = blocks[0].alpha_attn
    raw = torch.stack([b.alpha_attn.raw for b in blocks] + [b.alpha_mlp.raw for b in blocks])  # (2 L, d_m)
    a = (raw * (first.init / first.scale)).abs()  # = alpha().abs() of each
    one_minus_a = 1 - a
    if blocks[0].lerp_factor:
        nu = (a * a + one_minus_a ** 2) ** -0.5  # factors.nu_lerp, the same operations
        A, B = nu * one_minus_a, nu * a
    else:
        A, B = one_minus_a, a
    C = []
    for half, scales in ((B[:L], [b.attn.out_scale for b in blocks]), (B[L:], [b.mlp.out_scale for b in blocks])):
        if len(set(scales)) == 1:  # one cfg, one constant per sublayer kind: a scalar multiply
            C += _mul(half, scales[0]).unbind(0)
        else:
            C += (half * torch.tensor(scales, dtype=B.dtype, device=B.device)[:, None]).unbind(0)
    A, B = A.unbind(0), B.unbind(0)
    return [(A[i], B[i], C[i], A[L + i], B[L + i], C[L + i]) for i in range(L)]


class FoldedBlock(_HookedBlock):
    """anGPT after `angpt.fold`: every constant lives in the weights.

        h <- h + W_o' attn(h)        (QK-norm with s_qk kept: the only normalization left)
        h <- h + W_d' (u * SiLU(z))  with u, z = W_fc' h

    The stream it carries is g = P^{-1} h, the anGPT stream divided by the running product
    P of the LERP factors nu(alpha)(1 - alpha); see angpt.fold. attn_factor 'sqrt_t' and
    'exact' stay (a per-position factor cannot live in a weight).
    """

    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.attn = CausalSelfAttention(
            cfg.d_model, cfg.n_heads, cfg.seq_len, qk_norm="l2" if cfg.qk_norm else None,
            softmax_scale=math.sqrt(cfg.d_head), attn_factor=cfg.attn_factor, folded=True, **_qk_options(cfg))
        self.mlp = SwiGLU(cfg.d_model, cfg.d_mlp)
        self._add_hooks()

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # h: (B, T, d_m)
        h = self.hook_resid_pre(h)
        a = self.hook_attn_out(self.attn(h))
        h = self.hook_resid_mid(h + a)
        m = self.hook_mlp_out(self.mlp(h))
        h = self.hook_resid_post(h + m)
        return h


BLOCKS = {"gpt": GPTBlock, "ngpt": NGPTBlock, "angpt": ANGPTBlock}


def make_block(cfg: ModelConfig, layer: int, folded: bool = False) -> nn.Module:
    if folded:
        return FoldedBlock(cfg, layer)
    return BLOCKS[cfg.arch](cfg, layer)


__all__ = ["GPTBlock", "NGPTBlock", "ANGPTBlock", "FoldedBlock", "BLOCKS", "make_block",
           "layer_placement", "angpt_factors", "lerp_coefficients"]
