"""What every experiment shares: provenance, result files, and the summaries of runs.

    provenance()             git commit, a hash of the angpt sources, versions, device, date
    save(result, path)       atomic JSON write;  load(path): the result, or None if absent
    summarize_run(rec, lbl)  a RunRecord made small for a result file
    train_all(jobs)          train (label, cfg, tcfg, corpus) jobs in order, divergences kept
    tokens_to_loss, speedup  the paper's convergence measure;  spread: {values, mean, min, max}
    describe(result)         one paragraph on what a result is and where it came from

Only torch, numpy and tqdm are imported (the CLI must run on a bare GPU machine).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import platform
import subprocess
from pathlib import Path

import numpy as np

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # angpt/


# --------------------------------------------------------------------------------------
# Provenance and result files
# --------------------------------------------------------------------------------------


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(PACKAGE_DIR.parent), *args], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def source_hash() -> str:
    """sha256 over angpt/**/*.py (paths and bytes): identifies the code even without git."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        name = path.relative_to(PACKAGE_DIR).as_posix()
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def provenance(device: str | None = None, seeds=None) -> dict:
    """Where and with what a result was made. $ANGPT_COMMIT stands in for git on a copy of
    the repository without .git (e.g. a GPU machine).

    The book's schema (tests/test_book.py) uses the short keys commit, version, torch,
    device, date, seeds; git_commit, package_version and torch_version repeat them under
    the names the first result files used."""
    import torch

    from .. import __version__
    from ..train import device_name, resolve_device

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


def spread(values) -> dict:
    """{values, mean, min, max} of the values that are not None."""
    vals = [v for v in values if v is not None]
    if not vals:
        return {"values": list(values), "mean": None, "min": None, "max": None}
    return {"values": list(values), "mean": float(np.mean(vals)), "min": float(min(vals)), "max": float(max(vals))}


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


def train_all(jobs, progress: bool) -> list[dict]:
    """Train each (label, cfg, tcfg, corpus) in order; seeds outermost so a cut-short
    session still has complete seeds."""
    from ..train import DivergenceError, train

    runs = []
    for label, cfg, tcfg, corpus in jobs:
        try:
            runs.append(summarize_run(train(cfg, tcfg, corpus=corpus, progress=progress), label))
        except DivergenceError as err:  # a result too: keep what it measured, mark it
            run = summarize_run(err.record, label)
            run.update(diverged_at=err.step, final_val_loss=None)
            runs.append(run)
    return runs


__all__ = ["PACKAGE_DIR", "provenance", "PROVENANCE_KEYS", "source_hash", "save", "load", "summarize_run",
           "tokens_to_loss", "speedup", "spread", "describe", "train_all"]
