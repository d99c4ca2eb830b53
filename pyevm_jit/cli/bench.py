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
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from pyevm_jit import bench
from pyevm_jit.cli.output import check_output_file, write_json
from pyevm_jit.cli.progress import Progress
from pyevm_jit.errors import UsageError
from pyevm_jit.runtime.report import BackendReport, emit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n", 1)[0] if __doc__ else None
    parser.epilog = "profiling: --loop jit --seconds 20, then py-spy record --pid <pid>"
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="FILE|DIR",
        help="bench case files or directories (default: $PYEVM_JIT_BENCH, else fixtures/bench)",
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
    parser.add_argument(
        "--batch-time",
        type=float,
        default=0.02,
        metavar="SECONDS",
        help="consecutive repetitions of one path before the next runs, in seconds of its own "
        "time (0.02; 0: switch paths after every repetition, which times each path with the "
        "others' data in the processor's caches)",
    )
    parser.add_argument("--no-pyrevm", action="store_true", help="leave pyrevm out")
    parser.add_argument(
        "--baseline",
        metavar="FILE.json",
        help="reuse the stock and pyrevm figures and the stock outcome of an earlier --json run "
        "(same fork and scope): only the JIT runs, still checked against that outcome",
    )
    parser.add_argument(
        "--scope",
        choices=bench.OPTION_SCOPES,
        default="message",
        help="time the message (apply_message, default) or the whole transaction "
        "(state.apply_transaction: validation, gas purchase, refunds, fees), or both "
        "(transaction columns beside the message columns)",
    )
    parser.add_argument(
        "--state",
        choices=bench.STATE_MODES,
        default="both",
        help="repetitions on one state, reverted after each (warm: the JIT's read cache and "
        "py-evm's caches hold what the previous run read), on a fresh copy of the persisted "
        "pre-state each (cold: every trie read cold), or both (default; two sets of columns; "
        "--loop: warm unless cold)",
    )
    parser.add_argument(
        "--clock",
        choices=bench.CLOCKS,
        default="wall",
        help="time a repetition by wall clock (default) or by this thread's CPU time (not "
        "inflated by other processes on a shared machine)",
    )
    parser.add_argument(
        "--stock-both",
        action="store_true",
        help="harness self-test: run the stock interpreter on the JIT side too",
    )
    parser.add_argument(
        "--no-tier-up",
        action="store_true",
        help="time the first-tier code (the default times hot code after the runtime's tier-up "
        "recompilation, whose compile time has its own column)",
    )
    parser.add_argument(
        "--regions",
        action="store_true",
        help="the JIT side compiles regions (docs/regions.md), grown by runs of the case from "
        "their side exits before the tier-up and the timed runs",
    )
    parser.add_argument("--json", metavar="FILE", help="write machine-readable results")
    parser.add_argument("--plot", metavar="FILE.png", help="bar chart of the speedups")
    parser.add_argument(
        "--report",
        nargs="?",
        const="-",
        metavar="FILE.json",
        help="print the JIT's per-contract report after the table (or save it to FILE.json)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds before a case's process is killed"
    )
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="measure the cases on a Dask cluster (a scheduler address, or local:N for N local "
        "worker processes; the [cluster] extra): cases are distributed, each measured on one "
        "worker, in a fresh process there, stock and JIT side by side on that worker (a row's "
        "speedup is a same-machine comparison; workers sharing cores slow each other down; "
        "docs/cluster.md)",
    )
    parser.add_argument(
        "--loop",
        choices=bench.SIDES,
        help="profiling: run one path of the first case repeatedly in this process",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of --loop")
    parser.add_argument("--cprofile", metavar="FILE", help="with --loop: run under cProfile")
    parser.add_argument(
        "--compile-times",
        action="store_true",
        help="instead of the benchmark: compile every contract of the PATHs (default: "
        "GeneralStateTests) in this process and report the median compile time",
    )
    parser.add_argument(
        "--limit", type=int, metavar="N", help="--compile-times: every k-th contract, N in all"
    )
    parser.add_argument("--opt-level", type=int, help="--compile-times: optimisation level")
    parser.add_argument(
        "--region-blocks",
        type=int,
        default=0,
        metavar="N",
        help="--compile-times: compile each contract's first region of at most N blocks "
        "(docs/regions.md) instead of the whole contract",
    )
    parser.add_argument(
        "--time-to-native",
        type=float,
        metavar="SECONDS",
        help="also report time to native: a 24 KB contract called in a loop under the default "
        "runtime config until its tier-up code runs, for at most SECONDS (default 120 with "
        "--compile-times, off otherwise; 0 skips)",
    )


def _options(args: argparse.Namespace) -> bench.BenchOptions:
    if args.min_time < 0 or args.min_reps < 1 or args.max_reps < args.min_reps:
        raise UsageError("need --min-time >= 0 and 1 <= --min-reps <= --max-reps")
    if args.batch_time < 0:
        raise UsageError("--batch-time must be at least 0")
    if args.time_to_native is not None and args.time_to_native < 0:
        raise UsageError("--time-to-native must be at least 0")
    if args.baseline and not Path(args.baseline).is_file():
        raise UsageError(f"--baseline: no such file: {args.baseline}")
    try:
        bench.bench_vm_class(args.fork)
    except bench.BenchInputError as exc:
        raise UsageError(str(exc)) from None
    return bench.BenchOptions(
        fork=args.fork.lower(),
        min_time=args.min_time,
        min_reps=args.min_reps,
        max_reps=args.max_reps,
        max_case_time=args.max_case_time,
        warmup=args.warmup,
        pyrevm=not args.no_pyrevm,
        stock_both=args.stock_both,
        tier_up=not args.no_tier_up,
        scope=args.scope,
        state=args.state,
        clock=args.clock,
        batch_time=args.batch_time,
        regions=args.regions,
        baseline=str(Path(args.baseline).resolve()) if args.baseline else None,
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


def run(args: argparse.Namespace) -> int:
    if args.json:
        check_output_file(args.json)  # before a run that may take an hour
    if args.report not in (None, "-"):
        check_output_file(args.report)
    options = _options(args)
    if args.cluster:
        from pyevm_jit.cli.cluster import check_address

        if args.loop or args.compile_times:
            raise UsageError("--cluster applies to the benchmark, not to --loop or --compile-times")
        args.cluster = check_address(args.cluster)
    if args.compile_times:
        return _compile_times(args, options)
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

    results: list[bench.CaseResult] = []
    started = time.perf_counter()
    try:
        if args.cluster:
            from pyevm_jit.cli import bench_cluster

            bench_cluster.measure_on_cluster(args.cluster, cases, options, args.timeout, results)
        else:
            _measure(cases, options, args, results)
        interrupted = False
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: what finished is reported and written
        interrupted = True

    print(bench.format_table(results, markdown=args.markdown))
    elapsed = time.perf_counter() - started
    errors = sum(r.status != "ok" for r in results)
    line = (
        f"{len(results) - errors} measured, {errors} errors in {elapsed:.0f} s "
        f"({bench.machine_description()})"
    )
    if interrupted:
        line += f" (interrupted: {len(cases) - len(results)} of {len(cases)} cases not run)"
    print(line, flush=True)
    if args.json:
        data = bench.results_json(results, options)
        if args.cluster:  # each case measured on one of its workers (docs/cluster.md)
            data["cluster"] = args.cluster
        if interrupted:
            data["interrupted"] = True
            data["not_run"] = len(cases) - len(results)
        write_json(Path(args.json), data, indent=2)
    if args.report:
        reports = [BackendReport.from_dict(r.jit_report) for r in results if r.jit_report]
        emit(BackendReport.merged(reports), args.report, out=sys.stdout)
    if interrupted:
        return 130
    if args.plot:
        bench.plot_speedups(results, args.plot)
    if args.time_to_native and not _time_to_native(args.time_to_native, options.fork):
        return 1
    return 1 if errors else 0


def _measure(
    cases: list[bench.BenchCase],
    options: bench.BenchOptions,
    args: argparse.Namespace,
    results: list[bench.CaseResult],
) -> None:
    """Measure the cases one by one (each in a fresh process), appending to `results`."""
    with Progress(len(cases), "bench", plain_interval=10.0) as progress:
        for index, case in enumerate(cases, 1):
            prefix = f"[{index}/{len(cases)}] {case.name}"
            progress.set_note(f"{case.name} ...")

            def note(message: str, name: str = case.name) -> None:
                progress.set_note(f"{name}: {message}")

            result = bench.run_case_in_subprocess(
                Path(case.path), case.name, options, args.timeout, progress=note
            )
            results.append(result)
            if result.status == "ok":
                summary = f"{bench.fmt_ratio(result.speedup)} over stock"
            else:
                summary = "ERROR"
            progress.write(f"{prefix}: {summary}")
            progress.advance(note="")


def _time_to_native(seconds: float, fork: str) -> bench.TimeToNative | None:
    """Measure and print time to native (None when the JIT's outcome differed)."""
    result = bench.time_to_native(bench.synthetic_case(), fork=fork, limit_seconds=seconds)
    print("\n".join(bench.format_time_to_native(result)))
    print(f"  ({bench.machine_description()})")
    return None if result.error else result


def _loop(case: bench.BenchCase, options: bench.BenchOptions, args: argparse.Namespace) -> int:
    """Run one path of one case repeatedly, for a profiler to watch."""
    side = args.loop
    stock_vm = bench.bench_vm_class(options.fork)
    repeat: Callable[[], int]
    backend: Any = None
    if side == "pyrevm":
        if not bench.pyrevm_available():
            raise UsageError("pyrevm is not installed")
        revm = bench.PyRevmRunner(case, options.fork, clock=options.clock)

        def repeat() -> int:
            return revm.timed()[0]
    else:
        vm_class = stock_vm
        if side == "jit":
            jit_side = bench.make_jit_side(
                case,
                stock_vm,
                stock_both=options.stock_both,
                tier_up=options.tier_up,
                regions=options.regions,
            )
            vm_class, backend = jit_side.vm_class, jit_side.backend
            print(
                f"compiled {jit_side.compiled}/{jit_side.contracts} contracts in "
                f"{jit_side.compile_seconds * 1e3:.0f} ms",
                file=sys.stderr,
            )
            for failure in jit_side.failures:
                print(f"warning: {failure}", file=sys.stderr)
        scope = "transaction" if options.scope == "both" else options.scope
        runner = bench.PyEvmRunner(case, vm_class, scope, clock=options.clock)
        if options.state == "cold":
            runner.pre_state = bench.PreState(case, stock_vm)

        def repeat() -> int:
            return runner.timed_cold()[0] if runner.pre_state else runner.timed()[0]

    def body() -> list[int]:
        times: list[int] = []
        deadline = time.perf_counter() + args.seconds
        while time.perf_counter() < deadline or not times:
            times.append(repeat())
        return times

    try:
        if args.cprofile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            times = profiler.runcall(body)
            profiler.dump_stats(args.cprofile)
            pstats.Stats(args.cprofile).sort_stats("cumulative").print_stats(25)
        else:
            times = body()
    finally:
        if backend is not None:
            backend.close()
    times.sort()
    median = times[len(times) // 2]
    rate = math.nan
    if side != "pyrevm":
        rate = runner.reference().gas_used / (median / 1e9) / 1e6
    print(
        f"{case.name} [{side}]: {len(times)} runs, median {bench.fmt_time(median)}"
        + ("" if math.isnan(rate) else f", {rate:.1f} Mgas/s")
    )
    return 0


def _compile_times(args: argparse.Namespace, options: bench.BenchOptions) -> int:
    """Median (and spread) of the compile time over a corpus of contracts."""
    if args.paths:
        paths = list(args.paths)
    else:
        from pyevm_jit.conformance.fixtures import general_state_tests_dir

        paths = [str(general_state_tests_dir())]
    try:
        codes = bench.corpus_codes(paths)
    except bench.BenchInputError as exc:
        raise UsageError(str(exc)) from None
    if args.limit is not None:
        if args.limit < 1:
            raise UsageError("--limit must be at least 1")
        step = max(1, len(codes) // args.limit)
        codes = codes[::step][: args.limit]
    if not codes:
        raise UsageError("no contracts found")
    if args.region_blocks < 0:
        raise UsageError("--region-blocks must be at least 0")
    fork = options.fork
    # time to native first, in a process that has compiled and linked nothing yet (as a new
    # process of a user's has not): the compile times' engine start-up and linker come after
    limit = 120.0 if args.time_to_native is None else args.time_to_native
    native = _time_to_native(limit, fork) if limit else None
    bench.start_engine(fork, args.opt_level)
    times: list[bench.CompileTime] = []
    with Progress(len(codes), "compile times") as progress:
        for code in codes:
            times.append(bench.compile_time(code, fork, args.opt_level, args.region_blocks))
            progress.advance()
    ok = [t for t in times if not t.error]
    seconds = [t.seconds for t in ok]
    failed = len(times) - len(ok)
    median = bench.percentile(seconds, 0.5)
    print(
        f"{len(ok)} contracts compiled for {fork}"
        + (f" ({failed} failed)" if failed else "")
        + f": median {median * 1e3:.1f} ms, p90 {bench.percentile(seconds, 0.9) * 1e3:.1f} ms,"
        f" max {max(seconds, default=0.0) * 1e3:.0f} ms"
    )
    cpu = [t.cpu_seconds for t in ok]
    if cpu:
        slowest = max(ok, key=lambda t: t.cpu_seconds)
        print(
            f"CPU time: median {bench.percentile(cpu, 0.5) * 1e3:.1f} ms, "
            f"p90 {bench.percentile(cpu, 0.9) * 1e3:.1f} ms, "
            f"max {slowest.cpu_seconds * 1e3:.0f} ms ({slowest.code_len} bytes)"
        )
    if ok:
        phases = {
            name: statistics.median(t.phases.get(name, 0.0) for t in ok)
            for name in ("translate", "optimise", "codegen", "link")
        }
        print("median per phase: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in phases.items()))
        largest = max(ok, key=lambda t: t.code_len)
        print(f"largest contract: {largest.code_len} bytes in {largest.seconds * 1e3:.0f} ms")
    for t in times:
        if t.error:
            print(f"FAIL compile ({t.code_len} bytes): {t.error}")
    if args.json:
        document = {
            "fork": fork,
            "opt_level": args.opt_level,
            "contracts": len(times),
            "failed": failed,
            "median_seconds": None if math.isnan(median) else median,
            "median_cpu_seconds": bench.percentile(cpu, 0.5) if cpu else None,
            "p90_seconds": bench.percentile(seconds, 0.9) if seconds else None,
            "machine": bench.machine_description(),
            "time_to_native": asdict(native) if native is not None else None,
            "times": [asdict(t) for t in times],
        }
        write_json(Path(args.json), document)
    return 1 if failed or (limit and native is None) else 0
