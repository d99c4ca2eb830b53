"""`--regions` of the case commands and the fuzzer (docs/regions.md): every contract compiled
as a random region, the rest side exits; bad combinations are one-line usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pyevm_jit.cli import main


def test_regions_needs_jit_mode(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["statetest", str(tmp_path), "--mode", "interp", "--regions"]) == 2
    assert "--regions needs --mode jit" in capsys.readouterr().err


def test_fuzz_regions_does_not_combine_with_customise(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["fuzz", "--regions", "--customise", "--seconds", "1"]) == 2
    assert "--regions" in capsys.readouterr().err


def test_fuzz_with_regions_runs_programs_with_side_exits(tmp_path: Path) -> None:
    """In a process of its own (`--regions` sets the environment of the run)."""
    done = subprocess.run(
        [sys.executable, "-m", "pyevm_jit.cli", "fuzz", "--regions", "--in-process",
         "--fork", "cancun", "--max-programs", "30", "--seconds", "120", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "divergences: 0" in done.stdout
    exits = next(line for line in done.stdout.splitlines() if line.startswith("side exits: "))
    assert int(exits.split(": ")[1]) > 0, done.stdout


def test_statetest_aot_with_regions_runs_stored_regions(tmp_path: Path) -> None:
    """`--mode aot --regions`: the store is filled with region programs (named by what they
    cover), the run loads them and leaves them at side exits, compiling nothing."""
    folder = Path(__file__).parents[2] / "fixtures/ethereum-tests-sample/GeneralStateTests"
    store = tmp_path / "store"
    done = subprocess.run(
        [sys.executable, "-m", "pyevm_jit.cli", "statetest", str(folder / "stSolidityTest"),
         "--mode", "aot", "--regions", "--store", str(store), "--no-progress"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert " 0 failed" in done.stdout and "0 compilations while running" in done.stdout
    assert "side exits of region programs" in done.stdout
    files = [f for f in store.rglob("*.pjit") if f.parent.name != "rtlib"]  # (its library)
    assert files and all(".R" in f.name for f in files)
