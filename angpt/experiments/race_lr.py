"""Chapter 7: ``race-lr``, a learning-rate sweep at the race's size, a quarter of its steps,
one seed: the evidence behind the race's learning rates (a tuned baseline; methods.md §8 row 8).
"""

from __future__ import annotations

import numpy as np

from .common import train_all
from .race import RACE_LR, RACE_SIZES, race_configs

RACE_LR_GRID = {
    "quick": {"gpt+": (1e-3, 3e-3, 1e-2, 3e-2), "ngpt": (3e-3, 1e-2, 3e-2, 1e-1),
              "angpt": (3e-3, 1e-2, 2e-2, 3e-2)},
    "full": {"gpt+": (2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3), "ngpt": (1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2),
             "angpt": (1e-3, 2e-3, 3e-3, 4e-3, 8e-3)},
}
RACE_LR_FRACTION = {"quick": 1.0, "full": 0.25}  # sweep runs, as a fraction of the race's steps


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
    runs = train_all(jobs, progress)
    best = {}
    for m in RACE_LR_GRID[budget]:
        finals = {}
        for r in runs:
            if r["label"].startswith(m + "@"):  # mean over seeds; a divergence disqualifies
                finals.setdefault(r["lr"], []).append(r["final_val_loss"])
        ok = {lr: float(np.mean(v)) for lr, v in finals.items() if None not in v}
        best[m] = min(ok, key=ok.get) if ok else None
    return {"config": {"sizes": RACE_SIZES[budget], "lr": RACE_LR[budget], "steps": steps,
                       "grid": {k: list(v) for k, v in RACE_LR_GRID[budget].items()}},
            "runs": runs, "best_lr": best}


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


__all__ = ["lr_sweep", "RACE_LR_GRID", "RACE_LR_FRACTION"]
