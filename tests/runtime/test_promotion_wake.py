"""A key's promotion does not wait for the next drain of the event queue (issue 26, time to
native): the miss that brings the queued events to `hot_threshold` wakes the backend thread.
The drain interval here is an hour, so only that wake can promote within the test's wait."""

from __future__ import annotations

import time

from support import WAIT, code_n, fake_backend, request, wait_until

from pyevm_jit.runtime import RuntimeTuning

_HOUR = 3600.0


def _tuning() -> RuntimeTuning:
    return RuntimeTuning(
        worker_count=0, event_drain_interval=_HOUR, hot_threshold=3, region_blocks=0
    )


def test_the_threshold_miss_wakes_the_backend_thread() -> None:
    req = request(code_n(7))
    with fake_backend(tuning=_tuning()) as backend:
        start = time.monotonic()
        for _ in range(3):
            assert not backend.lookup(req).is_compiled
        wait_until(lambda: backend.lookup(req).is_compiled, timeout=WAIT)
        assert time.monotonic() - start < _HOUR / 10
        assert backend.stats().compilations_dispatched == 1


def test_fewer_misses_than_the_threshold_promote_nothing() -> None:
    req = request(code_n(8))
    with fake_backend(tuning=_tuning()) as backend:
        for _ in range(2):
            assert not backend.lookup(req).is_compiled
        time.sleep(0.2)  # no race: nothing would promote the key within the hour
        assert backend.stats().compilations_dispatched == 0
        assert not backend.lookup(req).is_compiled  # the third miss: promoted now
        wait_until(lambda: backend.lookup(req).is_compiled, timeout=WAIT)
