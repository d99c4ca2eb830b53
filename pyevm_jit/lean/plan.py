"""The lean paths a message may take with its opcode table (`LeanPlan`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyevm_jit.lean.calls import ParamsReader, lean_calls
from pyevm_jit.lean.env import EnvGetter, environment_getters
from pyevm_jit.lean.sload import lean_sload
from pyevm_jit.opcodes import ENV_SLOT, SLOAD


@dataclass(frozen=True)
class LeanPlan:
    """The lean paths a message may take with its opcode table (checked per table, like the
    rest of the computation's `TablePlan`: a table patched after `jit_vm` gets a new plan)."""

    calls: dict[int, ParamsReader]
    env: dict[int, EnvGetter]
    #: a SLOAD miss may go through `sload.sload` (which checks the table's opcode on each call)
    sload: bool = False


NO_LEAN_PLAN = LeanPlan({}, {})


def lean_plan(
    computation_class: type, opcodes: Any, enabled: bool, exact: frozenset[int]
) -> LeanPlan:
    """The lean paths for a table whose entries for the opcodes `exact` are py-evm's exact
    objects (`lean.exact`)."""
    if not enabled:
        return NO_LEAN_PLAN
    return LeanPlan(
        lean_calls(computation_class, opcodes, exact),
        environment_getters(opcodes, ENV_SLOT, exact),
        SLOAD in exact and lean_sload(computation_class),
    )
