"""Step cost of nGPT and anGPT relative to GPT+, measured as ratios in one process.

    python -m angpt bench                       # quick size on CPU, full size on a GPU
    python -m angpt bench --size full --out book/results/bench.json

How (style.md §6): all models are built once on the same device and timed round-robin,
one step each in turn, the order rotated every round, so drifts of clock speed, cache or
other load hit every model alike. The first `warmup` rounds are not timed (allocator,
cuDNN/cuBLAS heuristics, torch.compile). Each timed step is bracketed by
torch.cuda.synchronize on CUDA. We report the median over the timed steps, and the ratio
of each model's median to the baseline's. The training step is `angpt.train.train_step`,
the function the training loop runs (forward, backward, divergence check, clipping,
AdamW/Adam step, weight constraint), on a fixed batch of real text. The forward-only time is
one forward pass under torch.no_grad (what inference pays, before any folding).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from .config import TrainConfig, preset

PAPER_STEP_TIME = {  # anGPT paper, 0.5B on 4xA100 (methods.md §4.9): seconds per step
    "gpt+": 0.1416, "ngpt": 0.1552, "angpt": 0.1455,
}
BENCH_SIZES = {
    "quick": {"model": dict(d_model=64, n_layers=2, n_heads=2, seq_len=64), "batch_size": 8},
    "full": {"model": dict(d_model=512, n_layers=8, n_heads=8, seq_len=256), "batch_size": 64},
}
MODELS = ("gpt+", "ngpt", "angpt")


def _quantiles(ts: list[float]) -> dict:
    q = statistics.quantiles(ts, n=4) if len(ts) > 1 else [ts[0]] * 3
    return {"median_ms": 1e3 * statistics.median(ts), "p25_ms": 1e3 * q[0], "p75_ms": 1e3 * q[2], "n": len(ts)}


def step_times(models=MODELS, size: str = "quick", steps: int = 30, warmup: int = 5, device: str = "auto",
               compile: bool = False, batch_size: int | None = None, baseline: str = "gpt+",
               forward: bool = True, seed: int = 0) -> dict:
    """Median train-step (and forward) time of each preset, and its ratio to `baseline`."""
    from . import data as D
    from .model import build_model
    from .train import autocast, device_name, make_optimizer, resolve_device, train_step

    if size not in BENCH_SIZES:
        raise ValueError(f"unknown size {size!r}; valid choices: {', '.join(map(repr, BENCH_SIZES))}")
    models = list(models)
    if baseline not in models:
        raise ValueError(f"the baseline {baseline!r} must be among the models {models}")
    for name, v in (("steps", steps), ("warmup", warmup)):
        if not isinstance(v, int) or v < (1 if name == "steps" else 0):
            raise ValueError(f"{name} must be an integer >= {1 if name == 'steps' else 0}, got {v!r}")
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.set_float32_matmul_precision("high")
    B = batch_size or BENCH_SIZES[size]["batch_size"]
    built = {}
    for name in models:
        cfg = preset(name, **BENCH_SIZES[size]["model"])
        torch.manual_seed(seed)
        model = build_model(cfg).to(dev).train()
        tcfg = TrainConfig.for_arch(cfg.arch)
        opt = make_optimizer(model, tcfg, dev)
        built[name] = (model, torch.compile(model) if compile else model, opt, tcfg, cfg)
    corpus = D.load_corpus("shakespeare")
    x, y = D.BatchSampler(corpus.train, B, cfg.seq_len, seed=seed).__next__()
    x, y = x.to(dev), y.to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def timed(fn) -> float:
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - t0

    def round_robin(make_fn) -> dict:
        times = {m: [] for m in models}
        for r in range(warmup + steps):
            order = models[r % len(models):] + models[:r % len(models)]  # rotate: no fixed position
            for m in order:
                dt = timed(make_fn(m))
                if r >= warmup:
                    times[m].append(dt)
        return times

    def train_fn(m):
        model, fwd, opt, tcfg, _ = built[m]
        return lambda: train_step(model, fwd, opt, x, y, tcfg.grad_clip)

    def forward_fn(m):
        _, fwd, *_ = built[m]

        def run():
            with torch.no_grad(), autocast(dev):
                fwd(x)
        return run

    result = {
        "device": device_name(dev), "size": size, "model": BENCH_SIZES[size]["model"], "batch_size": B,
        "steps": steps, "warmup": warmup, "compile": compile, "baseline": baseline,
        "n_params": {m: sum(p.numel() for p in built[m][0].parameters()) for m in models},
    }
    parts = {"train_step": round_robin(train_fn)}
    if forward:
        for m in models:
            built[m][0].eval()
        parts["forward"] = round_robin(forward_fn)
    for part, times in parts.items():
        result[part] = {m: _quantiles(ts) for m, ts in times.items()}
        base = result[part][baseline]["median_ms"]
        result.setdefault("ratios", {})[part] = {m: result[part][m]["median_ms"] / base for m in models}
    result["paper_ratios"] = {"train_step": {m: PAPER_STEP_TIME[m] / PAPER_STEP_TIME["gpt+"]
                                             for m in models if m in PAPER_STEP_TIME}}
    return result


def format_table(result: dict) -> str:
    """The ratio table as text."""
    models = list(result["train_step"])
    lines = [f"device: {result['device']}; size {result['size']} {result['model']}, batch {result['batch_size']}; "
             f"median of {result['steps']} interleaved steps after {result['warmup']} warm-up rounds"
             f"{', torch.compile' if result['compile'] else ''}"]
    head = f"{'model':<8} {'params':>10} {'train step ms':>14} {'ratio':>7} {'paper':>7}"
    if "forward" in result:
        head += f" {'forward ms':>11} {'ratio':>7}"
    lines += [head, "-" * len(head)]
    paper = result["paper_ratios"]["train_step"]
    for m in models:
        ts = result["train_step"][m]
        row = (f"{m:<8} {result['n_params'][m]:>10,} {ts['median_ms']:>14.2f} "
               f"{result['ratios']['train_step'][m]:>7.3f} {paper.get(m, float('nan')):>7.3f}")
        if "forward" in result:
            row += f" {result['forward'][m]['median_ms']:>11.2f} {result['ratios']['forward'][m]:>7.3f}"
        lines.append(row)
    lines.append("paper: anGPT paper, 0.5B on 4xA100 (train step only)")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `python -m angpt bench` (add new modes, e.g. --inference, here)."""
    p.add_argument("--size", choices=sorted(BENCH_SIZES), default=None,
                   help="model size (default: 'full' on a GPU, 'quick' otherwise; see angpt.budget)")
    p.add_argument("--steps", type=int, default=30, help="timed steps per model (default 30)")
    p.add_argument("--warmup", type=int, default=5, help="untimed rounds first (default 5)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--compile", action="store_true", help="torch.compile every model")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated presets; the first ratio base is gpt+")
    p.add_argument("--out", default=None, help="also write the result (with provenance) as JSON here")


def main(args: argparse.Namespace) -> int:
    from .config import budget
    from .experiments import provenance, save

    result = step_times(models=[m for m in args.models.split(",") if m], size=args.size or budget(),
                        steps=args.steps, warmup=args.warmup, device=args.device, compile=args.compile,
                        batch_size=args.batch_size)
    print(format_table(result))
    if args.out:
        save({"experiment": "bench", "provenance": provenance(result["device"]), **result}, args.out)
        print(f"wrote {args.out}")
    return 0


__all__ = ["step_times", "format_table", "PAPER_STEP_TIME", "BENCH_SIZES", "add_arguments", "main"]
