"""Measuring one case: the paths checked against each other, then timed alternately
(`measure_case`), in a process of its own (`run_case_in_subprocess`)."""

from __future__ import annotations

import gc
import json
import math
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak

from pyevm_jit.bench.cases import DEFAULT_FORK, BenchCase, BenchInputError, find_case
from pyevm_jit.bench.sides import (
    SIDES,
    JitSide,
    PreState,
    PyEvmRunner,
    PyRevmRunner,
    backend_counters,
    bench_vm_class,
    digest_differences,
    expected_tx_gas,
    make_jit_side,
    pyrevm_available,
    pyrevm_gas_ok,
)
from pyevm_jit.files import load_json
from pyevm_jit.runtime import children

PROGRESS = Callable[[str], None]


@dataclass
class BenchOptions:
    fork: str = DEFAULT_FORK
    min_time: float = 0.5  # seconds of timed runs per path
    min_reps: int = 3
    max_reps: int = 100_000
    max_case_time: float = 120.0  # wall-clock budget for the repetitions of one case
    warmup: int = 2
    pyrevm: bool = True
    stock_both: bool = False  # harness self-test: the stock VM on the JIT side too
    scope: str = "message"  # what is timed: "message", "transaction" or "both"
    baseline: str | None = None  # JSON of an earlier run: its stock/pyrevm figures are reused
    tier_up: bool = True  # time the tier-up build (steady state of hot code), not the first tier
    state: str = "both"  # repetitions on one state (warm), on fresh states (cold), or both
    clock: str = "wall"  # what a repetition's time is: "wall" or "cpu" (this thread's CPU time)
    #: seconds of consecutive repetitions of one path before the next path runs (0: every
    #: round runs each path once, or as often as keeps its pace with the slowest)
    batch_time: float = 0.02
    #: the JIT side compiles regions (docs/regions.md), grown before the timed runs
    regions: bool = False


@dataclass
class SideStats:
    median_ns: int = 0
    min_ns: int = 0
    reps: int = 0
    total_ns: int = 0


@dataclass
class CaseResult:
    name: str
    path: str
    fork: str
    status: str = "ok"  # ok | error
    error: str = ""
    gas_used: int = 0
    tx_gas_used: int = 0
    success: bool = False
    stock: SideStats = field(default_factory=SideStats)
    jit: SideStats = field(default_factory=SideStats)
    pyrevm: SideStats | None = None
    pyrevm_error: str = ""
    stock_cold: SideStats | None = None  # fresh pre-state per repetition (PyEvmRunner.timed_cold)
    jit_cold: SideStats | None = None
    stock_tx: SideStats | None = None  # the whole transaction (--scope both), warm
    jit_tx: SideStats | None = None
    compile_seconds: float = 0.0
    compile_wall_seconds: float = 0.0
    tier_up_seconds: float = 0.0
    compile_phases: dict[str, float] = field(default_factory=dict)
    contracts: int = 0
    contracts_compiled: int = 0
    compile_failures: list[str] = field(default_factory=list)
    #: side exits of region programs: before the timed runs (growing), during them
    side_exits_before: int = 0
    side_exits: int = 0
    native: bool = False
    jit_counters: dict[str, Any] = field(default_factory=dict)
    #: the JIT backend's per-contract report (`runtime.report`), with one interpreted run
    jit_report: dict[str, Any] = field(default_factory=dict)
    stock_both: bool = False
    reference: dict[str, Any] = field(default_factory=dict)  # PathOutcome.digest() of stock
    baseline: str = ""  # file the stock and pyrevm figures come from, when reused

    @property
    def speedup(self) -> float:
        if self.status != "ok" or not self.jit.median_ns:
            return math.nan
        return self.stock.median_ns / self.jit.median_ns

    @property
    def speedup_cold(self) -> float:
        if self.status != "ok" or not self.jit_cold or not self.stock_cold:
            return math.nan
        return self.stock_cold.median_ns / self.jit_cold.median_ns

    @property
    def speedup_tx(self) -> float:
        if self.status != "ok" or not self.jit_tx or not self.stock_tx:
            return math.nan
        return self.stock_tx.median_ns / self.jit_tx.median_ns

    @property
    def jit_tx_vs_pyrevm(self) -> float:
        """JIT transaction time / pyrevm time (pyrevm's `message_call` is a transaction)."""
        if self.status != "ok" or not self.jit_tx or self.pyrevm is None:
            return math.nan
        return self.jit_tx.median_ns / self.pyrevm.median_ns if self.pyrevm.median_ns else math.nan

    @property
    def jit_vs_pyrevm(self) -> float:
        """JIT time / pyrevm time (below 1: the JIT is faster)."""
        if self.status != "ok" or self.pyrevm is None or not self.pyrevm.median_ns:
            return math.nan
        return self.jit.median_ns / self.pyrevm.median_ns

    def mgas_per_s(self, side: str) -> float:
        stats: SideStats | None = getattr(self, side)
        if self.status != "ok" or stats is None or not stats.median_ns:
            return math.nan
        return self.gas_used / (stats.median_ns / 1e9) / 1e6

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["speedup"] = nan_to_none(self.speedup)
        data["speedup_cold"] = nan_to_none(self.speedup_cold)
        data["speedup_tx"] = nan_to_none(self.speedup_tx)
        data["jit_tx_vs_pyrevm"] = nan_to_none(self.jit_tx_vs_pyrevm)
        data["jit_vs_pyrevm"] = nan_to_none(self.jit_vs_pyrevm)
        data["mgas_per_s"] = {s: nan_to_none(self.mgas_per_s(s)) for s in SIDES}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseResult:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for side in (*SIDES, "stock_cold", "jit_cold", "stock_tx", "jit_tx"):
            if fields.get(side) is not None:
                fields[side] = SideStats(**fields[side])
        return cls(**fields)


def nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def measure_case(
    case: BenchCase, options: BenchOptions, progress: PROGRESS | None = None
) -> CaseResult:
    """Set up, check and time one case in this process."""
    note = progress or (lambda _msg: None)
    stock_vm = bench_vm_class(options.fork)
    result = CaseResult(case.name, case.path, options.fork, stock_both=options.stock_both)

    note("setting up")
    stock = PyEvmRunner(case, stock_vm, _main_scope(options), clock=options.clock)
    note("compiling")
    try:
        jit_side = make_jit_side(
            case,
            stock_vm,
            stock_both=options.stock_both,
            tier_up=options.tier_up,
            regions=options.regions,
        )
    except Exception as exc:  # the JIT could not even be set up: an error row
        result.status, result.error = "error", f"JIT set-up failed: {exc!r}"[:300]
        return result
    try:
        result = _check_and_time(case, options, note, result, stock, jit_side)
        if jit_side.backend is not None and result.status == "ok":
            result.jit_report = _report(case, options, jit_side)
        return result
    finally:
        if jit_side.backend is not None:
            jit_side.backend.close()


def _report(case: BenchCase, options: BenchOptions, jit_side: JitSide) -> dict[str, Any]:
    """The backend's per-contract report after one more run with the runtime switched off:
    every message of that run is interpreted (counted Disabled), which gives each contract
    its interpreted time and so the report its saved estimate."""
    backend = jit_side.backend
    assert backend is not None
    for i, code in enumerate(case.codes()):
        backend.label(keccak(code), case.name if i == 0 else f"{case.name}#{i}")
    backend.set_enabled(False)
    PyEvmRunner(case, jit_side.vm_class, _main_scope(options), clock=options.clock).timed()
    return backend.report().as_dict()


def _side_exits(jit_side: JitSide) -> int:
    backend = jit_side.backend
    return 0 if backend is None else sum(backend.side_exits().values())


def _check_and_time(
    case: BenchCase,
    options: BenchOptions,
    note: PROGRESS,
    result: CaseResult,
    stock: PyEvmRunner,
    jit_side: JitSide,
) -> CaseResult:
    result.compile_seconds = jit_side.compile_seconds
    result.compile_wall_seconds = jit_side.wall_seconds
    result.tier_up_seconds = jit_side.tier_up_seconds
    result.compile_phases = jit_side.phases
    result.contracts, result.contracts_compiled = jit_side.contracts, jit_side.compiled
    result.compile_failures = list(jit_side.failures)
    jit = PyEvmRunner(case, jit_side.vm_class, _main_scope(options), clock=options.clock)
    if options.state != "warm":  # one persisted pre-state, copied into a new database per run
        pre_state = PreState(case, bench_vm_class(options.fork))
        stock.pre_state = jit.pre_state = pre_state

    # correctness first, on fresh states, state roots included
    note("checking")
    base = _baseline_entry(case, options)
    try:
        jit_outcome = jit.reference()
    except Exception as exc:
        result.status, result.error = "error", f"JIT run raised {exc!r}"[:300]
        return result
    if base is not None:
        result.reference = dict(base["reference"])
        result.baseline = str(options.baseline)
        result.gas_used, result.success = int(base["gas_used"]), bool(base["success"])
        result.tx_gas_used = int(base.get("tx_gas_used", 0))
    else:
        reference = stock.reference()
        result.reference = reference.digest()
        result.gas_used, result.success = reference.gas_used, reference.success
        intrinsic = case.tx.gas_limit - stock.message_gas
        result.tx_gas_used = expected_tx_gas(reference, intrinsic, options.fork)
    diffs = digest_differences(result.reference, jit_outcome.digest())
    if diffs:
        result.status, result.error = "error", "stock/JIT mismatch: " + "; ".join(diffs)
        return result
    transactions = None
    if options.scope == "both":
        transactions = _transaction_runners(case, options, jit_side)
    if isinstance(transactions, str):
        result.status, result.error = "error", transactions
        return result

    revm: PyRevmRunner | None = None
    if base is None and options.pyrevm and pyrevm_available():
        revm = PyRevmRunner(case, options.fork, clock=options.clock)
        _ns, (ok, gas, out, nlogs) = revm.timed()
        expected = (reference.success, reference.output, len(reference.logs))
        gas_ok = pyrevm_gas_ok(result.tx_gas_used, gas, revm.prestorage_slots)
        if (ok, out, nlogs) != expected or not gas_ok:
            result.pyrevm_error = (
                f"pyrevm disagrees: success {ok}, gas {gas}, logs {nlogs} "
                f"(py-evm: {expected[0]}, {result.tx_gas_used}, {expected[2]}); not timed"
            )
            revm = None
        elif gas != result.tx_gas_used:
            result.pyrevm_error = (
                f"pyrevm gas {gas} vs {result.tx_gas_used}: pre-state slots warm/dirty in pyrevm"
            )

    runners: dict[str, Callable[[], int]] = {}
    cold_runners: dict[str, Callable[[], int]] = {}
    mismatch: list[str] = []

    def pyevm_rep(runner: PyEvmRunner, side: str, cold: bool = False) -> Callable[[], int]:
        timed = runner.timed_cold if cold else runner.timed

        def rep() -> int:
            ns, outcome = timed()
            if not mismatch:
                diffs = digest_differences(result.reference, outcome.digest(), with_root=False)
                if diffs:
                    mismatch.append(f"{side} repetition differs: " + "; ".join(diffs))
            return ns

        return rep

    if options.state != "cold":
        if base is None:
            runners["stock"] = pyevm_rep(stock, "stock")
        runners["jit"] = pyevm_rep(jit, "JIT")
    if options.state != "warm":
        if base is None:
            cold_runners["stock_cold"] = pyevm_rep(stock, "stock (cold)", cold=True)
        cold_runners["jit_cold"] = pyevm_rep(jit, "JIT (cold)", cold=True)
    if transactions is not None and options.state != "cold":
        stock_tx, jit_tx, tx_reference = transactions
        for side, runner in (("stock_tx", stock_tx), ("jit_tx", jit_tx)):
            runners[side] = _checked_rep(runner, side, tx_reference, mismatch)
    if revm is not None and options.state != "cold":
        revm_runner = revm

        def revm_rep() -> int:
            return revm_runner.timed()[0]

        runners["pyrevm"] = revm_rep

    before = backend_counters(jit_side.backend)
    result.side_exits_before = _side_exits(jit_side)
    samples = _alternate(runners, options, note) if runners else {}
    if cold_runners:
        note("fresh pre-state per repetition")
        samples.update(_alternate(cold_runners, options, note))
    after = backend_counters(jit_side.backend)
    result.side_exits = _side_exits(jit_side) - result.side_exits_before
    if mismatch:
        result.status, result.error = "error", mismatch[0]
        return result

    for side, values in samples.items():
        stats = SideStats(
            median_ns=int(statistics.median(values)),
            min_ns=min(values),
            reps=len(values),
            total_ns=sum(values),
        )
        setattr(result, side, stats)
    if base is not None:  # stock (and pyrevm) figures of the baseline run
        if base.get("stock_cold") and options.state != "warm":
            result.stock_cold = SideStats(**base["stock_cold"])
        if options.state == "cold":
            return result
        result.stock = SideStats(**base["stock"])
        if base.get("pyrevm"):
            result.pyrevm = SideStats(**base["pyrevm"])
        result.pyrevm_error = str(base.get("pyrevm_error", ""))
    if after:
        result.jit_counters = after
        result.native = after["lookup_hits"] > before.get("lookup_hits", 0)
    return result


def _main_scope(options: BenchOptions) -> str:
    """The scope of the stock and JIT columns (`--scope both`: the message)."""
    return "message" if options.scope == "both" else options.scope


def _transaction_runners(
    case: BenchCase, options: BenchOptions, jit_side: JitSide
) -> tuple[PyEvmRunner, PyEvmRunner, dict[str, Any]] | str:
    """Stock and JIT runners of the whole transaction (`--scope both`) and the stock
    transaction's outcome, checked against the JIT's on fresh states (an error text if they
    differ)."""
    stock_vm = bench_vm_class(options.fork)
    stock = PyEvmRunner(case, stock_vm, "transaction", clock=options.clock)
    jit = PyEvmRunner(case, jit_side.vm_class, "transaction", clock=options.clock)
    reference = stock.reference().digest()
    diffs = digest_differences(reference, jit.reference().digest())
    if diffs:
        return "stock/JIT transaction mismatch: " + "; ".join(diffs)
    return stock, jit, reference


def _checked_rep(
    runner: PyEvmRunner, side: str, reference: dict[str, Any], mismatch: list[str]
) -> Callable[[], int]:
    """One timed warm repetition of `runner`, its outcome checked against `reference`."""

    def rep() -> int:
        ns, outcome = runner.timed()
        if not mismatch:
            diffs = digest_differences(reference, outcome.digest(), with_root=False)
            if diffs:
                mismatch.append(f"{side} repetition differs: " + "; ".join(diffs))
        return ns

    return rep


def _baseline_entry(case: BenchCase, options: BenchOptions) -> dict[str, Any] | None:
    """The case's entry in the --baseline JSON (None without a baseline). The baseline must be
    an error-free run of the same case, fork and scope."""
    if not options.baseline:
        return None
    try:
        data = load_json(options.baseline)
    except (OSError, ValueError) as exc:
        raise BenchInputError(f"--baseline: cannot read {options.baseline} ({exc})") from None
    saved = data.get("options", {}) if isinstance(data, dict) else {}
    defaults = {"scope": "message", "clock": "wall"}
    for key in ("fork", "scope", "clock"):
        if saved.get(key, defaults.get(key)) != getattr(options, key):
            raise BenchInputError(f"--baseline: it was run with another {key}")
    for entry in data.get("cases", []):
        if entry.get("name") == case.name and entry.get("status") == "ok":
            warm = (entry.get("stock") or {}).get("median_ns")
            cold = (entry.get("stock_cold") or {}).get("median_ns")
            if options.state != "warm" and not cold:
                raise BenchInputError(
                    f"--baseline: no fresh-state (cold) figures for {case.name}; "
                    "run with --state warm or use a baseline run with cold figures"
                )
            if entry.get("reference") and (warm or options.state == "cold"):
                return dict(entry)
    raise BenchInputError(f"--baseline: no usable result for {case.name} in {options.baseline}")


def _alternate(
    runners: dict[str, Callable[[], int]], options: BenchOptions, note: PROGRESS
) -> dict[str, list[int]]:
    """Warm up, then run the paths in alternation until each has enough repetitions and time.

    Each round runs every unfinished path for a batch of consecutive repetitions (`_batches`);
    the order of the paths flips every round."""
    samples: dict[str, list[int]] = {side: [] for side in runners}
    one: dict[str, int] = {}
    for side, run in runners.items():
        # warm-up (the reference run already warmed the code paths once); a run slower than a
        # second is not repeated: it counts as the first sample
        spent = 0
        for _ in range(max(1, options.warmup)):
            ns = max(1, run())
            spent += ns
            if ns > 1_000_000_000:
                samples[side].append(ns)
                break
            if spent > 1_000_000_000:
                break
        one[side] = ns
    batch = _batches(one, options)
    slowest = max(one.values())
    min_ns = int(options.min_time * 1e9)
    deadline = time.perf_counter() + options.max_case_time

    def done(side: str) -> bool:
        values = samples[side]
        if len(values) >= options.max_reps:
            return True
        return len(values) >= options.min_reps and sum(values) >= min_ns

    # Garbage collection: off while timing; a collection every second of wall time, followed
    # by one untimed run of every path (a collection leaves the caches cold for the next run).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    last_collect = time.perf_counter()
    rounds = 0
    try:
        while not all(done(side) for side in runners):
            if time.perf_counter() - last_collect > 1.0:
                gc.collect()
                for run in runners.values():
                    run()
                last_collect = time.perf_counter()
            order = list(runners.items())
            if rounds % 2:
                order.reverse()  # no path always runs first in a round
            for side, run in order:
                if done(side):
                    continue
                values = samples[side]
                for _ in range(min(batch[side], options.max_reps - len(values))):
                    values.append(run())
            rounds += 1
            if rounds % 20 == 0 or slowest > 100_000_000:
                note(", ".join(f"{s} {len(v)}" for s, v in samples.items()) + " reps")
            if time.perf_counter() > deadline and all(samples[s] for s in runners):
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def _batches(one: dict[str, int], options: BenchOptions) -> dict[str, int]:
    """Repetitions per round for each path, from one repetition's time (`one`, ns).

    With a batch time, a path runs consecutive repetitions for about that long (at least one):
    a repetition right after another path's runs pays for what they left in the processor's
    caches (measured on this machine: a 57 us JIT message took 71 us after another JIT state's
    run, 83 us after the stock interpreter's), which a process running one VM does not; at
    least five rounds still alternate within the minimum time, so slow drift of the machine
    affects every path alike. Without one, a path much faster than the slowest runs a batch
    per round: enough to reach the minimum time within min_reps rounds, never more than would
    take as long as the slowest path."""
    min_ns = int(options.min_time * 1e9)
    if options.batch_time > 0:
        target = min(int(options.batch_time * 1e9), min_ns // 5)
        return {side: max(1, target // ns) for side, ns in one.items()}
    slowest = max(one.values())
    return {
        side: max(1, min(slowest // ns, -(-min_ns // (ns * max(1, options.min_reps)))))
        for side, ns in one.items()
    }


_PROGRESS_PREFIX = "progress: "


def run_case_in_subprocess(
    path: Path,
    name: str,
    options: BenchOptions,
    timeout: float | None = None,
    progress: PROGRESS | None = None,
) -> CaseResult:
    """Measure one case in a fresh Python process (``python -m pyevm_jit.bench``); its
    progress notes are passed to ``progress`` as they come."""
    request = json.dumps({"path": str(path), "name": name, "options": asdict(options)})
    proc = children.start(
        "pyevm_jit.bench", request, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, expire) if timeout else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    other: list[str] = []
    try:
        assert proc.stderr is not None and proc.stdout is not None
        for line in proc.stderr:
            if line.startswith(_PROGRESS_PREFIX):
                if progress is not None:
                    progress(line[len(_PROGRESS_PREFIX) :].strip())
            elif line.strip():
                other.append(line.rstrip())
        stdout = proc.stdout.read()
        proc.wait()
    finally:
        if timer is not None:
            timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if timed_out.is_set():
        return CaseResult(name, str(path), options.fork, "error", f"timed out after {timeout} s")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (other or ["no output"])[-1]
        return CaseResult(
            name, str(path), options.fork, "error", f"worker exit {proc.returncode}: {tail}"
        )
    return CaseResult.from_json(json.loads(lines[-1]))


def worker_main(argv: Sequence[str]) -> int:
    request = json.loads(argv[0])
    options = BenchOptions(**request["options"])

    def note(message: str) -> None:
        print(_PROGRESS_PREFIX + message, file=sys.stderr, flush=True)

    try:
        case = find_case(Path(request["path"]), request["name"])
        result = measure_case(case, options, note)
    except BenchInputError as exc:
        result = CaseResult(request["name"], request["path"], options.fork, "error", str(exc))
    print(json.dumps(result.to_json()))
    return 0
