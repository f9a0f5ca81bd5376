"""QK-norm's two open choices: one gain shared by q and k or separate q and k gains, and
normalizing before or after RoPE. Both settings of each must work; the GPT+ preset's
choice (separate gains, before RoPE) is the one that keeps scores relative."""

from __future__ import annotations

import copy

import pytest
import torch

from angpt import build_model, preset
from angpt.config import QK_NORM_GAINS, QK_NORM_POSITIONS
from angpt.decode import KVCache, forward_cached
from angpt.fold import fold, fold_error
from angpt.layers import CausalSelfAttention

TINY = dict(d_model=32, n_layers=2, n_heads=2, seq_len=16)
BOTH = [(g, p) for g in QK_NORM_GAINS for p in QK_NORM_POSITIONS]


def _scores(attn, shift: int) -> torch.Tensor:
    """<q_m, k_n> for one fixed q content and one fixed k content placed at every position
    shift .. shift + 7: (8, 8)."""
    torch.manual_seed(0)
    q = torch.randn(1, 1, 1, attn.d_head).expand(1, 1, 8, attn.d_head)
    k = torch.randn(1, 1, 1, attn.d_head).expand(1, 1, 8, attn.d_head)
    q, k = attn.rope_qk(q, k, start=shift)
    return (q @ k.transpose(-2, -1))[0, 0]


@pytest.mark.parametrize("kind", ["rms", "l2"])
@pytest.mark.parametrize("position", QK_NORM_POSITIONS)
def test_scores_stay_relative_only_when_the_gain_acts_before_rope(kind, position):
    attn = CausalSelfAttention(32, 1, 32, qk_norm=kind, qk_gain="separate", qk_position=position)
    with torch.no_grad():  # a learned, non-uniform gain (at init 1 both orders agree)
        for p in attn.parameters():
            if p.dim() == 1:
                p.mul_(1 + 0.5 * torch.randn(p.shape, generator=torch.Generator().manual_seed(3)))
    with torch.no_grad():
        drift = float((_scores(attn, 0) - _scores(attn, 5)).abs().max())
    if position == "before_rope":
        assert drift < 1e-5
    else:
        assert drift > 1e-3


@pytest.mark.parametrize("gain,position", BOTH)
def test_orders_agree_at_init_and_gains_are_shared_or_separate(gain, position):
    attn = CausalSelfAttention(32, 2, 16, qk_norm="rms", qk_gain=gain, qk_position=position)
    ref = CausalSelfAttention(32, 2, 16, qk_norm="rms")  # shared, after RoPE
    ref.load_state_dict({k: v for k, v in attn.state_dict().items() if not k.startswith("k_norm")})
    h = torch.randn(2, 16, 32)
    assert torch.allclose(attn(h), ref(h), atol=1e-5)  # unit gains: the choices coincide at init
    n_gain = sum(p.numel() for n, p in attn.named_parameters() if "norm" in n)
    assert n_gain == (2 if gain == "separate" else 1) * attn.d_head
    assert (attn.k_norm is not None) == (gain == "separate")


@pytest.mark.parametrize("gain,position", BOTH)
@pytest.mark.parametrize("name", ["gpt+", "angpt"])
def test_every_setting_trains_and_decodes_like_its_forward(name, gain, position):
    torch.manual_seed(0)
    model = build_model(preset(name, **TINY, qk_norm_gain=gain, qk_norm_position=position))
    idx = torch.randint(0, 256, (2, 12))
    loss = model.loss(idx, torch.roll(idx, -1, 1))
    loss.backward()
    grads = [n for n, p in model.named_parameters() if "norm" in n and p.grad is not None]
    assert grads and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    if gain == "separate":
        assert any("k_norm" in n for n in grads)
    # the KV-cache path (angpt.decode) runs RoPE and QK-norm in the same order as forward
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:  # learned, non-uniform gains: the order matters
                p.mul_(1 + 0.3 * torch.randn_like(p))
        model.eval()
        cache = KVCache(model)
        parts = [forward_cached(model, idx[:, :7], cache)]
        parts += [forward_cached(model, idx[:, t:t + 1], cache) for t in range(7, 12)]
        torch.testing.assert_close(torch.cat(parts, dim=1), model(idx), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("gain,position", BOTH)
def test_angpt_with_either_setting_folds_exactly(gain, position):
    torch.manual_seed(0)
    model = build_model(preset("angpt", **TINY, qk_norm_gain=gain, qk_norm_position=position)).double()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.mul_(1 + 0.3 * torch.randn_like(p))
    folded = fold(copy.deepcopy(model), check=False)
    assert fold_error(model, folded) < 1e-10


def test_gpt_plus_preset_choice():
    cfg = preset("gpt+")
    assert (cfg.qk_norm_gain, cfg.qk_norm_position) == ("separate", "before_rope")
    for name in ("ngpt", "angpt"):  # nGPT's official code: one s_qk, after RoPE
        cfg = preset(name)
        assert (cfg.qk_norm_gain, cfg.qk_norm_position) == ("shared", "after_rope")


@pytest.mark.parametrize("field,value", [("qk_norm_gain", "both"), ("qk_norm_gain", None),
                                         ("qk_norm_position", "middle"), ("qk_norm_position", True)])
def test_bad_values_name_the_choices(field, value):
    with pytest.raises(ValueError, match=f"{field}.*valid choices"):
        preset("gpt+", **{field: value})
