"""`python -m angpt run all`: every result the chapters read, in priority order, each saved
as it completes, resumable, with its time estimated up front.

    python -m angpt run all --budget full --out-dir book/results --dry-run   # plan + estimate
    python -m angpt run all --budget full --out-dir book/results --jobs 4    # on one GPU
    python -m angpt run all --budget quick --out-dir /tmp/results            # CI, CPU

Order (ALL): the race in the paper's regime first (its learning-rate sweep, then the race at
the sweep's best rates), the benchmarks, the ablations, the norm lab, the schemes, GPT+'s
drops, and the compiled benchmark. A file that is saved and current (same angpt source hash,
same planned runs: configurations and seeds) is skipped; a killed experiment resumes from
its saved runs (angpt.experiments.RunStore).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .estimate import CALIB_BATCH, CALIB_STEPS, WORKER_START_SECONDS, assumptions, device_seconds, gpu_wall
from .common import load, plan_hash, source_hash, worker_pool
from .race_lr import best_lrs
from .registry import planned_tasks, run
from .results import FILES, results_dir

# (experiment, seeds, what the chapter needs it for). Seeds: the race needs three for a seed
# spread of the speedup; GPT+'s drops, the ablations' 13 variants and the schemes' 10 take two
# (a spread, at two thirds of the cost of three: together they fit the 9-minute GPU batch);
# the norm lab and the sweep one.
ALL = (
    ("race-lr", 1, "ch 7: the learning-rate sweep of the race; its best rates feed the race, its drops, the ablations"),
    ("race", 3, "ch 7: GPT+, nGPT, anGPT at 20 tokens per parameter, 64k-token batches, 3 seeds"),
    ("bench", 1, "ch 7: step time relative to GPT+, eager"),
    ("bench-inference", 1, "ch 9: forward and KV-cache decoding time, folded anGPT"),
    ("ablations", 2, "ch 8: the ladder GPT -> anGPT, factor scales, no nu(alpha), no QK-norm"),
    ("norm_lab", 1, "ch 3, 5, 6: per-layer norms while models train"),
    ("schemes", 2, "ch 10: every normalization scheme on the same data"),
    ("race-drops", 2, "ch 7: GPT+ without weight decay / without warm-up (paired with the race's seeds 0, 1)"),
    ("bench-compile", 1, "ch 7: step time relative to GPT+ under torch.compile"),
)
SWEPT = ("race", "race-drops", "ablations")  # experiments that train at the sweep's best rates
# Only at full size: torch.compile on a CPU needs a C++ toolchain and minutes per model, and
# the chapter shows the compiled ratios only from a GPU.
FULL_ONLY = ("bench-compile",)


@dataclass
class Entry:
    name: str
    seeds: int
    why: str
    path: Path
    options: dict = field(default_factory=dict)
    tasks: list = field(default_factory=list)


@dataclass
class Plan:
    budget: str
    out_dir: Path
    compile: bool
    entries: list


def sweep_rates(budget: str, out_dir: Path, compile: bool = False) -> tuple[dict | None, str]:
    """The race-lr sweep's best rate per model, if its file in `out_dir` is current, and a
    note on where the rates come from."""
    path = out_dir / FILES["race-lr"]
    seeds = dict((n, s) for n, s, _ in ALL)["race-lr"]
    ok, why = is_current(path, "race-lr", budget, seeds, planned_tasks("race-lr", budget, seeds, compile=compile))
    if not ok:
        return None, f"RACE_LR defaults until the sweep has run ({why})"
    res = load(path)
    best = best_lrs(res)
    edges = {m: e for m, e in best["edge"].items() if e}
    note = f"best of the sweep in {path.name}" + (f"; at the edge of its grid: {edges}" if edges else "")
    return {m: v for m, v in best["best_lr"].items() if v is not None}, note


def entry_options(name: str, budget: str, out_dir: Path, compile: bool = False) -> dict:
    if name not in SWEPT:
        return {}
    rates, note = sweep_rates(budget, out_dir, compile)
    return {"lr": rates, "lr_source": note} if name == "race" else {"lr": rates}


def make_plan(budget: str, out_dir: str | os.PathLike, only: str | None = None, compile: bool = False) -> Plan:
    """What `run all` will do, with the tasks of every experiment (rates from the sweep
    where its file is current already)."""
    from ..config import BUDGETS

    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; valid choices: {', '.join(map(repr, BUDGETS))}")
    names = [n for n, _, _ in ALL]
    chosen = names
    if only:
        chosen = [n.strip() for n in only.split(",") if n.strip()]
        bad = [n for n in chosen if n not in names]
        if bad:
            raise ValueError(f"--only: unknown experiment(s) {bad}; valid choices: {', '.join(names)}")
    out_dir = Path(out_dir)
    entries = []
    for name, seeds, why in ALL:
        if name in chosen and not (budget != "full" and name in FULL_ONLY):
            e = Entry(name, seeds, why, out_dir / FILES[name], entry_options(name, budget, out_dir, compile))
            e.tasks = planned_tasks(name, budget, seeds, e.options, compile)
            entries.append(e)
    return Plan(budget, out_dir, compile, entries)


def check_out_dir(out_dir) -> Path:
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out-dir {str(out_dir)!r} is a file, not a folder")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--out-dir {str(out_dir)!r}: no permission to write in {str(parent)!r}")
    return path


def is_current(path: Path, name: str, budget: str, seeds: int, tasks) -> tuple[bool, str]:
    """(True, '') if `path` holds this experiment made by this code with these runs; else
    (False, why)."""
    try:
        res = load(path)
    except ValueError as err:
        return False, f"unreadable: {err}"
    if res is None:
        return False, "not saved yet"
    if (res.get("experiment"), res.get("budget"), res.get("seeds")) != (name, budget, list(range(seeds))):
        return False, (f"holds {res.get('experiment')} {res.get('budget')} seeds {res.get('seeds')}, "
                       f"not {name} {budget} seeds {list(range(seeds))}")
    if res["provenance"].get("source_sha256") != source_hash():
        return False, "made by other code (source hash differs)"
    if res.get("plan_sha256") != plan_hash(tasks):
        return False, "made with other configurations"
    return True, ""


# --------------------------------------------------------------------------------------
# The estimate and the dry run
# --------------------------------------------------------------------------------------


def _describe_tasks(tasks) -> list[str]:
    """Distinct model/training sizes of the tasks, with their run counts, one line each."""
    sizes: dict[str, int] = {}
    for t in tasks:
        c = t.configs()
        if c is None:
            sizes[f"{t.label}: {t.kwargs}"] = sizes.get(f"{t.label}: {t.kwargs}", 0) + 1
            continue
        cfg, tcfg, corpus = c
        key = (f"d{cfg.d_model} L{cfg.n_layers} H{cfg.n_heads} T{cfg.seq_len}, {tcfg.steps} steps x "
               f"{tcfg.batch_size * cfg.seq_len:,} tokens ({tcfg.batch_size} x {cfg.seq_len}), "
               f"{'compiled' if tcfg.compile else 'eager'}, {corpus}")
        sizes[key] = sizes.get(key, 0) + 1
    return [f"{n:>3} x {k}" for k, n in sizes.items()]


def estimate_plan(plan: Plan, jobs: int = 1, device: str = "auto", calibrate: bool = True) -> dict:
    """{name: {'tokens', 'runs', 'here' (s on this device, one run at a time, calibrated; None
    without calibration or for benchmarks, which are not calibrated), 'gpu' (s, the H100/H200
    model with `jobs` at once)}} and the totals under 'total'."""
    out = {}
    for e in plan.entries:
        tokens = here = 0.0
        for t in e.tasks:
            c = t.configs()
            if c is None:
                here = None
                continue
            cfg, tcfg, _ = c
            tokens += tcfg.steps * tcfg.batch_size * cfg.seq_len
            if calibrate and here is not None:
                here += device_seconds(cfg, tcfg, device)
        out[e.name] = {"tokens": tokens, "runs": len(e.tasks), "here": here if calibrate else None,
                       "gpu": gpu_wall(e.tasks, jobs)}
    out["total"] = {k: sum(v[k] for v in out.values() if v[k] is not None) for k in ("tokens", "runs", "gpu")}
    if jobs > 1:
        out["total"]["gpu"] += WORKER_START_SECONDS
    out["total"]["here"] = sum(v["here"] for v in out.values() if v.get("here") is not None) if calibrate else None
    return out


def _dur(s: float | None) -> str:
    if s is None:
        return "n/a"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def print_plan(plan: Plan, jobs: int = 1, device: str = "auto") -> dict:
    """Print, per experiment, its configuration, token budget and estimated time; return
    the estimate."""
    from ..train import device_name, resolve_device

    dev = resolve_device(device)
    on_cpu = dev.type != "cuda"
    print(f"run all --budget {plan.budget} -> {plan.out_dir} ({len(plan.entries)} experiments, "
          f"{'torch.compile' if plan.compile else 'eager'}, {jobs} run(s) at once)")
    print(f"calibrating on {device_name(dev)}: {CALIB_STEPS[1]} timed steps per model size"
          + (f" at {CALIB_BATCH} sequences, scaled to the real batch by tokens" if on_cpu
             else " at the real batch") + " ...", flush=True)
    t0 = time.perf_counter()
    est = estimate_plan(plan, jobs, device)
    print(f"(calibration took {time.perf_counter() - t0:.0f} s)\n")
    cumulative = 0.0
    for e in plan.entries:
        x = est[e.name]
        cumulative += x["gpu"]
        ok, why = is_current(e.path, e.name, plan.budget, e.seeds, e.tasks)
        state = "current: skipped" if ok else f"to run ({why})"
        print(f"{e.name} -> {e.path.name}, {e.seeds} seed(s), {x['runs']} run(s); {state}")
        print(f"    {e.why}")
        for line in _describe_tasks(e.tasks):
            print(f"    {line}")
        if e.options.get("lr") is not None or e.name in SWEPT:
            print(f"    learning rates: {e.options.get('lr_source') or ('from the sweep' if e.options.get('lr') else 'RACE_LR defaults until the sweep has run')}")
        print(f"    tokens trained: {x['tokens'] / 1e6:,.1f} M; estimated on this device, one run at a time: "
              f"{_dur(x['here']) if x['here'] is not None else 'not calibrated (a benchmark)'}; "
              f"GPU model (one H100/H200, an estimate): {_dur(x['gpu'])}, {_dur(cumulative)} from the start")
    tot = est["total"]
    print(f"\ntotal: {tot['runs']} runs, {tot['tokens'] / 1e6:,.0f} M tokens; estimated on this device "
          f"({device_name(dev)}, one run at a time, training only): {_dur(tot['here'])}")
    print(f"GPU model estimate (one H100/H200, {jobs} at once; a model, not a measurement): {_dur(tot['gpu'])}")
    for line in assumptions(jobs):
        print(f"  assumption: {line}")
    if plan.budget == "full":
        from ..data import data_dir

        have = (data_dir() / "pdmix").exists()
        print(f"corpus pdmix: {'found in ' + str(data_dir() / 'pdmix') if have else 'NOT FOUND'}"
              + ("" if have else " -- build it first: python tools/make_corpus.py pdmix"))
    return est


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------


def run_all(plan: Plan, jobs: int = 1, force: bool = False, progress: bool = True) -> int:
    """Run every experiment of `plan` whose file is not current (all with `force`), in
    order, each saved as it completes; print the measured time of each."""
    from tqdm.auto import tqdm

    est = estimate_plan(plan, jobs, calibrate=False)
    print(f"run all --budget {plan.budget} -> {plan.out_dir}: {len(plan.entries)} experiments; "
          f"GPU model estimate {_dur(est['total']['gpu'])} on one H100/H200 ({jobs} at once; "
          f"`--dry-run` calibrates on this device)", flush=True)
    times = {}
    bar = tqdm(total=len(plan.entries), desc="run all", disable=not progress, dynamic_ncols=True)
    t_all = time.perf_counter()
    pool = worker_pool(jobs) if jobs > 1 else None  # started once: workers keep torch imported
    try:
        _run_entries(plan, jobs, force, progress, pool, est, times, bar)
    finally:
        if pool is not None:
            pool.shutdown()
        bar.close()
    print(f"run all finished in {_dur(time.perf_counter() - t_all)}: "
          + ", ".join(f"{n} {_dur(t) if t is not None else 'skipped'}" for n, t in times.items()))
    return 0


def _run_entries(plan: Plan, jobs: int, force: bool, progress: bool, pool, est: dict, times: dict, bar) -> None:
    for e in plan.entries:
        # the sweep may have just finished: the rates of the experiments after it come from it
        e.options = entry_options(e.name, plan.budget, plan.out_dir, plan.compile)
        e.tasks = planned_tasks(e.name, plan.budget, e.seeds, e.options, plan.compile)
        ok, why = is_current(e.path, e.name, plan.budget, e.seeds, e.tasks)
        bar.set_postfix_str(e.name, refresh=True)
        if ok and not force:
            print(f"{e.name}: {e.path} is current, skipped", flush=True)
            times[e.name] = None
        else:
            t0 = time.perf_counter()
            run(e.name, plan.budget, e.seeds, out=e.path, progress=progress, jobs=jobs, options=e.options,
                compile=plan.compile, pool=pool)
            times[e.name] = time.perf_counter() - t0
            print(f"{e.name}: wrote {e.path} in {_dur(times[e.name])} (GPU model estimate "
                  f"{_dur(est[e.name]['gpu'])}; {why})", flush=True)
        bar.update(1)


__all__ = ["ALL", "Plan", "Entry", "make_plan", "check_out_dir", "is_current", "estimate_plan", "print_plan",
           "run_all", "results_dir"]
