"""Chapter 10's library side: every preset trains with its own recipe, the per-sublayer
profiles show each scheme's rule at init, and the schemes experiment summarizes honestly."""

import json
import math

import pytest
import torch

import angpt
from angpt import data as D
from angpt import experiments as E
from angpt import schemes as S
from angpt.config import PRESETS, TrainConfig
from angpt.train import train


@pytest.fixture(scope="module")
def small_corpus():
    c = D.load_corpus("shakespeare")
    return D.Corpus("shakespeare", c.train[:65536], c.val[:8192], c.source)


@pytest.mark.parametrize("name", S.SCHEMES)
def test_every_preset_trains_with_its_recipe(name, small_corpus):
    """A few dozen quick steps with TrainConfig.for_preset: finite losses, and it learns."""
    torch.set_num_threads(1)
    cfg, tcfg, _ = S.scheme_configs("quick", name, steps=30, eval_every=0, device="cpu")
    run = train(cfg, tcfg, corpus=small_corpus, progress=False)
    assert all(math.isfinite(v) for v in run.history["train_loss"] + run.history["grad_norm"]), name
    assert run.evals["val_loss"][-1] < run.evals["val_loss"][0] - 0.3, (name, run.evals["val_loss"])


def test_recipes():
    assert set(S.SCHEMES) == set(PRESETS)
    for name in ("post-ln", "mix-ln", "ln-scaling"):  # warm-up 10 % (Post-LN needs it)
        assert TrainConfig.for_preset(name, steps=200).warmup_steps == 20
    for name in ("gpt", "peri-ln", "dyt", "tapernorm"):
        assert TrainConfig.for_preset(name, steps=200) == TrainConfig.for_arch("gpt", steps=200)
    assert TrainConfig.for_preset("angpt", steps=200) == TrainConfig.for_arch("angpt", steps=200)
    assert TrainConfig.for_preset("post-ln", steps=200, warmup_steps=3).warmup_steps == 3  # overrides win
    dyt = angpt.preset("dyt")  # the LLM recipe: alpha_0 per position, attention 4x MLP and final
    assert dyt.dyt_alpha_attn == 4 * dyt.dyt_alpha_mlp and dyt.dyt_alpha_mlp == dyt.dyt_alpha_final
    lns = angpt.build_model(angpt.preset("ln-scaling", d_model=32, n_layers=4, n_heads=2, seq_len=16))
    assert float(lns.blocks[0].attn.proj.weight.detach().std()) == pytest.approx(0.02, rel=0.1)  # plain init, no 1/sqrt(2L)
    with pytest.raises(ValueError, match="unknown budget 'huge'"):
        S.scheme_configs("huge", "gpt")
    with pytest.raises(ValueError, match="unknown preset 'rms'"):
        S.scheme_configs("quick", "rms")


def test_profiles_show_each_rule_at_init():
    idx = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(0))
    size = dict(d_model=64, n_layers=4, n_heads=2, seq_len=16)

    def prof(name):
        torch.manual_seed(0)
        return S.sublayer_profile(angpt.build_model(angpt.preset(name, **size)), idx)

    pre, post, peri, lns, dyt = (prof(n) for n in ("gpt", "post-ln", "peri-ln", "ln-scaling", "dyt"))
    assert pre["k"] == list(range(1, 9))
    # RMSNorm with gamma = 1 (its eps = 1e-6 against r^2 ~ 4e-4 at init: 0.1 % low)
    assert pre["input"] == pytest.approx([1.0] * 8, rel=5e-3)
    assert pre["stream"] == sorted(pre["stream"])  # Pre-LN: the stream only grows
    # Post-LN: pinned by the norm on it (RMSNorm's eps 1e-6 against r^2 ~ 4e-4 at init)
    assert post["stream"] == pytest.approx([1.0] * 8, rel=2e-2)
    # Peri-LN: every output normalized to ~1 (a little less: at init the raw outputs are so small
    # that RMSNorm's eps counts), where Pre-LN's raw outputs are ~100x smaller
    assert all(0.7 < o <= 1.0 for o in peri["output"]) and max(pre["output"]) < 0.05
    layer = [1 + (k - 1) // 2 for k in lns["k"]]
    assert lns["input"] == pytest.approx([1 / math.sqrt(l) for l in layer], rel=5e-3)  # 1/sqrt(l)
    assert max(dyt["input"]) < 1.0  # tanh: bounded by |gamma| = 1 per coordinate


def test_experiment_and_summary(monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setattr(E.schemes, "SCHEMES", ("gpt", "dyt", "tapernorm"))  # where it is read
    quick = {**S.SIZES["quick"], "train": dict(steps=8, batch_size=4, eval_every=4, eval_tokens=256)}
    monkeypatch.setitem(S.SIZES, "quick", quick)
    res = E.run("schemes", budget="quick", seeds=1, progress=False)
    json.dumps(res, allow_nan=False)
    assert [r["label"] for r in res["runs"]] == ["gpt", "dyt", "tapernorm"]
    assert [r["label"] for r in res["schedules"]] == ["paper"] and [r["label"] for r in res["logit"]] == \
        ["all-taper", "all-taper+aux"]
    s = res["summary"]
    assert s["target"] == max(r["final_val_loss"] for r in res["runs"])
    rows = {r[0]: r for r in S.table_rows(res)}
    assert rows["tapernorm"][4].startswith("yes") and rows["gpt"][4].startswith("no")
    assert s["schemes"]["tapernorm"]["fold"]["rel_error"] <= 1e-5
    assert s["schemes"]["gpt"]["step_time_ratio"]["mean"] == 1.0
    taper = S.find(res["runs"], "tapernorm")
    assert [e["step"] for e in taper["track"]] == [1, 2, 4, 6, 8] and taper["track"][-1]["gate"] == 0.0
    assert set(taper["phase_step_time"]) == {"norm", "taper", "linear"}
    assert abs(s["schemes"]["gpt"]["radial_cos"]) < 1e-3  # RMSNorm: no radial force
    # the scale anchor's target is recorded once frozen (at the end of the gate warm-up), only with an anchor
    anchored = S.logit_track(S.find(res["logit"], "all-taper+aux"))
    frozen = [t for t in anchored["target"] if t is not None]
    assert anchored["target"][0] is None and frozen and frozen[0] > 0
    assert anchored["target"][-len(frozen):] == [frozen[0]] * len(frozen)  # frozen: the same number from then on
    assert all(t is None for t in S.logit_track(S.find(res["logit"], "all-taper"))["target"])
    with pytest.raises(ValueError, match="no run labelled"):
        S.find(res["runs"], "post-ln")


def test_dyt_preset_alpha_beats_the_uniform_default(small_corpus):
    """Chapter 10's quick DyT run: the preset's per-position alpha_0 (the LLM recipe's 4:1:1)
    against 0.5 everywhere (the non-LLM default, which the chapter once used), same seed and
    batches. The uniform 0.5 leaves tanh so deep in its linear range at this width that the
    sublayers read ~0.06 per coordinate; the loss gap to Pre-LN was mostly that."""
    torch.set_num_threads(1)

    def final(**mo):
        cfg, tcfg, _ = S.scheme_configs("quick", "dyt", model_overrides=mo, eval_every=0, device="cpu")
        return train(cfg, tcfg, corpus=small_corpus, progress=False).evals["val_loss"][-1]

    uniform = final(dyt_alpha_attn=0.5, dyt_alpha_mlp=0.5, dyt_alpha_final=0.5)
    assert final() < uniform - 0.2, uniform


def test_post_and_mix_ln_use_rmsnorm_like_the_baseline():
    """Post-LN and Mix-LN with RMSNorm, as the official Mix-LN / LN-Scaling code: against the
    Pre-LN baseline only the placement differs. LayerNorm stays one switch away."""
    from angpt.layers import LayerNorm, RMSNorm

    size = dict(d_model=32, n_layers=4, n_heads=2, seq_len=8)
    for name in ("post-ln", "mix-ln"):
        cfg = angpt.preset(name, **size)
        assert cfg.norm == angpt.preset(S.BASELINE).norm == "rmsnorm", name
        model = angpt.build_model(cfg)
        norms = [m for b in model.blocks for m in (b.norm_attn, b.norm_mlp)]
        assert all(type(m) is RMSNorm for m in norms), name
        ln = angpt.build_model(angpt.preset(name, norm="layernorm", **size))
        assert all(type(m) is LayerNorm for b in ln.blocks for m in (b.norm_attn, b.norm_mlp)), name


def test_token_column_shows_quick_run_differences():
    """The tokens-to-target column prints each count with its own unit: a quick run's
    thousands of tokens must not all print as "0.00" (millions)."""
    assert [S.format_tokens(n) for n in (950, 6144, 12_345, 3.2e6, 1.5e9)] == \
        ["950", "6.14k", "12.3k", "3.2M", "1.5G"]

    def row(mtokens):
        sp = S.spread(mtokens)
        return {"final_val_loss": S.spread([4.0]), "mtokens_to_target": sp, "step_time_ratio": S.spread([1.0]),
                "diverged": 0, "fold": {"folds": False, "rel_error": None, "reason": "x"}}

    res = {"summary": {"schemes": {"gpt": row([0.0046]), "dyt": row([0.0061, 0.0072]), "ngpt": row([None])}}}
    cells = {r[0]: r[2] for r in S.table_rows(res)}
    assert cells == {"gpt": "4.6k", "dyt": "6.65k [6.1k, 7.2k]", "ngpt": "n/a"}


@pytest.mark.slow
def test_paper_gate_rule_diverges_where_the_default_trains():
    """Chapter 10, section 3 (and exercise 2): in a 60-step quick run the paper's rule (gate
    warm-up = the LR warm-up, 3 updates) calibrates c on the initial stream and diverges near the
    end of its taper, at step 24 (g = 0.04), while the default schedule trains to the end."""
    from angpt.taper import gate_at, gate_steps
    from angpt.train import DivergenceError

    torch.set_num_threads(1)
    cfg, tcfg, corpus = S.scheme_configs("quick", "tapernorm", steps=60, gate_warmup=None, device="cpu")
    assert gate_steps(tcfg) == (3, 27) and gate_at(24, 3, 27) < 0.05
    with pytest.raises(DivergenceError) as err:
        train(cfg, tcfg, corpus=corpus, progress=False)
    assert 20 <= err.value.step <= 27, err.value.step
    cfg, tcfg, corpus = S.scheme_configs("quick", "tapernorm", steps=60, eval_every=0, device="cpu")
    assert math.isfinite(train(cfg, tcfg, corpus=corpus, progress=False).evals["val_loss"][-1])
