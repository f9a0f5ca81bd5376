"""Faults lose nothing: --out checked before training, each run saved as it finishes
(atomically), a killed `run` resumes without retraining, a divergence is a result, and a bad
result file is named with what is wrong (angpt.experiments.load / load_result)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from angpt import experiments as E
from angpt.__main__ import main
from angpt.experiments import common, race

ROOT = Path(__file__).resolve().parents[1]
TINY = {"model": dict(d_model=16, n_layers=1, n_heads=2, seq_len=16),
        "train": dict(steps=5, batch_size=2, eval_every=5, eval_tokens=64), "corpus": "shakespeare"}
# A driver for the kill test: the tiny race through the real CLI; with 'slow', it sleeps after
# saving each run, so the test can kill it between the first save and the second.
DRIVER = f"""
import sys, time
from angpt.experiments import common, race
race.RACE_SIZES["quick"] = {TINY!r}
if sys.argv[1] == "slow":
    put = common.RunStore.put
    def slow_put(self, *a, **k):
        put(self, *a, **k)
        time.sleep(60)
    common.RunStore.put = slow_put
from angpt.__main__ import main
sys.exit(main(["run", "race", "--budget", "quick", "--seeds", "3", "--out", sys.argv[2], "--no-progress"]))
"""


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@pytest.fixture
def tiny_race(monkeypatch):
    monkeypatch.setitem(race.RACE_SIZES, "quick", TINY)


@pytest.fixture
def count_trainings(monkeypatch):
    import angpt.train  # noqa: F401  (the module, bound in sys.modules)

    mod = sys.modules["angpt.train"]
    calls = []
    real = mod.train

    def counting(*a, **k):
        calls.append(a[1].seed if len(a) > 1 else None)
        return real(*a, **k)

    monkeypatch.setattr(mod, "train", counting)
    return calls


@pytest.mark.parametrize("bad", ["dir", "under_file", "no_json"])
def test_out_is_checked_before_any_training(bad, tmp_path, capsys, count_trainings):
    (tmp_path / "afile").write_text("x")
    out = {"dir": tmp_path, "under_file": tmp_path / "afile" / "r.json", "no_json": tmp_path / "r.txt"}[bad]
    with pytest.raises(SystemExit) as exc:
        main(["run", "race", "--budget", "quick", "--seeds", "1", "--out", str(out), "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--out" in err and "Traceback" not in err
    assert count_trainings == []


def test_save_fsyncs_and_cleans_the_temp_files_of_a_killed_save(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    left = tmp_path / ".r.json.tmp99999"  # what a save killed between write and rename leaves
    left.write_text('{"half')
    other = tmp_path / ".other.json.tmp1"  # another file's: not ours to remove
    other.write_text("x")
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    E.save({"experiment": "x", "provenance": {}}, path)
    assert json.loads(path.read_text())["experiment"] == "x"
    assert not left.exists() and other.exists()
    assert synced, "save must fsync before the rename"
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == [".other.json.tmp1"]


def test_killed_run_resumes_without_retraining(tmp_path, tiny_race, count_trainings):
    out = tmp_path / "race.json"
    store = tmp_path / ".race.json.runs"
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, "slow", str(out)], env=_env(), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while not store.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "no run was saved within 120 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not out.exists()
    saved = json.loads(store.read_text())["runs"]
    assert len(saved) == 1
    (key, first), = saved.items()
    assert first["label"] == "gpt+"

    assert main(["run", "race", "--budget", "quick", "--seeds", "3", "--out", str(out), "--no-progress"]) == 0
    assert len(count_trainings) == 8  # the 8 runs not saved; the first is not trained again
    res = json.loads(out.read_text())
    assert [(r["label"], r["seed"]) for r in res["runs"]] == [(m, s) for s in range(3) for m in race.RACE_MODELS]
    assert res["runs"][0] == first["result"]  # the saved run itself (same wall time, same curve)
    assert not store.exists()  # done: the store of finished runs is removed


def test_a_diverged_baseline_is_recorded_and_the_others_kept(tmp_path, tiny_race, monkeypatch, capsys):
    monkeypatch.setitem(race.RACE_LR, "quick", {**race.RACE_LR["quick"], "gpt+": 1e20})
    out = tmp_path / "race.json"
    assert main(["run", "race", "--budget", "quick", "--seeds", "1", "--out", str(out), "--no-progress"]) == 0
    res = json.loads(out.read_text())
    by = {r["label"]: r for r in res["runs"]}
    assert by["gpt+"]["diverged_at"] is not None and by["gpt+"]["final_val_loss"] is None
    for m in ("ngpt", "angpt"):
        assert by[m]["diverged_at"] is None and by[m]["final_val_loss"] > 0
        assert res["summary"][m]["speedup"]["mean"] is None  # no baseline to compare with
        assert res["summary"][m]["final_val_loss"]["mean"] == pytest.approx(by[m]["final_val_loss"])
    assert res["summary"]["gpt+"]["diverged"] == 1


def test_runs_record_their_largest_early_loss(tmp_path, tiny_race):
    res = E.run("race", "quick", seeds=1, progress=False)
    for r in res["runs"]:
        assert r["max_early_loss"] >= r["initial_train_loss"] > 0
    assert common.early_steps(40) == 10 and common.early_steps(1000) == 50


def test_load_names_the_file_and_what_is_wrong(tmp_path):
    good = {"experiment": "race", "budget": "full", "seeds": [0],
            "provenance": {"commit": None, "device": "cpu", "date": "2025-01-01", "torch": "2.4",
                           "source_sha256": "x"}, "config": {}, "runs": []}
    path = tmp_path / "race.json"
    path.write_text(json.dumps(good)[:-20])  # a truncated file
    with pytest.raises(ValueError, match=r"race\.json: not valid JSON \(truncated\?\)"):
        E.load(path)
    path.write_text(json.dumps({k: v for k, v in good.items() if k != "runs"}))
    with pytest.raises(ValueError, match=r"race\.json: a 'race' result must have .*lacks \['runs'\]"):
        E.load(path)
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match=r"race\.json: not a result file"):
        E.load(path)
    path.write_text(json.dumps({**good, "provenance": {"device": "cpu"}}))
    with pytest.raises(ValueError, match=r"race\.json: provenance lacks \['commit', 'date', 'torch'\]"):
        E.load(path)


GOOD_PROV = {"commit": None, "device": "cpu", "date": "2025-01-01", "torch": "2.4"}
RUN = {"label": "gpt+", "seed": 0, "diverged_at": None, "final_val_loss": 2.0, "median_step_time": 0.1,
       "evals": {"tokens": [0, 10], "step": [0, 1], "val_loss": [5.0, 2.0]}}


# the reliability audit's results-file rows 173-180, called on hand-made dicts (not from load)
@pytest.mark.parametrize("call, message", [
    (lambda: E.describe({}), r"describe\(dict\): not a result file: it lacks \['experiment', 'provenance'\]"),
    (lambda: E.describe({"experiment": "race", "provenance": {"device": "cpu"}}),
     r"provenance lacks \['commit', 'date', 'torch'\]"),
    (lambda: E.race_summary({}), r"race_summary: expected a result with a list of 'runs'"),
    (lambda: E.curves({"runs": [{"label": "gpt+"}]}, "gpt+"), r"curves: run 0 \('gpt\+'\) lacks \['seed', 'diverged_at'"),
    (lambda: E.lr_sweep([{"runs": [{"label": "x"}]}]), r"lr_sweep: run 0 \('x'\) lacks \['lr', 'final_val_loss'\]"),
    (lambda: E.race_summary({"runs": [{**RUN, "final_val_loss": "abc"}]}),
     r"race_summary: run 0 \('gpt\+'\) has final_val_loss='abc', not a number or null"),
    (lambda: E.lr_sweep([{"runs": [{**RUN, "lr": None}]}]), r"lr_sweep: run 0 \('gpt\+'\) has lr=None, not a number"),
], ids=["173-describe-empty", "174-provenance", "175-no-runs", "177-run-keys", "178-lr", "180-not-a-number", "lr-null"])
def test_summaries_of_a_bad_result_say_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_good_hand_made_result_still_summarizes():
    assert E.race_summary({"runs": [RUN]})["gpt+"]["final_val_loss"]["mean"] == 2.0
    assert "race (quick)" in E.describe({"experiment": "race", "budget": "quick", "provenance": GOOD_PROV,
                                         "config": {}, "runs": [RUN]})


def test_load_rejects_a_nan_literal(tmp_path):
    """Row 179: result files are written with allow_nan=False, so NaN in one is foreign."""
    path = tmp_path / "race.json"
    path.write_text('{"experiment": "race", "provenance": {}, "wall_time": NaN}')
    with pytest.raises(ValueError, match=r"race\.json: the JSON holds NaN"):
        E.load(path)


def test_load_result_says_current_stale_missing_or_invalid(tmp_path, monkeypatch, tiny_race):
    monkeypatch.setenv("ANGPT_RESULTS", str(tmp_path))
    assert E.results_dir() == tmp_path
    missing = E.load_result("race")
    assert missing.status == "missing" and not missing.ok and "quick run" in missing.banner
    E.run("race", "quick", seeds=1, out=tmp_path / "race.json", progress=False)
    cur = E.load_result("race")
    assert cur.status == "current" and cur.ok and cur.result["runs"]
    assert "Warning: this is a quick run" in cur.banner and "stale" not in cur.banner
    for key in ("commit", "seeds [0]", "torch"):
        assert key in cur.banner
    data = json.loads((tmp_path / "race.json").read_text())
    data["provenance"]["source_sha256"] = "0" * 16
    (tmp_path / "race.json").write_text(json.dumps(data))
    stale = E.load_result("race")
    assert stale.status == "stale" and stale.ok and "Warning: stale" in stale.banner and "0" * 16 in stale.banner
    (tmp_path / "race.json").write_text("{")
    bad = E.load_result("race")
    assert bad.status == "invalid" and "race.json" in bad.reason and "cannot be read" in bad.banner
    with pytest.raises(ValueError, match="unknown result 'nope'"):
        E.load_result("nope")


def test_a_banner_names_a_result_file_relative_to_the_checkout(tmp_path, monkeypatch):
    """An absolute path on a page says where the book was built, not where the reader's copy is
    (and CI's absolute path to the drops result, one unbreakable word, made a phone page scroll
    sideways); outside the checkout the path stays as given."""
    from angpt.experiments.common import PACKAGE_DIR
    inside = PACKAGE_DIR.parent / "book" / "results" / "no-such-folder"
    monkeypatch.setenv("ANGPT_RESULTS", str(inside))
    res = E.load_result("race-drops")
    assert res.status == "missing"
    assert f"{inside.relative_to(PACKAGE_DIR.parent) / 'race_drops.json'} does not exist" in res.banner
    assert str(PACKAGE_DIR.parent) not in res.banner
    monkeypatch.setenv("ANGPT_RESULTS", str(tmp_path))
    (tmp_path / "race_drops.json").write_text("{")
    assert str(tmp_path / "race_drops.json") in E.load_result("race-drops").banner


def test_default_results_dir_is_the_packages_book_not_the_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv("ANGPT_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert E.results_dir() == ROOT / "book" / "results"


def test_provenance_names_only_the_projects_own_commit(monkeypatch):
    monkeypatch.delenv("ANGPT_COMMIT", raising=False)
    real = common._git
    # as if angpt sat inside someone else's repository: its toplevel is not the project
    monkeypatch.setattr(common, "_git", lambda *a: "/somewhere/else" if a[0] == "rev-parse" and a[1] == "--show-toplevel"
                        else real(*a))
    p = E.provenance()
    assert p["commit"] is None and p["git_dirty"] is None
    monkeypatch.setenv("ANGPT_COMMIT", "abc123")
    assert E.provenance()["commit"] == "abc123"
