"""The vocabulary of conformance results: a case's status and the counts and one-line summary of
a run, for every kind of case (state tests, blockchain tests, the case runner)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class CaseStatus(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    XFAIL = "xfail"  # failed, and listed in known_deviations.py
    SKIPPED = "skipped"
    UNSUPPORTED = "unsupported"  # the fork is one py-evm lacks


class HasStatus(Protocol):
    """A result of any kind of case (state test, blockchain test)."""

    @property
    def status(self) -> CaseStatus: ...


@dataclass
class Summary:
    """Counts of results by status (of any kind of case) and the run's one-line summary."""

    counts: dict[CaseStatus, int] = field(default_factory=lambda: {s: 0 for s in CaseStatus})
    seconds: float = 0.0

    def add(self, result: HasStatus) -> None:
        self.counts[result.status] += 1

    @property
    def failed(self) -> int:
        return self.counts[CaseStatus.FAILED]

    @property
    def passed(self) -> int:
        return self.counts[CaseStatus.PASSED]

    def line(self) -> str:
        text = f"{self.passed} passed, {self.failed} failed"
        extras = [
            (CaseStatus.XFAIL, "expected failures"),
            (CaseStatus.SKIPPED, "skipped"),
            (CaseStatus.UNSUPPORTED, "unsupported"),
        ]
        for status, label in extras:
            if self.counts[status]:
                text += f", {self.counts[status]} {label}"
        return f"{text} in {self.seconds:.1f}s"
