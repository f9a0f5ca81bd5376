"""What every experiment shares: provenance, result files, and the summaries of runs.

    provenance()             git commit, a hash of the angpt sources, versions, device, date
    save(result, path)       atomic JSON write (fsync, then rename); load(path): the result,
                             None if absent, ValueError naming the file if it is not one
    summarize_run(rec, lbl)  a RunRecord made small for a result file
    Task, Runner, RunStore   one training run as data; run tasks (in worker processes with
                             jobs > 1) and save each as it finishes, so a rerun resumes
    train_run(...)           the task most experiments run: train, summarize, keep divergences
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

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


def _own_git() -> bool:
    """True if the folder above angpt/ is the top of a git checkout: the project's own. An
    installed copy inside some other repository (a site-packages under a user's project)
    must not report that repository's commit."""
    top = _git("rev-parse", "--show-toplevel")
    return top is not None and Path(top).resolve() == PACKAGE_DIR.parent


def source_hash() -> str:
    """sha256 over angpt/**/*.py (paths and bytes): identifies the code even without git."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        name = path.relative_to(PACKAGE_DIR).as_posix()
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def provenance(device: str | None = None, seeds=None) -> dict:
    """Where and with what a result was made. $ANGPT_COMMIT stands in for git on a copy of
    the repository without .git (e.g. a GPU machine); without either the commit is None.
    git_dirty: uncommitted changes under angpt/ (None when there is no git checkout).

    The book's schema (tests/test_book.py) uses the short keys commit, version, torch,
    device, date, seeds; git_commit, package_version and torch_version repeat them under
    the names the first result files used."""
    import torch

    from .. import __version__
    from ..train import device_name, resolve_device

    own = _own_git()
    commit = (_git("rev-parse", "HEAD") if own else None) or os.environ.get("ANGPT_COMMIT") or None
    dirty = bool(_git("status", "--porcelain", "--", "angpt")) if own else None
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


def _atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader (or a crash) sees the old file or the new one,
    never half of one: a temporary file in the same folder, fsync, rename, fsync the folder.
    Temporary files of an earlier, killed save of the same path are removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.tmp*"):
        stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    from ..train import fsync_dir

    fsync_dir(path.parent)  # the rename itself durable


def save(result: dict, path: str | os.PathLike) -> None:
    """Write a result as strict JSON (NaN/inf become null), atomically."""
    _atomic_write(Path(path), json.dumps(_clean(result), indent=1, allow_nan=False) + "\n")


# What every result file must hold, and per experiment the fields its chapter reads.
RESULT_KEYS = ("experiment", "provenance")
RESULT_PROVENANCE_KEYS = ("commit", "device", "date", "torch")
EXPERIMENT_KEYS = {
    "race": ("config", "runs"), "race-drops": ("config", "runs"), "race-lr": ("config", "runs", "best_lr"),
    "ablations": ("config", "runs"), "norm_lab": ("config", "runs"), "schemes": ("config", "runs", "summary"),
    "bench": ("train_step", "ratios"), "bench-compile": ("train_step", "ratios"),
    "bench-inference": ("rows", "models"),
}


def check_result(result, path: str | os.PathLike = "result") -> dict:
    """`result` if it has the fields of a result file; otherwise ValueError naming `path`
    and what is wrong."""
    if not isinstance(result, dict):
        raise ValueError(f"{path}: not a result file: the JSON is a {type(result).__name__}, not an object")
    missing = [k for k in RESULT_KEYS if k not in result]
    if missing:
        raise ValueError(f"{path}: not a result file: it lacks {missing} (it has {sorted(result)[:10]})")
    prov = result["provenance"]
    if not isinstance(prov, dict):
        raise ValueError(f"{path}: 'provenance' must be an object, got {type(prov).__name__}")
    missing = [k for k in RESULT_PROVENANCE_KEYS if k not in prov]
    if missing:
        raise ValueError(f"{path}: provenance lacks {missing}")
    need = EXPERIMENT_KEYS.get(result["experiment"], ())
    missing = [k for k in need if k not in result]
    if missing:
        raise ValueError(f"{path}: a {result['experiment']!r} result must have {list(need)}; it lacks {missing} "
                         f"(written by an older or newer version of angpt?)")
    return result


def check_runs(result, keys: tuple[str, ...], where: str = "result") -> list[dict]:
    """result['runs'], checked: a list of objects that each have `keys`, with a number or
    null as 'final_val_loss' and 'lr' where present. ValueError naming `where` and what is
    wrong otherwise (summaries called on a hand-made or foreign dict fail here, clearly)."""
    if not isinstance(result, dict) or not isinstance(result.get("runs"), list):
        got = type(result).__name__ if not isinstance(result, dict) else f"keys {sorted(result)[:10]}"
        raise ValueError(f"{where}: expected a result with a list of 'runs', got {got}")
    for i, run in enumerate(result["runs"]):
        if not isinstance(run, dict):
            raise ValueError(f"{where}: run {i} is a {type(run).__name__}, not an object")
        missing = [k for k in keys if k not in run]
        if missing:
            raise ValueError(f"{where}: run {i} ({run.get('label', 'no label')!r}) lacks {missing}")
        for k, optional in (("final_val_loss", True), ("lr", False)):
            v = run.get(k)
            if k in run and not (v is None and optional) and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise ValueError(f"{where}: run {i} ({run.get('label')!r}) has {k}={v!r}, not a number"
                                 + (" or null" if optional else ""))
    return result["runs"]


def _no_nan(constant: str):
    raise ValueError(f"the JSON holds {constant}, which result files never do (they write null for a "
                     "missing number)")


def load(path: str | os.PathLike) -> dict | None:
    """A result file, or None if it does not exist (chapters then say so).

    A file that exists but is not a result (truncated JSON, another schema) raises
    ValueError naming the file and what is wrong: `load_result` turns that into a status."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot be read: {err}") from None
    try:
        result = json.loads(text, parse_constant=_no_nan)
    except ValueError as err:
        if not isinstance(err, json.JSONDecodeError):
            raise ValueError(f"{path}: {err}") from None
        ends_early = err.pos >= len(text.rstrip()) or err.msg.startswith("Unterminated")
        hint = " (truncated?)" if ends_early else ""
        raise ValueError(f"{path}: not valid JSON{hint}: {err.msg} at line {err.lineno}, column {err.colno}") from None
    return check_result(result, path)


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
    out["max_early_loss"] = max_early_loss(rec)
    out["initial_train_loss"] = h["train_loss"][0] if n else None
    return out


def early_steps(total_steps: int) -> int:
    """How many first steps count as 'early': max(10, 5 % of the run)."""
    return max(10, math.ceil(0.05 * total_steps))


def max_early_loss(rec) -> float | None:
    """The largest training loss of the first `early_steps` steps: a run whose loss jumps from
    5.5 to 200 and recovers is not a clean run, though no NaN stopped it. The record's own
    `max_early_loss` when angpt.train provides one, else computed from its history."""
    own = getattr(rec, "max_early_loss", None)
    if own is not None:
        return float(own)
    losses = rec.history["train_loss"][:early_steps(rec.train_config["steps"])]
    finite = [v for v in losses if v is not None and math.isfinite(v)]
    if len(finite) < len(losses):
        return math.inf  # saved as null; the run also has diverged_at
    return float(max(finite)) if finite else None


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
    check_result(result, f"describe({type(result).__name__})")
    p, cfg = result["provenance"], result.get("config", {})
    sizes = cfg.get("sizes", {})
    m, t = sizes.get("model", {}), sizes.get("train", {})
    size = ""
    if m and t:
        steps = cfg.get("steps", t["steps"])  # race-lr runs shorter than the race
        size = (f"d_model {m['d_model']}, {m['n_layers']} layers, {m['n_heads']} heads, {steps} steps of "
                f"{t['batch_size']} x {m['seq_len']} byte tokens on '{sizes.get('corpus')}'; ")
    commit = (p.get("git_commit") or "unknown")[:10] + (" (with uncommitted changes)" if p.get("git_dirty") else "")
    wall = result.get("wall_time")
    return (f"{result['experiment']} ({result.get('budget', 'budget unknown')}): {size}seeds {result.get('seeds')}; "
            f"{p['device']}, torch {p['torch']}, commit {commit}, source {p.get('source_sha256', 'unknown')}, "
            f"{str(p['date'])[:10]}" + (f", {wall / 60:.1f} min" if isinstance(wall, (int, float)) else ""))


# --------------------------------------------------------------------------------------
# Tasks: training runs as data, run in order or in worker processes, saved as they finish
# --------------------------------------------------------------------------------------


def train_summarized(label: str, cfg, tcfg, corpus: str, progress: bool = False):
    """Train one run: (its summary, its RunRecord). A divergence is a result too: the run is
    kept with `diverged_at` set and no final loss, and the other runs of the experiment go on."""
    from ..train import DivergenceError, train

    try:
        rec = train(cfg, tcfg, corpus=corpus, progress=progress)
        return summarize_run(rec, label), rec
    except DivergenceError as err:
        run = summarize_run(err.record, label)
        run.update(diverged_at=err.step, final_val_loss=None)
        return run, err.record


def train_run(label: str, cfg, tcfg, corpus: str, progress: bool = False) -> dict:
    """The task most experiments run: `train_summarized` without the record."""
    return train_summarized(label, cfg, tcfg, corpus, progress)[0]


def _canonical(obj) -> str:
    """Stable JSON of task arguments: configs by their fields, tuples as lists."""
    def default(o):
        if hasattr(o, "to_dict"):
            return {"__type__": type(o).__name__, **o.to_dict()}
        raise TypeError(f"task arguments must be JSON-able or configs, got {type(o).__name__}")
    return json.dumps(obj, sort_keys=True, default=default)


@dataclass
class Task:
    """One unit of an experiment, usually one training run: `fn(**kwargs, progress=...)`
    returns a JSON-able dict. `fn` is a module-level function (worker processes import it).

    key(source) identifies the run by its function, its arguments (model and training
    configs, seed, corpus) and the source hash, so a saved run is reused only by the same
    code and configuration. `seconds`: a fixed time allowance for tasks that do not train
    (benchmarks); estimates of training tasks come from their configs."""

    label: str
    fn: Callable[..., dict]
    kwargs: dict
    seconds: float | None = None

    def key(self, source: str) -> str:
        text = f"{self.fn.__module__}.{self.fn.__qualname__}\0{_canonical(self.kwargs)}\0{source}"
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def configs(self):
        """(ModelConfig, TrainConfig, corpus) of a training task, or None."""
        from ..config import ModelConfig, TrainConfig

        cfg = next((v for v in self.kwargs.values() if isinstance(v, ModelConfig)), None)
        tcfg = next((v for v in self.kwargs.values() if isinstance(v, TrainConfig)), None)
        if cfg is None or tcfg is None:
            return None
        return cfg, tcfg, self.kwargs.get("corpus", "shakespeare")


def with_compile(tasks: list[Task], compile: bool) -> list[Task]:
    """The tasks with torch.compile switched on in their TrainConfig (unchanged if False)."""
    if not compile:
        return tasks
    from ..config import TrainConfig

    return [Task(t.label, t.fn, {k: v.replace(compile=True) if isinstance(v, TrainConfig) else v
                                 for k, v in t.kwargs.items()}, t.seconds) for t in tasks]


def plan_hash(tasks) -> str:
    """Hash of what a list of tasks would compute, independent of the code version."""
    h = hashlib.sha256()
    for t in tasks:
        h.update(t.key("").encode())
    return h.hexdigest()[:16]


class RunStore:
    """The runs of one result file saved so far, as they finish: `.{name}.runs` beside the
    result (a hidden file: chapters never read it). Written atomically after every run; a
    rerun of the same command takes finished runs from it instead of training them again;
    removed once the result file is written."""

    VERSION = 1

    def __init__(self, result_path: str | os.PathLike):
        result_path = Path(result_path)
        self.path = result_path.with_name(f".{result_path.name}.runs")
        self.runs: dict[str, dict] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                if data.get("version") == self.VERSION:
                    self.runs = dict(data["runs"])
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                import warnings

                warnings.warn(f"{self.path}: unreadable store of finished runs ({err}); starting over", stacklevel=2)

    def get(self, key: str) -> dict | None:
        entry = self.runs.get(key)
        return None if entry is None else entry["result"]

    def put(self, key: str, label: str, result: dict) -> None:
        self.runs[key] = {"label": label, "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(),
                          "result": _clean(result)}
        _atomic_write(self.path, json.dumps({"version": self.VERSION, "runs": self.runs}, allow_nan=False))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _call(fn, kwargs):
    return fn(**kwargs, progress=False)


def worker_pool(jobs: int):
    """`jobs` worker processes, each with its share of the CPU threads. Spawned, not forked:
    CUDA cannot be used in a forked child."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // jobs)
    return ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                               initargs=(threads,))


class Runner:
    """Runs an experiment's tasks: in this process (jobs=1) or in `jobs` worker processes at
    once (several small runs share one GPU: while one waits on Python or the CPU, the
    others' kernels run). With a RunStore, each finished run is saved at once and runs
    already saved are not run again."""

    def __init__(self, store: RunStore | None = None, jobs: int = 1, progress: bool = True, desc: str = "runs",
                 compile: bool = False, pool=None):
        if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
            raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
        self.store, self.jobs, self.progress, self.desc, self.compile = store, jobs, progress, desc, compile
        self.pool = pool  # a shared worker pool (`run all`: started once for every experiment)
        self.trained = 0  # tasks run by this runner (not taken from the store)

    def map(self, tasks: list[Task]) -> list[dict]:
        """The result of every task, in order."""
        from tqdm.auto import tqdm

        tasks = with_compile(tasks, self.compile)
        source = source_hash()
        keys = [t.key(source) for t in tasks]
        results = [self.store.get(k) if self.store else None for k in keys]
        todo = [i for i, r in enumerate(results) if r is None]
        bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=self.desc, disable=not self.progress,
                   dynamic_ncols=True, leave=False)

        def done(i, result):
            results[i] = result
            self.trained += 1
            if self.store is not None:
                self.store.put(keys[i], tasks[i].label, result)
            bar.update(1)

        try:
            if self.jobs == 1 or len(todo) <= 1:
                for i in todo:
                    bar.set_postfix_str(tasks[i].label, refresh=True)
                    done(i, tasks[i].fn(**tasks[i].kwargs, progress=self.progress and self.jobs == 1))
            else:
                from concurrent.futures import as_completed

                pool = self.pool or worker_pool(self.jobs)
                try:
                    futures = {pool.submit(_call, tasks[i].fn, tasks[i].kwargs): i for i in todo}
                    for fut in as_completed(futures):
                        done(futures[fut], fut.result())
                finally:
                    if pool is not self.pool:
                        pool.shutdown()
        finally:
            bar.close()
        return results


def train_all(jobs, progress: bool, runner: Runner | None = None) -> list[dict]:
    """Train each (label, cfg, tcfg, corpus) in order (`runner`: in parallel, saved as they
    finish); seeds outermost so a cut-short session still has complete seeds."""
    tasks = [Task(label, train_run, dict(label=label, cfg=cfg, tcfg=tcfg, corpus=corpus))
             for label, cfg, tcfg, corpus in jobs]
    return (runner or Runner(progress=progress)).map(tasks)


__all__ = ["PACKAGE_DIR", "provenance", "PROVENANCE_KEYS", "source_hash", "save", "load", "check_result", "check_runs",
           "EXPERIMENT_KEYS", "summarize_run", "max_early_loss", "early_steps", "tokens_to_loss", "speedup", "spread",
           "describe", "Task", "Runner", "RunStore", "plan_hash", "with_compile", "worker_pool", "train_summarized", "train_run", "train_all"]
