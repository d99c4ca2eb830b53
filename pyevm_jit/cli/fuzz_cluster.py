"""`pyevm-jit fuzz --cluster ADDRESS|local:N`: the differential fuzzer on a Dask cluster.

The run is cut into shards, one task each, as many at a time as the cluster has task threads:
a shard is `fuzz_isolated` on the worker that got it (the fuzz loop in a worker process there,
so a JIT crash costs no Dask worker) with a seed of its own (shard k: `--seed` + k * 7,777,777;
shard 0 makes the programs a local run of that seed makes), for at most `SHARD_SECONDS` or
what is left of `--seconds`, and its share of `--max-programs`. Divergences are minimised on
the worker, and come back with the shard: their fixtures are saved under `--out` here, as a
local run saves them. A shard that fails (its worker lost twice) is reported and not repeated.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyevm_jit.cli.cluster import Watch, client_for, thread_count
from pyevm_jit.files import atomic_write
from pyevm_jit.fuzz import FuzzPlan, FuzzReport, fuzz_isolated
from pyevm_jit.fuzz.isolated import _merge_report, _report_to_json

#: seconds of one shard at most (a lost shard loses no more; results come back this often)
SHARD_SECONDS = 120.0
#: the seeds of two shards differ by this
SEED_STRIDE = 7_777_777
#: a shard shorter than this is not started
MIN_SHARD_SECONDS = 5.0


@dataclass(frozen=True)
class Shard:
    number: int
    plan: FuzzPlan  # its seed, seconds and programs (its out_dir is the client's)
    crash_minimise_budget: int


#: a shard's answer: its report (as `fuzz.isolated` writes it), the fixtures it saved (file
#: name, bytes) and its supervisor's lines
ShardResult = tuple[dict[str, Any], list[tuple[str, bytes]], str]


def run_shard(shard: Shard) -> ShardResult:
    """A task: one shard of the run on this worker; its fixtures and its lines are sent back
    (the fuzz processes on the worker write nothing to the worker's terminal: the command's
    own lines are the only display)."""
    log = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="pyevm-jit-fuzz-shard-") as tmp:
        report = fuzz_isolated(
            dataclasses.replace(shard.plan, out_dir=Path(tmp)),
            stream=log,
            crash_minimise_budget=shard.crash_minimise_budget,
            quiet_workers=True,
        )
        fixtures = [(path.name, path.read_bytes()) for path in report.fixtures if path.is_file()]
    return _report_to_json(report), fixtures, log.getvalue()


def fuzz_on_cluster(
    address: str, plan: FuzzPlan, *, crash_minimise_budget: int = 30, stream: Any = None
) -> FuzzReport:
    """The fuzz run `plan` on the cluster (see the module doc)."""
    stream = stream if stream is not None else sys.stderr
    seconds, seed, max_programs, out_dir = plan.seconds, plan.seed, plan.max_programs, plan.out_dir
    total = FuzzReport(forks=tuple(plan.forks))
    start = time.monotonic()
    deadline = start + seconds
    with client_for(address) as client:
        threads = thread_count(client)
        share = None if max_programs is None else math.ceil(max_programs / threads)
        assigned = 0
        numbers = itertools.count()
        futures: dict[Any, Shard] = {}
        watch = Watch(client, ())

        def submit() -> bool:
            nonlocal assigned
            left = deadline - time.monotonic()
            if left < MIN_SHARD_SECONDS and assigned:
                return False
            programs = None
            if max_programs is not None and share is not None:
                programs = min(share, max_programs - assigned)
                if programs <= 0:
                    return False
            assigned += programs or 1
            number = next(numbers)
            shard_plan = dataclasses.replace(
                plan,
                seed=seed + number * SEED_STRIDE,
                seconds=max(1.0, min(SHARD_SECONDS, left)),
                max_programs=programs,
            )
            shard = Shard(number, shard_plan, crash_minimise_budget)
            future = client.submit(run_shard, shard, pure=False)
            futures[future] = shard
            watch.add(future)
            return True

        while len(futures) < threads and submit():
            pass
        while (future := watch.next()) is not None:
            shard = futures.pop(future)
            if future.status == "finished":
                data, fixtures, lines = future.result()
                for line in lines.splitlines():
                    # not the lines naming the worker's paths: the fixtures are saved here
                    if line.strip() and " -> " not in line:
                        print(f"shard {shard.number}: {line.strip()}", file=stream)
                saved = _save(fixtures, out_dir)
                data["fixtures"] = [str(path) for path, _ in saved]
                _merge_report(total, data)
                for path, first in saved:
                    print(f"shard {shard.number}: divergence: {first} -> {path}", file=stream)
                print(
                    f"shard {shard.number} (seed {shard.plan.seed}): {data['programs']} programs, "
                    f"{data['divergences']} divergences; {total.programs} programs in all",
                    file=stream,
                    flush=True,
                )
            else:
                error = future.exception() if future.status == "error" else future.status
                print(f"shard {shard.number} (seed {shard.plan.seed}) failed: {error}", file=stream)
            while len(futures) < threads and submit():
                pass
        for shard in futures.values():
            print(f"shard {shard.number}: not run (the cluster had no worker)", file=stream)
    total.seconds = time.monotonic() - start
    return total


def _save(fixtures: list[tuple[str, bytes]], out_dir: Path) -> list[tuple[Path, str]]:
    """A shard's fixtures under `out_dir` (where a local run saves them), with the first
    difference each records."""
    saved = []
    for name, data in fixtures:
        path = out_dir / Path(name).name
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
        try:
            first = str(json.loads(data)["differences"][0])
        except (ValueError, KeyError, IndexError, TypeError):
            first = "(see the fixture)"
        saved.append((path, first))
    return saved
