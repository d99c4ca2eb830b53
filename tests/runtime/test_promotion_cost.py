"""Promotion by cost (`RuntimeTuning.hot_seconds_per_kib`, docs/regions.md): a key whose
interpreted messages took long enough for its code size is compiled at its next miss, whatever
its miss count; without the setting only the count promotes."""

from __future__ import annotations

from support import WAIT, code_n, fake_backend, request, wait_until

from pyevm_jit.runtime import JitBackend, LookupRequest, RuntimeTuning


def _tuning(per_kib: float) -> RuntimeTuning:
    return RuntimeTuning(
        worker_count=0, event_drain_interval=0.01, hot_threshold=1000, hot_seconds_per_kib=per_kib
    )


def _misses_after(backend: JitBackend, req: LookupRequest, seconds: float, n: int) -> None:
    """The key's interpreted messages took `seconds`; then `n` of its lookups miss."""
    backend.usage(req.key).add_interpreted_time(seconds)
    for _ in range(n):
        assert not backend.lookup(req).is_compiled
        assert backend.wait_idle(WAIT)


def test_expensive_key_is_promoted_after_its_cost() -> None:
    req = request(code_n(1))  # 5 bytes: 0.1 s/KiB asks for about 0.5 ms
    with fake_backend(tuning=_tuning(0.1)) as backend:
        _misses_after(backend, req, 0.01, 1)  # one miss
        wait_until(lambda: backend.lookup(req).is_compiled)


def test_cheap_key_waits_for_the_count() -> None:
    req = request(code_n(2))
    with fake_backend(tuning=_tuning(0.1)) as backend:
        _misses_after(backend, req, 0.0001, 2)  # below 0.1 s/KiB * 5 bytes
        assert not backend.lookup(req).is_compiled


def test_cost_rule_is_off_by_default() -> None:
    req = request(code_n(3))
    with fake_backend(tuning=_tuning(0.0)) as backend:
        _misses_after(backend, req, 100.0, 2)
        assert not backend.lookup(req).is_compiled
