"""anGPT trains from step 0 without warm-up: no early blow-up at the race's width and depth.

d_model 512, 8 layers, a batch of 8 x 128 tokens, float32 on the CPU, Adam with no warm-up
at lr 2e-3 and 4e-3 (the anGPT recipe, TrainConfig.for_arch). Over the first 10 steps no
loss may exceed the initial loss by more than 10 %, and the last layer's stream norm (mean
over tokens) must stay within [0.5, 2].

What it guards: with s_z starting at 1 (nGPT's init, logit_scale_init=1) every logit is
capped by |s_z| (unit head rows, a ~unit stream), so the only fast way down for the loss is
to grow the stream; Adam's first steps align rows with their inputs, the SwiGLU output grows
with the square of its input and the growth compounds through depth: the loss went
5.54 -> 97 -> 157 at lr 2e-3 and the stream norm 1 -> 900. The anGPT preset's
logit_scale_init=10 is what removes it.
"""

from __future__ import annotations

import math

import pytest
import torch

from angpt import build_model, preset
from angpt import data as D
from angpt.config import TrainConfig
from angpt.train import make_optimizer, train_step

SIZE = dict(d_model=512, n_layers=8, n_heads=8, seq_len=128)
BATCH, STEPS = 8, 10


def early_steps(lr: float, **overrides) -> tuple[list[float], list[float]]:
    """(losses, last-layer stream norms) of the first STEPS steps of the anGPT recipe,
    through the training loop's own `train_step` (forward, backward, clip, Adam, bound)."""
    cfg = preset("angpt", **SIZE, **overrides)
    tcfg = TrainConfig.for_arch("angpt", steps=STEPS, batch_size=BATCH, lr=lr, min_lr_ratio=1.0)
    assert tcfg.warmup_steps == 0 and tcfg.weight_decay == 0.0
    torch.manual_seed(0)
    model = build_model(cfg)
    model.train()
    opt = make_optimizer(model, tcfg, torch.device("cpu"))
    sampler = D.BatchSampler(D.load_corpus("shakespeare").train, BATCH, cfg.seq_len, seed=0)
    norms: list[float] = []
    model.hook_dict["hook_final"].register_forward_hook(
        lambda mod, inp, out: norms.append(float(out.detach().norm(dim=-1).mean())))
    losses = []
    for step in range(STEPS):
        x, y = next(sampler)
        loss, _ = train_step(model, model, opt, x, y, tcfg.grad_clip, step + 1)
        losses.append(loss)
    return losses, norms


@pytest.mark.slow
@pytest.mark.parametrize("lr", [2e-3, 4e-3])
def test_angpt_has_no_early_blow_up_without_warmup(lr):
    losses, norms = early_steps(lr)
    assert len(losses) == len(norms) == STEPS
    assert all(math.isfinite(v) for v in losses + norms)
    worst = max(losses)
    assert worst <= 1.10 * losses[0], f"lr {lr}: losses {[round(v, 3) for v in losses]}"
    assert 0.5 <= min(norms) and max(norms) <= 2.0, f"lr {lr}: stream norms {[round(v, 3) for v in norms]}"
    assert losses[-1] < losses[0] - 1.0  # and it learns: more than a nat in 10 steps


def test_every_run_record_keeps_its_worst_early_loss():
    """RunRecord.max_early_loss: the worst train loss of the first max(10, 5 %) steps, in
    the record and in its JSON form, so a spike that later recovers is not averaged away."""
    import angpt

    cfg = preset("angpt", d_model=32, n_layers=1, n_heads=2, seq_len=16)
    rec = angpt.train(cfg, TrainConfig.for_arch("angpt", steps=12, batch_size=2, eval_every=0, eval_tokens=64),
                      progress=False)
    losses = rec.history["train_loss"]
    assert rec.max_early_loss == max(losses[:10]) and rec.to_dict()["max_early_loss"] == rec.max_early_loss
    # a spike at step 3 of a recorded run (edited in): seen, though the run ends well
    rec.history["train_loss"] = losses[:2] + [50.0] + losses[3:]
    assert rec.max_early_loss == 50.0 and rec.to_dict()["max_early_loss"] == 50.0
    # long runs look at their first 5 %: step 15 of 300 counts, step 16 does not
    rec.train_config = {**rec.train_config, "steps": 300}
    rec.history["train_loss"] = [1.0] * 14 + [7.0] + [9.0] + [1.0] * 284
    assert rec.max_early_loss == 7.0


def test_logit_scale_init_is_the_presets_s_z_and_is_checked():
    tiny = dict(d_model=32, n_layers=1, n_heads=2, seq_len=16)
    assert torch.allclose(build_model(preset("angpt", **tiny)).s_z(), torch.full((256,), 10.0))
    assert torch.allclose(build_model(preset("ngpt", **tiny)).s_z(), torch.ones(256))  # nGPT's code
    assert torch.allclose(build_model(preset("angpt", **tiny, logit_scale_init=3.0)).s_z(), torch.full((256,), 3.0))
    for bad in (0.0, -1.0, float("nan"), "10"):
        with pytest.raises(ValueError, match="logit_scale_init"):
            preset("angpt", logit_scale_init=bad)
