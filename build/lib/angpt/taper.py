"""TaperNorm's schedule (Kanavalau, Amo Alonso, Lall; arXiv:2602.10408): normalization that hands
itself over to a fixed linear map during training, so that none is left at inference.

This module holds what the training loop drives: the gate schedule, the calibration at the
end of the gate warm-up, the scale anchor, and the chapter's diagnostics. The layer itself
(`TaperNorm`) lives with the other normalizers in `angpt.layers`, its folding at g = 0
(`fold_taper`) in `angpt.fold`; both are re-exported here, so `angpt.taper.TaperNorm` and
`angpt.taper.fold_taper` keep working.

One TaperNorm, RMS variant (the paper's Sec. 3), for a token h in R^d:

    TaperNorm(h; g) = g * gamma ⊙ h / r(h)  +  (1 - g) * c * gamma~ ⊙ h,     r(h) = sqrt(||h||^2/d + eps)

g in [0, 1] is one global gate shared by every tapering norm of the model; c is a per-layer
scalar and gamma~ a per-feature gain of the linear branch. The training loop drives g with
`TaperController` (built by `controller(model, tcfg)`, called before every optimizer step):

    gate warm-up   g = 1 (plain RMSNorm) for the first k_w updates, while two EMAs per layer
                   calibrate the linear branch (least squares between the two branches):
                       c* = E[||gamma ⊙ h||^2 / r(h)] / E[||gamma ⊙ h||^2]
                   At the boundary c <- c*, gamma~ <- gamma (copied, trainable from then on).
    taper          g(k) = (1 + cos(pi (k - k_w) / (k_t - k_w))) / 2 for k_w < k <= k_t (k = update number)
    after          g = 0: no per-token statistic is left; `fold_taper` (reached through
                   `angpt.fold.fold`) multiplies diag(c gamma~) into the next matrices.

Internal-Taper (the paper's default, `ModelConfig.taper_final=False`) tapers the norms inside
the blocks and keeps the final norm; All-Taper (`taper_final=True`) also tapers the final
norm, which then stops being 0-homogeneous and lets the loss grow the logits by growing the
stream ("logit chasing", the paper's term; chapter 10, section 4). The optional fixed-target scale loss anchors it:

    L = CE + lambda * mean_{b,t} (s(h_bt) - s_tgt)^2,     s(h) = RMS of the pre-logit stream h

with s_tgt a (bias-corrected) EMA of mean s(h) during the gate warm-up, frozen when the taper
starts (TrainConfig.aux_weight = lambda; 0, the default, switches it off).

Choices where we could not find the paper's constants (it states that it sets them), each a knob:
  - EMA decay 0.99 (a third-party reimplementation's value): TrainConfig.taper_ema;
  - gate warm-up the first 25 % of the steps: TrainConfig.gate_warmup (a fraction of the
    steps; None = the LR warm-up, the paper's rule as quoted, at least one update). In our
    short runs the LR warm-up is a handful of steps, the stream has not yet left its initial
    scale, c comes out near 1/RMS of the initial stream, and in a 60-step quick run the
    taper diverges near its end (chapter 10, exercise 2; tests/test_schemes.py checks it);
  - taper length 40 % of the steps, so the model trains its last 35 % without statistics:
    TrainConfig.gate_taper (a fraction of the steps; 0 = switch off at once);
  - lambda = 0 by default; 0.01 is the third-party sketch's value;
  - the RMS variant only (we could not find the exact form of the LayerNorm variant).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .fold import fold_taper
from .layers import PHASES, TaperNorm, rms_norm

# --------------------------------------------------------------------------------------
# Gate schedule and the controller the training loop calls
# --------------------------------------------------------------------------------------


def gate_at(k: int, k_w: int, k_t: int) -> float:
    """The gate for update number k (1-based): 1 for k <= k_w, a half cosine down to 0 at
    k = k_t, 0 after (the paper's cosine taper). k_t == k_w switches off at once after k_w."""
    if not (isinstance(k_w, int) and isinstance(k_t, int) and 0 <= k_w <= k_t):
        raise ValueError(f"need integers 0 <= k_w <= k_t, got k_w={k_w!r}, k_t={k_t!r}")
    if k <= k_w:
        return 1.0
    if k >= k_t:
        return 0.0
    return 0.5 * (1.0 + math.cos(math.pi * (k - k_w) / (k_t - k_w)))


def gate_steps(tcfg) -> tuple[int, int]:
    """(k_w, k_t) of a TrainConfig: the end of the gate warm-up and of the taper, in updates.

    k_w = the LR warm-up (gate_warmup None) or gate_warmup * steps, at least 1 so the
    calibration sees a batch; k_t = k_w + gate_taper * steps, at most steps.
    """
    steps = tcfg.steps
    k_w = tcfg.warmup_steps if tcfg.gate_warmup is None else round(tcfg.gate_warmup * steps)
    k_w = min(max(1, k_w), steps)
    k_t = min(steps, k_w + round(tcfg.gate_taper * steps))
    return k_w, k_t


def taper_norms(model: nn.Module) -> list[TaperNorm]:
    return [m for m in model.modules() if isinstance(m, TaperNorm)]


def set_gate(model: nn.Module, g: float) -> None:
    """Set the global gate g on every tapering TaperNorm of `model` (not on kept final norms)."""
    for m in taper_norms(model):
        if m.tapers:
            m.set_gate(g)


def gate_of(model: nn.Module) -> float | None:
    """The model's current gate (None if it has no tapering norm)."""
    norms = [m for m in taper_norms(model) if m.tapers]
    return float(norms[0].gate) if norms else None


class TaperController:
    """Drives a model's TaperNorms through a TrainConfig's gate schedule.

    Call `before_step(step)` before update number step + 1 (step counts from 0, as
    angpt.train.lr_at), and add `aux_loss()` to the loss after the forward pass. All state
    lives in the model's buffers, so a resumed run continues the same schedule.
    """

    def __init__(self, model: nn.Module, tcfg):
        self.norms = taper_norms(model)
        self.tapering = [m for m in self.norms if m.tapers]
        self.k_w, self.k_t = gate_steps(tcfg)
        self.weight = float(tcfg.aux_weight)
        final = getattr(model, "final_norm", None)
        self.anchor = final if isinstance(final, TaperNorm) and self.weight > 0 else None
        if self.weight > 0 and self.anchor is None:
            raise ValueError(f"aux_weight={self.weight} anchors the input of a TaperNorm final norm; this model has "
                             f"none (use norm='taper', e.g. the 'tapernorm' preset)")
        for m in self.norms:
            m.ema_decay = float(tcfg.taper_ema)
        self._done = False  # calibration and anchor freeze done (read once from the buffers)
        self.gate = 1.0

    def before_step(self, step: int) -> float:
        k = step + 1
        warm = k <= self.k_w
        if not warm and not self._done:
            for m in self.tapering:
                if not bool(m.calibrated):
                    m.calibrate_()
            if self.anchor is not None and math.isnan(float(self.anchor.anchor_target)):
                self.anchor.freeze_anchor_()
            self._done = True
        for m in self.tapering:
            m.observing = warm
        if self.anchor is not None:
            self.anchor.anchor = "track" if warm else "pull"
            self.anchor.aux = None
        self.gate = gate_at(k, self.k_w, self.k_t)
        for m in self.tapering:
            m.set_gate(self.gate)
        return self.gate

    def aux_loss(self) -> torch.Tensor | None:
        """lambda * mean (s(h) - s_tgt)^2 of the last training forward pass, or None."""
        if self.anchor is None or self.anchor.aux is None:
            return None
        aux, self.anchor.aux = self.anchor.aux, None
        return self.weight * aux


def controller(model: nn.Module, tcfg) -> TaperController | None:
    """A TaperController if `model` has TaperNorms (or asks for the anchor), else None."""
    if not taper_norms(model) and not tcfg.aux_weight > 0:
        return None
    return TaperController(model, tcfg)


# --------------------------------------------------------------------------------------
# Diagnostics for the chapter
# --------------------------------------------------------------------------------------


def radial_gradient(model: nn.Module, idx: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """The "logit chasing" force at the pre-logit stream h (the input of the final norm).

    For each token, cos = <-grad_h loss, h> / (||grad_h loss|| ||h||) of its own cross-entropy:
    > 0 means the loss falls when h is scaled up. A 0-homogeneous final norm makes it ~0
    (Euler: J_N(h) h = 0); without one it is > 0 for correctly classified tokens
    (chapter 10, section 4). Returns, averaged over the batch's tokens (eval mode): 'cos_mean',
    'radial_mean' = mean of -<grad_h loss_t, h_t> (for a linear final map exactly
    z_y - p.z, the margin of the target over the softmax average), 'rms_mean' = RMS of h.
    """
    store = {}

    def grab(_module, args):
        store["h"] = args[0]

    was = model.training
    model.eval()
    handle = model.final_norm.register_forward_pre_hook(grab)
    try:
        with torch.enable_grad():
            logits = model(idx)
            loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="sum")
            (grad,) = torch.autograd.grad(loss, store["h"])
    finally:
        handle.remove()
        model.train(was)
    h = store["h"].detach().float()
    grad = grad.float()
    radial = -(grad * h).sum(-1)  # (B, T)
    cos = radial / (grad.norm(dim=-1) * h.norm(dim=-1)).clamp_min(1e-30)
    rms = h.pow(2).mean(-1).sqrt()
    return {"cos_mean": float(cos.mean()), "radial_mean": float(radial.mean()), "rms_mean": float(rms.mean())}


@torch.no_grad()
def taper_profile(model: nn.Module, idx: torch.Tensor) -> list[dict]:
    """Per TaperNorm on one forward pass (eval mode): its gate, c, whether it is calibrated,
    the spread of its input's token norms (std/mean: how far from a constant r(h) is) and the relative mismatch
    ||gamma h / r(h) - c gamma~ h|| / ||gamma h / r(h)|| of its two branches (mean over tokens)."""
    rows, handles = [], []

    def probe(name):
        def hook(m, args):
            h = args[0].float()
            n = h.norm(dim=-1).flatten()
            y = rms_norm(h, m.weight.float(), m.eps)
            lin = h * m.scale.float()
            mis = ((y - lin).norm(dim=-1) / y.norm(dim=-1).clamp_min(1e-30)).mean()
            rows.append({"name": name, "gate": float(m.gate), "c": float(m.c), "tapers": m.tapers,
                         "calibrated": bool(m.calibrated),
                         "norm_cv": float(n.std(unbiased=False) / n.mean()), "mismatch": float(mis)})
        return hook

    for name, m in model.named_modules():
        if isinstance(m, TaperNorm):
            handles.append(m.register_forward_pre_hook(probe(name)))
    was = model.training
    model.eval()
    try:
        model(idx)
    finally:
        for hd in handles:
            hd.remove()
        model.train(was)
    return rows


__all__ = ["TaperNorm", "PHASES", "gate_at", "gate_steps", "taper_norms", "set_gate", "gate_of",
           "TaperController", "controller", "fold_taper", "radial_gradient", "taper_profile"]
