"""`python -m angpt run all`: every result file the chapters read, in one resumable command,
with an estimate first (angpt.experiments.run_all, .estimate), and the race's paper regime."""

import json
import math
import os

import pytest
import torch

from angpt import experiments as E
from angpt.__main__ import main
from angpt.experiments import ablations, norm_lab, race, race_lr, run_all, schemes


@pytest.fixture
def tiny(monkeypatch):
    """Every quick size shrunk to a few steps of a tiny model: the test checks the plumbing
    (every file written, current, skipped on rerun), not what the runs show."""
    t = dict(steps=4, batch_size=2, eval_every=2, eval_tokens=64)
    m = dict(d_model=16, n_layers=1, n_heads=2, seq_len=16)
    monkeypatch.setitem(race.RACE_SIZES, "quick", {"model": m, "train": t, "corpus": "shakespeare"})
    monkeypatch.setitem(race_lr.RACE_LR_GRID, "quick", {"gpt+": (3e-3, 1e-2), "ngpt": (1e-2, 3e-2),
                                                        "angpt": (1e-2, 3e-2)})
    monkeypatch.setitem(ablations.ABLATION_SIZES, "quick", {"model": m, "train": t, "corpus": "shakespeare"})
    monkeypatch.setitem(norm_lab.NORM_LAB, "quick", {
        "model": dict(d_model=16, n_heads=2, seq_len=16), "train": dict(steps=4, batch_size=2, eval_every=0, eval_tokens=64),
        "track_every": 2, "corpus": "shakespeare",
        "lab": dict(archs=("gpt", "angpt"), lrs=(1e-2,), depth=1),
        "depth": dict(archs=("gpt",), depths=(1, 2)),
        "width": dict(archs=("angpt",), widths=(16, 32), depth=1, heads_of=8)})
    monkeypatch.setitem(schemes.SIZES, "quick", {"model": dict(d_model=16, n_layers=2, n_heads=2, seq_len=16),
                                                 "train": t, "corpus": "shakespeare", "track_every": 2})
    from angpt import bench

    monkeypatch.setitem(bench.BENCH_SIZES, "quick", {"model": m, "batch_size": 2})
    monkeypatch.setitem(bench.INFERENCE_SIZES, "quick", {
        "sizes": {"d16 L1": m}, "shapes": [dict(kind="prefill", batch=2, tokens=16), dict(kind="decode", batch=2, context=8)]})


def test_run_all_quick_writes_every_file_chapters_read_and_skips_them_when_current(tmp_path, tiny, capsys,
                                                                                    monkeypatch):
    out = tmp_path / "results"
    assert main(["run", "all", "--budget", "quick", "--out-dir", str(out), "--no-progress"]) == 0
    written = sorted(p.name for p in out.glob("*.json"))
    expected = sorted(f for n, f in E.FILES.items() if n not in run_all.FULL_ONLY)
    assert written == expected
    assert not list(out.glob(".*"))  # no store of finished runs, no temp file left
    for name in E.FILES:
        if name in run_all.FULL_ONLY:
            continue
        res = E.load_result(name, out)
        assert res.status == "current", (name, res.reason)
        p = res.result["provenance"]
        assert p["source_sha256"] == E.source_hash() and p["device"] and p["torch"] and p["date"]
        assert "seeds" in p and ("commit" in p and "git_dirty" in p)
    race_res = json.loads((out / "race.json").read_text())
    lr = E.load(out / "race_lr.json")
    assert race_res["config"]["lr"] == {**race.RACE_LR["quick"], **lr["best_lr"]}  # the sweep feeds the race
    assert race_res["config"]["lr_source"].startswith("best of the sweep in race_lr.json")
    capsys.readouterr()

    trained = []
    monkeypatch.setattr(E.Runner, "map", lambda self, tasks: trained.append(tasks) or [])
    assert main(["run", "all", "--budget", "quick", "--out-dir", str(out), "--no-progress"]) == 0
    assert trained == []  # everything current: nothing runs
    assert capsys.readouterr().out.count("is current, skipped") == len(expected)


def test_a_stale_file_is_rerun(tmp_path, tiny, monkeypatch):
    out = tmp_path / "results"
    assert main(["run", "all", "--budget", "quick", "--out-dir", str(out), "--only", "bench", "--no-progress"]) == 0
    data = json.loads((out / "bench.json").read_text())
    data["provenance"]["source_sha256"] = "0" * 16  # as if made by other code
    (out / "bench.json").write_text(json.dumps(data))
    ok, why = run_all.is_current(out / "bench.json", "bench", "quick", 1, E.PLANS["bench"]("quick", 1))
    assert not ok and "source hash" in why
    assert main(["run", "all", "--budget", "quick", "--out-dir", str(out), "--only", "bench", "--no-progress"]) == 0
    assert E.load_result("bench", out).status == "current"


def test_dry_run_prints_the_plan_and_an_estimate_and_trains_nothing(tmp_path, tiny, capsys, monkeypatch):
    monkeypatch.setattr(E.Runner, "map", lambda self, tasks: pytest.fail("a dry run must not train"))
    assert main(["run", "all", "--budget", "quick", "--out-dir", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    for name in ("race-lr", "race", "bench", "ablations", "norm_lab", "schemes", "race-drops"):
        assert f"\n{name} -> " in out or out.startswith(f"{name} -> ")
    assert "tokens trained" in out and "estimated on this device" in out
    assert "GPU model estimate" in out and "assumption: peak 989 TFLOP/s" in out
    assert not list(tmp_path.iterdir())


def test_run_all_usage_errors(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    for argv in (["--out-dir", str(tmp_path / "f")], ["--only", "nope"], ["--out", str(tmp_path / "x.json")],
                 ["--seeds", "2"], ["--jobs", "0"]):
        with pytest.raises(SystemExit) as exc:
            main(["run", "all", "--budget", "quick", *argv])
        assert exc.value.code == 2
        assert "Traceback" not in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "race", "--dry-run"])  # run-all flags only with 'all'


def test_the_full_race_is_in_the_papers_regime():
    """>= 20 tokens per non-embedding parameter and >= 64k-token batches for every model."""
    for m in race.RACE_MODELS:
        cfg, tcfg, corpus = race.race_configs("full", m)
        tokens = tcfg.steps * tcfg.batch_size * cfg.seq_len
        assert tcfg.batch_size * cfg.seq_len >= 65536
        assert tokens / race.non_embedding_params(cfg) >= race.PAPER_TOKENS_PER_PARAM, m
        assert corpus == "pdmix"


def test_best_lr_flags_the_edge_of_the_grid():
    def run(m, lr, loss):
        return {"label": f"{m}@{lr:g}", "lr": lr, "final_val_loss": loss}

    res = {"config": {"grid": {"a": [1, 2, 4], "b": [1, 2, 4], "c": [1, 2]}},
           "runs": [run("a", 1, 3.0), run("a", 2, 2.0), run("a", 4, 2.5),
                    run("b", 1, 3.0), run("b", 2, 2.9), run("b", 4, 2.0),
                    run("c", 1, None), run("c", 2, None)]}
    best = race_lr.best_lrs(res)
    assert best["best_lr"] == {"a": 2, "b": 4, "c": None}
    assert best["edge"] == {"a": None, "b": "high", "c": None}


def test_flops_match_a_flop_counter():
    """The estimate's FLOPs per token against torch's own count of one forward pass, with
    attention in its math form (two batched matmuls over the full T x T square, which is
    what the estimate counts; the fused CPU kernel has no FLOP formula in torch)."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from angpt import preset
    from angpt.experiments import estimate
    from angpt.model import build_model

    for arch in ("gpt+", "ngpt", "angpt"):
        cfg = preset(arch, d_model=64, n_layers=2, n_heads=2, seq_len=32)
        model = build_model(cfg).eval()
        x = torch.randint(0, 256, (2, 32))
        with FlopCounterMode(display=False) as fc, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
            model(x)
        per_token = fc.get_total_flops() / x.numel()
        assert estimate.forward_flops_per_token(cfg) == pytest.approx(per_token, rel=0.02), arch


def test_gpu_model_reproduces_its_reference_points():
    from angpt import TrainConfig, preset
    from angpt.experiments import estimate

    for fam, compiled, d, L, ms in estimate.GPU_REFERENCE:
        if d != 512:
            continue
        cfg = preset({"gpt": "gpt+"}.get(fam, fam), d_model=d, n_layers=L, n_heads=8, seq_len=256)
        tcfg = TrainConfig(steps=100, batch_size=64, eval_every=0, eval_tokens=1, compile=compiled)
        g = estimate.gpu_seconds(cfg, tcfg)
        assert (g["total"] - g["compile"]) / 100 == pytest.approx(ms / 1e3, rel=0.02)


@pytest.mark.slow  # two worker processes each import torch: ~40 s on a loaded 2-core machine
def test_parallel_jobs_give_the_same_runs(tmp_path, tiny):
    """--jobs 2: runs in worker processes (their configs travel with the task); the result
    equals the one trained in order (CPU training is deterministic)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))  # as each of the two workers has
    try:
        one = E.run("race", "quick", seeds=1, progress=False)
    finally:
        torch.set_num_threads(threads)
    two = E.run("race", "quick", seeds=1, progress=False, jobs=2, out=tmp_path / "race.json")
    strip = lambda r: {k: v for k, v in r.items() if "time" not in k and k != "tokens_per_second"}  # noqa: E731
    assert [strip(r) for r in two["runs"]] == [strip(r) for r in one["runs"]]
    assert all(math.isfinite(r["final_val_loss"]) for r in two["runs"])
