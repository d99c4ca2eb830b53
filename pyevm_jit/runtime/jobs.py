"""The job pipeline: from a request to a resident program.

The backend thread (`backend_loop`) takes explicit commands and the lookup events of misses,
counts misses per key and promotes a key to a job at the hot threshold. A job first tries
the artifact store, else becomes a `CompileTask` for the compiler pool; the object code that
comes back is linked in this process (on the pool's thread), persisted in the store, and
made resident -- unless the backend was cleared meanwhile (the job's generation is old), in
which case it is discarded.

What compiling may cost (`runtime.budget`): before a job is dispatched its bytecode is
assessed. Code shaped to be pathological to compile is never dispatched: the key answers
Ineligible, with the reason. Otherwise the task carries its estimated cost (the pool runs cheap
jobs first) and a CPU budget the worker cannot exceed; the CPU seconds each key's compilations
cost are added up against the per-contract cap.

How a failed job counts (`CompileFailure.kind`): a failure of the compilation itself makes the
key JitFailed; a compilation over its budget makes it Ineligible (a tier-up over budget only
stops further tier-ups of that program); a transient failure (a worker that could not start,
the pool shutting down) is not remembered, and the key's next miss may try again.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyevm_jit.runtime import artifacts, budget, regions
from pyevm_jit.runtime.events import CompilationEvent
from pyevm_jit.runtime.state import (
    BackendState,
    Job,
    code_size,
    describe_key,
    insert,
    monotonic,
    sweep_idle,
)
from pyevm_jit.runtime.types import CompiledProgram, LookupRequest, ProgramKind
from pyevm_jit.runtime.usage import TIER_AOT, TIER_JIT, TIER_UP, add_compile_time
from pyevm_jit.runtime.workers import (
    BUDGET,
    COMPILE,
    TRANSIENT,
    CompileFailure,
    CompilerPool,
    CompileTask,
    InProcessPool,
)

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode

log = logging.getLogger("pyevm_jit.runtime")

#: the command that ends the backend thread
STOP = object()
#: miss counters kept for at most this many distinct keys (oldest half dropped beyond)
_MAX_TRACKED_KEYS = 1 << 16


def start_job(
    inner: BackendState,
    req: LookupRequest,
    kind: ProgramKind,
    *,
    tier_up: bool = False,
    grow: frozenset[int] | None = None,
    learned: frozenset[int] | None = None,
) -> Job | None:
    """Register (or find) the job for a key and start it. None when resident (an AOT request
    for a key resident as JIT still runs, to persist it; a tier-up runs only for a key
    resident below the tier-up level), failed, or over the pending limit."""
    key = req.key
    with inner.lock:
        if inner.closed or key in inner.failed or key in inner.ineligible:
            return None
        entry = inner.resident.get(key)
        if grow is not None:
            if entry is None or entry.program.region is None:
                return None
        elif tier_up:
            if entry is None or not entry.tier_up_at:
                return None
        elif entry is not None and not (
            kind is ProgramKind.AOT
            and entry.program.kind is ProgramKind.JIT
            and inner.config.store is not None
        ):
            return None
        job = inner.inflight.get(key)
        if job is not None:
            return job
        if len(inner.inflight) + len(inner.stale) >= inner.tuning.max_pending_jobs:
            inner.commands_dropped += 1
            return None
        job = Job(key, req.code, kind, inner.generation, tier_up)
        job.learned = learned
        if entry is not None and (grow is not None or tier_up):
            old = entry.program
            if old.region is not None and old.opt_level is not None:
                job.replaces = (old.opt_level, old.region)
        if grow is not None and entry is not None:
            job.grow = True
            job.level = entry.program.opt_level
            job.region = regions.whole_or(req.code, key.fork, grow, inner.tuning)
        elif tier_up and entry is not None and inner.config.store is None:
            # the tier-up compiles what the region has become; with a store, the whole
            # contract, which is stored and is what later runs load
            job.region = entry.program.region
        inner.inflight[key] = job
    _run_job(inner, job)
    return job


def compile_and_wait(
    inner: BackendState, req: LookupRequest, kind: ProgramKind
) -> CompiledProgram | None:
    job = start_job(inner, req, kind)
    if job is None:
        entry = inner.resident.get(req.key)
        return entry.program if entry is not None else None
    job.done.wait()
    return job.program


def _run_job(inner: BackendState, job: Job) -> None:
    replaces = job.tier_up or job.grow
    program = None if replaces else artifacts.from_store(inner, job.key, job.code)
    if program is not None:
        _complete(inner, job, program, None, None, dispatched=False)
        return
    tuning = inner.tuning
    if not replaces and (
        (job.kind is ProgramKind.JIT and (not inner.blocking or tuning.region_blocking))
        or (job.kind is ProgramKind.AOT and tuning.region_random)  # regions forced
    ):
        job.region = regions.first(job.code, job.key.fork, tuning, job.learned)
    pool = _pool_for(inner, job)
    if pool is None:
        _complete(inner, job, None, "backend not started", None, dispatched=False)
        return
    opt = _job_opt_level(inner, job)
    verdict = budget.assess(
        job.code, opt, inner.tuning.budget_policy(), inner.spent.get(job.key, 0.0)
    )
    if verdict.reason is not None:
        job.verdict = BUDGET
        _complete(inner, job, None, verdict.reason, None, dispatched=False)
        return
    task = CompileTask(
        code=job.code,
        fork=job.key.fork,
        opt_level=opt,
        code_hash=job.key.code_hash,
        keep_text=inner.config.dump_dir is not None,
        background=job.tier_up,
        cost=verdict.estimate,
        cpu_budget=verdict.budget,
        region=job.region,
    )
    with inner.lock:
        inner.dispatched += 1
    fut = pool.submit(task)
    fut.add_done_callback(lambda f: _job_done(inner, job, task, f))


def _job_done(inner: BackendState, job: Job, task: CompileTask, fut: Future[ObjectCode]) -> None:
    cfg = inner.config
    try:
        obj = fut.result()
    except CompileFailure as exc:
        job.verdict = exc.kind
        if exc.kind == BUDGET:
            _add_spent(inner, job, task.cpu_budget)
        _complete(inner, job, None, str(exc), None)
        return
    except BaseException as exc:  # noqa: BLE001
        _complete(inner, job, None, f"{type(exc).__name__}: {exc}", None)
        return
    if cfg.dump_dir is not None:
        directory = Path(cfg.dump_dir) / job.key.fork / job.key.code_hash.hex()
        try:
            from pyevm_jit.compiler.compile import dump_object

            dump_object(obj, job.code, directory)
        except Exception as exc:  # noqa: BLE001
            log.warning("pyevm-jit: cannot dump to %s: %s", directory, exc)
    t0 = monotonic()
    try:
        native = inner.linker(obj)
    except Exception as exc:  # noqa: BLE001
        _complete(inner, job, None, f"link failed: {exc}", obj)
        return
    link = monotonic() - t0
    _add_spent(inner, job, obj.timings.total)  # linked: it is object code, with its timings
    # stored only once it is known to link; a region program under a key naming its blocks
    artifacts.persist(inner, job.key, obj, len(job.code), job.region, job.replaces)
    if job.region is not None:
        native.side_exit = regions.SideExitAccount(inner, job.key, job.code, job.region)
    program = CompiledProgram(
        job.key,
        job.kind,
        native,
        code_size(native, obj.object_bytes),
        opt_level=_job_opt_level(inner, job),
        region=job.region,
    )
    _complete(inner, job, program, None, obj, link=link)


def _add_spent(inner: BackendState, job: Job, seconds: float) -> None:
    with inner.lock:
        _remember(inner.spent, job.key, inner.spent.get(job.key, 0.0) + seconds)


def _remember(table: dict[Any, Any], key: Any, value: Any) -> None:
    """Set `table[key]`, dropping the oldest half beyond `_MAX_TRACKED_KEYS` keys."""
    table[key] = value
    if len(table) > _MAX_TRACKED_KEYS:
        for old in list(itertools.islice(table, _MAX_TRACKED_KEYS // 2)):
            del table[old]


def _job_opt_level(inner: BackendState, job: Job) -> int:
    tuning = inner.tuning
    if job.grow and job.level is not None:  # a grown region keeps its program's level
        return job.level
    if job.tier_up:
        return tuning.tier_up_opt_level
    return tuning.aot_opt_level if job.kind is ProgramKind.AOT else tuning.jit_opt_level


def _complete(
    inner: BackendState,
    job: Job,
    program: CompiledProgram | None,
    error: str | None,
    obj: ObjectCode | None,
    *,
    dispatched: bool = True,
    link: float = 0.0,
) -> None:
    duration = monotonic() - job.started
    with inner.lock:
        if inner.inflight.get(job.key) is job:
            del inner.inflight[job.key]
        inner.stale.discard(job)
        if dispatched:
            inner.compile_seconds += duration
            # the key's account gets the compiler's own work and the link (the wall time above
            # also holds the queue and a worker's start-up)
            timings = getattr(obj, "timings", None)  # (a broken compiler returns anything)
            work = timings.total + link if timings is not None else duration
            tier = TIER_UP if job.tier_up else TIER_AOT if job.kind is ProgramKind.AOT else TIER_JIT
            add_compile_time(inner, job.key, tier, work)
            if program is not None:
                inner.succeeded += 1
            else:
                inner.failed_count += 1
        if job.generation != inner.generation:
            inner.discarded += 1
        elif program is not None:
            if job.tier_up:
                # swapped in; frames running the old program keep it alive until they end
                inner.tier_ups += 1
                insert(inner, program)
            elif (
                program.key not in inner.resident
                or inner.resident[program.key].program is not program
            ):
                insert(inner, program)
        elif error is not None and not inner.closed:
            if job.verdict == BUDGET:
                if job.tier_up or job.grow:
                    # the program in place stays, and is not tiered up again
                    entry = inner.resident.get(job.key)
                    if entry is not None:
                        entry.tier_up_at = 0
                else:
                    _remember(inner.ineligible, job.key, error)
            elif job.verdict == COMPILE and not job.tier_up and not job.grow:
                # a failed tier-up leaves the working program in place
                inner.failed[job.key] = error
            # TRANSIENT: nothing is known to be wrong with the contract
        inner.idle_cv.notify_all()
    if error is not None and dispatched and job.verdict != TRANSIENT:
        log.info("pyevm-jit: compilation of %s failed: %s", describe_key(job.key), error)
    elif error is not None and job.verdict == BUDGET:
        log.info("pyevm-jit: %s is interpreted: %s", describe_key(job.key), error)
    job.program = program
    job.error = error
    job.done.set()
    callback = inner.config.on_compilation
    if callback is not None and dispatched:
        timings = obj.timings if obj is not None else None
        event = CompilationEvent(
            key=job.key,
            kind=job.kind,
            duration=duration,
            success=program is not None,
            translate=timings.translate if timings else 0.0,
            optimise=timings.optimise if timings else 0.0,
            codegen=timings.codegen if timings else 0.0,
            link=link,
            error=error,
            code_len=len(job.code),
            object_len=len(obj.object_bytes) if obj is not None else 0,
            opt_level=_job_opt_level(inner, job),
            tier_up=job.tier_up,
        )
        try:
            callback(event)
        except Exception:  # noqa: BLE001
            log.exception("pyevm-jit: on_compilation callback raised")


# --- the backend thread ---------------------------------------------------------------------


def backend_loop(inner: BackendState) -> None:
    tuning = inner.tuning
    interval = max(0.001, tuning.event_drain_interval)
    next_sweep = monotonic() + max(0.001, tuning.idle_sweep_interval)
    while True:
        try:
            cmd = inner.commands.get(timeout=interval)
        except queue.Empty:
            cmd = None
        if cmd is STOP:
            inner.commands.task_done()
            return
        try:
            if cmd is not None:
                try:
                    _handle_command(inner, cmd)
                finally:
                    inner.commands.task_done()
            _drain_events(inner)
            now = monotonic()
            if inner.learning:
                _learning_overdue(inner, now)
            if now >= next_sweep:
                next_sweep = now + max(0.001, tuning.idle_sweep_interval)
                sweep_idle(inner, now)
        except Exception:  # noqa: BLE001 - the thread must survive anything
            log.exception("pyevm-jit: backend thread error")
        if inner.closed:
            return
        with inner.lock:
            inner.idle_cv.notify_all()


def _handle_command(inner: BackendState, cmd: tuple[Any, ...]) -> None:
    if cmd[0] == "compile":
        _, req, kind = cmd
        if inner.tuning.should_compile(req.code):
            start_job(inner, req, kind)
    elif cmd[0] == "drain":  # enough events queued to promote a key: drained after this
        pass
    elif cmd[0] == "tier_up":
        start_job(inner, cmd[1], ProgramKind.JIT, tier_up=True)
    elif cmd[0] == "learned":  # a learning run of a key promoted with regions on
        _, req, kind, pcs = cmd
        if inner.learning.pop(req.key, None) is not None:
            if inner.tuning.should_compile(req.code):
                start_job(inner, req, kind, learned=pcs)
        else:  # too late: its first region is compiled (or compiling); what ran grows it
            _handle_command(inner, ("grow", req, pcs))
    elif cmd[0] == "grow":
        _, req, pcs = cmd
        entry = inner.resident.get(req.key)
        region = None if entry is None else entry.program.region
        if region is not None:
            grown = regions.grown(req.code, req.key.fork, region, pcs)
            if grown != region:
                start_job(inner, req, ProgramKind.JIT, grow=grown)


#: seconds a promoted key's first region waits for its learning run (`_learn_first`)
LEARN_WAIT = 0.25


def _learn_first(inner: BackendState, req: LookupRequest, kind: ProgramKind) -> bool:
    """With regions on, a promoted key's next interpreted message records the blocks it runs
    (`evm.run.run_interpreter_learning`), and the first region is those blocks: ask for it
    (True), unless the key has no account of its own to carry the request."""
    tuning = inner.tuning
    if kind is not ProgramKind.JIT or not regions.enabled(tuning) or tuning.region_random:
        return False
    if req.key in inner.learning:
        return True
    usage = inner.usage.get(req.key)
    if usage is None or regions.first(req.code, req.key.fork, tuning) is None:
        return False  # no account to carry the request, or a code compiled whole anyway

    def learned(pcs: set[int]) -> None:
        try:
            inner.commands.put_nowait(("learned", req, kind, frozenset(pcs)))
        except queue.Full:
            inner.commands_dropped += 1

    usage.learn = learned
    inner.learning[req.key] = (req, kind, monotonic() + LEARN_WAIT)
    _prepare_linker(inner)
    return True


def _learning_overdue(inner: BackendState, now: float) -> None:
    """Keys whose learning run has not come within `LEARN_WAIT` (no message followed the
    lookups, or it is long): their first region is what pc 0 reaches, grown later by what
    the run ran when it comes, and by side exits."""
    for key, (req, kind, deadline) in list(inner.learning.items()):
        if now >= deadline and inner.learning.pop(key, None) is not None:
            if inner.tuning.should_compile(req.code):
                start_job(inner, req, kind)


#: compilers whose warm-up (and the linker's) this process has started (`_prepare_linker`)
_prepared: set[Any] = set()
_prepared_lock = threading.Lock()


def _prepare_linker(inner: BackendState) -> None:
    """Warm this process up for its first in-process compile and link, once, on a thread of
    its own: import and start the compiler (`workers.tasks.WARM_UP`, what a compile worker
    does before it reports ready) and build the linker and runtime library (about 0.3 s of
    CPU without a store that holds it). Started when the backend sees its first lookups with
    regions on, so that it is done by the time a first region has been learned, instead of
    being paid, under the interpreter's share of the GIL, between the compile and the link."""
    if inner.linker_prepared or inner.config.linker is not None:
        return
    inner.linker_prepared = True
    with _prepared_lock:  # once per process and compiler, whatever the number of backends
        if inner.compiler in _prepared:
            return
        _prepared.add(inner.compiler)
    from pyevm_jit.compiler.link import prepare_linker
    from pyevm_jit.runtime.workers.tasks import WARM_UP

    warm_up = WARM_UP.get(inner.compiler)

    def prepare() -> None:
        try:
            if warm_up is not None:
                warm_up()
            prepare_linker()
        except Exception as exc:  # noqa: BLE001 - the first compile or link reports it again
            log.debug("pyevm-jit: cannot prepare the compiler or linker: %s", exc)

    threading.Thread(target=prepare, name="pyevm-jit-linker", daemon=True).start()


def _pool_for(inner: BackendState, job: Job) -> CompilerPool | None:
    """The process's own compile thread for a small region while the worker processes are
    what `pool` is (their start-up alone takes longer than such a compilation); else `pool`."""
    pool = inner.pool
    limit = inner.tuning.region_local_blocks
    if (
        pool is None
        or job.region is None
        or job.tier_up
        or len(job.region) > limit
        or inner.tuning.worker_count == 0
    ):
        return pool
    with inner.lock:
        if inner.local_pool is None and not inner.closed:
            inner.local_pool = InProcessPool(inner.compiler, name="pyevm-jit-regions")
        return inner.local_pool or pool


def _earned(inner: BackendState, req: LookupRequest) -> bool:
    """Whether interpreting the key has cost enough to promote it whatever its miss count:
    `hot_seconds_per_kib` seconds of interpretation per KiB of code (0: never)."""
    per_kib = inner.tuning.hot_seconds_per_kib
    if per_kib <= 0:
        return False
    usage = inner.usage.get(req.key)
    return usage is not None and usage.interpreted_seconds >= per_kib * len(req.code) / 1024


def prepare_for_regions(inner: BackendState) -> None:
    """Warm the compiler and linker up in the background (`_prepare_linker`) when this backend
    will compile regions in this process: promoting in the background with regions on. Called
    when the backend starts, so that the work (0.1-0.2 s of CPU with the runtime library
    cached, about 0.45 s without) is done before the first promotion instead of delaying it."""
    if (
        not inner.linker_prepared
        and inner.config.promote_hot
        and not inner.config.aot
        and not inner.blocking
        and regions.enabled(inner.tuning)
    ):
        _prepare_linker(inner)


def _drain_events(inner: BackendState) -> None:
    events = inner.events
    if events:
        prepare_for_regions(inner)  # in-process region compiles are coming
    threshold = max(1, inner.tuning.hot_threshold)
    kind = ProgramKind.AOT if inner.config.aot else ProgramKind.JIT
    counts = inner.miss_counts
    promote = inner.config.promote_hot
    for _ in range(max(1, inner.tuning.events_per_wakeup)):
        try:
            req = events.popleft()
        except IndexError:
            return
        key = req.key
        if (
            key in inner.resident
            or key in inner.failed
            or key in inner.ineligible
            or key in inner.inflight
        ):
            continue
        if not promote:
            continue
        seen = counts.get(key, 0) + 1
        if seen >= threshold or _earned(inner, req):
            counts.pop(key, None)
            if not _learn_first(inner, req, kind):
                start_job(inner, req, kind)
        else:
            counts[key] = seen
            if len(counts) > _MAX_TRACKED_KEYS:
                for old in list(itertools.islice(counts, _MAX_TRACKED_KEYS // 2)):
                    del counts[old]
