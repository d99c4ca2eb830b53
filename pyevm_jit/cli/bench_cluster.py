"""`pyevm-jit bench --cluster ADDRESS|local:N`: the bench cases measured on a Dask cluster.

The cases are distributed over the cluster's workers, one task per case; each case is measured
the way a local run measures it (`bench.run_case_in_subprocess`: a fresh process on the worker
that got it, the stock interpreter, the JIT and pyrevm side by side in that one process). So a
row's speedup compares the paths on one machine, under one load; absolute times of two rows may
come from two machines. Workers that share a machine's cores slow each other down: on one
machine, `local:N` with N above half the cores inflates the times (`--clock cpu` helps).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from pyevm_jit import bench
from pyevm_jit.cli.cluster import map_on_cluster
from pyevm_jit.cli.progress import Progress


def measure_case(
    case: bench.BenchCase, options: bench.BenchOptions, timeout: float
) -> tuple[bench.CaseResult, str]:
    """A task: one case measured on this worker (and the worker's host name)."""
    result = bench.run_case_in_subprocess(Path(case.path), case.name, options, timeout)
    return result, socket.gethostname()


def measure_on_cluster(
    address: str,
    cases: list[bench.BenchCase],
    options: bench.BenchOptions,
    timeout: float,
    results: list[bench.CaseResult],
) -> None:
    """Measure the cases on the cluster, appending to `results` as they finish (in the cases'
    order at the end)."""
    by_result: dict[int, int] = {}  # id of a result -> the index of its case
    with Progress(len(cases), "bench", plain_interval=10.0, stream=sys.stderr) as progress:
        try:
            for index, answer in map_on_cluster(address, measure_case, cases, options, timeout):
                case = cases[index]
                if isinstance(answer, BaseException):
                    error = f"cluster task failed: {type(answer).__name__}: {answer}"
                    result, host = _error(case, options, error), "?"
                else:
                    result, host = answer
                by_result[id(result)] = index
                results.append(result)
                summary = (
                    f"{bench.fmt_ratio(result.speedup)} over stock"
                    if result.status == "ok"
                    else "ERROR"
                )
                progress.write(f"[{len(results)}/{len(cases)}] {case.name}: {summary} (on {host})")
                progress.advance(note="")
            missing = sorted(set(range(len(cases))) - set(by_result.values()))
            for index in missing:  # the cluster lost all its workers
                result = _error(cases[index], options, "not run: the cluster had no worker")
                by_result[id(result)] = index
                results.append(result)
        finally:
            results.sort(key=lambda r: by_result.get(id(r), len(cases)))


def _error(case: bench.BenchCase, options: bench.BenchOptions, error: str) -> bench.CaseResult:
    return bench.CaseResult(case.name, case.path, options.fork, "error", error)
