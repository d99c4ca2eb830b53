"""The case runner shared by `statetest` and `blocktest`: statistics, batching, the command's
report, and a worker pool that survives a worker dying (with a kind of case that needs no
py-evm: each case passes or fails as its id says)."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pyevm_jit.cli import caserun, caseworkers
from pyevm_jit.conformance.results import CaseStatus


@dataclass(frozen=True)
class FakeCase:
    id: str
    path: str


@dataclass
class FakeResult:
    case: FakeCase
    status: CaseStatus
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.case.id, "status": self.status.value, "reason": self.reason}


def fake_run(case: FakeCase, factory: Any) -> FakeResult:
    status = CaseStatus.FAILED if "bad" in case.id else CaseStatus.PASSED
    return FakeResult(case, status, "bad case" if status is CaseStatus.FAILED else "")


def fake_died(case: FakeCase, reason: str) -> FakeResult:
    return FakeResult(case, CaseStatus.FAILED, reason)


def fake_codes(cases: Sequence[FakeCase]) -> dict[tuple[bytes, str], bytes]:
    return {}


FAKE = caserun.CaseKind("fake", fake_run, fake_died, fake_codes)


def _cases(*names: str, path: str = "/t/a.json") -> list[FakeCase]:
    return [FakeCase(name, path) for name in names]


def test_merged_stats_and_native_line() -> None:
    stats = {
        1: {"lookup_hits": 5, "lookup_misses": 2, "misses_by_reason": {"ineligible": 2}},
        2: {
            "lookup_hits": 1,
            "lookup_misses": 3,
            "misses_by_reason": {"ineligible": 1, "not_ready": 2, "disabled": 0},
            "compilations_dispatched": 4,
        },
    }
    merged = caserun.merged_stats(stats)
    assert merged == {
        "lookup_hits": 6,
        "lookup_misses": 5,
        "compilations_dispatched": 4,
        "misses_by_reason": {"ineligible": 3, "not_ready": 2, "disabled": 0},
    }
    assert caserun.native_line(merged) == (
        "native: 6 messages ran native code, 5 interpreted (ineligible: 3, not_ready: 2)"
    )
    assert caserun.native_line({}) == "native: 0 messages ran native code, 0 interpreted"


def test_stats_dict_keeps_the_counters() -> None:
    class Backend:
        def stats(self) -> Any:
            from pyevm_jit.runtime import RuntimeStatsSnapshot

            return RuntimeStatsSnapshot(lookup_hits=3, compilations_dispatched=2, side_exits=5)

    stats = caserun.stats_dict(Backend())
    assert stats is not None
    assert stats["lookup_hits"] == 3 and stats["compilations_dispatched"] == 2
    assert stats["side_exits"] == 5
    assert "5 side exits" in caserun.native_line(caserun.merged_stats({1: stats}))
    assert caserun.stats_dict(None) is None


def test_batches_group_by_file_slow_folders_first() -> None:
    quick = _cases("q1", "q2", "q3", path="/t/stQuick/a.json")
    slow = _cases("s1", "s2", path="/t/vmPerformance/b.json")
    other = _cases("o1", path="/t/stQuick/c.json")
    batches = caserun.batches(quick + slow + other, 2)
    assert [[c.id for c in b] for b in batches] == [["s1", "s2"], ["q1", "q2"], ["q3"], ["o1"]]


def test_worker_death_fails_only_its_case() -> None:
    cases = _cases("a", "b", "victim", "c", "d", "e")
    spec = caserun.RunSpec(FAKE, "interp", crash_on="victim")
    results = [
        r
        for batch, _ in caserun.execute_parallel([cases[:4], cases[4:]], spec, 2, {})
        for r in batch
    ]
    by_id = {r.case.id: r for r in results}
    assert sorted(by_id) == sorted(c.id for c in cases) and len(results) == len(cases)
    assert by_id["victim"].status is CaseStatus.FAILED
    assert by_id["victim"].reason.startswith("worker process died (exit code 70)")
    assert all(r.status is CaseStatus.PASSED for r in results if r.case.id != "victim")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_worker_is_out_of_reach_of_the_terminals_ctrl_c() -> None:
    """A Ctrl-C at the terminal reached the workers too (one process group): a worker still
    importing when it came printed a KeyboardInterrupt traceback. A worker runs in a session of
    its own from the moment it exists, and ignores SIGINT once started; the main process's own
    handler is untouched."""
    handler = signal.getsignal(signal.SIGINT)
    worker = caseworkers.WorkerProcess(caserun.RunSpec(FAKE, "interp"))
    try:
        assert os.getsid(worker.pid) != os.getsid(0)
        assert os.getpgid(worker.pid) != os.getpgid(0)
        worker.give([])  # answered once the worker runs its main loop
        assert worker.conn.poll(60.0) and worker.conn.recv() == ("done", None)
        status = Path(f"/proc/{worker.pid}/status").read_text()
        found = re.search(r"^SigIgn:\s*([0-9a-f]+)$", status, re.MULTILINE)
        assert found is not None
        assert int(found.group(1), 16) & (1 << (signal.SIGINT - 1)), "SIGINT not ignored"
        assert signal.getsignal(signal.SIGINT) is handler
    finally:
        worker.stop()
        worker.kill()


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_command_reports_and_writes_json(
    jobs: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = _cases("one", "bad-two", "three", path="/t/x.json")
    skipped = [FakeResult(FakeCase("slow", "/t/x.json"), CaseStatus.SKIPPED, "slow")]
    report = tmp_path / "r.json"
    status = caserun.run_command(
        FAKE,
        cases,
        mode="interp",
        jobs=jobs,
        store=None,
        json_path=report,
        selection={"paths": ["/t"], "substring": None},
        progress=False,
        skipped=skipped,
    )
    assert status == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("2 passed, 1 failed, 1 skipped in ")
    assert "native:" not in captured.out
    assert captured.err.strip() == "FAIL bad-two: bad case"
    document = json.loads(report.read_text())
    assert [r["id"] for r in document["results"]] == ["slow", "one", "bad-two", "three"]
    assert document["summary"]["failed"] == 1 and document["summary"]["skipped"] == 1
    assert document["paths"] == ["/t"] and document["not_run"] == 0
    assert document["interrupted"] is False and document["native"] is None
    assert document["jobs"] == jobs


def test_run_command_without_cases(capsys: pytest.CaptureFixture[str]) -> None:
    status = caserun.run_command(
        FAKE, [], mode="jit", jobs=4, store=None, json_path=None, selection={}
    )
    assert status == 0
    assert capsys.readouterr().out == "0 passed, 0 failed (no cases selected)\n"


def test_crash_env_reaches_the_workers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(caserun.CRASH_ON_ENV, "b")
    status = caserun.run_command(
        FAKE,
        _cases("a", "b", "c"),
        mode="interp",
        jobs=2,
        store=None,
        json_path=None,
        selection={},
        progress=False,
    )
    assert status == 1
    out = capsys.readouterr().out
    assert out.startswith("2 passed, 1 failed"), out


def test_prepare_aot_compiles_only_what_the_store_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from eth_hash.auto import keccak

    from pyevm_jit.runtime.store import FileArtifactStore

    codes = {
        (bytes(keccak(code)), "cancun"): code
        for code in (bytes.fromhex("600160005500"), bytes.fromhex("6002600301500000"))
    }
    store = tmp_path / "store"
    caserun.prepare_aot(codes, str(store), sys.stdout, progress=False)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"aot: compiling 2 contract codes into {store}"
    assert lines[1].startswith("aot: done in ") and lines[1].endswith(
        ": 2 compiled, 0 already in the store"
    )
    assert len(FileArtifactStore(store).load_all()) == 2
    caserun.prepare_aot(codes, str(store), sys.stdout, progress=False)
    assert capsys.readouterr().out.splitlines()[1].endswith(": 0 compiled, 2 already in the store")


def test_prepare_aot_refuses_a_file_as_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pyevm_jit.errors import UsageError

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(UsageError, match="not a directory"):
        caserun.prepare_aot({}, str(not_a_folder), sys.stdout, progress=False)
    assert capsys.readouterr().out == ""  # refused before announcing anything


def pid_run(case: FakeCase, factory: Any) -> FakeResult:
    """`fake_run`, naming the process that ran the case."""
    return FakeResult(case, fake_run(case, factory).status, f"pid {os.getpid()}")


PIDS = caserun.CaseKind("pids", pid_run, fake_died, fake_codes)


def _by_process(cases: list[FakeCase], **spec: Any) -> tuple[list[tuple[str, str]], set[str]]:
    """(case id, status) in id order and the processes that ran them, on 2 workers (the first
    three cases one batch, the rest another)."""
    run = caserun.RunSpec(PIDS, "interp", **spec)
    results = [
        r
        for batch, _ in caserun.execute_parallel([cases[:3], cases[3:]], run, 2, {})
        for r in batch
    ]
    assert sorted(r.case.id for r in results) == sorted(c.id for c in cases), "each case once"
    pids = {r.reason for r in results if r.reason.startswith("pid ")}
    return sorted((r.case.id, r.status.value) for r in results), pids


def test_a_worker_over_its_memory_bound_hands_the_rest_of_its_batch_to_a_fresh_one() -> None:
    cases = _cases("a", "bad-b", "c", "d", "e")
    unbounded, unbounded_pids = _by_process(cases)
    assert len(unbounded_pids) <= 2
    # every process is over 1 byte: each retires after one case, a fresh one runs the next
    bounded, bounded_pids = _by_process(cases, rss_limit=1)
    assert bounded == unbounded
    assert len(bounded_pids) == len(cases)
    # a bound no process reaches recycles none
    assert len(_by_process(cases, rss_limit=1 << 50)[1]) <= 2
    # a worker that dies still fails only its case when workers retire
    crashed, _ = _by_process(cases, rss_limit=1, crash_on="d")
    assert crashed == [(i, "failed" if i == "d" else s) for i, s in unbounded]


def test_the_memory_bound_from_option_environment_or_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pyevm_jit.errors import UsageError

    monkeypatch.delenv(caseworkers.RSS_LIMIT_ENV, raising=False)
    assert caseworkers.rss_limit() == caseworkers.DEFAULT_RSS_LIMIT_MB << 20
    assert caseworkers.rss_limit(0) == 0 and caseworkers.rss_limit(100) == 100 << 20
    monkeypatch.setenv(caseworkers.RSS_LIMIT_ENV, "700")
    assert caseworkers.rss_limit() == 700 << 20 and caseworkers.rss_limit(5) == 5 << 20
    for bad in ("lots", "-1", "1.5"):
        monkeypatch.setenv(caseworkers.RSS_LIMIT_ENV, bad)
        with pytest.raises(UsageError, match=caseworkers.RSS_LIMIT_ENV):
            caseworkers.rss_limit()
    with pytest.raises(UsageError, match="--worker-rss-limit"):
        caseworkers.rss_limit(-3)
    # this process's resident memory: more than the few MiB any Python has, less than the host's
    rss = caseworkers.resident_bytes()
    assert 4 << 20 < rss < os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def test_run_command_passes_the_memory_bound_to_its_workers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(caseworkers.RSS_LIMIT_ENV, raising=False)
    reports = []
    for limit in (None, 1):
        report = tmp_path / f"{limit}.json"
        status = caserun.run_command(
            PIDS,
            _cases("a", "bad-b", "c"),
            mode="interp",
            jobs=2,
            store=None,
            json_path=report,
            selection={},
            progress=False,
            worker_rss_limit=limit,
        )
        assert status == 1
        reports.append(json.loads(report.read_text())["results"])
    capsys.readouterr()
    # one case per process under a 1 MiB bound (every Python is over it), same outcomes
    assert len({r["reason"] for r in reports[1]}) == 3
    assert len({r["reason"] for r in reports[0]}) <= 2
    assert [(r["id"], r["status"]) for r in reports[0]] == [
        (r["id"], r["status"]) for r in reports[1]
    ]


def test_an_aot_worker_loads_each_artifact_on_its_first_lookup(tmp_path: Path) -> None:
    """A worker of `--mode aot` does not preload the store (a minute for 10,000 artifacts, in
    every worker): an artifact is loaded, checked and linked when its key is first looked up."""
    import io

    from eth_hash.auto import keccak
    from support import code_n, request

    from pyevm_jit.cli.aot import prepare_aot

    codes = [code_n(n) for n in range(3)]
    store_dir = str(tmp_path / "store")
    assert prepare_aot({(keccak(c), "cancun"): c for c in codes}, store_dir, io.StringIO()) == ""
    with caseworkers.make_backend("aot", store_dir) as backend:
        assert backend.stats().aot_loaded == 0 and not backend._inner.resident
        assert backend.lookup(request(codes[1])).is_compiled
        assert backend.stats().aot_loaded == 1
        assert backend.lookup(request(codes[1])).is_compiled
        assert backend.lookup(request(code_n(9))).is_compiled is False  # not in the store
        assert backend.stats().aot_loaded == 1 and backend.stats().compilations_dispatched == 0
