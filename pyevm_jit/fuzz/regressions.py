"""Divergences kept: `minimise` shrinks a diverging program by delta debugging on its bytes;
`save_regression` writes it as a fixture under `fixtures/regressions/`, which
`tests/fuzz/test_regressions.py` replays (`load_regressions`)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pyevm_jit.conformance.fixtures import REPO_ROOT
from pyevm_jit.files import atomic_write, load_json
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import disasm

# ---------------------------------------------------------------------------------------------
# Minimisation and fixtures


def diff_signature(diffs: Sequence[str]) -> frozenset[str]:
    return frozenset(line.split(":", 1)[0].split(" ")[0] for line in diffs)


def minimise(
    scenario: d.Scenario,
    check: Callable[[d.Scenario], list[str]],
    *,
    budget: int = 300,
    deadline: float | None = None,
) -> tuple[d.Scenario, list[str]]:
    """Shrink `scenario.code` by delta debugging (removing chunks of bytes, then single bytes,
    then zeroing bytes) while `check` still reports a divergence of the same kind.
    Returns the smallest scenario found and its differences."""
    original = check(scenario)
    if not original:
        return scenario, original
    want = diff_signature(original)
    best, best_diffs = scenario, original
    tries = 0

    def still_fails(candidate: bytes) -> list[str] | None:
        nonlocal tries
        tries += 1
        diffs = check(best.with_(code=candidate))
        if diffs and (diff_signature(diffs) & want):
            return diffs
        return None

    def out_of_budget() -> bool:
        return tries >= budget or (deadline is not None and time.monotonic() > deadline)

    code = best.code
    n = 2
    while len(code) >= 2 and not out_of_budget():
        chunk = max(1, len(code) // n)
        reduced = False
        for start in range(0, len(code), chunk):
            candidate = code[:start] + code[start + chunk :]
            diffs = still_fails(candidate)
            if diffs is not None:
                code, best_diffs = candidate, diffs
                best = best.with_(code=code)
                n = max(n - 1, 2)
                reduced = True
                break
            if out_of_budget():
                break
        if not reduced:
            if chunk == 1:
                break
            n = min(len(code), n * 2)
    # simplify remaining bytes: PUSH immediates towards zero
    i = 0
    while i < len(code) and not out_of_budget():
        if code[i] != 0:
            candidate = code[:i] + b"\x00" + code[i + 1 :]
            diffs = still_fails(candidate)
            if diffs is not None:
                code, best_diffs = candidate, diffs
                best = best.with_(code=code)
        i += 1
    return best, best_diffs


def regressions_dir() -> Path:
    return REPO_ROOT / "fixtures" / "regressions"


def save_regression(
    scenario: d.Scenario,
    diffs: Sequence[str],
    out_dir: Path,
    *,
    found_by: str = "",
    history: Sequence[d.Scenario] = (),
    suffix: str = ".json",
) -> Path:
    """Write a regression fixture; its name is derived from the fork and the code. `history`
    holds programs to run first in the same process (a crash that needs them)."""
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
    digest = hashlib.sha256(scenario.code + scenario.fork.encode()).hexdigest()[:12]
    path = out_dir / f"{scenario.fork}-{digest}{suffix}"
    payload: dict[str, Any] = {
        "scenario": scenario.to_json(),
        "asm": disasm(scenario.code),
        "differences": list(diffs),
        "found_by": found_by,
    }
    if history:
        payload["history"] = [h.to_json() for h in history]
    atomic_write(path, (json.dumps(payload, indent=1, sort_keys=True) + "\n").encode())
    return path


def load_history(name: str, directory: Path | None = None) -> list[d.Scenario]:
    """The programs a fixture says to run first (usually none)."""
    directory = directory if directory is not None else regressions_dir()
    data = load_json(directory / f"{name}.json")
    return [d.Scenario.from_json(h) for h in data.get("history", [])]


def load_regressions(directory: Path | None = None) -> Iterator[tuple[str, d.Scenario]]:
    directory = directory if directory is not None else regressions_dir()
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.json")):
        data = load_json(path)
        yield path.stem, d.Scenario.from_json(data["scenario"])
