"""The training loop: one loop for every arch, each with its paper's optimizer recipe.

    run = angpt.train(angpt.preset("angpt", d_model=128), angpt.TrainConfig.for_arch("angpt", steps=300))
    run.evals["val_loss"][-1], run.model   # the record, and the trained model

What the loop does, in order, each step (the recipe is in `TrainConfig.for_arch`):
1. draw a batch from the seeded sampler (angpt.data.BatchSampler);
2. forward under bf16 autocast on CUDA (float32 on CPU), cross-entropy in float32;
3. backward; stop with `DivergenceError` if the loss or the gradient norm is NaN/inf,
   *before* the optimizer touches the weights, so the last checkpoint stays good;
4. clip the gradient norm, AdamW step with the scheduled lr (linear warm-up for the GPT
   family, then cosine; nGPT/anGPT: no warm-up, no weight decay, i.e. Adam);
5. project the weights back onto their constraint (`angpt.constraints.constraint_step`,
   one compiled graph when `compile` is on:
   nGPT unit norm, anGPT norm <= 1), as the papers do after every optimizer step;
6. every `eval_every` steps, the validation loss on a fixed token budget (the same text
   for every run), which must stay finite and within `max_val_loss_rise` nats of step 0's;
   every `track_every` steps, per-layer norms (angpt.norms); every `ckpt_every` steps, an
   atomic, fsync'ed checkpoint, written only if the weights and logits are finite (so the
   checkpoint a DivergenceError names is always usable); then `callback(step, record)`.
TaperNorm models (norm 'taper') also get their gate set before each step, and the optional
scale anchor added to the loss (angpt.taper.TaperController; TrainConfig.gate_*, aux_weight).

Step times cover only steps 1-5 (with torch.cuda.synchronize on CUDA), never evaluation,
norm tracking or checkpoints. A checkpoint holds the model, the optimizer, the step, the
RNG and sampler states and the history so far: rerunning the same `train(...)` call after
an interruption resumes from it and continues the same trajectory (bit-exact on CPU).
"""

from __future__ import annotations

import math
import os
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from .config import ModelConfig, TrainConfig
from . import data as D
from .constraints import constrain_, constraint_step

CHECKPOINT_VERSION = 1
EVAL_BATCH_MULT = 4  # evaluation keeps no activations for backward: larger batches fit
# TrainConfig fields that may change between an interrupted run and its resumption
RESUMABLE_CHANGES = ("device", "compile", "ckpt_path", "ckpt_every")


class DivergenceError(RuntimeError):
    """Training diverged and stopped: the loss or gradient norm became NaN/inf, the optimizer
    step overflowed, the weights or logits became non-finite, or the validation loss rose
    more than `TrainConfig.max_val_loss_rise` above its step-0 value. No checkpoint is ever
    written after the divergence, so `ckpt_path` (if it exists) holds finite weights."""

    def __init__(self, step: int, what: str, value, ckpt_path: str | None,
                 stopped: str = "training stopped before updating the weights"):
        self.step, self.ckpt_path = step, ckpt_path
        where = f"the last good checkpoint is {ckpt_path}" if ckpt_path and os.path.exists(ckpt_path) \
            else "no checkpoint was written"
        what = what if value is None else f"{what} is {value}"
        super().__init__(f"{what} at step {step}; {stopped} ({where}). Try a smaller lr or a larger warm-up.")


@dataclass
class RunRecord:
    """What a training run returns. `to_dict()` is JSON-serialisable (no tensors, no model).

    history   one entry per step (columns): step, tokens, train_loss, lr, step_time, grad_norm
              (max_early_loss: the worst of the first steps' train losses)
    evals     one entry per evaluation (step 0 included): step, tokens, val_loss
    norms     NormRecorder entries (angpt.norms) when track_every > 0
    """

    model_config: dict
    train_config: dict
    corpus: str
    device: str
    n_params: int
    tokens_per_step: int
    history: dict = field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    evals: dict = field(default_factory=lambda: {k: [] for k in EVAL_KEYS})
    norms: list = field(default_factory=list)
    wall_time: float = 0.0  # seconds, the whole call (evaluation and checkpoints included)
    train_time: float = 0.0  # seconds in training steps only
    model: torch.nn.Module | None = field(default=None, repr=False, compare=False)

    @property
    def step(self) -> int:
        return self.history["step"][-1] if self.history["step"] else 0

    @property
    def final_val_loss(self) -> float | None:
        return self.evals["val_loss"][-1] if self.evals["val_loss"] else None

    @property
    def max_early_loss(self) -> float | None:
        """The largest training loss over the first max(10, 5 % of all) steps: a blow-up that
        later recovers stays visible (only a NaN/inf loss stops a run as diverged)."""
        n = max(EARLY_STEPS, math.ceil(0.05 * self.train_config["steps"]))
        early = self.history["train_loss"][:n]
        return max(early) if early else None

    @property
    def tokens_per_second(self) -> float:
        return self.step * self.tokens_per_step / self.train_time if self.train_time else float("nan")

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "model"}
        out["final_val_loss"] = self.final_val_loss
        out["max_early_loss"] = self.max_early_loss
        out["tokens_per_second"] = self.tokens_per_second
        return out


HISTORY_KEYS = ("step", "tokens", "train_loss", "lr", "step_time", "grad_norm")
EARLY_STEPS = 10  # RunRecord.max_early_loss looks at least this many first steps
EVAL_KEYS = ("step", "tokens", "val_loss")


# --------------------------------------------------------------------------------------
# Pieces
# --------------------------------------------------------------------------------------


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda if available, else cpu. Asking for cuda without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA device; use 'auto' or 'cpu'")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; valid choices: 'auto', 'cpu', 'cuda'")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    """A human-readable name of the hardware, for provenance."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    cpu = platform.processor() or platform.machine()
    try:  # Linux: the marketing name is more telling than 'x86_64'
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"CPU ({cpu}, {torch.get_num_threads()} threads)"


def lr_at(step: int, tcfg: TrainConfig) -> float:
    """The learning rate of update number step + 1 (step counts from 0).

    Linear warm-up over `warmup_steps` (reaching lr at the last warm-up step), then a cosine
    from lr down to lr * min_lr_ratio over the remaining steps.
    """
    if step < tcfg.warmup_steps:
        return tcfg.lr * (step + 1) / tcfg.warmup_steps
    progress = (step - tcfg.warmup_steps) / max(1, tcfg.steps - tcfg.warmup_steps)
    floor = tcfg.lr * tcfg.min_lr_ratio
    return floor + 0.5 * (tcfg.lr - floor) * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, tcfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW over the model's own parameter groups (matrices decay, gains/scales do not).

    With weight_decay 0 (nGPT, anGPT) this is exactly Adam. `fused` on CUDA: the same kernel
    for every arch, so step-time ratios compare the models, not the optimizer.
    """
    if hasattr(model, "optim_groups"):
        groups = model.optim_groups(tcfg.weight_decay)
    else:  # any nn.Module: nanoGPT's rule, every >= 2-D weight decays
        params = [p for p in model.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": tcfg.weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    kw = dict(lr=tcfg.lr, betas=(tcfg.beta1, tcfg.beta2), eps=tcfg.eps)
    if device.type == "cuda":
        kw["fused"] = True
    return torch.optim.AdamW(groups, **kw)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op context on CPU (CPU runs train in float32)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def loss_fn(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = model(x)  # (B, T, V)
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))


@torch.no_grad()
def evaluate(model, xv: torch.Tensor, yv: torch.Tensor, batch_size: int, device: torch.device) -> float:
    """Mean next-token loss (nats) over fixed validation windows (angpt.data.eval_windows)."""
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    for i in range(0, len(xv), batch_size):
        x, y = xv[i:i + batch_size].to(device), yv[i:i + batch_size].to(device)
        with autocast(device):
            total += loss_fn(model, x, y).item() * x.numel()
        n += x.numel()
    model.train(was_training)
    return total / n


def train_step(model, fwd, opt, x, y, grad_clip: float, step: int = 0, ckpt: str | None = None, aux=None,
               constrain=None):
    """One update: forward, backward, divergence check, clip, optimizer step, constraint.

    `fwd` is the model or its torch.compile'd wrapper; `model` the module that owns the
    weights. Returns (loss, grad norm) as floats. angpt.bench times exactly this function.
    Raises DivergenceError, before the optimizer step, on a NaN/inf loss or gradient.
    aux: None, or a function returning a term to add to the loss after the forward pass
    (TaperNorm's scale anchor, angpt.taper); the returned loss stays the cross-entropy.
    constrain: the weight projection (`angpt.constraints.constraint_step(model)`, compiled
    when the forward is); None runs the eager `constrain_(model, check=False)`.
    """
    device = x.device
    with autocast(device):
        loss = loss_fn(fwd, x, y)
        extra = aux() if aux is not None else None
    (loss if extra is None else loss + extra).backward()
    loss_value = loss.item()
    if not math.isfinite(loss_value):
        opt.zero_grad(set_to_none=True)
        raise DivergenceError(step, "the training loss", loss_value, ckpt)
    params = [p for group in opt.param_groups for p in group["params"]]
    clip = grad_clip if grad_clip > 0 else float("inf")  # inf: measure the norm, clip nothing
    grad_norm = torch.nn.utils.clip_grad_norm_(params, clip).item()
    if not math.isfinite(grad_norm):
        opt.zero_grad(set_to_none=True)
        raise DivergenceError(step, "the gradient norm", grad_norm, ckpt)
    try:
        opt.step()
    except RuntimeError as err:  # a huge lr overflows inside Adam (lr=1e38: 'cannot be converted ... overflow')
        if "overflow" not in str(err):
            raise
        opt.zero_grad(set_to_none=True)
        raise DivergenceError(step, f"the optimizer step overflowed ({err})", None, ckpt,
                              stopped="training stopped; the weights in memory may be partly updated") from err
    opt.zero_grad(set_to_none=True)
    # a no-op for archs without a weight constraint; no host sync (check=False): a NaN/inf
    # weight stays NaN/inf and stops the run at the next loss check or checkpoint (_check_finite)
    if constrain is not None:
        constrain()
    else:
        constrain_(model, check=False)
    return loss_value, grad_norm


def _temp_name(path: Path, pid: int) -> Path:
    return path.with_name(f".{path.name}.tmp{pid}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is not ours (or we cannot tell): leave its file alone
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that killed saves of `path` left behind (their process is
    gone); a save still running in another live process keeps its file. Returns what was removed."""
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{glob_escape(path.name)}.tmp*"):
        suffix = tmp.name[len(f".{path.name}.tmp"):]
        if suffix.isdigit() and int(suffix) != os.getpid() and _pid_alive(int(suffix)):
            continue
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write atomically and durably: a temporary file in the same folder, flushed to disk
    (fsync), then os.replace. A failed save removes its temporary file; one killed mid-save
    leaves it, and the next save of the same path (or `train` with that ckpt_path) removes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = _temp_name(path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename inside `folder` durable (POSIX; a no-op where a folder cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint written by `save_checkpoint` (tensors only: weights_only=True)."""
    if os.path.isdir(path):
        raise ValueError(f"checkpoint path {str(path)!r} is a folder; give a file path such as {os.path.join(path, 'run.pt')}")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # garbage, truncated, or a pickle weights_only refuses
        raise ValueError(f"{str(path)!r} is not a readable angpt checkpoint ({type(err).__name__}); delete it "
                         f"or pass resume=False to start over") from err
    if not isinstance(ck, dict) or "version" not in ck:
        raise ValueError(f"{str(path)!r} is not an angpt checkpoint (no 'version' entry); delete it or pass "
                         f"resume=False to start over")
    return ck


def _check_ckpt_path(path) -> None:
    """Fail before any training if the checkpoint cannot be written, not after the first steps."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"ckpt_path {str(path)!r} is a folder; give a file path such as {os.path.join(path, 'run.pt')}")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        probe = _temp_name(p, os.getpid())
        with open(probe, "wb"):
            pass
        probe.unlink()
    except OSError as err:
        raise ValueError(f"ckpt_path {str(path)!r} is not writable: {err.strerror or err}") from err
    remove_stale_temps(p)


def _max_abs(tensors) -> float:
    """The largest |value| over tensors (nan if any is NaN): one sync for the whole model."""
    maxes = [t.detach().abs().amax().float() for t in tensors if t.is_floating_point() and t.numel()]
    return torch.stack(maxes).max().item() if maxes else 0.0


def _check_finite(model, x: torch.Tensor, step: int, ckpt) -> None:
    """Raise DivergenceError unless every weight and the logits on `x` are finite: a
    checkpoint must never hold weights that give NaN (an update can turn finite weights into
    inf/NaN after the loss and gradient checks passed)."""
    weights = _max_abs(model.parameters())  # not buffers: NaN may mean 'not measured yet' there (TaperNorm)
    if not math.isfinite(weights):
        raise DivergenceError(step, "the largest weight magnitude", weights, ckpt,
                              stopped="training stopped before writing a checkpoint")
    was_training = model.training
    model.eval()
    with torch.no_grad(), autocast(x.device):
        logits = _max_abs([model(x)])
    model.train(was_training)
    if not math.isfinite(logits):
        raise DivergenceError(step, "the largest logit on a validation window", logits, ckpt,
                              stopped="training stopped before writing a checkpoint")


def _check_resume(ck: dict, cfg: ModelConfig, tcfg: TrainConfig, corpus: str, path) -> None:
    if ck.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"checkpoint {path} has version {ck.get('version')!r}, expected {CHECKPOINT_VERSION}")
    if ck["model_config"] != cfg.to_dict():
        diff = sorted(k for k, v in cfg.to_dict().items() if ck["model_config"].get(k) != v)
        raise ValueError(f"checkpoint {path} belongs to another model (fields {diff} differ); "
                         f"use another ckpt_path or resume=False to start over")
    mine = {k: v for k, v in tcfg.to_dict().items() if k not in RESUMABLE_CHANGES}
    theirs = {k: v for k, v in ck["train_config"].items() if k not in RESUMABLE_CHANGES}
    if mine != theirs:
        diff = sorted(k for k in mine if mine[k] != theirs.get(k))
        raise ValueError(f"checkpoint {path} was written by another TrainConfig (fields {diff} differ); "
                         f"only {list(RESUMABLE_CHANGES)} may change when resuming")
    if ck["corpus"] != corpus:
        raise ValueError(f"checkpoint {path} trained on corpus {ck['corpus']!r}, not {corpus!r}")


def _check_val_loss(val_losses: list, step: int, tcfg: TrainConfig, ckpt) -> None:
    """The last validation loss must be finite and (unless max_val_loss_rise is None) at most
    max_val_loss_rise nats above the untrained model's (step 0): a finite blow-up is a divergence."""
    value, first = val_losses[-1], val_losses[0]
    stopped = "training stopped before writing a checkpoint"
    if not math.isfinite(value):
        raise DivergenceError(step, "the validation loss", value, ckpt, stopped=stopped)
    rise = tcfg.max_val_loss_rise
    if rise is not None and value > first + rise:
        raise DivergenceError(step, f"the validation loss is {value:.4g}, more than max_val_loss_rise={rise:g} "
                                    f"above its step-0 value {first:.4g}", None, ckpt, stopped=stopped)


# --------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------


def train(
    cfg: ModelConfig,
    tcfg: TrainConfig | None = None,
    corpus: str | D.Corpus = "shakespeare",
    callback: Callable[[int, RunRecord], None] | None = None,
    progress: bool = True,
    *,
    recorder=None,
    resume: bool = True,
    dist=None,
) -> RunRecord:
    """Train `cfg` with `tcfg` (default: the arch's recipe) and return the run's record.

    corpus    a name from angpt.data.CORPORA or a loaded angpt.data.Corpus
    callback  called as callback(step, record) after every step (record.model is the model)
    progress  show a tqdm bar (the notebook flavour in Jupyter)
    recorder  an angpt.norms.NormRecorder to use; by default one is made when
              tcfg.track_every > 0, probing a fixed batch of validation text
    resume    if tcfg.ckpt_path exists, continue from it (else it is overwritten)
    dist      None, or an angpt.distributed.Dist under torchrun: tcfg.batch_size is then the
              global batch, each rank trains on its shard of it under DistributedDataParallel,
              and rank 0 alone evaluates, checkpoints and shows progress
    """
    t_start = time.perf_counter()
    if not isinstance(cfg, ModelConfig):
        raise ValueError(f"cfg must be an angpt.ModelConfig, got {type(cfg).__name__}")
    tcfg = TrainConfig.for_arch(cfg.arch) if tcfg is None else tcfg
    if not isinstance(tcfg, TrainConfig):
        raise ValueError(f"tcfg must be an angpt.TrainConfig, got {type(tcfg).__name__}")
    if cfg.vocab_size != D.VOCAB_SIZE and not isinstance(corpus, D.Corpus):
        raise ValueError(f"the corpora are byte-level: vocab_size must be {D.VOCAB_SIZE}, got {cfg.vocab_size}")
    if tcfg.ckpt_every and not tcfg.ckpt_path:
        raise ValueError(f"ckpt_every={tcfg.ckpt_every} needs a ckpt_path")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable, got {callback!r}")
    if tcfg.ckpt_path:
        _check_ckpt_path(tcfg.ckpt_path)
    data = corpus if isinstance(corpus, D.Corpus) else D.load_corpus(corpus)
    if cfg.vocab_size != data.vocab_size:  # a token file (angpt.data.load_token_file) has its own
        raise ValueError(f"corpus {data.name!r} has {data.vocab_size} token ids: the model's vocab_size must be "
                         f"{data.vocab_size}, got {cfg.vocab_size}")
    main = dist is None or dist.is_main  # the process that evaluates, checkpoints and reports
    if dist is not None:
        dist.rows(tcfg.batch_size)  # the global batch must split evenly over the ranks
    device = resolve_device(tcfg.device)
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for whatever runs outside autocast

    from .model import build_model

    torch.manual_seed(tcfg.seed)
    model = build_model(cfg).to(device)
    model.train()
    opt = make_optimizer(model, tcfg, device)
    sampler = D.BatchSampler(data.train, tcfg.batch_size, cfg.seq_len, seed=tcfg.seed)
    xv, yv = D.eval_windows(data.val, cfg.seq_len, tcfg.eval_tokens)
    if recorder is None and tcfg.track_every > 0:
        from .norms import NormRecorder

        recorder = NormRecorder(every=tcfg.track_every, probe=xv[:4])
    record = RunRecord(
        model_config=cfg.to_dict(), train_config=tcfg.to_dict(), corpus=data.name,
        device=device_name(device), n_params=sum(p.numel() for p in model.parameters()),
        tokens_per_step=tcfg.batch_size * cfg.seq_len, model=model,
    )
    ckpt = tcfg.ckpt_path

    def val_loss() -> float:
        if dist is None:
            return evaluate(model, xv, yv, EVAL_BATCH_MULT * tcfg.batch_size, device)
        # rank 0 evaluates at its shard's batch size; every rank gets its value (same decisions)
        local = tcfg.batch_size // dist.world_size
        return dist.from_main(evaluate(model, xv, yv, EVAL_BATCH_MULT * local, device) if main else 0.0)

    if ckpt and resume and os.path.exists(ckpt):
        ck = load_checkpoint(ckpt)
        _check_resume(ck, cfg, tcfg, data.name, ckpt)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sampler.load_state_dict(ck["sampler"])
        torch.set_rng_state(ck["rng"]["torch"])
        if device.type == "cuda" and ck["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(ck["rng"]["cuda"])
        record.history, record.evals = ck["record"]["history"], ck["record"]["evals"]
        record.norms, record.train_time = ck["record"]["norms"], ck["record"]["train_time"]
        record.wall_time = ck["record"]["wall_time"]  # this call's time is added at the end
        if recorder is not None:
            recorder.history = list(record.norms)
        start = int(ck["step"])
    else:
        start = 0
        record.evals["step"].append(0)
        record.evals["tokens"].append(0)
        record.evals["val_loss"].append(val_loss())
        if recorder is not None:
            record.norms.append(recorder.record(0, model, force=True))

    def checkpoint(step: int) -> None:
        _check_finite(model, xv[:1].to(device), step, ckpt)  # every rank: the same weights, the same verdict
        if not main:
            return
        save_checkpoint(ckpt, {
            "version": CHECKPOINT_VERSION, "step": step, "model_config": cfg.to_dict(),
            "train_config": tcfg.to_dict(), "corpus": data.name,
            "model": model.state_dict(), "optimizer": opt.state_dict(), "sampler": sampler.state_dict(),
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None},
            "record": {"history": record.history, "evals": record.evals, "norms": record.norms,
                       "train_time": record.train_time,
                       "wall_time": record.wall_time + time.perf_counter() - t_start},
        })

    if tcfg.compile:
        # a fresh dynamo cache per run: many models in one process (experiments) would
        # otherwise hit its recompile limit and silently fall back to eager. Inductor's
        # on-disk cache still makes the second run of the same shapes compile fast.
        torch._dynamo.reset()
    fwd = model if dist is None else dist.wrap(model)  # DDP averages the gradients over the ranks
    fwd = torch.compile(fwd) if tcfg.compile else fwd
    constrain = constraint_step(model, compile=tcfg.compile)  # after each optimizer step
    from .taper import controller

    taper = controller(model, tcfg)  # TaperNorm's gate schedule; None for every other model
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    from tqdm.auto import tqdm

    bar = tqdm(total=tcfg.steps, initial=start, disable=not (progress and main), desc=f"{cfg.arch} seed {tcfg.seed}",
               leave=False, dynamic_ncols=True)
    postfix_every = max(1, tcfg.steps // 50)
    try:
        for step in range(start, tcfg.steps):
            n = step + 1  # updates done once this iteration finishes
            sync()
            t0 = time.perf_counter()
            x, y = next(sampler)
            if dist is not None:
                x, y = dist.shard(x, y)  # this rank's rows of the global batch
            lr = lr_at(step, tcfg)
            for group in opt.param_groups:
                group["lr"] = lr
            if taper is not None:
                taper.before_step(step)
            loss_value, grad_norm = train_step(model, fwd, opt, x.to(device, non_blocking=True),
                                               y.to(device, non_blocking=True), tcfg.grad_clip, n, ckpt,
                                               aux=taper.aux_loss if taper is not None else None,
                                               constrain=constrain)
            if dist is not None:
                loss_value = dist.mean(loss_value)  # the global batch's loss
            sync()
            dt = time.perf_counter() - t0
            record.train_time += dt
            for key, value in zip(HISTORY_KEYS, (n, n * record.tokens_per_step, loss_value, lr, dt, grad_norm)):
                record.history[key].append(value)
            if recorder is not None and recorder.due(n):
                record.norms.append(recorder.record(n, model))
            if n == tcfg.steps or (tcfg.eval_every and n % tcfg.eval_every == 0):
                record.evals["step"].append(n)
                record.evals["tokens"].append(n * record.tokens_per_step)
                record.evals["val_loss"].append(val_loss())
                _check_val_loss(record.evals["val_loss"], n, tcfg, ckpt)
            if ckpt and (n == tcfg.steps or (tcfg.ckpt_every and n % tcfg.ckpt_every == 0)):
                checkpoint(n)
            bar.update(1)
            if n % postfix_every == 0 or n == tcfg.steps:
                bar.set_postfix(loss=f"{loss_value:.3f}", val=f"{record.evals['val_loss'][-1]:.3f}", refresh=False)
            if callback is not None:
                callback(n, record)
    except DivergenceError as err:
        err.record = record  # what was measured before it diverged
        raise
    finally:
        bar.close()
        record.wall_time += time.perf_counter() - t_start
    return record


class _CallableModule(types.ModuleType):
    """`angpt.train(cfg, tcfg)` (a public name, book/api.md) must work although `angpt.train` is also this
    submodule: once anything imports it, Python binds the package attribute to the module.
    So the module itself forwards calls to `train()`."""

    def __call__(self, *args, **kwargs):
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["train", "train_step", "RunRecord", "DivergenceError", "lr_at", "evaluate", "resolve_device", "device_name",
           "load_checkpoint", "save_checkpoint", "remove_stale_temps"]
