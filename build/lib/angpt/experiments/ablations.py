"""Chapter 8: ``ablations``, the ladder from GPT to anGPT and what breaks without nu(alpha).

The paper's ladder GPT -> GPT+ -> nGPT -> nGPT with ||w|| <= 1 -> anGPT, and anGPT without
nu(alpha), with every other factor scaled (0.5 ... 1.5), without QK-norm; same data, recipe
per arch, seeds paired (``--seeds 2``: ~8 min on one H100).
"""

from __future__ import annotations

from ..config import TrainConfig, preset
from .common import Runner, Task, speedup, spread, train_summarized
from .race import RACE_LR, RACE_SIZES

# The anGPT paper's ladder (Franke et al. 2025): each rung adds one ingredient on the way to anGPT.
ABLATION_LADDER = ("gpt", "gpt+", "ngpt", "ngpt:bound", "angpt")
# anGPT paper, 0.5B / 10B tokens / OpenWebText: improvement vs GPT without QK-norm, in %
# (presumably of the final validation loss: the metric is not stated in what is public).
PAPER_LADDER = {"gpt+": 2.1, "ngpt": 3.0, "ngpt:bound": 3.4, "angpt": 3.8}
# Convergence speedups (tokens to the baseline's final loss), 0.5B: with QK-norm vs GPT+,
# without QK-norm vs GPT without it (Franke et al. 2025).
ABLATION_PAPER_SPEEDUP = {"qk-norm": {"gpt+": 1.0, "ngpt": 1.29, "angpt": 1.40},
                 "no-qk-norm": {"gpt": 1.0, "ngpt": 1.8, "angpt": 2.0}}
FACTOR_SCALES = (0.5, 0.9, 0.98, 1.02, 1.1, 1.5)  # +-50 %, +-10 %, +-2 % on every constant factor


def factor_label(scale: float) -> str:
    return f"angpt:factors x{scale:g}"


# label -> (preset, ModelConfig overrides). nGPT always normalizes q and k (it is part of its
# block), so there is no "nGPT without QK-norm" to train; chapter 8 says so.
ABLATION_VARIANTS: dict[str, tuple[str, dict]] = {
    "gpt": ("gpt", {}), "gpt+": ("gpt+", {}), "ngpt": ("ngpt", {}),
    "ngpt:bound": ("ngpt", {"weight_constraint": "bound"}), "angpt": ("angpt", {}),
    "angpt:no-nu-alpha": ("angpt", {"lerp_factor": False}),
    "angpt:no-qk-norm": ("angpt", {"qk_norm": False}),
    **{factor_label(s): ("angpt", {"factor_scale": s}) for s in FACTOR_SCALES},
}
# Quick: the race's tiny model, under a second per run on one CPU core. Full: the race's
# model (so the race-lr sweep at this size backs the learning rates; `run all` passes its best
# rates) for 300 steps of 64 x 256 tokens (4.9 M tokens, 2 per parameter: the ladder's
# ordering shows early; 13 variants x 2 seeds must fit beside the race), eager (with
# torch.compile every factor scale would be a new graph to compile). Modelled on one
# H100/H200 with --jobs 4: ~40 s for 2 seeds (`run all --dry-run`).
ABLATION_SIZES = {
    "quick": {
        "model": dict(RACE_SIZES["quick"]["model"]),
        "train": dict(steps=40, batch_size=8, eval_every=10, eval_tokens=1024),
        "corpus": "shakespeare",
    },
    "full": {
        "model": dict(RACE_SIZES["full"]["model"]),
        "train": dict(steps=300, batch_size=64, eval_every=30, eval_tokens=32768),
        "corpus": "pdmix",
    },
}
# Per arch: the race's (RACE_LR, the best of the race-lr sweep at the same model sizes).
ABLATION_LR = {b: {"gpt": lr["gpt+"], "ngpt": lr["ngpt"], "angpt": lr["angpt"]} for b, lr in RACE_LR.items()}
TRACKED = ("angpt", "angpt:no-nu-alpha")  # runs whose per-layer norms are recorded, every k steps:
TRACK_EVERY = {"quick": 4, "full": 3}  # full: often enough to catch a run that blows up within a few steps


def _rates(budget: str, lr: dict | None) -> dict:
    """Per arch: ABLATION_LR, or the race's rates `lr` ({'gpt+', 'ngpt', 'angpt'}: the best of
    the race-lr sweep when `run all` gives them; GPT takes GPT+'s)."""
    rates = dict(ABLATION_LR[budget])
    if lr:
        rates.update({"gpt": lr.get("gpt+", rates["gpt"]), "ngpt": lr.get("ngpt", rates["ngpt"]),
                      "angpt": lr.get("angpt", rates["angpt"])})
    return rates


def ablation_configs(budget: str, label: str, seed: int = 0, lr: dict | None = None, **train_overrides):
    """(ModelConfig, TrainConfig, corpus) of one ablation run: the arch's own recipe
    (TrainConfig.for_arch) at the budget's size, learning rate per arch (`lr`: the race's,
    see `_rates`)."""
    if budget not in ABLATION_SIZES:
        raise ValueError(f"unknown budget {budget!r}; valid choices: {', '.join(map(repr, ABLATION_SIZES))}")
    if label not in ABLATION_VARIANTS:
        raise ValueError(f"unknown ablation {label!r}; valid choices: {', '.join(map(repr, ABLATION_VARIANTS))}")
    size = ABLATION_SIZES[budget]
    name, overrides = ABLATION_VARIANTS[label]
    cfg = preset(name, **size["model"], **overrides)
    tkw = {**size["train"], "lr": _rates(budget, lr)[cfg.arch], "seed": seed, **train_overrides}
    if label in TRACKED:
        tkw.setdefault("track_every", TRACK_EVERY[budget])
    return cfg, TrainConfig.for_arch(cfg.arch, **tkw), size["corpus"]


def stream_norms(rec) -> dict | None:
    """The residual stream's mean token norm after each block (depth 0 = embedding), at
    every recorded step of a run with norm tracking; None without it."""
    if not rec.norms:
        return None
    from ..norms import residual_profile

    profiles = [residual_profile(e["norms"]) for e in rec.norms]
    return {"step": [e["step"] for e in rec.norms], "depth": profiles[0]["depth"].tolist(),
            "mean": [p["mean"].tolist() for p in profiles], "max": [p["max"].tolist() for p in profiles]}


def ablation_run(label: str, cfg, tcfg, corpus: str, progress: bool = False) -> dict:
    """Train one rung (a divergence is kept, marked) with its stream norms and overrides."""
    run, rec = train_summarized(label, cfg, tcfg, corpus, progress)
    run["stream_norms"] = stream_norms(rec)
    run["model_overrides"] = ABLATION_VARIANTS[label][1]
    return run


def ablation_tasks(budget: str, seeds: int, lr: dict | None = None) -> list[Task]:
    """Every variant, seeds outermost (a cut-short session keeps complete seeds)."""
    tasks = []
    for seed in range(seeds):
        for label in ABLATION_VARIANTS:
            cfg, tcfg, corpus = ablation_configs(budget, label, seed, lr)
            tasks.append(Task(label, ablation_run, dict(label=label, cfg=cfg, tcfg=tcfg, corpus=corpus)))
    return tasks


def ablations(budget: str, seeds: int, progress: bool = True, runner: Runner | None = None,
              lr: dict | None = None) -> dict:
    """The ladder GPT -> GPT+ -> nGPT -> nGPT with <= 1 -> anGPT; anGPT without nu(alpha),
    with every factor scaled by 0.5 ... 1.5, and without QK-norm; same data and seeds."""
    runs = (runner or Runner(progress=progress)).map(ablation_tasks(budget, seeds, lr))
    out = {"config": {"sizes": ABLATION_SIZES[budget], "lr": _rates(budget, lr),
                      "variants": {k: {"preset": p, **o} for k, (p, o) in ABLATION_VARIANTS.items()},
                      "ladder": list(ABLATION_LADDER), "factor_scales": list(FACTOR_SCALES)},
           "paper": {"ladder_improvement_pct": PAPER_LADDER, "speedup": ABLATION_PAPER_SPEEDUP},
           "runs": runs}
    out["summary"] = ablation_summary(out)
    return out


def ablation_summary(result: dict, baseline: str = "gpt") -> dict:
    """Per label, paired by seed with the baseline (GPT without QK-norm): final val loss,
    improvement 100 (L_base - L) / L_base in %, `speedup` vs the baseline and `speedup_vs_gpt+`
    (experiments.speedup: tokens to the other's final loss), each {values, mean, min, max};
    and the number of diverged runs."""
    runs = result["runs"]
    by = {}
    for r in runs:
        by.setdefault(r["label"], {})[r["seed"]] = r
    if baseline not in by:
        raise ValueError(f"no runs of the baseline {baseline!r}; labels: {sorted(by)}")
    ok = lambda r: r is not None and r["diverged_at"] is None  # noqa: E731
    out = {}
    for label, mine in by.items():
        good = {s: r for s, r in mine.items() if ok(r)}
        imp, sp_base, sp_plus = [], [], []
        for s, r in good.items():
            b, p = by[baseline].get(s), by.get("gpt+", {}).get(s)
            if ok(b):
                imp.append(100.0 * (b["final_val_loss"] - r["final_val_loss"]) / b["final_val_loss"])
                sp_base.append(speedup(r["evals"], b["evals"]))
            if ok(p):
                sp_plus.append(speedup(r["evals"], p["evals"]))
        out[label] = {
            "final_val_loss": spread([r["final_val_loss"] for r in good.values()]),
            "improvement_pct": spread(imp),
            "speedup": spread(sp_base), "speedup_vs_gpt+": spread(sp_plus),
            "max_early_loss": spread([r.get("max_early_loss") for r in mine.values()]),
            "diverged": len(mine) - len(good), "seeds": sorted(mine),
        }
    return out


__all__ = ["ABLATION_LADDER", "ABLATION_VARIANTS", "ABLATION_SIZES", "ABLATION_LR", "ABLATION_PAPER_SPEEDUP",
            "PAPER_LADDER", "FACTOR_SCALES", "TRACKED", "TRACK_EVERY", "factor_label", "ablation_configs", "ablation_tasks", "ablation_run", "ablation_summary", "stream_norms"]
