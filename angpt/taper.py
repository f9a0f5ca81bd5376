"""TaperNorm (Kanavalau, Amo Alonso, Lall; arXiv:2602.10408): normalization that hands itself over
to a fixed linear map during training, so that none is left at inference.

One TaperNorm, RMS variant (schemes.md §6.2), for a token h in R^d:

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
stream ("logit chasing", schemes.md §6.5). The optional fixed-target scale loss anchors it:

    L = CE + lambda * mean_{b,t} (s(h_bt) - s_tgt)^2,     s(h) = RMS of the pre-logit stream h

with s_tgt a (bias-corrected) EMA of mean s(h) during the gate warm-up, frozen when the taper
starts (TrainConfig.aux_weight = lambda; 0, the default, switches it off).

Choices where the paper's constants are not public (schemes.md §6, "Open"), each a knob:
  - EMA decay 0.99 (a third-party reimplementation's value): TrainConfig.taper_ema;
  - gate warm-up the first 25 % of the steps: TrainConfig.gate_warmup (a fraction of the
    steps; None = the LR warm-up, the paper's rule as quoted, at least one update). In our
    short runs the LR warm-up is a handful of steps, the stream has not yet left its initial
    scale, c comes out near 1/init_std, and the taper diverges (chapter 10 shows it);
  - taper length 40 % of the steps, so the model trains its last 35 % without statistics:
    TrainConfig.gate_taper (a fraction of the steps; 0 = switch off at once);
  - lambda = 0 by default; 0.01 is the third-party sketch's value;
  - the RMS variant only (the LayerNorm variant's exact form is not public).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from .layers import rms_norm

PHASES = ("norm", "taper", "linear")


# --------------------------------------------------------------------------------------
# The layer
# --------------------------------------------------------------------------------------


class TaperNorm(nn.Module):
    """g * gamma ⊙ h / r(h) + (1 - g) * c * gamma~ ⊙ h over the last dim of width d.

    Parameters: `weight` (gamma, the normalizer's gain) and `weight_lin` (gamma~, the linear
    branch's gain). Buffers (saved in checkpoints): `gate`, `c`, the calibration EMAs, and
    the scale anchor's EMA and target. Python attributes the controller sets:
      tapers     False: this norm never tapers (the final norm in Internal-Taper)
      observing  update the calibration EMAs in training forward passes (gate warm-up)
      anchor     None, 'track' (EMA of the input's RMS) or 'pull' (compute `aux`)
    The branch that runs follows the phase: 'norm' (g = 1: the normalizer only, as cheap as
    RMSNorm), 'taper' (both), 'linear' (g = 0: one multiply). A compiled model therefore
    sees at most three graphs; g itself is a tensor, so the taper does not recompile.
    """

    def __init__(self, d: int, eps: float = 1e-6, ema_decay: float = 0.99):
        super().__init__()
        if not isinstance(d, int) or d < 1:
            raise ValueError(f"d must be a positive integer, got {d!r}")
        self.d, self.eps, self.ema_decay = d, eps, ema_decay
        self.weight = nn.Parameter(torch.ones(d))  # gamma
        self.weight_lin = nn.Parameter(torch.ones(d))  # gamma~, set from gamma at calibration
        self.register_buffer("gate", torch.tensor(1.0))
        self.register_buffer("c", torch.tensor(1.0))
        self.register_buffer("ema_num", torch.tensor(0.0))  # EMA of mean ||gamma h||^2 / r(h)
        self.register_buffer("ema_den", torch.tensor(0.0))  # EMA of mean ||gamma h||^2
        self.register_buffer("calibrated", torch.tensor(False))
        self.register_buffer("anchor_num", torch.tensor(0.0))  # EMA of mean s(h)
        self.register_buffer("anchor_den", torch.tensor(0.0))  # EMA of 1: bias correction
        self.register_buffer("anchor_target", torch.tensor(float("nan")))
        self.tapers, self.observing, self.anchor = True, False, None
        self.phase = "norm"
        self.aux: torch.Tensor | None = None
        self.register_load_state_dict_post_hook(lambda module, keys: module._sync_phase())

    # ---- gate -------------------------------------------------------------------------
    def set_gate(self, g: float) -> None:
        g = float(g)
        if not 0.0 <= g <= 1.0:
            raise ValueError(f"the gate must lie in [0, 1], got {g!r}")
        self.gate.fill_(g)
        self.phase = "norm" if g == 1.0 else "linear" if g == 0.0 else "taper"

    def _sync_phase(self) -> None:
        """After load_state_dict: the phase follows the loaded gate."""
        g = float(self.gate)
        self.phase = "norm" if g == 1.0 else "linear" if g == 0.0 else "taper"

    @property
    def scale(self) -> torch.Tensor:
        """diag of the linear branch, c * gamma~ (d,): what folds into the next matrix."""
        return self.c * self.weight_lin

    # ---- calibration ------------------------------------------------------------------
    @torch.no_grad()
    def _observe(self, h: torch.Tensor) -> None:
        hf = h.detach().float()
        gh2 = (hf * self.weight.detach().float()).pow(2).sum(-1)  # ||gamma ⊙ h||^2 per token
        r = (hf.pow(2).mean(-1) + self.eps).sqrt()  # r(h) per token
        b = self.ema_decay
        self.ema_num.mul_(b).add_((1 - b) * (gh2 / r).mean())
        self.ema_den.mul_(b).add_((1 - b) * gh2.mean())

    @torch.no_grad()
    def calibrate_(self) -> None:
        """c <- c* = EMA num / EMA den (both EMAs start at 0 with the same weights, so the
        ratio is already bias-corrected), gamma~ <- gamma."""
        if not float(self.ema_den) > 0:
            raise RuntimeError("TaperNorm.calibrate_: no calibration statistics yet; run training "
                               "forward passes with observing=True (the gate warm-up) first")
        self.c.copy_(self.ema_num / self.ema_den)
        self.weight_lin.copy_(self.weight)
        self.calibrated.fill_(True)

    # ---- scale anchor -----------------------------------------------------------------
    @torch.no_grad()
    def freeze_anchor_(self) -> None:
        if not float(self.anchor_den) > 0:
            raise RuntimeError("TaperNorm.freeze_anchor_: the anchor has seen no batch yet")
        self.anchor_target.copy_(self.anchor_num / self.anchor_den)

    def _anchor(self, h: torch.Tensor) -> None:
        s = (h.float().pow(2).mean(-1) + self.eps).sqrt()  # per-token RMS (B, T)
        if self.anchor == "track":
            with torch.no_grad():
                b = self.ema_decay
                self.anchor_num.mul_(b).add_((1 - b) * s.detach().mean())
                self.anchor_den.mul_(b).add_(1 - b)
        elif self.anchor == "pull":
            self.aux = (s - self.anchor_target).pow(2).mean()

    # ---- forward ----------------------------------------------------------------------
    def forward(self, h: torch.Tensor) -> torch.Tensor:  # h: (..., d)
        if self.training and self.anchor is not None:
            self._anchor(h)
        if self.phase == "linear":
            return h * self.scale.to(h.dtype)
        y = rms_norm(h, self.weight, self.eps)
        if self.phase == "norm":
            if self.training and self.observing:
                self._observe(h)
            return y
        g = self.gate.to(h.dtype)
        return g * y + (1 - g) * (h * self.scale.to(h.dtype))

    def extra_repr(self) -> str:
        return f"{self.d}, eps={self.eps:g}, tapers={self.tapers}, phase={self.phase!r}"


# --------------------------------------------------------------------------------------
# Gate schedule and the controller the training loop calls
# --------------------------------------------------------------------------------------


def gate_at(k: int, k_w: int, k_t: int) -> float:
    """The gate for update number k (1-based): 1 for k <= k_w, a half cosine down to 0 at
    k = k_t, 0 after (schemes.md §6.3). k_t == k_w switches off at once after k_w."""
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
# Folding at g = 0
# --------------------------------------------------------------------------------------


@torch.no_grad()
def fold_taper(model, check: bool = True):
    """A copy of a tapered-off GPT with every g = 0 TaperNorm folded into the next matrices.

    With row-vector tokens a tapered norm is h -> h D, D = diag(c gamma~) (times LN-Scaling's
    1/sqrt(l) if set), so W (D h) = (W D) h: D scales the *columns* of W_qkv and W_fc (each
    reads the normalized input), the columns of W_head for a tapered final norm; a Peri-LN
    output norm D_out scales the *rows* of the sublayer's output matrix. What is left: no
    normalization inside the blocks, and the final RMSNorm where it was kept (Internal-Taper).
    Done in float64 and cast back. check: verify on a random batch that the logits agree
    (relative error <= 1e-5); raise RuntimeError otherwise.
    """
    from .fold import fold_error
    from .layers import RMSNorm
    from .model import Transformer

    if not isinstance(model, Transformer):
        raise ValueError(f"fold_taper expects an angpt Transformer, got {type(model).__name__}")
    if model.folded:
        raise ValueError("this model is already folded")
    cfg = model.cfg
    if cfg.arch != "gpt" or cfg.norm != "taper":
        raise ValueError(f"fold_taper folds TaperNorm models (arch 'gpt', norm 'taper'), got arch {cfg.arch!r}, "
                         f"norm {cfg.norm!r}")
    if cfg.placement not in ("pre", "peri"):
        raise ValueError(f"TaperNorm folds in a pre-LN (or Peri-LN) model; placement {cfg.placement!r} puts a norm "
                         f"on the stream itself; valid choices: 'pre', 'peri'")
    for name, m in model.named_modules():
        if isinstance(m, TaperNorm) and m.tapers and float(m.gate) != 0.0:
            raise ValueError(f"{name} has gate g = {float(m.gate):.4g}; only a tapered-off model (g = 0, after the "
                             f"taper: TrainConfig.gate_warmup + gate_taper <= 1) folds")
    out = copy.deepcopy(model)
    f64 = lambda m: m.scale.detach().double()  # noqa: E731
    for blk in out.blocks:
        for norm_name, lin in (("norm_attn", blk.attn.qkv), ("norm_mlp", blk.mlp.fc)):
            D = f64(getattr(blk, norm_name)) * blk.in_scale  # (d_m,)
            lin.weight.copy_((lin.weight.double() * D[None, :]).to(lin.weight.dtype))
            setattr(blk, norm_name, nn.Identity())
        for norm_name, lin in (("out_attn", blk.attn.proj), ("out_mlp", blk.mlp.proj)):
            norm = getattr(blk, norm_name)
            if isinstance(norm, TaperNorm):
                lin.weight.copy_((f64(norm)[:, None] * lin.weight.double()).to(lin.weight.dtype))
                setattr(blk, norm_name, nn.Identity())
        blk.in_scale = 1.0
    final = out.final_norm
    if isinstance(final, TaperNorm):
        if final.tapers:  # All-Taper: the final map folds into the head
            out.head.weight.copy_((out.head.weight.double() * f64(final)[None, :]).to(out.head.weight.dtype))
            out.final_norm = nn.Identity()
        else:  # Internal-Taper: the final norm stays an RMSNorm
            keep = RMSNorm(cfg.d_model, eps=final.eps).to(final.weight)
            keep.weight.copy_(final.weight)
            out.final_norm = keep
    out.folded = True
    if check:
        if model.head.weight.dtype in (torch.float32, torch.float64):
            err = fold_error(model, out)
        else:  # half precision: its own rounding would hide a folding error; check in float32
            m32 = copy.deepcopy(model).float()
            err = fold_error(m32, fold_taper(m32, check=False))
        if not err <= 1e-5:
            raise RuntimeError(f"folded model differs from the original: relative logit error {err:.3g} > 1e-5")
    return out


# --------------------------------------------------------------------------------------
# Diagnostics for the chapter
# --------------------------------------------------------------------------------------


def radial_gradient(model: nn.Module, idx: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """The "logit chasing" force at the pre-logit stream h (the input of the final norm).

    For each token, cos = <-grad_h loss, h> / (||grad_h loss|| ||h||) of its own cross-entropy:
    > 0 means the loss falls when h is scaled up. A 0-homogeneous final norm makes it ~0
    (Euler: J_N(h) h = 0); without one it is > 0 for correctly classified tokens
    (schemes.md §6.5). Returns, averaged over the batch's tokens (eval mode): 'cos_mean',
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
