"""Faults lose nothing: a divergence never leaves a poisoned checkpoint, an overflow or a finite
blow-up is a DivergenceError, and checkpoint saves are durable and leave no temporary files."""

import os
from pathlib import Path

import pytest
import torch

import angpt
from angpt import data as D
from angpt import train as T
from angpt.config import TrainConfig
from angpt.train import DivergenceError, load_checkpoint, save_checkpoint, train

TINY = dict(d_model=32, n_layers=2, n_heads=2, seq_len=32)


@pytest.fixture(scope="module")
def small_corpus():
    c = D.load_corpus("shakespeare")
    return D.Corpus("shakespeare", c.train[:65536], c.val[:8192], c.source)


def tiny_run(preset, tmp_path, corpus, **kw):
    cfg = angpt.preset(preset, **TINY)
    base = dict(steps=12, batch_size=4, eval_every=1, eval_tokens=256, device="cpu",
                ckpt_every=1, ckpt_path=str(tmp_path / "c.pt"))
    return cfg, TrainConfig.for_arch(cfg.arch, **{**base, **kw})


def assert_usable(path, cfg):
    """The checkpoint loads into a fresh model and gives finite logits."""
    ck = load_checkpoint(path)
    model = angpt.build_model(cfg)
    model.load_state_dict(ck["model"])
    model.eval()
    with torch.no_grad():
        logits = model(D.encode("To be, or not to be")[None].long())
    assert torch.isfinite(logits).all(), f"checkpoint {path} (step {ck['step']}) gives non-finite logits"


@pytest.mark.parametrize("eval_every", [1, 0])  # 0: only the pre-save check can catch it
def test_last_good_checkpoint_is_good_after_a_huge_lr(tmp_path, small_corpus, eval_every):
    torch.set_num_threads(1)
    cfg, tc = tiny_run("gpt+", tmp_path, small_corpus, lr=1e20, eval_every=eval_every)
    with pytest.raises(DivergenceError) as err:  # the whole corpus: its batches poison step 1's update
        train(cfg, tc, corpus="shakespeare", progress=False)
    path = tc.ckpt_path
    if os.path.exists(path):
        assert_usable(path, cfg)
        assert path in str(err.value)
    else:
        assert "no checkpoint was written" in str(err.value)


@pytest.mark.parametrize("preset", ["gpt+", "angpt"])
def test_overflow_in_the_optimizer_is_a_divergence(tmp_path, small_corpus, preset):
    torch.set_num_threads(1)
    cfg, tc = tiny_run(preset, tmp_path, small_corpus, lr=1e38)
    with pytest.raises(DivergenceError, match="overflow") as err:
        train(cfg, tc, corpus=small_corpus, progress=False)
    assert err.value.record.history["step"] == list(range(1, err.value.step))
    if os.path.exists(tc.ckpt_path):
        assert_usable(tc.ckpt_path, cfg)


def test_a_finite_blowup_of_the_validation_loss_stops_the_run(tmp_path, small_corpus):
    torch.set_num_threads(1)
    cfg, tc = tiny_run("angpt", tmp_path, small_corpus, lr=1e3, ckpt_every=0, ckpt_path=None)
    with pytest.raises(DivergenceError, match="max_val_loss_rise") as err:
        train(cfg, tc, corpus=small_corpus, progress=False)
    losses = err.value.record.evals["val_loss"]
    assert losses[-1] > losses[0] + tc.max_val_loss_rise  # the eval that stopped it is in the record
    assert all(v <= losses[0] + tc.max_val_loss_rise for v in losses[:-1])
    # the switch: None lets the same run finish (finite, but far above the untrained loss)
    run = train(cfg, tc.replace(max_val_loss_rise=None), corpus=small_corpus, progress=False)
    assert run.step == tc.steps and run.final_val_loss > losses[0] + tc.max_val_loss_rise


def test_max_val_loss_rise_is_validated():
    with pytest.raises(ValueError, match="max_val_loss_rise"):
        TrainConfig(max_val_loss_rise=-1)
    with pytest.raises(ValueError, match="max_val_loss_rise"):
        TrainConfig(max_val_loss_rise="2")
    assert TrainConfig(max_val_loss_rise=None).max_val_loss_rise is None


def temps(path: Path):
    return sorted(path.parent.glob(f".{path.name}.tmp*"))


def test_a_failed_save_removes_its_temp_file_and_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    save_checkpoint(path, {"version": 1, "w": torch.ones(3)})

    def broken_save(obj, f, *a, **kw):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"version": 1, "w": torch.zeros(3)})
    assert temps(path) == []
    assert torch.equal(load_checkpoint(path)["w"], torch.ones(3))


def test_temp_files_of_killed_saves_are_removed(tmp_path):
    path = tmp_path / "run.pt"
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)  # that process has exited: its temp file is an orphan
    orphan = path.with_name(f".{path.name}.tmp{dead_pid}")
    orphan.write_bytes(b"killed mid-save")
    live = path.with_name(f".{path.name}.tmp{os.getppid()}")  # a live process may still be saving
    live.write_bytes(b"in progress")
    save_checkpoint(path, {"version": 1})
    assert temps(path) == [live]
    assert load_checkpoint(path)["version"] == 1


def test_train_cleans_orphans_of_its_checkpoint(tmp_path, small_corpus):
    path = tmp_path / "c.pt"
    orphan = path.with_name(f".{path.name}.tmp999999999")  # beyond any pid_max
    orphan.write_bytes(b"killed mid-save")
    cfg, tc = tiny_run("gpt+", tmp_path, small_corpus, steps=2, ckpt_every=0, eval_every=0)
    train(cfg, tc, corpus=small_corpus, progress=False)
    assert not orphan.exists() and temps(path) == []


def test_save_fsyncs_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else fd))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(src)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    save_checkpoint(tmp_path / "run.pt", {"version": 1})
    kinds = [e[0] for e in events]
    assert "fsync" in kinds and "replace" in kinds
    assert kinds.index("fsync") < kinds.index("replace")
    first_fsync = events[kinds.index("fsync")][1]
    tmp = events[kinds.index("replace")][1]
    if isinstance(first_fsync, str):
        assert first_fsync == tmp  # the data file itself was flushed, not only the folder
