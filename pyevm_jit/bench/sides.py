"""The three execution paths a case runs on: py-evm (stock or JIT VM class, `PyEvmRunner`),
pyrevm (`PyRevmRunner`) and the JIT side set-up (`make_jit_side`: every contract compiled
beforehand); and the `PathOutcome` that must agree between them."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_hash.auto import keccak
from eth_typing import Address
from eth_utils import to_canonical_address

from pyevm_jit.bench.cases import BenchCase, BenchInputError, hex_bytes, hex_int
from pyevm_jit.compiler.link import prepare_linker
from pyevm_jit.conformance.statetx import CHAIN_ID
from pyevm_jit.evm.vm import jit_vm
from pyevm_jit.forks import fork_vm
from pyevm_jit.runtime import (
    CompilationEvent,
    JitBackend,
    LookupRequest,
    RuntimeCacheKey,
    RuntimeConfig,
    RuntimeTuning,
)

#: the forks pyrevm is compared on (py-evm fork id -> pyrevm spec id)
PYREVM_SPECS: dict[str, str] = {"shanghai": "SHANGHAI", "cancun": "CANCUN", "prague": "PRAGUE"}

SIDES = ("stock", "jit", "pyrevm")


@dataclass(frozen=True)
class PathOutcome:
    """What must agree between the paths."""

    success: bool
    error: str  # exception class name, "" on success
    gas_used: int  # message-level (without intrinsic gas)
    gas_refund: int
    output: bytes
    logs: tuple[tuple[bytes, tuple[int, ...], bytes], ...]
    state_root: bytes = b""

    def differences(self, other: PathOutcome, *, with_root: bool = True) -> list[str]:
        fields = (
            ("success", self.success, other.success),
            ("error", self.error or "-", other.error or "-"),  # no exception is named "-"
            ("gas used", self.gas_used, other.gas_used),
            ("gas refund", self.gas_refund, other.gas_refund),
        )
        diffs = [f"{label} {mine} != {theirs}" for label, mine, theirs in fields if mine != theirs]
        if self.output != other.output:
            diffs.append(f"output 0x{self.output.hex()[:40]} != 0x{other.output.hex()[:40]}")
        if self.logs != other.logs:
            diffs.append(f"logs ({len(self.logs)}) != ({len(other.logs)})")
        if with_root and self.state_root != other.state_root:
            diffs.append("state (storage/balances/nonces/code) differs")
        return diffs

    def digest(self) -> dict[str, Any]:
        """A compact, JSON-friendly form that is enough to compare outcomes later."""

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
    """Fields where two outcome digests differ (see PathOutcome.digest)."""
    keys = [k for k in expected if with_root or k != "state_root"]
    return [
        f"{k} {expected[k]!r} != {actual.get(k)!r}" for k in keys if expected[k] != actual.get(k)
    ]


def bench_vm_class(fork: str) -> type:
    """py-evm's VM class of a fork the bench runs (`forks.fork_vm`); BenchInputError for a
    fork it does not run."""
    key = fork.lower()
    if key not in PYREVM_SPECS:
        raise BenchInputError(f"unknown fork {fork!r} (choose from {', '.join(PYREVM_SPECS)})")
    return fork_vm(key)


def build_state(case: BenchCase, vm_class: type, db: Any = None) -> Any:
    """A fresh py-evm state for ``vm_class`` holding the case's pre-state, at the case's block
    (in ``db``, by default a new in-memory database)."""
    from eth.db.atomic import AtomicDB
    from eth.vm.chain_context import ChainContext

    state = vm_class.build_state(  # type: ignore[attr-defined]
        AtomicDB() if db is None else db, case.block.header(vm_class), ChainContext(CHAIN_ID), ()
    )
    for address, account in parse_pre_state(case.pre).items():
        for slot, value in account["storage"].items():
            state.set_storage(address, slot, value)
        state.set_nonce(address, account["nonce"])
        state.set_code(address, account["code"])
        state.set_balance(address, account["balance"])
    state.persist()
    return state


class PreState:
    """The case's pre-state persisted once by stock py-evm; `open(vm_class)` gives a state of
    ``vm_class`` over a new database holding a copy of it. Nothing of the new database has been
    read yet: every trie read of the first run is cold, for py-evm's caches and for the JIT's
    read cache alike (that cache is per database)."""

    def __init__(self, case: BenchCase, stock_vm: type) -> None:
        from eth.db.atomic import AtomicDB

        db = AtomicDB()
        state = build_state(case, stock_vm, db)
        self.items: dict[bytes, bytes] = dict(db.wrapped_db.kv_store)  # type: ignore[attr-defined]
        self.header = case.block.header(stock_vm).copy(state_root=state.state_root)

    def open(self, vm_class: type) -> Any:
        from eth.db.atomic import AtomicDB
        from eth.db.backends.memory import MemoryDB
        from eth.vm.chain_context import ChainContext

        db = AtomicDB(MemoryDB(dict(self.items)))
        context = ChainContext(CHAIN_ID)
        return vm_class.build_state(db, self.header, context, ())  # type: ignore[attr-defined]


def parse_pre_state(pre: dict[str, Any]) -> dict[bytes, dict[str, Any]]:
    """Hex account state -> {address: {balance, nonce, code, storage: {int: int}}}."""
    return {
        to_canonical_address(address): {
            "balance": hex_int(account.get("balance", "0x0")),
            "nonce": hex_int(account.get("nonce", "0x0")),
            "code": hex_bytes(account.get("code", "0x")),
            "storage": {hex_int(k): hex_int(v) for k, v in account.get("storage", {}).items()},
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
#: what `--scope` may say: one of SCOPES, or "both" (each case timed at both scopes)
OPTION_SCOPES = (*SCOPES, "both")
#: which states the repetitions run on (see PyEvmRunner.timed and timed_cold)
STATE_MODES = ("warm", "cold", "both")
CLOCKS = ("wall", "cpu")


def clock_function(clock: str) -> Callable[[], int]:
    """Nanoseconds: wall time, or CPU time of this thread (not inflated by other processes on a
    shared machine; it leaves out time this thread waits, which these runs never do)."""
    if clock == "wall":
        return time.perf_counter_ns
    if clock == "cpu":
        return time.thread_time_ns
    raise BenchInputError(f"unknown clock {clock!r} (choose from {', '.join(CLOCKS)})")


class PyEvmRunner:
    """Runs the case's call on one py-evm state, reverting after each run: as a message
    (``computation_class.apply_message``) or as a whole transaction (``state.apply_transaction``
    of an unsigned transaction from the sender: validation, gas purchase, refunds, fees)."""

    def __init__(
        self,
        case: BenchCase,
        vm_class: type,
        scope: str = "message",
        *,
        clock: str = "wall",
        pre_state: PreState | None = None,
    ) -> None:
        if scope not in SCOPES:
            raise BenchInputError(f"unknown scope {scope!r} (choose from {', '.join(SCOPES)})")
        self.case = case
        self.vm_class = vm_class
        self.scope = scope
        self.clock = clock_function(clock)
        self.pre_state = pre_state
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

    def timed(self) -> tuple[int, PathOutcome]:
        """One repetition on a snapshot of the runner's state, reverted afterwards (warm: the
        same state every time): (nanoseconds, outcome without state root)."""
        state = self.state
        snapshot = state.snapshot()
        clock = self.clock
        try:
            start = clock()
            computation = self._execute(state)
            elapsed = clock() - start
            outcome = outcome_of(computation)
        finally:
            state.revert(snapshot)
        return elapsed, outcome

    def timed_cold(self) -> tuple[int, PathOutcome]:
        """One repetition on a fresh state over a copy of the persisted pre-state (cold: no trie
        read of it happened before): (nanoseconds, outcome without state root)."""
        if self.pre_state is None:
            raise BenchInputError("cold repetitions need the runner's pre_state")
        state = self.pre_state.open(self.vm_class)
        clock = self.clock
        start = clock()
        computation = self._execute(state)
        elapsed = clock() - start
        return elapsed, outcome_of(computation)

    def reference(self) -> PathOutcome:
        """One run on a fresh state, with the state root afterwards."""
        state = build_state(self.case, self.vm_class)
        computation = self._execute(state)
        outcome = outcome_of(computation)
        return _with_root(outcome, bytes(state.make_state_root()))


def _with_root(outcome: PathOutcome, root: bytes) -> PathOutcome:
    return PathOutcome(
        outcome.success,
        outcome.error,
        outcome.gas_used,
        outcome.gas_refund,
        outcome.output,
        outcome.logs,
        root,
    )


def outcome_of(computation: Any) -> PathOutcome:
    error = "" if computation.is_success else type(computation.error).__name__
    logs = tuple(
        (bytes(address), tuple(topics), bytes(data))
        for address, topics, data in computation.get_log_entries()
    )
    return PathOutcome(
        success=bool(computation.is_success),
        error=error,
        gas_used=int(computation.get_gas_used()),
        gas_refund=int(computation.get_gas_refund()),
        output=bytes(computation.output),
        logs=logs,
    )


def pyrevm_available() -> bool:
    try:
        import pyrevm  # noqa: F401
    except ImportError:
        return False
    return True


class PyRevmRunner:
    """The same pre-state and call on pyrevm (revm's interpreter), timed the same way."""

    def __init__(self, case: BenchCase, fork: str, *, clock: str = "wall") -> None:
        import pyrevm

        self.case = case
        self.clock = clock_function(clock)
        env = case.block
        block = pyrevm.BlockEnv(
            number=env.number,
            coinbase="0x" + env.coinbase.hex(),
            timestamp=env.timestamp,
            difficulty=0,
            prevrandao=env.prev_randao,
            basefee=env.base_fee,
            gas_limit=env.gas_limit,
            excess_blob_gas=0,
        )
        self.evm = pyrevm.EVM(env=pyrevm.Env(block=block), spec_id=PYREVM_SPECS[fork.lower()])
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
            start = self.clock()
            output = evm.message_call(
                self._sender,
                self._to,
                tx.data,
                value=tx.value,
                gas=tx.gas_limit,
                gas_price=tx.gas_price,
            )
            elapsed = self.clock() - start
            result = evm.result
            success = bool(result.is_success) if result is not None else False
            gas = int(result.gas_used) if result is not None else -1
            nlogs = len(result.logs) if result is not None else -1
        except Exception:  # pyrevm raises on revert/halt in some versions
            elapsed = self.clock() - start
            output, success, gas, nlogs = b"", False, -1, -1
        finally:
            evm.revert(checkpoint)
        return elapsed, (success, gas, bytes(output), nlogs)


def pyrevm_gas_ok(pyevm_gas: int, pyrevm_gas: int, prestorage_slots: int) -> bool:
    """Equal gas, or less in pyrevm by at most 4900 per pre-state slot (pyrevm treats slots
    inserted before the call as accessed and dirty: 2000 for the cold surcharge plus 2900 - 100
    for an SSTORE that resets the slot)."""
    return 0 <= pyevm_gas - pyrevm_gas <= 4900 * prestorage_slots


def expected_tx_gas(outcome: PathOutcome, intrinsic: int, fork: str) -> int:
    """Transaction-level gas used (what revm reports) from a message-level outcome."""
    used = intrinsic + outcome.gas_used
    quotient = 5 if fork.lower() not in ("frontier", "homestead") else 2
    return used - min(outcome.gas_refund, used // quotient)


@dataclass
class JitSide:
    vm_class: type
    backend: JitBackend | None
    compile_seconds: float  # the compiler's phases summed over the contracts
    compiled: int  # contracts resident after compiling beforehand
    contracts: int
    wall_seconds: float = 0.0  # compiling beforehand, backend start-up included
    phases: dict[str, float] = field(default_factory=dict)  # translate/optimise/codegen/link
    failures: list[str] = field(default_factory=list)  # why a contract has no program
    tier_up_seconds: float = 0.0  # recompiling at the tier-up level (phases summed)


_PHASES = ("translate", "optimise", "codegen", "link")


#: runs of a case that grow its regions, at most, before the tier-up (`make_jit_side`)
_GROWTH_RUNS = 8


def make_jit_side(
    case: BenchCase,
    stock_vm: type,
    *,
    stock_both: bool,
    tier_up: bool = True,
    regions: bool = False,
) -> JitSide:
    """The JIT VM class over a blocking backend, with every contract compiled beforehand (and,
    with `tier_up`, recompiled at the tier-up level, as the runtime does for hot code). With
    `regions`, each contract's program is a region (docs/regions.md): what pc 0 reaches, grown
    by runs of the case from their side exits until they take none (or `_GROWTH_RUNS`), then
    tiered up."""
    if stock_both:
        return JitSide(stock_vm, None, 0.0, 0, 0)
    events: list[CompilationEvent] = []
    # the process's linker and runtime library are built once per process (about 0.2 s), and
    # each compile worker starts its compiler before it takes jobs: neither is part of any
    # contract's compile time
    prepare_linker()
    start = time.perf_counter()
    tuning = RuntimeTuning() if tier_up else RuntimeTuning(tier_up_after=0)
    if regions:
        tuning.region_blocks, tuning.region_blocking = max(1, tuning.region_blocks or 16), True
    config = RuntimeConfig(  # no store: every run measures its own compilations
        enabled=True, blocking=True, store=None, on_compilation=events.append, tuning=tuning
    )
    backend = JitBackend.new(config)
    vm_class = jit_vm(stock_vm, backend)
    fork = str(stock_vm.fork)  # type: ignore[attr-defined]
    codes = case.codes()
    compiled = 0
    failures: list[str] = []
    ready: list[LookupRequest] = []
    for code in codes:
        request = LookupRequest(RuntimeCacheKey(keccak(code), fork), code)
        backend.compile_jit_sync(request)
        ok = backend.get_compiled(request.key.code_hash, fork) is not None
        compiled += ok
        if not ok:
            why = backend.failure_reason(request.key.code_hash, fork)
            failures.append(f"{len(code)}-byte contract not compiled: {why or 'no program'}")
        else:
            ready.append(request)
    if regions:
        for _ in range(_GROWTH_RUNS):  # a run's side exits grow the regions it left
            exits = sum(backend.side_exits().values())
            PyEvmRunner(case, vm_class).timed()
            backend.wait_idle(60)
            if sum(backend.side_exits().values()) == exits:
                break
    if tier_up:
        for request in ready:
            # the steady state of a hot contract: the runtime's tier-up build, done now rather
            # than after `tier_up_after` calls, and timed separately
            backend.tier_up_sync(request)
    wall = time.perf_counter() - start
    phases: dict[str, float] = {}
    tier_up_seconds = 0.0
    for event in events:
        times = {p: float(getattr(event, p)) for p in _PHASES}
        if event.tier_up:
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


def backend_counters(backend: JitBackend | None) -> dict[str, Any]:
    if backend is None:
        return {}
    snap = backend.stats()
    return {
        "lookup_hits": snap.lookup_hits,
        "lookup_misses": snap.lookup_misses,
        "misses_by_reason": dict(snap.misses_by_reason),
    }
