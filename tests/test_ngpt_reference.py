"""nGPT against a reference written here from the official code (Loshchilov et al. 2024):
the same loss AND the same gradient for every parameter.

The reference follows the official `model.py` of nGPT line by line (justnorm, s_qk, the
eigen learning rates, the fused `suv` scale on both MLP halves, s_z), with two documented
exceptions of ours: a standard norm-preserving RoPE (the official one is not, see
angpt.layers.RoPE) and an untied head. Comparing gradients, not only outputs, is what
catches the official Norm(h) before each LERP: it is a no-op in the forward pass only.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from angpt import build_model, preset
from angpt.constraints import constrained_weights

CFG = dict(d_model=32, n_layers=2, n_heads=2, vocab_size=256, seq_len=16)


def justnorm(x):  # the official code's normalization
    return x / x.norm(p=2, dim=-1, keepdim=True)


def rope(x):  # x: (B, T, n_h, d_h); rotate-half pairs (i, i + d_h/2), base 10000
    T, d_h = x.shape[1], x.shape[-1]
    inv = 10000.0 ** (-torch.arange(0, d_h, 2, dtype=torch.float64) / d_h)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]  # (T, d_h/2)
    cos, sin = ang.cos()[None, :, None, :].to(x.dtype), ang.sin()[None, :, None, :].to(x.dtype)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


def scaled(raw, init, scale):  # the official reparameterized scale: s = s_hat * (init / scale)
    return raw * (init / scale)


def reference_loss(model, idx, targets):
    """The official nGPT forward pass, reading our model's parameter tensors."""
    d = model.cfg.d_model
    n_h = model.cfg.n_heads
    d_h = d // n_h
    x = F.embedding(idx, model.embed.weight)  # (B, T, d): no Norm at the input (official)
    B, T, _ = x.shape
    for blk in model.blocks:
        q, k, v = (x @ blk.attn.qkv.weight.T).split(d, dim=-1)
        q, k, v = (t.view(B, T, n_h, d_h) for t in (q, k, v))
        q, k = rope(q), rope(k)
        sqk = scaled(blk.attn.qk_norm.s_qk.raw, 1.0, 1.0 / math.sqrt(d)).view(1, 1, n_h, d_h)
        q, k = sqk * justnorm(q), sqk * justnorm(k)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                           is_causal=True, scale=math.sqrt(d_h))
        h_att = y.transpose(1, 2).reshape(B, T, d) @ blk.attn.proj.weight.T
        lr = scaled(blk.alpha_attn.raw, 0.05, 1.0 / math.sqrt(d)).abs()
        A_norm, B_norm = justnorm(x), justnorm(h_att)
        x = justnorm(A_norm + lr * (B_norm - A_norm))

        uv = x @ blk.mlp.fc.weight.T
        # the official fused suv: one scale vector over both halves, times sqrt(d)
        suv = torch.cat([scaled(blk.mlp.s_u.raw, 1.0, 1.0), scaled(blk.mlp.s_v.raw, 1.0, 1.0)]) * math.sqrt(d)
        u, v = (suv * uv).chunk(2, dim=-1)
        h_mlp = (u * F.silu(v)) @ blk.mlp.proj.weight.T
        lr = scaled(blk.alpha_mlp.raw, 0.05, 1.0 / math.sqrt(d)).abs()
        A_norm, B_norm = justnorm(x), justnorm(h_mlp)
        x = justnorm(A_norm + lr * (B_norm - A_norm))
    sz = scaled(model.s_z.raw, 1.0, 1.0 / math.sqrt(d))
    logits = sz * (x @ model.head.weight.T)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def _loss(model, idx, targets):  # in float64 (Transformer.loss computes in float32)
    return F.cross_entropy(model(idx).flatten(0, 1), targets.flatten())


def _grads(loss, model):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {n: p.grad.detach().clone() for n, p in model.named_parameters()}


def _model(**overrides):
    torch.manual_seed(0)
    model = build_model(preset("ngpt", **CFG, **overrides)).double()
    with torch.no_grad():
        for _, p, dim in constrained_weights(model):  # unit in float64, not only to float32's 1e-7
            p.div_(p.norm(dim=dim, keepdim=True))
        # move every learned scale off its init, so each one matters
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.mul_(1 + 0.3 * torch.randn_like(p))
    return model


def _batch():
    g = torch.Generator().manual_seed(1)
    idx = torch.randint(0, 256, (2, CFG["seq_len"]), generator=g)
    return idx, torch.roll(idx, -1, dims=1)


def _rel(a, b):
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def test_ngpt_matches_the_official_recipe_in_loss_and_every_gradient():
    model = _model()
    idx, targets = _batch()
    ours, ref = _loss(model, idx, targets), reference_loss(model, idx, targets)
    assert torch.allclose(ours, ref, rtol=1e-7, atol=0)
    g_ours, g_ref = _grads(ours, model), _grads(reference_loss(model, idx, targets), model)
    assert set(g_ours) == set(g_ref)
    for name in g_ours:
        assert _rel(g_ours[name], g_ref[name]) < 1e-6, name  # RoPE's tables are float32


def test_dropping_the_norm_before_the_lerp_keeps_outputs_but_changes_gradients():
    """lerp_norm_input=False: the same loss, but the embedding gradient gains a radial part
    (the test above would catch it: this shows that it can fail)."""
    model = _model(lerp_norm_input=False)
    idx, targets = _batch()
    ours, ref = _loss(model, idx, targets), reference_loss(model, idx, targets)
    assert torch.allclose(ours, ref, rtol=1e-7, atol=0)
    g_ours, g_ref = _grads(ours, model), _grads(reference_loss(model, idx, targets), model)
    diff = g_ours["embed.weight"] - g_ref["embed.weight"]
    rel = _rel(g_ours["embed.weight"], g_ref["embed.weight"])
    assert rel > 1e-3, rel
    for name in g_ours:  # only the embedding: the radial part dies in the Norm that made every later h
        if name != "embed.weight":
            assert _rel(g_ours[name], g_ref[name]) < 1e-6, name
    # the difference is radial: along each embedding row (a unit vector), not across it
    rows = idx.unique()
    E = model.embed.weight.detach()[rows]
    D = diff[rows]
    tangential = D - (D * E).sum(-1, keepdim=True) * E
    assert float(tangential.norm()) < 1e-5 * float(D.norm())


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_lerp_norm_input_must_be_a_bool(value):
    with pytest.raises(ValueError, match="lerp_norm_input"):
        preset("ngpt", lerp_norm_input=value)
