"""`pyevm-jit bench`: the JIT against py-evm's stock interpreter (and pyrevm) on bench cases.

Each case runs in a process of its own; the table goes to stdout, progress to stderr.
Exit status: 0 when every case was measured, 1 when a case is an error row (the paths
disagreed, or the JIT failed), 2 for bad input.

Profiling recipe (py-spy is pip-installable: ``pip install py-spy``)::

    pyevm-jit bench snailtracer.json --loop jit --seconds 20 &    # one path, in this process
    py-spy record -o jit.svg --pid $!                              # or: py-spy top --pid $!
    pyevm-jit bench snailtracer.json --loop jit --seconds 5 --cprofile jit.pstats

``--loop SIDE`` runs one path of the (first) case over and over in this process for
``--seconds`` seconds with no subprocess, so a sampling profiler sees exactly that path;
``--cprofile FILE`` does the same under cProfile, writes the stats to FILE and prints the top
functions by cumulative time.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from pyevm_jit import bench
from pyevm_jit.cli import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n", 1)[0] if __doc__ else None
    parser.epilog = "profiling: --loop jit --seconds 20, then py-spy record --pid <pid>"
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="FILE|DIR",
        help="bench case files or directories (default: the shared bench directory)",
    )
    parser.add_argument("-k", dest="filter", help="only cases whose name contains this")
    parser.add_argument("--fork", default=bench.DEFAULT_FORK, help="py-evm fork (default cancun)")
    parser.add_argument(
        "--min-time", type=float, default=0.5, help="seconds of timed runs per path (0.5)"
    )
    parser.add_argument("--min-reps", type=int, default=3, help="repetitions per path, at least")
    parser.add_argument("--max-reps", type=int, default=100_000, help="repetitions, at most")
    parser.add_argument(
        "--max-case-time", type=float, default=120.0, help="wall-clock cap per case (s)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per path (2)")
    parser.add_argument("--no-pyrevm", action="store_true", help="leave pyrevm out")
    parser.add_argument(
        "--stock-both",
        action="store_true",
        help="harness self-test: run the stock interpreter on the JIT side too",
    )
    parser.add_argument("--json", metavar="FILE", help="write machine-readable results")
    parser.add_argument("--plot", metavar="FILE.png", help="bar chart of the speedups")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds before a case's process is killed"
    )
    parser.add_argument(
        "--loop",
        choices=bench.SIDES,
        help="profiling: run one path of the first case repeatedly in this process",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of --loop")
    parser.add_argument("--cprofile", metavar="FILE", help="with --loop: run under cProfile")


def _options(args: argparse.Namespace) -> bench.BenchOptions:
    if args.min_time < 0 or args.min_reps < 1 or args.max_reps < args.min_reps:
        raise UsageError("need --min-time >= 0 and 1 <= --min-reps <= --max-reps")
    if args.fork.lower() not in bench.FORKS:
        raise UsageError(f"unknown fork {args.fork!r} (choose from {', '.join(bench.FORKS)})")
    return bench.BenchOptions(
        fork=args.fork.lower(),
        min_time=args.min_time,
        min_reps=args.min_reps,
        max_reps=args.max_reps,
        max_case_time=args.max_case_time,
        warmup=args.warmup,
        pyrevm=not args.no_pyrevm,
        stock_both=args.stock_both,
    )


def _collect(args: argparse.Namespace) -> list[bench.BenchCase]:
    paths = args.paths or [str(bench.default_bench_dir())]
    try:
        cases = [case for f in bench.discover_files(paths) for case in bench.load_cases(f)]
    except bench.BenchInputError as exc:
        raise UsageError(str(exc)) from None
    if args.filter:
        cases = [c for c in cases if args.filter in c.name]
    if not cases:
        raise UsageError("no bench cases selected")
    return cases


class _Progress:
    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.width = 0

    def show(self, text: str) -> None:
        if self.tty:
            pad = max(0, self.width - len(text))
            sys.stderr.write("\r" + text + " " * pad)
            self.width = len(text)
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()
        self.width = 0


def run(args: argparse.Namespace) -> int:
    options = _options(args)
    cases = _collect(args)
    if args.loop:
        return _loop(cases[0], options, args)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError(
                "--plot needs matplotlib: pip install 'pyevm-jit[bench]' (or matplotlib)"
            ) from None
    if options.pyrevm and not bench.pyrevm_available():
        print(
            "pyrevm not installed: no pyrevm column (pip install 'pyevm-jit[bench]')",
            file=sys.stderr,
        )
        options = replace(options, pyrevm=False)

    progress = _Progress()
    results: list[bench.CaseResult] = []
    started = time.perf_counter()
    for index, case in enumerate(cases, 1):
        progress.show(f"[{index}/{len(cases)}] {case.name} ...")
        result = bench.run_case_in_subprocess(Path(case.path), case.name, options, args.timeout)
        results.append(result)
        if result.status == "ok":
            summary = f"{bench._fmt_ratio(result.speedup)} over stock"
        else:
            summary = "ERROR"
        progress.show(f"[{index}/{len(cases)}] {case.name}: {summary}")
        if not progress.tty:
            continue
        progress.done()
    progress.done()

    print(bench.format_table(results, markdown=args.markdown))
    elapsed = time.perf_counter() - started
    errors = sum(r.status != "ok" for r in results)
    print(
        f"{len(results) - errors} measured, {errors} errors in {elapsed:.0f} s "
        f"({bench.machine_description()})"
    )
    if args.json:
        data = bench.results_json(results, options)
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    if args.plot:
        bench.plot_speedups(results, args.plot)
    return 1 if errors else 0


def _loop(case: bench.BenchCase, options: bench.BenchOptions, args: argparse.Namespace) -> int:
    """Run one path of one case repeatedly, for a profiler to watch."""
    side = args.loop
    stock_vm = bench.vm_class_for_fork(options.fork)
    repeat: Callable[[], int]
    if side == "pyrevm":
        if not bench.pyrevm_available():
            raise UsageError("pyrevm is not installed")
        revm = bench.PyRevmRunner(case, options.fork)

        def repeat() -> int:
            return revm.timed()[0]
    else:
        vm_class = stock_vm
        if side == "jit":
            jit_side = bench.make_jit_side(case, stock_vm, stock_both=options.stock_both)
            vm_class = jit_side.vm_class
            print(
                f"compiled {jit_side.compiled}/{jit_side.contracts} contracts in "
                f"{jit_side.compile_seconds * 1e3:.0f} ms",
                file=sys.stderr,
            )
        runner = bench.PyEvmRunner(case, vm_class)

        def repeat() -> int:
            return runner.timed()[0]

    def body() -> list[int]:
        times: list[int] = []
        deadline = time.perf_counter() + args.seconds
        while time.perf_counter() < deadline or not times:
            times.append(repeat())
        return times

    if args.cprofile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        times = profiler.runcall(body)
        profiler.dump_stats(args.cprofile)
        pstats.Stats(args.cprofile).sort_stats("cumulative").print_stats(25)
    else:
        times = body()
    times.sort()
    median = times[len(times) // 2]
    rate = math.nan
    if side != "pyrevm":
        rate = runner.timed()[1].gas_used / (median / 1e9) / 1e6
    print(
        f"{case.name} [{side}]: {len(times)} runs, median {bench._fmt_time(median)}"
        + ("" if math.isnan(rate) else f", {rate:.1f} Mgas/s")
    )
    return 0
