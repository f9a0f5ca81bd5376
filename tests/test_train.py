"""angpt.train: every preset learns, resume is exact, NaN stops the run, bad configs fail."""

import json
import math
import shutil

import pytest
import torch

import angpt
from angpt import data as D
from angpt.config import PRESETS, TrainConfig
from angpt.train import DivergenceError, load_checkpoint, lr_at, train

TINY = dict(d_model=32, n_layers=2, n_heads=2, seq_len=32)


@pytest.fixture(scope="module")
def small_corpus():
    # 64 KB slices of the packaged corpus: a few dozen steps of a tiny model take seconds
    c = D.load_corpus("shakespeare")
    return D.Corpus("shakespeare", c.train[:65536], c.val[:8192], c.source)


def tcfg_for(arch, **kw):
    base = dict(steps=30, batch_size=8, eval_every=0, eval_tokens=1024, device="cpu")
    return TrainConfig.for_arch(arch, **{**base, **kw})


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_learns(name, small_corpus):
    torch.set_num_threads(1)
    cfg = angpt.preset(name, **TINY)
    lr = 1e-2 if cfg.arch != "gpt" else 3e-3  # tiny models take larger steps
    run = train(cfg, tcfg_for(cfg.arch, lr=lr), corpus=small_corpus, progress=False)
    first, last = run.evals["val_loss"][0], run.evals["val_loss"][-1]
    # untrained: near uniform over bytes; nGPT/anGPT logits s_z cos(row, h) ~ N(0, s_z^2/d_m)
    # add s_z^2/(2 d_m) nats (anGPT's s_z starts at 10: +1.6 nats at this tiny width)
    s_z = cfg.logit_scale_init if cfg.arch != "gpt" else 0.0
    assert math.isclose(first, math.log(256) + s_z ** 2 / (2 * cfg.d_model), rel_tol=0.1)
    assert last < first - 0.5, f"{name}: val loss {first:.3f} -> {last:.3f}"
    h = run.history
    assert h["step"] == list(range(1, 31)) and h["tokens"][-1] == 30 * 8 * 32
    assert all(math.isfinite(v) for v in h["train_loss"])
    json.dumps(run.to_dict())  # the record is JSON-serialisable


def test_constraint_holds_after_steps(small_corpus):
    from angpt.constraints import constrained_weights

    run = train(angpt.preset("angpt", **TINY), tcfg_for("angpt", steps=5, lr=3e-2), corpus=small_corpus,
                progress=False)
    for name, p, dim in constrained_weights(run.model):
        assert p.norm(dim=dim).max() <= 1 + 1e-5, name  # anGPT: every vector inside the unit ball


def test_schedule_recipes():
    g = TrainConfig.for_arch("gpt", steps=100, lr=1.0)
    assert g.warmup_steps == 5 and g.weight_decay > 0
    assert lr_at(0, g) == pytest.approx(0.2) and lr_at(4, g) == pytest.approx(1.0)
    assert lr_at(99, g) < 0.01 and all(lr_at(s, g) >= lr_at(s + 1, g) for s in range(4, 99))
    a = TrainConfig.for_arch("angpt", steps=100, lr=1.0)
    assert a.warmup_steps == 0 and a.weight_decay == 0 and lr_at(0, a) == pytest.approx(1.0)
    floor = a.replace(min_lr_ratio=0.1)
    assert lr_at(100, floor) == pytest.approx(0.1)


def test_resume_reproduces_the_trajectory(tmp_path, small_corpus):
    torch.set_num_threads(1)
    cfg = angpt.preset("angpt", **TINY)
    ck = tmp_path / "run.pt"
    tc = tcfg_for("angpt", steps=16, eval_every=4, ckpt_path=str(ck), ckpt_every=8)
    full = train(cfg, tc.replace(ckpt_path=None, ckpt_every=0), corpus=small_corpus, progress=False)

    def crash(step, record):
        if step == 11:  # after the checkpoint at 8: steps 9-11 are lost
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tc, corpus=small_corpus, callback=crash, progress=False)
    assert load_checkpoint(ck)["step"] == 8
    resumed = train(cfg, tc, corpus=small_corpus, progress=False)
    assert resumed.history["train_loss"] == full.history["train_loss"]  # bit-exact on CPU
    assert resumed.evals == full.evals
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporary files
    with pytest.raises(ValueError, match="another TrainConfig.*lr"):
        train(cfg, tc.replace(lr=0.5), corpus=small_corpus, progress=False)


def test_nan_stops_with_step_and_keeps_last_good_checkpoint(tmp_path, small_corpus):
    cfg = angpt.preset("gpt+", **TINY)
    ck = tmp_path / "run.pt"
    tc = tcfg_for("gpt", steps=20, ckpt_path=str(ck), ckpt_every=4)

    def poison(step, record):
        if step == 6:
            with torch.no_grad():
                record.model.head.weight.fill_(float("nan"))

    with pytest.raises(DivergenceError, match="nan at step 7") as err:
        train(cfg, tc, corpus=small_corpus, callback=poison, progress=False)
    assert err.value.step == 7 and err.value.record.step == 6
    saved = load_checkpoint(ck)
    assert saved["step"] == 4
    assert all(torch.isfinite(v).all() for v in saved["model"].values())
    backup = tmp_path / "copy.pt"
    shutil.copy(ck, backup)  # the good checkpoint resumes
    run = train(cfg, tc.replace(ckpt_path=str(backup)), corpus=small_corpus, progress=False)
    assert run.step == 20 and math.isfinite(run.final_val_loss)


def test_norm_tracking_and_callback(small_corpus):
    seen = []
    run = train(angpt.preset("ngpt", **TINY), tcfg_for("ngpt", steps=6, track_every=3), corpus=small_corpus,
                callback=lambda s, r: seen.append((s, len(r.norms))), progress=False)
    assert [e["step"] for e in run.norms] == [0, 3, 6]
    assert seen == [(1, 1), (2, 1), (3, 2), (4, 2), (5, 2), (6, 3)]
    json.dumps(run.to_dict())


def test_bad_values_raise_valueerror(small_corpus):
    for bad in (dict(steps=0), dict(lr=-1.0), dict(batch_size=0), dict(warmup_steps=-1),
                dict(device="tpu"), dict(grad_clip=float("nan")), dict(steps=10, warmup_steps=10)):
        with pytest.raises(ValueError):
            TrainConfig(**bad)
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        TrainConfig.for_arch("gpt", learning_rate=1e-3)
    cfg = angpt.preset("gpt+", **TINY)
    with pytest.raises(ValueError, match="ckpt_path"):
        train(cfg, tcfg_for("gpt", ckpt_every=5), corpus=small_corpus, progress=False)
    with pytest.raises(ValueError, match="unknown corpus"):
        train(cfg, tcfg_for("gpt"), corpus="wikipedia", progress=False)
    with pytest.raises(ValueError, match="vocab_size must be 256"):
        train(angpt.preset("gpt+", **TINY, vocab_size=300), tcfg_for("gpt"), corpus=small_corpus, progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            train(cfg, tcfg_for("gpt", device="cuda"), corpus=small_corpus, progress=False)
