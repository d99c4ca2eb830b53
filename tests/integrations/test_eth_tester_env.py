"""`ETHEREUM_TESTER_CHAIN_BACKEND` alone puts web3's `EthereumTesterProvider()` on the JIT.

An unchanged web3 script (web3_token_script.py) runs in a fresh process three times: without
the variable (eth-tester's own backend), then twice with only the variable set (and a
temporary cache folder, so the persistent cache of the defaults is a new one). Receipts,
balances and state roots are the same in all three; the JIT runs name the JIT backend, the
second finds in the cache what the first compiled and runs native code from its first call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("eth_tester", reason="eth-tester not installed (pip install -e '.[web3]')")
pytest.importorskip("web3", reason="web3 not installed (pip install -e '.[web3]')")

SCRIPT = Path(__file__).with_name("web3_token_script.py")
BACKEND = "pyevm_jit.integrations.eth_tester.JitPyEVMBackend"


def _run(tmp_path: Path, backend: str | None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYEVM_JIT_", "ETHEREUM_"))}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    if backend is not None:
        env["ETHEREUM_TESTER_CHAIN_BACKEND"] = backend
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_variable_alone_switches_web3_to_the_jit(tmp_path: Path) -> None:
    stock = _run(tmp_path, None)
    assert stock["backend"] == "eth_tester.backends.pyevm.main.PyEVMBackend"
    assert stock["jit"] is None
    first = _run(tmp_path, BACKEND)
    second = _run(tmp_path, BACKEND)
    for run in (first, second):
        assert run["backend"] == BACKEND
        for key in ("receipts", "balances", "state_roots"):
            assert run[key] == stock[key], key
    assert first["jit"]["artifacts_stored"] >= 1  # the defaults: the persistent cache
    assert second["jit"]["aot_loaded"] >= 1
    assert second["jit"]["lookup_hits"] > 0
    assert second["jit"]["misses_by_reason"]["NotReady"] == 0  # native from the first call
    assert (tmp_path / "cache" / "pyevm-jit").is_dir()


def test_backend_class_by_path() -> None:
    from eth_tester.backends import get_chain_backend_class
    from eth_tester.backends.pyevm import PyEVMBackend

    from pyevm_jit.integrations import eth_tester as integration

    cls = get_chain_backend_class(BACKEND)
    assert cls is integration.jit_pyevm_backend_class()
    assert issubclass(cls, PyEVMBackend)
    assert cls().jit_backend is integration.default_backend()
    with pytest.raises(AttributeError):
        integration.NoSuchBackend  # noqa: B018
