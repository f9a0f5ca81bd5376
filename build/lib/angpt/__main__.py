"""Command line: run named experiments and benchmarks (needs only torch, numpy, tqdm).

    python -m angpt list
    python -m angpt run race --budget quick --seeds 2 --out /tmp/race.json
    python -m angpt run race --budget full --seeds 3 --out book/results/race.json
    python -m angpt run all --budget full --out-dir book/results --dry-run    # the plan, timed
    python -m angpt run all --budget full --out-dir book/results --jobs 4     # every result
    python -m angpt bench [--size full] [--out book/results/bench.json]
    python -m angpt train --preset angpt --steps 300 --batch-size 16 --out run.json   (torchrun too)

`run` saves every finished training run beside --out at once: after a crash or kill, the
same command again trains only what is missing. `run all` skips result files that are
saved and current (same code, same configuration) unless --force.
"""

from __future__ import annotations

import argparse
import sys


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def add_run_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument("name", help="experiment name (see `list`), or 'all' for every result the chapters read")
    r.add_argument("--budget", choices=("quick", "full"), default="quick")
    r.add_argument("--seeds", type=int, default=None,
                   help="seeds (default 3; with 'all', each experiment's own number, see `run all --dry-run`)")
    r.add_argument("--out", default=None, help="result file (JSON with provenance); not with 'all'")
    r.add_argument("--out-dir", default=None, help="with 'all': the folder of the result files (book/results)")
    r.add_argument("--jobs", type=int, default=1,
                   help="training runs at once, in worker processes (one GPU shares them; default 1)")
    r.add_argument("--compile", action="store_true", help="with 'all': torch.compile every training run")
    r.add_argument("--dry-run", action="store_true",
                   help="with 'all': print the plan (configurations, tokens, estimated time) and train nothing")
    r.add_argument("--force", action="store_true", help="with 'all': rerun experiments whose file is current")
    r.add_argument("--only", default=None, help="with 'all': comma-separated experiments to consider")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_command(p: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from . import experiments

    if args.jobs < 1:
        p.error(f"--jobs must be a positive integer, got {args.jobs}")
    if args.name == "all":
        return run_all_command(p, args)
    for flag in ("out_dir", "dry_run", "force", "only", "compile"):
        if getattr(args, flag):
            p.error(f"--{flag.replace('_', '-')} works only with 'run all'")
    seeds = 3 if args.seeds is None else args.seeds
    try:  # every argument is checked before anything trains: a typo costs nothing
        experiments.check_run_args(args.name, args.budget, seeds)
        if args.out is not None:
            experiments.check_out(args.out)
    except ValueError as err:
        p.error(str(err))
    result = experiments.run(args.name, budget=args.budget, seeds=seeds, out=args.out,
                             progress=not args.no_progress, jobs=args.jobs)
    print(f"{args.name} ({args.budget}, {seeds} seeds) finished in {result['wall_time']:.1f} s on "
          f"{result['provenance']['device']}" + (f"; wrote {args.out}" if args.out else ""))
    for label, s in (result.get("summary") or {}).items():
        if isinstance(s, dict) and "speedup" in s and "final_val_loss" in s:  # race, ablations
            sp, fl = s["speedup"], s["final_val_loss"]
            print(f"  {label:<8} final val loss {_fmt(fl['mean'])} [{_fmt(fl['min'])}, {_fmt(fl['max'])}]  "
                  f"speedup {_fmt(sp['mean'])} [{_fmt(sp['min'])}, {_fmt(sp['max'])}]"
                  + (f"  ({s['diverged']} diverged)" if s.get("diverged") else ""))
    return 0


def run_all_command(p: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .experiments import run_all

    if args.out is not None:
        p.error("'run all' writes one file per experiment: give --out-dir, not --out")
    if args.seeds is not None:
        p.error("'run all' uses each experiment's own number of seeds (see --dry-run); drop --seeds")
    try:
        plan = run_all.make_plan(args.budget, args.out_dir or str(run_all.results_dir()),
                                 only=args.only, compile=args.compile)
        run_all.check_out_dir(plan.out_dir)
    except ValueError as err:
        p.error(str(err))
    if args.dry_run:
        run_all.print_plan(plan, jobs=args.jobs)
        return 0
    return run_all.run_all(plan, jobs=args.jobs, force=args.force, progress=not args.no_progress)


def main(argv: list[str] | None = None) -> int:
    # torch (through angpt.bench and angpt.experiments) is imported only by the command that
    # needs it, so `python -m angpt --help` answers at once
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog="python -m angpt", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered experiments")
    add_run_arguments(sub.add_parser("run", help="run a registered experiment (or 'all') and write its result as JSON"))
    b = sub.add_parser("bench", help="step time of nGPT and anGPT relative to GPT+")
    if "bench" in argv:
        from . import bench

        bench.add_arguments(b)
    t = sub.add_parser("train", help="train one model (one process, or DDP under torchrun) and write its record")
    if "train" in argv:
        from . import cli_train

        cli_train.add_arguments(t)
    args = p.parse_args(argv)
    if args.command == "train":
        return cli_train.main(args)

    if args.command == "list":
        from . import experiments

        for name, fn in sorted(experiments.EXPERIMENTS.items()):
            doc = (fn.__doc__ or "").strip().splitlines()
            print(f"{name:<16} {doc[0] if doc else ''}")
        return 0
    if args.command == "bench":
        from .experiments import provenance, save

        def save_result(result: dict, path) -> None:
            save({"experiment": result["experiment"], "provenance": provenance(result["device"], seeds=[0]),
                  **result}, path)
        return bench.main(args, save_result)
    return run_command(p, args)


if __name__ == "__main__":
    sys.exit(main())
