"""Chapter 8's experiment: the ablation variants, their summary, a tiny end-to-end run."""

import json
import math

import pytest

from angpt import experiments as E
from angpt.__main__ import main


def test_variants_change_exactly_one_thing():
    base, _, _ = E.ablation_configs("full", "angpt")
    race = E.RACE_SIZES["full"]["model"]
    assert (base.d_model, base.n_layers, base.seq_len) == (race["d_model"], race["n_layers"], race["seq_len"])  # the race's model
    expect = {"angpt:no-nu-alpha": {"lerp_factor": False}, "angpt:no-qk-norm": {"qk_norm": False},
              **{E.factor_label(s): {"factor_scale": s} for s in E.FACTOR_SCALES}}
    for label, change in expect.items():
        cfg, tcfg, corpus = E.ablation_configs("full", label, seed=1)
        diff = {k: v for k, v in cfg.to_dict().items() if v != base.to_dict()[k]}
        assert diff == change, label
        assert tcfg.seed == 1 and tcfg.lr == E.RACE_LR["full"]["angpt"] and corpus == "pdmix"
    bound, _, _ = E.ablation_configs("full", "ngpt:bound")
    ngpt, tn, _ = E.ablation_configs("full", "ngpt")
    assert bound.constraint == "bound" and ngpt.constraint == "unit" and ngpt.arch == bound.arch == "ngpt"
    gpt, tg, _ = E.ablation_configs("full", "gpt")
    plus, tp, _ = E.ablation_configs("full", "gpt+")
    assert not gpt.qk_norm and plus.qk_norm and gpt.replace(qk_norm=True) == plus
    assert tg == tp and tg.weight_decay > 0 and tg.warmup_steps > 0  # the GPT recipe for both rungs
    assert tn.weight_decay == 0 and tn.warmup_steps == 0
    assert sorted(E.FACTOR_SCALES) == [0.5, 0.9, 0.98, 1.02, 1.1, 1.5]
    assert list(E.ABLATION_LADDER) == ["gpt", "gpt+", "ngpt", "ngpt:bound", "angpt"]
    assert E.PAPER_LADDER == {"gpt+": 2.1, "ngpt": 3.0, "ngpt:bound": 3.4, "angpt": 3.8}
    # only the tracked runs record norms, often enough to see a blow-up within a few steps
    _, tt, _ = E.ablation_configs("full", "angpt:no-nu-alpha")
    assert tt.track_every == E.TRACK_EVERY["full"] <= 5 and tn.track_every == 0


def test_factor_scale_scales_every_factor_but_nu_alpha():
    from angpt.blocks import angpt_factors

    cfg, _, _ = E.ablation_configs("quick", E.factor_label(1.1))
    ref = angpt_factors(cfg.replace(factor_scale=1.0))
    got = angpt_factors(cfg)
    for k, v in ref.items():
        assert got[k] == pytest.approx(v if k == "gate_scale" else 1.1 * v), k


def test_bad_input():
    with pytest.raises(ValueError, match="unknown ablation 'angpt:nope'.*'gpt\\+'"):
        E.ablation_configs("quick", "angpt:nope")
    with pytest.raises(ValueError, match="unknown budget 'medium'"):
        E.ablation_configs("medium", "angpt")
    with pytest.raises(ValueError, match="baseline 'gpt'"):
        E.ablation_summary({"runs": [_run("angpt", 0, [5, 3])]})


def _run(label, seed, losses, diverged=None):
    return {"label": label, "seed": seed, "diverged_at": diverged, "final_val_loss": None if diverged else losses[-1],
            "evals": {"tokens": [0, 100, 200][:len(losses)], "val_loss": losses}}


def test_summary_pairs_seeds_and_skips_diverged_runs():
    runs = [_run("gpt", 0, [5, 3, 2.0]), _run("gpt", 1, [5, 3, 2.5]),
            _run("gpt+", 0, [5, 3, 1.9]), _run("gpt+", 1, [5, 3, 2.4]),
            _run("angpt", 0, [5, 2, 1.8]), _run("angpt", 1, [5, 4], diverged=2)]
    s = E.ablation_summary({"runs": runs})
    assert s["gpt"]["improvement_pct"]["values"] == [0.0, 0.0]
    assert s["gpt+"]["improvement_pct"]["values"] == [pytest.approx(5.0), pytest.approx(4.0)]  # paired by seed
    assert s["angpt"]["improvement_pct"]["values"] == [pytest.approx(10.0)]  # the diverged seed is left out
    assert s["angpt"]["diverged"] == 1 and s["angpt"]["seeds"] == [0, 1]
    assert s["angpt"]["speedup"]["values"] == [pytest.approx(200 / 100)]  # at loss 2.0 after half the tokens
    assert s["gpt"]["speedup"]["mean"] == pytest.approx(1.0) and s["gpt+"]["speedup_vs_gpt+"]["mean"] == 1.0


@pytest.fixture()
def tiny(monkeypatch):
    """The smallest real ablation: 3 steps of a 16-wide model, a subset of the variants."""
    monkeypatch.setitem(E.ABLATION_SIZES, "quick", {
        "model": dict(d_model=16, n_layers=2, n_heads=2, seq_len=16),
        "train": dict(steps=4, batch_size=2, eval_every=2, eval_tokens=64), "corpus": "shakespeare"})
    keep = ("gpt", "gpt+", "angpt", "angpt:no-nu-alpha", E.factor_label(1.5))
    monkeypatch.setattr(E.ablations, "ABLATION_VARIANTS", {k: E.ABLATION_VARIANTS[k] for k in keep})  # where it is read
    return keep


def test_end_to_end_via_the_cli(tiny, tmp_path, capsys):
    out = tmp_path / "ablations.json"
    assert main(["run", "ablations", "--budget", "quick", "--seeds", "1", "--out", str(out), "--no-progress"]) == 0
    res = json.loads(out.read_text())
    assert [r["label"] for r in res["runs"]] == list(tiny)
    assert res["provenance"]["torch_version"] and res["seeds"] == [0]
    assert set(res["summary"]) == set(tiny) and res["paper"]["ladder_improvement_pct"]["angpt"] == 3.8
    by = {r["label"]: r for r in res["runs"]}
    assert by["angpt:no-nu-alpha"]["model_overrides"] == {"lerp_factor": False}
    for label in ("angpt", "angpt:no-nu-alpha"):  # tracked: the stream's norm per depth at steps 0 and 4
        sn = by[label]["stream_norms"]
        assert sn["step"] == [0, 4] and sn["depth"] == [0, 1, 2] and len(sn["mean"][0]) == 3
    assert by["gpt"]["stream_norms"] is None
    # at step 0 (init) anGPT's stream keeps norm ~1; without nu(alpha) it has shrunk by nu^-4
    assert by["angpt"]["stream_norms"]["mean"][0][-1] == pytest.approx(1.0, abs=0.15)
    assert by["angpt:no-nu-alpha"]["stream_norms"]["mean"][0][-1] < 0.9
    for r in res["runs"]:
        assert r["diverged_at"] is not None or math.isfinite(r["final_val_loss"])
    assert "speedup" in capsys.readouterr().out
