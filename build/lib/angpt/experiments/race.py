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
from .common import Runner, Task, check_runs, speedup, spread, train_run

RACE_MODELS = ("gpt+", "ngpt", "angpt")
# anGPT paper (Franke et al. 2025), 0.5B with QK-norm: tokens GPT+ needs for its final loss,
# over the tokens each model needs for it. Cited for comparison, never plotted as data.
PAPER_SPEEDUP = {"gpt+": 1.0, "ngpt": 1.29, "angpt": 1.40}

# Quick: seconds on one CPU core, to show the code path (chapter 7 runs it live).
# Full: the paper's regime at our scale. The paper trains 20-140 tokens per parameter with
# large batches; a race far below that (0.5 tokens per parameter, as we first ran) measures
# the first minutes of training, where warm-up and init dominate. So the full model is small
# enough to train to 20 tokens per non-embedding parameter in seconds on one GPU:
#   d_model 192, 4 layers, 3 heads (d_h = 64): 2.36 M non-embedding parameters (2.37 M for
#   nGPT; embedding and head, 256 x 192 each, excluded); batch 256 x 256 = 65,536 tokens
#   (>= 64k, the paper's large-batch regime); 750 steps = 49.2 M tokens = 20.8 tokens per
#   non-embedding parameter (tests/test_run_all.py checks >= 20 for each model), about four
#   passes over pdmix's training split.
# Eager by default: at this size a compile (10-30 s per run) costs about what it saves over
# 750 steps (angpt.experiments.estimate); `run all --compile` turns it on for every run.
# Evaluation every 75 steps on 131,072 validation tokens. Modelled time of the 9 runs on one
# H100/H200 (`run all --dry-run`): about 2 minutes; it is compute-bound, so --jobs does not
# shorten it much.
RACE_SIZES = {
    "quick": {
        "model": dict(d_model=32, n_layers=2, n_heads=2, seq_len=32),
        "train": dict(steps=40, batch_size=8, eval_every=10, eval_tokens=512),
        "corpus": "shakespeare",
    },
    "full": {
        "model": dict(d_model=192, n_layers=4, n_heads=3, seq_len=256),
        "train": dict(steps=750, batch_size=256, eval_every=75, eval_tokens=131072),
        "corpus": "pdmix",
    },
}
PAPER_TOKENS_PER_PARAM = 20  # the least the paper trains (20-140 tokens per parameter)
# Learning rates per budget and model when no sweep is given (`race(..., lr=...)`; `run all`
# passes the best of the race-lr sweep run just before). Quick (CPU, 2 seeds): tiny models
# take much larger steps. Full: a first guess at this size (the d512 sweep's GPT+ 5e-4 and
# nGPT 8e-3 scaled up for the smaller width and larger batch), to be replaced by the sweep.
RACE_LR = {
    "quick": {"gpt+": 1e-2, "ngpt": 1e-1, "angpt": 3e-2},
    "full": {"gpt+": 2e-3, "ngpt": 8e-3, "angpt": 4e-3},
}


def _check_lr(budget: str, lr: dict | None) -> dict:
    rates = dict(RACE_LR[budget])
    if lr:
        bad = sorted(set(lr) - set(rates))
        if bad:
            raise ValueError(f"lr for unknown model(s) {bad}; valid choices: {', '.join(map(repr, rates))}")
        rates.update({m: v for m, v in lr.items() if v is not None})
    return rates


def race_configs(budget: str, model: str, seed: int = 0, lr: dict | None = None, **train_overrides):
    """(ModelConfig, TrainConfig, corpus) of one race run: the arch's own recipe
    (TrainConfig.for_arch) at the budget's size and learning rate (`lr`: {model: lr}
    replacing RACE_LR's)."""
    if budget not in RACE_SIZES:
        raise ValueError(f"unknown budget {budget!r}; valid choices: {', '.join(map(repr, RACE_SIZES))}")
    size = RACE_SIZES[budget]
    base = model.split(":")[0]  # 'gpt+:no-wd' is a variant of 'gpt+'
    cfg = preset(base, **size["model"])
    tkw = {**size["train"], "lr": _check_lr(budget, lr)[base], "seed": seed, **train_overrides}
    return cfg, TrainConfig.for_arch(cfg.arch, **tkw), size["corpus"]


def non_embedding_params(cfg) -> int:
    """Parameters of a model without its token embedding and output head (the count the
    tokens-per-parameter rule of the scaling literature uses)."""
    from ..model import build_model

    model = build_model(cfg)
    return sum(p.numel() for n, p in model.named_parameters() if n not in ("embed.weight", "head.weight"))


def _sizes(budget: str, lr: dict | None = None) -> dict:
    return {"sizes": RACE_SIZES[budget], "lr": _check_lr(budget, lr)}


def race_tasks(budget: str, seeds: int, lr: dict | None = None) -> list[Task]:
    """The race's runs, seeds outermost (a cut-short session still has complete seeds)."""
    tasks = []
    for seed in range(seeds):
        for m in RACE_MODELS:
            cfg, tcfg, corpus = race_configs(budget, m, seed, lr)
            tasks.append(Task(m, train_run, dict(label=m, cfg=cfg, tcfg=tcfg, corpus=corpus)))
    return tasks


def race(budget: str, seeds: int, progress: bool = True, runner: Runner | None = None,
         lr: dict | None = None, lr_source: str | None = None) -> dict:
    """GPT+, nGPT and anGPT, each with its own recipe, on the same data and seeds."""
    tasks = race_tasks(budget, seeds, lr)
    runs = (runner or Runner(progress=progress)).map(tasks)
    regime = {}
    for m in RACE_MODELS:
        cfg, tcfg, _ = race_configs(budget, m, 0, lr)
        n = non_embedding_params(cfg)
        regime[m] = {"non_embedding_params": n, "tokens": tcfg.steps * tcfg.batch_size * cfg.seq_len,
                     "tokens_per_param": tcfg.steps * tcfg.batch_size * cfg.seq_len / n}
    out = {"config": {**_sizes(budget, lr), "lr_source": lr_source or ("given" if lr else "RACE_LR (no sweep given)"), "models": list(RACE_MODELS),
                      "recipes": {m: tasks[i].kwargs["tcfg"].to_dict() for i, m in enumerate(RACE_MODELS)},
                      "regime": regime},
           "runs": runs}
    out["summary"] = race_summary(out)
    return out


# What anGPT drops, tried on GPT+: the same run without weight decay, and without warm-up.
DROPS = {"gpt+:no-wd": dict(weight_decay=0.0), "gpt+:no-warmup": dict(warmup_steps=0)}


def race_drops_tasks(budget: str, seeds: int, lr: dict | None = None) -> list[Task]:
    tasks = []
    for seed in range(seeds):
        for label, change in DROPS.items():
            cfg, tcfg, corpus = race_configs(budget, label, seed, lr, **change)
            tasks.append(Task(label, train_run, dict(label=label, cfg=cfg, tcfg=tcfg, corpus=corpus)))
    return tasks


def race_drops(budget: str, seeds: int, progress: bool = True, runner: Runner | None = None,
               lr: dict | None = None) -> dict:
    """GPT+ without weight decay and without warm-up, at the race's size and seeds."""
    runs = (runner or Runner(progress=progress)).map(race_drops_tasks(budget, seeds, lr))
    return {"config": {**_sizes(budget, lr), "variants": {k: dict(v) for k, v in DROPS.items()},
                       "baseline_from": "race"},
            "runs": runs}


# --------------------------------------------------------------------------------------
# Summaries for the chapter
# --------------------------------------------------------------------------------------


# what each run of a race result holds (experiments.common.summarize_run writes more)
RUN_KEYS = ("label", "seed", "diverged_at", "final_val_loss", "evals", "median_step_time")


def race_summary(result: dict, baseline: str = "gpt+") -> dict:
    """Per model: final val loss, the largest loss of the first steps, speedup vs the baseline
    and the step-time ratio of the training runs (both paired by seed), each as
    {values, mean, min, max} over seeds, and the number of diverged runs.

    A diverged run has no final loss; where the baseline diverged, that seed has no speedup
    (None) but the other models' losses are kept."""
    runs = check_runs(result, RUN_KEYS, "race_summary")
    labels = list(dict.fromkeys(r["label"] for r in runs))
    if baseline not in labels:
        raise ValueError(f"no runs of the baseline {baseline!r} in the result; labels: {sorted(labels)}")
    base = {r["seed"]: r for r in runs if r["label"] == baseline and r["diverged_at"] is None}
    out = {}
    for label in labels:
        mine = [r for r in runs if r["label"] == label]
        ok = [r for r in mine if r["diverged_at"] is None]  # a diverged run has no final loss
        paired = [r for r in ok if r["seed"] in base]
        out[label] = {
            "final_val_loss": spread([r["final_val_loss"] for r in ok]),
            "max_early_loss": spread([r.get("max_early_loss") for r in mine]),
            "speedup": spread([speedup(r["evals"], base[r["seed"]]["evals"]) for r in paired]),
            "step_time_ratio": spread([r["median_step_time"] / base[r["seed"]]["median_step_time"] for r in paired]),
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
    runs = [r for r in check_runs(result, RUN_KEYS, "curves") if r["label"] == label and r["diverged_at"] is None]
    if not runs:
        raise ValueError(f"no finished runs labelled {label!r}; labels: {sorted({r['label'] for r in result['runs']})}")
    losses = np.asarray([r["evals"]["val_loss"] for r in runs])
    if x == "tokens":
        return np.asarray(runs[0]["evals"]["tokens"]), losses
    secs = [np.asarray(r["evals"]["step"]) * r["median_step_time"] for r in runs]
    return np.mean(secs, axis=0), losses


__all__ = ["race_configs", "race_tasks", "race_drops_tasks", "race_summary", "curves", "non_embedding_params",
           "RACE_MODELS", "RACE_SIZES", "RACE_LR", "DROPS", "PAPER_SPEEDUP", "PAPER_TOKENS_PER_PARAM"]
