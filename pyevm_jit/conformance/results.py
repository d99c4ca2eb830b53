"""The vocabulary of conformance results: a case's status and the counts and one-line summary of
a run, for every kind of case (state tests, blockchain tests, the case runner)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar


class CaseStatus(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    XFAIL = "xfail"  # failed, and listed in known_deviations.py
    SKIPPED = "skipped"
    UNSUPPORTED = "unsupported"  # the fork is one py-evm lacks


class NamedCase(Protocol):
    """A case of any kind: its id, the fixture file it comes from and its test's name there."""

    @property
    def id(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def name(self) -> str: ...


C = TypeVar("C", bound=NamedCase)


@dataclass
class CaseResultBase(Generic[C]):
    """What the result of every kind of case holds: the case, its status, why and how long."""

    case: C
    status: CaseStatus
    reason: str = ""
    seconds: float = 0.0

    def case_fields(self) -> dict[str, Any]:
        """What the JSON result says of the case beyond its id, file and test."""
        return {}

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.case.id,
            "file": self.case.path,
            "test": self.case.name,
            **self.case_fields(),
            "status": self.status.value,
            "reason": self.reason,
            "seconds": round(self.seconds, 4),
        }


@dataclass
class Summary:
    """Counts of results by status (of any kind of case) and the run's one-line summary."""

    counts: dict[CaseStatus, int] = field(default_factory=lambda: {s: 0 for s in CaseStatus})
    seconds: float = 0.0

    def add(self, result: CaseResultBase[Any]) -> None:
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
