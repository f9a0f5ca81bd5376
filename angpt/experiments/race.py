"""Chapter 7: the race. GPT+, nGPT and anGPT, each with its own recipe, on the same data.

* ``race``: GPT+, nGPT and anGPT trained with their own recipes on the same data, several
  seeds; validation loss against tokens.
* ``race-drops``: GPT+ without weight decay, and without warm-up (what anGPT drops), with
  the race's sizes and seeds, so they compare with the race's GPT+ runs.

The learning rates come from the sweep ``race-lr`` (angpt.experiments.race_lr).
"""

from __future__ import annotations

import numpy as np

from ..config import TrainConfig, preset
from .common import speedup, spread, train_all

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


def _sizes(budget: str) -> dict:
    return {"sizes": RACE_SIZES[budget], "lr": RACE_LR[budget]}


def race(budget: str, seeds: int, progress: bool = True) -> dict:
    """GPT+, nGPT and anGPT, each with its own recipe, on the same data and seeds."""
    jobs = []
    for seed in range(seeds):
        for m in RACE_MODELS:
            jobs.append((m, *race_configs(budget, m, seed)))
    runs = train_all(jobs, progress)
    out = {"config": {**_sizes(budget), "models": list(RACE_MODELS),
                      "recipes": {m: jobs[i][2].to_dict() for i, m in enumerate(RACE_MODELS)}},
           "runs": runs}
    out["summary"] = race_summary(out)
    return out


# What anGPT drops, tried on GPT+: the same run without weight decay, and without warm-up.
DROPS = {"gpt+:no-wd": dict(weight_decay=0.0), "gpt+:no-warmup": dict(warmup_steps=0)}


def race_drops(budget: str, seeds: int, progress: bool = True) -> dict:
    """GPT+ without weight decay and without warm-up, at the race's size and seeds."""
    jobs = []
    for seed in range(seeds):
        for label, change in DROPS.items():
            jobs.append((label, *race_configs(budget, label, seed, **change)))
    return {"config": {**_sizes(budget), "variants": {k: dict(v) for k, v in DROPS.items()},
                       "baseline_from": "race"},
            "runs": train_all(jobs, progress)}


# --------------------------------------------------------------------------------------
# Summaries for the chapter
# --------------------------------------------------------------------------------------


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
            "final_val_loss": spread([r["final_val_loss"] for r in ok]),
            "speedup": spread([speedup(r["evals"], base[r["seed"]]["evals"]) for r in ok]),
            "step_time_ratio": spread([r["median_step_time"] / base[r["seed"]]["median_step_time"] for r in ok]),
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


__all__ = ["race_configs", "race_summary", "curves", "RACE_MODELS", "RACE_SIZES", "RACE_LR", "DROPS",
           "PAPER_SPEEDUP"]
