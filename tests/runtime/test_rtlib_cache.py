"""The runtime library's object code kept in the store (issue 14 item 2): a new process with a
store links the library built by an earlier one instead of building it again, and a damaged or
foreign file is rejected and rebuilt, never trusted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import WAIT

from pyevm_jit.compiler import rtlib
from pyevm_jit.runtime import rtlib_cache
from pyevm_jit.runtime.config import ConfigError
from pyevm_jit.runtime.rtlib_cache import FOLDER, StoreRtlibCache, decode, encode, file_name
from pyevm_jit.runtime.store import FileArtifactStore

KEY = ("x86_64-unknown-linux-gnu", "e-m:e-p270:32:32")
OBJ = b"\x7fELF fake runtime library" * 8

_SCRIPT = textwrap.dedent(
    """
    import sys
    from pyevm_jit.compiler import link, rtlib
    from pyevm_jit.runtime import JitBackend, RuntimeConfig
    from pyevm_jit.runtime.store import FileArtifactStore

    store = FileArtifactStore(sys.argv[1], max_bytes=1 << 24) if sys.argv[1] != "-" else None
    backend = JitBackend.new(RuntimeConfig(enabled=True, store=store))
    assert all(link.rtlib_address(name) for name in rtlib.EXPORTED_SYMBOLS)
    print(rtlib.builds, store.rejected if store is not None else 0)
    backend.close()
    """
)


def _run(store: Path | str) -> tuple[int, int]:
    """(runtime libraries built, files rejected) by a fresh process with the store."""
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(store)], capture_output=True, text=True, timeout=WAIT
    )
    assert done.returncode == 0, done.stderr
    builds, rejected = done.stdout.split()
    return int(builds), int(rejected)


def _library_file(store: Path) -> Path:
    (path,) = (store / FOLDER).iterdir()
    return path


@pytest.fixture(scope="module")
def built_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store in which a first process built the library (built once for this module's tests;
    each test works on its own copy, `store_copy`)."""
    store = tmp_path_factory.mktemp("rtlib") / "store"
    assert _run(store) == (1, 0)
    return store


@pytest.fixture
def store_copy(built_store: Path, tmp_path: Path) -> Path:
    """A copy of `built_store` (files with their modes) for one test to use and damage."""
    store = tmp_path / "store"
    shutil.copytree(built_store, store)
    return store


def _signed_with(blob: bytearray, field: str, value: str) -> bytearray:
    """A valid library file like `blob` whose manifest says `value` for `field` (signed
    again: what another machine or engine would have written under this one's name)."""
    start = len(rtlib_cache.MAGIC) + 4
    size = int.from_bytes(blob[len(rtlib_cache.MAGIC) : start], "big")
    manifest = json.loads(blob[start : start + size])
    manifest[field] = value
    del manifest["digest"]
    data = bytes(blob[start + size :])
    manifest["digest"] = rtlib_cache._digest(manifest, data)
    text = json.dumps(manifest).encode()
    return bytearray(rtlib_cache.MAGIC + len(text).to_bytes(4, "big") + text + data)


def test_second_process_links_the_stored_library_without_building_it(store_copy: Path) -> None:
    assert _library_file(store_copy).stat().st_mode & 0o077 == 0
    assert _run(store_copy) == (0, 0)


@pytest.mark.parametrize("damage", ["flip", "truncate", "foreign"])
def test_damaged_or_foreign_library_is_rejected_and_rebuilt(store_copy: Path, damage: str) -> None:
    store = store_copy
    path = _library_file(store)
    blob = bytearray(path.read_bytes())
    if damage == "flip":
        blob[-100] ^= 0x01
    elif damage == "truncate":
        del blob[-1000:]
    else:  # a valid file of another CPU under this engine's name
        blob = _signed_with(blob, "cpu", "another-cpu")
    path.write_bytes(bytes(blob))
    assert _run(store) == (1, 1)  # rejected, built again, no crash
    assert _run(store) == (0, 0)  # and replaced by a good one


def test_no_store_keeps_nothing(tmp_path: Path) -> None:
    env = dict(os.environ, PYEVM_JIT_STORE="off", XDG_CACHE_HOME=str(tmp_path), HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, "-"], capture_output=True, text=True, env=env, timeout=WAIT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "0"]
    assert list(tmp_path.iterdir()) == []


def test_file_round_trip_and_checks() -> None:
    blob = encode(KEY, OBJ)
    assert decode(KEY, blob) == (OBJ, None)
    other = (KEY[0], KEY[1] + "-n8:16")
    assert decode(other, blob)[0] is None  # another target
    assert "digest" in str(decode(KEY, blob[:-1] + bytes([blob[-1] ^ 1]))[1])
    assert decode(KEY, b"junk")[0] is None
    assert file_name(KEY) != file_name(other)


def test_unsafe_library_file_is_refused(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "store")
    cache = StoreRtlibCache(store)
    cache.save(KEY, OBJ)
    assert cache.load(KEY) == OBJ
    path = tmp_path / "store" / FOLDER / file_name(KEY)
    path.chmod(0o666)  # writable by others
    assert cache.load(KEY) is None and store.rejected == 1
    path.unlink()
    target = tmp_path / "elsewhere.pjit"
    target.write_bytes(encode(KEY, OBJ))
    path.symlink_to(target)
    assert cache.load(KEY) is None and store.rejected == 2
    assert cache.load(("other", "layout")) is None  # absent: not a rejection
    assert store.rejected == 2


def test_library_file_counts_in_the_store_and_is_cleared(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "store")
    StoreRtlibCache(store).save(KEY, OBJ)
    assert store.size() > len(OBJ)
    assert store.keys() == []  # not an artifact
    store.clear()
    assert StoreRtlibCache(store).load(KEY) is None


# --- a backend without a store: the library in the user's cache (issue 26, time to native) ---

_USER_SCRIPT = textwrap.dedent(
    """
    import sys
    from pyevm_jit.compiler import link, rtlib
    from pyevm_jit.runtime import JitBackend, RuntimeConfig, rtlib_cache
    from pyevm_jit.runtime.store import filestore

    if sys.argv[1] == "read-only":
        filestore.writable_problem = lambda path: f"{path} is read-only (test)"
    backend = JitBackend.new(RuntimeConfig(enabled=True, store=None))
    assert all(link.rtlib_address(name) for name in rtlib.EXPORTED_SYMBOLS)
    caches = [c for c in rtlib.object_caches if isinstance(c, rtlib_cache.StoreRtlibCache)]
    print(rtlib.builds, sum(c.store.rejected for c in caches))
    backend.close()
    """
)


def _user_env(tmp_path: Path, **changes: str | None) -> dict[str, str]:
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path / "home"))
    env.pop("PYEVM_JIT_STORE", None)  # the suite's `off`: the default cache's folder decides
    env.pop(rtlib_cache.ENV_CACHE, None)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _run_user(env: dict[str, str], mode: str = "-") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _USER_SCRIPT, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _result(proc: subprocess.Popen[str]) -> tuple[int, int]:
    out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
    builds, rejected = out.split()
    return int(builds), int(rejected)


def test_no_store_keeps_the_library_in_the_user_cache(tmp_path: Path) -> None:
    env = _user_env(tmp_path)
    assert _result(_run_user(env)) == (1, 0)
    (path,) = (tmp_path / "xdg" / "pyevm-jit" / FOLDER).iterdir()  # the default cache's folder
    assert path.stat().st_mode & 0o077 == 0
    assert _result(_run_user(env)) == (0, 0)  # linked from the cache, not built
    assert [p.name for p in (tmp_path / "xdg" / "pyevm-jit").iterdir()] == [FOLDER]  # nothing else


def test_user_cache_folder_and_opt_outs(tmp_path: Path) -> None:
    chosen = tmp_path / "chosen"
    env = _user_env(tmp_path, PYEVM_JIT_RTLIB_CACHE=str(chosen))
    assert _result(_run_user(env)) == (1, 0)
    assert len(list((chosen / FOLDER).iterdir())) == 1  # read back: the tests below
    for off in ({"PYEVM_JIT_RTLIB_CACHE": "off"}, {"PYEVM_JIT_STORE": "off"}):
        assert _result(_run_user(_user_env(tmp_path, **off))) == (1, 0)  # built every time
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "home").exists()


def test_damaged_user_cache_file_is_rebuilt(store_copy: Path, tmp_path: Path) -> None:
    env = _user_env(tmp_path, PYEVM_JIT_RTLIB_CACHE=str(store_copy))  # a store's layout
    path = _library_file(store_copy)
    good = path.read_bytes()
    for damage in ("flip", "truncate", "foreign"):
        blob = bytearray(path.read_bytes())
        if damage == "flip":
            blob[-100] ^= 0x01
        elif damage == "truncate":
            del blob[len(blob) // 2 :]
        else:  # the file of another engine (another LLVM) under this engine's name
            blob = _signed_with(blob, "llvm_version", "0.0.1")
        path.write_bytes(bytes(blob))
        assert _result(_run_user(env)) == (1, 1), damage  # rejected, built again, no crash
        assert path.read_bytes() == good, damage  # and replaced by a good one


def test_unusable_user_cache_builds_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = _user_env(tmp_path, PYEVM_JIT_RTLIB_CACHE=str(blocker / "cache"))
    assert _result(_run_user(env)) == (1, 0)  # cannot be created: built, nothing kept
    assert blocker.read_text() == "not a folder"
    folder = tmp_path / "cache"
    env = _user_env(tmp_path, PYEVM_JIT_RTLIB_CACHE=str(folder))
    folder.mkdir(mode=0o700)
    assert _result(_run_user(env, "read-only")) == (1, 0)
    assert list(folder.iterdir()) == []  # a read-only cache is not written


def test_read_only_user_cache_is_read(store_copy: Path, tmp_path: Path) -> None:
    env = _user_env(tmp_path, PYEVM_JIT_RTLIB_CACHE=str(store_copy))
    assert _result(_run_user(env, "read-only")) == (0, 0)


@pytest.mark.slow
def test_concurrent_first_processes_share_one_good_file(tmp_path: Path) -> None:
    env = _user_env(tmp_path, PYEVM_JIT_RTLIB_CACHE=str(tmp_path / "cache"))
    procs = [_run_user(env) for _ in range(3)]
    results = [_result(proc) for proc in procs]
    assert all(rejected == 0 for _, rejected in results)  # no one read a half-written file
    assert sum(builds for builds, _ in results) >= 1
    (path,) = (tmp_path / "cache" / FOLDER).iterdir()  # one file, no temporary left behind
    assert decode_file(path)
    assert _result(_run_user(env)) == (0, 0)


def decode_file(path: Path) -> bool:
    """Whether `path` holds a library that this engine accepts for one of its targets."""
    blob = path.read_bytes()
    start = len(rtlib_cache.MAGIC) + 4
    size = int.from_bytes(blob[len(rtlib_cache.MAGIC) : start], "big")
    manifest = json.loads(blob[start : start + size])
    key = (manifest["target_triple"], manifest["data_layout"])
    return file_name(key) == path.name and decode(key, blob)[0] is not None


def test_malformed_cache_bound_means_no_cache_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYEVM_JIT_STORE_MAX_BYTES", "lots")
    monkeypatch.delenv("PYEVM_JIT_STORE", raising=False)  # the default cache would be used
    with pytest.raises(ConfigError):
        rtlib_cache.user_store()
    before = list(rtlib.object_caches)
    rtlib_cache.register_for(None)  # a backend without a store starts all the same
    assert rtlib.object_caches == before
