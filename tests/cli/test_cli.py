"""The `pyevm-jit` command: statetest output, exit statuses, and one-line errors on bad input."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pyevm_jit.cli import main
from pyevm_jit.conformance.fixtures import general_state_tests_dir
from pyevm_jit.errors import UsageError

ADD = "VMTests/vmArithmeticTest/add.json"


@pytest.fixture(scope="module")
def state_tests() -> Path:
    try:
        return general_state_tests_dir()
    except UsageError as exc:
        pytest.skip(str(exc))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _summary(out: str) -> str:
    return out.strip().splitlines()[-1]


def test_statetest_passes(capsys: pytest.CaptureFixture[str], state_tests: Path) -> None:
    folder = state_tests / "VMTests" / "vmArithmeticTest"
    status, out, err = _run(
        capsys, "statetest", str(folder), "-k", "add.json::add::", "--no-progress"
    )
    assert status == 0, out + err
    assert _summary(out).startswith("5 passed, 0 failed in ")
    assert "FAIL" not in err


def test_statetest_exclude(capsys: pytest.CaptureFixture[str], state_tests: Path) -> None:
    folder = state_tests / "VMTests" / "vmArithmeticTest"
    status, out, err = _run(
        capsys, "statetest", str(folder), "-k", "add.json::add::", "--exclude", "::add::Cancun::0",
        "--exclude", "::add::Cancun::1", "--no-progress",
    )  # fmt: skip
    assert status == 0, out + err
    assert "2 cases left out by --exclude" in out
    assert _summary(out).startswith("3 passed, 0 failed in ")


def test_statetest_failure_exit_1_and_json(
    capsys: pytest.CaptureFixture[str], state_tests: Path, tmp_path: Path
) -> None:
    data = json.loads((state_tests / ADD).read_text())
    tampered = copy.deepcopy(data)
    for test in tampered.values():
        test["post"]["Cancun"][1]["hash"] = "0x" + "00" * 32
        test["post"]["Amsterdam"] = test["post"]["Cancun"][:1]
    fixture = tmp_path / "tampered.json"
    fixture.write_text(json.dumps(tampered))
    report = tmp_path / "report.json"
    status, out, err = _run(capsys, "statetest", str(fixture), "--json", str(report))
    assert status == 1
    assert _summary(out).startswith("4 passed, 1 failed, 1 unsupported in ")
    fail_lines = [line for line in err.splitlines() if line.startswith("FAIL ")]
    assert len(fail_lines) == 1
    assert "tampered.json::add::Cancun::1" in fail_lines[0] and "state root" in fail_lines[0]
    document = json.loads(report.read_text())
    assert document["summary"]["passed"] == 4
    assert document["summary"]["failed"] == 1
    assert document["summary"]["unsupported"] == 1
    assert [r["status"] for r in document["results"]].count("failed") == 1
    assert {r["fork"] for r in document["results"]} == {"Cancun", "Amsterdam"}


def test_statetest_jobs_match_serial(capsys: pytest.CaptureFixture[str], state_tests: Path) -> None:
    folder = state_tests / "VMTests" / "vmBitwiseLogicOperation"
    serial = _run(capsys, "statetest", str(folder), "-k", "::s", "--no-progress")
    parallel = _run(capsys, "statetest", str(folder), "-k", "::s", "--jobs", "2", "--no-progress")
    assert serial[0] == parallel[0] == 0
    assert _summary(serial[1]).split(" in ")[0] == _summary(parallel[1]).split(" in ")[0]


def _bad_inputs(tmp_path: Path, state_tests: Path) -> dict[str, tuple[list[str], str]]:
    malformed = tmp_path / "malformed.json"
    malformed.write_text('{"a": ')
    not_fixture = tmp_path / "not_fixture.json"
    not_fixture.write_text(json.dumps({"a": {"blocks": [], "network": "Cancun"}}))
    good = str(state_tests / ADD)
    return {
        "missing path": ([str(tmp_path / "missing")], "no such file or directory"),
        "malformed json": ([str(malformed)], "not valid JSON"),
        "non-fixture json": ([str(not_fixture)], "not a state test fixture"),
        "unknown fork": ([good, "--fork", "Atlantis"], "unknown fork"),
        "unknown mode": ([good, "--mode", "warp"], "unknown mode"),
        "bad jobs": ([good, "--jobs", "0"], "--jobs"),
        "store without aot": ([good, "--store", str(tmp_path)], "--store"),
        "json folder missing": ([good, "--json", str(tmp_path / "no" / "r.json")], "--json"),
    }


@pytest.mark.parametrize(
    "label",
    [
        "missing path",
        "malformed json",
        "non-fixture json",
        "unknown fork",
        "unknown mode",
        "bad jobs",
        "store without aot",
        "json folder missing",
    ],
)
def test_bad_input_one_line_exit_2(
    label: str, capsys: pytest.CaptureFixture[str], state_tests: Path, tmp_path: Path
) -> None:
    argv, message = _bad_inputs(tmp_path, state_tests)[label]
    status, out, err = _run(capsys, "statetest", *argv)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pyevm-jit statetest: error: ")
    assert message in lines[0]
    assert "Traceback" not in err


def test_console_entry_point_bad_input(tmp_path: Path) -> None:
    """Through a real process: exit status 2, one line on stderr, no traceback."""
    completed = subprocess.run(
        [sys.executable, "-m", "pyevm_jit.cli", "statetest", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1
    assert "no such file or directory" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_no_subcommand_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main([])
    assert excinfo.value.code == 2
    assert "usage" in capsys.readouterr().err


def test_parallel_worker_death_fails_only_that_case(state_tests: Path) -> None:
    from pyevm_jit.cli import caserun
    from pyevm_jit.cli import statetest as statetest_cli
    from pyevm_jit.conformance.results import CaseStatus
    from pyevm_jit.conformance.statetest import discover_cases

    cases = discover_cases([state_tests / "VMTests" / "vmArithmeticTest"], substring="::add")
    assert len(cases) > 3
    victim = cases[2]
    spec = caserun.RunSpec(statetest_cli.KIND, "interp", crash_on=victim.id)
    results = [
        result
        for batch, _ in caserun.execute_parallel([list(cases)], spec, 2, {})
        for result in batch
    ]
    assert sorted(r.case.id for r in results) == sorted(c.id for c in cases)
    by_id = {r.case.id: r for r in results}
    assert by_id[victim.id].status is CaseStatus.FAILED
    assert "worker process died" in by_id[victim.id].reason
    assert all(r.status is CaseStatus.PASSED for r in results if r.case.id != victim.id)


def test_unavailable_subcommand_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pyevm_jit.cli import router

    commands = dict(router.COMMANDS)
    commands["ghost"] = ("pyevm_jit.no_such_module", "a command whose module is missing")
    monkeypatch.setattr(router, "COMMANDS", commands)
    status, out, err = _run(capsys, "ghost", "x")
    assert status == 2
    assert err.strip().splitlines() == [
        "pyevm-jit ghost: error: ghost is not available (No module named "
        "'pyevm_jit.no_such_module')"
    ]
    # the other commands still work
    status, out, err = _run(capsys, "statetest", "/nonexistent/path")
    assert status == 2 and "no such file" in err


def test_sigterm_reports_partial_results(state_tests: Path, tmp_path: Path) -> None:
    """An interrupted run still prints its summary and writes what ran to --json.

    SIGTERM goes out once the run has a result, which the test sees: the first case (in the
    runner's order) kills its worker, and the FAIL line appears on stderr at once."""
    import os
    import queue
    import signal
    import threading

    from pyevm_jit.cli.caserun import CRASH_ON_ENV
    from pyevm_jit.conformance.statetest import discover_cases

    folder = state_tests / "stMemoryTest"
    first = discover_cases([folder])[0]
    report = tmp_path / "partial.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pyevm_jit.cli",
            "statetest",
            str(folder),
            "--jobs",
            "2",
            "--no-progress",
            "--json",
            str(report),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, CRASH_ON_ENV: first.id},
    )
    assert process.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    err_lines: list[str] = []

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)
        lines.put("")

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    while True:
        line = lines.get(timeout=120)
        err_lines.append(line)
        assert line, "the run ended before its first result: " + "".join(err_lines)
        if line.startswith(f"FAIL {first.id}"):
            break
    process.send_signal(signal.SIGTERM)
    assert process.stdout is not None
    out = process.stdout.read()  # until the process closes it (stderr goes to the reader)
    process.wait(timeout=120)
    reader.join(120)
    while not lines.empty():
        err_lines.append(lines.get())
    err = "".join(err_lines)
    assert process.returncode == 130, err
    assert "interrupted:" in out
    assert "Traceback" not in err
    document = json.loads(report.read_text())
    assert document["interrupted"] is True
    assert document["not_run"] > 0
    assert sum(document["summary"].values()) == len(document["results"])
    assert first.id in {result["id"] for result in document["results"]}
