"""The Ethereum state tests as parametrised pytest cases, in interp and jit mode.

By default a deterministic sample runs (every case whose id hashes to 0 modulo SAMPLE_EVERY,
plus the first case of every fixture folder, minus the known-slow cases); `--statetest-full`
or `PYEVM_JIT_FULL=1` runs every case.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_hash.auto import keccak

from pyevm_jit.conformance.results import CaseStatus
from pyevm_jit.conformance.statetest import Case, discover_cases, run_case
from pyevm_jit.errors import UsageError
from pyevm_jit.forks import VMFactory

MODES = ("interp", "jit")

# One case in SAMPLE_EVERY (by a stable hash of its id) is in the CI sample.
SAMPLE_EVERY = 64


def statetest_full(config: pytest.Config) -> bool:
    """All cases (`--statetest-full`, registered in conftest.py, or PYEVM_JIT_FULL=1)?"""
    if config.getoption("--statetest-full", default=False):
        return True
    return os.environ.get("PYEVM_JIT_FULL", "").strip().lower() in ("1", "true", "yes", "on")


@functools.lru_cache(maxsize=1)
def _slow_cases() -> frozenset[str]:
    return frozenset(line.strip() for line in SLOW_CASE_IDS.splitlines() if line.strip())


def _folder(case: Case) -> str:
    return case.id.split("::", 1)[0].rsplit("/", 1)[0]


def _is_slow(case: Case) -> bool:
    return case.id in _slow_cases()


def _stable_hash(case_id: str) -> int:
    return int.from_bytes(hashlib.sha256(case_id.encode()).digest()[:8], "big")


def select_sample(cases: list[Case], every: int = SAMPLE_EVERY) -> list[Case]:
    """Deterministic sample covering every folder: hash-selected cases plus, for each folder,
    its first case that is not known to be slow (its first case when all are)."""
    picked: list[Case] = []
    covered: set[str] = set()
    first_slow: dict[str, Case] = {}
    for case in cases:
        folder = _folder(case)
        if _is_slow(case):
            first_slow.setdefault(folder, case)
            continue
        if folder not in covered or _stable_hash(case.id) % every == 0:
            picked.append(case)
            covered.add(folder)
    # A folder with nothing but slow cases still gets one.
    picked.extend(case for folder, case in first_slow.items() if folder not in covered)
    return picked


@functools.lru_cache(maxsize=1)
def _discover_all() -> tuple[list[Case], str | None]:
    from pyevm_jit.conformance.fixtures import general_state_tests_dir

    try:
        root = general_state_tests_dir()
    except UsageError as exc:
        return [], str(exc)
    return discover_cases([root]), None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "statetest_case" not in metafunc.fixturenames:
        return
    cases, problem = _discover_all()
    if problem is not None:
        metafunc.parametrize(
            "statetest_case", [pytest.param(None, marks=pytest.mark.skip(reason=problem))]
        )
        return
    if not statetest_full(metafunc.config):
        cases = select_sample(cases)
    metafunc.parametrize("statetest_case", cases, ids=[case.id for case in cases])


@pytest.fixture(scope="session")
def jit_factory(backend: Any) -> VMFactory:
    from pyevm_jit.evm.vm import jit_vm

    classes: dict[type[Any], type[Any]] = {}

    def factory(vm_class: type[Any]) -> type[Any]:
        if vm_class not in classes:
            classes[vm_class] = jit_vm(vm_class, backend)
        return classes[vm_class]

    return factory


@pytest.mark.statetest
@pytest.mark.parametrize("mode", MODES)
def test_state(statetest_case: Case, mode: str, request: pytest.FixtureRequest) -> None:
    factory: VMFactory | None = None
    backend: Any = None
    if mode == "jit":
        factory = request.getfixturevalue("jit_factory")
        backend = request.getfixturevalue("backend")
        before = backend.stats()
    result = run_case(statetest_case, factory)
    if result.status is CaseStatus.UNSUPPORTED:
        pytest.skip(result.reason)
    if result.status is CaseStatus.XFAIL:
        pytest.xfail(result.reason)
    assert result.status is CaseStatus.PASSED, result.reason
    if backend is not None:
        check_native_ran(before, backend.stats(), runs_code=_runs_code(statetest_case))


def check_native_ran(before: Any, after: Any, runs_code: bool = False) -> None:
    """In jit mode every contract a case runs is compiled before it runs, so every message with
    code runs native code: a lookup misses only for an Ineligible contract (too long, or
    pathological to compile: interpreted by design, with its reason), never because it failed
    to compile, was not ready or the runtime was off. With `runs_code` (the transaction
    starts in code), the case must have looked its code up at least once."""
    misses = {
        reason: count - before.misses_by_reason.get(reason, 0)
        for reason, count in after.misses_by_reason.items()
    }
    unexpected = {reason: n for reason, n in misses.items() if n and reason != "Ineligible"}
    assert not unexpected, f"messages that did not run native code: {unexpected}"
    if runs_code:
        looked_up = after.lookup_hits - before.lookup_hits + misses.get("Ineligible", 0)
        assert looked_up > 0, "the transaction runs code, but no message looked it up"


def _runs_code(case: Case) -> bool:
    """Whether the case's transaction runs code: it is valid (no expected exception) and
    creates with init code or calls an account with code in the pre-state."""
    test = json.loads(Path(case.path).read_text())[case.name]
    post = test["post"][case.fork][case.index]
    if post.get("expectException"):
        return False
    tx = test["transaction"]
    pre = {k.lower(): v for k, v in test["pre"].items()}
    to = (tx.get("to") or "").lower()
    if not to or to == "0x":
        data = tx.get("data") or ["0x"]
        if data[post.get("indexes", {}).get("data", 0)] in ("", "0x"):
            return False
        sender = tx.get("sender")
        if sender is None:
            return True
        nonce = int(tx["nonce"], 16)
        address = "0x" + keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:].hex()
        target = pre.get(address) or {}
        collides = target.get("code", "0x") not in ("", "0x") or int(target.get("nonce", "0"), 16)
        return not collides  # a creation onto an account with code or a nonce runs nothing
    return (pre.get(to) or {}).get("code", "0x") not in ("", "0x")


def test_sample_covers_every_folder() -> None:
    cases, problem = _discover_all()
    if problem is not None:
        pytest.skip(problem)
    sample = select_sample(cases)
    assert {_folder(case) for case in sample} == {_folder(case) for case in cases}
    assert sample == select_sample(list(cases))  # deterministic
    assert len(sample) < len(cases) / 10
    slow_in_sample = [case for case in sample if _is_slow(case)]
    assert len({_folder(case) for case in slow_in_sample}) == len(slow_in_sample)


def test_native_check_catches_interpreted_messages() -> None:
    """The jit-mode check fails a case whose messages were interpreted (a backend switched
    off here), although the case itself passes."""
    from pyevm_jit.evm.vm import jit_vm
    from pyevm_jit.runtime import JitBackend

    cases, problem = _discover_all()
    if problem is not None:
        pytest.skip(problem)
    case = next(c for c in cases if "vmArithmeticTest/add.json" in c.id and c.fork == "Cancun")
    with JitBackend.disabled() as off:
        before = off.stats()
        result = run_case(case, lambda vm_class: jit_vm(vm_class, off))
        assert result.status is CaseStatus.PASSED, result.reason
        with pytest.raises(AssertionError, match="Disabled"):
            check_native_ran(before, off.stats())


def test_native_check_needs_a_lookup_when_the_transaction_runs_code() -> None:
    """A case whose transaction runs code but whose messages never looked it up (no hit, no
    miss: the JIT VM was not used at all) fails the check; one that runs no code passes."""
    from types import SimpleNamespace

    nothing = SimpleNamespace(lookup_hits=5, misses_by_reason={"Ineligible": 2})
    with pytest.raises(AssertionError, match="no message looked it up"):
        check_native_ran(nothing, nothing, runs_code=True)
    check_native_ran(nothing, nothing, runs_code=False)
    hit = SimpleNamespace(lookup_hits=6, misses_by_reason={"Ineligible": 2})
    check_native_ran(nothing, hit, runs_code=True)


def test_transactions_that_run_code_are_told_apart() -> None:
    cases, problem = _discover_all()
    if problem is not None:
        pytest.skip(problem)
    by_id = {case.id: case for case in cases}

    def find(part: str) -> Case:
        return next(by_id[i] for i in sorted(by_id) if part in i and by_id[i].fork == "Cancun")

    assert _runs_code(find("vmArithmeticTest/add.json"))  # a call into code
    assert not _runs_code(find("initCollidingWithNonEmptyAccount.json"))  # collides: no code


def test_jit_runs_native_code(backend: Any, jit_factory: VMFactory) -> None:
    """In jit mode (blocking backend) a contract call runs native code."""
    from pyevm_jit.conformance.fixtures import general_state_tests_dir

    folder = general_state_tests_dir() / "VMTests" / "vmArithmeticTest" / "add.json"
    cases = discover_cases([folder], fork="Cancun")
    before = backend.stats().lookup_hits
    result = run_case(cases[0], jit_factory)
    assert result.status is CaseStatus.PASSED, result.reason
    assert backend.stats().lookup_hits > before


# Cases over 2 s on the interpreter in the full baseline run (`pyevm-jit statetest
# GeneralStateTests --json`; the four that did not finish there are listed too), one id per line:
# left out of the CI sample, never out of the full run.
SLOW_CASE_IDS = """
Cancun/stEIP1153-transientStorage/10_revertUndoesStoreAfterReturn.json::10_revertUndoesStoreAfterReturn::Cancun::0
Cancun/stEIP1153-transientStorage/14_revertAfterNestedStaticcall.json::14_revertAfterNestedStaticcall::Cancun::0
Cancun/stEIP1153-transientStorage/15_tstoreCannotBeDosd.json::15_tstoreCannotBeDosd::Cancun::0
Cancun/stEIP1153-transientStorage/21_tstoreCannotBeDosdOOO.json::21_tstoreCannotBeDosdOOO::Cancun::0
Pyspecs/cancun/eip1153_tstore/run_until_out_of_gas.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip1153_tstore/test_tstorage.py::test_run_until_out_of_gas[fork_Cancun-state_test-tstore]::Cancun::0
Pyspecs/cancun/eip1153_tstore/run_until_out_of_gas.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip1153_tstore/test_tstorage.py::test_run_until_out_of_gas[fork_Cancun-state_test-tstore_tload]::Cancun::0
Pyspecs/cancun/eip1153_tstore/run_until_out_of_gas.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip1153_tstore/test_tstorage.py::test_run_until_out_of_gas[fork_Cancun-state_test-tstore_wide_address_space]::Cancun::0
Pyspecs/cancun/eip4844_blobs/invalid_precompile_calls.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_invalid_precompile_calls[fork_Cancun-state_test-success_False-out_of_bounds_y]::Cancun::0
Pyspecs/cancun/eip4844_blobs/invalid_precompile_calls.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_invalid_precompile_calls[fork_Cancun-state_test-success_False-out_of_bounds_z]::Cancun::0
Pyspecs/cancun/eip4844_blobs/invalid_precompile_calls.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_invalid_precompile_calls[fork_Cancun-state_test-success_False-zeros_inputs_correct_versioned_hash]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_calls.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_calls[fork_Cancun-state_test--call_type_CALL-correct]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_calls.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_calls[fork_Cancun-state_test--call_type_CALL-incorrect]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_calls.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_calls[fork_Cancun-state_test--call_type_CALLCODE-correct]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_calls.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_calls[fork_Cancun-state_test--call_type_CALLCODE-incorrect]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_calls.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_calls[fork_Cancun-state_test--call_type_DELEGATECALL-correct]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_calls.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_calls[fork_Cancun-state_test--call_type_DELEGATECALL-incorrect]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_calls.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_calls[fork_Cancun-state_test--call_type_STATICCALL-correct]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_calls.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_calls[fork_Cancun-state_test--call_type_STATICCALL-incorrect]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_02e696ada7d4631d]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_05c1f3685f3393f0]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_08f9e2f1cb3d39db]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_0cf79b17cb5f4ea2]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_177b58dc7a46b08f]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_1ce8e4f69d5df899]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_26b753dec0560daa]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_2b76dc9e3abf42f3]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_31ebd010e6098750]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_3208425794224c3f]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_36817bfd67de97a8]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_392169c16a2e5ef6]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_395cf6d697d1a743]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_3ac8dc31e9aa6a70]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_3c1e8b38219e3e12]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_3c87ec986c2656c2]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_3cd183d0bab85fb7]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_420f2a187ce77035]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_444b73ff54a19b44]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_53a9bdf4f75196da]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_585454b31673dd62]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_7db4f140a955dd1a]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_83e53423a2dd93fe]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_9b24f8997145435c]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_9b754afb690c47e1]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_a0be66af9a97ea52]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_af669445747d2585]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_af8b75f664ed7d43]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_b6cb6698327d9835]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_b6ec3736f9ff2c62]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_becf2e1641bbd4e6]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_c3d4322ec17fe7cd]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_c5e1490d672d026d]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_cae5d3491190b777]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_d0992bc0387790a4]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_d736268229bd87ec]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_e68d7111a2364a49]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_ed6b180ec759bcf6]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_f0ed3dc11cdeb130]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_f47eb9fc139f6bfd]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_f7f44e1e864aa967]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_ffa6e97b97146517]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_point_at_infinity_for_twos_poly_05c1f3685f3393f0]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_point_at_infinity_for_twos_poly_177b58dc7a46b08f]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_point_at_infinity_for_twos_poly_2b76dc9e3abf42f3]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_point_at_infinity_for_twos_poly_395cf6d697d1a743]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_point_at_infinity_for_twos_poly_585454b31673dd62]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_point_at_infinity_for_twos_poly_a0be66af9a97ea52]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_point_at_infinity_for_zero_poly_02e696ada7d4631d]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_point_at_infinity_for_zero_poly_0cf79b17cb5f4ea2]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_point_at_infinity_for_zero_poly_3208425794224c3f]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_point_at_infinity_for_zero_poly_3ac8dc31e9aa6a70]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_point_at_infinity_for_zero_poly_c3d4322ec17fe7cd]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_correct_proof_point_at_infinity_for_zero_poly_ffa6e97b97146517]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_02e696ada7d4631d]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_05c1f3685f3393f0]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_08f9e2f1cb3d39db]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_0cf79b17cb5f4ea2]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_177b58dc7a46b08f]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_1ce8e4f69d5df899]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_26b753dec0560daa]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_2b76dc9e3abf42f3]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_31ebd010e6098750]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_3208425794224c3f]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_36817bfd67de97a8]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_392169c16a2e5ef6]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_395cf6d697d1a743]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_3ac8dc31e9aa6a70]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_3c1e8b38219e3e12]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_3c87ec986c2656c2]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_3cd183d0bab85fb7]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_420f2a187ce77035]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_444b73ff54a19b44]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_53a9bdf4f75196da]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_585454b31673dd62]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_7db4f140a955dd1a]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_83e53423a2dd93fe]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_9b24f8997145435c]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_9b754afb690c47e1]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_a0be66af9a97ea52]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_af669445747d2585]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_af8b75f664ed7d43]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_b6cb6698327d9835]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_b6ec3736f9ff2c62]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_becf2e1641bbd4e6]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_c3d4322ec17fe7cd]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_c5e1490d672d026d]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_cae5d3491190b777]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_d0992bc0387790a4]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_d736268229bd87ec]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_e68d7111a2364a49]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_ed6b180ec759bcf6]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_f0ed3dc11cdeb130]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_f47eb9fc139f6bfd]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_f7f44e1e864aa967]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_ffa6e97b97146517]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_point_at_infinity_392169c16a2e5ef6]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_point_at_infinity_3c1e8b38219e3e12]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_point_at_infinity_3c87ec986c2656c2]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_point_at_infinity_420f2a187ce77035]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_point_at_infinity_83e53423a2dd93fe]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_incorrect_proof_point_at_infinity_ed6b180ec759bcf6]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_invalid_commitment_32afa9561a4b3b91]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_invalid_commitment_e9d3e9ec16fbc15f]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_invalid_proof_32afa9561a4b3b91]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_invalid_proof_e9d3e9ec16fbc15f]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_invalid_y_35d08d612aad2197]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_invalid_y_4aa6def8c35c9097]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_invalid_y_64b9ff2b8f7dddee]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_invalid_y_eb0601fec84cc5e9]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_invalid_z_35d08d612aad2197]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_invalid_z_4aa6def8c35c9097]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_invalid_z_64b9ff2b8f7dddee]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_external_vectors[fork_Cancun-state_test-versioned_hash_None-verify_kzg_proof_case_invalid_z_eb0601fec84cc5e9]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_tx_to.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_gas_tx_to[fork_Cancun-state_test-correct_proof-exact_gas]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_tx_to.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_gas_tx_to[fork_Cancun-state_test-correct_proof-extra_gas]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_tx_to.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_gas_tx_to[fork_Cancun-state_test-incorrect_proof-exact_gas]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_tx_to.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_point_evaluation_precompile_gas_tx_to[fork_Cancun-state_test-incorrect_proof-extra_gas]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile_gas.py::test_point_evaluation_precompile_gas_usage[fork_Cancun-state_test-proof_correct-exact_gas-call_type_CALLCODE]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile_gas.py::test_point_evaluation_precompile_gas_usage[fork_Cancun-state_test-proof_correct-exact_gas-call_type_CALL]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile_gas.py::test_point_evaluation_precompile_gas_usage[fork_Cancun-state_test-proof_correct-exact_gas-call_type_DELEGATECALL]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile_gas.py::test_point_evaluation_precompile_gas_usage[fork_Cancun-state_test-proof_correct-exact_gas-call_type_STATICCALL]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile_gas.py::test_point_evaluation_precompile_gas_usage[fork_Cancun-state_test-proof_correct-extra_gas-call_type_CALLCODE]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile_gas.py::test_point_evaluation_precompile_gas_usage[fork_Cancun-state_test-proof_correct-extra_gas-call_type_CALL]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile_gas.py::test_point_evaluation_precompile_gas_usage[fork_Cancun-state_test-proof_correct-extra_gas-call_type_DELEGATECALL]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile_gas.py::test_point_evaluation_precompile_gas_usage[fork_Cancun-state_test-proof_correct-extra_gas-call_type_STATICCALL]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile_gas.py::test_point_evaluation_precompile_gas_usage[fork_Cancun-state_test-proof_incorrect-exact_gas-call_type_CALLCODE]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile_gas.py::test_point_evaluation_precompile_gas_usage[fork_Cancun-state_test-proof_incorrect-exact_gas-call_type_CALL]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile_gas.py::test_point_evaluation_precompile_gas_usage[fork_Cancun-state_test-proof_incorrect-exact_gas-call_type_DELEGATECALL]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile_gas.py::test_point_evaluation_precompile_gas_usage[fork_Cancun-state_test-proof_incorrect-exact_gas-call_type_STATICCALL]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile_gas.py::test_point_evaluation_precompile_gas_usage[fork_Cancun-state_test-proof_incorrect-extra_gas-call_type_CALLCODE]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile_gas.py::test_point_evaluation_precompile_gas_usage[fork_Cancun-state_test-proof_incorrect-extra_gas-call_type_CALL]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile_gas.py::test_point_evaluation_precompile_gas_usage[fork_Cancun-state_test-proof_incorrect-extra_gas-call_type_DELEGATECALL]::Cancun::0
Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_gas_usage.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile_gas.py::test_point_evaluation_precompile_gas_usage[fork_Cancun-state_test-proof_incorrect-extra_gas-call_type_STATICCALL]::Cancun::0
Pyspecs/cancun/eip4844_blobs/valid_precompile_calls.json::src/GeneralStateTestsFiller/Pyspecs/cancun/eip4844_blobs/test_point_evaluation_precompile.py::test_valid_precompile_calls[fork_Cancun-state_test-success_True-in_bounds_z]::Cancun::0
VMTests/vmPerformance/loopExp.json::loopExp::Cancun::2
VMTests/vmPerformance/loopExp.json::loopExp::Cancun::3
VMTests/vmPerformance/loopExp.json::loopExp::Cancun::4
VMTests/vmPerformance/loopExp.json::loopExp::Cancun::5
VMTests/vmPerformance/loopExp.json::loopExp::Cancun::6
VMTests/vmPerformance/loopExp.json::loopExp::Cancun::7
VMTests/vmPerformance/loopExp.json::loopExp::Cancun::8
VMTests/vmPerformance/loopMul.json::loopMul::Cancun::0
VMTests/vmPerformance/loopMul.json::loopMul::Cancun::1
VMTests/vmPerformance/loopMul.json::loopMul::Cancun::2
stAttackTest/ContractCreationSpam.json::ContractCreationSpam::Cancun::0
stBadOpcode/opc49DiffPlaces.json::opc49DiffPlaces::Cancun::34
stBadOpcode/opc4ADiffPlaces.json::opc4ADiffPlaces::Cancun::34
stBadOpcode/opc5CDiffPlaces.json::opc5CDiffPlaces::Cancun::34
stBadOpcode/opc5DDiffPlaces.json::opc5DDiffPlaces::Cancun::34
stBadOpcode/opc5EDiffPlaces.json::opc5EDiffPlaces::Cancun::34
stBadOpcode/opc5FDiffPlaces.json::opc5FDiffPlaces::Cancun::30
stCallCreateCallCodeTest/Call1024BalanceTooLow.json::Call1024BalanceTooLow::Cancun::0
stCallCreateCallCodeTest/Call1024PreCalls.json::Call1024PreCalls::Cancun::0
stCallCreateCallCodeTest/Call1024PreCalls.json::Call1024PreCalls::Cancun::1
stCallCreateCallCodeTest/CallRecursiveBombPreCall.json::CallRecursiveBombPreCall::Cancun::0
stCallCreateCallCodeTest/Callcode1024BalanceTooLow.json::Callcode1024BalanceTooLow::Cancun::0
stCreate2/CREATE2_FirstByte_loop.json::CREATE2_FirstByte_loop::Cancun::0
stCreate2/Create2OnDepth1023.json::Create2OnDepth1023::Cancun::0
stCreate2/Create2OnDepth1024.json::Create2OnDepth1024::Cancun::0
stCreate2/Create2Recursive.json::Create2Recursive::Cancun::0
stCreate2/Create2Recursive.json::Create2Recursive::Cancun::1
stCreate2/Create2Recursive.json::Create2Recursive::Cancun::2
stCreateTest/CreateOOGafterMaxCodesize.json::CreateOOGafterMaxCodesize::Cancun::4
stCreateTest/CreateOOGafterMaxCodesize.json::CreateOOGafterMaxCodesize::Cancun::5
stDelegatecallTestHomestead/Call1024BalanceTooLow.json::Call1024BalanceTooLow::Cancun::0
stDelegatecallTestHomestead/Call1024PreCalls.json::Call1024PreCalls::Cancun::0
stDelegatecallTestHomestead/Call1024PreCalls.json::Call1024PreCalls::Cancun::1
stDelegatecallTestHomestead/Call1024PreCalls.json::Call1024PreCalls::Cancun::2
stDelegatecallTestHomestead/CallRecursiveBombPreCall.json::CallRecursiveBombPreCall::Cancun::0
stDelegatecallTestHomestead/Delegatecall1024.json::Delegatecall1024::Cancun::0
stEIP1559/baseFeeDiffPlaces.json::baseFeeDiffPlaces::Cancun::34
stEIP1559/gasPriceDiffPlaces.json::gasPriceDiffPlaces::Cancun::34
stPreCompiledContracts2/CALLBlake2f.json::CALLBlake2f::Cancun::42
stPreCompiledContracts2/CALLCODEBlake2f.json::CALLCODEBlake2f::Cancun::42
stQuadraticComplexityTest/Call50000.json::Call50000::Cancun::0
stQuadraticComplexityTest/Call50000_ecrec.json::Call50000_ecrec::Cancun::0
stQuadraticComplexityTest/Call50000_identity.json::Call50000_identity::Cancun::0
stQuadraticComplexityTest/Call50000_identity2.json::Call50000_identity2::Cancun::0
stQuadraticComplexityTest/Call50000_sha256.json::Call50000_sha256::Cancun::0
stQuadraticComplexityTest/Callcode50000.json::Callcode50000::Cancun::0
stQuadraticComplexityTest/QuadraticComplexitySolidity_CallDataCopy.json::QuadraticComplexitySolidity_CallDataCopy::Cancun::1
stQuadraticComplexityTest/Return50000.json::Return50000::Cancun::0
stQuadraticComplexityTest/Return50000_2.json::Return50000_2::Cancun::0
stRecursiveCreate/recursiveCreateReturnValue.json::recursiveCreateReturnValue::Cancun::0
stRevertTest/LoopCallsDepthThenRevert2.json::LoopCallsDepthThenRevert2::Cancun::0
stRevertTest/LoopCallsDepthThenRevert3.json::LoopCallsDepthThenRevert3::Cancun::0
stSelfBalance/diffPlaces.json::diffPlaces::Cancun::34
stShift/shiftCombinations.json::shiftCombinations::Cancun::0
stStaticCall/static_Call1024PreCalls.json::static_Call1024PreCalls::Cancun::1
stStaticCall/static_Call1024PreCalls2.json::static_Call1024PreCalls2::Cancun::0
stStaticCall/static_Call1024PreCalls2.json::static_Call1024PreCalls2::Cancun::1
stStaticCall/static_Call1024PreCalls3.json::static_Call1024PreCalls3::Cancun::1
stStaticCall/static_Call50000.json::static_Call50000::Cancun::0
stStaticCall/static_Call50000.json::static_Call50000::Cancun::1
stStaticCall/static_Call50000_ecrec.json::static_Call50000_ecrec::Cancun::0
stStaticCall/static_Call50000_ecrec.json::static_Call50000_ecrec::Cancun::1
stStaticCall/static_Call50000_identity.json::static_Call50000_identity::Cancun::0
stStaticCall/static_Call50000_identity.json::static_Call50000_identity::Cancun::1
stStaticCall/static_Call50000_identity2.json::static_Call50000_identity2::Cancun::0
stStaticCall/static_Call50000_identity2.json::static_Call50000_identity2::Cancun::1
stStaticCall/static_Call50000_rip160.json::static_Call50000_rip160::Cancun::0
stStaticCall/static_Call50000_rip160.json::static_Call50000_rip160::Cancun::1
stStaticCall/static_Call50000bytesContract50_1.json::static_Call50000bytesContract50_1::Cancun::1
stStaticCall/static_Call50000bytesContract50_2.json::static_Call50000bytesContract50_2::Cancun::0
stStaticCall/static_CallRecursiveBombPreCall.json::static_CallRecursiveBombPreCall::Cancun::0
stStaticCall/static_CallRecursiveBombPreCall2.json::static_CallRecursiveBombPreCall2::Cancun::0
stStaticCall/static_LoopCallsDepthThenRevert2.json::static_LoopCallsDepthThenRevert2::Cancun::0
stStaticCall/static_LoopCallsDepthThenRevert3.json::static_LoopCallsDepthThenRevert3::Cancun::0
stStaticCall/static_LoopCallsThenRevert.json::static_LoopCallsThenRevert::Cancun::0
stStaticCall/static_LoopCallsThenRevert.json::static_LoopCallsThenRevert::Cancun::1
stStaticCall/static_Return50000_2.json::static_Return50000_2::Cancun::0
stStaticFlagEnabled/CallcodeToPrecompileFromCalledContract.json::CallcodeToPrecompileFromCalledContract::Cancun::0
stStaticFlagEnabled/CallcodeToPrecompileFromContractInitialization.json::CallcodeToPrecompileFromContractInitialization::Cancun::0
stStaticFlagEnabled/CallcodeToPrecompileFromTransaction.json::CallcodeToPrecompileFromTransaction::Cancun::0
stSystemOperationsTest/CallRecursiveBomb0_OOG_atMaxCallDepth.json::CallRecursiveBomb0_OOG_atMaxCallDepth::Cancun::0
stTimeConsuming/CALLBlake2f_MaxRounds.json::CALLBlake2f_MaxRounds::Cancun::0
stTimeConsuming/static_Call50000_sha256.json::static_Call50000_sha256::Cancun::0
stTimeConsuming/static_Call50000_sha256.json::static_Call50000_sha256::Cancun::1
stZeroKnowledge/ecpairing_inputs.json::ecpairing_inputs::Cancun::30
stZeroKnowledge/ecpairing_inputs.json::ecpairing_inputs::Cancun::31
stZeroKnowledge/ecpairing_inputs.json::ecpairing_inputs::Cancun::37
stZeroKnowledge/ecpairing_inputs.json::ecpairing_inputs::Cancun::50
stZeroKnowledge/ecpairing_three_point_fail_1.json::ecpairing_three_point_fail_1::Cancun::0
stZeroKnowledge/pairingTest.json::pairingTest::Cancun::13
stZeroKnowledge/pairingTest.json::pairingTest::Cancun::3
stZeroKnowledge/pairingTest.json::pairingTest::Cancun::4
"""
