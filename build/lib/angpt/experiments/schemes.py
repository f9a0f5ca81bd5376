"""Chapter 10: every normalization scheme on the same data, size, token budget and seeds.

    result = angpt.experiments.run("schemes", budget="quick", seeds=1)     # seconds on a CPU
    python -m angpt run schemes --budget full --seeds 3 --out book/results/schemes.json

What the experiment ``schemes`` measures (`angpt.schemes` is this module, under its old name):

* ``runs``: every preset (`SCHEMES`), each with its paper's recipe (TrainConfig.for_preset),
  on the same batches seed by seed: validation loss against tokens, step times; for seed 0
  also the per-sublayer norm profile every few steps (what each sublayer reads, adds, and
  the stream after it), whether the trained model folds (angpt.fold) and how exactly;
* ``schedules``: TaperNorm with other gate schedules (`SCHEDULES`), seed 0;
* ``logit``: TaperNorm with the final norm tapered too (All-Taper), without and with the
  scale anchor (`AUX_WEIGHT`), seed 0, tracking the pre-logit stream and the radial force
  on it (angpt.taper.radial_gradient);
* ``summary`` (`schemes_summary`): per preset final loss, tokens to a common target, step
  time relative to Pre-LN, and foldability.

Only torch and numpy are imported (the CLI runs on a bare GPU machine).
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from ..config import PRESETS, TrainConfig, preset
from ..norms import sublayer_profile
from .common import Runner, Task, spread, summarize_run, tokens_to_loss

SCHEMES = ("gpt", "post-ln", "peri-ln", "mix-ln", "ln-scaling", "dyt", "tapernorm", "gpt+", "ngpt", "angpt")
BASELINE = "gpt"  # Pre-LN RMSNorm without QK-norm: the block every other GPT-family scheme modifies

# Quick: about a second per run on one CPU core, to run the code path in the chapter. Full:
# d256, 8 layers (16 sublayers: enough points for the stream's growth exponent). Measured on
# one H100: a training step of this size takes ~25 ms for the GPT family (TaperNorm ~27), ~47
# for nGPT at 64 x 256 tokens, whatever the batch: eager PyTorch is launch-bound at this
# width, so the batch is large (128 x 256) and the run short: 120 steps, 3.9 M tokens, enough
# for the ordering of the schemes' early losses and their norm profiles, which is what the
# chapter shows; `run all` uses 2 seeds (modelled ~75 s on one H100/H200 with --jobs 4).
SIZES = {
    "quick": {
        "model": dict(d_model=32, n_layers=4, n_heads=2, seq_len=32),
        "train": dict(steps=24, batch_size=8, eval_every=6, eval_tokens=1024),
        "corpus": "shakespeare", "track_every": 12,
    },
    "full": {
        "model": dict(d_model=256, n_layers=8, n_heads=4, seq_len=256),
        "train": dict(steps=120, batch_size=128, eval_every=12, eval_tokens=65536),
        "corpus": "pdmix", "track_every": 12,
    },
}
# Learning rates: the race's (chapter 7: GPT+ and nGPT/anGPT from its sweep), one per arch, so
# every GPT-family scheme gets the same optimizer settings and only its own warm-up.
LR = {"quick": {"gpt": 3e-3, "ngpt": 1e-2, "angpt": 1e-2}, "full": {"gpt": 1e-3, "ngpt": 2e-3, "angpt": 2e-3}}

# TaperNorm's gate schedule, the knob of the chapter: TrainConfig fields per variant.
SCHEDULES = {
    "paper": dict(gate_warmup=None),  # gate warm-up = the LR warm-up (5 % here), taper as default
    "switch": dict(gate_taper=0.0),  # calibrate, then drop the norm at once
    "short": dict(gate_taper=0.15),
    "default": {},  # TrainConfig's defaults (the 'tapernorm' runs)
    "long": dict(gate_taper=0.7),
}
QUICK_SCHEDULES = ("paper", "default")  # the quick run trains only these
AUX_WEIGHT = 1.0  # lambda of the scale anchor in the logit-chasing runs (the paper's value: not found)
LOGIT = {  # label: (ModelConfig overrides, TrainConfig overrides) on the tapernorm preset
    "internal": ({}, {}),
    "all-taper": ({"taper_final": True}, {}),
    "all-taper+aux": ({"taper_final": True}, {"aux_weight": AUX_WEIGHT}),
}

# Why a scheme cannot drop its normalization at inference (the table's last column).
NOT_FOLDABLE = {
    "gpt": "RMSNorm divides each token by its own RMS",
    "gpt+": "RMSNorm, and QK-norm on every head",
    "post-ln": "RMSNorm on the stream after every sublayer",
    "peri-ln": "two RMSNorms per sublayer",
    "mix-ln": "RMSNorm per token (on the stream in its Post-LN layers)",
    "ln-scaling": "RMSNorm divides each token by its own RMS",
    "dyt": "no statistic, but tanh is not linear",
    "ngpt": "exact L2 normalization after every sublayer",
}


def _check_budget(budget: str) -> None:
    if budget not in SIZES:
        raise ValueError(f"unknown budget {budget!r}; valid choices: {', '.join(map(repr, SIZES))}")


def scheme_configs(budget: str, name: str, seed: int = 0, model_overrides: dict | None = None, **train_overrides):
    """(ModelConfig, TrainConfig, corpus) of one run: preset `name` at the budget's size,
    trained with TrainConfig.for_preset (its paper's warm-up) at the arch's learning rate."""
    _check_budget(budget)
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid choices: {', '.join(map(repr, PRESETS))}")
    size = SIZES[budget]
    cfg = preset(name, **size["model"], **(model_overrides or {}))
    tkw = {**size["train"], "lr": LR[budget][cfg.arch], "seed": seed, **train_overrides}
    return cfg, TrainConfig.for_preset(name, **tkw), size["corpus"]


# --------------------------------------------------------------------------------------
# Measurements on a model
# --------------------------------------------------------------------------------------


def foldability(model) -> dict:
    """Whether angpt.fold turns `model` into a model with no per-token norm on the residual
    stream and the same outputs, checked on a CPU float32 copy (GPU matmuls may use TF32):
    {'folds', 'rel_error', 'reason'}. Not "every statistic": folded anGPT keeps its per-head
    QK normalization, Internal-Taper its final RMSNorm."""
    from ..fold import fold, fold_error

    m = copy.deepcopy(model).float().cpu().eval()
    try:
        folded = fold(m, check=False)
    except ValueError as err:
        return {"folds": False, "rel_error": None, "reason": str(err).split(";")[0]}
    return {"folds": True, "rel_error": fold_error(m, folded), "reason": None}


def _phase_times(rec) -> dict | None:
    """TaperNorm: median step time in each gate phase (norm, taper, linear)."""
    from ..taper import gate_steps

    tcfg = TrainConfig(**rec.train_config)
    k_w, k_t = gate_steps(tcfg)
    t = np.asarray(rec.history["step_time"])
    k = np.asarray(rec.history["step"])
    phases = {"norm": (k > min(3, k_w - 1)) & (k <= k_w), "taper": (k > k_w) & (k < k_t), "linear": k >= k_t}
    return {p: float(np.median(t[m])) if m.any() else None for p, m in phases.items()}


# --------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------


def _train(label: str, cfg, tcfg, corpus: str, detail: bool, every: int, progress: bool = False) -> dict:
    """Train one run and summarize it; with `detail`, record profiles every track_every steps
    (plus TaperNorm's gate and branch statistics, and the radial force on the pre-logit
    stream), the final profile and foldability."""
    from .. import data as D
    from .. import taper as T
    from ..train import DivergenceError, train

    track: list[dict] = []
    every = max(1, min(every, tcfg.steps // 4))
    probe = None

    def callback(step, record):
        nonlocal probe
        if not detail or (step != 1 and step % every and step != tcfg.steps):
            return
        model = record.model
        if probe is None:
            x, y = D.eval_windows(D.load_corpus(corpus).val, cfg.seq_len, 4 * cfg.seq_len)
            dev = next(model.parameters()).device
            probe = (x.to(dev), y.to(dev))
        entry = {"step": step, "profile": sublayer_profile(model, probe[0])}
        if cfg.norm == "taper":
            entry["gate"] = T.gate_of(model)
            entry["taper"] = T.taper_profile(model, probe[0])
        if cfg.arch == "gpt" and not isinstance(model.final_norm, torch.nn.Identity):
            entry["radial"] = T.radial_gradient(model, *probe)
        target = getattr(model.final_norm, "anchor_target", None)  # the scale anchor's s_tgt, once frozen
        if tcfg.aux_weight > 0 and target is not None and not torch.isnan(target):
            entry["anchor_target"] = float(target)
        track.append(entry)

    try:
        rec = train(cfg, tcfg, corpus=corpus, progress=progress, callback=callback)
        out = summarize_run(rec, label)
    except DivergenceError as err:
        rec = err.record
        out = summarize_run(rec, label)
        out.update(diverged_at=err.step, final_val_loss=None)
    out["model_config"] = rec.model_config
    out["train_config"] = rec.train_config
    if cfg.norm == "taper":
        out["phase_step_time"] = _phase_times(rec)
    if detail:
        out["track"] = track
        out["fold"] = foldability(rec.model) if out["diverged_at"] is None else None
    return out


def schemes_tasks(budget: str, seeds: int) -> list[Task]:
    """Every preset per seed (seeds outermost: a cut-short session still has complete seeds),
    then TaperNorm's other gate schedules and the logit-chasing runs (seed 0)."""
    _check_budget(budget)
    every = SIZES[budget]["track_every"]

    def task(group, label, cfg, tcfg, corpus, detail):
        return Task(f"{group} {label}", _train, dict(label=label, cfg=cfg, tcfg=tcfg, corpus=corpus,
                                                      detail=detail, every=every))

    tasks = [task("runs", name, *scheme_configs(budget, name, seed), detail=seed == 0)
             for seed in range(seeds) for name in SCHEMES]
    for label, change in SCHEDULES.items():
        if label == "default" or (budget == "quick" and label not in QUICK_SCHEDULES):
            continue  # the tapernorm run of seed 0
        tasks.append(task("schedules", label, *scheme_configs(budget, "tapernorm", 0, **change), detail=True))
    for label, (mo, to) in LOGIT.items():
        if label == "internal":
            continue  # the tapernorm run of seed 0
        tasks.append(task("logit", label, *scheme_configs(budget, "tapernorm", 0, model_overrides=mo, **to),
                          detail=True))
    return tasks


def schemes_experiment(budget: str, seeds: int, progress: bool = True, runner: Runner | None = None) -> dict:
    """Every preset (Post/Peri/Mix-LN, LN-Scaling, DyT, TaperNorm, GPT/GPT+, nGPT, anGPT) on the
    same data, size and seeds; TaperNorm's gate schedules; logit chasing without the final norm.
    Full size: modelled ~70 s on one H100/H200 for --seeds 2 with --jobs 4 (run all --dry-run)."""
    tasks = schemes_tasks(budget, seeds)
    results = (runner or Runner(progress=progress)).map(tasks)
    groups = {"runs": [], "schedules": [], "logit": []}
    for t, r in zip(tasks, results):
        groups[t.label.split(" ")[0]].append(r)
    runs, schedules, logit = groups["runs"], groups["schedules"], groups["logit"]
    size = SIZES[budget]
    result = {
        "config": {"sizes": {k: size[k] for k in ("model", "train", "corpus")}, "lr": LR[budget],
                   "schemes": list(SCHEMES), "baseline": BASELINE,
                   "recipes": {n: scheme_configs(budget, n)[1].to_dict() for n in SCHEMES},
                   "schedules": {k: dict(v) for k, v in SCHEDULES.items()
                                 if budget == "full" or k in QUICK_SCHEDULES},
                   "logit": {k: {"model": v[0], "train": v[1]} for k, v in LOGIT.items()}},
        "runs": runs, "schedules": schedules, "logit": logit,
    }
    result["summary"] = schemes_summary(result)
    return result


# --------------------------------------------------------------------------------------
# Summaries for the chapter
# --------------------------------------------------------------------------------------


def common_target(result: dict) -> float:
    """The loss every scheme reaches: the largest mean final validation loss over the schemes
    that finished (a diverged run has none)."""
    finals = {}
    for r in result["runs"]:
        if r["final_val_loss"] is not None:
            finals.setdefault(r["label"], []).append(r["final_val_loss"])
    if not finals:
        raise ValueError("no run finished: there is no common target")
    return max(float(np.mean(v)) for v in finals.values())


def schemes_summary(result: dict, baseline: str = BASELINE) -> dict:
    """Per scheme: final val loss, tokens to the common target (millions), step time over
    the baseline's (paired by seed), diverged runs, and foldability (seed 0)."""
    runs = result["runs"]
    target = common_target(result)
    base = {r["seed"]: r for r in runs if r["label"] == baseline}
    if not base:
        raise ValueError(f"no runs of the baseline {baseline!r}; labels: {sorted({r['label'] for r in runs})}")
    out = {"target": target, "baseline": baseline, "schemes": {}}
    for label in dict.fromkeys(r["label"] for r in runs):
        mine = [r for r in runs if r["label"] == label]
        ok = [r for r in mine if r["diverged_at"] is None]
        tokens = [tokens_to_loss(r["evals"]["tokens"], r["evals"]["val_loss"], target) for r in ok]
        first = next((r for r in mine if r["seed"] == 0), mine[0])
        out["schemes"][label] = {
            "final_val_loss": spread([r["final_val_loss"] for r in ok]),
            "mtokens_to_target": spread([None if t is None else t / 1e6 for t in tokens]),
            "step_time_ratio": spread([r["median_step_time"] / base[r["seed"]]["median_step_time"]
                                       for r in ok if r["seed"] in base]),
            "diverged": len(mine) - len(ok),
            "fold": first.get("fold"),
            "phase_step_time": first.get("phase_step_time"),
            # logit chasing: the radial force on the pre-logit stream at the end (seed 0)
            "radial_cos": (first.get("track") or [{}])[-1].get("radial", {}).get("cos_mean"),
        }
    return out


def format_tokens(n: float) -> str:
    """A token count with a unit that keeps three significant digits: 6.14k, 12.3M, 950.
    (A quick run sees thousands of tokens, a full one millions: one fixed unit prints 0.00.)"""
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")):
        if abs(n) >= scale or scale == 1.0:
            return f"{n / scale:.3g}{unit}"


def table_rows(result: dict) -> list[list[str]]:
    """Rows of the chapter's table: scheme, final loss (mean [min, max]), tokens to the common
    target (with their unit, `format_tokens`), step time over Pre-LN's, inference: does it fold?"""
    s = result["summary"]
    rows = []

    def fmt(sp, digits=3, suffix=""):
        if sp["mean"] is None:
            return "n/a"
        if len(sp["values"]) > 1:
            return f"{sp['mean']:.{digits}f} [{sp['min']:.{digits}f}, {sp['max']:.{digits}f}]{suffix}"
        return f"{sp['mean']:.{digits}f}{suffix}"

    def fmt_tokens(sp):  # the summary keeps millions; print each number with its own unit
        if sp["mean"] is None:
            return "n/a"
        t = lambda m: format_tokens(m * 1e6)  # noqa: E731
        vals = [v for v in sp["values"] if v is not None]
        return f"{t(sp['mean'])} [{t(sp['min'])}, {t(sp['max'])}]" if len(vals) > 1 else t(sp["mean"])

    for label, row in s["schemes"].items():
        fold = row["fold"]
        if fold is None:
            folds = "n/a (diverged)"
        elif fold["folds"]:
            kept = " (final norm kept)" if label == "tapernorm" else ""
            folds = f"yes, rel. error {fold['rel_error']:.0e}{kept}"
        else:
            folds = "no: " + NOT_FOLDABLE.get(label, fold["reason"])
        diverged = f" ({row['diverged']} diverged)" if row["diverged"] else ""
        rows.append([label, fmt(row["final_val_loss"]) + diverged, fmt_tokens(row["mtokens_to_target"]),
                     fmt(row["step_time_ratio"], 2), folds])
    return rows


def growth_exponent(profile: dict) -> float:
    """p in stream RMS ~ k^p over the sublayers k = 1 .. 2L (least squares in log-log).
    Independent updates of constant size give p = 1/2; a stream pinned by a norm p = 0."""
    k, s = np.log(np.asarray(profile["k"], float)), np.log(np.asarray(profile["stream"], float))
    return float(np.polyfit(k, s, 1)[0])


def taper_track(run: dict) -> dict:
    """TaperNorm's hand-over in one run: per recorded step the gate, and over the tapering
    norms the mean relative mismatch of the two branches and the mean spread (std/mean) of
    their inputs' token norms (angpt.taper.taper_profile)."""
    rows = [e for e in run.get("track", []) if "taper" in e]
    if not rows:
        raise ValueError(f"run {run['label']!r} recorded no TaperNorm statistics")
    inner = lambda e: [t for t in e["taper"] if t["tapers"]]  # noqa: E731
    return {"step": [e["step"] for e in rows], "gate": [e["gate"] for e in rows],
            # before calibration (c = 1, gamma~ = 1) the linear branch is not meant to match
            "mismatch": [float(np.mean([t["mismatch"] for t in inner(e)])) if inner(e)[0].get("calibrated", True)
                         else None for e in rows],
            "norm_cv": [float(np.mean([t["norm_cv"] for t in inner(e)])) for e in rows],
            "c": [float(np.mean([t["c"] for t in inner(e)])) for e in rows]}


def logit_track(run: dict) -> dict:
    """Per recorded step: RMS of the pre-logit stream and the radial force on it (cos and
    mean -<grad, h>, angpt.taper.radial_gradient), the gate where there is one, and the scale
    anchor's frozen target s_tgt (None before it is frozen or without an anchor)."""
    rows = [e for e in run.get("track", []) if "radial" in e]
    return {"step": [e["step"] for e in rows], "gate": [e.get("gate") for e in rows],
            "rms": [e["radial"]["rms_mean"] for e in rows], "cos": [e["radial"]["cos_mean"] for e in rows],
            "radial": [e["radial"]["radial_mean"] for e in rows],
            "target": [e.get("anchor_target") for e in rows]}


def relative_loss(result: dict, label: str, reference: str) -> dict:
    """100 (L_ref - L) / L_ref of the final validation losses, paired by seed (positive:
    `label` is better), as a spread over the seeds where both finished."""
    ref = {r["seed"]: r["final_val_loss"] for r in result["runs"] if r["label"] == reference}
    vals = [100.0 * (ref[r["seed"]] - r["final_val_loss"]) / ref[r["seed"]] for r in result["runs"]
            if r["label"] == label and r["final_val_loss"] is not None and ref.get(r["seed"]) is not None]
    return spread(vals)


def find(runs: list[dict], label: str, seed: int = 0) -> dict:
    """The run with `label` and `seed` in a list of run summaries."""
    for r in runs:
        if r["label"] == label and r["seed"] == seed:
            return r
    raise ValueError(f"no run labelled {label!r} with seed {seed}; labels: {sorted({r['label'] for r in runs})}")


__all__ = ["SCHEMES", "BASELINE", "SIZES", "LR", "SCHEDULES", "QUICK_SCHEDULES", "AUX_WEIGHT", "LOGIT", "NOT_FOLDABLE",
           "scheme_configs", "schemes_tasks", "sublayer_profile", "foldability", "format_tokens", "schemes_experiment",
           "spread", "common_target",
           "schemes_summary", "table_rows", "growth_exponent", "taper_track", "logit_track", "relative_loss", "find"]
