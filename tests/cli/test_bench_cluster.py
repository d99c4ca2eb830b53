"""`pyevm-jit bench --cluster` (issue 28): the cases measured on a local Dask cluster give the
outcomes of a local run, each case measured on one worker."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyevm_jit.conformance.fixtures import REPO_ROOT

pytest.importorskip("distributed", reason="the [cluster] extra (dask[distributed]) is absent")

#: two small cases of the bundled bench set
CASES = ("counter.json", "factorial.json")
FAST = ["--no-pyrevm", "--min-time", "0.01", "--min-reps", "1", "--warmup", "1", "--state", "warm"]


def _bench(tmp_path: Path, name: str, *args: str) -> tuple[dict[str, Any], str]:
    report = tmp_path / f"{name}.json"
    done = subprocess.run(
        [sys.executable, "-m", "pyevm_jit.cli", "bench", str(tmp_path / "cases"), *FAST]
        + ["--json", str(report), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(report.read_text()), done.stderr


def _outcomes(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    keys = ("name", "status", "gas_used", "success", "native", "contracts_compiled")
    return [tuple(case[k] for k in keys) for case in document["cases"]]


@pytest.mark.timeout(600)
def test_bench_on_a_local_cluster_gives_the_outcomes_of_a_local_run(tmp_path: Path) -> None:
    (tmp_path / "cases").mkdir()
    for name in CASES:
        shutil.copy(REPO_ROOT / "fixtures" / "bench" / name, tmp_path / "cases" / name)
    local, _ = _bench(tmp_path, "local")
    clustered, log = _bench(tmp_path, "cluster", "--cluster", "local:2")
    assert len(local["cases"]) >= 2
    assert _outcomes(clustered) == _outcomes(local)  # in the cases' order, every case once
    assert all(case["status"] == "ok" and case["native"] for case in clustered["cases"])
    assert clustered["cluster"] == "local:2" and "cluster" not in local
    # each case was measured (stock and JIT) on a worker, which says so as it finishes
    assert log.count(" over stock (on ") == len(local["cases"])


def test_bench_cluster_is_for_the_benchmark_only(tmp_path: Path) -> None:
    for extra in (["--loop", "jit"], ["--compile-times"]):
        done = subprocess.run(
            [sys.executable, "-m", "pyevm_jit.cli", "bench", "--cluster", "local:1", *extra],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert done.returncode == 2 and "--cluster" in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1
