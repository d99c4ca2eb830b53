"""The customisation fuzzer (`pyevm-jit fuzz --customise`): random overrides, hooks and patches
of a py-evm VM over random programs, stock py-evm against `jit_vm` of the same customised VM.

Each case picks a fork, a program from the differential fuzzer's generators (`loop.make_scenario`)
and one to three customisations from `CATALOGUE` -- the ways frameworks on py-evm customise a VM
(overridden computation and state methods, capped memory, replaced, wrapped and stateful
opcodes, cheat codes, py-evm's helpers patched, opcode objects -- a VM's own and py-evm's -- and
py-evm's opcode class patched in place between two transactions). The transaction runs on the
customised VM with py-evm's interpreter and through `jit_vm` (a blocking backend), in this
process; the outcomes (status, error, gas, refund, output,
logs, state root, accounts) and the calls every hook recorded must be equal. A case that
patches in place runs twice, the patch made between the runs on both sides.

Cases are numbered; case N of seed S is the same on every run (`--seed S --case N` replays it).
"""

from __future__ import annotations

import contextlib
import functools
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from eth.exceptions import OutOfGas, WriteProtection
from eth.vm.forks.berlin import logic as berlin_logic
from eth.vm.memory import Memory
from eth.vm.opcode import _FastOpcode, as_opcode

from pyevm_jit.forks import fork_name, fork_vm
from pyevm_jit.fuzz.generate import RandomSource
from pyevm_jit.fuzz.loop import FuzzTally, make_scenario
from pyevm_jit.testing import differential as d

#: forks the customisation fuzzer runs by default (all of them have EIP-2929 storage)
DEFAULT_FORKS = ("berlin", "london", "shanghai", "cancun", "prague")
SLOAD, SSTORE, TLOAD, TSTORE, BALANCE, BLOCKHASH = 0x54, 0x55, 0x5C, 0x5D, 0x31, 0x40
TIMESTAMP, NUMBER, COINBASE, CALLER = 0x42, 0x43, 0x41, 0x33


@dataclass
class Custom:
    """What the chosen customisations make of a fork's VM (built fresh per case)."""

    fork: str
    log: list[Any] = field(default_factory=list)  # what the hooks saw, in order
    computation: dict[str, Any] = field(default_factory=dict)  # methods of a subclass
    state: dict[str, Any] = field(default_factory=dict)
    opcodes: dict[int, Any] = field(default_factory=dict)
    #: context managers around both runs (patches of py-evm's module functions)
    patches: list[Callable[[], contextlib.AbstractContextManager[Any]]] = field(
        default_factory=list
    )
    #: made between the first and the second run, on both sides (in-place patches)
    between: list[Callable[[], None]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    #: the classes `vm` made, for the overrides' super() calls
    made: dict[str, type] = field(default_factory=dict)

    def up(self, kind: str, obj: Any) -> Any:
        """super() of the class `vm` made for `kind` ("computation" or "state")."""
        made: Any = self.made[kind]
        return super(made, obj)

    def stock_opcode(self, op: int) -> Any:
        return fork_vm(self.fork)._state_class.computation_class.opcodes.get(op)  # type: ignore[attr-defined]

    def vm(self) -> type:
        vm = fork_vm(self.fork)
        state_class: Any = vm._state_class  # type: ignore[attr-defined]
        computation: Any = state_class.computation_class
        if self.computation:
            computation = type("CustomComputation", (computation,), dict(self.computation))
            self.made["computation"] = computation
        if self.opcodes:
            table = {**computation.opcodes, **self.opcodes}
            computation = computation.configure(__name__="CustomTable", opcodes=table)
        namespace = {**self.state, "computation_class": computation}
        state = type("CustomState", (state_class,), namespace)
        self.made["state"] = state
        made: type = vm.configure(__name__="CustomVM", _state_class=state)
        return made


# --- the catalogue -------------------------------------------------------------------------------
def apply_hook(c: Custom, rng: random.Random) -> None:
    log = c.log

    def apply_computation(
        cls: Any, state: Any, message: Any, context: Any, parent_computation: Any = None
    ) -> Any:
        log.append(("apply", message.depth))
        made: Any = c.made["computation"]
        return super(made, cls).apply_computation(state, message, context, parent_computation)

    c.computation["apply_computation"] = classmethod(apply_computation)


def reprice(c: Custom, rng: random.Random) -> None:
    extra = rng.choice((1, 3, 100))
    reason_only = rng.choice((None, "SLOAD", "ADD", "MSTORE", "SHA3"))
    log = c.log

    def consume_gas(self: Any, amount: int, reason: str) -> None:
        if reason_only is None or reason == reason_only:
            log.append(("gas", reason))
            amount += extra
        c.up("computation", self).consume_gas(amount, reason)

    c.computation["consume_gas"] = consume_gas


def memory_cap(c: Custom, rng: random.Random) -> None:
    cap = rng.choice((32, 64, 256, 4096))

    def extend_memory(self: Any, start_position: int, size: int) -> None:
        if size and start_position + size > cap:
            raise OutOfGas(f"memory cap {cap}")
        c.up("computation", self).extend_memory(start_position, size)

    c.computation["extend_memory"] = extend_memory


class _CappedMemory(Memory):
    cap = 128

    def extend(self, start_position: int, size: int) -> None:
        if size and start_position + size > self.cap:
            raise OutOfGas(f"memory class cap {self.cap}")
        super().extend(start_position, size)


def memory_class(c: Custom, rng: random.Random) -> None:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        c.up("computation", self).__init__(*args, **kwargs)
        self._memory = _CappedMemory()

    c.computation["__init__"] = __init__


def always_cold(c: Custom, rng: random.Random) -> None:
    log = c.log

    def is_storage_warm(self: Any, address: bytes, slot: int) -> bool:
        log.append(("warm?", slot))
        return False

    c.state["is_storage_warm"] = is_storage_warm


def pinned_slot(c: Custom, rng: random.Random) -> None:
    pinned, value = rng.choice((0, 1, 2, 3)), rng.choice((0, 7, 2**255))

    def get_storage(self: Any, address: bytes, key: int = 0, from_journal: bool = True,
                    slot: int | None = None) -> int:  # fmt: skip
        key = key if slot is None else slot
        if key == pinned:
            return value
        return c.up("state", self).get_storage(address, key, from_journal)

    c.state["get_storage"] = get_storage


def counted_writes(c: Custom, rng: random.Random) -> None:
    log = c.log

    def set_storage(self: Any, address: bytes, slot: int, value: int) -> None:
        log.append(("set", slot, value))
        c.up("state", self).set_storage(address, slot, value)

    c.state["set_storage"] = set_storage


def counted_refunds(c: Custom, rng: random.Random) -> None:
    log = c.log

    def refund_gas(self: Any, amount: int) -> None:
        log.append(("refund", amount))
        c.up("computation", self).refund_gas(amount)

    c.computation["refund_gas"] = refund_gas


def patched_mark_warm(c: Custom, rng: random.Random) -> None:
    log = c.log

    @contextlib.contextmanager
    def patch() -> Iterator[None]:
        original = berlin_logic._mark_storage_warm

        def recording(computation: Any, slot: int) -> bool:
            log.append(("mark", slot))
            return original(computation, slot)

        berlin_logic._mark_storage_warm = recording
        try:
            yield
        finally:
            berlin_logic._mark_storage_warm = original

    c.patches.append(patch)


def own_opcode_object(c: Custom, rng: random.Random) -> None:
    """A copy of py-evm's opcode object (same logic and gas), patched in place between runs."""
    op = rng.choice((SLOAD, SSTORE, TLOAD, BALANCE, 0x01, 0x52, NUMBER, CALLER))
    stock = c.stock_opcode(op)
    if type(stock) is not _FastOpcode:
        return
    mine = _FastOpcode(stock.logic_fn, stock.mnemonic, stock.gas_cost)
    c.opcodes[op] = mine
    log = c.log
    logic = stock.logic_fn

    def patched(computation: Any) -> Any:
        log.append(("patched", op))
        return logic(computation)

    if rng.random() < 0.5:
        c.between.append(lambda: setattr(mine, "logic_fn", patched))
    else:
        c.between.append(lambda: setattr(mine, "gas_cost", stock.gas_cost + 5))


def wrapped_logic(c: Custom, rng: random.Random) -> None:
    """A tracer or policy hook around py-evm's logic (functools.wraps)."""
    op = rng.choice((SLOAD, SSTORE, TLOAD, TSTORE, BALANCE, 0xA1, 0x20))
    stock = c.stock_opcode(op)
    if type(stock) is not _FastOpcode:
        return
    logic = stock.logic_fn
    log = c.log
    refused = rng.choice((None, 0, 1))

    @functools.wraps(logic)
    def hooked(computation: Any) -> Any:
        log.append(("hook", op, computation.code.program_counter))
        if op == SSTORE and refused is not None and computation._stack.values:
            top = computation._stack.values[-1]
            if (top if isinstance(top, int) else int.from_bytes(top, "big")) == refused:
                raise WriteProtection(f"slot {refused} is read-only")
        return logic(computation)

    c.opcodes[op] = as_opcode(logic_fn=hooked, mnemonic=stock.mnemonic, gas_cost=stock.gas_cost)


def repriced_host_opcode(c: Custom, rng: random.Random) -> None:
    op = rng.choice((SLOAD, BALANCE, BLOCKHASH, SSTORE))
    stock = c.stock_opcode(op)
    if type(stock) is not _FastOpcode:
        return
    c.opcodes[op] = as_opcode(stock.logic_fn, stock.mnemonic, stock.gas_cost + rng.choice((1, 7)))


class _FixedWord:
    """An environment opcode of a framework's: its own __call__ (no logic_fn)."""

    def __init__(self, mnemonic: str, value: int, log: list[Any]) -> None:
        self.mnemonic = mnemonic
        self.gas_cost = 2
        self.value = value
        self.log = log

    def __call__(self, computation: Any) -> None:
        self.log.append(("fixed", self.mnemonic))
        computation.consume_gas(self.gas_cost, self.mnemonic)
        computation.stack_push_int(self.value)


def fixed_environment(c: Custom, rng: random.Random) -> None:
    op, name = rng.choice(((TIMESTAMP, "TIMESTAMP"), (NUMBER, "NUMBER"), (CALLER, "CALLER")))
    c.opcodes[op] = _FixedWord(name, rng.choice((0, 1234, 2**160 - 1)), c.log)


def stateful_environment(c: Custom, rng: random.Random) -> None:
    counts: dict[int, list[Any]] = {}

    def number(computation: Any) -> None:
        seen = counts.setdefault(id(computation.state), [computation.state])
        seen.append(1)
        computation.stack_push_int(len(seen) - 1)

    c.opcodes[NUMBER] = as_opcode(logic_fn=number, mnemonic="NUMBER", gas_cost=2)


def timestamp_cheat(c: Custom, rng: random.Random) -> None:
    """BLOCKHASH replaced by a cheat code that moves the timestamp (py-evm's TIMESTAMP stays)."""
    stock = c.stock_opcode(BLOCKHASH)
    step = rng.choice((1, 1000))

    def warp(computation: Any) -> None:
        computation.stack_pop1_int()
        computation.state.execution_context._timestamp += step
        computation.stack_push_int(0)

    c.opcodes[BLOCKHASH] = as_opcode(logic_fn=warp, mnemonic="BLOCKHASH", gas_cost=stock.gas_cost)


def pyevm_opcode_patched(c: Custom, rng: random.Random) -> None:
    """py-evm's own opcode object patched in place between the runs (and put back after): an
    arithmetic, stack, environment or state opcode, its logic wrapped or its gas raised."""
    op = rng.choice((0x01, 0x02, 0x16, 0x50, 0x60, 0x80, TIMESTAMP, SLOAD, SSTORE))
    stock = c.stock_opcode(op)
    if type(stock) is not _FastOpcode:
        return
    log = c.log
    logic, gas = stock.logic_fn, stock.gas_cost

    def patched(computation: Any) -> Any:
        log.append(("py-evm patched", op))
        return logic(computation)

    changes: list[Callable[[], None]] = [
        lambda: setattr(stock, "logic_fn", patched),
        lambda: setattr(stock, "gas_cost", gas + 1),
    ]
    c.between.append(rng.choice(changes))

    @contextlib.contextmanager
    def restore() -> Iterator[None]:
        try:
            yield
        finally:
            stock.logic_fn, stock.gas_cost = logic, gas

    c.patches.append(restore)


def pyevm_opcode_class_patched(c: Custom, rng: random.Random) -> None:
    """py-evm's opcode class gets another `__call__` between the runs (a tracer of every
    instruction, or one more gas for each), put back after."""
    log = c.log
    stock_call = _FastOpcode.__call__
    surcharge = rng.choice((0, 1))

    def traced(self: Any, computation: Any) -> Any:
        log.append(("instruction", self.mnemonic))
        if surcharge:
            computation.consume_gas(surcharge, "surcharge")
        return stock_call(self, computation)

    c.between.append(lambda: setattr(_FastOpcode, "__call__", traced))

    @contextlib.contextmanager
    def restore() -> Iterator[None]:
        try:
            yield
        finally:
            _FastOpcode.__call__ = stock_call  # type: ignore[method-assign]

    c.patches.append(restore)


Maker = Callable[[Custom, random.Random], None]
CATALOGUE: dict[str, Maker] = {
    "apply_computation hook": apply_hook,
    "repriced consume_gas": reprice,
    "capped extend_memory": memory_cap,
    "capped Memory class": memory_class,
    "always-cold state": always_cold,
    "pinned slot": pinned_slot,
    "counted set_storage": counted_writes,
    "counted refund_gas": counted_refunds,
    "patched _mark_storage_warm": patched_mark_warm,
    "own opcode object patched in place": own_opcode_object,
    "wrapped logic hook": wrapped_logic,
    "repriced host opcode": repriced_host_opcode,
    "environment opcode with its own __call__": fixed_environment,
    "stateful environment getter": stateful_environment,
    "timestamp cheat code": timestamp_cheat,
    "py-evm's opcode patched in place": pyevm_opcode_patched,
    "py-evm's opcode class patched": pyevm_opcode_class_patched,
}


def customise(
    fork: str, rng: random.Random, count: int, names: tuple[str, ...] | None = None
) -> Custom:
    """`count` customisations drawn from the catalogue (`names`: these instead)."""
    c = Custom(fork)
    for name in names if names is not None else rng.sample(sorted(CATALOGUE), count):
        CATALOGUE[name](c, rng)
        c.names.append(name)
    return c


# --- running -------------------------------------------------------------------------------------
@dataclass
class CustomReport(FuzzTally):
    """`programs`: the customised cases run (one program each)."""

    native_cases: int = 0
    divergences: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"{self.programs} customised cases in {self.seconds:.0f}s "
            f"({self.native_cases} ran native code), {len(self.divergences)} divergences",
        ]
        lines += [f"  {line}" for line in self.divergences]
        return "\n".join(lines)


def run_case(
    seed: int,
    index: int,
    forks: tuple[str, ...],
    backend: Any,
    names: tuple[str, ...] | None = None,
) -> tuple[list[str], bool]:
    """Case `index` of `seed`: (differences, whether native code ran on the JIT side)."""
    from pyevm_jit.evm.vm import jit_vm

    rng = random.Random(f"customise-{seed}-{index}")
    fork = forks[index % len(forks)]
    _, scenario = make_scenario(RandomSource(rng), rng, fork, ())
    custom = customise(fork, rng, rng.choice((1, 1, 2, 3)), names)
    rounds = 2 if custom.between else 1
    with contextlib.ExitStack() as stack:
        for patch in custom.patches:
            stack.enter_context(patch())
        vm = custom.vm()
        jit = jit_vm(vm, backend)
        diffs: list[str] = []
        native = False
        stock_logs: list[Any] = []
        jit_logs: list[Any] = []
        for round_ in range(rounds):
            if round_:
                for change in custom.between:
                    change()
            del custom.log[:]
            stock = d.execute(scenario, vm)
            stock_logs.append(list(custom.log))
            del custom.log[:]
            hits = backend.stats().lookup_hits
            outcome = d.execute(scenario, jit)
            native = native or backend.stats().lookup_hits > hits
            jit_logs.append(list(custom.log))
            found = d.compare(stock, outcome)
            if (
                found
                and stock.status == outcome.status == "crash"
                and stock.detail == outcome.detail
            ):
                found = []  # the same exception out of py-evm on both sides (a hook's doing)
            diffs += [f"run {round_ + 1}: {line}" for line in found]
        if stock_logs != jit_logs:
            diffs.append(f"hook calls: stock {stock_logs!r:.300}, JIT {jit_logs!r:.300}")
    if diffs:
        diffs.insert(0, f"seed {seed} case {index} ({fork}; {', '.join(custom.names)})")
        diffs.append(f"code 0x{scenario.code.hex()[:400]}")
    return diffs, native


def fuzz_customised(
    seconds: float,
    seed: int,
    forks: tuple[str, ...] = DEFAULT_FORKS,
    *,
    max_cases: int | None = None,
    only_case: int | None = None,
    stream: TextIO | None = None,
) -> CustomReport:
    """Run customised cases for `seconds` (or `max_cases`; `only_case`: that case alone)."""
    from pyevm_jit.runtime import JitBackend, RuntimeConfig

    stream = stream if stream is not None else sys.stderr
    forks = tuple(fork_name(f) for f in forks)
    report = CustomReport()
    start = time.monotonic()
    last = start
    with JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None)) as backend:
        index = only_case if only_case is not None else 0
        while time.monotonic() - start < seconds and (
            max_cases is None or report.programs < max_cases
        ):
            diffs, native = run_case(seed, index, forks, backend)
            report.programs += 1
            report.native_cases += native
            if diffs:
                report.divergences.append(" | ".join(diffs))
                print("divergence: " + "\n  ".join(diffs), file=stream, flush=True)
            if only_case is not None:
                break
            index += 1
            now = time.monotonic()
            if now - last >= 15:
                last = now
                print(
                    f"[{now - start:6.0f}s] cases {report.programs} native {report.native_cases} "
                    f"divergences {len(report.divergences)}",
                    file=stream,
                    flush=True,
                )
    report.seconds = time.monotonic() - start
    return report
