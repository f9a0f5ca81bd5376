"""The registry of experiments and `run`: one experiment by name, with provenance, saved
as it goes (angpt.experiments re-exports every name; `python -m angpt run NAME`)."""

from __future__ import annotations

import inspect
import os
import time
from pathlib import Path
from typing import Callable

from ..config import BUDGETS
from .ablations import ablation_tasks, ablations
from .benchmarks import (bench, bench_compile, bench_compile_tasks, bench_inference, bench_inference_tasks,
                         bench_tasks)
from .norm_lab import norm_lab, norm_lab_tasks
from .race import race, race_drops, race_drops_tasks, race_tasks
from .race_lr import race_lr, race_lr_tasks
from .schemes import schemes_experiment, schemes_tasks
from .common import RunStore, Runner, _clean, plan_hash, provenance, save, with_compile

EXPERIMENTS: dict[str, Callable[..., dict]] = {
    "race": race,
    "race-drops": race_drops,
    "race-lr": race_lr,
    "norm_lab": norm_lab,
    "ablations": ablations,
    "schemes": schemes_experiment,
    "bench": bench,
    "bench-compile": bench_compile,
    "bench-inference": bench_inference,
}
# The tasks of each experiment, `plan(budget, seeds, **options) -> [Task]`, without running
# them: `run all` estimates their time and checks whether a saved result is current with them.
PLANS: dict[str, Callable[..., list]] = {
    "race": race_tasks,
    "race-drops": race_drops_tasks,
    "race-lr": race_lr_tasks,
    "norm_lab": norm_lab_tasks,
    "ablations": ablation_tasks,
    "schemes": schemes_tasks,
    "bench": bench_tasks,
    "bench-compile": bench_compile_tasks,
    "bench-inference": bench_inference_tasks,
}


def experiment(name: str):
    """Register `fn(budget, seeds, progress=True) -> dict` under `name` (a decorator)."""
    def register(fn):
        if name in EXPERIMENTS:
            raise ValueError(f"experiment {name!r} is already registered")
        EXPERIMENTS[name] = fn
        return fn
    return register


def check_run_args(name: str, budget: str, seeds) -> None:
    """ValueError naming the bad value and the valid choices (before anything trains)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; valid choices: {', '.join(map(repr, sorted(EXPERIMENTS)))}")
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; valid choices: {', '.join(map(repr, BUDGETS))}")
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer, got {seeds!r}")


def check_out(out: str | os.PathLike) -> Path:
    """The result path, if a result can be written there; else ValueError saying why.
    Checked before any training, so a typo costs nothing."""
    path = Path(out)
    if path.suffix != ".json":
        raise ValueError(f"--out {str(out)!r}: a result file must end in .json")
    if path.is_dir():
        raise ValueError(f"--out {str(out)!r} is a directory; give a file name such as {str(path / 'result.json')!r}")
    parent = path.parent
    while not parent.exists():  # the first folder that exists must let us create the rest
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"--out {str(out)!r}: {str(parent)!r} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"--out {str(out)!r}: no permission to write in {str(parent)!r}")
    return path


def planned_tasks(name: str, budget: str, seeds: int, options: dict | None = None, compile: bool = False) -> list:
    """The tasks `run(name, ...)` trains (the experiment's options that its plan takes)."""
    plan = PLANS[name]
    accepted = inspect.signature(plan).parameters
    return with_compile(plan(budget, seeds, **{k: v for k, v in (options or {}).items() if k in accepted}), compile)


def run(name: str, budget: str = "quick", seeds: int = 3, out: str | os.PathLike | None = None,
        progress: bool = True, jobs: int = 1, options: dict | None = None, compile: bool = False,
        pool=None) -> dict:
    """Run a registered experiment and return its result with provenance; write it to `out`.

    With `out`, each finished training run is saved at once beside it (RunStore), and
    running the same call again after a crash or kill trains only the runs not saved yet.
    jobs > 1 trains that many runs at once in worker processes (on one GPU: see Runner).
    options: keyword arguments of the experiment (e.g. the race's `lr`). compile: every
    training run under torch.compile (the result records it in `compile`). pool: worker
    processes to share between experiments (common.worker_pool; `run all` passes one)."""
    check_run_args(name, budget, seeds)
    path = check_out(out) if out is not None else None
    fn = EXPERIMENTS[name]
    params = inspect.signature(fn).parameters
    options = dict(options or {})
    bad = sorted(set(options) - set(params))
    if bad:
        raise ValueError(f"experiment {name!r} takes no option(s) {bad}")
    kw = {"progress": progress} if "progress" in params else {}
    store = RunStore(path) if path is not None else None
    if "runner" in params:
        kw["runner"] = Runner(store, jobs=jobs, progress=progress, desc=name, compile=compile, pool=pool)
    t0 = time.perf_counter()
    body = fn(budget, seeds, **kw, **options)
    result = {
        "experiment": name, "budget": budget, "seeds": list(range(seeds)),
        "provenance": provenance(seeds=range(seeds)), "wall_time": time.perf_counter() - t0, **body,
    }
    if name in PLANS:
        result["plan_sha256"] = plan_hash(planned_tasks(name, budget, seeds, options, compile))
        result["compile"] = compile
    result = _clean(result)
    if path is not None:
        save(result, path)
        store.remove()
    return result


__all__ = ["EXPERIMENTS", "PLANS", "experiment", "run", "planned_tasks", "check_run_args", "check_out"]
