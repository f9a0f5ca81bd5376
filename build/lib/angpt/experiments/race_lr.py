"""Chapter 7: ``race-lr``, a learning-rate sweep at the race's size, one seed: the evidence
behind the race's learning rates (a tuned baseline), and the rates `run all` gives the race.

Each model's grid is wide (a factor of 2 between points, 32x from end to end) so that the
best rate lies inside it; `best_lr` names the best and `edge` says, per model, whether it sits
at the lowest or highest rate tried (then the grid was too narrow and the race's rate is not
known to be the optimum: the summary says so).
"""

from __future__ import annotations

import numpy as np

from .common import Runner, Task, check_runs, train_run
from .race import RACE_LR, RACE_SIZES, race_configs

RACE_LR_GRID = {
    "quick": {"gpt+": (1e-3, 3e-3, 1e-2, 3e-2), "ngpt": (3e-3, 1e-2, 3e-2, 1e-1),
              "angpt": (3e-3, 1e-2, 2e-2, 3e-2)},
    # five points, x2 apart (16x end to end), centred on each arch's first guess (RACE_LR["full"])
    "full": {"gpt+": (5e-4, 1e-3, 2e-3, 4e-3, 8e-3),
             "ngpt": (2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2),
             "angpt": (1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2)},
}
# Sweep runs, as a fraction of the race's steps. Full: a third (250 steps, 16.4 M tokens,
# 6.9 tokens per parameter), so that 15 sweep runs cost 5 race runs and the sweep fits the
# GPU batch beside the race. A shorter run favours somewhat larger rates than the full one;
# `edge` flags a best rate at the end of the grid, and the race's result records its rates.
RACE_LR_FRACTION = {"quick": 1.0, "full": 1 / 3}


def race_lr_tasks(budget: str, seeds: int) -> list[Task]:
    if budget not in RACE_LR_GRID:
        raise ValueError(f"unknown budget {budget!r}; valid choices: {', '.join(map(repr, RACE_LR_GRID))}")
    steps = max(20, int(RACE_SIZES[budget]["train"]["steps"] * RACE_LR_FRACTION[budget]))
    tasks = []
    for seed in range(seeds):
        for m, grid in RACE_LR_GRID[budget].items():
            for lr in grid:
                cfg, tcfg, corpus = race_configs(budget, m, seed, lr={m: lr}, steps=steps)
                label = f"{m}@{lr:g}"
                tasks.append(Task(label, train_run, dict(label=label, cfg=cfg, tcfg=tcfg, corpus=corpus)))
    return tasks


def race_lr(budget: str, seeds: int, progress: bool = True, runner: Runner | None = None) -> dict:
    """Learning-rate sweep at the race's size (full: over a third of its steps); the best rate per
    model and whether it sits at an edge of the grid."""
    tasks = race_lr_tasks(budget, seeds)
    runs = (runner or Runner(progress=progress)).map(tasks)
    out = {"config": {"sizes": RACE_SIZES[budget], "lr": RACE_LR[budget], "steps": tasks[0].kwargs["tcfg"].steps,
                      "grid": {k: list(v) for k, v in RACE_LR_GRID[budget].items()}},
           "runs": runs}
    out.update(best_lrs(out))
    return out


def best_lrs(result: dict) -> dict:
    """{'best_lr': {model: lr or None}, 'edge': {model: None | 'low' | 'high'}} of a sweep: the
    rate with the lowest mean final loss over seeds (a divergence in any seed disqualifies a
    rate); 'low'/'high' when that is the smallest/largest rate of the grid."""
    grid = result["config"]["grid"]
    best, edge = {}, {}
    for m, rates in grid.items():
        finals = {}
        for r in result["runs"]:
            if r["label"].split("@")[0] == m:
                finals.setdefault(r["lr"], []).append(r["final_val_loss"])
        ok = {lr: float(np.mean(v)) for lr, v in finals.items() if None not in v}
        best[m] = min(ok, key=ok.get) if ok else None
        edge[m] = None if best[m] is None else "low" if best[m] == min(rates) else "high" if best[m] == max(rates) else None
    return {"best_lr": best, "edge": edge}


def lr_sweep(results) -> dict:
    """{model: [(lr, mean final val loss or None if any seed diverged), ...]} from race-lr
    result(s), sorted by lr (several files are merged: e.g. a first grid and its extension)."""
    table: dict[str, dict[float, list]] = {}
    for res in results:
        for r in check_runs(res, ("label", "lr", "final_val_loss"), "lr_sweep"):
            model = r["label"].split("@")[0]
            table.setdefault(model, {}).setdefault(r["lr"], []).append(r["final_val_loss"])
    return {m: [(lr, None if None in v else float(np.mean(v))) for lr, v in sorted(d.items())]
            for m, d in table.items()}


__all__ = ["lr_sweep", "best_lrs", "race_lr_tasks", "RACE_LR_GRID", "RACE_LR_FRACTION"]
