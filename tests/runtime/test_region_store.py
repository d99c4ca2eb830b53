"""Region programs in the artifact store (docs/regions.md): stored under a key naming what
they cover, loaded by a later process without compiling (the largest region stored, or the
whole contract when stored), grown and stored again, refused when tampered with, and pruned
like every artifact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eth.vm.forks import CancunVM
from eth_hash.auto import keccak
from support import (
    WAIT,
    code_n,
    region_backend,
    request,
    selector_loops,
    selector_scenario,
    wait_until,
)

from pyevm_jit.compiler.regions import block_count
from pyevm_jit.compiler.target import DEFAULT_OPT_LEVEL, engine_identity
from pyevm_jit.evm.vm import jit_vm
from pyevm_jit.runtime import RuntimeCacheKey
from pyevm_jit.runtime.store import (
    ArtifactKey,
    FileArtifactStore,
    StoredArtifact,
    identity_fingerprint,
)
from pyevm_jit.runtime.workers import CompileTask
from pyevm_jit.testing import differential as d
from pyevm_jit.testing import faults


def _contract(count: int = 60) -> bytes:
    return selector_loops(count, 5)


def _stored(store: FileArtifactStore, code: bytes) -> list[ArtifactKey]:
    ours = identity_fingerprint(engine_identity())
    return [k for k in store.keys() if k.code_hash == keccak(code) and k.identity == ours]


def _fake_region_artifact(code: bytes, region: frozenset[int]) -> StoredArtifact:
    key = RuntimeCacheKey(keccak(code), "cancun")
    obj = faults.fake_compiler(CompileTask(code, "cancun", DEFAULT_OPT_LEVEL, key.code_hash))
    return StoredArtifact.create(key, obj, len(code), engine_identity(), region)


_SECOND_PROCESS = """
import json, sys
from eth_hash.auto import keccak
from pyevm_jit.runtime import (JitBackend, LookupRequest, RuntimeCacheKey, RuntimeConfig,
                               RuntimeTuning)
from pyevm_jit.runtime.store import FileArtifactStore
code = bytes.fromhex(sys.argv[2])
config = RuntimeConfig(enabled=True, store=FileArtifactStore(sys.argv[1]), preload=False,
                       tuning=RuntimeTuning(worker_count=0, hot_threshold=1000))
with JitBackend.new(config) as backend:
    decision = backend.lookup(LookupRequest(RuntimeCacheKey(keccak(code), "cancun"), code))
    program = decision.program
    stats = backend.stats()
    print(json.dumps({
        "native": decision.is_compiled,
        "region": None if program is None or program.region is None else sorted(program.region),
        "dispatched": stats.compilations_dispatched,
        "loaded": stats.aot_loaded,
    }))
"""


def _second_process(store: FileArtifactStore, code: bytes) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _SECOND_PROCESS, str(store.directory), code.hex()],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_a_region_is_stored_and_a_second_process_runs_it_at_once(tmp_path: Path) -> None:
    code = _contract()
    store = FileArtifactStore(tmp_path / "cache", max_bytes=64 << 20)
    vm = jit_vm(CancunVM, backend := region_backend(store))
    scenario = selector_scenario(code, 41)
    stock = d.execute(scenario, CancunVM)
    with backend:
        for _ in range(200):
            assert d.execute(scenario, vm) == stock
            if backend._inner.resident:
                break
        assert backend.wait_idle(WAIT)
        (entry,) = backend._inner.resident.values()
        region = entry.program.region
        assert region is not None and len(region) < block_count(code, "cancun") / 4
    (key,) = _stored(store, code)
    assert key.region and key.region_blocks == len(region)
    assert f".R{len(region)}-" in key.file_name

    second = _second_process(store, code)
    assert second == {"native": True, "region": sorted(region), "dispatched": 0, "loaded": 1}


def test_a_grown_region_replaces_the_stored_one_and_a_whole_contract_wins(
    tmp_path: Path,
) -> None:
    code = _contract()
    store = FileArtifactStore(tmp_path / "cache", max_bytes=64 << 20)
    # a first run stores the region of one function
    vm = jit_vm(CancunVM, backend := region_backend(store))
    with backend:
        for _ in range(200):
            d.execute(selector_scenario(code, 3), vm)
            if backend._inner.resident:
                break
        assert backend.wait_idle(WAIT)
    (first,) = _stored(store, code)

    # a second run loads it at its first lookup; another function leaves it once, the
    # region grows and the grown program is stored in place of the one it grew from
    vm = jit_vm(CancunVM, backend := region_backend(store))
    other = selector_scenario(code, 50)
    other_stock = d.execute(other, CancunVM)
    with backend:
        assert d.execute(other, vm) == other_stock
        assert backend.stats().aot_loaded == 1, "loaded at its first lookup"
        assert backend.side_exit_count() == 1
        wait_until(lambda: backend.stats().compilations_succeeded == 1)
        assert backend.wait_idle(WAIT)
        (entry,) = backend._inner.resident.values()
        grown = entry.program.region
        assert grown is not None and first.region_blocks < len(grown)
        assert d.execute(other, vm) == other_stock
        assert backend.side_exit_count() == 1, "the grown program runs the call to its end"
    (second,) = _stored(store, code)
    assert second.region_blocks == len(grown)
    assert _second_process(store, code)["region"] == sorted(grown)

    # the tier-up of a loaded region compiles the whole contract, stores it and deletes the
    # region; a whole contract stored is what a lookup takes
    with region_backend(store, tier_up_after=1) as backend:
        assert backend.lookup(request(code)).program.region == grown  # type: ignore[union-attr]
        assert backend.lookup(request(code)).is_compiled  # the hit that asks for the tier-up
        wait_until(lambda: backend.stats().tier_ups == 1)
        assert backend.wait_idle(WAIT)
    assert [k.region for k in _stored(store, code)] == [""]
    assert _second_process(store, code) == {
        "native": True, "region": None, "dispatched": 0, "loaded": 1,
    }  # fmt: skip


def test_region_artifacts_name_their_blocks_and_are_refused_when_tampered(
    tmp_path: Path,
) -> None:
    code = _contract(8)
    store = FileArtifactStore(tmp_path / "store")
    small = _fake_region_artifact(code, frozenset({0, 5}))
    large = _fake_region_artifact(code, frozenset({0, 5, 11}))
    whole = _fake_region_artifact(code, None)
    for artifact in (small, large, whole):
        assert store.store(artifact)
    assert len({a.key.file_name for a in (small, large, whole)}) == 3, "no two alias"
    assert store.load(small.key) == small and store.load(large.key) == large
    assert small.manifest.covered == frozenset({0, 5}) and whole.manifest.covered is None
    ours = identity_fingerprint(engine_identity())
    found = store.variants(keccak(code), "cancun", ours)
    assert sorted(k.rank for k in found) == [(0, 2, DEFAULT_OPT_LEVEL), (0, 3, DEFAULT_OPT_LEVEL),
                                             (1, 0, DEFAULT_OPT_LEVEL)]  # fmt: skip
    assert store.variants(keccak(code), "cancun", "0" * 16) == []
    # a whole contract's manifest is what it was before regions were stored (no region field)
    assert "region" not in json.loads(whole.manifest.to_json())

    # a manifest whose region is edited (digest not recomputed) is refused
    path = store.directory / "cancun" / small.key.file_name
    path.write_bytes(path.read_bytes().replace(b'"0,5"', b'"0,6"'))
    assert store.load(small.key) is None
    # so is one renamed to another coverage's name
    (store.directory / "cancun" / large.key.file_name).rename(
        store.directory / "cancun" / small.key.file_name
    )
    assert store.load(small.key) is None
    assert store.rejected == 2


def test_pruning_counts_region_artifacts(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "cache")
    artifacts = [_fake_region_artifact(code_n(n), frozenset({0})) for n in range(20)]
    for artifact in artifacts:
        store.store(artifact)
    size = store.size()
    assert size >= sum(len(a.to_bytes()) for a in artifacts)
    removed = store.prune(size // 2)
    assert removed > 0 and store.size() <= size // 2
    assert len(store.keys()) < len(artifacts)
    assert all(k.region for k in store.keys())


def test_the_shared_store_gets_whole_contracts_and_the_local_cache_keeps_regions(
    tmp_path: Path,
) -> None:
    pytest.importorskip("fsspec", reason="the [cluster] extra (fsspec) is not installed")
    pytest.importorskip("cryptography", reason="the [cluster] extra is not installed")
    from pyevm_jit.runtime.store.shared import SharedArtifactStore, TieredArtifactStore
    from pyevm_jit.runtime.store.signing import load_signer, load_trusted, write_keypair

    private, public = write_keypair(tmp_path / "keys")
    shared = SharedArtifactStore(
        (tmp_path / "shared").as_uri(),
        signer=load_signer(private),
        trusted=load_trusted([public]),
    )
    local = FileArtifactStore(tmp_path / "local", max_bytes=1 << 20)
    tiered = TieredArtifactStore(local, shared)
    code = _contract(8)
    region = _fake_region_artifact(code, frozenset({0, 5}))
    whole = _fake_region_artifact(code, None)
    assert tiered.store(region) and tiered.store(whole)
    assert shared.published == 1
    assert [p.name for p in (tmp_path / "shared").rglob("*.pjit")] == [whole.key.file_name]
    ours = identity_fingerprint(engine_identity())
    assert sorted(k.region for k in tiered.variants(keccak(code), "cancun", ours)) == [
        "", region.key.region,
    ]  # fmt: skip
    assert tiered.load(region.key) == region
    local.delete(region.key)
    assert tiered.load(region.key) is None, "a region is not asked of the shared store"
