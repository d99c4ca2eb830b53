"""`TablePlan`: what messages of one opcode table may do natively, checked against py-evm's table
of the fork (`table_plan`), with one warning per class and reason when they cannot."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyevm_jit.evm.state_path import StatePlan, state_plan
from pyevm_jit.lean import exact
from pyevm_jit.lean.inplace import EntryGuard, TableSnapshot
from pyevm_jit.lean.plan import NO_LEAN_PLAN, LeanPlan, lean_plan
from pyevm_jit.opcodes import ENV_OPCODES, HOST_ENV, OPCODES

if TYPE_CHECKING:
    from pyevm_jit.evm.computation import JitComputationMixin

log = logging.getLogger("pyevm_jit.evm.vm")


@dataclass(frozen=True)
class TablePlan:
    """What messages of one opcode table may do natively."""

    unsupported: str  # why compiled code cannot run them (empty: it can)
    state: StatePlan
    lean: LeanPlan = NO_LEAN_PLAN  # lean calls and environment words
    #: suffix of the fork programs are compiled for: HOST_ENV when an environment opcode of
    #: the table is not py-evm's (it runs as a host operation: `lean.exact`)
    variant: str = ""
    #: the table's entries as this plan was made for them (None: a plan of no table)
    snapshot: TableSnapshot | None = field(default=None, compare=False, repr=False)
    #: code hash -> the guard of the entries that code holds (`lean.inplace`)
    guards: dict[bytes, EntryGuard] = field(default_factory=dict, compare=False, repr=False)
    #: id(code) -> (the code object, its look-up request for this plan's fork, its guard): what
    #: a message of that code object asks before native code runs, kept for the next one
    #: (`evm.computation.JitComputationMixin._jit_program`)
    entries: dict[int, tuple[bytes, Any, EntryGuard]] = field(
        default_factory=dict, compare=False, repr=False
    )


# (computation class, reason) already warned about
_warned: set[tuple[str, str]] = set()


def _native_state_enabled(backend: Any) -> bool:
    tuning = getattr(getattr(backend, "config", None), "tuning", None)
    return bool(getattr(tuning, "native_state", True))


def table_plan(computation_class: type[JitComputationMixin], opcodes: dict[int, Any]) -> TablePlan:
    """Check `opcodes` (the table a message runs with) against the fork's py-evm table (the
    rule of `lean.exact`: native code stands in only for py-evm's exact objects)."""
    fork = computation_class.jit_fork
    # taken before the entries are judged: a change made while they are is seen by the
    # next message (`lean.inplace`)
    snapshot = TableSnapshot(opcodes)
    differences = computation_class.jit_table_differences(opcodes)
    unsupported = "; ".join(differences[:4]) + (" ..." if len(differences) > 4 else "")
    if unsupported:
        warn_unsupported(computation_class.__name__, fork, unsupported)
        return TablePlan(unsupported, StatePlan.disabled(), snapshot=snapshot)
    stock = exact.stock_table(fork)
    customised = exact.customised_opcodes(fork, opcodes)
    if customised:
        names = ", ".join(OPCODES[op].name for op in customised)
        exact.warn_customised(computation_class.__name__, f"opcodes {names}",
                              "they run as written, as host operations")  # fmt: skip
    exact_ops = exact.exact_entries(opcodes, stock)
    enabled = _native_state_enabled(computation_class.jit_backend)
    lean = lean_plan(computation_class, opcodes, computation_class.jit_lean, exact_ops)
    variant = HOST_ENV if any(op in customised for op in ENV_OPCODES) else ""
    return TablePlan("", state_plan(opcodes, stock, enabled), lean, variant, snapshot)


def warn_unsupported(name: str, fork: str, unsupported: str) -> None:
    if (name, unsupported) in _warned:
        return
    _warned.add((name, unsupported))
    log.warning(
        "pyevm-jit: %s differs from py-evm's %s opcode table (%s): its messages are interpreted",
        name,
        fork,
        unsupported,
    )
