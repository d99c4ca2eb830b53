"""`pyevm-jit fuzz`: differential fuzzing of the JIT against stock py-evm.

Programs (stack-aware random bytecode, mutated state-test contracts, adversarial shapes) run
through the JIT and the stock interpreter in the same process; outcomes are compared in full.
The loop runs in worker processes, so a JIT crash is caught, minimised and saved as well.

  short seeded run:                      pyevm-jit fuzz --seconds 60 --seed 1
  long run (30 minutes, main forks):     pyevm-jit fuzz --seconds 1800 --seed $RANDOM
  one fork:                              pyevm-jit fuzz --fork cancun --seconds 600
  customised VMs (overrides, hooks, patches; pyevm_jit/fuzz/customise.py), in this process:
                                         pyevm-jit fuzz --customise --seconds 600
  one customised case again:             pyevm-jit fuzz --customise --seed 3 --case 41

A divergence is minimised and saved under --out (default fixtures/regressions), where
tests/fuzz/test_regressions.py replays it. Exit status: 0 no divergence, 1 divergences, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pyevm_jit.cli import regions_option
from pyevm_jit.errors import UsageError
from pyevm_jit.forks import fork_name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run (default 60)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--fork",
        action="append",
        default=None,
        help="fork to fuzz (repeatable; default: frontier, byzantium, istanbul, berlin, london, "
        "shanghai, cancun, prague, osaka)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where minimised divergences are saved (default fixtures/regressions)",
    )
    parser.add_argument(
        "--max-programs", type=int, default=None, help="stop after this many programs"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run in this process (a JIT crash then ends the run) instead of worker processes",
    )
    parser.add_argument(
        "--customise",
        action="store_true",
        help="fuzz customised VMs: random overrides, hooks and patches of py-evm's VM over "
        "random programs (default forks: berlin, london, shanghai, cancun, prague)",
    )
    parser.add_argument(
        "--case", type=int, default=None, help="with --customise: run only this case of the seed"
    )
    regions_option.add_argument(parser)
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="fuzz on a Dask cluster (a scheduler address, or local:N for N local worker "
        "processes; the [cluster] extra): the run is cut into shards of its own seed, run on "
        "the workers at once; divergences come back minimised and are saved under --out "
        "(docs/cluster.md)",
    )
    parser.add_argument(
        "--minimise-budget",
        type=int,
        default=200,
        help="runs spent minimising one divergence (default 200)",
    )


def run(args: argparse.Namespace) -> int:
    from pyevm_jit import fuzz
    from pyevm_jit.testing import differential as d

    if args.seconds <= 0:
        raise UsageError("--seconds must be positive")
    if args.max_programs is not None and args.max_programs <= 0:
        raise UsageError("--max-programs must be positive")
    if args.case is not None and (not args.customise or args.case < 0):
        raise UsageError("--case needs --customise and a case number >= 0")
    if args.cluster:
        from pyevm_jit.cli.cluster import check_address

        if args.customise or args.in_process:
            raise UsageError("--cluster does not apply to --customise or --in-process")
        args.cluster = check_address(args.cluster)
    wrong = None
    if args.customise:
        wrong = "--regions does not combine with --customise"
    elif args.cluster:  # the forcing reaches local worker processes only (by their environment)
        wrong = "--regions does not combine with --cluster"
    regions_option.apply(args, wrong, args.seed)
    if args.customise:
        return _run_customised(args)
    out_dir = args.out if args.out is not None else fuzz.regressions_dir()
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is not a directory")
    plan = fuzz.FuzzPlan(
        args.seconds,
        args.seed,
        _forks(args.fork or d.MAIN_FORKS),
        out_dir,
        max_programs=args.max_programs,
        minimise_budget=args.minimise_budget,
    )
    print(
        f"fuzzing {', '.join(plan.forks)} for {args.seconds:g}s, seed {args.seed}; "
        f"divergences go to {out_dir}",
        file=sys.stderr,
    )
    try:
        if args.cluster:
            from pyevm_jit.cli.fuzz_cluster import fuzz_on_cluster

            report = fuzz_on_cluster(args.cluster, plan)
        else:
            report = (fuzz.fuzz if args.in_process else fuzz.fuzz_isolated)(plan)
    finally:
        d.close_backend()
    print(report.summary())
    return 1 if report.divergences else 0


def _forks(names: Sequence[str]) -> list[str]:
    """The canonical names of the forks `names` (UsageError naming one that is not a fork)."""
    try:
        return [fork_name(name) for name in names]
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _run_customised(args: argparse.Namespace) -> int:
    from pyevm_jit.fuzz import customise

    forks = _forks(args.fork or customise.DEFAULT_FORKS)
    print(
        f"fuzzing customised VMs on {', '.join(forks)} for {args.seconds:g}s, seed {args.seed}",
        file=sys.stderr,
    )
    report = customise.fuzz_customised(
        args.seconds, args.seed, tuple(forks), max_cases=args.max_programs, only_case=args.case
    )
    print(report.summary())
    return 1 if report.divergences else 0
