"""The transaction guard: which py-evm executor family a JIT VM's executor and state classes
resolve to, and the per-call check that they still do (`lean/transaction.py`; the fingerprints
are in `lean/txpins.py`). Part of the checks of `lean/guard.py` (see its docstring), kept apart
for size."""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from eth.vm.forks.cancun import state as cancun_state
from eth.vm.forks.homestead import validation as homestead_validation
from eth.vm.forks.london import state as london_state
from eth.vm.forks.london import validation as london_validation
from eth.vm.forks.prague import state as prague_state
from eth_utils import ExtendedDebugLogger, get_extended_debug_logger

from pyevm_jit.lean import exact
from pyevm_jit.lean.guard import fingerprint
from pyevm_jit.lean.txpins import TX_PINNED

log = logging.getLogger(__name__)

# --- transactions (transaction.py) ---------------------------------------------------------------
# The lean executor stands in for py-evm's whole executor `__call__` of one family. The chains
# of definitions of every method it copies or relies on must be py-evm's, object by object, and
# every method of those chains must have the fingerprint recorded in TX_PINNED ("Class.name").
#: executor and state methods whose py-evm objects the lean path copies or relies on
EXECUTOR_NAMES = (
    "__call__",
    "validate_transaction",
    "build_evm_message",
    "build_computation",
    "finalize_computation",
    "calculate_gas_refund",
    "calc_data_floor_gas",
    "calc_data_fee",
    "calc_message_refund",
    "get_code_at_address",
)
STATE_NAMES = ("validate_transaction", "get_gas_price", "get_tip", "get_transaction_context",
               "logger")  # fmt: skip
#: module functions py-evm's validation calls by their global names (checked per call)
_GLOBALS = (
    (london_state, "validate_london_normalized_transaction"),
    (london_validation, "validate_homestead_transaction"),
    (homestead_validation, "validate_frontier_transaction"),
)


def _chain(cls: type, name: str) -> tuple[tuple[type, Any], ...]:
    """(class, raw attribute) for every class of `cls`'s MRO that defines `name`."""
    return tuple((k, k.__dict__[name]) for k in cls.__mro__ if name in k.__dict__)


def _function_of(raw: Any) -> Any:
    """The function (or property getter) behind a raw class attribute."""
    if isinstance(raw, (staticmethod, classmethod)):
        return raw.__func__
    if isinstance(raw, property):
        return raw.fget
    return raw


@dataclass(frozen=True)
class Family:
    """The py-evm classes one copy was written against."""

    name: str  # "london" (London to Shanghai), "cancun" or "prague"
    executor: type
    state: type
    #: name -> chain of (py-evm class, raw method) for the executor and the state
    executor_chains: dict[str, tuple[tuple[type, Any], ...]]
    state_chains: dict[str, tuple[tuple[type, Any], ...]]

    @property
    def cancun(self) -> bool:
        return self.name != "london"

    def fixed_checks(self) -> tuple[tuple[type, str, Any], ...]:
        """(py-evm class, name, raw method) of every link of every chain."""
        checks: list[tuple[type, str, Any]] = []
        for chains in (self.executor_chains, self.state_chains):
            for name, chain in chains.items():
                checks.extend((owner, name, raw) for owner, raw in chain)
        return tuple(checks)


def _family(name: str, executor: type, state: type) -> Family:
    return Family(
        name,
        executor,
        state,
        {n: _chain(executor, n) for n in EXECUTOR_NAMES},
        {n: _chain(state, n) for n in STATE_NAMES},
    )


def _verified(family: Family) -> bool:
    """Whether the installed py-evm's methods of `family` are the ones this copy was written
    against (the recorded fingerprints)."""
    for owner, name, raw in family.fixed_checks():
        key = f"{owner.__name__}.{name}"
        found = fingerprint(_function_of(raw))
        if key not in TX_PINNED or found != TX_PINNED[key]:
            log.debug("pyevm-jit: %s is not py-evm 0.12.1b1's (%s): no lean transactions for "
                      "the %s family", key, found, family.name)  # fmt: skip
            return False
    return True


def _families() -> tuple[Family, ...]:
    return (
        _family("london", london_state.LondonTransactionExecutor, london_state.LondonState),
        _family("cancun", cancun_state.CancunTransactionExecutor, cancun_state.CancunState),
        _family("prague", prague_state.PragueTransactionExecutor, prague_state.PragueState),
    )


def state_logger(state: Any) -> Any:
    """`BaseState.logger` of `state`: the same object eth-utils' `get_extended_debug_logger`
    returns, taken from the logging manager when it holds one of the right class."""
    name = f"eth.vm.state.{state.__class__.__name__}"
    logger = logging.Logger.manager.loggerDict.get(name)
    if type(logger) is ExtendedDebugLogger:
        return logger
    return get_extended_debug_logger(name)


# --- the transaction guard ----------------------------------------------------------------------
class TransactionGuard:
    """Checks, per call, that the executor's and the state's methods are still `family`'s.

    The classes' part of the check (every py-evm class of the chains holds the same objects,
    the executor class resolves them, the state's class resolves py-evm's chains) is one
    C-level `attrgetter` call per class and a tuple comparison; its verdict is kept per class
    while CPython's version tag of the class holds (`exact.ClassVerdicts`: a change to the
    class or to any class of its MRO -- every py-evm class of the chains is one -- moves the
    tag, and the classes are judged again). Then, on every call: the state instance sets none
    of the inlined names, and py-evm's validation functions are py-evm's."""

    def __init__(self, family: Family, executor_class: type) -> None:
        self.family = family
        names_of: dict[type, list[str]] = {}
        for owner, name, _raw in family.fixed_checks():
            names_of.setdefault(owner, []).append(name)
        # "__class__" first: the getter always returns a tuple
        self.owners = tuple(
            (owner, getter, getter(owner))
            for owner, names in names_of.items()
            for getter in (attrgetter("__class__", *names),)
        )
        executor_names = [n for n, chain in family.executor_chains.items() if chain]
        self.executor_get = attrgetter("__class__", *executor_names)
        self.executor_expected = self.executor_get(executor_class)
        state_names = [n for n, chain in family.state_chains.items() if chain]
        self.state_get = attrgetter("__class__", *state_names)
        #: state class -> what state_get gave for it when it matched py-evm's chains (weak: a
        #: state class made and dropped with its JIT VM is freed, with the computation class
        #: and frames it names)
        self.states: weakref.WeakKeyDictionary[type, tuple[Any, ...] | None] = (
            weakref.WeakKeyDictionary()
        )
        self.globals = tuple((module, name, getattr(module, name)) for module, name in _GLOBALS)
        self.instance_names = frozenset(STATE_NAMES)
        self.executor_verdicts = exact.ClassVerdicts(self.executor_holds)
        self.state_verdicts = exact.ClassVerdicts(self.state_class_holds)

    def owners_hold(self) -> bool:
        """Every py-evm class of the chains still holds the family's objects."""
        for owner, getter, expected in self.owners:
            if getter(owner) != expected:
                return False
        return True

    def executor_holds(self, executor_class: type) -> bool:
        """The class check for the executor class (the chains' owners, then its own names)."""
        return self.owners_hold() and self.executor_get(executor_class) == self.executor_expected

    def state_class_holds(self, state_class: type) -> bool:
        """The class check for a state class: the chains' owners, then the class resolves
        py-evm's chains (verified the first time it is seen) to the same objects as then."""
        if not self.owners_hold():
            return False
        expected_state = self.states.get(state_class, _UNSEEN)
        if expected_state is _UNSEEN:
            expected_state = None
            if _matches(state_class, self.family.state_chains):
                expected_state = self.state_get(state_class)
            if len(self.states) < 256:
                self.states[state_class] = expected_state
        return expected_state is not None and self.state_get(state_class) == expected_state

    def holds(self, executor_class: type, state: Any) -> bool:
        if not self.executor_verdicts.get(executor_class):
            return False
        if not self.state_verdicts.get(state.__class__):
            return False
        instance = getattr(state, "__dict__", None)
        if instance and not self.instance_names.isdisjoint(instance):
            return False
        for module, name, function in self.globals:
            if module.__dict__.get(name) is not function:
                return False
        return True


_UNSEEN: Any = object()


def _matches(cls: type, chains: dict[str, tuple[tuple[type, Any], ...]]) -> bool:
    """Whether `cls` resolves every name of `chains` to exactly that chain of py-evm methods
    (classes of its own before them define none of the names)."""
    for name, chain in chains.items():
        if tuple(raw for _, raw in _chain(cls, name)) != tuple(raw for _, raw in chain):
            return False
    return True


_VERIFIED: tuple[Family, ...] | None = None


def verified_families() -> tuple[Family, ...]:
    global _VERIFIED
    if _VERIFIED is None:
        _VERIFIED = tuple(f for f in _families() if _verified(f))
    return _VERIFIED


def family_of(executor_class: type, state_class: type) -> Family | None:
    """The family whose py-evm methods `executor_class` and `state_class` resolve to (None:
    they have their own, or the installed py-evm is not the one the copy was written for)."""
    for family in verified_families():
        if _matches(executor_class, family.executor_chains) and _matches(
            state_class, family.state_chains
        ):
            return family
    return None
