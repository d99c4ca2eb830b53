"""`pyevm-jit fuzz --cluster` (issue 28): the run's programs are shared out to the workers of
a local Dask cluster in shards, and the divergences found there come back to be saved here."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pyevm_jit.conformance.fixtures import BUNDLED_ETHEREUM_TESTS, ETHEREUM_TESTS_ENV

pytest.importorskip("distributed", reason="the [cluster] extra (dask[distributed]) is absent")


@pytest.mark.timeout(600)
def test_fuzz_on_a_local_cluster_shares_out_the_programs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pyevm_jit.cli", "fuzz", "--cluster", "local:2", "--fork"]
        + ["cancun", "--seconds", "300", "--max-programs", "12", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "programs: 12 in" in done.stdout and "divergences: 0" in done.stdout
    # two shards at once (one per worker), six programs each, of two seeds
    assert "shard 0 (seed 1): 6 programs, 0 divergences" in done.stderr
    assert "shard 1 (seed 7777778): 6 programs, 0 divergences" in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.timeout(600)
def test_a_divergence_found_on_a_worker_is_saved_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JIT crash on a worker (injected: an abort on any program with an SSTORE byte) is
    minimised there and its fixture saved under the client's out folder."""
    from pyevm_jit import fuzz
    from pyevm_jit.cli.fuzz_cluster import fuzz_on_cluster

    # the workers inherit the environment: the injected crash, and the seed contracts of the
    # bundled sample (seed 1 then makes a program with an SSTORE byte among its first three)
    monkeypatch.setenv(fuzz.CRASH_MARKER_ENV, "55")
    monkeypatch.setenv(ETHEREUM_TESTS_ENV, str(BUNDLED_ETHEREUM_TESTS))
    log = io.StringIO()
    out = tmp_path / "out"
    plan = fuzz.FuzzPlan(300, 1, ["cancun"], out, max_programs=3)
    report = fuzz_on_cluster("local:1", plan, crash_minimise_budget=3, stream=log)
    assert report.divergences >= 1, log.getvalue()
    assert report.fixtures and all(path.parent == out for path in report.fixtures)
    assert sorted(out.iterdir()) == sorted(report.fixtures)
    first = json.loads(report.fixtures[0].read_text())
    assert any(line.startswith("crash") for line in first["differences"]), first
    assert f"-> {report.fixtures[0]}" in log.getvalue()


@pytest.mark.timeout(300)
def test_the_shards_fuzz_processes_write_nothing_to_the_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A shard's fuzz process (quiet_workers, as `run_shard` runs it) prints no progress line
    of its own (the fuzz loop prints one after 15 s), so the command's lines are the only
    display of a cluster run."""
    from pyevm_jit import fuzz

    report = fuzz.fuzz_isolated(
        fuzz.FuzzPlan(17, 3, ["cancun"], tmp_path / "out"),
        stream=io.StringIO(),
        quiet_workers=True,
    )
    assert report.seconds >= 15 and report.programs > 0, report.summary()
    captured = capfd.readouterr()
    assert "programs" not in captured.err and "programs" not in captured.out, captured
