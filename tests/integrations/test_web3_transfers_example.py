"""examples/web3_transfers.py runs both sides, checks that they agree and prints the ratios."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("eth_tester", reason="eth-tester not installed (pip install -e '.[web3]')")
pytest.importorskip("web3", reason="web3 not installed (pip install -e '.[web3]')")

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "web3_transfers.py"


def test_example_runs_both_sides_and_compares_them() -> None:
    args = ["--transfers", "3", "--warmup", "2", "--calls", "1", "--rounds", "1"]
    args += ["--hash-backend", "pysha3"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("eth-keys backend: ")
    assert lines[0].endswith("eth-hash backend: PySha3Backend")
    assert lines[1].startswith("3 transfers: stock ") and lines[1].endswith("x")
    assert lines[2].startswith("1 calls: stock ")
    assert lines[3] == "same receipts (status, gas used), call results and balances on both sides"
    assert lines[4].startswith("load average (1, 5, 15 min): before ")
