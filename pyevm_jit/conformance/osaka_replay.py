"""GeneralStateTests transactions replayed under Osaka's rules, on the execution specification
and on `OsakaVM` (interpreted and JIT), compared.

Whatever forks a test's `post` names, its transactions (one per distinct data/gas/value index
triple) are signed for Osaka and applied to the test's pre-state in the test's block
environment. The specification's result (validity, post-state root, logs, gas used; see
`testing.osaka_spec`) is the expectation: the fixture's own hashes are for other forks.

With `cap_gas`, a transaction whose gas limit is above Osaka's cap (EIP-7825, 2^24) is replayed
with the cap instead (its id ends in `::gas-capped`): as written it is only rejected, so its
execution would never be compared (8,124 of the 21,221 transactions of the GeneralStateTests).

A replay ends as `agree`, `differ` (a side disagrees with the specification), `spec-cannot-run`
(the specification fails on the case itself: listed with the reason), `not-buildable` (the
transaction cannot be expressed, e.g. a value beyond 256 bits) or `error` (py-evm raised).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyevm_jit.conformance.fixtures import input_files, read_fixture, relative_id_path
from pyevm_jit.conformance.statetx import (
    TransactionRejected,
    build_transaction,
    encode_transaction,
    fixture_address,
    fixture_bytes,
    fixture_int,
    legacy_chain_id,
    state_test_block_hash,
)
from pyevm_jit.testing.account import Account
from pyevm_jit.testing.block import BlockEnv
from pyevm_jit.testing.osaka_spec import SpecCannotRun, TxCase, TxResult, run_pyevm, run_spec

STATUSES = ("agree", "differ", "spec-cannot-run", "not-buildable", "error")

#: a side: its name and the VM class it runs cases with
Side = tuple[str, type[Any]]


@dataclass(frozen=True, order=True)
class ReplayCase:
    """One transaction of one test: `id` is `<relative file>::<test>::d<data>g<gas>v<value>`."""

    id: str
    path: str
    test: str
    indexes: tuple[int, int, int]
    #: the transaction's gas limit lowered to the EIP-7825 cap (it was above it)
    capped: bool = False


@dataclass
class ReplayResult:
    case: ReplayCase
    status: str
    detail: str = ""
    valid: bool | None = None  # the specification's verdict on the transaction

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.case.id,
            "status": self.status,
            "detail": self.detail,
            "valid": self.valid,
        }


@functools.lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Any]:
    return read_fixture(path, "state test", ("env", "pre", "transaction", "post"))


CAPPED_SUFFIX = "::gas-capped"


def discover(
    paths: Sequence[str | Path], substring: str | None = None, *, cap_gas: bool = False
) -> list[ReplayCase]:
    """Every distinct transaction of the state tests in `paths` (files or folders); with
    `cap_gas`, those over the EIP-7825 cap are marked to run with the cap."""
    from pyevm_jit.osaka.constants import TX_MAX_GAS_LIMIT

    cases: list[ReplayCase] = []
    for file in input_files(paths):
        data = _load(str(file))
        rel = relative_id_path(file)
        for name in sorted(data):
            triples: set[tuple[int, int, int]] = set()
            for entries in data[name]["post"].values():
                for entry in entries:
                    ix = entry.get("indexes", {})
                    triples.add(
                        (fixture_int(ix["data"]), fixture_int(ix["gas"]), fixture_int(ix["value"]))
                    )
            gas_limits = data[name]["transaction"].get("gasLimit") or []
            for d, g, v in sorted(triples):
                case_id = f"{rel}::{name}::d{d}g{g}v{v}"
                capped = cap_gas and _over_cap(gas_limits, g, TX_MAX_GAS_LIMIT)
                case_id += CAPPED_SUFFIX if capped else ""
                if substring is None or substring in case_id:
                    cases.append(ReplayCase(case_id, str(file), name, (d, g, v), capped))
    return cases


def _over_cap(gas_limits: Sequence[Any], index: int, cap: int) -> bool:
    try:
        return fixture_int(gas_limits[index]) > cap
    except (IndexError, ValueError, TypeError):
        return False  # a malformed fixture: not buildable when it runs, capped or not


def _env(env: Mapping[str, Any]) -> BlockEnv:
    number = fixture_int(env["currentNumber"])
    randao = env.get("currentRandom", env.get("currentDifficulty", 0))
    root = env.get("currentBeaconRoot", env.get("parentBeaconBlockRoot"))
    return BlockEnv(
        coinbase=fixture_address(env["currentCoinbase"]),
        number=number,
        timestamp=fixture_int(env["currentTimestamp"]),
        gas_limit=fixture_int(env["currentGasLimit"]),
        base_fee=fixture_int(env.get("currentBaseFee", 10)),
        prev_randao=fixture_int(randao).to_bytes(32, "big"),
        excess_blob_gas=fixture_int(env.get("currentExcessBlobGas", 0)),
        beacon_root=fixture_bytes(root) if root else b"\x00" * 32,
        block_hashes=tuple(
            state_test_block_hash(n) for n in range(number - 1, max(0, number - 256) - 1, -1)
        ),
    )


def _pre(pre: Mapping[str, Any]) -> dict[bytes, Account]:
    return {
        fixture_address(address): Account(
            balance=fixture_int(account.get("balance", 0)),
            nonce=fixture_int(account.get("nonce", 0)),
            code=fixture_bytes(account.get("code", "0x")),
            storage={fixture_int(k): fixture_int(v) for k, v in account.get("storage", {}).items()},
        )
        for address, account in pre.items()
    }


def _legacy_chain_id(test: Mapping[str, Any], indexes: tuple[int, int, int]) -> int | None:
    """The chain id the fixture signed this legacy transaction with (from any post's txbytes)."""
    for entries in test["post"].values():
        for entry in entries:
            ix = entry.get("indexes", {})
            mine = (fixture_int(ix["data"]), fixture_int(ix["gas"]), fixture_int(ix["value"]))
            if mine == indexes and entry.get("txbytes"):
                return legacy_chain_id(fixture_bytes(entry["txbytes"]))
    return None


def tx_case(case: ReplayCase, vm_class: type[Any]) -> TxCase:
    """The case as a `TxCase`, its transaction signed with `vm_class`'s builder. Raises
    TransactionRejected when it cannot be built, ValueError on a malformed fixture."""
    test = _load(case.path)[case.test]
    d, g, v = case.indexes
    transaction = test["transaction"]
    if case.capped:
        from pyevm_jit.osaka.constants import TX_MAX_GAS_LIMIT

        gas_limits = list(transaction["gasLimit"])
        gas_limits[g] = TX_MAX_GAS_LIMIT
        transaction = {**transaction, "gasLimit": gas_limits}
    signed = build_transaction(
        vm_class,
        transaction,
        {"data": d, "gas": g, "value": v},
        _legacy_chain_id(test, case.indexes),
    )
    return TxCase(case.id, _pre(test["pre"]), _env(test["env"]), encode_transaction(signed))


def replay(case: ReplayCase, sides: Sequence[Side]) -> ReplayResult:
    """The case on the specification and on each side, compared."""
    from pyevm_jit.osaka import OsakaVM

    try:
        tx = tx_case(case, OsakaVM)
    except TransactionRejected as exc:
        return ReplayResult(case, "not-buildable", str(exc))
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        return ReplayResult(case, "not-buildable", f"{type(exc).__name__}: {exc}")
    try:
        expected = run_spec(tx)
    except SpecCannotRun as exc:
        return ReplayResult(case, "spec-cannot-run", str(exc))
    for name, vm_class in sides:
        try:
            got: TxResult = run_pyevm(tx, vm_class)
        except Exception as exc:  # noqa: BLE001 - reported as this case's error
            return ReplayResult(case, "error", f"{name}: {type(exc).__name__}: {exc}")
        difference = expected.difference(got)
        if difference is not None:
            return ReplayResult(case, "differ", f"{name}: spec vs {name}: {difference}")
    return ReplayResult(case, "agree", "", expected.valid)


def contract_codes(cases: Iterable[ReplayCase]) -> dict[tuple[bytes, str], bytes]:
    """Every contract code the cases start with (pre-state codes and the init code of creating
    transactions), keyed by (keccak256 of code, OsakaVM's fork name): an AOT store's contents."""
    from eth_hash.auto import keccak

    from pyevm_jit.osaka import OsakaVM

    fork = str(OsakaVM.fork)
    found: dict[tuple[bytes, str], bytes] = {}
    for case in cases:
        test = _load(case.path)[case.test]
        try:
            codes = [fixture_bytes(account.get("code", "0x")) for account in test["pre"].values()]
            tx = test["transaction"]
            if not tx.get("to"):
                codes.append(fixture_bytes(tx["data"][case.indexes[0]]))
        except (ValueError, TypeError, AttributeError, IndexError, KeyError):
            continue  # a malformed case: it is not buildable when it runs, in every mode
        for code in codes:
            if code:
                found[(bytes(keccak(code)), fork)] = code
    return found


def replay_all(
    cases: Iterable[ReplayCase],
    sides: Sequence[Side],
    on_result: Callable[[ReplayResult], None] | None = None,
) -> dict[str, int]:
    """Replay every case; counts by status (`on_result` sees each result)."""
    counts = {status: 0 for status in STATUSES}
    for case in cases:
        result = replay(case, sides)
        counts[result.status] += 1
        if on_result is not None:
            on_result(result)
    return counts
