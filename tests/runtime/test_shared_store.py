"""The shared artifact store (issue 28): a local cache in front of an fsspec URL, artifacts
published signed (Ed25519) and linked only when a trusted key verifies them."""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import code_n, request, s3_server

pytest.importorskip("fsspec", reason="the [cluster] extra (fsspec) is not installed")
pytest.importorskip("cryptography", reason="the [cluster] extra (cryptography) is not installed")

from pyevm_jit.runtime import JitBackend, RuntimeConfig, RuntimeTuning  # noqa: E402
from pyevm_jit.runtime.store import FileArtifactStore  # noqa: E402
from pyevm_jit.runtime.store.shared import (  # noqa: E402
    SharedArtifactStore,
    TieredArtifactStore,
    normalised,
)
from pyevm_jit.runtime.store.signing import (  # noqa: E402
    load_signer,
    load_trusted,
    write_keypair,
)
from pyevm_jit.testing import faults  # noqa: E402


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return write_keypair(tmp_path / "keys")


def _backend(local: Path, url: str, keys: tuple[Path, Path] | None, sign: bool) -> JitBackend:
    shared = SharedArtifactStore(
        url,
        signer=load_signer(keys[0]) if keys and sign else None,
        trusted=load_trusted([keys[1]]) if keys else None,
    )
    return JitBackend.new(
        RuntimeConfig(
            enabled=True,
            blocking=True,
            store=TieredArtifactStore(FileArtifactStore(local, max_bytes=1 << 20), shared),
            compiler=faults.fault_compiler,
            linker=faults.fake_linker,
            dump_dir=None,
            tuning=RuntimeTuning(worker_count=0, event_drain_interval=0.01),
        )
    )


def _publish(tmp_path: Path, url: str, keys: tuple[Path, Path], code: bytes) -> None:
    producer = _backend(tmp_path / "producer", url, keys, sign=True)
    try:
        assert producer.lookup(request(code)).is_compiled
    finally:
        producer.close()
    assert producer.stats().shared_published == 1


def _consume(tmp_path: Path, url: str, keys: tuple[Path, Path] | None, code: bytes) -> JitBackend:
    consumer = _backend(tmp_path / "consumer", url, keys, sign=False)
    try:
        assert consumer.lookup(request(code)).is_compiled
    finally:
        consumer.close()
    return consumer


def _shared_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.pjit"))


def test_keygen_writes_a_private_key_only_its_owner_reads(keys: tuple[Path, Path]) -> None:
    private, public = keys
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert load_signer(private).key_id in load_trusted([public]).keys
    with pytest.raises(FileExistsError):
        write_keypair(private.parent)


def test_a_signed_artifact_is_loaded_instead_of_compiled(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    url = (tmp_path / "shared").as_uri()
    _publish(tmp_path, url, keys, code_n(1))
    stats = _consume(tmp_path, url, keys, code_n(1)).stats()
    assert (stats.shared_loaded, stats.compilations_dispatched, stats.artifacts_rejected) == (
        1,
        0,
        0,
    )
    # ... and kept in the local cache: a third process needs no shared store
    assert len(FileArtifactStore(tmp_path / "consumer").keys()) == 1


def test_publishing_is_idempotent_and_racers_write_the_same_bytes(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    url = (tmp_path / "shared").as_uri()
    _publish(tmp_path, url, keys, code_n(2))
    (path,) = _shared_files(tmp_path / "shared")
    first = path.read_bytes()
    # another machine compiles the same key at another time: the same bytes, nothing rewritten
    local = FileArtifactStore(tmp_path / "producer")
    (artifact,) = local.load_all()
    again = dataclasses.replace(artifact.manifest, created=artifact.manifest.created + 99)
    shared = SharedArtifactStore(url, signer=load_signer(keys[0]))
    racer = load_signer(keys[0]).wrap(
        normalised(dataclasses.replace(artifact, manifest=again)).to_bytes()
    )
    assert racer == first
    assert shared.publish(artifact) is False
    assert path.read_bytes() == first


def _tamper(tmp_path: Path, keys: tuple[Path, Path], how: str) -> None:
    (path,) = _shared_files(tmp_path / "shared")
    data = path.read_bytes()
    if how == "tampered":
        data = data[:-1] + bytes([data[-1] ^ 1])
    elif how == "unsigned":
        body = load_trusted([keys[1]]).unwrap(data)
        data = body
    elif how == "wrongly signed":
        other = write_keypair(tmp_path / "other")
        data = load_signer(other[0]).wrap(load_trusted([keys[1]]).unwrap(data))
    elif how == "foreign engine":
        from pyevm_jit.runtime.store.format import StoredArtifact, artifact_digest

        art = StoredArtifact.from_bytes(load_trusted([keys[1]]).unwrap(data))
        m = dataclasses.replace(art.manifest, llvm_version="0.0.0-other")
        m = dataclasses.replace(m, digest=artifact_digest(m.signed_fields(), art.object_bytes))
        data = load_signer(keys[0]).wrap(StoredArtifact(m, art.object_bytes).to_bytes())
    path.write_bytes(data)


@pytest.mark.parametrize("how", ["tampered", "unsigned", "wrongly signed", "foreign engine"])
def test_an_untrusted_artifact_is_refused_once_and_compiled_locally(
    tmp_path: Path, keys: tuple[Path, Path], how: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = (tmp_path / "shared").as_uri()
    _publish(tmp_path, url, keys, code_n(3))
    _tamper(tmp_path, keys, how)
    with caplog.at_level(logging.WARNING, logger="pyevm_jit"):
        stats = _consume(tmp_path, url, keys, code_n(3)).stats()
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in caplog.records]
    assert "compiling it locally" in refusals[0].getMessage()
    assert (stats.shared_loaded, stats.compilations_succeeded) == (0, 1)
    assert stats.artifacts_rejected == 1


def test_an_unreachable_store_is_one_warning_and_the_run_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, keys: tuple[Path, Path]
) -> None:
    url = "no-such-protocol-xyz://bucket/prefix"
    with caplog.at_level(logging.WARNING, logger="pyevm_jit"):
        backend = _backend(tmp_path / "local", url, keys, sign=True)
        try:
            for n in range(3):
                assert backend.lookup(request(code_n(10 + n))).is_compiled
        finally:
            backend.close()
    warnings = [r for r in caplog.records if "unusable" in r.getMessage()]
    assert len(warnings) == 1
    assert backend.stats().compilations_succeeded == 3
    assert len(FileArtifactStore(tmp_path / "local").keys()) == 3


def test_the_environment_names_the_shared_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYEVM_JIT_SHARED_STORE", (tmp_path / "s").as_uri())
    config = RuntimeConfig(store=FileArtifactStore(tmp_path / "l"))
    assert isinstance(config.store, TieredArtifactStore)
    assert config.shared_store == (tmp_path / "s").as_uri()


# --- two fresh processes, two cache folders, one store URL ------------------------------------

_CHILD = textwrap.dedent(
    """
    import json, sys
    from eth_hash.auto import keccak
    from pyevm_jit.runtime import JitBackend, LookupRequest, RuntimeCacheKey, RuntimeConfig
    from pyevm_jit.runtime import RuntimeTuning
    code = bytes.fromhex("6001600055600160015500")
    b = JitBackend.new(RuntimeConfig(enabled=True, blocking=True, dump_dir=None,
                       tuning=RuntimeTuning(worker_count=0)))
    d = b.lookup(LookupRequest(RuntimeCacheKey(keccak(code), "cancun"), code))
    b.close()
    print(json.dumps({"compiled": d.is_compiled, **b.stats().as_dict()}))
    """
)


def _child(
    cache: Path, url: str, keys: tuple[Path, Path], sign: bool, extra: dict[str, str]
) -> dict:
    import json

    env = {
        **os.environ,
        **extra,
        "PYEVM_JIT_STORE": str(cache),
        "PYEVM_JIT_SHARED_STORE": url,
        "PYEVM_JIT_TRUSTED_KEYS": str(keys[1]),
    }
    env.pop("PYEVM_JIT_SIGNING_KEY", None)
    if sign:
        env["PYEVM_JIT_SIGNING_KEY"] = str(keys[0])
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _two_processes(
    tmp_path: Path, url: str, keys: tuple[Path, Path], extra: dict[str, str]
) -> None:
    first = _child(tmp_path / "cache-a", url, keys, True, extra)
    assert first["compiled"] and first["compilations_succeeded"] == 1
    assert first["shared_published"] == 1
    second = _child(tmp_path / "cache-b", url, keys, False, extra)
    assert second["compiled"], second
    assert second["shared_loaded"] == 1
    assert second["compilations_dispatched"] == 0
    assert second["lookup_hits"] == 1


def test_two_processes_share_a_folder_store(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    _two_processes(tmp_path, (tmp_path / "shared").as_uri(), keys, {})


def test_two_processes_share_an_s3_store(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    pytest.importorskip("s3fs", reason="the [cluster] extra (s3fs) is not installed")
    pytest.importorskip("moto.server", reason="moto[server] is not installed")

    with s3_server() as endpoint:
        extra = {
            "FSSPEC_S3_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        import s3fs

        fs = s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing")
        fs.mkdir("pyevm-jit-test")
        _two_processes(tmp_path, "s3://pyevm-jit-test/artifacts", keys, extra)


def test_an_s3_store_that_does_not_answer_is_one_warning_and_the_run_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, keys: tuple[Path, Path]
) -> None:
    """An S3 endpoint nobody listens on (a port just closed): the first request fails, the
    store is set aside with one warning, and every program is compiled and kept locally; no
    later lookup or publication asks the store again."""
    pytest.importorskip("s3fs", reason="the [cluster] extra (s3fs) is not installed")
    import socket

    with socket.socket() as probe:  # a free port, closed again: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    shared = SharedArtifactStore(
        "s3://pyevm-jit-test/artifacts",
        signer=load_signer(keys[0]),
        trusted=load_trusted([keys[1]]),
        storage_options={
            "endpoint_url": f"http://127.0.0.1:{port}",
            "key": "testing",
            "secret": "testing",
            "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 5},
        },
    )
    with caplog.at_level(logging.WARNING, logger="pyevm_jit"):
        backend = JitBackend.new(
            RuntimeConfig(
                enabled=True,
                blocking=True,
                store=TieredArtifactStore(FileArtifactStore(tmp_path / "local"), shared),
                compiler=faults.fault_compiler,
                linker=faults.fake_linker,
                dump_dir=None,
                tuning=RuntimeTuning(worker_count=0, event_drain_interval=0.01),
            )
        )
        try:
            for n in range(3):
                assert backend.lookup(request(code_n(20 + n))).is_compiled
        finally:
            backend.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "unusable" in warnings[0], warnings
    assert shared.unreachable_reason is not None
    stats = backend.stats()
    assert (stats.compilations_succeeded, stats.shared_loaded, stats.shared_published) == (3, 0, 0)
    assert len(FileArtifactStore(tmp_path / "local").keys()) == 3
