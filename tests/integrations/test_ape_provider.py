"""`ape test --network ethereum:local:pyevm-jit` (pyevm_jit.integrations.ape) against ape's own
local provider, on the small ape project in ape_project/.

The project is copied to a temporary folder with the contract-type JSON of the fixture
contracts in its contracts/ (ape's JSON "compiler" reads them), then `ape test` runs its
tests once with the stock provider (`ethereum:local:test`) and once with pyevm-jit's: both
pass, everything the tests recorded (addresses, balances, gas used, estimates, events, return
values) is the same, and the JIT ran native code (blocking mode: every contract is compiled on
its first message). Needs ape and the plugin, in a virtual environment of their own (ape pins
web3 7): `pip install -e '.[ape,test]' -e ./plugins/ape-pyevm-jit`; skipped otherwise (.ci/run
runs it in such an environment).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

HINT = "pip install -e '.[ape,test]' -e ./plugins/ape-pyevm-jit (ape pins web3 7: own venv)"
pytest.importorskip("ape", reason=f"ape not installed: {HINT}")
try:
    metadata.distribution("ape-pyevm-jit")
except metadata.PackageNotFoundError:
    pytest.skip(f"the ape-pyevm-jit plugin is not installed: {HINT}", allow_module_level=True)

PROJECT = Path(__file__).with_name("ape_project")
CONTRACTS = Path(__file__).resolve().parents[2] / "fixtures" / "contracts"


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project)
    (project / "contracts").mkdir()
    for name in ("Token", "Compute"):
        artifact = json.loads((CONTRACTS / f"{name}.json").read_text(encoding="utf-8"))
        contract_type = {
            "contractName": name,
            "abi": artifact["abi"],
            "deploymentBytecode": {"bytecode": artifact["bytecode"]},
            "runtimeBytecode": {"bytecode": artifact["deployedBytecode"]},
        }
        (project / "contracts" / f"{name}.json").write_text(json.dumps(contract_type))
    return project


def _ape_test(project: Path, network: str, home: Path) -> dict[str, Any]:
    results = project / f"{network.replace(':', '-')}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYEVM_JIT_", "APE_"))}
    env.update(
        APE_SAMPLE_RESULTS=str(results),
        APE_DATA_FOLDER=str(home / "ape"),
        PYEVM_JIT_BLOCKING="1",
        PYEVM_JIT_STORE="off",
    )
    ape = Path(sys.executable).with_name("ape")
    done = subprocess.run(
        [str(ape), "test", "-q", "-p", "no:cacheprovider", "--network", network],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout, done.stdout
    result: dict[str, Any] = json.loads(results.read_text(encoding="utf-8"))
    return result


def test_ape_project_on_the_jit_provider_matches_stock(tmp_path: Path) -> None:
    project = _project(tmp_path)
    stock = _ape_test(project, "ethereum:local:test", tmp_path)
    jit = _ape_test(project, "ethereum:local:pyevm-jit", tmp_path)
    assert stock["provider"] == "test" and stock["jit"] is None
    assert jit["provider"] == "pyevm-jit"
    assert stock["record"].keys() == jit["record"].keys()
    for name, entries in stock["record"].items():
        assert jit["record"][name] == entries, name
    assert jit["jit"]["lookup_hits"] > 0
    assert jit["jit"]["compilations_succeeded"] >= 2  # both contracts
