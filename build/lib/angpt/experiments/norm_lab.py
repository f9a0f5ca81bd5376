"""Chapters 3, 5 and 6: ``norm_lab``, per-layer norms recorded while small models train.

Each run trains with `angpt.train` and records norms with its `NormRecorder`
(TrainConfig.track_every); the summary keeps what the chapters plot. `angpt.tracking`
re-exports these names, so `angpt.tracking.norm_lab_run` keeps working.
"""

from __future__ import annotations

import math
from typing import Sequence

from ..config import TrainConfig, preset
from .common import Runner, Task, max_early_loss

# Three parts, one per chapter (a part may override the number of steps):
#   lab    every main arch x learning rate at one depth   (chapter 6, the static lab)
#   depth  GPT and GPT+ (QK-norm off/on) x depth           (chapter 3)
#   width  anGPT x width d                                 (chapter 5)
# Quick: seconds on one CPU core per part. Full: what chapters 3, 5 and 6 plot are norms,
# which settle (or blow up) within the first few hundred steps, not losses: 300 steps of
# 32 x 256 tokens, norms every 30 steps (11 snapshots). Small launch-bound runs: `run all
# --jobs 4` trains four at once; modelled ~75 s for the 24 runs on one H100/H200.
NORM_LAB = {
    "quick": {
        "model": dict(d_model=32, n_heads=2, seq_len=32),
        "train": dict(steps=40, batch_size=8, eval_every=0, eval_tokens=1024),
        "track_every": 5, "corpus": "shakespeare",
        "lab": dict(archs=("gpt", "gpt+", "ngpt", "angpt"), lrs=(1e-3, 3e-3, 1e-2), depth=3, steps=30),
        "depth": dict(archs=("gpt", "gpt+"), depths=(1, 2, 4)),
        "width": dict(archs=("angpt",), widths=(16, 32, 64), depth=3, heads_of=16),
    },
    "full": {
        "model": dict(d_model=256, n_heads=4, seq_len=256),
        "train": dict(steps=300, batch_size=32, eval_every=0, eval_tokens=16384),
        "track_every": 30, "corpus": "shakespeare",
        "lab": dict(archs=("gpt", "gpt+", "ngpt", "angpt"), lrs=(5e-4, 2e-3, 8e-3), depth=8),
        "depth": dict(archs=("gpt", "gpt+"), depths=(4, 8, 16, 32)),
        "width": dict(archs=("angpt",), widths=(64, 128, 256, 512), depth=8, heads_of=64),
    },
}
NORM_LAB_PARTS = ("lab", "depth", "width")


def _round(x, digits: int = 4):
    """Round floats to `digits` significant digits (small result files); recurse into containers."""
    if isinstance(x, float):
        return float(f"{x:.{digits}g}") if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _round(v, digits) for k, v in x.items()}
    if isinstance(x, list):
        return [_round(v, digits) for v in x]
    return x


def norm_lab_jobs(part: str, budget: str = "quick") -> list[dict]:
    """The runs of one part of the grid: [{part, arch, lr, depth, width}] (arch = preset)."""
    if budget not in NORM_LAB:
        raise ValueError(f"unknown budget {budget!r}; valid choices: {', '.join(map(repr, NORM_LAB))}")
    if part not in NORM_LAB_PARTS:
        raise ValueError(f"unknown part {part!r}; valid choices: {', '.join(map(repr, NORM_LAB_PARTS))}")
    size, g = NORM_LAB[budget], NORM_LAB[budget][part]
    width = size["model"]["d_model"]
    jobs = []
    for arch in g["archs"]:
        default_lr = TrainConfig.for_preset(arch).lr
        if part == "lab":
            jobs += [dict(arch=arch, lr=lr, depth=g["depth"], width=width) for lr in g["lrs"]]
        elif part == "depth":
            jobs += [dict(arch=arch, lr=default_lr, depth=L, width=width) for L in g["depths"]]
        else:
            jobs += [dict(arch=arch, lr=default_lr, depth=g["depth"], width=d) for d in g["widths"]]
    return [{"part": part, **j} for j in jobs]


def norm_lab_configs(job: dict, budget: str = "quick", seed: int = 0):
    """(ModelConfig, TrainConfig, corpus) of one job of the grid."""
    size = NORM_LAB[budget]
    heads = size["model"]["n_heads"]
    if job["part"] == "width":  # keep the head width fixed while d changes
        heads = max(1, job["width"] // size["width"]["heads_of"])
    cfg = preset(job["arch"], **{**size["model"], "d_model": job["width"], "n_heads": heads,
                                 "n_layers": job["depth"]})
    train_kw = {**size["train"], **({"steps": size[job["part"]]["steps"]} if "steps" in size[job["part"]] else {})}
    tcfg = TrainConfig.for_preset(job["arch"], **train_kw, lr=job["lr"], seed=seed, track_every=size["track_every"])
    return cfg, tcfg, size["corpus"]


def norm_lab_run(job: dict, budget: str = "quick", seed: int = 0, progress: bool = False) -> dict:
    """Train one job of the grid, recording norms; return a small JSON-able summary.

    The summary holds the job, the recorder history (norms at every hook, weight-row norm
    statistics, learned scales; floats rounded to 4 digits), the final losses, and
    `diverged_at` (the step, or None).
    """
    return norm_lab_train(job, *norm_lab_configs(job, budget, seed), progress=progress)


def norm_lab_train(job: dict, cfg, tcfg, corpus: str, progress: bool = False) -> dict:
    """`norm_lab_run` with its configs given (what a worker process runs)."""
    from ..train import DivergenceError, train

    out = {**job, "seed": tcfg.seed, "diverged_at": None}
    try:
        rec = train(cfg, tcfg, corpus=corpus, progress=progress)
        history, out["final_val_loss"] = rec.norms, rec.final_val_loss
        out["final_train_loss"] = rec.history["train_loss"][-1]
        out["max_early_loss"] = max_early_loss(rec)
        out["device"] = rec.device
    except DivergenceError as err:  # a result too: keep what was recorded before it
        record = getattr(err, "record", None)
        history = record.norms if record is not None else []
        out.update(diverged_at=err.step, final_val_loss=None, final_train_loss=None)
    # Keep what the chapters plot, so the full-size result file stays small: every hook in
    # the first and the last record, in between only the residual stream (embed and each
    # resid_post, the heatmaps); weight-row and scale statistics only for the width part
    # (chapter 5); only the first and the last record for the depth part (chapter 3).
    drop = {"seconds"} | (set() if job["part"] == "width" else {"weights", "scales"})
    if job["part"] == "depth" and len(history) > 2:
        history = [history[0], history[-1]]
    kept = []
    for i, e in enumerate(history):
        e = {k: v for k, v in e.items() if k not in drop}
        if 0 < i < len(history) - 1 or job["part"] == "lab":
            e["norms"] = [r for r in e["norms"] if r["site"] in ("embed", "resid_post")]
        kept.append(e)
    out["norms"] = kept
    return _round(out)


def norm_lab_tasks(budget: str = "quick", seeds: int = 1, parts: Sequence[str] = NORM_LAB_PARTS) -> list[Task]:
    tasks = []
    for part in ([parts] if isinstance(parts, str) else list(parts)):
        for seed in range(seeds):
            for j in norm_lab_jobs(part, budget):
                cfg, tcfg, corpus = norm_lab_configs(j, budget, seed)
                label = f"{part} {j['arch']} lr {j['lr']:g} L{j['depth']} d{j['width']} seed {seed}"
                tasks.append(Task(label, norm_lab_train, dict(job=j, cfg=cfg, tcfg=tcfg, corpus=corpus)))
    return tasks


def norm_lab(budget: str = "quick", seeds: int = 1, progress: bool = True,
             parts: Sequence[str] = NORM_LAB_PARTS, runner: Runner | None = None) -> dict:
    """Per-layer norms recorded while models train: GPT/GPT+/nGPT/anGPT x learning rate,
    GPT/GPT+ x depth, anGPT x width (NORM_LAB). One seed is enough for the chapters
    (--seeds 1); more repeat every run."""
    tasks = norm_lab_tasks(budget, seeds, parts)
    results = (runner or Runner(progress=progress)).map(tasks)
    runs = {}
    for task, result in zip(tasks, results):
        runs.setdefault(task.kwargs["job"]["part"], []).append(result)
    return {"config": NORM_LAB[budget], "runs": runs}


def find_run(runs: Sequence[dict], **match) -> dict:
    """The one run whose fields equal `match` (ValueError naming what exists otherwise)."""
    found = [r for r in runs if all(r.get(k) == v for k, v in match.items())]
    if len(found) != 1:
        have = sorted({tuple((k, r.get(k)) for k in match) for r in runs})
        raise ValueError(f"{len(found)} runs match {match}; available: {have}")
    return found[0]


__all__ = ["NORM_LAB", "NORM_LAB_PARTS", "norm_lab_jobs", "norm_lab_configs", "norm_lab_run", "norm_lab_train",
           "norm_lab_tasks", "norm_lab", "find_run"]
