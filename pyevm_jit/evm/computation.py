"""The JIT computation: py-evm's message loop with a native fast path.

`JitComputationMixin.apply_computation` keeps py-evm's prologue (contracts created, initcode
gas, precompiles) and then asks the backend for a program compiled for (code hash, fork). On a
hit the native program runs; on a miss the stock interpreter loop runs.

The boundary between native code and py-evm (see `abi.py`):
- SUSPEND: a host operation (storage, calls, logs, ...). Its stack inputs move into the
  computation's own py-evm stack, py-evm's opcode for this fork runs against the computation,
  its outputs move back, and the program is called again at its resume point. Native frames
  never stay on the C stack while a child message runs.
- FALLBACK: a prepaid block check failed (or an invalid or unknown opcode was reached). The
  whole stack moves to py-evm and the interpreter finishes the message from that block's start
  (or that opcode), so errors and their classes are exactly the interpreter's.
- FAIL: an instruction failed (out of gas, memory, return data bounds). py-evm runs that one
  instruction on its inputs and raises its own error, with its own message.
- Observers (a tracing code stream, a profiling gas meter, opcode hooks): the computation's
  `jit_observe` says what native code must record for them, or that it must not run
  (`pyevm_jit.evm.observe`).
- Memory is one malloc'd buffer owned by the frame and shared through `NativeMemory`, the
  computation's `MemoryAPI`, so both sides see the same bytes without copying.
- The native state path (`evm.state_path`): SLOAD, SSTORE, TLOAD, TSTORE and LOG run natively
  against the frame's caches where they can; what they changed is handed to py-evm before every
  host operation, fallback and exit.

Modules: the frame and its memory (`frame`, `memory`), the table plan (`plan`), the run loop
(`run`), host operations (`hostops`), the state path (`state_path`), observers (`observe`); the
guarded copies of py-evm code paths it uses are in `pyevm_jit.lean`.

The opcode table is checked where it is used: every message looks at the table of the
computation actually running it (`computation.opcodes`: a class patched after `jit_vm`, a
subclass, a table set per instance) and derives from it, cached per table and contents, whether
compiled code may run and which state operations it may run natively (`TablePlan`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, ClassVar

from eth.abc import (
    ComputationAPI,
    MessageAPI,
    StateAPI,
    TransactionContextAPI,
)
from eth.vm.code_stream import CodeStream
from eth.vm.memory import Memory
from eth.vm.stack import Stack

from pyevm_jit.evm import entry
from pyevm_jit.evm.codehash import code_hash
from pyevm_jit.evm.frame import FramePool
from pyevm_jit.evm.hostops import JIT_PC
from pyevm_jit.evm.observe import Observation, ObservedRun, interpret, layout_for
from pyevm_jit.evm.plan import TablePlan, table_plan
from pyevm_jit.evm.run import run_interpreter, run_interpreter_learning, run_native
from pyevm_jit.evm.state_path import StatePlan
from pyevm_jit.lean import exact, guard, inplace
from pyevm_jit.opcodes import OBSERVED
from pyevm_jit.runtime.types import InterpretReason, LookupRequest, RuntimeCacheKey

if TYPE_CHECKING:
    from pyevm_jit.runtime.usage import KeyUsage

# Messages with more gas than the native signed 64-bit counter holds are interpreted.
MAX_NATIVE_GAS = 2**63 - 1
log = logging.getLogger("pyevm_jit.evm.vm")


class JitComputationMixin:
    """Mixed in front of a fork's Computation class by `pyevm_jit.evm.vm.jit_vm`."""

    jit_backend: ClassVar[Any] = None
    jit_fork: ClassVar[str] = ""
    #: why compiled code cannot run the class's own table as `jit_vm` found it (empty: it can);
    #: messages check the table they actually run with (`_jit_plan`)
    jit_unsupported: ClassVar[str] = ""
    #: whether messages use the lean paths of `pyevm_jit.lean` where their table allows
    jit_lean: ClassVar[bool] = False
    _jit_pool: ClassVar[FramePool]
    #: (table, a copy of its contents, plan, a reader of the table's version and its value
    #: then: `lean.inplace.table_version`) of the table last checked for this class
    _jit_table_entry: ClassVar[tuple[Any, dict[int, Any], TablePlan, Any, Any] | None] = None

    @classmethod
    def apply_message(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        """py-evm's `apply_message`, or its lean copy (`evm.entry`) when the class's is py-evm's
        own and its `apply_computation` the JIT's."""
        verdict = _class_verdicts.get(cls)
        if verdict[5]:
            return entry.apply_message(
                cls, _apply, verdict, state, message, transaction_context, parent_computation
            )
        return super().apply_message(  # type: ignore[misc]
            state, message, transaction_context, parent_computation=parent_computation
        )

    @classmethod
    def apply_computation(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        return _apply(
            cls, _class_verdicts.get(cls), state, message, transaction_context, parent_computation
        )

    def jit_observe(self) -> Observation | None:
        """What native code must record for whatever observes this message (see
        `pyevm_jit.evm.observe`). py-evm's own code stream and gas meter need nothing; any
        other one, a GasMeter whose charging methods are not py-evm's, or DEBUG2 logging
        (`guard.gas_meter_bypassed`) might observe execution in ways native code would bypass,
        so such messages are interpreted (one warning per reason) unless a subclass (an
        integration that knows them) says otherwise. (A code stream not made yet is py-evm's:
        `_Lazy`.)"""
        code = self.__dict__.get("code")
        if code is not None and type(code) is not CodeStream:
            return interpret("a code stream other than py-evm's")
        reason = guard.gas_meter_bypassed(self._gas_meter, self.logger)  # type: ignore[attr-defined]
        if not reason:
            return None
        exact.warn_customised(type(self).__name__, reason, "its messages are interpreted")
        return interpret(reason)

    @classmethod
    def jit_table_differences(cls, opcodes: dict[int, Any]) -> list[str]:
        """How a table departs from py-evm's for the fork in ways compiled code would not
        honour (`lean.exact.opcode_table_differences`). A subclass whose `jit_observe` records
        what some hooks would have seen leaves those out."""
        return exact.opcode_table_differences(cls.jit_fork, opcodes)

    @classmethod
    def _jit_plan(cls, opcodes: Any, renew: bool = False) -> TablePlan:
        """The plan of the table a message runs with, cached while a table with the same
        contents comes back (the class's own, or one set per instance with equal entries);
        made again when `renew` (an entry changed in place: `_jit_checked_plan`)."""
        version = inplace.table_version(opcodes)  # read first: a change while judging is seen
        entry = cls._jit_table_entry
        if entry is not None and opcodes == entry[1] and not renew:
            plan = entry[2]
        else:
            plan = table_plan(cls, opcodes)
        cls._jit_table_entry = (opcodes, dict(opcodes), plan, *version)
        return plan

    @classmethod
    def _jit_checked_plan(cls, code: bytes, opcodes: Any, plan: TablePlan) -> TablePlan:
        """`plan`, or the plan made again for `opcodes` when an entry `code` holds (every
        entry, for a plan that interprets the table) changed in place since `plan` was made
        (`lean.inplace`)."""
        code_hash = _lookup_request(code, cls.jit_fork).key.code_hash
        ops: set[int] | None = None
        for _attempt in range(3):
            snapshot = plan.snapshot
            if snapshot is None:
                return plan
            if plan.unsupported:
                if snapshot.unchanged():
                    return plan
            else:
                guard = plan.guards.get(code_hash)
                if guard is None:
                    ops = inplace.code_opcodes(code) if ops is None else ops
                    guard = snapshot.guard(ops)
                    if len(plan.guards) >= inplace.GUARDS_LIMIT:
                        plan.guards.clear()
                    plan.guards[code_hash] = guard
                if guard.holds():
                    return plan
            plan = cls._jit_plan(opcodes, renew=True)
        return _UNSTABLE_PLAN  # entries changed again while judged (another thread)

    @classmethod
    def _jit_program(
        cls, message: MessageAPI, opcodes: Any, plan: TablePlan, observed: bool = False
    ) -> tuple[TablePlan, Any, KeyUsage]:
        """The plan the message runs with (`plan`, or the one made again when an entry of
        its table changed in place since: `_jit_checked_plan`); the program for the
        message's code, compiled for the fork, or for `<fork>.observed` (with the logs
        observers need, `ForkSpec.observed`), or None; and the key's account
        (`runtime.usage`)."""
        backend = cls.jit_backend
        code = message.code
        if not observed:  # a code object this plan ran before: its request and guard
            kept = plan.entries.get(id(code))
            if kept is not None and kept[0] is code and kept[2].holds():
                program = backend.lookup(kept[1]).program
                if program is None:
                    return plan, None, backend.usage(kept[1].key)
                return plan, program, program.usage
        if plan.unsupported:
            plan = cls._jit_checked_plan(code, opcodes, plan)
        if plan.unsupported:
            key = _lookup_request(code, cls.jit_fork).key
            backend.count_interpreted(InterpretReason.INELIGIBLE, key)
            return plan, None, backend.usage(key)
        fork = cls.jit_fork
        if plan.variant or observed:
            fork += plan.variant + (OBSERVED if observed else "")
        request = _lookup_request(code, fork)
        # the entries this code holds, as the plan was made for them (C-level comparisons:
        # `lean.inplace`)
        guard = plan.guards.get(request.key.code_hash)
        if guard is None or not guard.holds():
            checked = cls._jit_checked_plan(code, opcodes, plan)
            if checked is not plan:
                return cls._jit_program(message, opcodes, checked, observed)
            guard = plan.guards.get(request.key.code_hash)
        if guard is not None and not observed and code.__class__ is bytes:
            if len(plan.entries) >= inplace.GUARDS_LIMIT:
                plan.entries.clear()
            plan.entries[id(code)] = (code, request, guard)
        program = backend.lookup(request).program
        if program is None:
            return plan, None, backend.usage(request.key)
        return plan, program, program.usage


def _apply(
    cls: Any,
    verdict: tuple[bool, str, bool, int, Any, bool],
    state: StateAPI,
    message: MessageAPI,
    transaction_context: TransactionContextAPI,
    parent_computation: ComputationAPI | None,
) -> ComputationAPI:
    """`JitComputationMixin.apply_computation` of `cls` (`verdict`: its class verdict)."""
    own_apply, customised, storage_ok, init_kind, make_meter, _lean_entry = verdict
    if own_apply:  # the wrapped class's own apply_computation: it runs instead
        cls.jit_backend.count_interpreted(InterpretReason.INELIGIBLE)
        return super(JitComputationMixin, cls).apply_computation(
            state, message, transaction_context, parent_computation
        )
    if init_kind:
        built = _new_computation(cls, init_kind, make_meter, state, message, transaction_context)
    else:
        built = cls(state, message, transaction_context)
    with built as computation:
        if computation.is_origin_computation:
            computation.contracts_created = []
            if message.is_create:
                cls.consume_initcode_gas_cost(computation)
        if parent_computation is not None:
            computation.contracts_created = parent_computation.contracts_created
        if message.is_create:
            computation.contracts_created.append(message.storage_address)

        precompile = computation.precompiles.get(message.code_address, None)
        if precompile is not None:
            if not message.is_delegation:
                precompile(computation)
            return computation

        if customised:  # gas, memory or stack methods customised
            cls.jit_backend.count_interpreted(InterpretReason.INELIGIBLE)
            run_interpreter(computation)
            return computation
        code = message.code
        if not code or message.gas > MAX_NATIVE_GAS:
            if not code and cls.jit_lean and guard.runs_nothing(computation.opcodes):
                return computation  # py-evm's loop would run its STOP
            run_interpreter(computation)
            return computation
        # the table this message runs with, checked where it is used: the same object with
        # the same contents as last time (one read of the dict's version, or one C-level
        # dict comparison: `lean.inplace.table_version`) reuses the plan; tables are never
        # copied or wrapped, so a patch to any of them (py-evm's own fork table included)
        # is seen by the next message, and so is an entry of it changed in place
        # (`_jit_program`)
        opcodes = computation.opcodes
        entry = cls._jit_table_entry
        if entry is not None and entry[0] is opcodes and entry[3].value == entry[4]:
            plan = entry[2]
        else:
            plan = cls._jit_plan(opcodes)
        observation = computation.jit_observe()
        if observation is not None and observation.interpret_reason:
            request = _lookup_request(code, cls.jit_fork)
            cls.jit_backend.count_interpreted(InterpretReason.INELIGIBLE, request.key)
            _timed_interpret(computation, cls.jit_backend.usage(request.key))
            return computation
        departure = exact.message_objects_departure(computation)
        if departure:
            exact.warn_customised(cls.__name__, departure, "its messages are interpreted")
            request = _lookup_request(code, cls.jit_fork)
            cls.jit_backend.count_interpreted(InterpretReason.INELIGIBLE, request.key)
            _timed_interpret(computation, cls.jit_backend.usage(request.key))
            return computation
        plan, program, usage = cls._jit_program(message, opcodes, plan, observation is not None)
        if program is None:
            _timed_interpret(computation, usage)
            return computation
        state_path = plan.state
        if state_path.keep and not (storage_ok and exact.state_path_exact(computation.state)):
            state_path = _NO_STATE_PATH  # storage methods customised: py-evm's opcodes
        # the message's own seconds (its children's taken off) go to its key's account
        started = _clock()
        outer = _nested[0]
        _nested[0] = 0.0
        try:
            pool = cls._jit_pool
            if observation is None:
                run_native(computation, program.native, pool, plan, state_path)
            else:
                layout = layout_for(bytes(code), cls.jit_fork + plan.variant)
                observed = ObservedRun(observation, layout, computation)
                run_native(computation, program.native, pool, plan, state_path, observed)
        finally:
            elapsed = _clock() - started
            usage.native_seconds += elapsed - _nested[0]
            _nested[0] = outer + elapsed
    return computation


def _judge(cls: type) -> tuple[bool, str, bool, int, Any, bool]:
    below = super(JitComputationMixin, cls).apply_computation  # type: ignore[misc]
    init_kind = guard.computation_init_kind(cls)
    make_meter = guard.gas_meter_maker(cls) if init_kind else None
    lean_entry = entry.judge_class(cls, JitComputationMixin)
    return (*exact.judge_computation(cls, below), init_kind, make_meter, lean_entry)


_object_new = object.__new__


def _new_computation(
    cls: type,
    kind: int,
    make_meter: Any,
    state: Any,
    message: Any,
    transaction_context: Any,
) -> Any:
    """A computation as py-evm's BaseComputation.__init__ (kind 1; and Shanghai's after it:
    kind 2, `guard.computation_init_kind`) builds it, except for the code stream, stack and
    memory: a message that runs native code never uses them, so they are made when something
    first reads them (`_Lazy`: the same objects, as new as py-evm's). The gas meter is the one
    the class's `_configure_gas_meter` returns (`make_meter`: built directly for py-evm's
    own methods, `guard.gas_meter_maker`)."""
    computation: Any = _object_new(cls)
    computation.state = state
    computation.msg = message
    computation.transaction_context = transaction_context
    if message.code.__class__ is not bytes:
        computation.code = CodeStream(message.code)  # py-evm's check of the code, now
    if make_meter is None:
        computation._gas_meter = computation._configure_gas_meter()
    else:
        computation._gas_meter = make_meter(computation, message.gas)
    computation.children = []
    computation.accounts_to_delete = []
    computation.beneficiaries = []
    computation._log_entries = []
    computation.data_floor_cost = 0
    if kind == 2:  # EIP-3651: warm coinbase
        state.mark_address_warm(state.coinbase)
    return computation


class _Lazy:
    """An attribute of a computation made on its first read (then an ordinary instance
    attribute: this class attribute is no longer asked). py-evm's constructor sets all three
    on the instance, so the descriptor only serves computations built by `_new_computation`."""

    __slots__ = ("name", "make")

    def __init__(self, name: str, make: Any) -> None:
        self.name = name
        self.make = make

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return None  # py-evm's class attribute
        value = self.make(instance)
        instance.__dict__[self.name] = value
        return value


JitComputationMixin.code = _Lazy("code", lambda c: _made_code(c))  # type: ignore[attr-defined]
JitComputationMixin._stack = _Lazy("_stack", lambda c: Stack())  # type: ignore[attr-defined]
JitComputationMixin._memory = _Lazy("_memory", lambda c: _made_memory(c))  # type: ignore[attr-defined]


def _made_code(computation: Any) -> CodeStream:
    """py-evm's CodeStream of a computation, at the program counter a lean call running now
    left for it (`evm.hostops.JIT_PC`; else at 0, as new)."""
    code = CodeStream(computation.msg.code)
    pc = computation.__dict__.get(JIT_PC)
    if pc is not None:
        code.program_counter = pc
    return code


def _made_memory(computation: Any) -> Memory:
    """py-evm's Memory of a computation: empty, or holding what its native run left
    (`evm.run.run_native`)."""
    memory = Memory()
    left = computation.__dict__.pop("_jit_memory", None)
    if left:
        memory._bytes = bytearray(left)
    return memory


#: per JIT computation class: `lean.exact.judge_computation`
_class_verdicts = exact.ClassVerdicts(_judge)
#: the state plan of a message whose state path is off (`lean.exact.state_path_exact`)
_NO_STATE_PATH = StatePlan.disabled()
#: the plan of a message whose table's entries kept changing while they were judged
_UNSTABLE_PLAN = TablePlan("opcode entries changing while judged", _NO_STATE_PATH)


# id(code) -> (code, fork, request): the same code object asks with the same request (its
# hash, key and request objects built once); the code is held so its id is not reused.
_requests: dict[int, tuple[bytes, str, LookupRequest]] = {}
_REQUESTS_LIMIT = 4096


def _lookup_request(code: bytes, fork: str) -> LookupRequest:
    entry = _requests.get(id(code))
    if entry is not None and entry[0] is code and entry[1] == fork:
        return entry[2]
    request = LookupRequest(RuntimeCacheKey(code_hash(code), fork), code)
    if len(_requests) >= _REQUESTS_LIMIT:
        _requests.clear()
    _requests[id(code)] = (code, fork, request)
    return request


_clock = time.perf_counter
#: seconds of the child messages of the message running now (each timed message's own time is
#: its elapsed time less its children's: `runtime.usage`)
_nested = [0.0]


def _timed_interpret(computation: Any, usage: KeyUsage) -> None:
    started = _clock()
    outer = _nested[0]
    _nested[0] = 0.0
    learn = usage.learn
    try:
        if learn is None:
            run_interpreter(computation)
        else:  # the key is promoted: this run's blocks make its first region
            usage.learn = None
            pcs: set[int] = set()
            try:
                run_interpreter_learning(computation, pcs)
            finally:
                learn(pcs)
    finally:
        elapsed = _clock() - started
        usage.add_interpreted_time(elapsed - _nested[0])
        _nested[0] = outer + elapsed
