"""angpt.bench: interleaved step-time ratios (structure and bad input; no timed assertions)."""

import json

import pytest

from angpt import bench
from angpt.__main__ import main


@pytest.fixture()
def tiny_size(monkeypatch):
    monkeypatch.setitem(bench.BENCH_SIZES, "quick", {"model": dict(d_model=32, n_layers=1, n_heads=2, seq_len=16),
                                                     "batch_size": 2})


def test_step_times_gives_ratios_to_the_baseline(tiny_size):
    res = bench.step_times(size="quick", steps=3, warmup=1, device="cpu")
    assert set(res["train_step"]) == {"gpt+", "ngpt", "angpt"} and res["train_step"]["angpt"]["n"] == 3
    assert res["ratios"]["train_step"]["gpt+"] == 1.0 and res["ratios"]["forward"]["gpt+"] == 1.0
    for m in ("ngpt", "angpt"):
        r = res["ratios"]["train_step"][m]
        assert r == pytest.approx(res["train_step"][m]["median_ms"] / res["train_step"]["gpt+"]["median_ms"])
    assert res["paper_ratios"]["train_step"]["angpt"] == pytest.approx(1.0275, abs=1e-3)  # +2.75 %
    assert res["paper_ratios"]["train_step"]["ngpt"] == pytest.approx(1.096, abs=1e-3)  # +9.6 %
    table = bench.format_table(res)
    assert "angpt" in table and "ratio" in table and res["device"] in table


def test_cli_prints_the_table_and_writes_provenance(tiny_size, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--size", "quick", "--steps", "2", "--warmup", "0", "--device", "cpu",
                 "--out", str(out)]) == 0
    assert "train step ms" in capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["experiment"] == "bench" and saved["provenance"]["torch_version"]


def test_bad_input():
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        bench.step_times(size="huge")
    with pytest.raises(ValueError, match="baseline 'gpt\\+' must be among"):
        bench.step_times(models=["ngpt", "angpt"])
    with pytest.raises(ValueError, match="steps"):
        bench.step_times(steps=0)


# ---------------------------------------------------------------- op counts (deterministic)

SMALL = dict(d_model=32, n_layers=2, n_heads=2, seq_len=16, vocab_size=64)


def test_op_counts_phases_add_up_to_train_step():
    """The phase-by-phase replay in op_counts dispatches exactly what angpt.train.train_step does."""
    import torch

    from angpt.config import TrainConfig, preset
    from angpt.model import build_model
    from angpt.train import make_optimizer, train_step

    for name in ("gpt+", "ngpt", "angpt"):
        cfg = preset(name, **SMALL)
        counts = bench.op_counts(cfg, batch_size=2)
        assert set(counts["ops"]) == set(bench.TRAIN_PHASES)
        assert counts["total_ops"] == sum(counts["ops"].values()) > counts["total_kernels"] > 0
        assert (counts["ops"]["constraint"] == 0) == (name == "gpt+")
        torch.manual_seed(0)
        model = build_model(cfg)
        tcfg = TrainConfig.for_arch(cfg.arch)
        opt = make_optimizer(model, tcfg, torch.device("cpu"))
        x = torch.randint(0, 64, (2, 16))
        train_step(model, model, opt, x, x, tcfg.grad_clip)
        whole = bench.count_ops(lambda: train_step(model, model, opt, x, x, tcfg.grad_clip))
        assert whole["total_ops"] == counts["total_ops"] and whole["total_kernels"] == counts["total_kernels"]
        assert whole["total_bytes"] == counts["total_bytes"]


def test_op_counts_are_deterministic_and_bytes_scale_with_the_batch():
    a = bench.op_counts("angpt", batch_size=1, seq_len=8, inference=True)
    b = bench.op_counts("angpt", batch_size=1, seq_len=8, inference=True)
    c = bench.op_counts("angpt", batch_size=2, seq_len=8, inference=True)
    assert a["by_op"] == b["by_op"] == c["by_op"] and a["total_bytes"] == b["total_bytes"]
    assert a["total_bytes"] < c["total_bytes"] < 2 * a["total_bytes"] + 1  # weights are not written
    assert set(a["ops"]) == {"forward"}


def test_bench_reports_op_counts(tiny_size):
    res = bench.step_times(size="quick", steps=1, warmup=0, device="cpu")
    for m in ("gpt+", "ngpt", "angpt"):
        assert res["op_counts"][m]["total_ops"] > res["op_counts_forward"][m]["total_ops"] > 0
    table = bench.format_table(res)
    assert "kernels" in table and f"{res['op_counts']['angpt']['total_ops']}" in table
