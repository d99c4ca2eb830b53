"""Replays every minimised divergence saved by `pyevm-jit fuzz` (fixtures/regressions/*.json)
and hand-written ones: each must now give the stock interpreter's outcome, natively."""

from __future__ import annotations

import json

import pytest

from pyevm_jit import fuzz
from pyevm_jit.testing import differential as d

CASES = list(fuzz.load_regressions())


def _crashed(name: str) -> bool:
    data = json.loads((fuzz.regressions_dir() / f"{name}.json").read_text())
    return any(line.startswith("crash") for line in data.get("differences", []))


@pytest.mark.parametrize("name,scenario", CASES, ids=[c[0] for c in CASES])
def test_regression(name: str, scenario: d.Scenario) -> None:
    if _crashed(name):
        # it once killed the process: replay it in a fresh one, so that a crash fails this test
        # instead of ending the whole run
        diffs = fuzz.replay_in_subprocess(scenario, history=fuzz.load_history(name))
        assert not diffs, d.describe(scenario, diffs)
    else:
        d.check(scenario)


def test_fixtures_are_well_formed() -> None:
    assert fuzz.regressions_dir().is_dir()
    for path in sorted(fuzz.regressions_dir().glob("*.json")):
        data = json.loads(path.read_text())
        scenario = d.Scenario.from_json(data["scenario"])
        assert scenario.to_json() == d.Scenario.from_json(scenario.to_json()).to_json()
        assert data.get("differences"), f"{path.name}: no recorded difference"
        # the stock interpreter must run it (the fixture is a valid transaction)
        assert d.run_stock(scenario).status != "crash", path.name
