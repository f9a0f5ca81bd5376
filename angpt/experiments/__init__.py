"""The named experiments the chapters run, at quick (CPU) and full (GPU) size, with provenance.

    python -m angpt run race --budget full --seeds 3 --out book/results/race.json
    result = angpt.experiments.run("race", budget="quick", seeds=2)     # the same in Python

An experiment is a function `fn(budget, seeds, progress=True) -> dict` listed in
`EXPERIMENTS` under its name. It returns its configuration and its measurements; `run()`
adds the provenance every result file carries (git commit, a hash of the angpt sources,
package/torch/CUDA versions, device, date, seeds, wall time) and writes the JSON atomically.
To add one, write a module in this package (helpers in `common`) and list its function below.

One module per experiment, each on top of the library (config, model, train, norms, fold):
  race       ``race``, ``race-drops``   chapter 7: GPT+, nGPT, anGPT with their own recipes
  race_lr    ``race-lr``                chapter 7: the learning-rate sweep behind the race
  norm_lab   ``norm_lab``               chapters 3, 5, 6: per-layer norms while models train
  ablations  ``ablations``              chapter 8: the ladder from GPT to anGPT
  schemes    ``schemes``                chapter 10: every normalization scheme on the same data
  common     provenance, save/load, run summaries, the speedup measure

This package re-exports the names of `common`, `race`, `race_lr` and `ablations` (chapters use
`angpt.experiments.race_configs`, `.ablation_summary`, ...). To change a setting an experiment
reads (a test narrowing `ABLATION_VARIANTS`), set it on the module that owns it.

Only torch, numpy and tqdm are imported here: the CLI must run on a bare GPU machine.
"""

from __future__ import annotations

import inspect
import os
import time
from typing import Callable

from ..config import BUDGETS
from . import ablations, common, norm_lab, race, race_lr, schemes
from .ablations import *  # noqa: F401,F403
from .common import *  # noqa: F401,F403
from .common import _clean, provenance, save
from .race import *  # noqa: F401,F403
from .race_lr import *  # noqa: F401,F403

EXPERIMENTS: dict[str, Callable[..., dict]] = {
    "race": race.race,
    "race-drops": race.race_drops,
    "race-lr": race_lr.race_lr,
    "norm_lab": norm_lab.norm_lab,
    "ablations": ablations.ablations,
    "schemes": schemes.schemes_experiment,
}


def experiment(name: str):
    """Register `fn(budget, seeds, progress=True) -> dict` under `name` (a decorator)."""
    def register(fn):
        if name in EXPERIMENTS:
            raise ValueError(f"experiment {name!r} is already registered")
        EXPERIMENTS[name] = fn
        return fn
    return register


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


__all__ = ["EXPERIMENTS", "experiment", "run",
           *(n for m in (common, race, race_lr, ablations) for n in m.__all__)]
