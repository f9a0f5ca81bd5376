import pytest

import angpt
from angpt.config import PRESETS, ModelConfig, TrainConfig, budget, preset


def test_every_preset_builds_a_config():
    for name in PRESETS:
        cfg = preset(name, d_model=64, n_heads=2)
        assert cfg.d_model == 64 and cfg.d_head == 32


def test_public_names_resolve():
    for name in ("ModelConfig", "TrainConfig", "preset", "budget", "PRESETS"):
        assert getattr(angpt, name) is not None
    with pytest.raises(AttributeError):
        angpt.no_such_name


@pytest.mark.parametrize("kwargs, match", [
    (dict(arch="bert"), "unknown arch 'bert'.*'gpt', 'ngpt', 'angpt'"),
    (dict(norm="batchnorm"), "unknown norm 'batchnorm'.*'rmsnorm'"),
    (dict(placement="side"), "unknown placement 'side'.*'pre'"),
    (dict(weight_constraint="frob"), "unknown weight_constraint 'frob'"),
    (dict(d_model=100, n_heads=3), "d_model=100 is not divisible by n_heads=3"),
    (dict(d_model=0), "d_model must be a positive integer, got 0"),
    (dict(n_layers=-1), "n_layers must be a positive integer"),
    (dict(seq_len=2.5), "seq_len must be a positive integer"),
    (dict(mix_fraction=1.5), "mix_fraction"),
    (dict(alpha_init=0.0), "alpha_init"),
    (dict(d_model=6, n_heads=2), "must be even for RoPE"),
    (dict(dyt_alpha_attn=0.0), "dyt_alpha_attn must be a positive finite number"),
    (dict(dyt_alpha_mlp=-1.0), "dyt_alpha_mlp must be a positive finite number"),
    (dict(dyt_alpha_final=float("inf")), "dyt_alpha_final must be a positive finite number"),
])
def test_bad_model_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**kwargs)


def test_preset_errors_name_the_choices():
    with pytest.raises(ValueError, match="unknown preset 'gpt2'.*'angpt'"):
        preset("gpt2")
    with pytest.raises(ValueError, match=r"unknown ModelConfig field\(s\) \['dmodel'\]"):
        preset("gpt", dmodel=3)


def test_constraint_defaults_per_arch():
    assert preset("gpt").constraint == "none"
    assert preset("ngpt").constraint == "unit"
    assert preset("angpt").constraint == "bound"
    assert preset("angpt", weight_constraint="none").constraint == "none"


def test_train_config_recipes():
    gpt = TrainConfig.for_arch("gpt", steps=1000)
    angpt_ = TrainConfig.for_arch("angpt", steps=1000)
    assert gpt.weight_decay > 0 and gpt.warmup_steps > 0
    assert angpt_.weight_decay == 0 and angpt_.warmup_steps == 0
    assert TrainConfig.for_arch("ngpt", lr=3e-3).lr == 3e-3


@pytest.mark.parametrize("kwargs, match", [
    (dict(steps=0), "steps must be a positive integer"),
    (dict(lr=-1.0), "lr must be a positive finite number"),
    (dict(lr=float("nan")), "lr must be a positive finite number"),
    (dict(beta2=1.0), "beta2"),
    (dict(weight_decay=-0.1), "weight_decay"),
    (dict(device="tpu"), "unknown device 'tpu'"),
    (dict(steps=10, warmup_steps=10), "warmup_steps=10 must be smaller than steps=10"),
])
def test_bad_train_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_budget_switch(monkeypatch):
    monkeypatch.setenv("ANGPT_QUICK", "1")
    assert budget() == "quick"
    monkeypatch.setenv("ANGPT_QUICK", "0")
    assert budget() == "full"
    monkeypatch.setenv("ANGPT_QUICK", "yes")
    with pytest.raises(ValueError, match="ANGPT_QUICK"):
        budget()


def test_train_is_callable_as_function_and_module():
    """DESIGN §3: angpt.train(cfg, tcfg) works even after the submodule was imported."""
    import angpt.train as train_module

    assert callable(angpt.train) and angpt.train.train is train_module.train


def test_dyt_alpha_per_position():
    """DyT's LLM recipe: alpha_0 set separately before attention, before the MLP and at the
    final norm (Zhu et al. 2025, official LLaMA port); each DyT module gets its own."""
    from angpt.layers import DyT

    cfg = preset("dyt", d_model=32, n_layers=2, n_heads=2, seq_len=8)
    assert cfg.dyt_alpha_attn > cfg.dyt_alpha_mlp == cfg.dyt_alpha_final
    model = angpt.build_model(cfg.replace(dyt_alpha_attn=3.0, dyt_alpha_mlp=2.0, dyt_alpha_final=1.5))
    for blk in model.blocks:
        assert isinstance(blk.norm_attn, DyT) and blk.norm_attn.alpha.item() == 3.0
        assert blk.norm_mlp.alpha.item() == 2.0
    assert model.final_norm.alpha.item() == 1.5
