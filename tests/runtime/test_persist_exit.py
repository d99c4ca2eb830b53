"""The end of a process with a store (issue 14 item 2): `close()` and the exit of the process
give compilations in flight a bounded wait (`RuntimeTuning.store_wait`), so that they reach the
store and the next run is native from its first call."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from eth_hash.auto import keccak
from support import WAIT, request, wait_until

from pyevm_jit.runtime import JitBackend, RuntimeConfig, RuntimeTuning
from pyevm_jit.runtime.store import FileArtifactStore
from pyevm_jit.testing import faults


def _gated_backend(store: FileArtifactStore | None, store_wait: float) -> JitBackend:
    return JitBackend.new(
        RuntimeConfig(
            enabled=True,
            store=store,
            compiler=faults.fault_compiler,
            linker=faults.fake_linker,
            dump_dir=None,
            tuning=RuntimeTuning(
                worker_count=0,
                hot_threshold=1,
                region_blocks=0,  # whole-contract programs: the ones stored
                event_drain_interval=0.01,
                shutdown_timeout=0.2,
                store_wait=store_wait,
            ),
        )
    )


def test_close_waits_for_a_compilation_in_flight_and_stores_it(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "store", max_bytes=1 << 20)
    gate = tmp_path / "gate"
    code = faults.GATE_MARKER + str(gate).encode()
    b = _gated_backend(store, store_wait=WAIT)
    assert not b.lookup(request(code)).is_compiled
    wait_until(lambda: Path(str(gate) + ".started").exists())
    closer = threading.Thread(target=b.close)
    closer.start()
    closer.join(1.0)
    # the compilation cannot end before the gate opens: close() is still waiting for it
    assert closer.is_alive()
    gate.touch()
    closer.join(WAIT)
    assert not closer.is_alive()
    assert b.stats().artifacts_stored == 1
    assert [k.code_hash for k in store.keys()] == [keccak(code)]


def test_close_does_not_wait_without_a_store_or_when_switched_off(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    for n, (store, wait) in enumerate(
        [(None, WAIT), (FileArtifactStore(tmp_path / "s", max_bytes=1 << 20), 0.0)]
    ):
        code = faults.GATE_MARKER + f"{gate}{n}".encode()
        b = _gated_backend(store, store_wait=wait)
        assert not b.lookup(request(code)).is_compiled
        wait_until(lambda code=code: Path(code[3:].decode() + ".started").exists())
        closer = threading.Thread(target=b.close)
        closer.start()
        closer.join(WAIT)  # returns although the compilation never ends
        assert not closer.is_alive()
        Path(code[3:].decode()).touch()  # let the compile thread go


def test_a_process_that_exits_early_stores_its_compilations(tmp_path: Path) -> None:
    """A script that leaves while its compilations run in a worker process (never calling
    close()): the exit waits for them, so the store has the program for the next run."""
    store_dir = tmp_path / "store"
    script = textwrap.dedent(
        f"""
        from support import request
        from pyevm_jit.runtime import JitBackend, RuntimeConfig, RuntimeTuning
        from pyevm_jit.runtime.store import FileArtifactStore
        from pyevm_jit.testing import faults

        b = JitBackend.new(RuntimeConfig(
            enabled=True, store=FileArtifactStore({str(store_dir)!r}, max_bytes=1 << 20),
            compiler=faults.fault_compiler, linker=faults.fake_linker, dump_dir=None,
            tuning=RuntimeTuning(worker_count=1, hot_threshold=1, store_wait={WAIT},
                                 region_blocks=0),  # whole programs: the ones stored
        ))
        assert not b.lookup(request(faults.SLOW_MARKER + b"\\x00")).is_compiled
        """
    )
    tests_dir = Path(__file__).resolve().parents[1]  # support.py
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tests_dir, capture_output=True, text=True, timeout=WAIT
    )
    assert done.returncode == 0, done.stderr
    keys = FileArtifactStore(store_dir).keys()
    assert [k.code_hash for k in keys] == [keccak(faults.SLOW_MARKER + b"\x00")]
