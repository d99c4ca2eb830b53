"""`--cluster` (issue 28): the cases of a command on a Dask cluster give the same per-case
results as `--jobs`, and a worker that dies loses no case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed", reason="the [cluster] extra (dask[distributed]) is absent")

#: a subset of the bundled sample: every Cancun case of the arithmetic files named add*
SUBSET = ["--fork", "Cancun", "-k", "vmArithmeticTest/add"]


def _run(tmp_path: Path, name: str, *args: str, env: dict[str, str] | None = None) -> Any:
    report = tmp_path / f"{name}.json"
    done = subprocess.run(
        [sys.executable, "-m", "pyevm_jit.cli", "statetest", *SUBSET, "--no-progress"]
        + ["--json", str(report), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
        cwd=tmp_path,
    )
    assert done.returncode in (0, 1), done.stderr
    return json.loads(report.read_text()), done


def _per_case(document: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in document["results"]]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The subset's results in one process (the quickest baseline; shared by the tests)."""
    return _run(tmp_path_factory.mktemp("clean"), "clean")[0]


@pytest.mark.timeout(900)
def test_a_local_cluster_gives_the_results_of_jobs(tmp_path: Path) -> None:
    jobs, _ = _run(tmp_path, "jobs", "--mode", "jit", "--jobs", "2")
    cluster, _ = _run(tmp_path, "cluster", "--mode", "jit", "--cluster", "local:2")
    assert len(jobs["results"]) >= 8
    assert _per_case(cluster) == _per_case(jobs)
    assert cluster["cluster"] == "local:2" and cluster["not_run"] == 0
    # the native work happened on the workers, and was reported back
    assert cluster["native"]["lookup_hits"] == jobs["native"]["lookup_hits"] > 0


@pytest.mark.timeout(300)
def test_a_case_that_kills_its_workers_is_a_failure_and_no_case_is_lost(
    tmp_path: Path, clean: Any
) -> None:
    """A case that kills its case-runner process (exit 70, injected) takes no Dask worker down:
    it is run once more, alone, and after a second death reported as failed; every other case
    of the run, the rest of its batch included, gives its --jobs result."""
    victim = clean["results"][len(clean["results"]) // 2]["id"]
    crashed, done = _run(
        tmp_path, "crashed", "--cluster", "local:2", env={"PYEVM_JIT_TEST_CRASH_ON": victim}
    )
    assert [r["id"] for r in crashed["results"]] == [r["id"] for r in clean["results"]]
    failed = [r for r in crashed["results"] if r["status"] == "failed"]
    assert [r["id"] for r in failed] == [victim]
    assert "worker processes died running this case (exit codes 70, 70;" in failed[0]["reason"]
    assert f"FAIL {victim}: " in done.stderr
    expected = [r for r in _per_case(clean) if r["id"] != victim]
    assert [r for r in _per_case(crashed) if r["id"] != victim] == expected


@pytest.mark.timeout(300)
def test_a_batch_lost_with_its_worker_is_split_to_name_the_case(tmp_path: Path, clean: Any) -> None:
    """A case that kills the Dask worker process itself (injected: the worker exits when it is
    given a batch with that case) loses its batch twice: the batch is then run again split
    into single cases, and the case that killed the workers twice more is reported as failed;
    every other case, its batch's included, gives its --jobs result."""
    from pyevm_jit.cli.cluster import KILL_WORKER_ON_ENV

    ids = [r["id"] for r in clean["results"]]
    files = [i.split("::")[0] for i in ids]
    # the first case of a file with more cases: its batch (cases of one file) has others
    victim = next(
        ids[n] for n, f in enumerate(files) if files.count(f) > 1 and (n == 0 or files[n - 1] != f)
    )
    crashed, _ = _run(tmp_path, "killed", "--cluster", "local:2", env={KILL_WORKER_ON_ENV: victim})
    assert [r["id"] for r in crashed["results"]] == ids
    failed = [r for r in crashed["results"] if r["status"] == "failed"]
    assert [r["id"] for r in failed] == [victim]
    assert "Dask worker processes died running this case" in failed[0]["reason"]
    expected = [r for r in _per_case(clean) if r["id"] != victim]
    assert [r for r in _per_case(crashed) if r["id"] != victim] == expected


@pytest.mark.parametrize("bad", ["local:0", "local:x", "two words"])
def test_a_bad_cluster_address_is_one_line(tmp_path: Path, bad: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pyevm_jit.cli", "statetest", "--cluster", bad],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--cluster" in done.stderr


def test_a_cluster_without_workers_ends_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's wait for finished tasks is bounded: a cluster that has had no worker for
    NO_WORKERS_TIMEOUT seconds ends it (the run then reports its cases not run), while a
    cluster with workers is waited for."""
    from pyevm_jit.cli import cluster

    class NeverDone:
        def is_empty(self) -> bool:
            return False

        def has_ready(self) -> bool:
            return False

    class Client:
        workers: dict[str, int] = {"tcp://a": 1}
        asked = 0

        def nthreads(self) -> dict[str, int]:
            Client.asked += 1
            if Client.asked > 3:
                Client.workers = {}  # the cluster loses its workers
            return Client.workers

    monkeypatch.setattr(cluster, "NO_WORKERS_TIMEOUT", 0.3)
    monkeypatch.setattr(cluster, "_WORKER_CHECK", 0.05)
    watch = cluster.Watch(Client(), [], done=NeverDone())
    assert watch.next() is None
    assert Client.asked > 3 and not Client.workers


def test_batches_go_out_whole_and_a_lost_one_comes_back_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The client's side, with a stand-in for Dask: one task per batch, the results of each
    task yielded as it finishes; a batch whose workers were killed (KilledWorker) is sent
    again as single cases, and the one case whose task is killed again is reported as
    failed, naming it, while its batch's other cases give their results."""
    import distributed

    from pyevm_jit.cli import cluster

    class Case:
        def __init__(self, name: str) -> None:
            self.id = name

    class Future:
        def __init__(self, batch: list[Case]) -> None:
            killed = any(case.id == "b2" for case in batch)
            self.status = "error" if killed else "finished"
            self.batch = batch

        def result(self) -> Any:
            return [f"ok {case.id}" for case in self.batch], [], "tcp://w", {}

        def exception(self) -> BaseException:
            return distributed.KilledWorker("task", None, 1)

    class Client:
        submitted: list[list[str]] = []

        def submit(self, function: Any, batch: list[Case], *args: Any, **kwargs: Any) -> Any:
            assert function is cluster.run_task
            Client.submitted.append([case.id for case in batch])
            return Future(batch)

        def nthreads(self) -> dict[str, int]:
            return {"tcp://w": 1}

    class Watch:
        def __init__(self, client: Any, futures: Any) -> None:
            self.queue = list(futures)

        def add(self, future: Any) -> None:
            self.queue.append(future)

        def next(self) -> Any:
            return self.queue.pop(0) if self.queue else None

    class Session:
        def client(self) -> Client:
            return Client()

        def plugin_for(self, spec: Any, start_runner: Any) -> str:
            return "plugin"

    class Kind:
        @staticmethod
        def died(case: Case, reason: str) -> str:
            return f"failed {case.id}: {reason}"

    class Spec:
        kind = Kind

    monkeypatch.setattr(cluster, "Watch", Watch)
    batches = [[Case("a1"), Case("a2")], [Case("b1"), Case("b2"), Case("b3")], [Case("c1")]]
    answers = [
        results
        for results, _ in cluster.execute_on_cluster(
            batches, Spec, "local:2", {}, start_runner=lambda spec: None, session=Session()
        )
    ]
    assert Client.submitted == [["a1", "a2"], ["b1", "b2", "b3"], ["c1"], ["b1"], ["b2"], ["b3"]]
    assert answers[:2] == [["ok a1", "ok a2"], ["ok c1"]]
    assert sorted(r for results in answers[2:] for r in results) == [
        "failed b2: Dask worker processes died running this case (each time it was retried)",
        "ok b1",
        "ok b3",
    ]
