"""Benchmark harness: the JIT against py-evm's stock interpreter (and pyrevm when installed).

A bench case is a state-test-like JSON file ``{name: {env, pre, transaction: [tx]}}``. For each
case, in a process of its own (see :func:`run_case_in_subprocess`):

1. the pre-state is set up once per execution path (stock VM, JIT VM, pyrevm);
2. every contract of the pre-state is compiled through the JIT backend beforehand, and the time
   that takes is reported separately;
3. each path executes the call once on a fresh state and the outcomes are compared (success,
   gas used and refund, output, logs, state root after the call); a mismatch makes the case an
   error and no speed figure is reported for it;
4. after a warm-up, the paths run alternately, each repetition on a snapshot of the pre-state
   that is reverted afterwards, until every path has reached a minimum number of repetitions
   and a minimum total time; the median per path is reported.

What is timed is the message execution as a user of py-evm experiences it: building the message
(reading the contract's code), warming sender and recipient, and
``state.computation_class.apply_message(state, message, transaction_context)`` -- the same call
for the stock and the JIT VM. pyrevm's ``EVM.message_call`` is timed the same way.
"""

from __future__ import annotations

import gc
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_typing import Address
from eth_utils import to_canonical_address

PROGRESS = Callable[[str], None]

#: fork name (lower case, as ``vm_class.fork``) -> (py-evm VM class name, pyrevm spec id)
FORKS: dict[str, tuple[str, str]] = {
    "shanghai": ("ShanghaiVM", "SHANGHAI"),
    "cancun": ("CancunVM", "CANCUN"),
    "prague": ("PragueVM", "PRAGUE"),
}
DEFAULT_FORK = "cancun"

SIDES = ("stock", "jit", "pyrevm")


class BenchInputError(Exception):
    """A bench file or case that cannot be used (reported as one line by the CLI)."""


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchTx:
    sender: bytes
    to: bytes
    data: bytes
    value: int
    gas_limit: int
    gas_price: int


@dataclass(frozen=True)
class BenchCase:
    name: str
    path: str
    env: dict[str, Any]
    pre: dict[str, Any]  # raw (hex) account state as in the file
    tx: BenchTx

    @property
    def number(self) -> int:
        return _int(self.env.get("currentNumber", "0x1"))

    @property
    def timestamp(self) -> int:
        return _int(self.env.get("currentTimestamp", "0x1"))

    @property
    def gas_limit(self) -> int:
        return _int(self.env.get("currentGasLimit", hex(2**63 - 1)))

    @property
    def base_fee(self) -> int:
        return _int(self.env.get("currentBaseFee", "0x0"))

    @property
    def coinbase(self) -> bytes:
        return to_canonical_address(self.env.get("currentCoinbase", "0x" + "00" * 20))

    @property
    def prev_randao(self) -> bytes:
        raw = self.env.get("currentRandom", "0x" + "00" * 32)
        return _bytes(raw).rjust(32, b"\0")

    def codes(self) -> list[bytes]:
        """Every distinct non-empty code in the pre-state, in file order."""
        seen: list[bytes] = []
        for account in self.pre.values():
            code = _bytes(account.get("code", "0x"))
            if code and code not in seen:
                seen.append(code)
        return seen


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    text = str(value)
    return int(text, 16) if text.lower().startswith("0x") else int(text)


def _bytes(value: str) -> bytes:
    text = value[2:] if value.lower().startswith("0x") else value
    return bytes.fromhex(text)


def discover_files(paths: Sequence[str | Path]) -> list[Path]:
    """JSON files named directly, or found (sorted) in the directories named."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.json") if p.is_file())
            if not found:
                raise BenchInputError(f"no .json bench files in {path}")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise BenchInputError(f"no such file or directory: {path}")
    return files


def load_cases(path: Path) -> list[BenchCase]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchInputError(f"{path}: cannot read JSON ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise BenchInputError(f"{path}: expected an object {{name: case}}")
    cases = []
    for name, body in data.items():
        try:
            txs = body["transaction"]
            raw = txs[0] if isinstance(txs, list) else txs
            if isinstance(raw.get("data"), list):  # state-test style: first index of each
                raw = {
                    **raw,
                    "data": raw["data"][0],
                    "gasLimit": raw["gasLimit"][0],
                    "value": raw["value"][0],
                }
            tx = BenchTx(
                sender=to_canonical_address(raw["sender"]),
                to=to_canonical_address(raw["to"]),
                data=_bytes(raw.get("data", "0x")),
                value=_int(raw.get("value", "0x0")),
                gas_limit=_int(raw["gasLimit"]),
                gas_price=_int(raw.get("gasPrice", "0x0")),
            )
            case = BenchCase(str(name), str(path), dict(body["env"]), dict(body["pre"]), tx)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise BenchInputError(f"{path}: case {name!r} is malformed ({exc!r})") from None
        cases.append(case)
    return cases


def find_case(path: Path, name: str) -> BenchCase:
    for case in load_cases(path):
        if case.name == name:
            return case
    raise BenchInputError(f"{path}: no case named {name!r}")


def default_bench_dir() -> Path:
    """``pyevm_jit.fixtures.bench_dir()`` when available, else $PYEVM_JIT_BENCH or
    ``<repo>/../shared/bench``."""
    try:
        from pyevm_jit.conformance import fixtures  # type: ignore[attr-defined]

        return Path(fixtures.bench_dir())
    except (ImportError, AttributeError):
        pass
    env = os.environ.get("PYEVM_JIT_BENCH")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "bench"


# --------------------------------------------------------------------------------------------
# Outcomes and execution on py-evm
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What must agree between the paths."""

    success: bool
    error: str  # exception class name, "" on success
    gas_used: int  # message-level (without intrinsic gas)
    gas_refund: int
    output: bytes
    logs: tuple[tuple[bytes, tuple[int, ...], bytes], ...]
    state_root: bytes = b""

    def differences(self, other: Outcome, *, with_root: bool = True) -> list[str]:
        diffs = []
        if self.success != other.success:
            diffs.append(f"success {self.success} != {other.success}")
        if self.error != other.error:
            diffs.append(f"error {self.error or '-'} != {other.error or '-'}")
        if self.gas_used != other.gas_used:
            diffs.append(f"gas used {self.gas_used} != {other.gas_used}")
        if self.gas_refund != other.gas_refund:
            diffs.append(f"gas refund {self.gas_refund} != {other.gas_refund}")
        if self.output != other.output:
            diffs.append(f"output 0x{self.output.hex()[:40]} != 0x{other.output.hex()[:40]}")
        if self.logs != other.logs:
            diffs.append(f"logs ({len(self.logs)}) != ({len(other.logs)})")
        if with_root and self.state_root != other.state_root:
            diffs.append("state (storage/balances/nonces/code) differs")
        return diffs

    def digest(self) -> dict[str, Any]:
        """A compact, JSON-friendly form that is enough to compare outcomes later."""
        import hashlib

        return {
            "success": self.success,
            "error": self.error,
            "gas_used": self.gas_used,
            "gas_refund": self.gas_refund,
            "output_sha256": hashlib.sha256(self.output).hexdigest(),
            "logs": len(self.logs),
            "logs_sha256": hashlib.sha256(repr(self.logs).encode()).hexdigest(),
            "state_root": self.state_root.hex(),
        }


def digest_differences(
    expected: dict[str, Any], actual: dict[str, Any], *, with_root: bool = True
) -> list[str]:
    """Fields where two outcome digests differ (see Outcome.digest)."""
    keys = [k for k in expected if with_root or k != "state_root"]
    return [
        f"{k} {expected[k]!r} != {actual.get(k)!r}" for k in keys if expected[k] != actual.get(k)
    ]


def vm_class_for_fork(fork: str) -> type:
    import eth.vm.forks as forks

    key = fork.lower()
    if key not in FORKS:
        raise BenchInputError(f"unknown fork {fork!r} (choose from {', '.join(FORKS)})")
    return getattr(forks, FORKS[key][0])  # type: ignore[no-any-return]


def build_state(case: BenchCase, vm_class: type) -> Any:
    """A fresh py-evm state for ``vm_class`` holding the case's pre-state, at the case's block."""
    from eth.db.atomic import AtomicDB
    from eth.vm.chain_context import ChainContext

    block_class = vm_class.get_block_class()  # type: ignore[attr-defined]
    header_class = dict(block_class._meta.fields)["header"]
    header = header_class(
        block_number=case.number,
        timestamp=case.timestamp,
        gas_limit=case.gas_limit,
        coinbase=case.coinbase,
        difficulty=0,
        mix_hash=case.prev_randao,
        base_fee_per_gas=case.base_fee,
    )
    state = vm_class.build_state(  # type: ignore[attr-defined]
        AtomicDB(), header, ChainContext(1), previous_hashes=()
    )
    for address, account in parse_pre_state(case.pre).items():
        for slot, value in account["storage"].items():
            state.set_storage(address, slot, value)
        state.set_nonce(address, account["nonce"])
        state.set_code(address, account["code"])
        state.set_balance(address, account["balance"])
    state.persist()
    return state


def parse_pre_state(pre: dict[str, Any]) -> dict[bytes, dict[str, Any]]:
    """Hex account state -> {address: {balance, nonce, code, storage: {int: int}}}."""
    return {
        to_canonical_address(address): {
            "balance": _int(account.get("balance", "0x0")),
            "nonce": _int(account.get("nonce", "0x0")),
            "code": _bytes(account.get("code", "0x")),
            "storage": {_int(k): _int(v) for k, v in account.get("storage", {}).items()},
        }
        for address, account in pre.items()
    }


def intrinsic_gas(case: BenchCase, vm_class: type) -> int:
    builder = vm_class.get_transaction_builder()  # type: ignore[attr-defined]
    unsigned = builder.create_unsigned_transaction(
        nonce=0,
        gas_price=case.tx.gas_price,
        gas=case.tx.gas_limit,
        to=case.tx.to,
        value=case.tx.value,
        data=case.tx.data,
    )
    return int(unsigned.intrinsic_gas)


SCOPES = ("message", "transaction")


class PyEvmRunner:
    """Runs the case's call on one py-evm state, reverting after each run: as a message
    (``computation_class.apply_message``) or as a whole transaction (``state.apply_transaction``
    of an unsigned transaction from the sender: validation, gas purchase, refunds, fees)."""

    def __init__(self, case: BenchCase, vm_class: type, scope: str = "message") -> None:
        if scope not in SCOPES:
            raise BenchInputError(f"unknown scope {scope!r} (choose from {', '.join(SCOPES)})")
        self.case = case
        self.vm_class = vm_class
        self.scope = scope
        self.state = build_state(case, vm_class)
        self.message_gas = case.tx.gas_limit - intrinsic_gas(case, vm_class)
        self._berlin = hasattr(self.state, "mark_address_warm")
        self._transaction: Any = None
        if scope == "transaction":
            from eth.vm.spoof import SpoofTransaction

            unsigned = vm_class.get_transaction_builder().create_unsigned_transaction(  # type: ignore[attr-defined]
                nonce=self.state.get_nonce(case.tx.sender),
                gas_price=case.tx.gas_price,
                gas=case.tx.gas_limit,
                to=case.tx.to,
                value=case.tx.value,
                data=case.tx.data,
            )
            self._transaction = SpoofTransaction(unsigned, from_=case.tx.sender)

    def _execute(self, state: Any) -> Any:
        from eth.vm.message import Message

        if self._transaction is not None:
            return state.apply_transaction(self._transaction)

        tx = self.case.tx
        context = state.get_transaction_context_class()(gas_price=tx.gas_price, origin=tx.sender)
        message = Message(
            gas=self.message_gas,
            to=Address(tx.to),
            sender=Address(tx.sender),
            value=tx.value,
            data=tx.data,
            code=state.get_code(tx.to),
        )
        if self._berlin:
            state.mark_address_warm(tx.sender)
            state.mark_address_warm(tx.to)
        return state.computation_class.apply_message(state, message, context)

    def timed(self) -> tuple[int, Outcome]:
        """One repetition on a snapshot: (nanoseconds, outcome without state root)."""
        state = self.state
        snapshot = state.snapshot()
        try:
            start = time.perf_counter_ns()
            computation = self._execute(state)
            elapsed = time.perf_counter_ns() - start
            outcome = outcome_of(computation)
        finally:
            state.revert(snapshot)
        return elapsed, outcome

    def reference(self) -> Outcome:
        """One run on a fresh state, with the state root afterwards."""
        state = build_state(self.case, self.vm_class)
        computation = self._execute(state)
        outcome = outcome_of(computation)
        return _with_root(outcome, bytes(state.make_state_root()))


def _with_root(outcome: Outcome, root: bytes) -> Outcome:
    return Outcome(
        outcome.success,
        outcome.error,
        outcome.gas_used,
        outcome.gas_refund,
        outcome.output,
        outcome.logs,
        root,
    )


def outcome_of(computation: Any) -> Outcome:
    error = "" if computation.is_success else type(computation.error).__name__
    logs = tuple(
        (bytes(address), tuple(topics), bytes(data))
        for address, topics, data in computation.get_log_entries()
    )
    return Outcome(
        success=bool(computation.is_success),
        error=error,
        gas_used=int(computation.get_gas_used()),
        gas_refund=int(computation.get_gas_refund()),
        output=bytes(computation.output),
        logs=logs,
    )


# --------------------------------------------------------------------------------------------
# pyrevm
# --------------------------------------------------------------------------------------------


def pyrevm_available() -> bool:
    try:
        import pyrevm  # noqa: F401
    except ImportError:
        return False
    return True


class PyRevmRunner:
    """The same pre-state and call on pyrevm (revm's interpreter), timed the same way."""

    def __init__(self, case: BenchCase, fork: str) -> None:
        import pyrevm

        self.case = case
        block = pyrevm.BlockEnv(
            number=case.number,
            coinbase="0x" + case.coinbase.hex(),
            timestamp=case.timestamp,
            difficulty=0,
            prevrandao=case.prev_randao,
            basefee=case.base_fee,
            gas_limit=case.gas_limit,
            excess_blob_gas=0,
        )
        self.evm = pyrevm.EVM(env=pyrevm.Env(block=block), spec_id=FORKS[fork.lower()][1])
        for raw_address, account in parse_pre_state(case.pre).items():
            address = "0x" + raw_address.hex()
            info = pyrevm.AccountInfo(nonce=account["nonce"], code=account["code"])
            self.evm.insert_account_info(address, info)
            self.evm.set_balance(address, account["balance"])
            for slot, value in account["storage"].items():
                self.evm.insert_account_storage(address, slot, value)
        # pyrevm 0.3.7 keeps the slots inserted above in its journal as loaded with an original
        # value of zero: their first access in the call is warm and an SSTORE to them is priced
        # as to a dirty slot (up to 4900 gas less per slot than py-evm): see pyrevm_gas_ok
        self.prestorage_slots = sum(len(a["storage"]) for a in parse_pre_state(case.pre).values())
        self._sender = "0x" + case.tx.sender.hex()
        self._to = "0x" + case.tx.to.hex()

    def timed(self) -> tuple[int, tuple[bool, int, bytes, int]]:
        """(nanoseconds, (success, transaction gas used, output, number of logs))."""
        evm = self.evm
        tx = self.case.tx
        checkpoint = evm.snapshot()
        try:
            start = time.perf_counter_ns()
            output = evm.message_call(
                self._sender,
                self._to,
                tx.data,
                value=tx.value,
                gas=tx.gas_limit,
                gas_price=tx.gas_price,
            )
            elapsed = time.perf_counter_ns() - start
            result = evm.result
            success = bool(result.is_success) if result is not None else False
            gas = int(result.gas_used) if result is not None else -1
            nlogs = len(result.logs) if result is not None else -1
        except Exception:  # pyrevm raises on revert/halt in some versions
            elapsed = time.perf_counter_ns() - start
            output, success, gas, nlogs = b"", False, -1, -1
        finally:
            evm.revert(checkpoint)
        return elapsed, (success, gas, bytes(output), nlogs)


def pyrevm_gas_ok(pyevm_gas: int, pyrevm_gas: int, prestorage_slots: int) -> bool:
    """Equal gas, or less in pyrevm by at most 4900 per pre-state slot (pyrevm treats slots
    inserted before the call as accessed and dirty: 2000 for the cold surcharge plus 2900 - 100
    for an SSTORE that resets the slot)."""
    return 0 <= pyevm_gas - pyrevm_gas <= 4900 * prestorage_slots


def expected_tx_gas(outcome: Outcome, intrinsic: int, fork: str) -> int:
    """Transaction-level gas used (what revm reports) from a message-level outcome."""
    used = intrinsic + outcome.gas_used
    quotient = 5 if fork.lower() not in ("frontier", "homestead") else 2
    return used - min(outcome.gas_refund, used // quotient)


# --------------------------------------------------------------------------------------------
# The JIT side
# --------------------------------------------------------------------------------------------


@dataclass
class JitSide:
    vm_class: type
    backend: Any
    compile_seconds: float  # the compiler's phases summed over the contracts
    compiled: int  # contracts resident after compiling beforehand
    contracts: int
    wall_seconds: float = 0.0  # compiling beforehand, backend start-up included
    phases: dict[str, float] = field(default_factory=dict)  # translate/optimise/codegen/link
    failures: list[str] = field(default_factory=list)  # why a contract has no program
    tier_up_seconds: float = 0.0  # recompiling at the tier-up level (phases summed)


_PHASES = ("translate", "optimise", "codegen", "link")


def make_jit_side(
    case: BenchCase, stock_vm: type, *, stock_both: bool, tier_up: bool = True
) -> JitSide:
    """The JIT VM class over a blocking backend, with every contract compiled beforehand (and,
    with `tier_up`, recompiled at the tier-up level, as the runtime does for hot code)."""
    if stock_both:
        return JitSide(stock_vm, None, 0.0, 0, 0)
    from eth_hash.auto import keccak

    from pyevm_jit.evm.vm import jit_vm
    from pyevm_jit.runtime import LookupRequest, RuntimeCacheKey

    runtime = __import__("pyevm_jit.runtime", fromlist=["JitBackend", "RuntimeConfig"])
    events: list[Any] = []
    # the process's linker and runtime library are built once per process (about 0.2 s): not
    # part of any contract's compile time
    from pyevm_jit.compiler.link import prepare_linker

    prepare_linker()
    start = time.perf_counter()
    tuning = runtime.RuntimeTuning() if tier_up else runtime.RuntimeTuning(tier_up_after=0)
    config = runtime.RuntimeConfig(
        enabled=True, blocking=True, on_compilation=events.append, tuning=tuning
    )
    backend = runtime.JitBackend.new(config)
    vm_class = jit_vm(stock_vm, backend)
    fork = str(stock_vm.fork)  # type: ignore[attr-defined]
    codes = case.codes()
    compiled = 0
    failures: list[str] = []
    for code in codes:
        request = LookupRequest(RuntimeCacheKey(keccak(code), fork), code)
        compile_sync = getattr(backend, "compile_jit_sync", None)
        if compile_sync is not None:
            compile_sync(request)
        get_compiled = getattr(backend, "get_compiled", None)
        if get_compiled is not None:
            ok = get_compiled(request.key.code_hash, fork) is not None
        else:
            ok = bool(backend.lookup(request).is_compiled)
        compiled += ok
        if not ok:
            why = getattr(backend, "failure_reason", lambda _h, _f: None)(keccak(code), fork)
            failures.append(f"{len(code)}-byte contract not compiled: {why or 'no program'}")
        elif tier_up:
            # the steady state of a hot contract: the runtime's tier-up build, done now rather
            # than after `tier_up_after` calls, and timed separately
            backend.tier_up_sync(request)
    wall = time.perf_counter() - start
    phases: dict[str, float] = {}
    tier_up_seconds = 0.0
    for event in events:
        times = {p: float(getattr(event, p, 0.0)) for p in _PHASES}
        if getattr(event, "tier_up", False):
            tier_up_seconds += sum(times.values())
            continue
        for phase, value in times.items():
            phases[phase] = phases.get(phase, 0.0) + value
    # the compile figure is the compiler's own work (translate + optimise + codegen + link);
    # dispatch latency and worker start-up are left out of it (they are in wall_seconds)
    seconds = sum(phases.values()) if phases else wall
    return JitSide(
        vm_class, backend, seconds, compiled, len(codes), wall, phases, failures, tier_up_seconds
    )


def backend_counters(backend: Any) -> dict[str, Any]:
    if backend is None:
        return {}
    snap = backend.stats()
    misses = getattr(snap, "misses_by_reason", {}) or {}
    return {
        "lookup_hits": int(getattr(snap, "lookup_hits", 0)),
        "lookup_misses": int(getattr(snap, "lookup_misses", 0)),
        "misses_by_reason": {getattr(k, "value", str(k)): int(v) for k, v in misses.items()},
    }


# --------------------------------------------------------------------------------------------
# Measuring one case
# --------------------------------------------------------------------------------------------


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
    scope: str = "message"  # what is timed: "message" or "transaction"
    baseline: str | None = None  # JSON of an earlier run: its stock/pyrevm figures are reused
    tier_up: bool = True  # time the tier-up build (steady state of hot code), not the first tier


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
    compile_seconds: float = 0.0
    compile_wall_seconds: float = 0.0
    tier_up_seconds: float = 0.0
    compile_phases: dict[str, float] = field(default_factory=dict)
    contracts: int = 0
    contracts_compiled: int = 0
    compile_failures: list[str] = field(default_factory=list)
    native: bool = False
    jit_counters: dict[str, Any] = field(default_factory=dict)
    stock_both: bool = False
    reference: dict[str, Any] = field(default_factory=dict)  # Outcome.digest() of stock
    baseline: str = ""  # file the stock and pyrevm figures come from, when reused

    @property
    def speedup(self) -> float:
        if self.status != "ok" or not self.jit.median_ns:
            return math.nan
        return self.stock.median_ns / self.jit.median_ns

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
        data["speedup"] = _nan_to_none(self.speedup)
        data["jit_vs_pyrevm"] = _nan_to_none(self.jit_vs_pyrevm)
        data["mgas_per_s"] = {s: _nan_to_none(self.mgas_per_s(s)) for s in SIDES}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseResult:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for side in SIDES:
            if fields.get(side) is not None:
                fields[side] = SideStats(**fields[side])
        return cls(**fields)


def _nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def measure_case(
    case: BenchCase, options: BenchOptions, progress: PROGRESS | None = None
) -> CaseResult:
    """Set up, check and time one case in this process."""
    note = progress or (lambda _msg: None)
    stock_vm = vm_class_for_fork(options.fork)
    result = CaseResult(case.name, case.path, options.fork, stock_both=options.stock_both)

    note("setting up")
    stock = PyEvmRunner(case, stock_vm, options.scope)
    note("compiling")
    try:
        jit_side = make_jit_side(
            case, stock_vm, stock_both=options.stock_both, tier_up=options.tier_up
        )
    except Exception as exc:  # the JIT could not even be set up: an error row
        result.status, result.error = "error", f"JIT set-up failed: {exc!r}"[:300]
        return result
    try:
        return _check_and_time(case, options, note, result, stock, jit_side)
    finally:
        close = getattr(jit_side.backend, "close", None)
        if close is not None:
            close()


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
    jit = PyEvmRunner(case, jit_side.vm_class, options.scope)

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

    revm: PyRevmRunner | None = None
    if base is None and options.pyrevm and pyrevm_available():
        revm = PyRevmRunner(case, options.fork)
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
    mismatch: list[str] = []

    def pyevm_rep(runner: PyEvmRunner, side: str) -> Callable[[], int]:
        def rep() -> int:
            ns, outcome = runner.timed()
            if not mismatch:
                diffs = digest_differences(result.reference, outcome.digest(), with_root=False)
                if diffs:
                    mismatch.append(f"{side} repetition differs: " + "; ".join(diffs))
            return ns

        return rep

    if base is None:
        runners["stock"] = pyevm_rep(stock, "stock")
    runners["jit"] = pyevm_rep(jit, "JIT")
    if revm is not None:
        revm_runner = revm

        def revm_rep() -> int:
            return revm_runner.timed()[0]

        runners["pyrevm"] = revm_rep

    before = backend_counters(jit_side.backend)
    samples = _alternate(runners, options, note)
    after = backend_counters(jit_side.backend)
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
        result.stock = SideStats(**base["stock"])
        if base.get("pyrevm"):
            result.pyrevm = SideStats(**base["pyrevm"])
        result.pyrevm_error = str(base.get("pyrevm_error", ""))
    if after:
        result.jit_counters = after
        result.native = after["lookup_hits"] > before.get("lookup_hits", 0)
    return result


def _baseline_entry(case: BenchCase, options: BenchOptions) -> dict[str, Any] | None:
    """The case's entry in the --baseline JSON (None without a baseline). The baseline must be
    an error-free run of the same case, fork and scope."""
    if not options.baseline:
        return None
    try:
        data = json.loads(Path(options.baseline).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchInputError(f"--baseline: cannot read {options.baseline} ({exc})") from None
    saved = data.get("options", {}) if isinstance(data, dict) else {}
    for key in ("fork", "scope"):
        if saved.get(key, "message" if key == "scope" else None) != getattr(options, key):
            raise BenchInputError(f"--baseline: it was run with another {key}")
    for entry in data.get("cases", []):
        if entry.get("name") == case.name and entry.get("status") == "ok":
            if entry.get("reference") and entry.get("stock", {}).get("median_ns"):
                return dict(entry)
    raise BenchInputError(f"--baseline: no usable result for {case.name} in {options.baseline}")


def _alternate(
    runners: dict[str, Callable[[], int]], options: BenchOptions, note: PROGRESS
) -> dict[str, list[int]]:
    """Warm up, then run the paths in alternation until each has enough repetitions and time.

    Each round runs every unfinished path once, or a batch of times for a path much faster
    than the slowest, so that all paths accumulate time at a similar pace."""
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
    # a path much faster than the slowest runs a batch per round: enough to reach the minimum
    # time within min_reps rounds, never more than would take as long as the slowest path
    slowest = max(one.values())
    min_ns = int(options.min_time * 1e9)
    batch = {
        side: max(1, min(slowest // ns, -(-min_ns // (ns * max(1, options.min_reps)))))
        for side, ns in one.items()
    }
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
                for _ in range(batch[side]):
                    samples[side].append(run())
            rounds += 1
            if rounds % 20 == 0 or slowest > 100_000_000:
                note(", ".join(f"{s} {len(v)}" for s, v in samples.items()) + " reps")
            if time.perf_counter() > deadline and all(samples[s] for s in runners):
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


# --------------------------------------------------------------------------------------------
# One process per case
# --------------------------------------------------------------------------------------------


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
    cmd = [sys.executable, "-m", "pyevm_jit.bench", request]
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])  # importable in the child
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
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


def _worker_main(argv: Sequence[str]) -> int:
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


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def geometric_mean(values: Iterable[float]) -> float:
    finite = [v for v in values if v > 0 and not math.isnan(v)]
    if not finite:
        return math.nan
    return math.exp(sum(math.log(v) for v in finite) / len(finite))


def _fmt_time(ns: int) -> str:
    if not ns:
        return "-"
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.1f} us"


def _fmt_ratio(value: float, suffix: str = "x") -> str:
    if math.isnan(value):
        return "-"
    if value >= 100:
        return f"{value:.0f}{suffix}"
    return f"{value:.2f}{suffix}" if value < 10 else f"{value:.1f}{suffix}"


def _fmt_rate(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def table_rows(results: Sequence[CaseResult]) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, rows and footnotes of the results table (plain strings)."""
    with_revm = any(r.pyrevm is not None for r in results)
    header = [
        "case",
        "gas used",
        "stock",
        "JIT",
        "speedup",
        "compile",
        "tier-up",
        "stock Mgas/s",
        "JIT Mgas/s",
    ]
    if with_revm:
        header += ["pyrevm", "JIT/pyrevm"]
    rows: list[list[str]] = []
    notes: list[str] = []
    for r in results:
        if r.status != "ok":
            row = [r.name, "ERROR"] + [""] * (len(header) - 2)
            rows.append(row)
            notes.append(f"{r.name}: {r.error}")
            continue
        name = r.name if r.native or r.stock_both else r.name + " *"
        if not r.native and not r.stock_both:
            notes.append(f"* {r.name}: the JIT side did not run native code {r.jit_counters}")
        for failure in r.compile_failures:
            notes.append(f"{r.name}: {failure}")
        row = [
            name,
            str(r.gas_used),
            _fmt_time(r.stock.median_ns),
            _fmt_time(r.jit.median_ns),
            _fmt_ratio(r.speedup),
            f"{r.compile_seconds * 1e3:.0f} ms" if not r.stock_both else "-",
            f"{r.tier_up_seconds * 1e3:.0f} ms" if r.tier_up_seconds else "-",
            _fmt_rate(r.mgas_per_s("stock")),
            _fmt_rate(r.mgas_per_s("jit")),
        ]
        if with_revm:
            row += [
                _fmt_time(r.pyrevm.median_ns) if r.pyrevm else "-",
                _fmt_ratio(r.jit_vs_pyrevm),
            ]
            if r.pyrevm_error:
                notes.append(f"{r.name}: {r.pyrevm_error}")
        rows.append(row)
    ok = [r for r in results if r.status == "ok"]
    geo = ["geometric mean", "", "", "", _fmt_ratio(geometric_mean(r.speedup for r in ok))]
    geo += ["", "", "", ""]
    if with_revm:
        geo += ["", _fmt_ratio(geometric_mean(r.jit_vs_pyrevm for r in ok))]
    rows.append(geo)
    baselines = sorted({r.baseline for r in results if r.baseline})
    if baselines:
        notes.append(f"stock and pyrevm figures reused from {', '.join(baselines)}")
    if any(r.stock_both for r in results):
        notes.append("--stock-both: the JIT column ran the stock interpreter (harness self-test)")
    return header, rows, notes


def format_table(results: Sequence[CaseResult], *, markdown: bool = False) -> str:
    header, rows, notes = table_rows(results)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines + [""] + [f"- {n}" for n in notes])
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [cells[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    return "\n".join(out + notes)


def results_json(results: Sequence[CaseResult], options: BenchOptions) -> dict[str, Any]:
    ok = [r for r in results if r.status == "ok"]
    return {
        "machine": machine_description(),
        "options": asdict(options),
        "cases": [r.to_json() for r in results],
        "geometric_mean": {
            "speedup": _nan_to_none(geometric_mean(r.speedup for r in ok)),
            "jit_vs_pyrevm": _nan_to_none(geometric_mean(r.jit_vs_pyrevm for r in ok)),
        },
    }


def machine_description() -> str:
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cpus, Python {platform.python_version()}, {platform.system()}"


def plot_speedups(results: Sequence[CaseResult], filename: str) -> None:
    """Bar chart of the speedups (log scale). Needs matplotlib (the ``bench`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if r.status == "ok"]
    names = [r.name for r in ok]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(names) + 2), 4.5))
    ax.bar(names, [r.speedup for r in ok], label="JIT vs stock py-evm")
    revm = [r for r in ok if r.pyrevm is not None]
    if revm:
        ratios = [r.stock.median_ns / r.pyrevm.median_ns for r in revm if r.pyrevm]
        ax.scatter([r.name for r in revm], ratios, color="black", zorder=3, label="pyrevm")
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_ylabel("speedup over stock py-evm (x)")
    ax.legend()
    plt.setp(ax.get_xticklabels(), rotation=40, ha="right")
    fig.tight_layout()
    fig.savefig(filename, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# Compile times over a corpus of contracts (e.g. every contract in GeneralStateTests)
# --------------------------------------------------------------------------------------------


def corpus_codes(paths: Sequence[str | Path]) -> list[bytes]:
    """Distinct contract codes of state-test-like JSON files: pre-state codes and the init code
    of contract-creating transactions, in a stable order."""
    found: dict[bytes, None] = {}
    for file in discover_files(paths):
        try:
            data = json.loads(file.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BenchInputError(f"{file}: cannot read JSON ({exc})") from None
        if not isinstance(data, dict):
            continue
        for test in data.values():
            if not isinstance(test, dict):
                continue
            for account in (test.get("pre") or {}).values():
                code = _bytes(str(account.get("code", "0x")))
                if code:
                    found.setdefault(code)
            txs = test.get("transaction")
            tx = txs[0] if isinstance(txs, list) and txs else txs
            if isinstance(tx, dict) and not tx.get("to"):
                datas = tx.get("data", [])
                for item in datas if isinstance(datas, list) else [datas]:
                    code = _bytes(str(item))
                    if code:
                        found.setdefault(code)
    return list(found)


@dataclass
class CompileTime:
    code_len: int
    seconds: float  # translate + optimise + codegen + link
    phases: dict[str, float]
    error: str = ""
    cpu_seconds: float = 0.0  # this process's CPU time for the same (unaffected by other load)


def compile_time(code: bytes, fork: str, opt_level: int | None = None) -> CompileTime:
    """Compile and link one contract in this process, timing the phases."""
    from pyevm_jit.compiler.compile import compile_object
    from pyevm_jit.compiler.link import link_object

    start = time.perf_counter()
    cpu_start = time.process_time()
    try:
        if opt_level is None:
            obj = compile_object(code, fork)
        else:
            obj = compile_object(code, fork, opt_level)
        linked_at = time.perf_counter()
        link_object(obj)
    except Exception as exc:
        return CompileTime(len(code), time.perf_counter() - start, {}, repr(exc)[:200])
    link = time.perf_counter() - linked_at
    timings = obj.timings
    phases = {
        name: float(getattr(timings, name, 0.0)) for name in ("translate", "optimise", "codegen")
    }
    phases["link"] = link
    cpu = time.process_time() - cpu_start
    return CompileTime(len(code), time.perf_counter() - start, phases, cpu_seconds=cpu)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
