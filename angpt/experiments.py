"""The named experiments the chapters run, at quick (CPU) and full (GPU) size, with provenance.

    python -m angpt run race --budget full --seeds 3 --out book/results/race.json
    result = angpt.experiments.run("race", budget="quick", seeds=2)     # the same in Python

An experiment is a function `fn(budget, seeds, progress=True) -> dict` registered in
`EXPERIMENTS` under its name (use the `@experiment("name")` decorator). It returns its
configuration and its measurements; `run()` adds the provenance every result file carries
(git commit, a hash of the angpt sources, package/torch/CUDA versions, device, date, seeds,
wall time) and writes the JSON atomically. To add one (norm-lab grid, ablations, other
schemes), write the function in this module and decorate it; nothing else to wire.

Only torch, numpy and tqdm are imported here: the CLI must run on a bare GPU machine.

Experiments defined here (chapter 7):
* ``race``: GPT+, nGPT and anGPT trained with their own recipes on the same data, several
  seeds; validation loss against tokens.
* ``race-drops``: GPT+ without weight decay, and without warm-up (what anGPT drops), with
  the race's sizes and seeds, so they compare with the race's GPT+ runs.
* ``race-lr``: a learning-rate sweep at the race's size, a quarter of its steps, one seed:
  the evidence behind the race's learning rates (a tuned baseline; methods.md §8 row 8).

Chapter 8:
* ``ablations``: the paper's ladder GPT -> GPT+ -> nGPT -> nGPT with ||w|| <= 1 -> anGPT, and
  anGPT without nu(alpha), with every other factor scaled (0.5 ... 1.5), without QK-norm;
  same data, recipe per arch, seeds paired (``--seeds 2``: ~8 min on one H100).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import inspect
import json
import math
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .config import BUDGETS, TrainConfig, preset

EXPERIMENTS: dict[str, Callable[..., dict]] = {}
PACKAGE_DIR = Path(__file__).resolve().parent


def experiment(name: str):
    """Register `fn(budget, seeds, progress=True) -> dict` under `name`."""
    def register(fn):
        if name in EXPERIMENTS:
            raise ValueError(f"experiment {name!r} is already registered")
        EXPERIMENTS[name] = fn
        return fn
    return register


# --------------------------------------------------------------------------------------
# Provenance
# --------------------------------------------------------------------------------------


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(PACKAGE_DIR.parent), *args], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def source_hash() -> str:
    """sha256 over angpt/*.py (names and bytes): identifies the code even without git."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def provenance(device: str | None = None, seeds=None) -> dict:
    """Where and with what a result was made. $ANGPT_COMMIT stands in for git on a copy of
    the repository without .git (e.g. a GPU machine).

    The book's schema (tests/test_book.py) uses the short keys commit, version, torch,
    device, date, seeds; git_commit, package_version and torch_version repeat them under
    the names the first result files used."""
    import torch

    from . import __version__
    from .train import device_name, resolve_device

    commit = _git("rev-parse", "HEAD") or os.environ.get("ANGPT_COMMIT") or "unknown"
    # dirty: uncommitted changes under angpt/; unknown (None) without a git checkout
    dirty = bool(_git("status", "--porcelain", "--", "angpt")) if _git("rev-parse", "HEAD") else None
    return {
        "commit": commit, "git_commit": commit,
        "git_dirty": dirty,
        "source_sha256": source_hash(),
        "version": __version__, "package_version": __version__,
        "torch": torch.__version__, "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "python_version": platform.python_version(),
        "device": device or device_name(resolve_device("auto")),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seeds": None if seeds is None else list(seeds),
    }


PROVENANCE_KEYS = ("commit", "git_commit", "git_dirty", "source_sha256", "version", "package_version", "torch",
                   "torch_version", "cuda_version", "python_version", "device", "date", "seeds")


def _clean(obj):
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    return obj


def run(name: str, budget: str = "quick", seeds: int = 3, out: str | os.PathLike | None = None,
        progress: bool = True) -> dict:
    """Run a registered experiment and return its result with provenance; write it to `out`."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; valid choices: {', '.join(map(repr, sorted(EXPERIMENTS)))}")
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; valid choices: {', '.join(map(repr, BUDGETS))}")
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer, got {seeds!r}")
    fn = EXPERIMENTS[name]
    kw = {"progress": progress} if "progress" in inspect.signature(fn).parameters else {}
    t0 = time.perf_counter()
    body = fn(budget, seeds, **kw)
    result = {
        "experiment": name, "budget": budget, "seeds": list(range(seeds)),
        "provenance": provenance(seeds=range(seeds)), "wall_time": time.perf_counter() - t0, **body,
    }
    result = _clean(result)
    if out is not None:
        save(result, out)
    return result


def save(result: dict, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    os.replace(tmp, path)


def load(path: str | os.PathLike) -> dict | None:
    """A result file, or None if it does not exist (chapters then say so)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None


# --------------------------------------------------------------------------------------
# Runs and their summaries
# --------------------------------------------------------------------------------------


def summarize_run(rec, label: str, max_points: int = 200) -> dict:
    """A RunRecord made small for a result file: all evaluations, the train loss averaged
    in at most `max_points` bins, and the timing."""
    h = rec.history
    n = len(h["step"])
    k = max(1, math.ceil(n / max_points))
    bins = range(0, n, k)
    out = {
        "label": label, "arch": rec.model_config["arch"], "diverged_at": None, "seed": rec.train_config["seed"],
        "n_params": rec.n_params, "tokens_per_step": rec.tokens_per_step,
        "lr": rec.train_config["lr"], "weight_decay": rec.train_config["weight_decay"],
        "warmup_steps": rec.train_config["warmup_steps"],
        "evals": rec.evals,
        "train": {
            "step": [h["step"][min(i + k, n) - 1] for i in bins],
            "tokens": [h["tokens"][min(i + k, n) - 1] for i in bins],
            "train_loss": [float(np.mean(h["train_loss"][i:i + k])) for i in bins],
            "lr": [h["lr"][min(i + k, n) - 1] for i in bins],
        },
        "final_val_loss": rec.final_val_loss,
        # steady state: the first steps pay for allocation and torch.compile
        "median_step_time": float(np.median(h["step_time"][min(10, n - 1):])) if n else None,
        "first_step_time": h["step_time"][0] if n else None,
        "train_time": rec.train_time, "wall_time": rec.wall_time, "device": rec.device,
    }
    out["tokens_per_second"] = rec.tokens_per_step / out["median_step_time"] if n else None
    return out


def tokens_to_loss(tokens, losses, target: float) -> float | None:
    """Tokens at which a validation curve first reaches `target`, linearly interpolated
    between evaluations; None if it never does."""
    tokens, losses = np.asarray(tokens, float), np.asarray(losses, float)
    below = np.nonzero(losses <= target)[0]
    if below.size == 0:
        return None
    i = int(below[0])
    if i == 0:
        return float(tokens[0])
    t0, t1, l0, l1 = tokens[i - 1], tokens[i], losses[i - 1], losses[i]
    return float(t0 + (t1 - t0) * (l0 - target) / (l0 - l1))


def speedup(model_evals: dict, base_evals: dict) -> float | None:
    """The paper's speedup: tokens the baseline used to reach its final loss, divided by the
    tokens the model needed to reach that loss. If the model never gets there, the
    reverse: tokens the baseline needed to reach the model's final loss over the model's
    tokens (a number below 1). None if neither is defined."""
    total_b, total_m = base_evals["tokens"][-1], model_evals["tokens"][-1]
    t = tokens_to_loss(model_evals["tokens"], model_evals["val_loss"], base_evals["val_loss"][-1])
    if t:
        return total_b / t
    t = tokens_to_loss(base_evals["tokens"], base_evals["val_loss"], model_evals["val_loss"][-1])
    return t / total_m if t else None


def _spread(values) -> dict:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"values": list(values), "mean": None, "min": None, "max": None}
    return {"values": list(values), "mean": float(np.mean(vals)), "min": float(min(vals)), "max": float(max(vals))}


def race_summary(result: dict, baseline: str = "gpt+") -> dict:
    """Per model: final val loss, speedup vs the baseline (paired by seed) and the step-time
    ratio of the training runs, each as {values, mean, min, max} over seeds."""
    runs = result["runs"]
    base = {r["seed"]: r for r in runs if r["label"] == baseline and r["diverged_at"] is None}
    if not base:
        raise ValueError(f"no runs of the baseline {baseline!r} in the result; labels: "
                         f"{sorted({r['label'] for r in runs})}")
    out = {}
    for label in dict.fromkeys(r["label"] for r in runs):
        mine = [r for r in runs if r["label"] == label and r["seed"] in base]
        ok = [r for r in mine if r["diverged_at"] is None]  # a diverged run has no final loss
        out[label] = {
            "final_val_loss": _spread([r["final_val_loss"] for r in ok]),
            "speedup": _spread([speedup(r["evals"], base[r["seed"]]["evals"]) for r in ok]),
            "step_time_ratio": _spread([r["median_step_time"] / base[r["seed"]]["median_step_time"] for r in ok]),
            "diverged": len(mine) - len(ok),
        }
    return out


def curves(result: dict, label: str, x: str = "tokens") -> tuple[np.ndarray, np.ndarray]:
    """(x, val_loss[seeds, evals]) of one label, for a band over seeds.

    x = 'tokens' (tokens seen) or 'seconds' (training time at each run's median step time,
    averaged over seeds: what the comparison looks like once step cost counts).
    """
    if x not in ("tokens", "seconds"):
        raise ValueError(f"unknown x {x!r}; valid choices: 'tokens', 'seconds'")
    runs = [r for r in result["runs"] if r["label"] == label and r["diverged_at"] is None]
    if not runs:
        raise ValueError(f"no finished runs labelled {label!r}; labels: {sorted({r['label'] for r in result['runs']})}")
    losses = np.asarray([r["evals"]["val_loss"] for r in runs])
    if x == "tokens":
        return np.asarray(runs[0]["evals"]["tokens"]), losses
    secs = [np.asarray(r["evals"]["step"]) * r["median_step_time"] for r in runs]
    return np.mean(secs, axis=0), losses


def describe(result: dict) -> str:
    """One paragraph on what a result is and where it came from (for chapters to print)."""
    p, cfg = result["provenance"], result.get("config", {})
    sizes = cfg.get("sizes", {})
    m, t = sizes.get("model", {}), sizes.get("train", {})
    size = ""
    if m and t:
        steps = cfg.get("steps", t["steps"])  # race-lr runs shorter than the race
        size = (f"d_model {m['d_model']}, {m['n_layers']} layers, {m['n_heads']} heads, {steps} steps of "
                f"{t['batch_size']} x {m['seq_len']} byte tokens on '{sizes.get('corpus')}'; ")
    commit = p["git_commit"][:10] + (" (with uncommitted changes)" if p.get("git_dirty") else "")
    return (f"{result['experiment']} ({result['budget']}): {size}seeds {result['seeds']}; "
            f"{p['device']}, torch {p['torch_version']}, commit {commit}, source {p['source_sha256']}, "
            f"{p['date'][:10]}, {result['wall_time'] / 60:.1f} min")


def lr_sweep(results) -> dict:
    """{model: [(lr, mean final val loss or None if any seed diverged), ...]} from race-lr
    result(s), sorted by lr (several files are merged: e.g. a first grid and its extension)."""
    table: dict[str, dict[float, list]] = {}
    for res in results:
        for r in res["runs"]:
            model = r["label"].split("@")[0]
            table.setdefault(model, {}).setdefault(r["lr"], []).append(r["final_val_loss"])
    return {m: [(lr, None if None in v else float(np.mean(v))) for lr, v in sorted(d.items())]
            for m, d in table.items()}


# --------------------------------------------------------------------------------------
# Chapter 7: the race
# --------------------------------------------------------------------------------------

RACE_MODELS = ("gpt+", "ngpt", "angpt")
# anGPT paper, 0.5B with QK-norm (methods.md §4.9): tokens GPT+ needs for its final loss,
# over the tokens each model needs for it. Cited for comparison, never plotted as data.
PAPER_SPEEDUP = {"gpt+": 1.0, "ngpt": 1.29, "angpt": 1.40}

# Quick: seconds on one CPU core, to show the code path. Full: d_h = 64 and d_m >= 512 as
# methods.md §6 suggests; 1500 steps of 64 x 256 tokens (24.6 M tokens, ~2 passes over
# pdmix). Measured on one H100 with torch.compile: 19 / 24 / 25 ms per step (GPT+ / nGPT /
# anGPT), ~30 s to compile each arch once, so 3 seeds take ~7 minutes.
RACE_SIZES = {
    "quick": {
        "model": dict(d_model=32, n_layers=2, n_heads=2, seq_len=32),
        "train": dict(steps=40, batch_size=8, eval_every=10, eval_tokens=512),
        "corpus": "shakespeare",
    },
    "full": {
        "model": dict(d_model=512, n_layers=8, n_heads=8, seq_len=256),
        "train": dict(steps=1500, batch_size=64, eval_every=75, eval_tokens=65536, compile=True),
        "corpus": "pdmix",
    },
}
# Learning rates per budget and model, the best of the race-lr sweep (RACE_LR_GRID). Full
# (H100, 500 steps, book/results/race_lr*.json): GPT+ 5e-4 of 2.5e-4..4e-3; nGPT 8e-3 of
# 1e-3..1.6e-2; anGPT 2e-3, the largest that trained: at 3e-3 and above it diverged at step 3
# (no warm-up). Quick (CPU, 2 seeds): tiny models take much larger steps.
RACE_LR = {
    "quick": {"gpt+": 1e-2, "ngpt": 1e-1, "angpt": 3e-2},
    "full": {"gpt+": 5e-4, "ngpt": 8e-3, "angpt": 2e-3},
}


def race_configs(budget: str, model: str, seed: int = 0, **train_overrides):
    """(ModelConfig, TrainConfig, corpus) of one race run: the arch's own recipe
    (TrainConfig.for_arch) at the budget's size and learning rate."""
    if budget not in RACE_SIZES:
        raise ValueError(f"unknown budget {budget!r}; valid choices: {', '.join(map(repr, RACE_SIZES))}")
    size = RACE_SIZES[budget]
    base = model.split(":")[0]  # 'gpt+:no-wd' is a variant of 'gpt+'
    cfg = preset(base, **size["model"])
    tkw = {**size["train"], "lr": RACE_LR[budget][base], "seed": seed, **train_overrides}
    return cfg, TrainConfig.for_arch(cfg.arch, **tkw), size["corpus"]


def _train_all(jobs, progress: bool) -> list[dict]:
    """Train each (label, cfg, tcfg, corpus) in order; seeds outermost so a cut-short
    session still has complete seeds."""
    from .train import DivergenceError, train

    runs = []
    for label, cfg, tcfg, corpus in jobs:
        try:
            runs.append(summarize_run(train(cfg, tcfg, corpus=corpus, progress=progress), label))
        except DivergenceError as err:  # a result too: keep what it measured, mark it
            run = summarize_run(err.record, label)
            run.update(diverged_at=err.step, final_val_loss=None)
            runs.append(run)
    return runs


def _sizes(budget: str) -> dict:
    return {"sizes": RACE_SIZES[budget], "lr": RACE_LR[budget]}


@experiment("race")
def race(budget: str, seeds: int, progress: bool = True) -> dict:
    """GPT+, nGPT and anGPT, each with its own recipe, on the same data and seeds."""
    jobs = []
    for seed in range(seeds):
        for m in RACE_MODELS:
            jobs.append((m, *race_configs(budget, m, seed)))
    runs = _train_all(jobs, progress)
    out = {"config": {**_sizes(budget), "models": list(RACE_MODELS),
                      "recipes": {m: jobs[i][2].to_dict() for i, m in enumerate(RACE_MODELS)}},
           "runs": runs}
    out["summary"] = race_summary(out)
    return out


# What anGPT drops, tried on GPT+: the same run without weight decay, and without warm-up.
DROPS = {"gpt+:no-wd": dict(weight_decay=0.0), "gpt+:no-warmup": dict(warmup_steps=0)}


@experiment("race-drops")
def race_drops(budget: str, seeds: int, progress: bool = True) -> dict:
    """GPT+ without weight decay and without warm-up, at the race's size and seeds."""
    jobs = []
    for seed in range(seeds):
        for label, change in DROPS.items():
            jobs.append((label, *race_configs(budget, label, seed, **change)))
    return {"config": {**_sizes(budget), "variants": {k: dict(v) for k, v in DROPS.items()},
                       "baseline_from": "race"},
            "runs": _train_all(jobs, progress)}


RACE_LR_GRID = {
    "quick": {"gpt+": (1e-3, 3e-3, 1e-2, 3e-2), "ngpt": (3e-3, 1e-2, 3e-2, 1e-1),
              "angpt": (3e-3, 1e-2, 2e-2, 3e-2)},
    "full": {"gpt+": (2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3), "ngpt": (1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2),
             "angpt": (1e-3, 2e-3, 3e-3, 4e-3, 8e-3)},
}
RACE_LR_FRACTION = {"quick": 1.0, "full": 0.25}  # sweep runs, as a fraction of the race's steps


@experiment("race-lr")
def race_lr(budget: str, seeds: int, progress: bool = True) -> dict:
    """Learning-rate sweep at the race's size (full: over a quarter of its steps)."""
    steps = max(20, int(RACE_SIZES[budget]["train"]["steps"] * RACE_LR_FRACTION[budget]))
    jobs = []
    for seed in range(seeds):
        for m, grid in RACE_LR_GRID[budget].items():
            for lr in grid:
                # eager: short runs would spend much of their time compiling
                cfg, tcfg, corpus = race_configs(budget, m, seed, lr=lr, steps=steps, compile=False)
                if cfg.arch == "gpt":  # keep the race's warm-up fraction at the shorter length
                    tcfg = tcfg.replace(warmup_steps=max(1, steps // 20))
                jobs.append((f"{m}@{lr:g}", cfg, tcfg, corpus))
    runs = _train_all(jobs, progress)
    best = {}
    for m in RACE_LR_GRID[budget]:
        finals = {}
        for r in runs:
            if r["label"].startswith(m + "@"):  # mean over seeds; a divergence disqualifies
                finals.setdefault(r["lr"], []).append(r["final_val_loss"])
        ok = {lr: float(np.mean(v)) for lr, v in finals.items() if None not in v}
        best[m] = min(ok, key=ok.get) if ok else None
    return {"config": {**_sizes(budget), "steps": steps,
                       "grid": {k: list(v) for k, v in RACE_LR_GRID[budget].items()}},
            "runs": runs, "best_lr": best}


__all__ = ["EXPERIMENTS", "experiment", "run", "save", "load", "provenance", "PROVENANCE_KEYS",
           "source_hash", "summarize_run", "tokens_to_loss", "speedup", "race_summary", "curves", "describe", "lr_sweep",
           "race_configs", "RACE_MODELS", "RACE_SIZES", "RACE_LR", "RACE_LR_GRID", "DROPS", "PAPER_SPEEDUP"]


# --------------------------------------------------------------------------------------
# Chapters 3, 5 and 6: the norm lab (the grid lives in angpt.tracking, beside the recorder)
# --------------------------------------------------------------------------------------


@experiment("norm_lab")
def norm_lab(budget: str, seeds: int, progress: bool = True) -> dict:
    """Per-layer norms recorded while models train: GPT/GPT+/nGPT/anGPT x learning rate,
    GPT/GPT+ x depth, anGPT x width (angpt.tracking.NORM_LAB). One seed is enough for the
    chapters (--seeds 1); more repeat every run."""
    from .tracking import norm_lab as grid

    return grid(budget, seeds, progress)


# --------------------------------------------------------------------------------------
# Chapter 8: the ablation ladder, nu(alpha), factor perturbations, no QK-norm
# --------------------------------------------------------------------------------------

# The paper's ladder (methods.md §4.9): each rung adds one ingredient on the way to anGPT.
ABLATION_LADDER = ("gpt", "gpt+", "ngpt", "ngpt:bound", "angpt")
# anGPT paper, 0.5B / 10B tokens / OpenWebText: improvement vs GPT without QK-norm, in %
# (presumably of the final validation loss; methods.md §4.9, §8 row 9).
PAPER_LADDER = {"gpt+": 2.1, "ngpt": 3.0, "ngpt:bound": 3.4, "angpt": 3.8}
# Convergence speedups (tokens to the baseline's final loss), 0.5B: with QK-norm vs GPT+,
# without QK-norm vs GPT without it (methods.md §4.9).
ABLATION_PAPER_SPEEDUP = {"qk-norm": {"gpt+": 1.0, "ngpt": 1.29, "angpt": 1.40},
                 "no-qk-norm": {"gpt": 1.0, "ngpt": 1.8, "angpt": 2.0}}
FACTOR_SCALES = (0.5, 0.9, 0.98, 1.02, 1.1, 1.5)  # +-50 %, +-10 %, +-2 % on every constant factor


def factor_label(scale: float) -> str:
    return f"angpt:factors x{scale:g}"


# label -> (preset, ModelConfig overrides). nGPT always normalizes q and k (it is part of its
# block), so there is no "nGPT without QK-norm" to train; chapter 8 says so.
ABLATION_VARIANTS: dict[str, tuple[str, dict]] = {
    "gpt": ("gpt", {}), "gpt+": ("gpt+", {}), "ngpt": ("ngpt", {}),
    "ngpt:bound": ("ngpt", {"weight_constraint": "bound"}), "angpt": ("angpt", {}),
    "angpt:no-nu-alpha": ("angpt", {"lerp_factor": False}),
    "angpt:no-qk-norm": ("angpt", {"qk_norm": False}),
    **{factor_label(s): ("angpt", {"factor_scale": s}) for s in FACTOR_SCALES},
}
# Quick: the race's tiny model, under a second per run on one CPU core. Full: the race's
# model (so the race-lr sweep, run at this size over 500 steps, backs the learning rates) for
# 300 steps of 64 x 256 tokens, eager (with torch.compile every factor scale would be a new
# graph to compile); on one H100 (eager, bf16) one seed of all 13 variants takes about 4 minutes
# (steps of 34-36 ms for GPT/GPT+, 55 ms anGPT, 72 ms nGPT), so --seeds 2 fits ~8 minutes.
ABLATION_SIZES = {
    "quick": {
        "model": dict(RACE_SIZES["quick"]["model"]),
        "train": dict(steps=40, batch_size=8, eval_every=10, eval_tokens=1024),
        "corpus": "shakespeare",
    },
    "full": {
        "model": dict(RACE_SIZES["full"]["model"]),
        "train": dict(steps=300, batch_size=64, eval_every=30, eval_tokens=32768),
        "corpus": "pdmix",
    },
}
# Per arch: the race's (RACE_LR, the best of the race-lr sweep at the same model sizes).
ABLATION_LR = {b: {"gpt": lr["gpt+"], "ngpt": lr["ngpt"], "angpt": lr["angpt"]} for b, lr in RACE_LR.items()}
TRACKED = ("angpt", "angpt:no-nu-alpha")  # runs whose per-layer norms are recorded, every k steps:
TRACK_EVERY = {"quick": 4, "full": 3}  # full: often enough to catch a run that blows up within a few steps


def ablation_configs(budget: str, label: str, seed: int = 0, **train_overrides):
    """(ModelConfig, TrainConfig, corpus) of one ablation run: the arch's own recipe
    (TrainConfig.for_arch) at the budget's size, learning rate per arch."""
    if budget not in ABLATION_SIZES:
        raise ValueError(f"unknown budget {budget!r}; valid choices: {', '.join(map(repr, ABLATION_SIZES))}")
    if label not in ABLATION_VARIANTS:
        raise ValueError(f"unknown ablation {label!r}; valid choices: {', '.join(map(repr, ABLATION_VARIANTS))}")
    size = ABLATION_SIZES[budget]
    name, overrides = ABLATION_VARIANTS[label]
    cfg = preset(name, **size["model"], **overrides)
    tkw = {**size["train"], "lr": ABLATION_LR[budget][cfg.arch], "seed": seed, **train_overrides}
    if label in TRACKED:
        tkw.setdefault("track_every", TRACK_EVERY[budget])
    return cfg, TrainConfig.for_arch(cfg.arch, **tkw), size["corpus"]


def stream_norms(rec) -> dict | None:
    """The residual stream's mean token norm after each block (depth 0 = embedding), at
    every recorded step of a run with norm tracking; None without it."""
    if not rec.norms:
        return None
    from .tracking import residual_profile

    profiles = [residual_profile(e["norms"]) for e in rec.norms]
    return {"step": [e["step"] for e in rec.norms], "depth": profiles[0]["depth"].tolist(),
            "mean": [p["mean"].tolist() for p in profiles], "max": [p["max"].tolist() for p in profiles]}


@experiment("ablations")
def ablations(budget: str, seeds: int, progress: bool = True) -> dict:
    """The ladder GPT -> GPT+ -> nGPT -> nGPT with <= 1 -> anGPT; anGPT without nu(alpha),
    with every factor scaled by 0.5 ... 1.5, and without QK-norm; same data and seeds."""
    from .train import DivergenceError, train

    runs = []
    for seed in range(seeds):  # seeds outermost: a cut-short session keeps complete seeds
        for label in ABLATION_VARIANTS:
            cfg, tcfg, corpus = ablation_configs(budget, label, seed)
            try:
                rec = train(cfg, tcfg, corpus=corpus, progress=progress)
                run = summarize_run(rec, label)
            except DivergenceError as err:  # a result too: keep what it measured, mark it
                rec = err.record
                run = summarize_run(rec, label)
                run.update(diverged_at=err.step, final_val_loss=None)
            run["stream_norms"] = stream_norms(rec)
            run["model_overrides"] = ABLATION_VARIANTS[label][1]
            runs.append(run)
    out = {"config": {"sizes": ABLATION_SIZES[budget], "lr": ABLATION_LR[budget],
                      "variants": {k: {"preset": p, **o} for k, (p, o) in ABLATION_VARIANTS.items()},
                      "ladder": list(ABLATION_LADDER), "factor_scales": list(FACTOR_SCALES)},
           "paper": {"ladder_improvement_pct": PAPER_LADDER, "speedup": ABLATION_PAPER_SPEEDUP},
           "runs": runs}
    out["summary"] = ablation_summary(out)
    return out


def ablation_summary(result: dict, baseline: str = "gpt") -> dict:
    """Per label, paired by seed with the baseline (GPT without QK-norm): final val loss,
    improvement 100 (L_base - L) / L_base in %, `speedup` vs the baseline and `speedup_vs_gpt+`
    (experiments.speedup: tokens to the other's final loss), each {values, mean, min, max};
    and the number of diverged runs."""
    runs = result["runs"]
    by = {}
    for r in runs:
        by.setdefault(r["label"], {})[r["seed"]] = r
    if baseline not in by:
        raise ValueError(f"no runs of the baseline {baseline!r}; labels: {sorted(by)}")
    ok = lambda r: r is not None and r["diverged_at"] is None  # noqa: E731
    out = {}
    for label, mine in by.items():
        good = {s: r for s, r in mine.items() if ok(r)}
        imp, sp_base, sp_plus = [], [], []
        for s, r in good.items():
            b, p = by[baseline].get(s), by.get("gpt+", {}).get(s)
            if ok(b):
                imp.append(100.0 * (b["final_val_loss"] - r["final_val_loss"]) / b["final_val_loss"])
                sp_base.append(speedup(r["evals"], b["evals"]))
            if ok(p):
                sp_plus.append(speedup(r["evals"], p["evals"]))
        out[label] = {
            "final_val_loss": _spread([r["final_val_loss"] for r in good.values()]),
            "improvement_pct": _spread(imp),
            "speedup": _spread(sp_base), "speedup_vs_gpt+": _spread(sp_plus),
            "diverged": len(mine) - len(good), "seeds": sorted(mine),
        }
    return out


__all__ += ["ABLATION_LADDER", "ABLATION_VARIANTS", "ABLATION_SIZES", "ABLATION_LR", "ABLATION_PAPER_SPEEDUP",
            "PAPER_LADDER", "FACTOR_SCALES", "TRACKED", "TRACK_EVERY", "factor_label", "ablation_configs", "ablation_summary", "stream_norms"]


# --------------------------------------------------------------------------------------
# Chapter 10: every scheme on the same data (defined in angpt.schemes)
# --------------------------------------------------------------------------------------


@experiment("schemes")
def schemes(budget: str, seeds: int, progress: bool = True) -> dict:
    """Every preset (Post/Peri/Mix-LN, LN-Scaling, DyT, TaperNorm, GPT/GPT+, nGPT, anGPT) on the
    same data, size and seeds; TaperNorm's gate schedules; logit chasing without the final norm
    (angpt.schemes). Full size: about 6 min on one H100 for --seeds 3."""
    from .schemes import schemes_experiment

    return schemes_experiment(budget, seeds, progress)
