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
