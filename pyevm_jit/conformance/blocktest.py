"""Ethereum BlockchainTests on py-evm chains (stock VMs or JIT VMs).

A case is one test of a fixture file. Running it builds a py-evm chain from the fixture's
genesis header and pre-state with the VM classes of its network (fork name or transition),
imports every block (with full validation: state root, receipts, gas, ...), expects blocks
marked ``expectException`` to be rejected, and finally compares the canonical head with
``lastblockhash`` and the head state with ``postState`` (or ``postStateHash``).

Case ids are ``<file relative to BlockchainTests>::<test name>``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pyevm_jit.conformance.fixtures import input_files, read_fixture, relative_id_path
from pyevm_jit.conformance.known_deviations import deviation_reason
from pyevm_jit.conformance.results import CaseResultBase, CaseStatus, Summary
from pyevm_jit.errors import UsageError
from pyevm_jit.forks import VMFactory, fixture_fork_name

__all__ = [
    "BlockCase",
    "BlockCaseResult",
    "KNOWN_DEVIATIONS",
    "CaseStatus",
    "BlockSummary",
    "VMFactory",
    "blockchain_tests_dir",
    "build_chain",
    "contract_codes",
    "discover_cases",
    "run_case",
]

#: Cases where stock py-evm's own interpreter disagrees with the fixture: reported as expected
#: failures (never as passes); a listed case that passes is a failure, so the list stays exact.
#: Keys are case ids (or a file prefix ending in ".json" for all its tests); values say why.
KNOWN_DEVIATIONS: dict[str, str] = {
    "GeneralStateTests/stSStoreTest/InitCollisionParis.json": (
        "synthetic pre-state (accounts with storage but no code and nonce 0) that a CREATE "
        "targets: EIP-7610 makes non-empty storage a collision, py-evm 0.12 checks only code "
        "and nonce (state.has_code_or_nonce), so it deploys over the old storage and the state "
        "root differs; the stock interpreter fails these 4 cases, as py-evm's own suite does "
        "for the InitCollision family"
    ),
}


#: Cases that need billions of gas: hours on py-evm's interpreter (about 1-5 Mgas/s), so the
#: command skips them unless asked (--include-slow); the JIT runs them in seconds.
SLOW_CASES: dict[str, str] = {
    "GeneralStateTests/VMTests/vmPerformance/loopMul.json::loopMul_d0g0v0_Cancun": "2.47 Ggas",
    "GeneralStateTests/VMTests/vmPerformance/loopMul.json::loopMul_d1g0v0_Cancun": "6.18 Ggas",
    "GeneralStateTests/VMTests/vmPerformance/loopMul.json::loopMul_d2g0v0_Cancun": "0.54 Ggas",
}


def skipped_result(case: BlockCase) -> BlockCaseResult:
    reason = f"slow on the interpreter ({SLOW_CASES[case.id]}); run with --include-slow"
    return BlockCaseResult(case, CaseStatus.SKIPPED, reason)


@dataclass(frozen=True, order=True)
class BlockCase:
    id: str
    path: str
    name: str
    network: str


@dataclass
class BlockCaseResult(CaseResultBase[BlockCase]):
    blocks: int = 0  # blocks imported
    rejected: int = 0  # invalid blocks rejected as expected

    def case_fields(self) -> dict[str, Any]:
        return {"network": self.case.network}

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "blocks": self.blocks, "rejected": self.rejected}


#: the counts and summary line of a run (the state-test runner's, for any kind of result)
BlockSummary = Summary


def blockchain_tests_dir(*, must_exist: bool = True) -> Path:
    """``<ethereum tests>/BlockchainTests`` (found as `conformance.fixtures` says)."""
    from pyevm_jit.conformance.fixtures import ethereum_tests_dir

    path = ethereum_tests_dir(must_exist=must_exist) / "BlockchainTests"
    if must_exist and not path.is_dir():
        raise UsageError(f"no BlockchainTests folder in {path.parent}")
    return path


# ---------------------------------------------------------------------------------------------
# Discovery
# ---------------------------------------------------------------------------------------------


_REQUIRED_TEST_KEYS = ("blocks", "genesisBlockHeader", "pre", "network")


@lru_cache(maxsize=8)
def _load_file(path: str) -> dict[str, Any]:
    return read_fixture(path, "BlockchainTests", _REQUIRED_TEST_KEYS)


def discover_cases(
    paths: Sequence[str | Path], *, substring: str | None = None, network: str | None = None
) -> list[BlockCase]:
    if network is not None:
        network = check_network(network)
    cases = []
    for file in input_files(paths):
        rel = relative_id_path(file, "BlockchainTests")
        for name, test in _load_file(str(file)).items():
            case = BlockCase(f"{rel}::{name}", str(file), name, str(test["network"]))
            if substring and substring not in case.id:
                continue
            if network and case.network.lower() != network.lower():
                continue
            cases.append(case)
    return cases


def check_network(name: str) -> str:
    """The Ethereum tests' spelling of a network named by a user: a fork (py-evm's, or a later
    one it lacks) or a transition py-evm knows ("ShanghaiToCancunAtTime15k"). UsageError for
    anything else (a misspelled name must not select nothing and pass)."""
    from eth.tools.fixtures.helpers import chain_vm_configuration

    try:
        return fixture_fork_name(name)
    except ValueError:
        pass
    try:
        chain_vm_configuration({"network": name, "blocks": []})
    except ValueError:
        raise UsageError(
            f"--network: unknown network {name!r} (a fork such as Cancun, or a transition "
            "such as ShanghaiToCancunAtTime15k)"
        ) from None
    except Exception:  # noqa: BLE001 - a known transition, which wants a fixture's blocks
        pass
    return name


def load_test(case: BlockCase) -> dict[str, Any]:
    return _load_file(case.path)[case.name]


# ---------------------------------------------------------------------------------------------
# Chains
# ---------------------------------------------------------------------------------------------


def vm_configuration_for(test: dict[str, Any]) -> tuple[tuple[int, type[Any]], ...]:
    """The stock VM classes of the fixture's network (fork name or transition)."""
    from eth.tools.fixtures.helpers import chain_vm_configuration

    try:
        return tuple(chain_vm_configuration(test))
    except ValueError as exc:
        raise _Unsupported(str(exc)) from None


class _Unsupported(Exception):
    pass


def build_chain(test: dict[str, Any], vm_factory: VMFactory | None = None) -> Any:
    """A py-evm chain at the fixture's genesis, with its network's VMs (mapped through
    ``vm_factory``, e.g. to JIT VMs)."""
    from eth.chains.mainnet import MainnetChain
    from eth.db.atomic import AtomicDB
    from eth.tools._utils.normalization import normalize_account_state
    from eth.tools.builder.chain import disable_pow_check
    from eth.tools.fixtures.helpers import genesis_params_from_fixture

    chain_class = MainnetChain.configure(
        __name__="BlockTestChain", vm_configuration=vm_configuration_for(test)
    )
    if test.get("sealEngine") == "NoProof":
        chain_class = disable_pow_check(chain_class)  # configured subclasses of the fork VMs
    if vm_factory is not None:
        configuration = tuple(
            (number, vm_factory(vm_class)) for number, vm_class in chain_class.vm_configuration
        )
        chain_class = chain_class.configure(vm_configuration=configuration)
    from eth.tools._utils.normalization import normalize_block_header

    normalized = {"genesisBlockHeader": normalize_block_header(test["genesisBlockHeader"])}
    return chain_class.from_genesis(
        AtomicDB(),
        genesis_params=genesis_params_from_fixture(normalized),
        genesis_state=normalize_account_state(test["pre"]),
    )


def _decode_hex(text: str) -> bytes:
    return bytes.fromhex(text[2:] if text.startswith(("0x", "0X")) else text)


_REJECTIONS: tuple[type[BaseException], ...] | None = None


def _rejection_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "this block is invalid" (py-evm's own blockchain-test set)."""
    global _REJECTIONS
    if _REJECTIONS is None:
        import rlp
        from eth.exceptions import PyEVMError
        from eth_utils import ValidationError

        _REJECTIONS = (
            ValidationError,
            rlp.DecodingError,
            rlp.DeserializationError,
            TypeError,
            PyEVMError,
        )
    return _REJECTIONS


def _import_block(chain: Any, block_fixture: dict[str, Any], rlp_bytes: bytes) -> Any:
    import rlp

    header = block_fixture.get("blockHeader")
    if header is not None:
        number = int(header["number"], 16)
        block_class = chain.get_vm_class_for_block_number(number).get_block_class()
    else:
        block_class = chain.get_vm().get_block_class()
    block = rlp.decode(rlp_bytes, sedes=block_class)
    return chain.import_block(block, perform_validation=True)


class _CaseFailure(Exception):
    pass


def check_case(test: dict[str, Any], vm_factory: VMFactory | None = None) -> tuple[int, int]:
    """Run one test; raise _CaseFailure with a one-line reason when it does not pass.
    Returns (blocks imported, invalid blocks rejected)."""
    chain = build_chain(test, vm_factory)
    genesis = chain.get_canonical_block_header_by_number(0)
    expected_genesis = _decode_hex(test["genesisBlockHeader"]["hash"])
    if genesis.hash != expected_genesis:
        raise _CaseFailure(
            f"genesis hash 0x{genesis.hash.hex()} != 0x{expected_genesis.hex()} (genesis set-up)"
        )
    imported = rejected = 0
    for index, block_fixture in enumerate(test["blocks"]):
        expect = block_fixture.get("expectException")
        try:
            rlp_bytes = _decode_hex(block_fixture["rlp"])
        except ValueError as exc:
            if expect is None:
                raise _CaseFailure(f"block {index}: undecodable RLP in a valid block") from exc
            rejected += 1
            continue
        if expect is None:
            try:
                _import_block(chain, block_fixture, rlp_bytes)
            except Exception as exc:
                raise _CaseFailure(
                    f"block {index}: valid block rejected: {type(exc).__name__}: {exc}"[:400]
                ) from None
            imported += 1
        else:
            try:
                _import_block(chain, block_fixture, rlp_bytes)
            except _rejection_errors():
                rejected += 1
            else:
                raise _CaseFailure(f"block {index}: imported, but the fixture expects {expect}")
    head = chain.get_canonical_head()
    expected_head = _decode_hex(test["lastblockhash"])
    if head.hash != expected_head:
        raise _CaseFailure(f"last block hash 0x{head.hash.hex()} != 0x{expected_head.hex()}")
    _check_post_state(chain, head, test)
    return imported, rejected


def _check_post_state(chain: Any, head: Any, test: dict[str, Any]) -> None:
    if "postStateHash" in test:
        expected_root = _decode_hex(test["postStateHash"])
        if head.state_root != expected_root:
            raise _CaseFailure(f"post state root 0x{head.state_root.hex()} != expected")
    post = test.get("postState")
    if post is None:
        return
    from eth._utils.state import diff_state
    from eth.tools._utils.normalization import normalize_account_state

    state = chain.get_vm(head).state
    diff = diff_state(normalize_account_state(post), state)
    if diff:
        account, field_name, actual, expected = diff[0]
        raise _CaseFailure(
            f"post state differs in {len(diff)} values, e.g. 0x{bytes(account).hex()} "
            f"{field_name}: {actual!r} != {expected!r}"[:400]
        )


def _one_line(text: str, limit: int = 400) -> str:
    return " ".join(text.split())[:limit]


def run_case(case: BlockCase, vm_factory: VMFactory | None = None) -> BlockCaseResult:
    started = time.perf_counter()
    reason = ""
    blocks = rejected = 0
    try:
        test = load_test(case)
        blocks, rejected = check_case(test, vm_factory)
        status = CaseStatus.PASSED
    except _Unsupported as exc:
        status, reason = CaseStatus.UNSUPPORTED, str(exc)
    except _CaseFailure as exc:
        status, reason = CaseStatus.FAILED, str(exc)
    except UsageError:
        raise
    except Exception as exc:  # anything else is a failure of this case, not of the run
        status, reason = CaseStatus.FAILED, f"{type(exc).__name__}: {exc}"[:400]
    reason = _one_line(reason)
    known = deviation_reason(case.id, KNOWN_DEVIATIONS)
    if known is not None:
        if status is CaseStatus.FAILED:
            status, reason = CaseStatus.XFAIL, f"{known} (got: {reason})"
        elif status is CaseStatus.PASSED:
            status, reason = CaseStatus.FAILED, f"listed as a known deviation but passes: {known}"
    return BlockCaseResult(
        case, status, reason, time.perf_counter() - started, blocks=blocks, rejected=rejected
    )


def run_cases(
    cases: Iterable[BlockCase], vm_factory: VMFactory | None = None
) -> Iterator[BlockCaseResult]:
    for case in cases:
        yield run_case(case, vm_factory)


def contract_codes(cases: Iterable[BlockCase]) -> dict[tuple[bytes, str], bytes]:
    """Every non-empty code of the cases' pre-states, keyed by (code hash, fork) for every fork
    of the case's network (the AOT set)."""
    from eth_hash.auto import keccak

    codes: dict[tuple[bytes, str], bytes] = {}
    for case in cases:
        test = load_test(case)
        try:
            forks = {str(vm.fork) for _n, vm in vm_configuration_for(test)}
        except _Unsupported:
            continue
        try:
            pre_codes = [_decode_hex(account.get("code", "0x")) for account in test["pre"].values()]
        except (ValueError, TypeError, AttributeError):
            continue  # a malformed pre-state: the case fails when it runs, as in every mode
        for code in pre_codes:
            if not code:
                continue
            code_hash = keccak(code)
            for fork in forks:
                codes[(code_hash, fork)] = code
    return codes
