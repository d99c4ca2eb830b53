"""Per-opcode facts (stack effect, immediates, how the JIT runs it) and per-fork tables taken
from py-evm: which opcodes exist in a fork and what they cost.

py-evm is the oracle: the opcode set and static gas of a fork are read from that fork's
`Computation.opcodes`; dynamic gas constants from `eth.constants` and the opcodes' own
configuration (e.g. EXP's per-byte cost is a curried keyword of its logic function).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
from dataclasses import dataclass
from typing import Any

from eth import constants as eth_constants
from eth.vm import opcode_values

from pyevm_jit.forks import vm_classes
from pyevm_jit.gas_rules import (
    SstoreRule,
    log_gas,
    sload_cold_cost,
    sload_hit_cost,
    sstore_rule,
    transient_gas,
)
from pyevm_jit.osaka.constants import CLZ as OSAKA_CLZ


class Kind(enum.Enum):
    """How the compiled program executes an opcode."""

    NATIVE = "native"  # fully in native code
    ENV = "env"  # a per-message constant read from the context's environment words
    HOST = "host"  # native code suspends; py-evm's own opcode runs; native code resumes
    CONTROL = "control"  # ends a block: jumps and halts, handled natively


@dataclass(frozen=True)
class OpInfo:
    """Everything the package knows about one opcode, whatever the fork (the fork's own facts,
    validity and gas, come from py-evm: `ForkSpec`)."""

    name: str  # py-evm's mnemonic (`eth.vm.opcode_values`), INVALID for 0xFE
    inputs: int
    outputs: int
    kind: Kind
    immediate: int = 0  # bytes of PUSH data that follow the opcode
    #: reads or writes memory (it has memory offsets and sizes among its inputs)
    memory: bool = False
    #: can fail after its block's head checks (dynamic gas, memory, bounds): which inputs
    #: (0: the top) py-evm reads before it raises (the others are popped unread, so a failing
    #: program does not write their slots); None: it cannot fail there
    fail_inputs: tuple[int, ...] | None = None
    #: ends the message (STOP, RETURN, REVERT, INVALID, SELFDESTRUCT)
    halts: bool = False
    #: runs a child message (calls and creates): the return data buffer is new afterwards
    child: bool = False
    #: reads or writes storage or transient storage (each has a native fast path)
    storage: bool = False
    #: a host operation that, as py-evm implements it, never writes any account's storage or
    #: transient storage (native storage caches stay valid across py-evm's own opcode)
    keeps_storage: bool = False
    #: 256-bit arithmetic with 64-bit fast paths and runtime-library calls (compile budgets)
    wide: bool = False

    @property
    def may_fail(self) -> bool:
        return self.fail_inputs is not None


N, E, H, C = Kind.NATIVE, Kind.ENV, Kind.HOST, Kind.CONTROL
_MEM = {"memory": True}
_WIDE = {"wide": True}
_NEUTRAL = {"keeps_storage": True}
_STORAGE = {"storage": True}
_CHILD = {"memory": True, "child": True}


def _fails(*inputs: int, memory: bool = False) -> dict[str, Any]:
    return {"fail_inputs": inputs, "memory": memory}


#: (name, inputs, outputs, kind, facts) of every opcode but PUSHn, DUPn, SWAPn and LOGn
_ROWS: tuple[tuple[str, int, int, Kind, dict[str, Any]], ...] = (
    ("STOP", 0, 0, C, {"halts": True}),
    ("ADD", 2, 1, N, {}), ("MUL", 2, 1, N, {}), ("SUB", 2, 1, N, {}),
    ("DIV", 2, 1, N, _WIDE), ("SDIV", 2, 1, N, _WIDE), ("MOD", 2, 1, N, _WIDE),
    ("SMOD", 2, 1, N, _WIDE), ("ADDMOD", 3, 1, N, _WIDE), ("MULMOD", 3, 1, N, _WIDE),
    ("EXP", 2, 1, N, {**_fails(1), **_WIDE}), ("SIGNEXTEND", 2, 1, N, _WIDE),
    ("LT", 2, 1, N, {}), ("GT", 2, 1, N, {}), ("SLT", 2, 1, N, {}), ("SGT", 2, 1, N, {}),
    ("EQ", 2, 1, N, {}), ("ISZERO", 1, 1, N, {}), ("AND", 2, 1, N, {}), ("OR", 2, 1, N, {}),
    ("XOR", 2, 1, N, {}), ("NOT", 1, 1, N, {}), ("BYTE", 2, 1, N, _WIDE),
    ("SHL", 2, 1, N, _WIDE), ("SHR", 2, 1, N, _WIDE), ("SAR", 2, 1, N, _WIDE),
    ("CLZ", 1, 1, N, {}),
    ("SHA3", 2, 1, N, _fails(0, 1, memory=True)),
    ("ADDRESS", 0, 1, E, {}), ("BALANCE", 1, 1, H, _NEUTRAL), ("ORIGIN", 0, 1, E, {}),
    ("CALLER", 0, 1, E, {}), ("CALLVALUE", 0, 1, E, {}), ("CALLDATALOAD", 1, 1, N, {}),
    ("CALLDATASIZE", 0, 1, N, {}), ("CALLDATACOPY", 3, 0, N, _fails(0, 2, memory=True)),
    ("CODESIZE", 0, 1, N, {}), ("CODECOPY", 3, 0, N, _fails(0, 2, memory=True)),
    ("GASPRICE", 0, 1, E, {}), ("EXTCODESIZE", 1, 1, H, _NEUTRAL),
    ("EXTCODECOPY", 4, 0, H, {**_MEM, **_NEUTRAL}), ("RETURNDATASIZE", 0, 1, N, {}),
    ("RETURNDATACOPY", 3, 0, N, _fails(0, 1, 2, memory=True)),
    ("EXTCODEHASH", 1, 1, H, _NEUTRAL), ("BLOCKHASH", 1, 1, H, _NEUTRAL),
    ("COINBASE", 0, 1, E, {}), ("TIMESTAMP", 0, 1, E, {}), ("NUMBER", 0, 1, E, {}),
    ("PREVRANDAO", 0, 1, E, {}), ("GASLIMIT", 0, 1, E, {}), ("CHAINID", 0, 1, E, {}),
    ("SELFBALANCE", 0, 1, H, _NEUTRAL), ("BASEFEE", 0, 1, E, {}),
    ("BLOBHASH", 1, 1, H, _NEUTRAL), ("BLOBBASEFEE", 0, 1, E, {}),
    ("POP", 1, 0, N, {}), ("MLOAD", 1, 1, N, _fails(0, memory=True)),
    ("MSTORE", 2, 0, N, _fails(0, memory=True)), ("MSTORE8", 2, 0, N, _fails(0, memory=True)),
    ("SLOAD", 1, 1, H, _STORAGE), ("SSTORE", 2, 0, H, _STORAGE), ("JUMP", 1, 0, C, {}),
    ("JUMPI", 2, 0, C, {}), ("PC", 0, 1, N, {}), ("MSIZE", 0, 1, N, {}), ("GAS", 0, 1, N, {}),
    ("JUMPDEST", 0, 0, N, {}), ("TLOAD", 1, 1, H, _STORAGE), ("TSTORE", 2, 0, H, _STORAGE),
    ("MCOPY", 3, 0, N, _fails(0, 1, 2, memory=True)), ("PUSH0", 0, 1, N, {}),
    ("CREATE", 3, 1, H, _CHILD), ("CALL", 7, 1, H, _CHILD), ("CALLCODE", 7, 1, H, _CHILD),
    ("RETURN", 2, 0, C, {**_fails(0, 1, memory=True), "halts": True}),
    ("DELEGATECALL", 6, 1, H, _CHILD), ("CREATE2", 4, 1, H, _CHILD),
    ("STATICCALL", 6, 1, H, _CHILD),
    ("REVERT", 2, 0, C, {**_fails(0, 1, memory=True), "halts": True}),
    ("INVALID", 0, 0, C, {"halts": True}), ("SELFDESTRUCT", 1, 0, H, {"halts": True}),
)  # fmt: skip

#: opcodes py-evm's `eth.vm.opcode_values` does not name: 0xFE, the designated invalid opcode,
#: and Osaka's CLZ (EIP-7939; the fork is pyevm_jit/osaka, py-evm stops at Prague)
_NOT_IN_PY_EVM: dict[str, int] = {"INVALID": 0xFE, "CLZ": OSAKA_CLZ}


def _number(name: str) -> int:
    value = getattr(opcode_values, name, None)
    return int(value) if isinstance(value, int) else _NOT_IN_PY_EVM[name]


def _table() -> dict[int, OpInfo]:
    t: dict[int, OpInfo] = {}
    for name, ins, outs, kind, facts in _ROWS:
        t[_number(name)] = OpInfo(name, ins, outs, kind, **facts)
    for n in range(1, 33):
        t[_number(f"PUSH{n}")] = OpInfo(f"PUSH{n}", 0, 1, N, immediate=n)
    for n in range(1, 17):
        t[_number(f"DUP{n}")] = OpInfo(f"DUP{n}", n, n + 1, N)
        t[_number(f"SWAP{n}")] = OpInfo(f"SWAP{n}", n + 1, n + 1, N)
    for n in range(5):
        # a LOG can fail natively (codegen/state.py) after reading its offset and size
        t[_number(f"LOG{n}")] = OpInfo(f"LOG{n}", 2 + n, 0, H, **_fails(0, 1, memory=True),
                                       keeps_storage=True)  # fmt: skip
    return dict(sorted(t.items()))


OPCODES: dict[int, OpInfo] = _table()

#: opcode by name: the table's names, and py-evm's other names of the same opcodes
#: (KECCAK256, DIFFICULTY)
BY_NAME: dict[str, int] = {info.name: op for op, info in OPCODES.items()}
for _name, _value in vars(opcode_values).items():
    if _name.isupper() and isinstance(_value, int):
        BY_NAME.setdefault(_name, _value)
BY_NAME.setdefault("KECCAK256", BY_NAME["SHA3"])

# Environment opcodes get one 32-byte slot each in the context's environment area.
ENV_OPCODES: tuple[int, ...] = tuple(sorted(op for op, i in OPCODES.items() if i.kind is Kind.ENV))
ENV_SLOT: dict[int, int] = {op: slot for slot, op in enumerate(ENV_OPCODES)}


def _codes(names: str) -> tuple[int, ...]:
    return tuple(BY_NAME[name] for name in names.split())


STOP, JUMP, JUMPI, JUMPDEST = _codes("STOP JUMP JUMPI JUMPDEST")
RETURN, REVERT, INVALID, SELFDESTRUCT = _codes("RETURN REVERT INVALID SELFDESTRUCT")
SLOAD, SSTORE, TLOAD, TSTORE = _codes("SLOAD SSTORE TLOAD TSTORE")
LOG0, LOG4 = _codes("LOG0 LOG4")
PUSH0, PUSH1, PUSH32 = _codes("PUSH0 PUSH1 PUSH32")
CALL, CALLCODE, DELEGATECALL, STATICCALL = _codes("CALL CALLCODE DELEGATECALL STATICCALL")
(SHA3,) = _codes("SHA3")


def opcodes_where(**facts: object) -> frozenset[int]:
    """The opcodes whose table facts are all as given (e.g. `opcodes_where(child=True)`)."""
    return frozenset(
        op for op, info in OPCODES.items()
        if all(getattr(info, name) == value for name, value in facts.items())
    )  # fmt: skip


@dataclass(frozen=True)
class GasSchedule:
    """Dynamic gas constants (from eth.constants and the fork's opcode configuration)."""

    memory: int
    memory_quad_denominator: int
    copy_word: int
    sha3_word: int
    exp_byte: int


@dataclass(frozen=True)
class ForkSpec:
    """What the code generator needs to know about one fork."""

    name: str
    static_gas: dict[int, int]  # opcode -> gas charged before its logic runs (valid opcodes only)
    gas: GasSchedule
    # The native state path (see gas_rules; None: that operation always suspends to py-evm).
    # Gas of an SLOAD of a slot this frame already read or wrote (warm, value known)
    sload_hit_cost: int | None = None
    # Gas of an SLOAD of a slot whose value the frame's cache holds but that is not yet warm
    # (EIP-2929's cold price; None before Berlin: such entries are never made)
    sload_cold_cost: int | None = None
    # SSTORE's gas and refund rule for a slot whose value this frame knows
    sstore: SstoreRule | None = None
    # LOGn: (static, per topic, per data byte)
    log_gas: tuple[int, int, int] | None = None
    # (TLOAD, TSTORE) static gas (EIP-1153)
    transient_gas: tuple[int, int] | None = None
    # programs log what observers of a message need (block entries, dynamic gas, 64-byte SHA3
    # preimages; see evm/observe.py): the fork named `<fork>.observed`
    observed: bool = False
    # environment opcodes are host operations (the VM's table has an environment opcode that
    # is not py-evm's; lean/exact.py): the fork named `<fork>.hostenv`
    host_env: bool = False

    def is_valid(self, opcode: int) -> bool:
        return opcode in self.static_gas

    def kind(self, opcode: int) -> Kind | None:
        """How programs for this spec run a valid `opcode` (None: unknown opcode)."""
        info = OPCODES.get(opcode)
        if info is None:
            return None
        if self.host_env and info.kind is Kind.ENV:
            return Kind.HOST
        return info.kind


def _opcode_gas_cost(opcode_fn: Any) -> int:
    fn = getattr(opcode_fn, "__wrapped__", opcode_fn)
    return int(fn.gas_cost)


def _exp_byte_cost(exp_opcode: Any) -> int:
    keywords = getattr(exp_opcode.logic_fn, "keywords", None) or {}
    if "gas_per_byte" not in keywords:
        raise LookupError("cannot read EXP's per-byte gas from py-evm's opcode table")
    return int(keywords["gas_per_byte"])


# --- py-evm's own opcodes, told apart from hooks ----------------------------------------------
# Frameworks patch py-evm's fork tables in place (titanoboa wraps SHA3 and SSTORE in
# `Computation.opcodes` of the fork class, which *is* py-evm's module-level table), so "py-evm's
# table" cannot be read as "whatever the fork class holds now". An entry is py-evm's own when
# everything it is made of -- its class and every function it runs (logic functions, closures,
# partials, `__wrapped__`) -- is defined in py-evm's `eth` package.


#: the packages whose code makes up the forks' own opcodes: py-evm's, and the Osaka fork this
#: package adds on py-evm's Prague (pyevm_jit/osaka), which is the stock Osaka table
_FORK_PACKAGES = ("eth", "pyevm_jit.osaka")


def _in_eth(module: object) -> bool:
    return isinstance(module, str) and any(
        module == package or module.startswith(package + ".") for package in _FORK_PACKAGES
    )


def _eth_class(cls: type) -> bool:
    """A class of py-evm's, or one made by py-evm's `configure` from one (no new code)."""
    for klass in cls.__mro__:
        if klass is object or _in_eth(klass.__module__):
            continue
        if klass.__module__ in ("abc", "builtins"):  # type(...) inside ABCMeta: `configure`
            if all(_eth_made(value, 0) for value in vars(klass).values() if _is_code(value)):
                continue
        return False
    return True


def _is_code(value: object) -> bool:
    return callable(value) or isinstance(value, (classmethod, staticmethod, property))


def _eth_made(obj: object, depth: int) -> bool:
    """Whether `obj` (an opcode or something it calls) is made of py-evm's code only."""
    if depth > 16:
        return False
    depth += 1
    if isinstance(obj, (classmethod, staticmethod)):
        return _eth_made(obj.__func__, depth)
    if isinstance(obj, property):
        return all(_eth_made(f, depth) for f in (obj.fget, obj.fset, obj.fdel) if f is not None)
    if isinstance(obj, types.FunctionType):
        if not _in_eth(obj.__globals__.get("__name__")):
            return False
        inner = [_cell_value(cell) for cell in obj.__closure__ or ()]
        inner.append(getattr(obj, "__wrapped__", None))
        return all(_eth_made(value, depth) for value in inner if _is_code(value))
    if isinstance(obj, (types.BuiltinFunctionType, types.MethodWrapperType)):
        return True  # C code (of Python itself); nothing of a framework's
    if isinstance(obj, type):
        return _eth_class(obj) or obj.__module__ == "builtins"
    if isinstance(obj, functools.partial):
        return _eth_made(obj.func, depth)
    if type(obj).__name__ == "curry" and "toolz" in type(obj).__module__:
        return _eth_made(getattr(obj, "func", None), depth)
    if isinstance(obj, types.MethodType):
        return False  # a bound method of some object: not how py-evm builds its tables
    if not _eth_class(type(obj)):
        return False
    return all(_eth_made(value, depth) for value in _attributes(obj) if _is_code(value))


def _cell_value(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None


def _attributes(obj: object) -> list[Any]:
    values = list(getattr(obj, "__dict__", {}).values())
    for klass in type(obj).__mro__:
        for name in getattr(klass, "__slots__", ()):
            if hasattr(obj, name):
                values.append(getattr(obj, name))
    return values


def is_py_evm_opcode(opcode_fn: Any) -> bool:
    """Whether a table entry is one of py-evm's own opcodes rather than a hook or a user's
    replacement (judged by what it is made of, not by identity with a table that may itself
    have been patched)."""
    return _eth_made(opcode_fn, 0)


_WRAPPER_WALK_LIMIT = 1 << 16


def py_evm_opcode(opcode_fn: Any) -> Any:
    """The py-evm opcode a table entry is or wraps, or None.

    A hook that wraps py-evm's opcode keeps it somewhere (``__wrapped__``, an attribute such as
    titanoboa's ``Sha3PreimageTracer.sha3``, possibly through further hooks); it is found by
    following callable attributes. None when no single py-evm opcode is reachable."""
    seen: set[int] = set()
    found: list[Any] = []
    pending = [opcode_fn]
    # bounded, but far enough for a chain of one wrapper per titanoboa environment
    while pending and len(seen) < _WRAPPER_WALK_LIMIT:
        fn = pending.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        if is_py_evm_opcode(fn):
            if all(other is not fn for other in found):
                found.append(fn)
            continue
        if isinstance(fn, (type, types.ModuleType)):
            continue
        inner = _attributes(fn)
        wrapped = getattr(fn, "__wrapped__", None)
        if wrapped is not None:
            inner.append(wrapped)
        if isinstance(fn, types.FunctionType):
            inner.extend(_cell_value(cell) for cell in fn.__closure__ or ())
        pending.extend(value for value in inner if callable(value))
    return found[0] if len(found) == 1 else None


@functools.cache
def fork_opcodes(fork: str) -> dict[int, Any]:
    """py-evm's own opcode table of `fork`: its fork class's table with every hook a framework
    installed in it in place replaced by the py-evm opcode it wraps.

    Raises LookupError when an entry is neither py-evm's nor wraps one of py-evm's (its gas
    and semantics are unknown, so nothing can be compiled for the fork in this process)."""
    classes = vm_classes()
    if fork not in classes:
        raise KeyError(f"unknown fork {fork!r}; known: {', '.join(classes)}")
    table = classes[fork]._state_class.computation_class.opcodes  # type: ignore[attr-defined]
    pristine = {}
    for op, fn in list(table.items()):
        own = fn if is_py_evm_opcode(fn) else py_evm_opcode(fn)
        if own is None:
            name = OPCODES[op].name if op in OPCODES else f"0x{op:02x}"
            raise LookupError(
                f"py-evm's {fork} opcode table holds {fn!r} for {name}, which is not py-evm's "
                "opcode and wraps none: the fork's own table is unknown in this process"
            )
        pristine[op] = own
    return pristine


#: suffix of a fork name whose programs log for observers (`ForkSpec.observed`)
OBSERVED = ".observed"
#: suffix of a fork name whose programs run environment opcodes as host operations
#: (`ForkSpec.host_env`); before OBSERVED when both are there
HOST_ENV = ".hostenv"


@functools.cache
def fork_spec(fork: str) -> ForkSpec:
    if fork.endswith(OBSERVED):
        return dataclasses.replace(fork_spec(fork[: -len(OBSERVED)]), name=fork, observed=True)
    if fork.endswith(HOST_ENV):
        return dataclasses.replace(fork_spec(fork[: -len(HOST_ENV)]), name=fork, host_env=True)
    return spec_from_opcodes(fork, fork_opcodes(fork))


def spec_from_opcodes(fork: str, opcodes: dict[int, Any]) -> ForkSpec:
    static_gas = {op: _opcode_gas_cost(fn) for op, fn in opcodes.items()}
    gas = GasSchedule(
        memory=eth_constants.GAS_MEMORY,
        memory_quad_denominator=eth_constants.GAS_MEMORY_QUADRATIC_DENOMINATOR,
        copy_word=eth_constants.GAS_COPY,
        sha3_word=eth_constants.GAS_SHA3WORD,
        exp_byte=_exp_byte_cost(opcodes[0x0A]),
    )
    return ForkSpec(
        fork, static_gas, gas, sload_hit_cost(opcodes), sload_cold_cost(opcodes),
        sstore_rule(opcodes), log_gas(opcodes), transient_gas(opcodes),
    )  # fmt: skip
