"""How long `run all` will take: FLOPs of each training run, a short calibration on this
device, and a model of the time on one H100/H200 for when this device is a CPU.

Three numbers per run, none of them a measurement of the run itself:

* `flops`: the training FLOPs, 3 x (forward FLOPs) per token (backward = 2 x forward):
  forward = 2 x (non-embedding + head parameters) + 4 x T x d x L (attention scores and
  their weighted sum, counted over the full T x T square) per token; plus evaluation
  (forward only) on eval_tokens at every evaluation.
* `calibrate`: a few timed steps (`angpt.train.train_step`, the loop's own step) of the real
  model on this device: at the real batch on a GPU; on a CPU at CALIB_BATCH sequences,
  scaled to the real batch by tokens (a full batch of the full-size race would take half a
  minute per step on a CPU). No torch.compile (its cost is an allowance, below).
* `gpu_seconds`: max(FLOPs / (peak x utilization), kernel-launch floor x layers) per step,
  with the utilization and floor of each arch fitted to step times measured earlier on one
  H100 by this project (GPU_REFERENCE), the bf16 dense peak of an H100/H200 (same for both),
  a fixed compile allowance per compiled run, and `jobs` runs at once sharing the GPU: the
  GPU's busy time cannot overlap, the per-step launch overhead can. An estimate, printed
  with its assumptions: the real run reports the measured time per experiment.
"""

from __future__ import annotations

import time
from functools import lru_cache

# bf16 dense peak of one H100 SXM or H200 (the same Hopper compute): FLOP/s
PEAK_FLOPS = 989e12
# Step times measured on one H100 (bf16 autocast, batch 64 x 256, fused AdamW) by this
# project's earlier full-size runs: (arch family, torch.compile, d_model, n_layers, ms per step).
GPU_REFERENCE = (
    ("gpt", True, 512, 8, 19.0), ("ngpt", True, 512, 8, 24.0), ("angpt", True, 512, 8, 25.0),  # race
    ("gpt", False, 512, 8, 35.0), ("ngpt", False, 512, 8, 72.0), ("angpt", False, 512, 8, 55.0),  # ablations
    ("gpt", False, 256, 8, 25.0), ("ngpt", False, 256, 8, 47.0),  # schemes: launch-bound, "whatever the batch"
)
COMPILED_FLOOR_FRACTION = 1 / 3  # assumed, not measured: fusion leaves about a third of the kernels
COMPILE_SECONDS = {"first": 30.0, "again": 10.0}  # per compiled run: first of its shape / inductor cache warm
WORKER_START_SECONDS = 8.0  # spawn the worker processes, import torch, create CUDA contexts (once)
CALIB_BATCH = 1  # sequences per calibration step on a CPU
CALIB_STEPS = (1, 2)  # untimed, timed


def forward_flops_per_token(cfg) -> float:
    """Forward FLOPs per token: the matmuls (2 per weight) and attention's two T x T products."""
    return 2.0 * (matmul_params(cfg)) + 4.0 * cfg.seq_len * cfg.d_model * cfg.n_layers


@lru_cache(maxsize=256)
def _matmul_params(cfg_json: str) -> int:
    import json

    from ..config import ModelConfig
    from ..model import build_model

    model = build_model(ModelConfig(**json.loads(cfg_json)))
    return sum(p.numel() for n, p in model.named_parameters() if n != "embed.weight" and p.dim() >= 2)


def matmul_params(cfg) -> int:
    """Weights that multiply activations: every matrix but the embedding (a lookup)."""
    import json

    return _matmul_params(json.dumps(cfg.to_dict(), sort_keys=True))


def run_flops(cfg, tcfg) -> dict:
    """{'train', 'eval', 'step'}: training and evaluation FLOPs of one run, FLOPs per step."""
    per_token = forward_flops_per_token(cfg)
    tokens = tcfg.batch_size * cfg.seq_len
    evals = (tcfg.steps // tcfg.eval_every if tcfg.eval_every else 1) + 1
    return {"step": 3.0 * per_token * tokens, "train": 3.0 * per_token * tokens * tcfg.steps,
            "eval": per_token * tcfg.eval_tokens * evals}


def _family(arch: str) -> str:
    return arch if arch in ("ngpt", "angpt") else "gpt"


@lru_cache(maxsize=None)
def gpu_model() -> dict:
    """{(family, compiled): {'util', 'floor_per_layer'}} fitted to GPU_REFERENCE.

    util: FLOPs of the reference step / (ms x peak) at d512 (where compute dominates);
    floor: the d256 step time / layers (launch-bound); anGPT's eager floor, not measured,
    is GPT's scaled by their d512 ratio; compiled floors are COMPILED_FLOOR_FRACTION of eager."""
    from ..config import TrainConfig, preset

    ref = {(a, c, d): ms for a, c, d, _, ms in GPU_REFERENCE}
    out = {}
    for fam in ("gpt", "ngpt", "angpt"):
        cfg = preset({"gpt": "gpt+"}.get(fam, fam), d_model=512, n_layers=8, n_heads=8, seq_len=256)
        step = run_flops(cfg, TrainConfig(steps=1, batch_size=64))["step"]
        eager_floor = (ref.get((fam, False, 256)) or ref[("gpt", False, 256)] * ref[(fam, False, 512)]
                       / ref[("gpt", False, 512)]) / 8
        for compiled in (False, True):
            out[(fam, compiled)] = {"util": step / (ref[(fam, compiled, 512)] * 1e-3 * PEAK_FLOPS),
                                    "floor_per_layer": eager_floor * (COMPILED_FLOOR_FRACTION if compiled else 1.0)}
    return out


def gpu_seconds(cfg, tcfg) -> dict:
    """Modelled seconds of one run on one H100/H200: {'busy': GPU compute, 'total': the run
    alone, 'compile': the compile allowance in it}."""
    m = gpu_model()[(_family(cfg.arch), bool(tcfg.compile))]
    f = run_flops(cfg, tcfg)
    compute = f["step"] / (PEAK_FLOPS * m["util"])
    step = max(compute, m["floor_per_layer"] * 1e-3 * cfg.n_layers)
    evals = f["eval"] / (PEAK_FLOPS * m["util"])
    comp = COMPILE_SECONDS["again"] if tcfg.compile else 0.0
    return {"busy": compute * tcfg.steps + evals, "total": step * tcfg.steps + evals + comp, "compile": comp}


def gpu_wall(tasks, jobs: int = 1) -> float:
    """Modelled wall time of a list of tasks with `jobs` at once on one GPU: the GPU's busy
    time cannot overlap; launch-bound and compile time can, over `jobs` processes."""
    busy = total = fixed = 0.0
    first = set()
    for t in tasks:
        c = t.configs()
        if c is None:
            fixed += t.seconds or 0.0
            continue
        g = gpu_seconds(c[0], c[1])
        key = (c[0].arch, c[0].d_model, c[0].n_layers)
        if c[1].compile and key not in first:  # the first compile of a shape fills the cache
            first.add(key)
            total += COMPILE_SECONDS["first"] - COMPILE_SECONDS["again"]
        busy += g["busy"]
        total += g["total"]
    return max(busy, total / jobs) + fixed


def calibrate(cfg, tcfg, device=None) -> float:
    """Seconds per training step of `cfg` at `tcfg.batch_size` on `device`, from CALIB_STEPS
    timed steps (on a CPU: at CALIB_BATCH sequences, scaled by tokens). Models that differ
    only in float settings (factor scales, inits) share one calibration: same ops, same cost."""
    return _calibrate(_cfg_json(cfg), tcfg.batch_size, str(device or "auto"))


def _cfg_json(cfg) -> str:
    import json

    from ..config import ModelConfig

    base = ModelConfig().to_dict()
    d = {k: (base[k] if isinstance(v, float) and isinstance(base.get(k), float) else v)
         for k, v in cfg.to_dict().items()}
    return json.dumps(d, sort_keys=True)


@lru_cache(maxsize=None)
def _calibrate(cfg_json: str, batch_size: int, device: str) -> float:
    import json

    import torch

    from ..config import ModelConfig, TrainConfig
    from ..model import build_model
    from ..train import make_optimizer, resolve_device, train_step

    cfg = ModelConfig(**json.loads(cfg_json))
    dev = resolve_device(device)
    b = batch_size if dev.type == "cuda" else min(batch_size, CALIB_BATCH)
    torch.manual_seed(0)
    model = build_model(cfg).to(dev).train()
    opt = make_optimizer(model, TrainConfig.for_arch(cfg.arch), dev)
    x = torch.randint(0, cfg.vocab_size, (b, cfg.seq_len), device=dev)
    y = torch.randint(0, cfg.vocab_size, (b, cfg.seq_len), device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    warm, timed = CALIB_STEPS
    for _ in range(warm):
        train_step(model, model, opt, x, y, 1.0)
    sync()
    t0 = time.perf_counter()
    for _ in range(timed):
        train_step(model, model, opt, x, y, 1.0)
    sync()
    return (time.perf_counter() - t0) / timed * batch_size / b


def device_seconds(cfg, tcfg, device=None) -> float:
    """Estimated seconds of one run on this device: calibrated step time x steps, plus
    evaluation at a third of a training step's cost per token (forward only)."""
    step = calibrate(cfg, tcfg, device)
    evals = (tcfg.steps // tcfg.eval_every if tcfg.eval_every else 1) + 1
    return step * tcfg.steps + step / 3 * evals * tcfg.eval_tokens / (tcfg.batch_size * cfg.seq_len)


def assumptions(jobs: int) -> list[str]:
    """The GPU model's assumptions, one line each, for the dry-run to print."""
    m = gpu_model()
    fit = ", ".join(f"{fam}{' compiled' if c else ''}: {100 * v['util']:.1f} % of peak, floor "
                    f"{v['floor_per_layer']:.2f} ms/layer" for (fam, c), v in sorted(m.items()))
    return [
        f"peak {PEAK_FLOPS / 1e12:.0f} TFLOP/s (H100/H200 bf16 dense); utilization and per-step launch floor "
        f"fitted to this project's earlier H100 step times: {fit}",
        f"compiled floors assumed {COMPILED_FLOOR_FRACTION:.2f} of eager (not measured); compile allowance "
        f"{COMPILE_SECONDS['first']:.0f} s for the first run of a shape, {COMPILE_SECONDS['again']:.0f} s after",
        f"{jobs} run(s) at once on one GPU: GPU busy time does not overlap, launch-bound time does; "
        f"{WORKER_START_SECONDS:.0f} s to start the worker processes once; benchmarks: fixed allowances",
    ]


__all__ = ["run_flops", "forward_flops_per_token", "matmul_params", "gpu_model", "gpu_seconds", "gpu_wall",
           "calibrate", "device_seconds", "assumptions", "PEAK_FLOPS", "GPU_REFERENCE"]
