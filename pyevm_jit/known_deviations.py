"""Known deviations of stock py-evm (0.12) from the Ethereum state tests.

Every entry is a case where py-evm's own interpreter disagrees with the fixture, so no VM class
built on it can pass. Such cases are reported as expected failures (xfail), never as passes; a
listed case that passes is reported as a failure so that this list stays exact.

Keys are case ids `<file relative to GeneralStateTests>::<test>::<fork>::<index>`; a key may
stop after the test (`<file>::<test>`) or the fork to cover all its cases. Each value says what
differs and why.
"""

from __future__ import annotations

KNOWN_DEVIATIONS: dict[str, str] = {}


def deviation_reason(case_id: str) -> str | None:
    """Why `case_id` is a known py-evm deviation, or None when it is not one."""
    reason = KNOWN_DEVIATIONS.get(case_id)
    if reason is not None:
        return reason
    parts = case_id.split("::")
    for cut in (3, 2):
        if len(parts) > cut:
            reason = KNOWN_DEVIATIONS.get("::".join(parts[:cut]))
            if reason is not None:
                return reason
    return None
