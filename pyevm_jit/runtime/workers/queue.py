"""The queue of waiting compile jobs, in the order they run, and what both pools do with it
(`QueuedPool`: submit, close once, fail what never ran)."""

from __future__ import annotations

import heapq
import itertools
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING

from pyevm_jit.runtime.workers.tasks import CompileTask, shut_down

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode


class TaskQueue:
    """Waiting jobs: first compilations before tier-ups, retries first, then cheapest first
    (ties in submission order)."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, float, int, CompileTask, Future[ObjectCode]]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, task: CompileTask, fut: Future[ObjectCode], *, retry: bool = False) -> None:
        item = (int(task.background), 0 if retry else 1, task.cost, next(self._seq), task, fut)
        heapq.heappush(self._heap, item)

    def first(self, *, light_only: bool = False) -> CompileTask | None:
        """The next job (the next light one with `light_only`), left in the queue."""
        if not light_only:
            return self._heap[0][4] if self._heap else None
        lights = [item for item in self._heap if not item[4].heavy]
        return min(lights)[4] if lights else None

    def take(self, task: CompileTask) -> tuple[CompileTask, Future[ObjectCode]]:
        """Remove the job of `task` (as returned by `first`)."""
        if self._heap[0][4] is task:
            item = heapq.heappop(self._heap)
        else:
            index = next(i for i, item in enumerate(self._heap) if item[4] is task)
            item = self._heap.pop(index)
            heapq.heapify(self._heap)
        return item[4], item[5]

    def pop(self) -> tuple[CompileTask, Future[ObjectCode]]:
        item = heapq.heappop(self._heap)
        return item[4], item[5]

    def drain(self) -> list[tuple[CompileTask, Future[ObjectCode]]]:
        items = [(item[4], item[5]) for item in sorted(self._heap)]
        self._heap.clear()
        return items


class QueuedPool:
    """What both pools share: the queue of waiting jobs under one condition (`_lock`), closed
    once. A pool wakes its dispatcher in `_wake` (called after a job is queued or the pool is
    closed, outside the lock)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._queue = TaskQueue()
        self._closed = False

    def _wake(self) -> None:
        raise NotImplementedError

    def submit(self, task: CompileTask) -> Future[ObjectCode]:
        fut: Future[ObjectCode] = Future()
        with self._lock:
            if self._closed:
                fut.set_exception(shut_down())
                return fut
            self._queue.push(task, fut)
        self._wake()
        return fut

    def _close(self) -> list[tuple[CompileTask, Future[ObjectCode]]] | None:
        """Close the pool: the jobs that were waiting (None when it was closed already)."""
        with self._lock:
            if self._closed:
                return None
            self._closed = True
            pending = self._queue.drain()
        self._wake()
        return pending

    @staticmethod
    def _fail_pending(pending: list[tuple[CompileTask, Future[ObjectCode]]]) -> None:
        """Fail the jobs a closed pool never ran."""
        for _task, fut in pending:
            if fut.set_running_or_notify_cancel():
                fut.set_exception(shut_down())
            elif not fut.done():  # a retry waiting in the queue was already running
                fut.set_exception(shut_down())
