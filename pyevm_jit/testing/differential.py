"""Differential execution: one transaction through stock py-evm and through the JIT, in the same
process, from the same pre-state, and a comparison of the full outcome.

The unit is a transaction to (or creating) a contract whose code is the program under test, so
that everything py-evm does around a message (intrinsic gas, warm addresses, refunds,
self-destruct finalisation) is part of both runs. The outcome holds success / revert / error
(with the error class), gas left, gas refund, return data, logs in order, the state root after
the transaction, and a dump of every account the transaction touched (for readable diffs).

The JIT side runs `pyevm_jit.evm.vm.jit_vm(vm_class, backend)` on a blocking backend (every
contract compiled before it runs) and records how many messages ran native code, so a test can
insist that the native path really ran (`Outcome.native_messages`).

Typical use (`asm` and `return_stack` from `testing.assembler`)::

    scenario = Scenario(code=asm(1, 2, "ADD", *return_stack(1)), fork="cancun")
    stock, jit = run_both(scenario)
    assert compare(stock, jit) == []
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from eth.abc import SignedTransactionAPI, VirtualMachineAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.db.atomic import AtomicDB
from eth.exceptions import Revert
from eth.vm.chain_context import ChainContext
from eth.vm.spoof import SpoofTransaction
from eth_keys import keys
from eth_typing import Address, Hash32

from pyevm_jit.conformance.statetx import CHAIN_ID
from pyevm_jit.evm.vm import jit_vm
from pyevm_jit.forks import FORK_VMS, fork_at_least, fork_name, fork_vm
from pyevm_jit.runtime import JitBackend, RuntimeConfig
from pyevm_jit.testing.account import Account
from pyevm_jit.testing.assembler import Label, Ref, asm, disasm

# ---------------------------------------------------------------------------------------------
# Forks

#: The forks most tests sweep (one per gas-schedule or opcode-set change that matters).
MAIN_FORKS: tuple[str, ...] = (
    "frontier",
    "byzantium",
    "istanbul",
    "berlin",
    "london",
    "shanghai",
    "cancun",
    "prague",
    "osaka",
)


# ---------------------------------------------------------------------------------------------
# Scenarios and outcomes

SENDER_KEY = keys.PrivateKey(b"\x01" * 32)
SENDER: bytes = SENDER_KEY.public_key.to_canonical_address()
CONTRACT: bytes = bytes.fromhex("c0de00000000000000000000000000000000c0de")
COINBASE: bytes = bytes.fromhex("cb00000000000000000000000000000000000cb0")
SENDER_BALANCE = 10**24
GAS_PRICE = 10**10
BLOCK_NUMBER = 300
TIMESTAMP = 1_700_000_000
BLOCK_GAS_LIMIT = 30_000_000


def _addr(tag: str) -> bytes:
    return bytes.fromhex(tag.ljust(40, "0"))


#: Callee contracts of the standard world (see `standard_accounts`).
CALLEE = _addr("ca11ee01")  # stores calldata[0] at slot 1, logs, returns calldata[0] + 1
REVERTER = _addr("ca11ee02")  # reverts with 32 bytes of data
BURNER = _addr("ca11ee03")  # loops until out of gas
DESTRUCTOR = _addr("ca11ee04")  # SELFDESTRUCT to its caller
STORER = _addr("ca11ee05")  # SSTORE(0, 1): fails with <= 2300 gas from Istanbul on
RICH = _addr("ca11ee06")  # an account with balance and no code
CALL_TARGETS: tuple[bytes, ...] = (CALLEE, REVERTER, BURNER, DESTRUCTOR, STORER, RICH)


def standard_accounts() -> dict[bytes, Account]:
    """A small world of callee contracts for CALL/CREATE programs (same on both sides)."""
    callee = asm(
        0, "CALLDATALOAD", "DUP1", 1, "SSTORE",
        "DUP1", 32, "MSTORE", 0x70, 32, 32, "LOG1",
        1, "ADD", 0, "MSTORE", 32, 0, "RETURN",
    )  # fmt: skip
    reverter = asm(0xDEAD, 0, "MSTORE", 32, 0, "REVERT")
    burner = asm(Label("l"), Ref("l"), "JUMP")
    destructor = asm("CALLER", "SELFDESTRUCT")
    storer = asm(1, 0, "SSTORE", "STOP")
    return {
        CALLEE: Account(balance=10**9, code=callee, storage={1: 5}),
        REVERTER: Account(code=reverter),
        BURNER: Account(code=burner),
        DESTRUCTOR: Account(balance=777, code=destructor),
        STORER: Account(code=storer),
        RICH: Account(balance=10**18),
    }


@dataclass(frozen=True)
class Scenario:
    """One transaction and the world it runs in.

    `code` is the program under test, installed at `CONTRACT` (or run as init code when
    `create` is true). `accounts` adds other accounts (callees etc.)."""

    code: bytes
    fork: str = "cancun"
    calldata: bytes = b""
    value: int = 0
    gas: int = 1_000_000
    create: bool = False
    storage: Mapping[int, int] = field(default_factory=dict)
    balance: int = 0
    accounts: Mapping[bytes, Account] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fork", fork_name(self.fork))

    def with_(self, **changes: Any) -> Scenario:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code.hex(),
            "fork": self.fork,
            "calldata": self.calldata.hex(),
            "value": self.value,
            "gas": self.gas,
            "create": self.create,
            "storage": {str(k): str(v) for k, v in self.storage.items()},
            "balance": self.balance,
            "accounts": {
                addr.hex(): {
                    "balance": acc.balance,
                    "nonce": acc.nonce,
                    "code": acc.code.hex(),
                    "storage": {str(k): str(v) for k, v in acc.storage.items()},
                }
                for addr, acc in self.accounts.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scenario:
        def _storage(raw: Mapping[str, Any] | None) -> dict[int, int]:
            return {int(k, 0): int(v, 0) for k, v in (raw or {}).items()}

        accounts = {
            bytes.fromhex(addr.removeprefix("0x")): Account(
                balance=int(acc.get("balance", 0)),
                nonce=int(acc.get("nonce", 0)),
                code=bytes.fromhex(acc.get("code", "").removeprefix("0x")),
                storage=_storage(acc.get("storage")),
            )
            for addr, acc in (data.get("accounts") or {}).items()
        }
        return cls(
            code=bytes.fromhex(data["code"].removeprefix("0x")),
            fork=data.get("fork", "cancun"),
            calldata=bytes.fromhex(data.get("calldata", "").removeprefix("0x")),
            value=int(data.get("value", 0)),
            gas=int(data.get("gas", 1_000_000)),
            create=bool(data.get("create", False)),
            storage=_storage(data.get("storage")),
            balance=int(data.get("balance", 0)),
            accounts=accounts,
        )


@dataclass(frozen=True)
class AccountDump:
    exists: bool
    balance: int
    nonce: int
    code_hash: bytes
    code_size: int
    storage: Mapping[int, int]


@dataclass
class Outcome:
    """The full observable result of one transaction."""

    status: str  # "success" | "revert" | "error" | "crash"
    error: str | None  # error class name ("OutOfGas", "InvalidJumpDestination", ...) or None
    gas_remaining: int
    gas_used: int
    gas_refund: int
    output: bytes
    logs: tuple[tuple[bytes, tuple[int, ...], bytes], ...]
    state_root: bytes
    accounts: dict[bytes, AccountDump]
    native_messages: int | None = None  # JIT side: messages that ran native code
    interpreted_messages: int | None = None  # JIT side: lookups that fell back to the loop
    detail: str = ""  # error message or crash traceback tail

    @property
    def ran_native(self) -> bool:
        return bool(self.native_messages)


# ---------------------------------------------------------------------------------------------
# Running


@functools.lru_cache(maxsize=64)
def _header(vm_class: type[VirtualMachineAPI]) -> Any:
    post_merge = fork_at_least(vm_class.fork, "paris")
    params: dict[str, Any] = {
        "gas_limit": BLOCK_GAS_LIMIT,
        "timestamp": TIMESTAMP,
        "coinbase": COINBASE,
        "difficulty": 0 if post_merge else 131_072,
    }
    header = vm_class.create_genesis_header(**params)
    changes: dict[str, Any] = {"block_number": BLOCK_NUMBER}
    if post_merge:
        changes["mix_hash"] = b"\x5a" * 32  # PREVRANDAO
    return header.copy(**changes)


# _PREV_HASHES[0] is the hash of block BLOCK_NUMBER - 1 (BLOCKHASH reads these)
_PREV_HASHES: tuple[Hash32, ...] = tuple(
    Hash32(bytes([0xB0 | (i % 16)]) + i.to_bytes(4, "big") * 7 + b"\xbb\xbb\xbb")
    for i in range(256)
)


#: the ancestors' hashes of every scenario's block, newest first (for other runners of scenarios)
PREV_HASHES = _PREV_HASHES


@functools.lru_cache(maxsize=4096)
def _signed_tx(
    vm_class: type[VirtualMachineAPI], to: bytes, value: int, gas: int, data: bytes
) -> SignedTransactionAPI:
    unsigned = vm_class.create_unsigned_transaction(
        nonce=0, gas_price=GAS_PRICE, gas=gas, to=Address(to), value=value, data=data
    )
    signed = unsigned.as_signed_transaction(SENDER_KEY)
    signed.validate()  # once: the copies handed to py-evm skip the (slow, pure-Python) ECDSA
    return SpoofTransaction(  # type: ignore[return-value]
        signed, validate=_no_validation, sender=SENDER, get_sender=lambda: SENDER
    )


def signed_transaction(scenario: Scenario) -> SignedTransactionAPI:
    """The scenario's transaction, as `execute` applies it to `build_state`'s state."""
    to = CREATE_CONTRACT_ADDRESS if scenario.create else CONTRACT
    data = scenario.code if scenario.create else scenario.calldata
    return _signed_tx(fork_vm(scenario.fork), to, scenario.value, scenario.gas, data)


def _no_validation() -> None:
    return None


def build_state(scenario: Scenario, vm_class: type[VirtualMachineAPI]) -> Any:
    """A fresh in-memory state for `vm_class` (a stock or JIT VM class) holding the scenario's
    accounts. Two calls with the same scenario give identical pre-states."""
    header = _header(fork_vm(scenario.fork))
    state: Any = vm_class.build_state(AtomicDB(), header, ChainContext(CHAIN_ID), _PREV_HASHES)
    state.set_balance(SENDER, SENDER_BALANCE)
    state.set_balance(COINBASE, 1)  # exists, so touching it never creates it
    if not scenario.create:
        state.set_code(CONTRACT, scenario.code)
        state.set_balance(CONTRACT, scenario.balance)
        for slot, value in scenario.storage.items():
            state.set_storage(CONTRACT, slot, value)
    for address, account in scenario.accounts.items():
        state.set_balance(address, account.balance)
        state.set_nonce(address, account.nonce)
        if account.code:
            state.set_code(address, account.code)
        for slot, value in account.storage.items():
            state.set_storage(address, slot, value)
    state.lock_changes()
    return state


def _dump_accounts(state: Any, extra: Iterable[bytes]) -> dict[bytes, AccountDump]:
    adb: Any = state._account_db
    addresses: set[bytes] = set(extra)
    addresses |= set(getattr(adb, "_accessed_accounts", ()))
    stores: dict[bytes, Any] = dict(getattr(adb, "_account_stores", {}))
    addresses |= set(stores)
    dump: dict[bytes, AccountDump] = {}
    for address in sorted(addresses):
        slots: set[int] = set()
        store = stores.get(address)
        if store is not None:
            try:
                slots = set(store.get_accessed_slots())
            except Exception:  # pragma: no cover - best effort for the diff message
                slots = set()
        storage = {s: state.get_storage(address, s) for s in sorted(slots)}
        code = state.get_code(address)
        dump[address] = AccountDump(
            exists=state.account_exists(address),
            balance=state.get_balance(address),
            nonce=state.get_nonce(address),
            code_hash=state.get_code_hash(address),
            code_size=len(code),
            storage={s: v for s, v in storage.items() if v},
        )
    return dump


def execute(scenario: Scenario, vm_class: type[VirtualMachineAPI]) -> Outcome:
    """Run the scenario's transaction on a fresh state of `vm_class` and collect the outcome.
    A Python exception escaping py-evm (a crash, never a consensus outcome) is captured as
    status "crash"."""
    state = build_state(scenario, vm_class)
    tx = signed_transaction(scenario)
    known = [SENDER, CONTRACT, COINBASE, *scenario.accounts]
    try:
        computation = state.apply_transaction(tx)
    except Exception as exc:  # noqa: BLE001 - a crash is an outcome to compare
        import traceback

        tail = "".join(traceback.format_exception(exc)[-3:]).strip()
        return Outcome(
            status="crash",
            error=type(exc).__name__,
            gas_remaining=-1,
            gas_used=-1,
            gas_refund=-1,
            output=b"",
            logs=(),
            state_root=b"",
            accounts={},
            detail=tail[-2000:],
        )
    if computation.is_success:
        status, error, detail = "success", None, ""
    elif isinstance(computation.error, Revert):
        status, error, detail = "revert", "Revert", ""
    else:
        status, error = "error", type(computation.error).__name__
        detail = str(computation.error)[:300]
    created = list(getattr(computation, "contracts_created", []) or [])
    accounts = _dump_accounts(state, [*known, *created])
    gas_remaining = computation.get_gas_remaining()
    outcome = Outcome(
        status=status,
        error=error,
        gas_remaining=gas_remaining,
        gas_used=scenario.gas - gas_remaining,
        gas_refund=computation.get_gas_refund(),
        output=bytes(computation.output),
        logs=tuple(
            (bytes(a), tuple(int(t) for t in topics), bytes(d))
            for a, topics, d in computation.get_log_entries()
        ),
        state_root=bytes(state.make_state_root()),
        accounts=accounts,
        detail=detail,
    )
    return outcome


def run_stock(scenario: Scenario) -> Outcome:
    """The scenario through stock py-evm."""
    return execute(scenario, fork_vm(scenario.fork))


# --- the JIT side ----------------------------------------------------------------------------

_backend_lock = threading.Lock()
_backend: JitBackend | None = None
_jit_vms: dict[str, type[VirtualMachineAPI]] = {}


def get_backend() -> JitBackend:
    """The process-wide blocking backend used by the JIT side (created on first use)."""
    global _backend
    with _backend_lock:
        if _backend is None:
            # no store: the programs fuzzing and differential tests run are never worth keeping
            _backend = JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None))
        return _backend


def jit_vm_class(fork: str, backend: JitBackend | None = None) -> type[VirtualMachineAPI]:
    fork = fork_name(fork)
    if backend is not None:
        return jit_vm(FORK_VMS[fork], backend)
    if fork not in _jit_vms:
        _jit_vms[fork] = jit_vm(FORK_VMS[fork], get_backend())
    return _jit_vms[fork]


def run_jit(scenario: Scenario, backend: JitBackend | None = None) -> Outcome:
    """The scenario through `jit_vm(fork VM, backend)`; records how many messages ran native code
    (`backend.stats().lookup_hits` before and after)."""
    backend = backend if backend is not None else get_backend()
    vm_class = jit_vm_class(scenario.fork, backend if backend is not _backend else None)
    before = backend.stats()
    outcome = execute(scenario, vm_class)
    after = backend.stats()
    outcome.native_messages = after.lookup_hits - before.lookup_hits
    outcome.interpreted_messages = after.lookup_misses - before.lookup_misses
    return outcome


def run_both(scenario: Scenario, backend: JitBackend | None = None) -> tuple[Outcome, Outcome]:
    return run_stock(scenario), run_jit(scenario, backend)


# ---------------------------------------------------------------------------------------------
# Comparing

_FIELDS = ("status", "error", "gas_remaining", "gas_refund", "output")


def _short(value: Any) -> str:
    if isinstance(value, bytes):
        text = value.hex()
        return "0x" + (text if len(text) <= 132 else text[:128] + f"...({len(value)} bytes)")
    return repr(value)


def _first_word_difference(a: bytes, b: bytes) -> str:
    """Where two outputs first differ, as 32-byte words (results of `return_stack`-style
    programs are one word each)."""
    n = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
    w = n // 32
    x, y = a[w * 32 : w * 32 + 32], b[w * 32 : w * 32 + 32]
    return (
        f"output word {w} (byte {n}; lengths {len(a)} vs {len(b)}): "
        f"expected 0x{x.hex()}, got 0x{y.hex()}"
    )


def compare(expected: Outcome, actual: Outcome) -> list[str]:
    """Differences between two outcomes, one line each (empty when they agree). `expected` is
    the stock interpreter's outcome."""
    diffs: list[str] = []
    for name in _FIELDS:
        a, b = getattr(expected, name), getattr(actual, name)
        if a != b:
            diffs.append(f"{name}: expected {_short(a)}, got {_short(b)}")
            if name == "output":
                diffs.append(_first_word_difference(a, b))
    if actual.status == "crash" and actual.detail:
        diffs.append(f"crash: {actual.detail.splitlines()[-1]}")
    if expected.logs != actual.logs:
        if len(expected.logs) != len(actual.logs):
            diffs.append(f"logs: expected {len(expected.logs)} entries, got {len(actual.logs)}")
        for i, (a, b) in enumerate(zip(expected.logs, actual.logs, strict=False)):
            if a != b:
                diffs.append(
                    f"logs[{i}]: expected (0x{a[0].hex()}, {list(map(hex, a[1]))}, {_short(a[2])})"
                    f", got (0x{b[0].hex()}, {list(map(hex, b[1]))}, {_short(b[2])})"
                )
                break
    if expected.state_root != actual.state_root:
        diffs.append(
            f"state_root: expected {_short(expected.state_root)}, got {_short(actual.state_root)}"
        )
        diffs.extend(_account_diffs(expected.accounts, actual.accounts))
    return diffs


def _account_diffs(
    expected: Mapping[bytes, AccountDump], actual: Mapping[bytes, AccountDump]
) -> list[str]:
    out: list[str] = []
    for address in sorted(set(expected) | set(actual)):
        a, b = expected.get(address), actual.get(address)
        tag = "0x" + address.hex()
        if a is None or b is None:
            if (a is not None and a.exists) or (b is not None and b.exists):
                out.append(
                    f"account {tag}: present only on the {'stock' if b is None else 'jit'} side"
                )
            continue
        for name in ("exists", "balance", "nonce", "code_hash", "code_size"):
            x, y = getattr(a, name), getattr(b, name)
            if x != y:
                out.append(f"account {tag} {name}: expected {_short(x)}, got {_short(y)}")
        for slot in sorted(set(a.storage) | set(b.storage)):
            x, y = a.storage.get(slot, 0), b.storage.get(slot, 0)
            if x != y:
                out.append(f"account {tag} storage[{hex(slot)}]: expected {hex(x)}, got {hex(y)}")
    return out


def differences(
    scenario: Scenario, backend: JitBackend | None = None, *, require_native: bool = True
) -> list[str]:
    """Run both sides and compare; with `require_native`, also report a JIT run in which no
    message ran native code (a test must not pass by silently interpreting)."""
    stock, jit = run_both(scenario, backend)
    diffs = compare(stock, jit)
    if require_native and not jit.ran_native and jit.status != "crash":
        diffs.append(f"native: no message ran native code (interpreted {jit.interpreted_messages})")
    return diffs


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def describe(scenario: Scenario, diffs: Sequence[str]) -> str:
    """A readable failure message: fork, disassembly, differences."""
    lines = [
        f"fork={scenario.fork} gas={scenario.gas} create={scenario.create} "
        f"calldata=0x{scenario.calldata.hex()}",
        f"code=0x{_clip(scenario.code.hex(), 400)}",
        f"asm: {_clip(disasm(scenario.code), 600)}",
        *diffs,
    ]
    return "\n".join(lines)


def check(
    scenario: Scenario,
    *,
    expect: str | None = None,
    backend: Any = None,
    require_native: bool = True,
) -> Outcome:
    """Assert that the JIT reproduces the stock outcome of `scenario` (raising AssertionError
    with a readable message otherwise) and return the stock outcome.

    `expect` pins down what the stock interpreter must do, so that a test checks the program it
    means to: "success", "revert", "error" or an error class name ("OutOfGas")."""
    stock = run_stock(scenario)
    if stock.status == "crash":
        raise AssertionError(describe(scenario, [f"stock py-evm crashed: {stock.detail}"]))
    if expect is not None and expect not in (stock.status, stock.error):
        raise AssertionError(
            describe(
                scenario,
                [f"test program: stock ended {stock.status}/{stock.error}, expected {expect}"],
            )
        )
    jit = run_jit(scenario, backend)
    # native code that corrupted the heap tends to crash at the next collection: make that
    # happen inside this check, so that the crash is blamed on the program that caused it
    gc.collect()
    diffs = compare(stock, jit)
    if require_native and not jit.ran_native and jit.status != "crash":
        diffs.append(f"native: no message ran native code (interpreted {jit.interpreted_messages})")
    if diffs:
        raise AssertionError(describe(scenario, diffs))
    return stock


def addr(address: bytes) -> int:
    """An address as an int, for `asm` (bytes in `asm` are copied verbatim, not pushed)."""
    return int.from_bytes(address, "big")


def close_backend() -> None:
    """Close the process-wide backend (if one was created)."""
    global _backend
    with _backend_lock:
        if _backend is not None:
            _backend.close()
            _backend = None
            _jit_vms.clear()
