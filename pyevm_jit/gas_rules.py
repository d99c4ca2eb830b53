"""Which state operations of an opcode table native code may answer, and by which rules.

py-evm is the oracle: a rule family is chosen by the logic function the table holds (the
very objects py-evm's fork modules define), and every constant is read from py-evm's fork
modules or from the function's own configuration. A table entry that is not one of those
objects (a user's override, a py-evm version with other logic) gets no rule: that operation
always runs py-evm's opcode.

SSTORE, by the logic function in the fork's table (py-evm):
- `eth.vm.logic.storage.sstore` (Frontier..Byzantium, Petersburg): set/reset cost, clear refund
- `constantinople.storage.sstore_eip1283` (Constantinople): net metering (EIP-1283)
- `istanbul.storage.sstore_eip2200` (Istanbul, Muir Glacier): net metering, 2300 sentry
- `berlin.logic.sstore_eip2929` (Berlin): the same with EIP-2929 costs (a cached slot is warm)
- `london.storage.sstore_eip3529` (London..Prague): the same with EIP-3529 refunds
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# opcode numbers from py-evm's `opcode_values`, where `opcodes.OPCODES` takes them from (that
# module builds `ForkSpec` from these rules, so this one cannot import it)
from eth.vm.opcode_values import LOG0, SLOAD, SSTORE, TLOAD, TSTORE


class SstoreFamily(str, enum.Enum):
    """The two ways py-evm's SSTORE logic charges and refunds (a str: compares equal to its
    value)."""

    FRONTIER = "frontier"  # eth.vm.logic.storage.sstore: set/reset cost, clear refund
    NET = "net"  # net metering (EIP-1283, EIP-2200 and their Berlin/London variants)


@dataclass(frozen=True)
class SstoreRule:
    """What py-evm's SSTORE of a fork charges and refunds for a warm slot of known value."""

    family: SstoreFamily
    static_gas: int  # the opcode's own gas_cost, charged before its logic
    sload_gas: int  # net: cost of a no-op or dirty write
    set_gas: int
    reset_gas: int
    clears_refund: int
    sentry: int | None  # fails with OutOfGas when gas left (after static gas) <= sentry
    source: str  # the py-evm object the rule was read from
    #: what the logic charges on top for a slot not yet accessed in the transaction (EIP-2929's
    #: "implicit SLOAD"; 0 for forks without access sets)
    cold_gas: int = 0


def gas_cost(opcode_fn: Any) -> int:
    fn = getattr(opcode_fn, "__wrapped__", opcode_fn)
    return int(fn.gas_cost)


def _logic(opcode_fn: Any) -> Any:
    """The logic function of a py-evm opcode, without `ensure_no_static`'s wrapper."""
    logic = getattr(opcode_fn, "logic_fn", None)
    return getattr(logic, "__wrapped__", logic)


def sstore_rule(opcodes: Mapping[int, Any]) -> SstoreRule | None:
    from eth import constants
    from eth.vm.forks.berlin import constants as berlin_constants
    from eth.vm.forks.berlin import logic as berlin
    from eth.vm.forks.constantinople import storage as constantinople
    from eth.vm.forks.istanbul import storage as istanbul
    from eth.vm.forks.london import storage as london
    from eth.vm.logic import storage

    opcode = opcodes.get(SSTORE)
    logic = _logic(opcode)
    if logic is None:
        return None
    static = getattr(getattr(opcode, "__wrapped__", opcode), "gas_cost", None)
    if not isinstance(static, int):  # not an opcode object with static gas: unknown
        return None
    if logic is storage.sstore:
        return SstoreRule(
            SstoreFamily.FRONTIER, static, 0, int(constants.GAS_SSET), int(constants.GAS_SRESET),
            int(constants.REFUND_SCLEAR), None, "eth.vm.logic.storage.sstore",
        )  # fmt: skip
    # (logic object, its NetSStoreGasSchedule, sentry from EIP-2200 on, name)
    stipend = int(constants.GAS_CALLSTIPEND)  # the literal 2300 of sstore_eip2200_generic
    known = (
        (constantinople.sstore_eip1283, constantinople.GAS_SCHEDULE_EIP1283, None,
         "constantinople.storage.sstore_eip1283"),
        (istanbul.sstore_eip2200, istanbul.GAS_SCHEDULE_EIP2200, stipend,
         "istanbul.storage.sstore_eip2200"),
        (berlin.sstore_eip2929, berlin.GAS_SCHEDULE_EIP2929, stipend,
         "berlin.logic.sstore_eip2929"),
        (london.sstore_eip3529, london.GAS_SCHEDULE_EIP3529, stipend,
         "london.storage.sstore_eip3529"),
    )  # fmt: skip
    # sstore_eip2929_generic's cold charge after net_sstore (Berlin on)
    marks_warm = (berlin.sstore_eip2929, london.sstore_eip3529)
    for fn, schedule, sentry, name in known:
        if logic is fn:
            cold = int(berlin_constants.COLD_SLOAD_COST) if fn in marks_warm else 0
            return SstoreRule(
                SstoreFamily.NET, static, int(schedule.sload_gas), int(schedule.sstore_set_gas),
                int(schedule.sstore_reset_gas), int(schedule.sstore_clears_schedule), sentry,
                name, cold,
            )  # fmt: skip
    return None


def sload_hit_cost(opcodes: Mapping[int, Any]) -> int | None:
    """What py-evm charges for an SLOAD of a slot already accessed in this frame.

    Frontier..Istanbul: the table's static cost only. Berlin on (EIP-2929): the table cost plus
    the warm read cost. Any other SLOAD logic: unknown, so no native SLOAD.
    """
    from eth.vm.forks.berlin import constants as berlin_constants
    from eth.vm.forks.berlin import logic as berlin_logic
    from eth.vm.logic import storage

    sload = opcodes.get(SLOAD)
    logic = _logic(sload)
    if logic is storage.sload:
        return gas_cost(sload)
    if logic is berlin_logic.sload_eip2929:
        return gas_cost(sload) + int(berlin_constants.WARM_STORAGE_READ_COST)
    return None


def sload_cold_cost(opcodes: Mapping[int, Any]) -> int | None:
    """What py-evm charges for an SLOAD of a slot not yet accessed in the transaction (EIP-2929:
    the table cost plus the cold read cost); None before Berlin (no access sets) or for any
    other SLOAD logic."""
    from eth.vm.forks.berlin import constants as berlin_constants
    from eth.vm.forks.berlin import logic as berlin_logic

    sload = opcodes.get(SLOAD)
    if _logic(sload) is berlin_logic.sload_eip2929:
        return gas_cost(sload) + int(berlin_constants.COLD_SLOAD_COST)
    return None


def sload_marks_warm(opcodes: Mapping[int, Any]) -> bool:
    """Whether the fork's SLOAD/SSTORE keep an access set (EIP-2929)."""
    from eth.vm.forks.berlin import logic as berlin_logic

    return _logic(opcodes.get(SLOAD)) is berlin_logic.sload_eip2929


def log_gas(opcodes: Mapping[int, Any]) -> tuple[int, int, int] | None:
    """(static, per topic, per data byte) when LOG0..LOG4 are py-evm's `log_XX` with the same
    static gas, else None."""
    from eth import constants
    from eth.vm.logic import logging

    statics = set()
    for topics in range(5):
        opcode = opcodes.get(LOG0 + topics)
        logic = _logic(opcode)
        if not (
            isinstance(logic, functools.partial)
            and logic.func is logging.log_XX
            and not logic.args
            and logic.keywords == {"topic_count": topics}
        ):
            return None
        statics.add(gas_cost(opcode))
    if len(statics) != 1:
        return None
    return statics.pop(), int(constants.GAS_LOGTOPIC), int(constants.GAS_LOGDATA)


def transient_gas(opcodes: Mapping[int, Any]) -> tuple[int, int] | None:
    """(TLOAD, TSTORE) static gas when both are py-evm's EIP-1153 logic, else None."""
    if TLOAD not in opcodes or TSTORE not in opcodes:
        return None
    from eth.vm.forks.cancun import logic as cancun

    if _logic(opcodes[TLOAD]) is not cancun.tload:
        return None
    tstore_logic = getattr(opcodes[TSTORE], "logic_fn", None)
    if tstore_logic is not cancun.tstore:  # ensure_no_static(tstore) as defined by py-evm
        return None
    return gas_cost(opcodes[TLOAD]), gas_cost(opcodes[TSTORE])
