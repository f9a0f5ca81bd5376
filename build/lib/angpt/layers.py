"""Primitives shared by every architecture.

Shapes: B batch, T positions, d_m model width, n_h heads, d_h = d_m / n_h head width,
d_mlp MLP width, V vocabulary. Weight matrices use PyTorch's layout W in R^{out x in}, so
y = W x and a *row* of W is a vector in the input space.

What lives here:
  HookPoint        an identity module that names an activation (TransformerLens grammar)
  Scale            the reparameterized learnable scale of nGPT/anGPT: s = s_hat * (init/scale)
  unit             exact L2 normalization x / ||x|| (nGPT's Norm)
  RMSNorm, LayerNorm, DyT, TaperNorm, make_norm   the GPT family's normalizers
                   (TaperNorm's gate schedule: angpt.taper; its folding: angpt.fold)
  RoPE             a standard (norm-preserving) rotary position embedding
  causal_attention scaled_dot_product_attention plus anGPT's optional averaging factors
  CausalSelfAttention, SwiGLU          the two sublayers, with the constant factors as knobs
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as _module  # its global hooks: HookPoint.watched

# --------------------------------------------------------------------------------------
# Hooks and scales
# --------------------------------------------------------------------------------------


class HookPoint(nn.Module):
    """Identity that names an activation.

    `Transformer.run_with_cache` points `cache` at a dict and every HookPoint stores its
    input there under its full module name (e.g. 'blocks.0.hook_resid_mid'). Being a module,
    it also accepts PyTorch forward hooks: `model.hook_dict[name].register_forward_hook(fn)`
    can read or replace the activation.
    """

    def __init__(self):
        super().__init__()
        self.name: str = ""
        self.cache: dict | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cache is not None:
            self.cache[self.name] = x.detach()
        return x

    @property
    def watched(self) -> bool:
        """True when a cache or a hook (this module's or a global one) reads this activation.

        A block may skip computing an activation in the exact form its hook names (e.g.
        anGPT's sublayer output times its constant factor, which it folds into the LERP
        coefficient) when nobody is watching."""
        return (self.cache is not None or bool(self._forward_hooks) or bool(self._forward_pre_hooks)
                or bool(getattr(_module, "_global_forward_hooks", None))
                or bool(getattr(_module, "_global_forward_pre_hooks", None)))


class Scale(nn.Module):
    """A learnable vector with nGPT's reparameterization (Loshchilov et al. 2024, nGPT, arXiv:2410.01131).

    The stored parameter s_hat starts at `scale`; the forward pass returns
    s = s_hat * (init / scale), which equals `init` at initialization. Under Adam the step
    on s is then multiplied by init/scale: that ratio sets the scale's own learning rate.
    """

    def __init__(self, size: int, init: float, scale: float):
        super().__init__()
        self.init, self.scale = float(init), float(scale)
        self.raw = nn.Parameter(torch.full((size,), self.scale))

    def forward(self) -> torch.Tensor:
        if self.init == self.scale:  # s = s_hat: no kernel (nGPT's s_u, s_v; a folded model's gains)
            return self.raw
        return self.raw * (self.init / self.scale)

    def extra_repr(self) -> str:
        return f"size={self.raw.numel()}, init={self.init:g}, scale={self.scale:g}"


def unit(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Exact L2 normalization x / ||x|| along `dim` (nGPT's Norm; eps 1e-12 guards zeros)."""
    return F.normalize(x, dim=dim, eps=1e-12)


# --------------------------------------------------------------------------------------
# Normalizers of the GPT family
# --------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """gamma * x / sqrt(mean(x^2) + eps).

    Uses torch's own F.rms_norm (fused on recent releases), so the GPT+ baseline pays the
    standard price in step-time comparisons; the explicit formula is the fallback.
    """

    def __init__(self, d: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """weight * x / sqrt(mean(x^2) + eps) over the last dim, through torch's fused
    F.rms_norm where it exists (torch >= 2.4), in float32 otherwise."""
    if hasattr(F, "rms_norm"):
        return F.rms_norm(x, (x.shape[-1],), weight.to(x.dtype), eps)
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * weight.float()).to(x.dtype)


class LayerNorm(nn.Module):
    """gamma * (x - mean) / std + beta (learnable gain and bias)."""

    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, self.eps)


class DyT(nn.Module):
    """Dynamic tanh (Zhu et al. 2025): gamma * tanh(alpha * x) (+ beta).

    alpha is one learnable scalar per DyT layer, initialised to `alpha_init` (0.5, the
    paper's default outside LLMs; a model passes cfg.dyt_alpha_attn, dyt_alpha_mlp or
    dyt_alpha_final by position, as the paper's LLM recipe does). Choice: no beta by
    default, as in the official LLaMA port, mirroring RMSNorm's lack of a bias.
    """

    def __init__(self, d: int, alpha_init: float = 0.5, bias: bool = False):
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.weight * torch.tanh(self.alpha * x)
        return y if self.bias is None else y + self.bias


# TaperNorm (Kanavalau, Amo Alonso, Lall; arXiv:2602.10408), RMS variant, for a token h in R^d:
#
#     TaperNorm(h; g) = g * gamma ⊙ h / r(h)  +  (1 - g) * c * gamma~ ⊙ h,   r(h) = sqrt(||h||^2/d + eps)
#
# g in [0, 1] is one global gate that angpt.taper's controller moves from 1 to 0 during
# training; c and gamma~ are calibrated at the end of its warm-up (see angpt.taper).
PHASES = ("norm", "taper", "linear")


class TaperNorm(nn.Module):
    """g * gamma ⊙ h / r(h) + (1 - g) * c * gamma~ ⊙ h over the last dim of width d.

    Parameters: `weight` (gamma, the normalizer's gain) and `weight_lin` (gamma~, the linear
    branch's gain). Buffers (saved in checkpoints): `gate`, `c`, the calibration EMAs, and
    the scale anchor's EMA and target. Python attributes the controller sets:
      tapers     False: this norm never tapers (the final norm in Internal-Taper)
      observing  update the calibration EMAs in training forward passes (gate warm-up)
      anchor     None, 'track' (EMA of the input's RMS) or 'pull' (compute `aux`)
    The branch that runs follows the phase: 'norm' (g = 1: the normalizer only, as cheap as
    RMSNorm), 'taper' (both), 'linear' (g = 0: one multiply). A compiled model therefore
    sees at most three graphs; g itself is a tensor, so the taper does not recompile.
    """

    def __init__(self, d: int, eps: float = 1e-6, ema_decay: float = 0.99):
        super().__init__()
        if not isinstance(d, int) or d < 1:
            raise ValueError(f"d must be a positive integer, got {d!r}")
        self.d, self.eps, self.ema_decay = d, eps, ema_decay
        self.weight = nn.Parameter(torch.ones(d))  # gamma
        self.weight_lin = nn.Parameter(torch.ones(d))  # gamma~, set from gamma at calibration
        self.register_buffer("gate", torch.tensor(1.0))
        self.register_buffer("c", torch.tensor(1.0))
        self.register_buffer("ema_num", torch.tensor(0.0))  # EMA of mean ||gamma h||^2 / r(h)
        self.register_buffer("ema_den", torch.tensor(0.0))  # EMA of mean ||gamma h||^2
        self.register_buffer("calibrated", torch.tensor(False))
        self.register_buffer("anchor_num", torch.tensor(0.0))  # EMA of mean s(h)
        self.register_buffer("anchor_den", torch.tensor(0.0))  # EMA of 1: bias correction
        self.register_buffer("anchor_target", torch.tensor(float("nan")))
        self.tapers, self.observing, self.anchor = True, False, None
        self.phase = "norm"
        self.aux: torch.Tensor | None = None
        self.register_load_state_dict_post_hook(lambda module, keys: module._sync_phase())

    # ---- gate -------------------------------------------------------------------------
    def set_gate(self, g: float) -> None:
        g = float(g)
        if not 0.0 <= g <= 1.0:
            raise ValueError(f"the gate must lie in [0, 1], got {g!r}")
        self.gate.fill_(g)
        self.phase = "norm" if g == 1.0 else "linear" if g == 0.0 else "taper"

    def _sync_phase(self) -> None:
        """After load_state_dict: the phase follows the loaded gate."""
        g = float(self.gate)
        self.phase = "norm" if g == 1.0 else "linear" if g == 0.0 else "taper"

    @property
    def scale(self) -> torch.Tensor:
        """diag of the linear branch, c * gamma~ (d,): what folds into the next matrix."""
        return self.c * self.weight_lin

    # ---- calibration ------------------------------------------------------------------
    @torch.no_grad()
    def _observe(self, h: torch.Tensor) -> None:
        hf = h.detach().float()
        gh2 = (hf * self.weight.detach().float()).pow(2).sum(-1)  # ||gamma ⊙ h||^2 per token
        r = (hf.pow(2).mean(-1) + self.eps).sqrt()  # r(h) per token
        b = self.ema_decay
        self.ema_num.mul_(b).add_((1 - b) * (gh2 / r).mean())
        self.ema_den.mul_(b).add_((1 - b) * gh2.mean())

    @torch.no_grad()
    def calibrate_(self) -> None:
        """c <- c* = EMA num / EMA den (both EMAs start at 0 with the same weights, so the
        ratio is already bias-corrected), gamma~ <- gamma."""
        if not float(self.ema_den) > 0:
            raise RuntimeError("TaperNorm.calibrate_: no calibration statistics yet; run training "
                               "forward passes with observing=True (the gate warm-up) first")
        self.c.copy_(self.ema_num / self.ema_den)
        self.weight_lin.copy_(self.weight)
        self.calibrated.fill_(True)

    # ---- scale anchor -----------------------------------------------------------------
    @torch.no_grad()
    def freeze_anchor_(self) -> None:
        if not float(self.anchor_den) > 0:
            raise RuntimeError("TaperNorm.freeze_anchor_: the anchor has seen no batch yet")
        self.anchor_target.copy_(self.anchor_num / self.anchor_den)

    def _anchor(self, h: torch.Tensor) -> None:
        s = (h.float().pow(2).mean(-1) + self.eps).sqrt()  # per-token RMS (B, T)
        if self.anchor == "track":
            with torch.no_grad():
                b = self.ema_decay
                self.anchor_num.mul_(b).add_((1 - b) * s.detach().mean())
                self.anchor_den.mul_(b).add_(1 - b)
        elif self.anchor == "pull":
            self.aux = (s - self.anchor_target).pow(2).mean()

    # ---- forward ----------------------------------------------------------------------
    def forward(self, h: torch.Tensor) -> torch.Tensor:  # h: (..., d)
        if self.training and self.anchor is not None:
            self._anchor(h)
        if self.phase == "linear":
            return h * self.scale.to(h.dtype)
        y = rms_norm(h, self.weight, self.eps)
        if self.phase == "norm":
            if self.training and self.observing:
                self._observe(h)
            return y
        g = self.gate.to(h.dtype)
        return g * y + (1 - g) * (h * self.scale.to(h.dtype))

    def extra_repr(self) -> str:
        return f"{self.d}, eps={self.eps:g}, tapers={self.tapers}, phase={self.phase!r}"


def make_norm(kind: str, d: int, dyt_alpha_init: float = 0.5) -> nn.Module:
    """The normalizer named by cfg.norm, over the last dimension of width d."""
    if kind == "rmsnorm":
        return RMSNorm(d)
    if kind == "layernorm":
        return LayerNorm(d)
    if kind == "dyt":
        return DyT(d, dyt_alpha_init)
    if kind == "taper":
        return TaperNorm(d)
    raise ValueError(f"unknown norm {kind!r}; valid choices: 'rmsnorm', 'layernorm', 'dyt', 'taper'")


class QKNorm(nn.Module):
    """nGPT/anGPT QK-norm: exact per-head L2 normalization, then a learnable gain s_qk.

    s_qk has n_h * d_h = d_m entries (per head, per dimension, as in the official nGPT
    code, which the anGPT paper keeps), init 1, scale 1/sqrt(d_m). With unit q and k the
    logit q.k = sum_i s_i^2 qhat_i khat_i is a weighted cosine.

    Speed: the normalization runs as torch's fused RMSNorm (one kernel on a GPU, like GPT+'s
    QK-norm): rms_norm(x) = sqrt(d_h) x / sqrt(||x||^2 + d_h eps), which with eps = 1e-24 / d_h
    is sqrt(d_h) times F.normalize(x, eps=1e-12) to float32 rounding (1e-24 = 1e-12^2 guards
    a zero x the same way). `normalize` returns that sqrt(d_h) unit(x): CausalSelfAttention
    divides its softmax scale by d_h instead of multiplying q and k by 1/sqrt(d_h).
    """

    def __init__(self, n_heads: int, d_head: int, d_model: int, plain: bool = False):
        """plain: s_qk stored as it is used (scale 1, no reparameterization): a folded model's."""
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_head
        self.eps = 1e-24 / d_head
        self.s_qk = Scale(n_heads * d_head, 1.0, 1.0 if plain else 1.0 / math.sqrt(d_model))

    def gain(self) -> torch.Tensor:
        """s_qk as (n_h, 1, d_h), to broadcast over (B, n_h, T, d_h)."""
        return self.s_qk().view(self.n_heads, 1, self.d_head)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, n_h, T, d_h) -> sqrt(d_h) unit(x)
        return F.rms_norm(x, (self.d_head,), None, self.eps) if hasattr(F, "rms_norm") \
            else math.sqrt(self.d_head) * unit(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, n_h, T, d_h): unit(x) * s_qk
        return self.normalize(x) * (self.gain() / math.sqrt(self.d_head))


# --------------------------------------------------------------------------------------
# Rotary position embedding
# --------------------------------------------------------------------------------------


class RoPE(nn.Module):
    """Standard rotary embedding (Su et al.), "rotate-half" pairing (i, i + d_h/2).

    Position t rotates the pair (x_i, x_{i+d/2}) by the angle t * base^(-2i/d). A rotation
    preserves the norm of every vector, and <R_m q, R_n k> depends on n - m only; both are
    tested. (The public nGPT code splits sin/cos by halves and never adds the cos and sin
    terms, so it neither preserves norms nor gives relative scores.)
    Because it preserves norms, it commutes with exact L2 normalization.
    """

    def __init__(self, d_head: int, seq_len: int, base: float = 10000.0):
        super().__init__()
        if d_head % 2:
            raise ValueError(f"RoPE needs an even head dim, got {d_head}")
        inv_freq = base ** (-torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)  # (d_h/2,)
        angles = torch.arange(seq_len, dtype=torch.float64)[:, None] * inv_freq[None, :]  # (T, d_h/2)
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:  # x: (..., T, d_h)
        """Rotate positions start .. start + T - 1 (start > 0: new tokens after a KV cache)."""
        T = x.shape[-2]
        cos, sin = self.cos[start:start + T].to(x.dtype), self.sin[start:start + T].to(x.dtype)  # (T, d_h/2)
        x1, x2 = x.chunk(2, dim=-1)  # (..., T, d_h/2) each
        return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


# --------------------------------------------------------------------------------------
# Attention
# --------------------------------------------------------------------------------------


def attention_probs(q: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
    """Explicit causal softmax probabilities a_tj, (B, n_h, T, T): the slow analysis path."""
    T = q.shape[-2]
    scores = (q @ k.transpose(-2, -1)) * scale  # (B, n_h, T, T)
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)


def causal_attention(q, k, v, scale: float, attn_factor: str = "none") -> torch.Tensor:
    """softmax(scale * q k^T + causal mask) v, per head; q, k, v: (B, n_h, T, d_h).

    attn_factor (anGPT's open averaging factor; the book's page 'Every normalization factor of
    anGPT, derived and checked', book/02_factors.md, section 3 'The attention average'):
      'none'    plain attention output (the default: attention treated as sparse)
      'sqrt_t'  multiply the output at position t (0-based) by sqrt(t + 1): the factor that
                restores unit norm under uniform (dense) causal attention
      'exact'   multiply by 1/sqrt(sum_j a_tj^2), computed from explicit probabilities
                (FlashAttention does not expose them, so this path is slower)
    """
    T = q.shape[-2]
    if attn_factor == "exact":
        a = attention_probs(q, k, scale)  # (B, n_h, T, T)
        o = a @ v  # (B, n_h, T, d_h)
        return o * a.pow(2).sum(-1, keepdim=True).rsqrt()
    o = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
    if attn_factor == "sqrt_t":
        o = o * torch.arange(1, T + 1, device=o.device, dtype=o.dtype).sqrt()[:, None]
    elif attn_factor != "none":
        raise ValueError(f"unknown attn_factor {attn_factor!r}; valid choices: 'none', 'sqrt_t', 'exact'")
    return o


def _mul(x: torch.Tensor, c) -> torch.Tensor:
    """x * c, skipping the kernel when c is the number 1 (keeps folded/GPT paths lean)."""
    if isinstance(c, (int, float)) and c == 1:
        return x
    return x * c


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with RoPE, optional QK-norm and constant factors.

        q, k, v = qkv_factor * W_qkv h          per head, (B, n_h, T, d_h)
        q, k    = qk_norm(RoPE(q)), qk_norm(RoPE(k))
        o       = causal_attention(q, k, v, softmax_scale, attn_factor)
        out     = out_factor * W_o concat(o)

    (With QK-norm, the code applies qkv_factor at the output, where it gives the same numbers.)

    qk_norm: None, 'rms' (RMSNorm over d_h with a learnable gain shared by heads: GPT+) or
    'l2' (QKNorm: exact L2 with per-head s_qk: nGPT/anGPT).
    qk_gain: 'shared' (one gain for q and k: nGPT's s_qk) or 'separate' (a q gain and a k
    gain, as the Llama-family models with QK-norm learn; then `k_norm` holds k's).
    qk_position: 'after_rope' (normalize the rotated q, k: nGPT's official code) or
    'before_rope' (normalize, then rotate). Both give the same unit vectors (a rotation keeps
    norms); they differ through the gain only: applied after RoPE, a gain with g_i !=
    g_{i+d_h/2} makes the score depend on absolute positions, not on their difference.
    The qkv projection is one fused matrix of 3 d_m rows, each a vector over d_m.
    """

    QK_GAINS = ("shared", "separate")
    QK_POSITIONS = ("after_rope", "before_rope")

    def __init__(self, d_model: int, n_heads: int, seq_len: int, *, qk_norm=None, softmax_scale=None,
                 qkv_factor: float = 1.0, out_factor: float = 1.0, attn_factor: str = "none",
                 qk_gain: str = "shared", qk_position: str = "after_rope", folded: bool = False):
        super().__init__()
        self.pattern_sink: list | None = None  # set by Transformer.attention_patterns
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)
        self.rope = RoPE(self.d_head, seq_len)
        if qk_gain not in self.QK_GAINS:
            raise ValueError(f"unknown qk_gain {qk_gain!r}; valid choices: {self.QK_GAINS}")
        if qk_position not in self.QK_POSITIONS:
            raise ValueError(f"unknown qk_position {qk_position!r}; valid choices: {self.QK_POSITIONS}")
        if qk_norm == "rms":
            make = lambda: RMSNorm(self.d_head)  # noqa: E731
        elif qk_norm == "l2":
            make = lambda: QKNorm(n_heads, self.d_head, d_model, plain=folded)  # noqa: E731
        elif qk_norm is None:
            make = lambda: None  # noqa: E731
        else:
            raise ValueError(f"unknown qk_norm {qk_norm!r}; valid choices: None, 'rms', 'l2'")
        self.qk_before_rope = qk_position == "before_rope"
        # folded (angpt.fold) with the L2 QK-norm after RoPE: the q gain holds the product of
        # the q and k gains, k has none (the same scores; see rope_qk)
        self.qk_gain_on_q = folded and qk_norm == "l2" and not self.qk_before_rope
        self.qk_norm = make()  # q's norm, and k's too when the gain is shared
        self.k_norm = make() if qk_gain == "separate" and not self.qk_gain_on_q else None
        self.softmax_scale = 1.0 / math.sqrt(self.d_head) if softmax_scale is None else float(softmax_scale)
        self.qkv_factor, self.out_factor, self.attn_factor = qkv_factor, out_factor, attn_factor
        # Same numbers, fewer kernels: no constant multiplies a (B, T, .) activation here.
        #  - qkv_factor on q and k: erased by QK-norm, or (without it) a factor qkv_factor^2
        #    on every score, which joins the softmax scale;
        #  - qkv_factor on v: o is linear in v, so it joins out_factor on the output;
        #  - the exact L2 QK-norm runs as RMSNorm, sqrt(d_h) times larger q and k, so the
        #    scores' scale is divided by d_h (see QKNorm).
        # score_scale is what multiplies q.k of the q, k that `rope_qk` returns.
        self.score_scale = self.softmax_scale * (qkv_factor ** 2 if qk_norm is None else 1.0)
        if qk_norm == "l2":
            self.score_scale /= self.d_head
        self.out_scale = out_factor * qkv_factor
        # True: `output` leaves out_scale to the caller (anGPT's block folds it into its LERP)
        self.defer_out_scale = False

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # h: (B, T, d_m)
        q, k, v = self.heads(self.qkv(h))  # (B, n_h, T, d_h) each
        q, k = self.rope_qk(q, k)
        if self.pattern_sink is not None:  # Transformer.attention_patterns asked for them
            self.pattern_sink.append(attention_probs(q, k, self.score_scale).detach())
        o = causal_attention(q, k, v, self.score_scale, self.attn_factor)  # (B, n_h, T, d_h)
        return self.output(o)

    def heads(self, qkv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, 3 d_m) -> q, k, v, each (B, n_h, T, d_h) (views)."""
        B, T, _ = qkv.shape
        return qkv.view(B, T, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)

    def output(self, o: torch.Tensor) -> torch.Tensor:
        """Concatenate the heads of o (B, n_h, T, d_h), project, times out_scale unless deferred."""
        B, _, T, _ = o.shape
        y = self.proj(o.transpose(1, 2).reshape(B, T, -1))  # (B, T, d_m)
        return y if self.defer_out_scale else _mul(y, self.out_scale)

    def rope_qk(self, q: torch.Tensor, k: torch.Tensor, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """RoPE and QK-norm of q, k (B, n_h, T, d_h) at positions start.., in the configured order.

        Their scores are score_scale * q.k. With the L2 QK-norm after RoPE, both gains ride
        on q (k comes back normalized, gain-free): q.k only sees their product.
        """
        if self.qk_norm is not None and self.qk_before_rope:
            q, k = self._norm_qk(q, k, merge=False)
        q, k = self.rope(q, start), self.rope(k, start)
        if self.qk_norm is not None and not self.qk_before_rope:
            q, k = self._norm_qk(q, k, merge=True)
        return q, k

    def _norm_qk(self, q: torch.Tensor, k: torch.Tensor, merge: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if self.qk_gain_on_q:  # a folded model: the product of the gains is stored
            return self.qk_norm.normalize(q) * self.qk_norm.gain(), self.qk_norm.normalize(k)
        if isinstance(self.qk_norm, QKNorm):
            g_q = self.qk_norm.gain()  # once per layer, shared by q and k unless k has its own
            g_k = g_q if self.k_norm is None else self.k_norm.gain()
            q, k = self.qk_norm.normalize(q), self.qk_norm.normalize(k)
            if merge:  # nothing rotates q or k after this: one multiply, by the product of the gains
                return q * (g_q * g_k), k
            return q * g_q, k * g_k
        return self.qk_norm(q), (self.qk_norm if self.k_norm is None else self.k_norm)(k)

    def extra_repr(self) -> str:
        return (f"n_heads={self.n_heads}, softmax_scale={self.softmax_scale:.4g}, "
                f"qkv_factor={self.qkv_factor:.4g}, out_factor={self.out_factor:.4g}, "
                f"attn_factor={self.attn_factor!r}")


# --------------------------------------------------------------------------------------
# MLP
# --------------------------------------------------------------------------------------


class SwiGLU(nn.Module):
    """Gated MLP with constant factors and (nGPT) learnable scales s_u, s_v.

        u, z = W_fc h                               (B, T, d_mlp) each; u linear, z the gate
        u    = u_factor * s_u * u                   (s_u only when learnable_scales)
        z    = z_factor * s_v * z                   (s_v only when learnable_scales)
        out  = out_factor * W_d ( u * act_factor * SiLU(z) )

    (The code applies u_factor and act_factor at the output, where they give the same numbers.)

    W_fc is one fused matrix of 2 d_mlp rows over d_m: the first half gives u, the second
    z (nGPT's c_fc layout). GPT: all factors 1 (Llama's W_down(SiLU(W_gate x) * W_up x)).
    """

    def __init__(self, d_model: int, d_mlp: int, *, u_factor: float = 1.0, z_factor: float = 1.0,
                 act_factor: float = 1.0, out_factor: float = 1.0, learnable_scales: bool = False):
        super().__init__()
        self.fc = nn.Linear(d_model, 2 * d_mlp, bias=False)
        self.proj = nn.Linear(d_mlp, d_model, bias=False)
        self.u_factor, self.z_factor = u_factor, z_factor
        self.act_factor, self.out_factor = act_factor, out_factor
        self.s_u = Scale(d_mlp, 1.0, 1.0) if learnable_scales else None
        self.s_v = Scale(d_mlp, 1.0, 1.0) if learnable_scales else None
        # Same numbers, fewer kernels: the output is linear in u, so u_factor and act_factor
        # join out_factor in one constant on the (B, T, d_m) output (z's factor cannot move:
        # it sits inside the SiLU).
        self.out_scale = u_factor * act_factor * out_factor
        self.defer_out_scale = False  # True: the caller applies out_scale (anGPT's LERP)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # h: (B, T, d_m)
        uz = self.fc(h)  # (B, T, 2 d_mlp)
        if self.s_u is not None:  # one multiply by [s_u, z_factor s_v] (the official nGPT code's suv)
            uz = uz * torch.cat((self.s_u(), self.s_v() * self.z_factor))
            u, z = uz.chunk(2, dim=-1)  # (B, T, d_mlp) each
        else:
            u, z = uz.chunk(2, dim=-1)
            z = _mul(z, self.z_factor)
        m = u * F.silu(z)  # (B, T, d_mlp)
        y = self.proj(m)  # (B, T, d_m)
        return y if self.defer_out_scale else _mul(y, self.out_scale)

    def extra_repr(self) -> str:
        return (f"u_factor={self.u_factor:.4g}, z_factor={self.z_factor:.4g}, "
                f"act_factor={self.act_factor:.4g}, out_factor={self.out_factor:.4g}")


__all__ = [
    "HookPoint", "Scale", "unit", "RMSNorm", "LayerNorm", "DyT", "make_norm", "QKNorm", "RoPE",
    "causal_attention", "CausalSelfAttention", "SwiGLU",
]
