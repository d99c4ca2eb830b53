"""Out of the box: where the test data is found when nothing is configured, what the commands
run with no path (the bundled sample of ethereum/tests, the bundled bench cases), and JIT VM
classes named like the classes they wrap."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from pyevm_jit.cli import main
from pyevm_jit.conformance import fixtures
from pyevm_jit.conformance.fixtures import (
    BENCH_ENV,
    BUNDLED_BENCH,
    BUNDLED_ETHEREUM_TESTS,
    ETHEREUM_TESTS_ENV,
    NO_FULL_CORPUS,
    bench_dir,
    ethereum_tests_dir,
    full_ethereum_tests_dir,
    general_state_tests_dir,
    is_bundled_sample,
)


@pytest.fixture
def nothing_configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No variables set and no full corpus at the default locations (as in a fresh clone)."""
    monkeypatch.delenv(ETHEREUM_TESTS_ENV, raising=False)
    monkeypatch.delenv(BENCH_ENV, raising=False)
    monkeypatch.setattr(
        fixtures, "FULL_CORPUS_LOCATIONS", (tmp_path / "local", tmp_path / "shared")
    )
    return tmp_path


def test_bundled_sample_is_the_default(nothing_configured: Path) -> None:
    assert full_ethereum_tests_dir() is None
    assert ethereum_tests_dir() == BUNDLED_ETHEREUM_TESTS
    assert general_state_tests_dir() == BUNDLED_ETHEREUM_TESTS / "GeneralStateTests"
    assert (general_state_tests_dir() / "VMTests" / "vmArithmeticTest" / "add.json").is_file()
    assert (ethereum_tests_dir() / "BlockchainTests").is_dir()
    assert (ethereum_tests_dir() / "LICENSE").is_file()
    assert is_bundled_sample(general_state_tests_dir())
    assert bench_dir() == BUNDLED_BENCH


def test_full_corpus_locations_in_order(nothing_configured: Path) -> None:
    local, shared = fixtures.FULL_CORPUS_LOCATIONS
    shared.mkdir()
    assert ethereum_tests_dir() == shared
    local.mkdir()
    assert ethereum_tests_dir() == local
    assert not is_bundled_sample(local)
    configured = nothing_configured / "configured"
    configured.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ETHEREUM_TESTS_ENV, str(configured))
        assert full_ethereum_tests_dir() == configured
        assert ethereum_tests_dir() == configured


def test_wrong_variable_is_reported_not_replaced(nothing_configured: Path) -> None:
    from pyevm_jit.errors import UsageError

    missing = nothing_configured / "nowhere"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ETHEREUM_TESTS_ENV, str(missing))
        assert full_ethereum_tests_dir() == missing
        with pytest.raises(UsageError, match=ETHEREUM_TESTS_ENV):
            ethereum_tests_dir()


def test_skip_reason_names_the_variable() -> None:
    assert f"${ETHEREUM_TESTS_ENV}" in NO_FULL_CORPUS


def _json_run(capsys: pytest.CaptureFixture[str], tmp_path: Path, *argv: str) -> dict[str, Any]:
    report = tmp_path / "report.json"
    status = main([*argv, "--no-progress", "--json", str(report)])
    captured = capsys.readouterr()
    assert status == 0, captured.out + captured.err
    document: dict[str, Any] = json.loads(report.read_text())
    return document


def test_statetest_without_path_runs_the_bundled_sample(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even with a full corpus configured: no path means the bundled sample."""
    monkeypatch.setenv(ETHEREUM_TESTS_ENV, str(tmp_path / "elsewhere"))
    document = _json_run(
        capsys, tmp_path, "statetest", "--mode", "jit", "-k", "vmArithmeticTest/add.json::add::"
    )
    assert document["paths"] == [str(BUNDLED_ETHEREUM_TESTS / "GeneralStateTests")]
    assert document["summary"]["passed"] == 5
    assert document["summary"]["failed"] == 0


def test_blocktest_without_path_runs_the_bundled_sample(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = _json_run(capsys, tmp_path, "blocktest", "-k", "bcExample/")
    assert document["paths"] == [str(BUNDLED_ETHEREUM_TESTS / "BlockchainTests")]
    assert document["summary"]["passed"] >= 1
    assert document["summary"]["failed"] == 0


def test_bench_without_path_uses_the_bundled_cases(
    nothing_configured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyevm_jit.cli import bench as bench_cli

    cases = bench_cli._collect(argparse.Namespace(paths=[], filter=None))
    assert len(cases) >= 10
    assert all(is_inside(Path(case.path), BUNDLED_BENCH) for case in cases)
    # $PYEVM_JIT_BENCH overrides the bundled cases
    chosen = nothing_configured / "bench"
    chosen.mkdir()
    source = next(BUNDLED_BENCH.glob("counter*.json"))
    (chosen / source.name).write_text(source.read_text())
    monkeypatch.setenv(BENCH_ENV, str(chosen))
    (only,) = bench_cli._collect(argparse.Namespace(paths=[], filter=None))
    assert is_inside(Path(only.path), chosen)


def is_inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def test_jit_vm_keeps_the_wrapped_class_name() -> None:
    from eth.vm.forks import CancunVM, ShanghaiVM

    from pyevm_jit.evm.vm import jit_vm
    from pyevm_jit.runtime import JitBackend, RuntimeConfig

    with JitBackend.new(RuntimeConfig(enabled=True, store=None)) as backend:
        for vm_class in (CancunVM, ShanghaiVM):
            jit_class = jit_vm(vm_class, backend)
            assert jit_class is not vm_class and issubclass(jit_class, vm_class)
            assert jit_class.__name__ == vm_class.__name__
            assert jit_class.__qualname__ == vm_class.__name__
            computation = jit_class._state_class.computation_class
            assert computation.__name__.startswith("Jit")


def test_eth_tester_chain_names_its_vms_as_stock() -> None:
    """Tools that name or compare VMs by class name see eth-tester's own names."""
    pytest.importorskip("eth_tester", reason="eth-tester not installed (pip install -e '.[web3]')")
    from eth_tester import PyEVMBackend

    from pyevm_jit.integrations.eth_tester import jit_pyevm_backend
    from pyevm_jit.runtime import JitBackend, RuntimeConfig

    def names(backend: Any) -> list[tuple[int, str]]:
        return [(block, vm.__name__) for block, vm in backend.chain.vm_configuration]

    with JitBackend.new(RuntimeConfig(enabled=True, store=None)) as jit:
        jit_tester = jit_pyevm_backend(jit)
        assert names(jit_tester) == names(PyEVMBackend())
        for _, vm in jit_tester.chain.vm_configuration:
            assert vm._state_class.computation_class.jit_backend is jit


@pytest.mark.parametrize("command", [["statetest"], ["blocktest"], ["bench"]])
def test_installed_without_the_repository_says_what_to_do(
    command: list[str],
    nothing_configured: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A non-editable install has no fixtures/ beside the package: the commands that default
    to the bundled data say so in one line (exit status 2), naming what to do instead."""
    gone = nothing_configured / "site-packages" / "fixtures"
    monkeypatch.setattr(fixtures, "BUNDLED_ETHEREUM_TESTS", gone / "ethereum-tests-sample")
    monkeypatch.setattr(fixtures, "BUNDLED_BENCH", gone / "bench")
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "ships with the repository" in err and "pip install -e ." in err
