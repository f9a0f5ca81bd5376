"""Models: every preset, hooks, nGPT/anGPT norms, constraints, bad input."""

import math

import pytest
import torch

import angpt
import angpt.concentration as cm
from angpt.blocks import ANGPTBlock, GPTBlock, NGPTBlock, layer_placement
from angpt.config import PRESETS, ModelConfig, preset
from angpt.constraints import AXES, constrain_, constrained_weights, weight_norms
from angpt.layers import DyT, RMSNorm
from angpt.model import Transformer, build_model

SMALL = dict(d_model=64, n_layers=2, n_heads=4, seq_len=32)


def _idx(cfg, B=2, T=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, cfg.vocab_size, (B, T), generator=g)


# ---------------------------------------------------------------------------- presets


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds_runs_forward_and_backward(name):
    torch.manual_seed(0)
    model = build_model(name, **{**SMALL, "n_layers": 4})
    idx = _idx(model.cfg)
    logits = model(idx)
    assert logits.shape == (2, 16, 256) and torch.isfinite(logits).all()
    loss = model.loss(idx, idx.roll(-1, dims=1))
    loss.backward()
    assert math.isfinite(loss.item()) and abs(loss.item() - math.log(256)) < 1.5
    # TaperNorm's linear-branch gain gamma~ (weight_lin) is unused while its gate is 1
    grads = [p.grad for n, p in model.named_parameters() if not n.endswith("weight_lin")]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_preset_structure():
    assert isinstance(build_model("gpt", **SMALL).blocks[0], GPTBlock)
    assert isinstance(build_model("ngpt", **SMALL).blocks[0], NGPTBlock)
    assert isinstance(build_model("angpt", **SMALL).blocks[0], ANGPTBlock)
    assert build_model("gpt", **SMALL).blocks[0].attn.qk_norm is None
    assert isinstance(build_model("gpt+", **SMALL).blocks[0].attn.qk_norm, RMSNorm)
    assert type(build_model("post-ln", **SMALL).blocks[0].norm_attn) is RMSNorm  # as the Mix-LN/LNS code
    assert isinstance(build_model("post-ln", **SMALL).final_norm, torch.nn.Identity)
    assert isinstance(build_model("peri-ln", **SMALL).blocks[1].out_mlp, RMSNorm)
    assert isinstance(build_model("dyt", **SMALL).final_norm, DyT)
    lns = build_model("ln-scaling", **{**SMALL, "n_layers": 4})
    assert [b.in_scale for b in lns.blocks] == [1 / math.sqrt(l) for l in (1, 2, 3, 4)]
    # Mix-LN: floor(0.25 * 8) = 2 leading Post-LN layers
    cfg = preset("mix-ln", **{**SMALL, "n_layers": 8})
    assert [layer_placement(cfg, i) for i in range(8)] == ["post"] * 2 + ["pre"] * 6
    # equal matrices in every arch: parameter counts within 2 %
    counts = {n: build_model(n, **SMALL).num_params() for n in ("gpt+", "ngpt", "angpt")}
    assert max(counts.values()) / min(counts.values()) < 1.02, counts


def test_taper_builds():  # TaperNorm itself: tests/test_taper.py
    model = build_model(ModelConfig(norm="taper", **SMALL))
    assert type(model.blocks[0].norm_attn).__name__ == "TaperNorm"


# ---------------------------------------------------------------------------- hooks

BLOCK_HOOKS = ["hook_resid_pre", "hook_attn_out", "hook_resid_mid", "hook_mlp_out", "hook_resid_post"]
HOOKS_2_LAYERS = ["hook_embed", *[f"blocks.{i}.{h}" for i in range(2) for h in BLOCK_HOOKS], "hook_final"]


@pytest.mark.parametrize("name", list(PRESETS))
def test_hook_list_is_pinned_and_ordered(name):
    model = build_model(name, **SMALL)
    assert model.hook_names == HOOKS_2_LAYERS
    logits, cache = model.run_with_cache(_idx(model.cfg))
    assert list(cache) == HOOKS_2_LAYERS  # order of execution
    assert all(v.shape == (2, 16, 64) for v in cache.values())
    torch.testing.assert_close(logits, model(_idx(model.cfg)))


def test_run_with_cache_filters_and_cleans_up():
    model = build_model("angpt", **SMALL)
    idx = _idx(model.cfg)
    _, cache = model.run_with_cache(idx, names_filter=lambda n: n.endswith("resid_post"))
    assert list(cache) == ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
    _, cache = model.run_with_cache(idx, names_filter="hook_final")
    assert list(cache) == ["hook_final"]
    _, cache = model.run_with_cache(idx, names_filter=["hook_embed"])
    assert list(cache) == ["hook_embed"]
    with pytest.raises(ValueError, match="unknown hook"):
        model.run_with_cache(idx, names_filter=["hook_nope"])
    assert all(h.cache is None for h in model.hook_dict.values())
    # PyTorch forward hooks work on hook points (here: ablate the first attention output)
    handle = model.hook_dict["blocks.0.hook_attn_out"].register_forward_hook(lambda m, i, o: torch.zeros_like(o))
    _, cache = model.run_with_cache(idx)
    handle.remove()
    assert cache["blocks.0.hook_attn_out"].abs().max() > 0  # cached before the hook replaced it
    assert "blocks.0.hook_resid_mid" in cache


def test_model_is_causal():
    for name in ("gpt+", "ngpt", "angpt", "post-ln"):
        model = build_model(name, **SMALL)
        idx = _idx(model.cfg)
        idx2 = idx.clone()
        idx2[:, 9:] = (idx2[:, 9:] + 1) % 256
        torch.testing.assert_close(model(idx)[:, :9], model(idx2)[:, :9])


# ---------------------------------------------------------------------------- nGPT


def test_ngpt_every_hook_is_unit():
    torch.manual_seed(0)
    model = build_model("ngpt", d_model=64, n_layers=3, n_heads=4, seq_len=32)
    _, cache = model.run_with_cache(_idx(model.cfg))
    for name, x in cache.items():
        n = x.norm(dim=-1)
        assert (n - 1).abs().max() < 1e-5, (name, n.min().item(), n.max().item())


def test_ngpt_constraint_axes_after_large_update():
    torch.manual_seed(0)
    model = build_model("ngpt", **SMALL)
    found = {n.split("blocks.0.")[-1]: dim for n, _, dim in constrained_weights(model) if "blocks.1" not in n}
    assert found == AXES["ngpt"]
    assert len(constrained_weights(model)) == 2 + 4 * 2  # embed, head + 4 per block
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 5.0)
    constrain_(model)
    for name, norms in weight_norms(model).items():
        torch.testing.assert_close(norms, torch.ones_like(norms), rtol=0, atol=1e-5, msg=name)
    # W_o, W_d: unit columns (dim 0), i.e. not unit rows in general
    wo = model.blocks[0].attn.proj.weight
    torch.testing.assert_close(wo.norm(dim=0), torch.ones(64), rtol=0, atol=1e-5)
    assert (wo.norm(dim=1) - 1).abs().max() > 1e-2


# ---------------------------------------------------------------------------- anGPT


def test_angpt_uses_the_concentration_factors():
    cfg = preset("angpt", **SMALL)
    blk = build_model(cfg).blocks[0]
    f = cm.angpt_factors(cfg.d_model, cfg.n_heads, cfg.mlp_ratio)
    assert blk.attn.qkv_factor == f["nu_qkv"] and blk.attn.out_factor == f["nu_p"]
    assert blk.mlp.u_factor == f["nu_uz"] and blk.mlp.z_factor == f["gate_scale"] * f["nu_uz"]
    assert blk.mlp.act_factor == f["nu_acf"] and blk.mlp.out_factor == f["nu_d"]
    assert blk.attn.softmax_scale == pytest.approx(math.sqrt(cfg.d_head))
    # factor_scale perturbs every factor but nu(alpha) and the sqrt(d_m) gate trick
    blk2 = build_model(cfg.replace(factor_scale=1.02)).blocks[0]
    assert blk2.attn.qkv_factor == pytest.approx(1.02 * f["nu_qkv"])
    assert blk2.mlp.act_factor == pytest.approx(1.02 * f["nu_acf"])
    assert blk2.mlp.z_factor == pytest.approx(f["gate_scale"] * 1.02 * f["nu_uz"])


def test_angpt_lerp_factor():
    torch.manual_seed(0)
    blk = build_model("angpt", **SMALL).blocks[0]
    h, x = torch.randn(2, 3, 64), torch.randn(2, 3, 64)
    a = blk.alpha_attn().abs()
    torch.testing.assert_close(blk.lerp(h, x, blk.alpha_attn), cm.nu_lerp(a) * ((1 - a) * h + a * x))
    blk.lerp_factor = False
    torch.testing.assert_close(blk.lerp(h, x, blk.alpha_attn), (1 - a) * h + a * x)


def test_angpt_bound_after_constrain():
    torch.manual_seed(0)
    model = build_model("angpt", **SMALL)
    for norms in weight_norms(model).values():  # rows normalized at init
        torch.testing.assert_close(norms, torch.ones_like(norms), rtol=0, atol=1e-5)
    assert {n.split("blocks.0.")[-1]: d for n, _, d in constrained_weights(model) if "blocks.1" not in n} == AXES["angpt"]
    with torch.no_grad():
        for _, p, _ in constrained_weights(model):
            p.mul_(torch.rand(p.shape[0], 1) * 2)  # some rows grow, some shrink
    before = weight_norms(model)
    constrain_(model)
    for name, norms in weight_norms(model).items():
        assert norms.max() <= 1 + 1e-6, name
        small = before[name] < 1  # rows inside the ball are left alone
        torch.testing.assert_close(norms[small], before[name][small])


def test_constraint_switches():
    model = build_model("angpt", **SMALL, weight_constraint="unit")
    with torch.no_grad():
        model.head.weight.mul_(0.5)
    constrain_(model)
    torch.testing.assert_close(model.head.weight.norm(dim=1), torch.ones(256), rtol=0, atol=1e-5)
    model = build_model("ngpt", **SMALL, weight_constraint="none")
    with torch.no_grad():
        model.head.weight.mul_(3)
    constrain_(model)
    assert model.head.weight.norm(dim=1).min() > 2.9
    gpt = build_model("gpt", **SMALL)
    w = gpt.head.weight.detach().clone()
    assert constrain_(gpt) is gpt and torch.equal(gpt.head.weight, w)
    with pytest.raises(ValueError, match="weight_constraint"):
        preset("gpt", weight_constraint="bound")


@pytest.mark.parametrize("arch", ["angpt", "ngpt"])
def test_compiled_constraint_step_equals_the_eager_projection(arch):
    """constraint_step(model, compile=True), the training loop's projection when compile is on,
    is one graph (fullgraph) and leaves the same weights as constrain_ (nGPT's columns included)."""
    from angpt.constraints import constraint_step

    torch.manual_seed(0)
    eager = build_model(arch, **SMALL)
    with torch.no_grad():
        for _, p, _ in constrained_weights(eager):
            p.mul_(torch.rand(p.shape[0], 1) * 2)
    compiled = build_model(arch, **SMALL)
    compiled.load_state_dict(eager.state_dict())
    constrain_(eager)
    constraint_step(compiled, compile=True)()
    for (name, a), b in zip(eager.state_dict().items(), compiled.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7, msg=name)
    assert constraint_step(build_model("gpt", **SMALL), compile=True)() is None  # nothing to project


RESID = ("hook_embed", "resid_pre", "resid_mid", "resid_post", "hook_final")


def test_angpt_residual_norms_concentrate_at_init():
    torch.manual_seed(0)
    model = build_model("angpt", d_model=256, n_layers=4, n_heads=4, seq_len=16)
    _, cache = model.run_with_cache(_idx(model.cfg, B=4, T=16))
    for name, x in cache.items():
        if name.endswith(RESID):
            n = x.norm(dim=-1)
            assert (n - 1).abs().max() < 0.10, (name, n.min().item(), n.max().item())


def test_preln_gpt_residual_grows_with_depth():
    torch.manual_seed(0)
    model = build_model("gpt", d_model=256, n_layers=4, n_heads=4, seq_len=16)
    _, cache = model.run_with_cache(_idx(model.cfg, B=4, T=16))
    norms = [cache["hook_embed"].norm(dim=-1).mean()]
    norms += [cache[f"blocks.{i}.hook_resid_post"].norm(dim=-1).mean() for i in range(4)]
    assert all(b > a for a, b in zip(norms, norms[1:])), norms


@pytest.mark.parametrize("attn_factor", ["sqrt_t", "exact"])
def test_angpt_variants_run(attn_factor):
    for kw in (dict(attn_factor=attn_factor), dict(qk_norm=False), dict(lerp_factor=False)):
        model = build_model("angpt", **SMALL, **kw)
        idx = _idx(model.cfg)
        loss = model.loss(idx, idx)
        loss.backward()
        assert torch.isfinite(loss)


def test_scales_report():
    s = build_model("angpt", **SMALL).scales()
    assert "s_z" in s and "blocks.0.alpha_attn" in s and "blocks.1.attn.qk_norm.s_qk" in s
    torch.testing.assert_close(s["blocks.0.alpha_attn"], torch.full((64,), 0.05))
    s = build_model("dyt", **SMALL).scales()
    assert "embed_scale" in s and "blocks.0.norm_attn.alpha" in s


# ---------------------------------------------------------------------------- bad input


def test_bad_config_values_raise():
    with pytest.raises(ValueError, match="valid choices: 'gpt'"):
        preset("bert")
    with pytest.raises(ValueError, match="valid choices"):
        ModelConfig(arch="rnn")
    with pytest.raises(ValueError, match="valid choices"):
        ModelConfig(norm="batchnorm")
    with pytest.raises(ValueError, match="valid choices"):
        ModelConfig(placement="sandwich")
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(d_model=64, n_heads=5)
    for field in ("d_model", "n_layers", "vocab_size", "seq_len"):
        with pytest.raises(ValueError, match=field):
            ModelConfig(**{field: 0})
    with pytest.raises(ValueError, match="ModelConfig or a preset"):
        build_model(42)


def test_bad_token_input_raises():
    model = build_model("angpt", **SMALL)
    with pytest.raises(ValueError, match="exceeds seq_len=32"):
        model(torch.zeros(1, 33, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        model(torch.tensor([[1, 2, 256]]))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        model(torch.tensor([[-1, 2]]))
    with pytest.raises(ValueError, match="integer"):
        model(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="shape"):
        model(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="only anGPT"):
        Transformer(preset("gpt", **SMALL), folded=True)


# ---------------------------------------------------------------------------- reference formulas


def _reference_attention(attn, h, qk):
    """Explicit multi-head attention from the raw weights; qk maps (B, n_h, T, d_h) -> same."""
    B, T, d = h.shape
    n_h, d_h = attn.n_heads, attn.d_head
    q, k, v = (h @ attn.qkv.weight.T).split(d, dim=-1)
    heads = lambda x: x.view(B, T, n_h, d_h).transpose(1, 2)  # noqa: E731
    q, k, v = heads(q), heads(k), heads(v)
    q, k = qk(attn.rope(q)), qk(attn.rope(k))
    scores = (q @ k.transpose(-2, -1)) * math.sqrt(d_h)
    scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    return scores.softmax(-1) @ v, (lambda o: o.transpose(1, 2).reshape(B, T, d))


def test_ngpt_block_matches_the_paper_formulas():
    torch.manual_seed(0)
    cfg = preset("ngpt", **SMALL)
    blk = build_model(cfg).blocks[0]
    with torch.no_grad():  # move the scales off their init so each one is exercised
        for p in blk.parameters():
            if p.dim() == 1:
                p.mul_(torch.rand_like(p) + 0.5)
    h = torch.nn.functional.normalize(torch.randn(2, 10, 64), dim=-1)
    norm = lambda x: x / x.norm(dim=-1, keepdim=True)  # noqa: E731
    s_qk = blk.attn.qk_norm.s_qk().view(4, 1, 16)
    o, concat = _reference_attention(blk.attn, h, lambda x: norm(x) * s_qk)
    h_A = concat(o) @ blk.attn.proj.weight.T
    a_A, a_M = blk.alpha_attn().abs(), blk.alpha_mlp().abs()
    h1 = norm(h + a_A * (norm(h_A) - h))
    u, v = (h1 @ blk.mlp.fc.weight.T).chunk(2, dim=-1)
    u, v = u * blk.mlp.s_u(), v * blk.mlp.s_v() * math.sqrt(64)
    h_M = (u * torch.nn.functional.silu(v)) @ blk.mlp.proj.weight.T
    ref = norm(h1 + a_M * (norm(h_M) - h1))
    torch.testing.assert_close(blk(h), ref, rtol=1e-5, atol=1e-5)


def test_angpt_block_matches_the_paper_formulas():
    torch.manual_seed(0)
    cfg = preset("angpt", **SMALL)
    blk = build_model(cfg).blocks[0]
    with torch.no_grad():
        for p in blk.parameters():
            if p.dim() == 1:
                p.mul_(torch.rand_like(p) + 0.5)
    d, d_h, r = 64, 16, 4
    nu_qkv, nu_p, nu_uz, nu_d = math.sqrt(d / d_h), math.sqrt(d_h / d), math.sqrt(1 / r), math.sqrt(r)
    x = torch.randn(10**6) * 0.5  # nu_acf: 1/sqrt(E SiLU(x)^2), x ~ N(0, 1/4), by Monte Carlo
    nu_acf = torch.nn.functional.silu(x).pow(2).mean().rsqrt().item()
    assert nu_acf == pytest.approx(3.72, abs=0.02)
    nu = lambda a: (a**2 + (1 - a) ** 2).rsqrt()  # noqa: E731
    h = torch.nn.functional.normalize(torch.randn(2, 10, d), dim=-1)
    norm = lambda x: x / x.norm(dim=-1, keepdim=True)  # noqa: E731
    s_qk = blk.attn.qk_norm.s_qk().view(4, 1, 16)
    o, concat = _reference_attention(blk.attn, h, lambda x: norm(x) * s_qk)
    h_A = nu_p * concat(nu_qkv * o) @ blk.attn.proj.weight.T
    a_A, a_M = blk.alpha_attn().abs(), blk.alpha_mlp().abs()
    h1 = nu(a_A) * (h + a_A * (h_A - h))
    u, z = (h1 @ blk.mlp.fc.weight.T).chunk(2, dim=-1)
    m = nu_uz * u * nu_acf * torch.nn.functional.silu(math.sqrt(d) * nu_uz * z)
    h_M = nu_d * m @ blk.mlp.proj.weight.T
    ref = nu(a_M) * (h1 + a_M * (h_M - h1))
    torch.testing.assert_close(blk(h), ref, rtol=2e-3, atol=2e-3)  # nu_acf here is a Monte Carlo value
    # and the logits: s_z * W_head h, no final norm
    model = build_model(cfg)
    idx = _idx(cfg)
    _, cache = model.run_with_cache(idx)
    torch.testing.assert_close(model(idx), model.s_z() * (cache["blocks.1.hook_resid_post"] @ model.head.weight.T))


@pytest.mark.parametrize("name", ["gpt+", "post-ln", "peri-ln", "ln-scaling", "dyt"])
def test_gpt_family_residual_rules(name):
    torch.manual_seed(0)
    model = build_model(name, **SMALL)
    blk = model.blocks[1]  # layer 2: LN-Scaling's factor is 1/sqrt(2)
    h = torch.randn(2, 8, 64)
    s = 1 / math.sqrt(2) if name == "ln-scaling" else 1.0
    if name == "post-ln":
        h1 = blk.norm_attn(h + blk.attn(h))
        ref = blk.norm_mlp(h1 + blk.mlp(h1))
    elif name == "peri-ln":
        h1 = h + blk.out_attn(blk.attn(blk.norm_attn(h)))
        ref = h1 + blk.out_mlp(blk.mlp(blk.norm_mlp(h1)))
    else:
        h1 = h + blk.attn(s * blk.norm_attn(h))
        ref = h1 + blk.mlp(s * blk.norm_mlp(h1))
    torch.testing.assert_close(blk(h), ref)
    # GPT init: N(0, 0.02); residual projections 0.02/sqrt(2L) except LN-Scaling (plain init)
    std = model.blocks[0].mlp.proj.weight.std().item()
    assert std == pytest.approx(0.02 if name == "ln-scaling" else 0.01, rel=0.1)
    assert model.blocks[0].attn.qkv.weight.std().item() == pytest.approx(0.02, rel=0.1)


def test_factors_are_the_concentration_constants():
    from angpt import concentration as cm

    cfg = angpt.preset("angpt", d_model=64, n_layers=2, n_heads=4, seq_len=16)
    assert angpt.build_model(cfg).factors == cm.angpt_factors(64, 4, cfg.mlp_ratio)
    scaled = angpt.build_model(cfg.replace(factor_scale=1.1)).factors
    assert scaled["nu_p"] == pytest.approx(1.1 * cm.angpt_factors(64, 4)["nu_p"])
    assert angpt.build_model(angpt.preset("gpt+", d_model=64, n_heads=4)).factors == {}


@pytest.mark.parametrize("name", ["gpt+", "ngpt", "angpt"])
def test_attention_patterns_are_causal_distributions(name):
    torch.manual_seed(0)
    model = angpt.build_model(angpt.preset(name, d_model=64, n_layers=2, n_heads=4, seq_len=16))
    idx = torch.randint(0, 256, (2, 12))
    pats = model.attention_patterns(idx)
    assert len(pats) == 2 and pats[0].shape == (2, 4, 12, 12)
    for a in pats:
        assert torch.allclose(a.sum(-1), torch.ones(2, 4, 12), atol=1e-5)
        assert (a.triu(1) == 0).all()  # no attention to the future
    assert all(b.attn.pattern_sink is None for b in model.blocks)
    assert torch.equal(model(idx), model(idx))  # the analysis path left the model unchanged
