"""angpt.experiments and the CLI: registry, provenance, the speedup measure, result files."""

import json

import pytest

from angpt import experiments as E
from angpt.__main__ import main


def test_registry_has_the_race_and_rejects_duplicates():
    assert {"race", "race-drops", "race-lr"} <= set(E.EXPERIMENTS)
    with pytest.raises(ValueError, match="already registered"):
        E.experiment("race")(lambda budget, seeds: {})


def test_run_writes_every_provenance_field(tmp_path, monkeypatch):
    calls = []

    def toy(budget, seeds):  # the registry contract: fn(budget, seeds) -> dict
        calls.append((budget, seeds))
        return {"config": {"size": 1}, "runs": [{"x": float("nan")}]}

    monkeypatch.setitem(E.EXPERIMENTS, "toy", toy)
    out = tmp_path / "results" / "toy.json"
    res = E.run("toy", budget="quick", seeds=2, out=out)
    assert calls == [("quick", 2)]
    saved = json.loads(out.read_text())
    assert saved == res
    for key in ("experiment", "budget", "seeds", "provenance", "wall_time", "config"):
        assert key in saved
    assert set(E.PROVENANCE_KEYS) <= set(saved["provenance"])
    p = saved["provenance"]
    assert p["torch_version"] and p["device"] and p["date"].startswith("20") and len(p["source_sha256"]) == 16
    assert p["git_commit"] is None or len(p["git_commit"]) == 40
    assert saved["seeds"] == [0, 1] and saved["runs"][0]["x"] is None  # NaN becomes null: strict JSON
    assert E.load(tmp_path / "missing.json") is None


def test_run_validates_its_arguments():
    with pytest.raises(ValueError, match="unknown experiment 'nope'.*'race'"):
        E.run("nope")
    with pytest.raises(ValueError, match="unknown budget 'huge'"):
        E.run("race", budget="huge")
    with pytest.raises(ValueError, match="seeds"):
        E.run("race", seeds=0)


def test_tokens_to_loss_and_speedup():
    assert E.tokens_to_loss([0, 100, 200], [5.0, 3.0, 1.0], 2.0) == pytest.approx(150.0)
    assert E.tokens_to_loss([0, 100], [5.0, 3.0], 2.0) is None
    base = {"tokens": [0, 100, 200, 300, 400], "val_loss": [5.0, 4.0, 3.0, 2.5, 2.0]}
    fast = {"tokens": [0, 100, 200, 300, 400], "val_loss": [5.0, 3.0, 2.0, 1.8, 1.7]}
    assert E.speedup(fast, base) == pytest.approx(400 / 200)  # reaches 2.0 at half the tokens
    assert E.speedup(base, base) == pytest.approx(1.0)
    slow = {"tokens": [0, 100, 200, 300, 400], "val_loss": [5.0, 4.5, 4.0, 3.5, 3.0]}
    assert E.speedup(slow, base) == pytest.approx(200 / 400)  # base reached 3.0 at 200 tokens


def test_race_summary_pairs_seeds():
    def run(label, seed, losses, dt):
        return {"label": label, "seed": seed, "diverged_at": None, "final_val_loss": losses[-1],
                "median_step_time": dt, "evals": {"tokens": [0, 100, 200], "val_loss": losses}}

    result = {"runs": [run("gpt+", 0, [5, 3, 2], 1.0), run("angpt", 0, [5, 2, 1.5], 1.1),
                       run("gpt+", 1, [5, 3, 2.2], 2.0), run("angpt", 1, [5, 2.6, 2.0], 2.0)]}
    s = E.race_summary(result)
    assert s["gpt+"]["speedup"]["mean"] == pytest.approx(1.0)
    assert s["angpt"]["speedup"]["values"] == [pytest.approx(200 / 100), pytest.approx(200 / (100 + 100 * 0.4 / 0.6))]
    assert s["angpt"]["step_time_ratio"]["values"] == [pytest.approx(1.1), pytest.approx(1.0)]
    with pytest.raises(ValueError, match="baseline 'ngpt'"):
        E.race_summary(result, baseline="ngpt")


def test_quick_race_end_to_end_via_cli(tmp_path, monkeypatch, capsys):
    # the smallest real run: one seed, few steps, through the command line
    monkeypatch.setitem(E.RACE_SIZES, "quick", {
        "model": dict(d_model=32, n_layers=1, n_heads=2, seq_len=16),
        "train": dict(steps=6, batch_size=4, eval_every=3, eval_tokens=256), "corpus": "shakespeare"})
    out = tmp_path / "race.json"
    assert main(["run", "race", "--budget", "quick", "--seeds", "1", "--out", str(out), "--no-progress"]) == 0
    res = json.loads(out.read_text())
    assert [r["label"] for r in res["runs"]] == ["gpt+", "ngpt", "angpt"]
    assert res["runs"][0]["evals"]["step"] == [0, 3, 6]
    assert set(res["summary"]) == {"gpt+", "ngpt", "angpt"}
    assert res["config"]["recipes"]["angpt"]["weight_decay"] == 0.0
    assert res["config"]["recipes"]["gpt+"]["warmup_steps"] > 0
    assert "speedup" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["run", "nope", "--out", str(out)])


def test_race_configs_follow_the_recipes():
    cfg, tc, corpus = E.race_configs("full", "angpt", seed=2)
    assert (cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.seq_len) == (192, 4, 3, 256)
    assert tc.batch_size * cfg.seq_len >= 65536  # the paper's large-batch regime
    assert tc.seed == 2 and tc.weight_decay == 0 and tc.warmup_steps == 0 and corpus == "pdmix"
    _, tg, _ = E.race_configs("full", "gpt+:no-wd", weight_decay=0.0)
    assert tg.weight_decay == 0.0 and tg.warmup_steps > 0
    with pytest.raises(ValueError, match="unknown budget"):
        E.race_configs("medium", "gpt+")
