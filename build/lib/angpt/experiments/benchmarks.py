"""Chapters 7 and 9: the step-time benchmarks (angpt.bench) as experiments, so that
`run all` saves them with provenance like every other result.

  bench            train step and forward of GPT+, nGPT, anGPT (chapter 7), eager
  bench-compile    the same under torch.compile (chapter 7)
  bench-inference  prefill and KV-cache decoding, anGPT folded too (chapter 9)

Each is one task (nothing to resume inside it); its time is a fixed allowance in the
estimate of `run all`, not a calibration.
"""

from __future__ import annotations

from .common import Runner, Task

# Fixed allowances (seconds on one H100/H200; not measured by the calibration): model builds
# and 35 timed rounds per model. bench-compile: ~30 s to compile each of three models.
# bench-inference: builds up to d2048 L16 models (805 M parameters) on the CPU first.
ALLOWANCE = {"bench": 20.0, "bench-compile": 120.0, "bench-inference": 60.0}


def step_time_run(size: str, compile: bool, progress: bool = False) -> dict:
    from ..bench import step_times

    return step_times(size=size, compile=compile)


def inference_run(size: str, progress: bool = False) -> dict:
    from ..bench import inference

    return inference(size=size)


def bench_tasks(budget: str, seeds: int = 1, compile: bool = False) -> list[Task]:
    name = "bench-compile" if compile else "bench"
    return [Task(name, step_time_run, dict(size=budget, compile=compile), seconds=ALLOWANCE[name])]


def bench_compile_tasks(budget: str, seeds: int = 1) -> list[Task]:
    return bench_tasks(budget, seeds, compile=True)


def bench_inference_tasks(budget: str, seeds: int = 1) -> list[Task]:
    return [Task("bench-inference", inference_run, dict(size=budget), seconds=ALLOWANCE["bench-inference"])]


def bench(budget: str, seeds: int = 1, progress: bool = True, runner: Runner | None = None) -> dict:
    """Step time of nGPT and anGPT relative to GPT+ (train step and forward), eager."""
    return (runner or Runner(progress=progress)).map(bench_tasks(budget, seeds))[0]


def bench_compile(budget: str, seeds: int = 1, progress: bool = True, runner: Runner | None = None) -> dict:
    """Step time of nGPT and anGPT relative to GPT+ under torch.compile."""
    return (runner or Runner(progress=progress)).map(bench_compile_tasks(budget, seeds))[0]


def bench_inference(budget: str, seeds: int = 1, progress: bool = True, runner: Runner | None = None) -> dict:
    """Forward time at inference (prefill, one-token decoding), anGPT folded too, vs GPT+."""
    return (runner or Runner(progress=progress)).map(bench_inference_tasks(budget, seeds))[0]


__all__ = []  # reached through angpt.experiments.EXPERIMENTS / PLANS
