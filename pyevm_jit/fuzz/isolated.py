"""Crash isolation: the fuzz loop runs in a worker process (`python -m pyevm_jit.fuzz worker`);
a JIT crash (segfault, abort) kills only the worker, and the supervisor (`fuzz_isolated`) saves
the program that was running, minimised in replay processes, and starts another worker."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from pyevm_jit.files import atomic_write
from pyevm_jit.fuzz.loop import FuzzPlan, FuzzReport, fuzz, injected_crash, write_json
from pyevm_jit.fuzz.regressions import minimise, save_regression
from pyevm_jit.runtime import children
from pyevm_jit.testing import differential as d

# ---------------------------------------------------------------------------------------------
# Crash isolation: the fuzz loop runs in a worker process; a JIT crash (segfault, abort) kills
# only the worker, and the supervisor saves the program that was running and starts another.


def _report_to_json(report: FuzzReport) -> dict[str, Any]:
    return {
        "seconds": report.seconds,
        "programs": report.programs,
        "native_runs": report.native_runs,
        "interpreted_runs": report.interpreted_runs,
        "divergences": report.divergences,
        "side_exits": report.side_exits,
        "by_generator": dict(report.by_generator),
        "executed": {str(k): v for k, v in report.executed.items()},
        "fixtures": [str(p) for p in report.fixtures],
    }


def _merge_report(total: FuzzReport, data: dict[str, Any]) -> None:
    total.programs += int(data["programs"])
    total.native_runs += int(data["native_runs"])
    total.interpreted_runs += int(data["interpreted_runs"])
    total.divergences += int(data["divergences"])
    total.side_exits += int(data.get("side_exits", 0))
    total.by_generator.update(data["by_generator"])
    total.executed.update({int(k): v for k, v in data["executed"].items()})
    total.fixtures += [Path(p) for p in data["fixtures"]]


def shrink_history(
    scenario: d.Scenario, history: list[d.Scenario], budget: int
) -> list[d.Scenario]:
    """Drop earlier programs (halves, then single ones) while the crash still recurs."""
    tries = 0
    chunk = max(1, len(history) // 2)
    while chunk >= 1 and tries < budget and history:
        start = 0
        while start < len(history) and tries < budget:
            candidate = history[:start] + history[start + chunk :]
            tries += 1
            if replay_in_subprocess(scenario, history=candidate):
                history = candidate
            else:
                start += chunk
        if chunk == 1:
            break
        chunk //= 2
    return history


def replay_in_subprocess(
    scenario: d.Scenario, timeout: float = 300.0, history: Sequence[d.Scenario] = ()
) -> list[str]:
    """Differences of `scenario` computed in a fresh process (after running the `history`
    programs there first); a process killed by a signal is reported as a crash difference."""

    with tempfile.TemporaryDirectory(prefix="pyevm-jit-replay-") as tmp:
        case = Path(tmp) / "case.json"
        document = [h.to_json() for h in history] + [scenario.to_json()] if history else None
        atomic_write(case, json.dumps(document or scenario.to_json()).encode())
        try:
            proc = children.run(
                "pyevm_jit.fuzz",
                "replay",
                str(case),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return [f"crash: replay timed out after {timeout:g}s"]
    if proc.returncode < 0 or proc.returncode not in (0, 1):
        tail = (proc.stderr.strip().splitlines() or [""])[-1][:200]
        return [f"crash: process died (status {proc.returncode}) {tail}".rstrip()]
    lines = proc.stdout.strip().splitlines()
    return list(json.loads(lines[-1])) if lines else ["crash: replay printed nothing"]


def fuzz_isolated(
    plan: FuzzPlan,
    *,
    stream: TextIO | None = None,
    crash_minimise_budget: int = 30,
    quiet_workers: bool = False,
) -> FuzzReport:
    """`fuzz` in worker processes: when the JIT kills a worker, the program it was running is
    minimised (each candidate in a fresh process, `crash_minimise_budget` runs) and saved, and
    a new worker carries on with the next seed until the time is up. `quiet_workers`: the
    worker processes' own lines (progress, divergences) are not shown, only `stream`'s (a
    worker that ends abnormally is reported there with the last line it wrote)."""

    stream = stream if stream is not None else sys.stderr
    seed, out_dir, max_programs = plan.seed, plan.out_dir, plan.max_programs
    total = FuzzReport(forks=tuple(plan.forks))
    start = time.monotonic()
    deadline = start + plan.seconds
    worker_seed = seed
    known_crashes: list[bytes] = []  # minimised crashing codes: a program containing one is
    # counted but not minimised again
    with tempfile.TemporaryDirectory(prefix="pyevm-jit-fuzz-") as tmp:
        current = Path(tmp) / "current.json"
        report_file = Path(tmp) / "report.json"
        while True:
            left = deadline - time.monotonic()
            if left <= 1 or (max_programs is not None and total.programs >= max_programs):
                break
            for path in (current, report_file):
                path.unlink(missing_ok=True)
            left_programs = None if max_programs is None else max_programs - total.programs
            worker_plan = replace(plan, seconds=left, seed=worker_seed, max_programs=left_programs)
            proc = children.run(
                "pyevm_jit.fuzz", "worker",
                json.dumps({
                    "plan": worker_plan.to_json(),
                    "current": str(current),
                    "report": str(report_file),
                }),
                **({"stderr": subprocess.PIPE, "text": True} if quiet_workers else {}),
            )  # fmt: skip
            if report_file.exists():
                _merge_report(total, json.loads(report_file.read_text()))
                if proc.returncode in (0, 1):
                    break
            if not current.exists():
                last = (proc.stderr or "").strip().splitlines()[-1:]  # quiet_workers only
                print(
                    f"fuzz worker ended with status {proc.returncode}"
                    + (f": {last[0][:200]}" if last else ""),
                    file=stream,
                )
                break
            # the worker died while the JIT ran `current`
            crashed = json.loads(current.read_text())
            scenario = d.Scenario.from_json(crashed["scenario"])
            total.programs += 1 + int(crashed.get("programs_before", 0))
            total.divergences += 1
            worker_seed += 1_000_003
            if any(known in scenario.code for known in known_crashes):
                print(f"\ncrash (status {proc.returncode}) of a known kind", file=stream)
                continue
            print(
                f"\ncrash (status {proc.returncode}) on {crashed.get('generator')} program "
                f"({scenario.fork}, {len(scenario.code)} bytes); minimising in fresh processes",
                file=stream,
            )
            found_by = f"pyevm-jit fuzz --seed {seed} (worker seed {worker_seed}, crash)"
            history = [d.Scenario.from_json(h) for h in crashed.get("history", [])]
            small, diffs = minimise(
                scenario,
                replay_in_subprocess,
                budget=crash_minimise_budget,
                deadline=time.monotonic() + 600,
            )
            if diffs:
                path = save_regression(small, diffs, out_dir, found_by=found_by)
            else:
                # not on its own: try again after the programs the worker ran before it
                diffs = replay_in_subprocess(scenario, history=history) if history else []
                if diffs:
                    history = shrink_history(scenario, history, crash_minimise_budget)
                    diffs = [f"{diffs[0]} (after {len(history)} earlier programs)"]
                    path = save_regression(
                        scenario, diffs, out_dir, found_by=found_by, history=history
                    )
                else:
                    path = save_regression(
                        scenario,
                        [f"crash: process died (status {proc.returncode}); not reproduced"],
                        out_dir,
                        found_by=found_by,
                        history=history,
                        suffix=".unreproduced",
                    )
                    print(f"crash not reproduced in a fresh process -> {path}", file=stream)
                    continue
            total.fixtures.append(path)
            known_crashes.append(small.code)
            print(f"crash: {diffs[0]} -> {path}", file=stream)
    total.seconds = time.monotonic() - start
    return total


def worker_main(argv: Sequence[str]) -> int:
    """Entry points of the worker and replay processes (not a user command)."""
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)  # py-evm's SELFDESTRUCT notice
    if len(argv) == 2 and argv[0] == "replay":
        data = json.loads(Path(argv[1]).read_text())
        cases = [d.Scenario.from_json(x) for x in (data if isinstance(data, list) else [data])]
        for earlier in cases[:-1]:  # the same work the worker did before the crash
            d.run_stock(earlier)
            injected_crash(earlier)
            d.run_jit(earlier)
        scenario = cases[-1]
        stock = d.run_stock(scenario)
        injected_crash(scenario)
        jit = d.run_jit(scenario)
        gc.collect()
        diffs = d.compare(stock, jit)
        d.close_backend()
        print(json.dumps(diffs))
        return 1 if diffs else 0
    if len(argv) == 2 and argv[0] == "worker":
        opts = json.loads(argv[1])
        report = fuzz(FuzzPlan.from_json(opts["plan"]), current_file=Path(opts["current"]))
        Path(opts["current"]).unlink(missing_ok=True)
        write_json(Path(opts["report"]), _report_to_json(report))
        d.close_backend()
        return 1 if report.divergences else 0
    print(
        "usage: python -m pyevm_jit.fuzz (worker OPTIONS_JSON | replay CASE_JSON)", file=sys.stderr
    )
    return 2
