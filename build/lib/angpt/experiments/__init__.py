"""The named experiments the chapters run, at quick (CPU) and full (GPU) size, with provenance.

    python -m angpt run race --budget full --seeds 3 --out book/results/race.json
    result = angpt.experiments.run("race", budget="quick", seeds=2)     # the same in Python

An experiment is a function `fn(budget, seeds, progress=True, runner=None) -> dict` listed
in `registry.EXPERIMENTS` under its name, with its tasks (training runs as data) listed in
`registry.PLANS`. It returns its configuration and its measurements; `run()` adds the
provenance every result file carries (git commit, a hash of the angpt sources,
package/torch/CUDA versions, device, date, seeds, wall time) and writes the JSON atomically;
each finished run is saved as it finishes, so a killed run resumes. To add one, write a
module in this package (helpers in `common`) and list it in `registry`.

    python -m angpt run all --budget full --out-dir book/results [--dry-run]   # every result
    res = angpt.experiments.load_result("race")   # a chapter: the file, its status, a banner

One module per experiment, each on top of the library (config, model, train, norms, fold):
  race       ``race``, ``race-drops``   chapter 7: GPT+, nGPT, anGPT with their own recipes
  race_lr    ``race-lr``                chapter 7: the learning-rate sweep behind the race
  norm_lab   ``norm_lab``               chapters 3, 5, 6: per-layer norms while models train
  ablations  ``ablations``              chapter 8: the ladder from GPT to anGPT
  schemes    ``schemes``                chapter 10: every normalization scheme on the same data
  benchmarks ``bench``, ``bench-compile``, ``bench-inference``   chapters 7 and 9 (angpt.bench)
  common     provenance, save/load, run summaries, tasks and their runner, the speedup measure
  registry   EXPERIMENTS, PLANS, run(): one experiment by name
  results    load_result: the files chapters read, current/stale/missing/invalid, banners
  estimate   FLOPs, calibration on this device, the GPU time model of `run all --dry-run`
  run_all    `run all`: every result the chapters read, in priority order, resumable

This package re-exports the names of `common`, `race`, `race_lr` and `ablations` (chapters use
`angpt.experiments.race_configs`, `.ablation_summary`, ...). To change a setting an experiment
reads (a test narrowing `ABLATION_VARIANTS`), set it on the module that owns it.

Only torch, numpy and tqdm are imported here: the CLI must run on a bare GPU machine.
"""

from __future__ import annotations

from . import ablations, benchmarks, common, estimate, norm_lab, race, race_lr, registry, results, run_all, schemes
from .ablations import *  # noqa: F401,F403
from .common import *  # noqa: F401,F403
from .common import _clean, provenance, save
from .race import *  # noqa: F401,F403
from .race_lr import *  # noqa: F401,F403
from .registry import *  # noqa: F401,F403
from .results import *  # noqa: F401,F403

__all__ = [*(n for m in (registry, common, race, race_lr, ablations, results) for n in m.__all__)]
