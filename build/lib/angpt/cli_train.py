"""`python -m angpt train`: train one model, in one process or under torchrun, and write its record.

    python -m angpt train --preset angpt --steps 300 --batch-size 16 --out run.json
    python -m angpt train --preset gpt+ --data tokens.bin --vocab-size 50304 --seq-len 1024 \\
        --steps 20000 --batch-size 64 --ckpt run.pt --out run.json
    torchrun --standalone --nproc_per_node 8 -m angpt train --preset angpt ... --batch-size 512

The model is a preset (angpt.config.PRESETS) with any size overridden, the optimizer its
paper's recipe (TrainConfig.for_preset) with `--lr` overriding the rate. Data: a named corpus
(byte tokens) or a flat binary file of token ids (angpt.data.load_token_file: uint16 as
nanoGPT's prepare.py writes, or uint8; the last 1 % held out unless --val-data is given).

Under torchrun, `--batch-size` is the global batch: each of the W ranks trains on its
batch/W rows of it (angpt.distributed), so the same command gives the same trajectory for
any W that divides the batch (up to floating-point reduction order). Rank 0 alone evaluates,
checkpoints, shows progress and writes --out. With --ckpt, rerunning the same command after
an interruption resumes from the checkpoint (under torchrun too).

The JSON written to --out: provenance (angpt.experiments.provenance, plus world_size), the
options, the run summarized as experiments store runs (`run`), and the whole RunRecord
(`record`: every step's loss, lr, step time and grad norm, every evaluation).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

DEFAULT_CORPUS = "shakespeare"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `python -m angpt train` (torch is not imported here)."""
    from .config import PRESETS
    from .data import CORPORA, TOKEN_DTYPES

    m = p.add_argument_group("model (a preset, any size field overridden)")
    m.add_argument("--preset", required=True, choices=list(PRESETS), help="the model and its paper's recipe")
    for name in ("d-model", "n-layers", "n-heads", "seq-len"):
        m.add_argument(f"--{name}", type=int, default=None)
    m.add_argument("--vocab-size", type=int, default=None,
                   help="size of the token vocabulary: 256 for byte tokens (the corpora, uint8 files); "
                        "required for uint16 files (e.g. 50304 for GPT-2's 50257 tokens padded)")
    t = p.add_argument_group("training")
    t.add_argument("--steps", type=int, required=True)
    t.add_argument("--batch-size", type=int, required=True, help="the global batch (split over the ranks)")
    t.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the preset's recipe)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    t.add_argument("--compile", action="store_true", help="torch.compile the model")
    t.add_argument("--eval-every", type=int, default=None, help="steps between evaluations (default: 50)")
    t.add_argument("--eval-tokens", type=int, default=None, help="validation tokens per evaluation (default 16384)")
    t.add_argument("--ckpt", default=None, help="checkpoint file; if it exists, the run resumes from it")
    t.add_argument("--ckpt-every", type=int, default=0, help="steps between checkpoints (0: only at the end)")
    d = p.add_argument_group("data (one of)")
    src = d.add_mutually_exclusive_group()
    src.add_argument("--corpus", choices=list(CORPORA), default=None,
                     help=f"a corpus of the library (byte tokens; default {DEFAULT_CORPUS!r})")
    src.add_argument("--data", default=None, metavar="PATH",
                     help="a flat binary file of token ids (nanoGPT's train.bin), read through numpy.memmap")
    d.add_argument("--data-dtype", choices=list(TOKEN_DTYPES), default=None,
                   help="dtype of --data; default from the suffix: .bin/.u16 uint16, .u8 uint8")
    d.add_argument("--val-data", default=None, metavar="PATH",
                   help="a second token file for validation (default: the last 1%% of --data)")
    p.add_argument("--out", required=True, help="the run's record (JSON with provenance), written by rank 0")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(train_parser=p)


def check_arguments(args: argparse.Namespace) -> None:
    """What argparse cannot check, before anything is built: ValueError naming the option."""
    for name in ("d_model", "n_layers", "n_heads", "seq_len", "vocab_size", "eval_every", "eval_tokens"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "eval_every" else 1):
            raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    for name, lo in (("steps", 1), ("batch_size", 1), ("seed", 0), ("ckpt_every", 0)):
        if getattr(args, name) < lo:
            raise ValueError(f"--{name.replace('_', '-')} must be an integer >= {lo}, got {getattr(args, name)}")
    if args.lr is not None and not args.lr > 0:
        raise ValueError(f"--lr must be a positive number, got {args.lr}")
    if args.data is None:
        for name in ("data_dtype", "val_data"):
            if getattr(args, name) is not None:
                raise ValueError(f"--{name.replace('_', '-')} applies to --data only")
        if args.vocab_size not in (None, 256):
            raise ValueError(f"the corpora are byte tokens: --vocab-size must be 256 (or omitted), got {args.vocab_size}")
    if args.ckpt_every and not args.ckpt:
        raise ValueError(f"--ckpt-every {args.ckpt_every} needs --ckpt PATH")
    if os.path.isdir(args.out):
        raise ValueError(f"--out {args.out!r} is a folder; give a file path such as {os.path.join(args.out, 'run.json')}")


def configs(args: argparse.Namespace):
    """The ModelConfig and TrainConfig the options describe (ValueError from the configs)."""
    from .config import TrainConfig, preset

    sizes = {k: getattr(args, k) for k in ("d_model", "n_layers", "n_heads", "seq_len") if getattr(args, k) is not None}
    cfg = preset(args.preset, **sizes, vocab_size=vocab_size(args))
    train = dict(steps=args.steps, batch_size=args.batch_size, seed=args.seed, device=args.device,
                 compile=args.compile, ckpt_path=args.ckpt, ckpt_every=args.ckpt_every)
    for key in ("lr", "eval_every", "eval_tokens"):
        if getattr(args, key) is not None:
            train[key] = getattr(args, key)
    return cfg, TrainConfig.for_preset(args.preset, **train)


def vocab_size(args: argparse.Namespace) -> int:
    if args.vocab_size is not None:
        return args.vocab_size
    if args.data is None:
        return 256
    from .data import token_dtype

    if token_dtype(args.data, args.data_dtype) == "uint8":
        return 256
    raise ValueError(f"--data {args.data!r} holds uint16 ids: give the tokenizer's --vocab-size "
                     f"(e.g. 50304: GPT-2's 50257 tokens rounded up to a multiple of 64)")


def load_data(args: argparse.Namespace, cfg, tcfg):
    """The Corpus to train on: a named corpus, or the token file (checked against the model)."""
    from . import data as D

    if args.data is None:
        return D.load_corpus(args.corpus or DEFAULT_CORPUS)
    return D.load_token_file(args.data, vocab_size=cfg.vocab_size, dtype=args.data_dtype, val_path=args.val_data,
                             batch_size=tcfg.batch_size, seq_len=cfg.seq_len)


def main(args: argparse.Namespace) -> int:
    parser = args.train_parser
    try:  # every bad option or file is a usage error: message, exit 2, no traceback
        check_arguments(args)
        cfg, tcfg = configs(args)
        corpus = load_data(args, cfg, tcfg)
        from .distributed import check_batch

        world = int(os.environ.get("WORLD_SIZE", "1"))
        check_batch(tcfg.batch_size, world)
    except ValueError as err:
        parser.error(str(err))
    from . import distributed
    from .experiments.common import _clean, provenance, save, summarize_run
    from .train import DivergenceError, train

    t0 = time.perf_counter()
    dist = distributed.init(args.device)
    try:
        main_rank = dist is None or dist.is_main
        first = []  # the first step this call trains: > 1 means it resumed from --ckpt

        def note_start(step, record):
            if not first:
                first.append(step)
                if step > 1 and main_rank:
                    print(f"resumed from {args.ckpt} at step {step - 1}", flush=True)

        try:
            record = train(cfg, tcfg, corpus=corpus, progress=not args.no_progress, callback=note_start, dist=dist)
        except ValueError as err:  # e.g. a checkpoint of another model: the options are at fault
            parser.error(str(err))
        except DivergenceError as err:  # a result, not a bug: say so without a traceback
            print(f"python -m angpt train: diverged: {err}", file=sys.stderr)
            return 1
        if main_rank:
            world_size = 1 if dist is None else dist.world_size
            device = record.device if world_size == 1 else f"{world_size} x {record.device}"
            prov = {**provenance(device=device, seeds=[tcfg.seed]), "world_size": world_size}
            result = _clean({
                "experiment": "train", "provenance": prov, "world_size": world_size,
                "backend": None if dist is None else dist.backend,
                "options": {k: v for k, v in vars(args).items() if k != "train_parser"},
                "data": {"name": corpus.name, "source": corpus.source, "vocab_size": corpus.vocab_size,
                         "train_tokens": len(corpus.train), "val_tokens": len(corpus.val)},
                "started_at_step": (first[0] - 1) if first else tcfg.steps,
                "wall_time": time.perf_counter() - t0,
                "run": summarize_run(record, args.preset),
                "record": record.to_dict(),
            })
            save(result, args.out)
            loss = record.history["train_loss"][-1] if record.history["train_loss"] else float("nan")
            print(f"{args.preset}: {record.step} steps of {record.tokens_per_step:,} tokens on {world_size} "
                  f"process(es), {device}; final train loss {loss:.4f}, val loss {record.final_val_loss:.4f}; "
                  f"wrote {args.out}")
    finally:
        distributed.teardown(dist)
    return 0


__all__ = ["add_arguments", "check_arguments", "configs", "load_data", "main"]
