"""Folding anGPT: same logits, no normalization or foldable multiply left."""

import pytest
import torch

from angpt.blocks import FoldedBlock
from angpt.constraints import constrain_, constrained_weights
from angpt.fold import fold, fold_error
from angpt.layers import DyT, LayerNorm, QKNorm, RMSNorm, Scale
from angpt.model import build_model


def _perturb_(model, seed):
    """Training-like values: alpha in (0.025, 0.4) (learned nGPT alphas are 0.2-0.37), s_z and
    s_qk in (0.5, 2) times their init, weights take a random step and are projected back."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, Scale):
                lo, hi = (0.5, 8.0) if name.rsplit(".", 1)[-1].startswith("alpha") else (0.5, 2.0)
                u = lo + (hi - lo) * torch.rand(module.raw.shape, generator=g)
                module.raw.copy_(module.scale * u)
                if name.endswith("alpha_attn"):
                    module.raw[0] = -module.raw[0]  # a negative alpha too (the model uses |alpha|)
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.add_(0.1 * p.abs().mean() * torch.randn(p.shape, generator=g))
    constrain_(model)


def _idx(cfg, B=3, T=None, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, cfg.vocab_size, (B, T or cfg.seq_len), generator=g)


@pytest.mark.parametrize("size", [(64, 2, 2), (128, 3, 4), (192, 4, 3)])
def test_fold_gives_the_same_logits(size):
    d, L, h = size
    torch.manual_seed(d)
    model = build_model("angpt", d_model=d, n_layers=L, n_heads=h, seq_len=48)
    idx = _idx(model.cfg)
    assert fold_error(model, fold(model), idx) <= 1e-5  # at init
    for seed in range(2):  # and after training-like perturbations
        _perturb_(model, seed)
        ref = model(idx)
        folded = fold(model)
        assert fold_error(model, folded, idx) <= 1e-5
        torch.testing.assert_close(model(idx), ref)  # the original is untouched


@pytest.mark.parametrize("qk", [{}, dict(qk_norm_gain="separate"), dict(qk_norm_position="before_rope"),
                                dict(qk_norm_gain="separate", qk_norm_position="before_rope"), dict(qk_norm=False)])
def test_fold_is_exact_in_float64(qk):
    """Every QK-norm option (shared or separate gains, before or after RoPE; after RoPE the
    folded q carries the product of the gains) and none."""
    torch.manual_seed(0)
    model = build_model("angpt", d_model=64, n_layers=3, n_heads=4, seq_len=32, **qk)
    _perturb_(model, 5)
    model = model.double()
    assert fold(model).head.weight.dtype == torch.float64
    assert fold_error(model, fold(model), _idx(model.cfg)) <= 1e-12


@pytest.mark.parametrize("kw", [dict(qk_norm=False), dict(lerp_factor=False), dict(attn_factor="sqrt_t"),
                                dict(attn_factor="exact"), dict(factor_scale=1.03, mlp_ratio=2)])
def test_fold_variants(kw):
    torch.manual_seed(0)
    model = build_model("angpt", d_model=64, n_layers=2, n_heads=4, seq_len=32, **kw)
    _perturb_(model, 0)
    assert fold_error(model, fold(model), _idx(model.cfg)) <= 1e-5


def test_folded_stream_is_the_angpt_stream_divided_by_P():
    torch.manual_seed(0)
    model = build_model("angpt", d_model=64, n_layers=3, n_heads=4, seq_len=32)
    _perturb_(model, 3)
    folded = fold(model)
    idx = _idx(model.cfg, T=16)
    _, c = model.run_with_cache(idx)
    _, cf = folded.run_with_cache(idx)
    assert list(cf) == list(c)  # same hook names, same order
    assert set(folded.stream_scale) == {n for n in c if "resid" in n or n in ("hook_embed", "hook_final")}
    for name, P in folded.stream_scale.items():
        torch.testing.assert_close(cf[name] * P, c[name], rtol=1e-4, atol=1e-5)
    assert (folded.stream_scale["hook_final"] - 1).abs().max() > 1e-3  # P is not trivial


def test_folded_model_has_no_normalization_or_foldable_multiply():
    model = build_model("angpt", d_model=64, n_layers=2, n_heads=4, seq_len=32)
    folded = fold(model)
    assert all(isinstance(b, FoldedBlock) for b in folded.blocks)
    assert not any(isinstance(m, (RMSNorm, LayerNorm, DyT)) for m in folded.modules())
    assert isinstance(folded.final_norm, torch.nn.Identity) and folded.s_z is None
    for b in folded.blocks:
        assert isinstance(b.attn.qk_norm, QKNorm)  # the one normalization left, as in GPT+
        assert b.attn.qk_gain_on_q and b.attn.k_norm is None  # the product of the gains, on q
        assert b.attn.qkv_factor == b.attn.out_factor == 1
        assert b.mlp.u_factor == b.mlp.z_factor == b.mlp.act_factor == b.mlp.out_factor == 1
        assert b.mlp.s_u is None and not any(n.startswith("alpha") for n, _ in b.named_children())
    assert constrained_weights(folded) == [] and constrain_(folded) is folded
    # without QK-norm nothing normalizes at all
    bare = fold(build_model("angpt", d_model=64, n_layers=2, n_heads=4, seq_len=32, qk_norm=False))
    assert all(b.attn.qk_norm is None for b in bare.blocks)
    # folded parameters: the anGPT matrices minus alpha, s_z (and nothing new)
    n_scales = 2 * 2 * 64 + 256
    assert folded.num_params() == model.num_params() - n_scales


def test_fold_rejects_other_archs():
    small = dict(d_model=64, n_layers=2, n_heads=4, seq_len=32)
    for name in ("gpt", "gpt+", "ngpt"):
        with pytest.raises(ValueError, match="only anGPT"):
            fold(build_model(name, **small))
    folded = fold(build_model("angpt", **small))
    with pytest.raises(ValueError, match="already folded"):
        fold(folded)
    with pytest.raises(ValueError, match="Transformer"):
        fold(torch.nn.Linear(2, 2))


def test_fold_keeps_dtype_and_checks_half_precision_in_float32():
    torch.manual_seed(0)
    model = build_model("angpt", d_model=64, n_layers=2, n_heads=4, seq_len=32).to(torch.bfloat16)
    folded = fold(model)  # check=True: compares float32 copies, bf16 rounding would hide errors
    assert folded.head.weight.dtype == torch.bfloat16 and folded.stream_scale["hook_final"].dtype == torch.float32
    assert fold_error(model, folded, _idx(model.cfg)) < 0.2  # within bf16 rounding of the original
