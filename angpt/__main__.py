"""Command line: run named experiments and benchmarks (needs only torch, numpy, tqdm).

    python -m angpt list
    python -m angpt run race --budget quick --seeds 2 --out /tmp/race.json
    python -m angpt run race --budget full --seeds 3 --out book/results/race.json
    python -m angpt bench [--size full] [--out book/results/bench.json]
    python -m angpt train --preset angpt --steps 300 --batch-size 16 --out run.json   (torchrun too)
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    # torch (through angpt.bench and angpt.experiments) is imported only by the command that
    # needs it, so `python -m angpt --help` answers at once
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog="python -m angpt", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered experiments")
    r = sub.add_parser("run", help="run a registered experiment and write its result as JSON")
    r.add_argument("name", help="experiment name (see `list`)")
    r.add_argument("--budget", choices=("quick", "full"), default="quick")
    r.add_argument("--seeds", type=int, default=3)
    r.add_argument("--out", default=None, help="result file (JSON with provenance)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    b = sub.add_parser("bench", help="step time of nGPT and anGPT relative to GPT+")
    if "bench" in argv:
        from . import bench

        bench.add_arguments(b)
    t = sub.add_parser("train", help="train one model (one process, or DDP under torchrun) and write its record")
    if "train" in argv:
        from . import cli_train

        cli_train.add_arguments(t)
    args = p.parse_args(argv)
    if args.command == "bench":
        return bench.main(args)
    if args.command == "train":
        return cli_train.main(args)
    from . import experiments

    if args.command == "list":
        for name, fn in sorted(experiments.EXPERIMENTS.items()):
            doc = (fn.__doc__ or "").strip().splitlines()
            print(f"{name:<16} {doc[0] if doc else ''}")
        return 0
    try:
        result = experiments.run(args.name, budget=args.budget, seeds=args.seeds, out=args.out,
                                 progress=not args.no_progress)
    except ValueError as err:
        p.error(str(err))
    print(f"{args.name} ({args.budget}, {args.seeds} seeds) finished in {result['wall_time']:.1f} s on "
          f"{result['provenance']['device']}" + (f"; wrote {args.out}" if args.out else ""))
    if "summary" in result:
        for label, s in result["summary"].items():
            sp, fl = s["speedup"], s["final_val_loss"]
            fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
            print(f"  {label:<8} final val loss {fmt(fl['mean'])} [{fmt(fl['min'])}, {fmt(fl['max'])}]  "
                  f"speedup {fmt(sp['mean'])} [{fmt(sp['min'])}, {fmt(sp['max'])}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
