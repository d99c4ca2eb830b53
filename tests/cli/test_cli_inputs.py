"""Issue 17's smaller command-line items: bad input is reported, not a traceback or a pass;
failed writes are failures; result files are checked before a run and written atomically;
artifacts of another engine are skipped cheaply."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from pyevm_jit.cli import main
from pyevm_jit.compiler.target import DEFAULT_OPT_LEVEL, EngineIdentity, engine_identity
from pyevm_jit.runtime import JitBackend, RuntimeCacheKey, RuntimeConfig, RuntimeTuning
from pyevm_jit.runtime.store import FileArtifactStore, StoredArtifact
from pyevm_jit.runtime.workers import CompileTask
from pyevm_jit.testing import faults

REPO = Path(__file__).resolve().parents[2]
SSTORE = "600160005500"


def state_test(
    tmp_path: Path,
    *,
    forks: tuple[str, ...] = ("Cancun",),
    code: str = "0x" + SSTORE,
    tests: int = 1,
    name: str = "state.json",
) -> Path:
    """A small valid state test (the pre-state's code at 0xaa..; a call of it)."""
    sender = "0xa94f5374fce5edbc8e2a8697c15331677e6ebf0b"
    data = {}
    for n in range(tests):
        data[f"t{n}"] = {
            "env": {
                "currentCoinbase": "0x" + "2a" * 20,
                "currentGasLimit": "0x05f5e100",
                "currentNumber": "0x01",
                "currentTimestamp": "0x03e8",
                "currentBaseFee": "0x0a",
                "currentRandom": "0x" + "00" * 32,
                "currentDifficulty": "0x00",
                "currentExcessBlobGas": "0x00",
            },
            "pre": {
                "0x" + "aa" * 20: {"code": code, "balance": "0x00", "nonce": "0x00", "storage": {}},
                sender: {
                    "code": "0x",
                    "balance": "0x0de0b6b3a7640000",
                    "nonce": "0x00",
                    "storage": {},
                },
            },
            "transaction": {
                "to": "0x" + "aa" * 20,
                "data": ["0x"],
                "gasLimit": ["0x061a80"],
                "gasPrice": "0x0a",
                "nonce": "0x00",
                "secretKey": "0x45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8",
                "sender": sender,
                "value": ["0x00"],
            },
            "post": {
                fork: [
                    {
                        "indexes": {"data": 0, "gas": 0, "value": 0},
                        "hash": "0x" + "00" * 32,
                        "logs": "0x" + "00" * 32,
                    }
                ]
                for fork in forks
            },
        }
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def cli(
    *args: str, limit_file_size: int | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run `pyevm-jit` in a subprocess (optionally unable to write files beyond a size, as on a
    full disk)."""

    def limit() -> None:
        if limit_file_size is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    return subprocess.run(
        [sys.executable, "-m", "pyevm_jit.cli", *args],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
        timeout=300,
        **kwargs,  # type: ignore[arg-type]
    )


# --- --mode aot on a malformed pre --------------------------------------------------------------


@pytest.mark.parametrize("code", ["0xZZ", 7], ids=["bad-hex", "not-a-string"])
def test_aot_mode_reports_malformed_pre_as_a_failed_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], code: object
) -> None:
    path = state_test(tmp_path, code=code)  # type: ignore[arg-type]
    outcomes = {}
    for mode in ("interp", "aot"):
        status = main(["statetest", "--mode", mode, "--no-progress", str(path)])
        out = capsys.readouterr()
        assert "Traceback" not in out.out + out.err
        outcomes[mode] = (status, "0 passed, 1 failed" in out.out)
    assert outcomes["aot"] == outcomes["interp"] == (1, True)


# --- pyevm-jit aot on a full disk ---------------------------------------------------------------


def test_aot_that_cannot_write_fails(tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = cli(
        "aot", "--quiet", "--store", str(store), str(state_test(tmp_path)), limit_file_size=200
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 stored" in result.stdout and "could not be written" in result.stdout
    assert "Traceback" not in result.stderr
    assert FileArtifactStore(store).keys() == []


# --- --json ---------------------------------------------------------------------------------------


def test_json_folder_is_checked_before_the_run(tmp_path: Path) -> None:
    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc, a folder nobody can write")
    result = cli(
        "statetest", "--no-progress", "--json", "/proc/results.json", str(state_test(tmp_path))
    )
    assert result.returncode == 2
    assert "--json" in result.stderr and "Traceback" not in result.stderr
    assert "passed" not in result.stdout  # nothing ran


@pytest.mark.parametrize("command", ["statetest", "bench"])
def test_json_is_written_atomically(tmp_path: Path, command: str) -> None:
    """A full disk while writing --json keeps the previous results whole."""
    results = tmp_path / "results.json"
    previous = json.dumps({"previous": True, "pad": "x" * 500})
    results.write_text(previous)
    if command == "statetest":
        args = ["statetest", "--no-progress", str(state_test(tmp_path, tests=8))]
    else:
        args = [
            "bench",
            str(REPO / "fixtures" / "bench" / "counter.json"),
            "--no-pyrevm",
            "--warmup",
            "0",
            "--min-time",
            "0.05",
            "--min-reps",
            "1",
            "--max-reps",
            "2",
        ]
    result = cli(*args, "--json", str(results), limit_file_size=600)
    assert result.returncode == 2, result.stderr  # the run itself went well: the write failed
    assert "--json" in result.stderr and "Traceback" not in result.stderr
    assert results.read_text() == previous
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


# --- unknown forks ------------------------------------------------------------------------------


def test_post_naming_an_unknown_fork_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = state_test(tmp_path, forks=("Cancun", "Cancum"))
    assert main(["statetest", "--no-progress", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Cancum" in err and "unknown fork" in err and len(err.strip().splitlines()) == 1


def test_known_later_fork_stays_unsupported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = state_test(tmp_path, forks=("Amsterdam",))
    assert main(["statetest", "--no-progress", str(path)]) == 0
    assert "1 unsupported" in capsys.readouterr().out


def fake_artifact(n: int, identity: EngineIdentity | None = None) -> StoredArtifact:
    code = b"\x61" + n.to_bytes(2, "big") + b"\x50\x00"
    key = RuntimeCacheKey(keccak(code), "cancun")
    obj = faults.fake_compiler(CompileTask(code, "cancun", DEFAULT_OPT_LEVEL, key.code_hash))
    return StoredArtifact.create(key, obj, len(code), identity or engine_identity())


# --- artifacts of another engine ----------------------------------------------------------------


def test_preload_skips_other_engines_cheaply(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileArtifactStore(tmp_path / "shared")
    foreign = dataclasses.replace(engine_identity(), cpu="another-cpu")
    for n in range(20):
        store.store(fake_artifact(100 + n, foreign))
    store.store(fake_artifact(1))
    opened: list[str] = []
    real_open = os.open

    def counting_open(path: object, *args: object, **kwargs: object) -> int:
        opened.append(str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", counting_open)
    caplog.set_level(logging.INFO)
    config = RuntimeConfig(
        enabled=True,
        store=FileArtifactStore(store.directory),
        compiler=faults.fake_compiler,
        linker=faults.fake_linker,
        tuning=RuntimeTuning(worker_count=0),
    )
    with JitBackend.new(config) as b:
        s = b.stats()
    monkeypatch.undo()
    assert s.aot_loaded == 1 and s.artifacts_rejected == 0
    assert len([p for p in opened if p.endswith(".pjit")]) == 1  # only ours was read
    summaries = [r for r in caplog.records if "another engine" in r.getMessage()]
    assert len(summaries) == 1 and "20" in summaries[0].getMessage()
    assert not [r for r in caplog.records if "rejected" in r.getMessage()]


def test_conformance_runs_leave_the_persistent_cache_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`statetest --mode jit` tests the compiler: it neither reads nor fills the user's cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("PYEVM_JIT_STORE", str(cache))
    assert RuntimeConfig().store is not None  # the cache is on for this test
    path = state_test(tmp_path)
    assert main(["statetest", "--mode", "jit", "--no-progress", str(path)]) in (0, 1)
    assert "passed" in capsys.readouterr().out
    assert not cache.exists()
