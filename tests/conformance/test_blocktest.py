"""BlockchainTests: a deterministic sample in interp and jit mode, the runner's failure
detection on tampered fixtures, and the command's conventions."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyevm_jit.cli import main
from pyevm_jit.conformance import blocktest
from pyevm_jit.conformance.blocktest import BlockCase, CaseStatus, discover_cases, run_case
from pyevm_jit.conformance.fixtures import is_bundled_sample
from pyevm_jit.errors import UsageError

# One case in SAMPLE_EVERY (by a stable hash of its id), plus the first case of every folder and
# every case with an invalid block; folders whose cases take seconds on the interpreter are out.
# On the bundled sample (29 cases, when no full corpus is configured) every case is in.
SAMPLE_EVERY = 48
SLOW_FOLDERS = ("vmPerformance",)


def _tests_dir() -> Path | None:
    try:
        return blocktest.blockchain_tests_dir()
    except UsageError:
        return None


def _has_invalid_block(case: BlockCase) -> bool:
    return any("expectException" in b for b in blocktest.load_test(case)["blocks"])


def _sample() -> list[BlockCase]:
    root = _tests_dir()
    if root is None:
        return []
    everything = is_bundled_sample(root)
    chosen: list[BlockCase] = []
    seen_folders: set[str] = set()
    for case in discover_cases([root]):
        if any(f"/{folder}/" in case.path for folder in SLOW_FOLDERS):
            continue
        folder = case.id.split("::", 1)[0].rsplit("/", 1)[0]
        digest = int(hashlib.sha256(case.id.encode()).hexdigest(), 16)
        if (
            everything
            or folder not in seen_folders
            or digest % SAMPLE_EVERY == 0
            or _has_invalid_block(case)
        ):
            chosen.append(case)
        seen_folders.add(folder)
    return chosen


SAMPLE = _sample()
needs_fixtures = pytest.mark.skipif(not SAMPLE, reason="BlockchainTests not found")


@pytest.fixture(scope="module")
def jit_factory() -> Iterator[Any]:
    from pyevm_jit import runtime
    from pyevm_jit.evm.chain import JitVMCache

    backend = runtime.JitBackend.new(runtime.RuntimeConfig(enabled=True, blocking=True))
    try:
        yield JitVMCache(backend)
    finally:
        backend.close()


@needs_fixtures
def test_sample_is_small_and_covers_invalid_blocks() -> None:
    assert 20 <= len(SAMPLE) <= 120
    assert any(_has_invalid_block(case) for case in SAMPLE)


@needs_fixtures
@pytest.mark.parametrize("case", SAMPLE, ids=lambda c: c.id)
def test_sample_interp(case: BlockCase) -> None:
    result = run_case(case)
    assert result.status in (CaseStatus.PASSED, CaseStatus.XFAIL), result.reason
    assert result.blocks + result.rejected == len(blocktest.load_test(case)["blocks"])


@needs_fixtures
@pytest.mark.parametrize("case", SAMPLE, ids=lambda c: c.id)
def test_sample_jit(case: BlockCase, jit_factory: Any) -> None:
    interp = run_case(case)
    before = jit_factory.backend.stats().lookup_hits
    jit = run_case(case, jit_factory)
    assert jit.status is interp.status, jit.reason
    assert (jit.blocks, jit.rejected) == (interp.blocks, interp.rejected)
    has_code = any(
        account.get("code", "0x") not in ("", "0x")
        for account in blocktest.load_test(case)["pre"].values()
    )
    if has_code and interp.blocks:
        assert jit_factory.backend.stats().lookup_hits > before  # native code ran


# ---------------------------------------------------------------------------------------------
# Failure detection on tampered fixtures
# ---------------------------------------------------------------------------------------------


def _small_case_file(tmp_path: Path, edit: Any = None) -> Path:
    root = _tests_dir()
    assert root is not None
    source = root / "GeneralStateTests" / "stExample" / "add11.json"
    data = json.loads(source.read_text())
    name = next(iter(data))
    test = copy.deepcopy(data[name])
    if edit is not None:
        edit(test)
    target = tmp_path / "case.json"
    target.write_text(json.dumps({name: test}))
    return target


def _only_result(path: Path) -> Any:
    (case,) = discover_cases([path])
    return run_case(case)


@needs_fixtures
def test_untampered_copy_passes(tmp_path: Path) -> None:
    assert _only_result(_small_case_file(tmp_path)).status is CaseStatus.PASSED


@needs_fixtures
def test_wrong_last_block_hash_fails(tmp_path: Path) -> None:
    def edit(test: dict[str, Any]) -> None:
        test["lastblockhash"] = "0x" + "11" * 32

    result = _only_result(_small_case_file(tmp_path, edit))
    assert result.status is CaseStatus.FAILED and "last block hash" in result.reason


@needs_fixtures
def test_wrong_post_state_fails(tmp_path: Path) -> None:
    def edit(test: dict[str, Any]) -> None:
        account = next(iter(test["postState"].values()))
        account["balance"] = hex(int(account["balance"], 16) + 1)

    result = _only_result(_small_case_file(tmp_path, edit))
    assert result.status is CaseStatus.FAILED and "post state" in result.reason


@needs_fixtures
def test_valid_block_marked_invalid_fails(tmp_path: Path) -> None:
    def edit(test: dict[str, Any]) -> None:
        test["blocks"][0]["expectException"] = "TransactionException.INTRINSIC_GAS_TOO_LOW"

    result = _only_result(_small_case_file(tmp_path, edit))
    assert result.status is CaseStatus.FAILED and "expects" in result.reason


@needs_fixtures
def test_corrupted_block_is_rejected(tmp_path: Path) -> None:
    def edit(test: dict[str, Any]) -> None:
        block = test["blocks"][0]
        block["rlp"] = block["rlp"][:-4] + ("00" if block["rlp"][-2:] != "00" else "01") + "00"
        block["expectException"] = "corrupted"
        test["lastblockhash"] = test["genesisBlockHeader"]["hash"]
        test["postState"] = test["pre"]

    result = _only_result(_small_case_file(tmp_path, edit))
    assert result.status is CaseStatus.PASSED, result.reason
    assert result.rejected == 1


def test_known_deviation_that_passes_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    if not SAMPLE:
        pytest.skip("BlockchainTests not found")
    case = SAMPLE[0]
    monkeypatch.setitem(blocktest.KNOWN_DEVIATIONS, case.id, "pretend py-evm gets this wrong")
    assert run_case(case).status is CaseStatus.FAILED


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------


def test_bad_input_is_one_line_and_status_2(tmp_path: Path, capsys: Any) -> None:
    assert main(["blocktest", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"x": {"env": {}}}')
    assert main(["blocktest", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a BlockchainTests fixture" in err
    assert main(["blocktest", str(bad), "--mode", "fast"]) == 2


@needs_fixtures
def test_command_output_and_json(tmp_path: Path, capsys: Any) -> None:
    good = _small_case_file(tmp_path)
    out_json = tmp_path / "out.json"
    assert main(["blocktest", str(good), "--no-progress", "--json", str(out_json)]) == 0
    assert capsys.readouterr().out.strip().startswith("1 passed, 0 failed")
    document = json.loads(out_json.read_text())
    assert document["summary"]["passed"] == 1 and document["results"][0]["status"] == "passed"

    broken_dir = tmp_path / "broken"
    broken_dir.mkdir()

    def edit(test: dict[str, Any]) -> None:
        test["lastblockhash"] = "0x" + "22" * 32

    _small_case_file(broken_dir, edit)
    assert main(["blocktest", str(broken_dir), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "0 passed, 1 failed" in captured.out
    assert captured.err.count("FAIL ") == 1


@needs_fixtures
def test_aot_mode_runs_from_the_store(tmp_path: Path, capsys: Any) -> None:
    root = _tests_dir()
    assert root is not None
    folder = root / "GeneralStateTests" / "stExample"
    store = tmp_path / "store"
    args = ["blocktest", str(folder), "-k", "add11", "--mode", "aot", "--store", str(store)]
    assert main([*args, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and "aot: compiling" in out
    native = next(line for line in out.splitlines() if line.startswith("native:"))
    assert int(native.split()[1]) > 0  # messages ran native code from the store
    assert "aot: 0 compilations while running (store only)" in out
    assert any(store.iterdir())
    # a second run finds everything in the store
    assert main([*args, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert ": 0 compiled, " in out and "0 failed" in out, out


@needs_fixtures
def test_parallel_worker_death_fails_only_its_case(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tests_dir()
    assert root is not None
    folder = root / "GeneralStateTests" / "VMTests" / "vmLogTest"  # in the bundled sample too
    cases = discover_cases([folder], substring="log0.json")
    victim = cases[3].id
    monkeypatch.setenv("PYEVM_JIT_TEST_CRASH_ON", victim)
    out_json = tmp_path / "r.json"
    args = ["blocktest", str(folder), "-k", "log0.json", "--jobs", "2", "--no-progress"]
    assert main([*args, "--json", str(out_json)]) == 1
    captured = capsys.readouterr()
    assert f"{len(cases) - 1} passed, 1 failed" in captured.out
    assert f"FAIL {victim}: worker process died" in captured.err
    statuses = {r["id"]: r["status"] for r in json.loads(out_json.read_text())["results"]}
    assert len(statuses) == len(cases) and statuses[victim] == "failed"
