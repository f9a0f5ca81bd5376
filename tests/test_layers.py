"""Primitives: RoPE, attention, norms, scales, SwiGLU."""

import math

import pytest
import torch
import torch.nn.functional as F

from angpt.layers import (
    DyT, HookPoint, LayerNorm, QKNorm, RMSNorm, RoPE, Scale, SwiGLU, CausalSelfAttention,
    causal_attention, make_norm, unit,
)

torch.manual_seed(0)


# ---------------------------------------------------------------------------- RoPE


def test_rope_preserves_norms():
    rope = RoPE(d_head=32, seq_len=64)
    x = torch.randn(3, 4, 64, 32)
    torch.testing.assert_close(rope(x).norm(dim=-1), x.norm(dim=-1), rtol=1e-5, atol=1e-5)


def test_rope_scores_depend_on_relative_position_only():
    d, T = 16, 40
    rope = RoPE(d_head=d, seq_len=T)
    q, k = torch.randn(d, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    qs = rope(q.float().expand(T, d).clone()).double()  # q at every position
    ks = rope(k.float().expand(T, d).clone()).double()
    scores = qs @ ks.T  # scores[m, n] = <R_m q, R_n k>
    for offset in (0, 1, 5, 17):
        diag = torch.diagonal(scores, offset=offset)
        assert torch.allclose(diag, diag[0].expand_as(diag), atol=1e-4), offset
    # and it is not trivial: different offsets give different scores
    assert abs(scores[0, 0] - scores[0, 5]) > 1e-3


def test_rope_position_zero_is_identity_and_commutes_with_unit():
    rope = RoPE(d_head=8, seq_len=10)
    x = torch.randn(2, 10, 8)
    torch.testing.assert_close(rope(x)[:, 0], x[:, 0])
    torch.testing.assert_close(unit(rope(x)), rope(unit(x)), rtol=1e-5, atol=1e-6)


def test_rope_rejects_odd_head_dim():
    with pytest.raises(ValueError, match="even"):
        RoPE(7, 10)


# ---------------------------------------------------------------------------- attention


def _explicit_attention(q, k, v, scale):
    T = q.shape[-2]
    s = (q @ k.transpose(-2, -1)) * scale
    s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    return s.softmax(-1), s.softmax(-1) @ v


def test_causal_attention_matches_explicit_softmax():
    q, k, v = (torch.randn(2, 3, 12, 8) for _ in range(3))
    a, ref = _explicit_attention(q, k, v, 0.7)
    torch.testing.assert_close(causal_attention(q, k, v, 0.7), ref, rtol=1e-5, atol=1e-5)
    t = torch.arange(1, 13, dtype=torch.float32).sqrt()[:, None]
    torch.testing.assert_close(causal_attention(q, k, v, 0.7, "sqrt_t"), ref * t, rtol=1e-5, atol=1e-5)
    exact = ref / a.pow(2).sum(-1, keepdim=True).sqrt()
    torch.testing.assert_close(causal_attention(q, k, v, 0.7, "exact"), exact, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="attn_factor"):
        causal_attention(q, k, v, 0.7, "dense")


def test_attention_module_is_causal():
    attn = CausalSelfAttention(32, 4, 16, qk_norm="rms")
    x = torch.randn(1, 16, 32)
    y = attn(x)
    x2 = x.clone()
    x2[:, 10:] = torch.randn(1, 6, 32)
    torch.testing.assert_close(attn(x2)[:, :10], y[:, :10])
    assert not torch.allclose(attn(x2)[:, 10:], y[:, 10:])


def test_qk_norm_is_unit_times_gain():
    qkn = QKNorm(n_heads=2, d_head=4, d_model=8)
    assert qkn.s_qk.raw.detach().allclose(torch.full((8,), 1 / math.sqrt(8)))
    x = torch.randn(3, 2, 5, 4)
    torch.testing.assert_close(qkn(x).norm(dim=-1), torch.ones(3, 2, 5))


# ---------------------------------------------------------------------------- norms, scales


def test_rmsnorm_layernorm_dyt():
    x = torch.randn(4, 7, 16) * 3 + 1
    y = RMSNorm(16)(x)
    torch.testing.assert_close(y.pow(2).mean(-1), torch.ones(4, 7), rtol=1e-4, atol=1e-4)
    y = LayerNorm(16)(x)
    torch.testing.assert_close(y.mean(-1), torch.zeros(4, 7), rtol=0, atol=1e-5)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(4, 7), rtol=1e-3, atol=1e-3)
    dyt = DyT(16, alpha_init=0.3)
    assert dyt.alpha.item() == pytest.approx(0.3)
    torch.testing.assert_close(dyt(x), torch.tanh(0.3 * x))
    assert DyT(16, bias=True).bias is not None


def test_make_norm_errors():
    assert isinstance(make_norm("dyt", 8, 0.7), DyT)
    assert type(make_norm("taper", 8)).__name__ == "TaperNorm"  # tested in tests/test_taper.py
    with pytest.raises(ValueError, match="valid choices"):
        make_norm("batchnorm", 8)


def test_scale_reparameterization():
    s = Scale(5, init=0.05, scale=0.125)
    assert torch.allclose(s.raw.detach(), torch.full((5,), 0.125))
    assert torch.allclose(s(), torch.full((5,), 0.05))
    s().sum().backward()  # ds/ds_hat = init/scale
    assert torch.allclose(s.raw.grad, torch.full((5,), 0.05 / 0.125))


def test_hookpoint_stores_detached_copy_only_when_asked():
    hp = HookPoint()
    hp.name = "x"
    x = torch.randn(3, requires_grad=True)
    assert hp(x) is x
    hp.cache = {}
    hp(x * 2)
    assert set(hp.cache) == {"x"} and not hp.cache["x"].requires_grad


# ---------------------------------------------------------------------------- SwiGLU


def test_swiglu_factors():
    torch.manual_seed(1)
    plain = SwiGLU(8, 32)
    scaled = SwiGLU(8, 32, u_factor=2.0, z_factor=3.0, act_factor=5.0, out_factor=7.0)
    scaled.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 8)
    u, z = plain.fc(x).chunk(2, -1)
    torch.testing.assert_close(plain(x), plain.proj(u * F.silu(z)))
    torch.testing.assert_close(scaled(x), 7 * plain.proj(2 * u * 5 * F.silu(3 * z)), rtol=1e-5, atol=1e-5)
    ngpt = SwiGLU(8, 32, learnable_scales=True)
    assert ngpt.s_u is not None and ngpt.s_v is not None
