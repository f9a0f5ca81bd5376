"""The result files chapters read, found from the package (not the working directory), and
what each one is: current, stale, missing or invalid, with a provenance banner.

In a chapter (the book's notebooks, in `book/`):

    from angpt import experiments as E
    res = E.load_result("race")          # book/results/race.json of this checkout
    print(res.banner)                   # one paragraph: where the result comes from
    if res.ok:                          # 'current' or 'stale' (stale: the banner warns)
        full = res.result
    else:                               # 'missing' or 'invalid': res.reason says why
        ...                             # go on with the quick run

Where: $ANGPT_RESULTS if set, else `book/results/` of the repository the package lives in
(`Path(angpt.__file__).parents[1] / "book" / "results"`), which is right for a checkout, an
editable install, Binder and Colab alike, whatever the notebook's working directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .common import PACKAGE_DIR, load, source_hash

# experiment -> the file chapters read it from (in the results folder)
FILES = {
    "race": "race.json", "race-lr": "race_lr.json", "race-drops": "race_drops.json",
    "bench": "bench.json", "bench-compile": "bench_compile.json", "bench-inference": "bench_inference.json",
    "ablations": "ablations.json", "norm_lab": "norm_lab.json", "schemes": "schemes.json",
}
STATUSES = ("current", "stale", "missing", "invalid")


def results_dir() -> Path:
    """$ANGPT_RESULTS, else book/results/ next to the angpt package."""
    env = os.environ.get("ANGPT_RESULTS", "").strip()
    return Path(env) if env else PACKAGE_DIR.parent / "book" / "results"


def shown(path: Path) -> str:
    """`path` as a page shows it: relative to the checkout when inside it (an absolute path
    says where the book was built, not where the reader's copy is, and one long unbreakable
    word makes a phone page scroll sideways)."""
    try:
        return str(path.resolve().relative_to(PACKAGE_DIR.parent))
    except ValueError:
        return str(path)


def result_path(name: str, results_dir_: str | os.PathLike | None = None) -> Path:
    if name not in FILES:
        raise ValueError(f"unknown result {name!r}; valid choices: {', '.join(map(repr, FILES))}")
    return Path(results_dir_ if results_dir_ is not None else results_dir()) / FILES[name]


@dataclass
class LoadedResult:
    """A result file and what it is. status: 'current' (made by this code), 'stale' (the
    angpt sources changed since: its numbers may not be what this code gives), 'missing',
    'invalid' (reason says what is wrong). `ok`: there is a result to show."""

    name: str
    path: Path
    status: str
    result: dict | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("current", "stale")

    @property
    def banner(self) -> str:
        return banner(self)


def load_result(name: str, results_dir: str | os.PathLike | None = None) -> LoadedResult:
    """The result file of experiment `name` (see FILES) with its status; never raises for a
    bad file (status 'invalid', reason naming the file and the problem)."""
    path = result_path(name, results_dir)
    try:
        result = load(path)
    except ValueError as err:
        return LoadedResult(name, path, "invalid", reason=str(err).replace(str(path), shown(path)))
    if result is None:
        return LoadedResult(name, path, "missing", reason=f"{shown(path)} does not exist")
    legacy = name == "bench-compile" and result["experiment"] == "bench" and result.get("compile")
    if result["experiment"] != name and not legacy:  # early bench_compile.json files say 'bench'

        return LoadedResult(name, path, "invalid",
                            reason=f"{shown(path)}: holds experiment {result['experiment']!r}, not {name!r}")
    theirs, mine = result["provenance"].get("source_sha256"), source_hash()
    if theirs != mine:
        return LoadedResult(name, path, "stale", result,
                            reason=f"made by angpt source {theirs}, this code is {mine}")
    return LoadedResult(name, path, "current", result)


def banner(res: LoadedResult) -> str:
    """One paragraph on a result's provenance for a chapter to print, with a visible warning
    when it is stale, a quick (toy-size) run, missing or invalid."""
    if not res.ok:
        what = "No full-size result" if res.status == "missing" else "The full-size result cannot be read"
        return (f"**{what}** for {res.name} ({res.reason}): the numbers below come from the quick run "
                f"made on this page, a toy-size model trained for seconds, not the full-size experiment. "
                f"`python -m angpt run all --budget full --out-dir book/results` makes it.")
    r, p = res.result, res.result["provenance"]
    commit = p.get("commit") or p.get("git_commit")
    state = {True: "with uncommitted changes", False: "clean", None: "clean/dirty unknown"}[p.get("git_dirty")]
    seeds = r.get("seeds", p.get("seeds"))
    wall = f", {r['wall_time'] / 60:.1f} min" if isinstance(r.get("wall_time"), (int, float)) else ""
    text = (f"From `{res.path.name}` ({r['experiment']}, budget {r.get('budget', 'n/a')}): "
            f"commit {commit[:10] if commit else 'unknown'} ({state}), {p.get('device')}, "
            f"{str(p.get('date'))[:10]}, seeds {seeds}, torch {p.get('torch')}{wall}.")
    if r.get("budget") == "quick":
        text += (" **Warning: this is a quick run** (toy-size models trained for seconds), not the "
                 "full-size result.")
    if res.status == "stale":
        text += (f" **Warning: stale**: the angpt code has changed since this file was made ({res.reason}); "
                 f"its numbers may differ from what this code gives. Rerun `python -m angpt run all "
                 f"--budget full --out-dir book/results` to refresh it.")
    return text


__all__ = ["FILES", "STATUSES", "results_dir", "result_path", "LoadedResult", "load_result", "banner"]
