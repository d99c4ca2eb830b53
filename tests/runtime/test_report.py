"""`JitBackend.report()`: per-contract accounting that adds up to `stats()`.

A caller contract CALLs a looping callee; the transaction runs on a JIT VM of a real backend
that compiles a contract after its third message (in the background): the first messages are
interpreted (NotReady), the later ones native. The report's per-contract counts must add up
to the process-wide statistics, each contract's row must carry its own seconds, compile
seconds and a saved estimate; Ineligible messages (a patched opcode table) are counted under
their contract; records beyond `MAX_KEYS` go to one shared row; the JSON round trip and
`pyevm-jit report FILE`; `PYEVM_JIT_REPORT` at exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth.vm.forks import CancunVM
from eth_hash.auto import keccak
from support import fake_backend, request, run_custom

from pyevm_jit.evm.vm import jit_vm
from pyevm_jit.runtime import JitBackend, RuntimeConfig, RuntimeTuning, usage
from pyevm_jit.runtime.report import BackendReport, report_setting
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.account import Account

CALLEE = bytes.fromhex("60005b600101806101f4116002570000")  # counts to 500
CALLEE_ADDRESS = bytes.fromhex("c0ffee".ljust(40, "0"))
CALLER = bytes.fromhex("6000600060006000600073" + CALLEE_ADDRESS.hex() + "62fffffff15000")
RUNS = 12


def _check_sums(backend: JitBackend, report: BackendReport) -> None:
    stats = backend.stats()
    assert report.native == stats.lookup_hits
    assert report.interpreted == stats.misses_by_reason
    assert sum(c.cache_loads for c in report.contracts) == stats.aot_loaded
    # per contract: the compiler's own work and the link, within the wall time of stats()
    assert report.compile_seconds <= stats.compile_seconds + 1e-6


def _scenario() -> d.Scenario:
    return d.Scenario(code=CALLER, accounts={CALLEE_ADDRESS: Account(code=CALLEE)})


def test_report_counts_match_stats_and_time_each_contract() -> None:
    tuning = RuntimeTuning(hot_threshold=3, worker_count=0, tier_up_after=0)
    config = RuntimeConfig(enabled=True, store=None, tuning=tuning)
    vm = jit_vm(CancunVM, JitBackend.new(config))
    backend = vm._state_class.computation_class.jit_backend
    scenario = _scenario()
    stock = d.execute(scenario, CancunVM)
    with backend:
        for _ in range(RUNS):
            assert d.execute(scenario, vm) == stock
            backend.wait_idle(30)
        report = backend.report()
        _check_sums(backend, report)
    rows = {bytes.fromhex(c.code_hash): c for c in report.contracts}
    assert set(rows) == {keccak(CALLER), keccak(CALLEE)}
    for row in rows.values():
        assert row.fork == "cancun"
        assert row.native + row.interpreted_total == RUNS
        assert row.interpreted["NotReady"] == 3 and row.native == RUNS - 3
        assert row.native_seconds > 0 and row.interpreted_seconds > 0
        assert row.compile_seconds.keys() == {"jit"} and row.compile_seconds["jit"] > 0
        assert row.saved_seconds is not None
    # own time: the callee's loop is not the caller's (the caller runs a few opcodes)
    callee, caller = rows[keccak(CALLEE)], rows[keccak(CALLER)]
    assert callee.interpreted_seconds > caller.interpreted_seconds
    stakes = [c.at_stake for c in report.contracts]  # the most time at stake first
    assert stakes == sorted(stakes, reverse=True)
    text = report.format()
    assert keccak(CALLEE).hex()[:12] in text and "NotReady 3" in text


def test_ineligible_messages_are_counted_under_their_contract() -> None:
    backend = JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None))
    with backend:
        # a replaced ADD: compiled code cannot honour it, every message is interpreted
        stock, jitted = run_custom(backend, {0x01: lambda computation: None}, CALLEE)
        assert jitted == stock
        report = backend.report()
        _check_sums(backend, report)
    (row,) = report.contracts
    assert bytes.fromhex(row.code_hash) == keccak(CALLEE)
    assert row.interpreted["Ineligible"] == 1 and row.native == 0
    assert row.interpreted_seconds > 0 and row.saved_seconds is None


def test_keys_beyond_the_limit_share_one_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usage, "MAX_KEYS", 5)
    with fake_backend() as backend:
        for n in range(12):
            backend.lookup(request(bytes([0x60, n, 0x00])))
        report = backend.report()
        _check_sums(backend, report)
    assert len(report.contracts) == 6
    others = [c for c in report.contracts if c.label == "other contracts"]
    assert len(others) == 1 and others[0].interpreted_total == 7


def test_save_load_and_the_report_command(tmp_path: Path) -> None:
    backend = JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None))
    with backend:
        backend.label(keccak(CALLEE), "Counter")
        d.execute(_scenario(), jit_vm(CancunVM, backend))
        report = backend.report()
    path = tmp_path / "run" / "report.json"
    report.save(path)
    assert BackendReport.load(path) == report
    done = _cli("report", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == report.format(rows=None)
    assert "Counter (" in done.stdout
    as_json = _cli("report", "--json", str(path))
    assert json.loads(as_json.stdout) == report.as_dict()
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    for bad in (tmp_path / "bad.json", tmp_path / "missing.json"):
        done = _cli("report", str(bad))
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("pyevm-jit report: error")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyevm_jit.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_report_setting() -> None:
    assert report_setting({}) is None
    assert report_setting({"PYEVM_JIT_REPORT": "0"}) is None
    assert report_setting({"PYEVM_JIT_REPORT": "1"}) == "-"
    assert report_setting({"PYEVM_JIT_REPORT": "out.json"}) == "out.json"


SCRIPT = """
from eth.vm.forks import CancunVM
from pyevm_jit.integrations.eth_tester import default_backend
from pyevm_jit.evm.vm import jit_vm
from pyevm_jit.testing import differential as d
import test_report as t
d.execute(t._scenario(), jit_vm(CancunVM, default_backend()))
"""


@pytest.mark.parametrize("setting", ["1", "file"])
def test_report_at_exit(tmp_path: Path, setting: str) -> None:
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if not k.startswith("PYEVM_JIT")}
    target = tmp_path / "report.json"
    env.update(
        PYEVM_JIT_STORE="off",
        PYEVM_JIT_BLOCKING="1",
        PYEVM_JIT_REPORT="1" if setting == "1" else str(target),
        PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), *sys.path]),
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    if setting == "1":
        assert "pyevm-jit report: 2 contracts, 2 messages native" in done.stderr
    else:
        report = BackendReport.load(target)
        assert report.native == 2 and len(report.contracts) == 2
