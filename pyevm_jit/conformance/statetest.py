"""Ethereum state tests (GeneralStateTests) on py-evm, executed the way consensus does.

A *case* is one (fixture file, test name, fork, post index). For each case the runner builds
the pre-state, a block header from the fixture environment, the transaction selected by the
post entry's indexes (signed with the fixture's secret key), applies it with the fork's VM
class, and compares the resulting state root and logs hash with the fixture. A case with
`expectException` passes when py-evm rejects the transaction and the state stays the
pre-state.

Which VM class runs is pluggable: `run_case(case, vm_factory)` calls
`vm_factory(stock_vm_class)` and executes with the class it returns (the stock class for the
interpreter, a `jit_vm(...)` wrapper for the JIT).

Public API: `discover_cases`, `run_case`, `run_cases`, `Case`, `CaseResult`,
`vm_class_for_fork`, `contract_codes`. The statuses and the run's summary are in
`conformance.results`; the transaction and the fixtures' notations in `conformance.statetx`.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyevm_jit.conformance.fixtures import input_files, read_fixture, relative_id_path
from pyevm_jit.conformance.known_deviations import deviation_reason
from pyevm_jit.conformance.results import CaseResultBase, CaseStatus
from pyevm_jit.conformance.statetx import (
    CHAIN_ID,
    TransactionRejected,
    build_transaction,
    encode_transaction,
    legacy_chain_id,
    logs_hash,
    state_test_block_hash,
    validate_block_blob_gas,
)
from pyevm_jit.conformance.statetx import fixture_address as _address
from pyevm_jit.conformance.statetx import fixture_bytes as _bytes
from pyevm_jit.conformance.statetx import fixture_int as _int
from pyevm_jit.errors import UsageError
from pyevm_jit.forks import (
    FIXTURE_FORKS,
    FORK_VMS,
    UNSUPPORTED_FIXTURE_FORKS,
    VMFactory,
    fixture_fork_name,
    fork_at_least,
    header_class,
)

# Forks at and after the merge: DIFFICULTY reads PREVRANDAO (`currentRandom`).
_POST_MERGE = frozenset(
    name for name, fork in FIXTURE_FORKS.items() if fork_at_least(fork, "paris")
)

# How many ancestors BLOCKHASH can see.
_MAX_PREV_HASHES = 256


@dataclass(frozen=True, order=True)
class Case:
    """One (file, test, fork, post index). `id` is `<relative file>::<test>::<fork>::<index>`,
    with the file relative to GeneralStateTests when it lies inside such a folder."""

    id: str
    path: str
    name: str
    fork: str
    index: int

    @property
    def category(self) -> str:
        """The folder the case belongs to (e.g. `stRandom` or `VMTests/vmArithmeticTest`)."""
        parts = self.id.split("::", 1)[0].split("/")
        if len(parts) >= 3 and parts[0] in ("VMTests", "Cancun", "Shanghai", "Pyspecs"):
            return "/".join(parts[:2])
        return parts[0] if len(parts) > 1 else "."

    @property
    def supported(self) -> bool:
        return self.fork in FIXTURE_FORKS


@dataclass
class CaseResult(CaseResultBase[Case]):
    def case_fields(self) -> dict[str, Any]:
        case = self.case
        return {"fork": case.fork, "index": case.index, "category": case.category}


# ---------------------------------------------------------------------------------------------
# Discovery
# ---------------------------------------------------------------------------------------------

_REQUIRED_TEST_KEYS = ("env", "pre", "transaction", "post")


@functools.lru_cache(maxsize=8)
def _load_file(path: str) -> dict[str, Any]:
    data = read_fixture(path, "state test", _REQUIRED_TEST_KEYS)
    _check_fixture(path, data)
    return data


def _check_fixture(path: str, data: dict[str, Any]) -> None:
    for name, test in data.items():
        post = test["post"]
        if not isinstance(post, dict) or not all(isinstance(v, list) for v in post.values()):
            raise UsageError(f"{path}: not a state test fixture (test {name!r} has a bad post)")
        # A fork that is neither one this runner knows nor a known later fork (whose cases count
        # as unsupported) is a typo or another kind of fixture: bad input, never a silent pass.
        _check_env(path, name, test["env"])
        unknown = sorted(
            f for f in post if f not in FIXTURE_FORKS and f not in UNSUPPORTED_FIXTURE_FORKS
        )
        if unknown:
            raise UsageError(
                f"{path}: test {name!r} names unknown fork {unknown[0]!r} in its post (known: "
                f"{', '.join(FIXTURE_FORKS)}; later forks py-evm lacks: "
                f"{', '.join(sorted(UNSUPPORTED_FIXTURE_FORKS))})"
            )


#: the block environment's numbers and their bounds: a block number, gas limit and timestamp
#: are 64-bit in every client; the others are words
_ENV_BOUNDS = {
    "currentNumber": 1 << 64,
    "currentGasLimit": 1 << 64,
    "currentTimestamp": 1 << 64,
    "currentDifficulty": 1 << 256,
    "currentBaseFee": 1 << 256,
    "currentExcessBlobGas": 1 << 64,
}


def _check_env(path: str, name: str, env: Any) -> None:
    """UsageError for a block environment that is no object or has a number out of its range
    (negative, or beyond what a header holds)."""
    if not isinstance(env, dict):
        raise UsageError(f"{path}: test {name!r} has a bad env (not an object)")
    for key, bound in _ENV_BOUNDS.items():
        if key not in env:
            continue
        try:
            value = _int(env[key])
        except (TypeError, ValueError):
            value = -1
        if not 0 <= value < bound:
            raise UsageError(
                f"{path}: test {name!r}: env {key} {env[key]!r} is not a number in "
                f"[0, 2**{bound.bit_length() - 1})"
            )


def load_test(case: Case) -> dict[str, Any]:
    """The fixture JSON of the case's test (files are cached per process)."""
    return _load_file(case.path)[case.name]


def canonical_fork_name(name: str) -> str:
    """A fixture fork name from user input (see `forks.fixture_fork_name`). Raises UsageError
    for an unknown name."""
    try:
        return fixture_fork_name(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def discover_cases(
    paths: Sequence[str | Path],
    fork: str | None = None,
    substring: str | None = None,
) -> list[Case]:
    """All cases in the given fixture files and folders (recursive), in a stable order.

    `fork` keeps one fork (fixture name, case-insensitive); `substring` keeps cases whose id
    contains it. Bad input (missing path, malformed or non-fixture JSON, unknown fork) raises
    UsageError.
    """
    if not paths:
        raise UsageError("no fixture path given")
    wanted_fork = canonical_fork_name(fork) if fork is not None else None
    cases: list[Case] = []
    for file in input_files(paths):
        data = _load_file(str(file))
        rel = relative_id_path(file)
        for name in sorted(data):
            for fork_name in sorted(data[name]["post"]):
                if wanted_fork is not None and fork_name != wanted_fork:
                    continue
                for index in range(len(data[name]["post"][fork_name])):
                    case_id = f"{rel}::{name}::{fork_name}::{index}"
                    if substring and substring not in case_id:
                        continue
                    cases.append(Case(case_id, str(file), name, fork_name, index))
    return cases


# ---------------------------------------------------------------------------------------------
# Execution
# ---------------------------------------------------------------------------------------------


@functools.cache
def vm_class_for_fork(fork: str) -> type[Any]:
    """The stock py-evm VM class for a fixture fork name (KeyError when py-evm lacks it)."""
    vm_class: type[Any] = FORK_VMS[FIXTURE_FORKS[fork]]
    if FIXTURE_FORKS[fork] == "homestead":
        # The DAO fork is a block-import rule of mainnet, not part of a state test.
        vm_class = vm_class.configure(__name__="HomesteadVM", support_dao_fork=False)
    return vm_class


def _previous_hashes(block_number: int) -> tuple[bytes, ...]:
    low = max(0, block_number - _MAX_PREV_HASHES)
    return tuple(state_test_block_hash(n) for n in range(block_number - 1, low - 1, -1))


_STATE_TEST_VMS: dict[type[Any], type[Any]] = {}


def _state_test_vm(vm_class: type[Any]) -> type[Any]:
    """`vm_class` whose ancestor hashes are the state-test ones instead of a chain database."""
    cached = _STATE_TEST_VMS.get(vm_class)
    if cached is not None:
        return cached

    def previous_hashes(self: Any) -> tuple[bytes, ...]:
        return _previous_hashes(int(self.get_header().block_number))

    subclass = type(
        f"{vm_class.__name__}ForStateTest",
        (vm_class,),
        {"previous_hashes": property(previous_hashes)},
    )
    _STATE_TEST_VMS[vm_class] = subclass
    return subclass


def _build_header(vm_class: type[Any], fork: str, env: dict[str, Any]) -> Any:
    from eth.constants import BLANK_ROOT_HASH

    header = header_class(vm_class)
    field_names = set(header._meta.field_names)
    post_merge = fork in _POST_MERGE
    random = env.get("currentRandom")
    fields: dict[str, Any] = {
        "coinbase": _address(env["currentCoinbase"]),
        "block_number": _int(env["currentNumber"]),
        "gas_limit": _int(env["currentGasLimit"]),
        "timestamp": _int(env["currentTimestamp"]),
        "difficulty": 0 if post_merge else _int(env.get("currentDifficulty", 0)),
        "state_root": BLANK_ROOT_HASH,
        "gas_used": 0,
        "parent_hash": state_test_block_hash(_int(env["currentNumber"]) - 1)
        if _int(env["currentNumber"]) > 0
        else b"\x00" * 32,
    }
    if post_merge:
        if random is None:
            raise ValueError("post-merge fixture without currentRandom")
        fields["mix_hash"] = _bytes(random).rjust(32, b"\x00")
    if "base_fee_per_gas" in field_names:
        fields["base_fee_per_gas"] = _int(env.get("currentBaseFee", 10))
    if "excess_blob_gas" in field_names:
        fields["excess_blob_gas"] = _int(env.get("currentExcessBlobGas", 0))
        fields["blob_gas_used"] = 0
    if "parent_beacon_block_root" in field_names:
        root = env.get("currentBeaconRoot", env.get("parentBeaconBlockRoot"))
        fields["parent_beacon_block_root"] = _bytes(root) if root else b"\x00" * 32
    if "withdrawals_root" in field_names:
        fields["withdrawals_root"] = BLANK_ROOT_HASH
    return header(**{k: v for k, v in fields.items() if k in field_names})


def _setup_pre_state(state: Any, pre: dict[str, Any]) -> None:
    for address_hex, account in pre.items():
        address = _address(address_hex)
        for slot, value in account.get("storage", {}).items():
            state.set_storage(address, _int(slot), _int(value))
        state.set_nonce(address, _int(account.get("nonce", 0)))
        state.set_code(address, _bytes(account.get("code", "0x")))
        state.set_balance(address, _int(account.get("balance", 0)))
    state.persist()


@dataclass
class CaseOutcome:
    """What executing a case produced."""

    state_root: bytes
    logs_hash: bytes
    pre_state_root: bytes
    rejected: str | None  # why the transaction was rejected, None when it was applied
    tx_bytes_match: bool | None  # our signed encoding == the fixture's txbytes (None: n/a)
    gas_used: int | None = None


def execute_case(case: Case, vm_factory: VMFactory | None = None) -> CaseOutcome:
    """Run one case and return its outcome (no comparison with the expectation)."""
    from eth.consensus.context import ConsensusContext
    from eth.db.atomic import AtomicDB
    from eth.db.chain import ChainDB
    from eth.vm.chain_context import ChainContext
    from eth_utils import ValidationError

    test = load_test(case)
    post = test["post"][case.fork][case.index]
    stock_class = vm_class_for_fork(case.fork)
    chosen = vm_factory(stock_class) if vm_factory is not None else stock_class
    vm_class = _state_test_vm(chosen)

    header = _build_header(vm_class, case.fork, test["env"])
    base_db = AtomicDB()
    vm = vm_class(
        header=header,
        chaindb=ChainDB(base_db),
        chain_context=ChainContext(CHAIN_ID),
        consensus_context=ConsensusContext(base_db),
    )
    state = vm.state
    _setup_pre_state(state, test["pre"])
    pre_root = bytes(state.state_root)

    rejected: str | None = None
    tx_match: bool | None = None
    entries: Sequence[tuple[bytes, Sequence[int], bytes]] = ()
    gas_used: int | None = None
    try:
        tx_bytes = _bytes(post["txbytes"]) if post.get("txbytes") else None
        transaction = build_transaction(
            vm_class, test["transaction"], post["indexes"], legacy_chain_id(tx_bytes)
        )
    except TransactionRejected as exc:
        rejected = f"transaction not buildable: {exc}"
    else:
        expected_sender = test["transaction"].get("sender")
        if expected_sender and bytes(transaction.sender) != _address(expected_sender):
            raise RuntimeError(
                f"signed sender 0x{bytes(transaction.sender).hex()} != fixture sender "
                f"{expected_sender}"
            )
        if tx_bytes is not None:
            try:
                tx_match = encode_transaction(transaction) == tx_bytes
            except Exception:
                tx_match = False
        try:
            validate_block_blob_gas(stock_class, transaction)
            receipt, computation = vm.apply_transaction(vm.get_header(), transaction)
        except ValidationError as exc:
            rejected = f"{type(exc).__name__}: {exc}"
        else:
            entries = computation.get_log_entries()
            gas_used = int(receipt.gas_used)
    if rejected is None:
        state.persist()
        state_root = bytes(state.state_root)
    else:
        # An invalid transaction makes its block invalid: nothing of it is applied, whatever
        # py-evm's state object may hold from before it raised.
        state_root = pre_root
    return CaseOutcome(
        state_root=state_root,
        logs_hash=logs_hash(entries),
        pre_state_root=pre_root,
        rejected=rejected,
        tx_bytes_match=tx_match,
        gas_used=gas_used,
    )


def check_outcome(case: Case, outcome: CaseOutcome) -> str | None:
    """None when the outcome is what the fixture expects, else the reason it is not."""
    post = load_test(case)["post"][case.fork][case.index]
    expected_root = _bytes(post["hash"])
    expected_logs = _bytes(post["logs"]) if post.get("logs") else None
    expect_exception = post.get("expectException")
    if expect_exception:
        if outcome.rejected is None:
            return f"expected exception {expect_exception}, but the transaction was accepted"
    elif outcome.rejected is not None:
        return f"transaction rejected: {outcome.rejected}"
    elif outcome.tx_bytes_match is False:
        return "signed transaction differs from the fixture's txbytes"
    if outcome.state_root != expected_root:
        return f"state root 0x{outcome.state_root.hex()} != expected 0x{expected_root.hex()}"
    if expected_logs is not None and outcome.logs_hash != expected_logs:
        return f"logs hash 0x{outcome.logs_hash.hex()} != expected 0x{expected_logs.hex()}"
    return None


def run_case(case: Case, vm_factory: VMFactory | None = None) -> CaseResult:
    """Execute one case and judge it (known deviations become XFAIL)."""
    started = time.perf_counter()
    if not case.supported:
        return CaseResult(case, CaseStatus.UNSUPPORTED, f"py-evm has no {case.fork} VM")
    try:
        outcome = execute_case(case, vm_factory)
        problem = check_outcome(case, outcome)
    except UsageError:
        raise
    except Exception as exc:
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
        problem = f"error: {type(exc).__name__}: {exc}{where}"
    seconds = time.perf_counter() - started
    deviation = deviation_reason(case.id)
    if problem is None:
        if deviation is not None:
            return CaseResult(
                case,
                CaseStatus.FAILED,
                f"listed as a known deviation but passed; remove it ({deviation})",
                seconds,
            )
        return CaseResult(case, CaseStatus.PASSED, "", seconds)
    if deviation is not None:
        return CaseResult(
            case, CaseStatus.XFAIL, f"{problem} [known deviation: {deviation}]", seconds
        )
    return CaseResult(case, CaseStatus.FAILED, problem, seconds)


def run_cases(cases: Iterable[Case], vm_factory: VMFactory | None = None) -> Iterator[CaseResult]:
    """`run_case` over many cases in this process."""
    for case in cases:
        yield run_case(case, vm_factory)


def contract_codes(cases: Iterable[Case]) -> dict[tuple[bytes, str], bytes]:
    """Every contract code the cases start with (pre-state codes and the init code of creating
    transactions), keyed by (keccak256 of code, py-evm fork name). Used to prepare AOT stores."""
    from eth_hash.auto import keccak

    found: dict[tuple[bytes, str], bytes] = {}
    for case in cases:
        if not case.supported:
            continue
        fork = str(vm_class_for_fork(case.fork).fork)
        test = load_test(case)
        try:
            codes = [_bytes(account.get("code", "0x")) for account in test["pre"].values()]
        except (ValueError, TypeError, AttributeError):
            continue  # a malformed pre-state: the case fails when it runs, as in every mode
        tx = test["transaction"]
        if isinstance(tx, dict) and not tx.get("to"):
            post = test["post"][case.fork][case.index]
            try:
                codes.append(_bytes(tx["data"][_int(post["indexes"]["data"])]))
            except (ValueError, TypeError, AttributeError, IndexError, KeyError):
                pass
        for code in codes:
            if code:
                found[(bytes(keccak(code)), fork)] = code
    return found
