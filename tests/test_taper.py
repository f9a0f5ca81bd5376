"""TaperNorm: the layer's three phases, the gate schedule inside the training loop, the EMA
calibration, the scale anchor, folding at g = 0, and bad input."""

import math

import pytest
import torch
import torch.nn.functional as F

import angpt
from angpt import data as D
from angpt import taper as T
from angpt.config import TrainConfig
from angpt.fold import fold, fold_error
from angpt.model import build_model
from angpt.train import train

TINY = dict(d_model=32, n_layers=2, n_heads=2, seq_len=32)


@pytest.fixture(scope="module")
def small_corpus():
    c = D.load_corpus("shakespeare")
    return D.Corpus("shakespeare", c.train[:65536], c.val[:8192], c.source)


def _tcfg(**kw):
    base = dict(steps=24, batch_size=4, eval_every=0, eval_tokens=512, device="cpu", lr=3e-3)
    return TrainConfig.for_preset("tapernorm", **{**base, **kw})


# ---------------------------------------------------------------------------- the layer


def test_phases_match_their_formulas():
    torch.manual_seed(0)
    m = T.TaperNorm(16)
    with torch.no_grad():
        m.weight.uniform_(0.5, 1.5)
        m.weight_lin.uniform_(0.5, 1.5)
        m.c.fill_(0.7)
    h = 3 * torch.randn(2, 5, 16)
    rms = m.weight * h / (h.pow(2).mean(-1, keepdim=True) + m.eps).sqrt()
    lin = 0.7 * m.weight_lin * h
    assert m.phase == "norm"
    torch.testing.assert_close(m(h), rms)  # g = 1: RMSNorm
    m.set_gate(0.25)
    assert m.phase == "taper"
    torch.testing.assert_close(m(h), 0.25 * rms + 0.75 * lin)
    m.set_gate(0.0)
    assert m.phase == "linear"
    torch.testing.assert_close(m(h), lin)  # g = 0: a fixed diagonal map
    torch.testing.assert_close(m(2 * h), 2 * m(h))  # ... which is linear, where RMSNorm is 0-homogeneous
    with pytest.raises(ValueError, match="1.5"):
        m.set_gate(1.5)


def test_phase_follows_a_loaded_gate():
    a, b = T.TaperNorm(8), T.TaperNorm(8)
    a.set_gate(0.0)
    b.load_state_dict(a.state_dict())
    assert b.phase == "linear" and float(b.gate) == 0.0


def test_calibration_is_the_least_squares_ratio():
    torch.manual_seed(1)
    m = T.TaperNorm(24, ema_decay=0.9)
    with torch.no_grad():
        m.weight.uniform_(0.5, 2.0)
    m.train()
    m.observing = True
    batches = [torch.randn(4, 8, 24) * (1 + 0.3 * torch.rand(4, 8, 1)) for _ in range(30)]
    for h in batches:
        m(h)
    m.calibrate_()
    torch.testing.assert_close(m.weight_lin, m.weight)  # gamma~ <- gamma
    # the EMA weights of the batches, then c* = argmin_c sum_k w_k E_k ||gamma h / r - c gamma h||^2
    w = torch.tensor([0.1 * 0.9 ** (len(batches) - 1 - k) for k in range(len(batches))])
    num = den = 0.0
    for wk, h in zip(w, batches):
        gh = m.weight.detach() * h
        r = (h.pow(2).mean(-1) + m.eps).sqrt()
        num = num + wk * (gh.pow(2).sum(-1) / r).mean()
        den = den + wk * gh.pow(2).sum(-1).mean()
    assert float(m.c) == pytest.approx(float(num / den), rel=1e-5)

    def err(c):  # the weighted least-squares objective the EMA ratio minimizes
        tot = 0.0
        for wk, h in zip(w, batches):
            gh = m.weight.detach() * h
            r = (h.pow(2).mean(-1, keepdim=True) + m.eps).sqrt()
            tot += wk * (gh / r - c * gh).pow(2).sum(-1).mean()
        return float(tot)

    c = float(m.c)
    assert err(c) < err(1.02 * c) and err(c) < err(0.98 * c)
    with pytest.raises(RuntimeError, match="no calibration"):
        T.TaperNorm(4).calibrate_()


# ---------------------------------------------------------------------------- the schedule


def test_gate_schedule():
    assert [T.gate_at(k, 3, 7) for k in (0, 1, 3)] == [1.0, 1.0, 1.0]
    assert T.gate_at(5, 3, 7) == pytest.approx(0.5)  # halfway down the cosine
    assert T.gate_at(4, 3, 7) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert T.gate_at(7, 3, 7) == 0.0 and T.gate_at(100, 3, 7) == 0.0
    g = [T.gate_at(k, 3, 7) for k in range(12)]
    assert all(a >= b for a, b in zip(g, g[1:]))
    assert T.gate_at(3, 3, 3) == 1.0 and T.gate_at(4, 3, 3) == 0.0  # no taper: switched off at once
    with pytest.raises(ValueError, match="k_w"):
        T.gate_at(1, 5, 2)
    t = TrainConfig.for_preset("tapernorm", steps=100)
    assert T.gate_steps(t) == (25, 65)  # our defaults: 25 % at g = 1, 40 % of cosine
    assert T.gate_steps(t.replace(gate_warmup=None)) == (t.warmup_steps, t.warmup_steps + 40)  # the paper's rule
    assert T.gate_steps(t.replace(gate_warmup=0.2, gate_taper=0.3)) == (20, 50)
    assert T.gate_steps(t.replace(gate_warmup=None, warmup_steps=0, gate_taper=1.0)) == (1, 100)  # >= 1 step


def test_gate_follows_its_schedule_in_training(small_corpus):
    torch.set_num_threads(1)
    cfg = angpt.preset("tapernorm", **TINY)
    tcfg = _tcfg(gate_warmup=0.25, gate_taper=0.5)
    k_w, k_t = T.gate_steps(tcfg)
    assert (k_w, k_t) == (6, 18)
    seen, calibrated = [], []

    def cb(step, record):
        seen.append(T.gate_of(record.model))
        calibrated.append(bool(record.model.blocks[0].norm_attn.calibrated))

    run = train(cfg, tcfg, corpus=small_corpus, progress=False, callback=cb)
    assert seen == pytest.approx([T.gate_at(k, k_w, k_t) for k in range(1, tcfg.steps + 1)], abs=1e-7)  # float32 buffer
    assert calibrated == [k > k_w for k in range(1, tcfg.steps + 1)]
    assert all(math.isfinite(v) for v in run.history["train_loss"])
    assert run.evals["val_loss"][-1] < run.evals["val_loss"][0] - 0.3
    model = run.model
    blk = model.blocks[0]
    assert blk.norm_attn.phase == "linear" and 0.1 < float(blk.norm_attn.c) < 100
    assert model.final_norm.phase == "norm" and float(model.final_norm.gate) == 1.0  # Internal-Taper keeps it
    # a tapered-off model folds exactly: no TaperNorm left in the blocks
    folded = fold(model)
    assert fold_error(model, folded) <= 1e-5
    assert not any(isinstance(m, T.TaperNorm) for m in folded.blocks.modules())
    assert isinstance(folded.final_norm, angpt.layers.RMSNorm)


def test_resume_continues_the_schedule(tmp_path, small_corpus):
    torch.set_num_threads(1)
    cfg = angpt.preset("tapernorm", **TINY, taper_final=True)
    tcfg = _tcfg(steps=16, gate_warmup=0.25, gate_taper=0.5, aux_weight=0.1)
    straight = train(cfg, tcfg, corpus=small_corpus, progress=False)
    ck = str(tmp_path / "ck.pt")

    class Stop(Exception):
        pass

    def stop_at_6(step, record):
        if step == 6:
            raise Stop

    with pytest.raises(Stop):  # interrupted inside the gate warm-up, checkpoint at 4
        train(cfg, tcfg.replace(ckpt_path=ck, ckpt_every=4), corpus=small_corpus, progress=False, callback=stop_at_6)
    resumed = train(cfg, tcfg.replace(ckpt_path=ck, ckpt_every=4), corpus=small_corpus, progress=False)
    assert resumed.history["train_loss"] == straight.history["train_loss"]
    assert float(resumed.model.final_norm.anchor_target) == float(straight.model.final_norm.anchor_target)


# ---------------------------------------------------------------------------- anchor, logit chasing


def test_scale_anchor_adds_a_pull_after_the_gate_warm_up(small_corpus):
    torch.set_num_threads(1)
    cfg = angpt.preset("tapernorm", **TINY, taper_final=True)
    model = build_model(cfg)
    model.train()
    ctl = T.controller(model, _tcfg(steps=10, gate_warmup=0.2, gate_taper=0.3, aux_weight=0.5))
    x, y = next(D.BatchSampler(small_corpus.train, 4, 32, seed=0))
    for step in range(2):  # gate warm-up: the anchor tracks, no loss term
        ctl.before_step(step)
        model(x)
        assert ctl.aux_loss() is None
    ctl.before_step(2)
    tgt = float(model.final_norm.anchor_target)
    assert math.isfinite(tgt) and tgt > 0
    with torch.no_grad():  # push the stream off its target: the pull must be nonzero and differentiable
        model.blocks[-1].mlp.proj.weight.mul_(5.0)
    model(x)
    aux = ctl.aux_loss()
    assert aux is not None and aux.requires_grad and float(aux.detach()) > 0
    aux.backward()
    assert model.blocks[-1].mlp.proj.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="aux_weight"):
        T.controller(build_model(angpt.preset("gpt", **TINY)), _tcfg(aux_weight=0.1))


def test_radial_gradient_vanishes_only_with_a_homogeneous_final_norm():
    torch.manual_seed(0)
    cfg = angpt.preset("tapernorm", **TINY, taper_final=True)
    model = build_model(cfg)
    with torch.no_grad():
        model.embed.weight.mul_(50)  # stream RMS ~ 1, so the norm's eps is negligible
    idx = torch.randint(0, 256, (2, 32))
    tgt = torch.randint(0, 256, (2, 32))
    assert abs(T.radial_gradient(model, idx, tgt)["cos_mean"]) < 1e-3  # g = 1: 0-homogeneous
    T.set_gate(model, 0.0)  # final map linear: -<grad_h l, h> = z_y - p.z exactly (logit chasing, chapter 10 §4)
    out = T.radial_gradient(model, idx, tgt)
    with torch.no_grad():
        z = model(idx).double()
    exact = (z.gather(-1, tgt[..., None])[..., 0] - (z.softmax(-1) * z).sum(-1)).mean()
    assert out["radial_mean"] == pytest.approx(float(exact), rel=1e-4, abs=1e-5)


@pytest.mark.slow
def test_taper_compiles_with_the_anchor(small_corpus):
    """dynamo traces the phase switch, the EMA buffers and the anchor's side output (aot_eager:
    no C++ compiler needed); the compiled step gives the eager step's loss."""
    torch.set_num_threads(1)
    cfg = angpt.preset("tapernorm", **TINY, taper_final=True)
    x, y = next(D.BatchSampler(small_corpus.train, 2, 32, seed=0))
    losses = []
    for compiled in (False, True):
        torch.manual_seed(0)
        model = build_model(cfg).train()
        ctl = T.controller(model, _tcfg(steps=4, gate_warmup=0.25, gate_taper=0.75, aux_weight=0.1))
        fwd = torch.compile(model, backend="aot_eager") if compiled else model
        out = []
        for step in range(2):  # g = 1 with the anchor tracking, then g < 1 with its pull
            ctl.before_step(step)
            loss = F.cross_entropy(fwd(x).flatten(0, 1), y.flatten())
            aux = ctl.aux_loss()
            out.append(float(loss.detach()) + (0.0 if aux is None else float(aux.detach())))
            with torch.no_grad():
                model.blocks[0].mlp.proj.weight.mul_(1.1)
        losses.append(out)
    torch.testing.assert_close(torch.tensor(losses[1]), torch.tensor(losses[0]), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- folding, bad input


@pytest.mark.parametrize("kw", [dict(), dict(taper_final=True), dict(placement="peri"), dict(depth_scaling=True)])
def test_fold_at_gate_zero_is_exact(kw):
    torch.manual_seed(0)
    model = build_model(angpt.preset("tapernorm", d_model=64, n_layers=3, n_heads=4, seq_len=32, **kw))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # trained-like gains and calibration constants
        for m in T.taper_norms(model):
            m.weight.copy_(0.5 + torch.rand(64, generator=g))
            m.weight_lin.copy_(0.5 + torch.rand(64, generator=g))
            m.c.fill_(0.3 + float(torch.rand(1, generator=g)))
    idx = torch.randint(0, 256, (3, 32), generator=g)
    with pytest.raises(ValueError, match="g = 1"):
        fold(model)
    T.set_gate(model, 0.0)
    ref = model(idx)
    folded = fold(model)
    assert fold_error(model, folded, idx) <= 1e-5
    torch.testing.assert_close(model(idx), ref)  # the original is untouched
    assert folded.hook_names == model.hook_names
    n_final = 0 if kw.get("taper_final") else 1
    assert sum(isinstance(m, angpt.layers.RMSNorm) for m in folded.modules()) == n_final
    assert not any(isinstance(m, T.TaperNorm) for m in folded.modules())
    with pytest.raises(ValueError, match="already folded"):
        fold(folded)


def test_bad_input():
    with pytest.raises(ValueError, match="placement 'post'"):
        m = build_model(angpt.preset("tapernorm", **TINY, placement="post"))
        T.set_gate(m, 0.0)
        T.fold_taper(m)
    with pytest.raises(ValueError, match="fold_taper folds TaperNorm"):
        T.fold_taper(build_model(angpt.preset("gpt", **TINY)))
    with pytest.raises(ValueError, match="taper_final"):
        angpt.preset("tapernorm", taper_final="yes")
    for field, value in (("gate_warmup", 1.2), ("gate_taper", -0.1), ("taper_ema", 1.0), ("aux_weight", -1.0),
                         ("aux_weight", float("nan"))):
        with pytest.raises(ValueError, match=field):
            TrainConfig(**{field: value})
    with pytest.raises(ValueError, match="gate_warmup \\+ gate_taper"):
        TrainConfig(gate_warmup=0.6, gate_taper=0.6)
    with pytest.raises(ValueError, match="unknown preset 'taper'"):
        TrainConfig.for_preset("taper")
    with pytest.raises(ValueError, match="positive integer"):
        T.TaperNorm(0)
