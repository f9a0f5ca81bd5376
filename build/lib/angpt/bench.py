"""Step cost of nGPT and anGPT relative to GPT+, measured as ratios in one process.

    python -m angpt bench                       # quick size on CPU, full size on a GPU
    python -m angpt bench --size full --out book/results/bench.json
    python -m angpt bench --inference --size full --out book/results/bench_inference.json   # chapter 9

How: all models are built once on the same device and timed round-robin,
one step each in turn, the order rotated every round, so drifts of clock speed, cache or
other load hit every model alike. The first `warmup` rounds are not timed (allocator,
cuDNN/cuBLAS heuristics, torch.compile). Each timed step is bracketed by
torch.cuda.synchronize on CUDA. We report the median over the timed steps, and the ratio
of each model's median to the baseline's. The training step is `angpt.train.train_step`,
the function the training loop runs (forward, backward, divergence check, clipping,
AdamW/Adam step, weight constraint), on a fixed batch of real text. The forward-only time is
one forward pass under torch.no_grad (what inference pays, before any folding).

Next to each time the tables give what the step dispatches (`op_counts`, `count_ops`): ATen
ops, the kernels among them and the bytes they write. These counts are deterministic, so a
test can assert them (tests/test_perf.py) where a timing could only be reported.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from .config import TrainConfig, preset
from .opcount import OP_GROUPS, TRAIN_PHASES, OpCounter, count_ops, forward_ops, op_counts  # noqa: F401  (re-exported)

PAPER_STEP_TIME = {  # anGPT paper (Franke et al. 2025), 0.5B on 4xA100: seconds per step
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
    from .constraints import constraint_step
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
    B = BENCH_SIZES[size]["batch_size"] if batch_size is None else batch_size
    if not isinstance(B, int) or isinstance(B, bool) or B < 1:  # 0 used to mean the default, silently
        raise ValueError(f"batch_size must be None (the size's default) or a positive integer, got {batch_size!r}")
    built = {}
    for name in models:
        cfg = preset(name, **BENCH_SIZES[size]["model"])
        torch.manual_seed(seed)
        model = build_model(cfg).to(dev).train()
        tcfg = TrainConfig.for_arch(cfg.arch)
        opt = make_optimizer(model, tcfg, dev)
        built[name] = (model, torch.compile(model) if compile else model, opt, tcfg, cfg,
                       constraint_step(model, compile=compile))
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
        model, fwd, opt, tcfg, _, constrain = built[m]
        return lambda: train_step(model, fwd, opt, x, y, tcfg.grad_clip, constrain=constrain)

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
    # what each step dispatches (deterministic; a CPU-visible proxy for a GPU's launch and memory cost)
    result["op_counts"] = {m: _brief(op_counts(built[m][4], batch_size=B, device=str(dev))) for m in models}
    if forward:
        result["op_counts_forward"] = {m: _brief(op_counts(built[m][4], batch_size=B, inference=True,
                                                           device=str(dev))) for m in models}
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


def _brief(counts: dict) -> dict:
    """op_counts without the per-op detail (what the bench result keeps)."""
    return {k: v for k, v in counts.items() if k != "by_op"}


def format_table(result: dict) -> str:
    """The ratio table as text."""
    models = list(result["train_step"])
    lines = [f"device: {result['device']}; size {result['size']} {result['model']}, batch {result['batch_size']}; "
             f"median of {result['steps']} interleaved steps after {result['warmup']} warm-up rounds"
             f"{', torch.compile' if result['compile'] else ''}"]
    counts, fcounts = result.get("op_counts"), result.get("op_counts_forward")
    head = f"{'model':<8} {'params':>10} {'train step ms':>14} {'ratio':>7} {'paper':>7}"
    if counts:
        head += f" {'ops':>6} {'kernels':>7} {'MB':>8}"
    if "forward" in result:
        head += f" {'forward ms':>11} {'ratio':>7}"
        if fcounts:
            head += f" {'ops':>6} {'kernels':>7} {'MB':>8}"
    lines += [head, "-" * len(head)]
    paper = result["paper_ratios"]["train_step"]

    def cells(c: dict) -> str:
        return f" {c['total_ops']:>6} {c['total_kernels']:>7} {c['total_bytes'] / 1e6:>8.1f}"

    for m in models:
        ts = result["train_step"][m]
        row = (f"{m:<8} {result['n_params'][m]:>10,} {ts['median_ms']:>14.2f} "
               f"{result['ratios']['train_step'][m]:>7.3f} {paper.get(m, float('nan')):>7.3f}")
        if counts:
            row += cells(counts[m])
        if "forward" in result:
            row += f" {result['forward'][m]['median_ms']:>11.2f} {result['ratios']['forward'][m]:>7.3f}"
            if fcounts:
                row += cells(fcounts[m])
        lines.append(row)
    lines.append("paper: anGPT paper, 0.5B on 4xA100 (train step only)")
    if counts:
        lines.append("ops: ATen ops per step (angpt.bench.op_counts); kernels: those that write a tensor; "
                     "MB: bytes they write")
        for m in models:
            c = counts[m]
            lines.append(f"  {m:<8} train step by phase: " + ", ".join(
                f"{p} {c['ops'][p]} ops / {c['kernels'][p]} kernels" for p in c["ops"]))
    return "\n".join(lines)


# ------------------------------------------------------------------------------ inference (chapter 9)
#
# The forward pass at inference, as ratios to GPT+ in one process: GPT+, nGPT, anGPT as
# trained, and anGPT folded (angpt.fold: every constant in the weights, a plain residual
# add). Two kinds of work: `prefill`, one forward over a whole prompt (B, T), and `decode`,
# one new token (B, 1) attending to a KV cache of `context` tokens (angpt.decode), which
# is what each generated token costs. Same round-robin timing as `step_times`.

PAPER_INFERENCE_OVERHEAD = {"ngpt": 0.03, "angpt": 0.0}  # anGPT paper (Franke et al. 2025), vs GPT+
INFERENCE_MODELS = ("gpt+", "ngpt", "angpt", "angpt:folded")
INFERENCE_SIZES = {
    "quick": {
        "sizes": {"d64 L2": dict(d_model=64, n_layers=2, n_heads=2, seq_len=64),
                  "d128 L2": dict(d_model=128, n_layers=2, n_heads=4, seq_len=64)},
        "shapes": [dict(kind="prefill", batch=4, tokens=64), dict(kind="decode", batch=4, context=63)],
    },
    "full": {
        "sizes": {"d512 L8": dict(d_model=512, n_layers=8, n_heads=8, seq_len=1024),
                  "d1024 L16": dict(d_model=1024, n_layers=16, n_heads=16, seq_len=1024),
                  "d2048 L16": dict(d_model=2048, n_layers=16, n_heads=16, seq_len=1024)},
        "shapes": [dict(kind="prefill", batch=8, tokens=1024), dict(kind="decode", batch=1, context=1023),
                   dict(kind="decode", batch=32, context=1023)],
    },
}


def _round_robin(fns: dict, steps: int, warmup: int, sync) -> dict[str, list[float]]:
    """Time each fn once per round, rotating the order; the first `warmup` rounds untimed."""
    names = list(fns)
    times = {m: [] for m in names}
    for r in range(warmup + steps):
        for m in names[r % len(names):] + names[:r % len(names)]:
            sync()
            t0 = time.perf_counter()
            fns[m]()
            sync()
            if r >= warmup:
                times[m].append(time.perf_counter() - t0)
    return times


def _check_shape(shape: dict, seq_len: int) -> dict:
    kind = shape.get("kind")
    if kind == "prefill":
        n = shape.get("tokens", seq_len)
        if not isinstance(n, int) or not 1 <= n <= seq_len:
            raise ValueError(f"prefill tokens must lie in [1, seq_len={seq_len}], got {n!r}")
    elif kind == "decode":
        n = shape.get("context")
        if not isinstance(n, int) or not 0 <= n < seq_len:
            raise ValueError(f"decode context must lie in [0, seq_len-1={seq_len - 1}], got {n!r}")
    else:
        raise ValueError(f"unknown shape kind {kind!r}; valid choices: 'prefill', 'decode'")
    b = shape.get("batch")
    if not isinstance(b, int) or isinstance(b, bool) or b < 1:
        raise ValueError(f"batch must be a positive integer, got {b!r}")
    return dict(shape)


def inference_models(model_kw: dict, models=INFERENCE_MODELS, seed: int = 0, device="cpu") -> dict:
    """{name: model in eval mode, float32, on `device`}, each built with `seed`: presets by
    name, and 'angpt:folded', angpt.fold of the 'angpt' model (the same weights)."""
    from .fold import fold
    from .model import build_model

    for name in models:
        if ":" in name and name != "angpt:folded":
            raise ValueError(f"unknown model {name!r}; valid choices: a preset name or 'angpt:folded'")
    out = {}
    for name in dict.fromkeys(m.split(":")[0] for m in models):  # 'angpt:folded' needs 'angpt'
        torch.manual_seed(seed)
        out[name] = build_model(preset(name, **model_kw)).to(device).eval()
    if "angpt:folded" in models:
        prev = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("highest")  # fold checks itself in float32: no TF32 here
        try:
            out["angpt:folded"] = fold(out["angpt"]).eval()
        finally:
            torch.set_float32_matmul_precision(prev)
    return {m: out[m] for m in models}


@torch.no_grad()
def inference(models=INFERENCE_MODELS, size: str = "quick", sizes: dict | None = None, shapes=None,
              steps: int = 30, warmup: int = 5, device: str = "auto", dtype: str | None = None,
              baseline: str = "gpt+", seed: int = 0, batch_size: int | None = None) -> dict:
    """Median forward time of each model per (size, shape), and its ratio to `baseline`.

    size      'quick' or 'full' picks INFERENCE_SIZES[size]; `sizes` ({label: ModelConfig
              kwargs}) and `shapes` ([{kind: 'prefill', batch, tokens} | {kind: 'decode',
              batch, context}]) override it.
    dtype     'float32' or 'bfloat16' weights (default: bfloat16 on CUDA, float32 on CPU)
    Decoding uses angpt.decode's KV cache: the cache is filled once per model, and each
    timed call is one (B, 1) step from that same state. Also reports the fold's relative
    logit error on the prefill input (float32, before any cast).
    """
    from .decode import KVCache, forward_cached
    from .fold import fold_error
    from .train import device_name, resolve_device

    if size not in INFERENCE_SIZES:
        raise ValueError(f"unknown size {size!r}; valid choices: {', '.join(map(repr, INFERENCE_SIZES))}")
    models = list(models)
    if baseline not in models:
        raise ValueError(f"the baseline {baseline!r} must be among the models {models}")
    for name, v, lo in (("steps", steps, 1), ("warmup", warmup, 0)):
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    dev = resolve_device(device)
    dtype = dtype or ("bfloat16" if dev.type == "cuda" else "float32")
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"unknown dtype {dtype!r}; valid choices: 'float32', 'bfloat16'")
    sizes = dict(sizes or INFERENCE_SIZES[size]["sizes"])
    shapes = list(shapes or INFERENCE_SIZES[size]["shapes"])
    if batch_size is not None:
        shapes = [{**s, "batch": batch_size} for s in shapes]
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    g = torch.Generator().manual_seed(seed)
    result = {"device": device_name(dev), "dtype": dtype, "models": models, "baseline": baseline,
              "steps": steps, "warmup": warmup, "sizes": sizes, "shapes": [], "n_params": {},
              "fold_error": {}, "rows": [], "kv_cache": True,
              "paper_overhead": dict(PAPER_INFERENCE_OVERHEAD)}
    for label, kw in sizes.items():
        built = inference_models(kw, models, seed, dev)
        cfg = next(iter(built.values())).cfg
        checked = [_check_shape(s, cfg.seq_len) for s in shapes]
        probe = torch.randint(0, cfg.vocab_size, (2, min(cfg.seq_len, 64)), generator=g).to(dev)
        if "angpt" in built and "angpt:folded" in built:
            prev = torch.get_float32_matmul_precision()
            torch.set_float32_matmul_precision("highest")
            try:
                result["fold_error"][label] = fold_error(built["angpt"], built["angpt:folded"], probe)
            finally:
                torch.set_float32_matmul_precision(prev)
        result["n_params"][label] = {m: sum(p.numel() for p in built[m].parameters()) for m in models}
        for m in built.values():
            m.to(device=dev, dtype=getattr(torch, dtype))
        for shape in checked:
            B = shape["batch"]
            if shape["kind"] == "prefill":
                idx = torch.randint(0, cfg.vocab_size, (B, shape["tokens"]), generator=g).to(dev)
                fns = {m: (lambda model=built[m]: model(idx)) for m in models}
            else:
                ctx = torch.randint(0, cfg.vocab_size, (B, shape["context"] + 1), generator=g).to(dev)
                fns = {}
                for m in models:
                    cache = KVCache(built[m])
                    if shape["context"]:
                        forward_cached(built[m], ctx[:, :-1], cache)
                    state = cache.snapshot()

                    def step(model=built[m], cache=cache, state=state):
                        cache.restore(state)  # list copies: microseconds, the same for every model
                        forward_cached(model, ctx[:, -1:], cache)
                    fns[m] = step
            counts = {m: _brief(count_ops(fns[m])) for m in models}  # what one call dispatches
            times = _round_robin(fns, steps, warmup, sync)
            base = statistics.median(times[baseline])
            for m in models:
                q = _quantiles(times[m])
                c = counts[m]
                result["rows"].append({"size": label, **shape, "model": m, **q,
                                       "ratio": statistics.median(times[m]) / base, "ops": c["total_ops"],
                                       "kernels": c["total_kernels"], "bytes": c["total_bytes"]})
            if shape not in result["shapes"]:
                result["shapes"].append(shape)
        del built
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return result


def _shape_label(row: dict) -> str:
    if row["kind"] == "prefill":
        return f"prefill B={row['batch']} T={row['tokens']}"
    return f"decode B={row['batch']} ctx={row['context']}"


def format_inference_table(result: dict) -> str:
    """One line per (size, shape): each model's median time and, in brackets, its ratio to
    the baseline."""
    models = result["models"]
    w = max(18, *(len(m) + 2 for m in models))
    lines = [f"device: {result['device']}, {result['dtype']}; forward pass, median of {result['steps']} interleaved "
             f"calls after {result['warmup']} warm-up rounds; decode = one token with a KV cache",
             f"each cell: median ms (time / {result['baseline']})"]
    head = f"{'size':<10} {'shape':<22}" + "".join(f"{m:>{w}}" for m in models)
    lines += [head, "-" * len(head)]
    rows = {}
    for r in result["rows"]:
        rows.setdefault((r["size"], _shape_label(r)), {})[r["model"]] = r
    for (size, shape), by in rows.items():
        cells = "".join(f"{by[m]['median_ms']:.2f} ({by[m]['ratio']:.3f})".rjust(w) for m in models)
        lines.append(f"{size:<10} {shape:<22}" + cells)
    if all("ops" in r for r in result["rows"]):
        lines += ["", "ATen ops per call / kernels (ops that write a tensor) / MB written (angpt.bench.count_ops)",
                  head, "-" * len(head)]
        for (size, shape), by in rows.items():
            cells = "".join(f"{by[m]['ops']}/{by[m]['kernels']}/{by[m]['bytes'] / 1e6:.2f}".rjust(w) for m in models)
            lines.append(f"{size:<10} {shape:<22}" + cells)
    if result["fold_error"]:
        errs = ", ".join(f"{k}: {v:.1e}" for k, v in result["fold_error"].items())
        lines.append(f"fold: max relative logit error (float32) {errs}")
    paper = ", ".join(f"{m} +{100 * v:.0f} %" for m, v in result["paper_overhead"].items())
    lines.append(f"paper (anGPT, inference overhead vs GPT+): {paper}")
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
    p.add_argument("--inference", action="store_true",
                   help="time the forward pass instead (prefill and one-token decoding with a KV cache) of "
                        "GPT+, nGPT, anGPT and the folded anGPT, at several sizes (see INFERENCE_SIZES)")
    p.set_defaults(bench_parser=p)  # main() reports bad options as usage errors through it


def check_arguments(args: argparse.Namespace) -> None:
    """Every option checked before anything is built or timed: ValueError naming the option."""
    import os

    from .config import PRESETS

    for name, lo in (("steps", 1), ("warmup", 0)):
        if getattr(args, name) < lo:
            raise ValueError(f"--{name} must be an integer >= {lo}, got {getattr(args, name)}")
    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError(f"--batch-size must be a positive integer (omit it for the size's default), got {args.batch_size}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch sees no CUDA device; use --device auto or cpu")
    if args.inference and args.compile:
        raise ValueError("--compile is not supported with --inference (the KV-cache path runs eagerly)")
    models = [m for m in args.models.split(",") if m]
    valid = list(PRESETS) + (["angpt:folded"] if args.inference else [])
    unknown = [m for m in models if m not in valid]
    if not models or unknown:
        what = f"unknown model name(s) {unknown}" if unknown else "no model name"
        raise ValueError(f"--models {args.models!r}: {what}; valid choices: {', '.join(valid)} (comma-separated)")
    if "gpt+" not in models and not (args.inference and args.models == ",".join(MODELS)):
        raise ValueError(f"--models {args.models!r} must include the baseline 'gpt+': every time is reported "
                         f"as a ratio to it")
    if args.out is not None:
        out = os.path.realpath(args.out)  # through a symlink: write its target, keep the link
        if os.path.isdir(out):
            raise ValueError(f"--out {args.out!r} is a folder; give a file path such as {os.path.join(args.out, 'bench.json')}")
        folder = os.path.dirname(out) or "."
        probe = os.path.join(folder, f".{os.path.basename(out)}.probe{os.getpid()}")
        try:
            with open(probe, "w"):
                pass
            os.remove(probe)
        except OSError as err:
            raise ValueError(f"--out {args.out!r} cannot be written: {err.strerror or err}") from None
        args.out = out


def main(args: argparse.Namespace, save_result=None) -> int:
    """`python -m angpt bench`. save_result(result, path): writes --out with provenance
    (angpt.__main__ passes angpt.experiments' writer; bench imports nothing of experiments,
    which runs the benchmarks as experiments of its own)."""
    from .config import budget

    try:
        check_arguments(args)
    except ValueError as err:
        parser = getattr(args, "bench_parser", None)
        if parser is None:
            raise
        parser.error(str(err))  # usage message, exit 2, no traceback
    if args.out and save_result is None:
        raise ValueError("--out needs a save_result function (run through `python -m angpt bench`)")
    if getattr(args, "inference", False):
        return inference_main(args, save_result)
    result = step_times(models=[m for m in args.models.split(",") if m], size=args.size or budget(),
                        steps=args.steps, warmup=args.warmup, device=args.device, compile=args.compile,
                        batch_size=args.batch_size)
    print(format_table(result))
    if args.out:
        save_result({"experiment": "bench-compile" if args.compile else "bench", **result}, args.out)
        print(f"wrote {args.out}")
    return 0


__all__ = ["step_times", "format_table", "PAPER_STEP_TIME", "BENCH_SIZES", "add_arguments", "main", "op_counts",
           "count_ops", "OpCounter", "TRAIN_PHASES"]


def inference_main(args: argparse.Namespace, save_result=None) -> int:
    """`python -m angpt bench --inference`: the inference ratio table (and --out JSON)."""
    from .config import budget

    if args.compile:
        raise ValueError("--compile is not supported with --inference (the KV-cache path runs eagerly)")
    models = INFERENCE_MODELS if args.models == ",".join(MODELS) else [m for m in args.models.split(",") if m]
    result = inference(models=models, size=args.size or budget(), steps=args.steps, warmup=args.warmup,
                       device=args.device, batch_size=args.batch_size)
    print(format_inference_table(result))
    if args.out:
        save_result({"experiment": "bench-inference", **result}, args.out)
        print(f"wrote {args.out}")
    return 0


__all__ += ["inference", "inference_models", "format_inference_table", "forward_ops", "inference_main",
            "INFERENCE_MODELS", "INFERENCE_SIZES", "PAPER_INFERENCE_OVERHEAD", "OP_GROUPS"]
