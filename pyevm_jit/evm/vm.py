"""`jit_vm`: a py-evm VM class whose computations run compiled code."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from pyevm_jit.evm.computation import JitComputationMixin
from pyevm_jit.evm.frame import FramePool
from pyevm_jit.evm.plan import warn_unsupported
from pyevm_jit.lean import guard, txmessage
from pyevm_jit.lean.exact import opcode_table_differences
from pyevm_jit.lean.transaction import lean_transaction_executor

log = logging.getLogger(__name__)


def jit_computation_class(
    computation_class: type, backend: Any, fork: str, *, lean: bool = True
) -> type:
    """The fork's computation class with the native fast path in front of its message loop.

    Programs are compiled for py-evm's own opcode table of `fork`. The new class shares
    `computation_class.opcodes` (never a copy: a patch to it after `jit_vm` is the user's VM's
    behaviour), and every message checks the table it runs with: when that departs from
    py-evm's in a way compiled code would not honour, the message is interpreted (counted as
    Ineligible) and a warning says why, once.
    Replaced host and environment opcodes with py-evm's static gas run the VM's own logic,
    and a replaced storage, log or transient storage opcode turns off its native path.
    With `lean`, calls and environment words take the lean paths of `pyevm_jit.lean` where the
    table a message runs with keeps py-evm's implementations of them.
    When py-evm's `apply_computation` is not the version whose opening the JIT computation
    copies, every message runs py-evm's own method (interpreted), with one warning."""
    differences = opcode_table_differences(fork, computation_class.opcodes)  # type: ignore[attr-defined]
    unsupported = "; ".join(differences[:4]) + (" ..." if len(differences) > 4 else "")
    if differences:
        warn_unsupported(f"Jit{computation_class.__name__}", fork, unsupported)
    namespace = {
        "jit_backend": backend,
        "jit_fork": fork,
        "jit_unsupported": unsupported,
        "jit_lean": lean,
        "_jit_pool": FramePool(),
        "_jit_table_entry": None,
        "__module__": __name__,
        "__doc__": f"{computation_class.__name__} running compiled code from a JitBackend.",
    }
    if not guard.apply_computation_pinned():
        # py-evm's own method (the one the class had): its loop, the interpreter, runs
        namespace["apply_computation"] = inspect.getattr_static(
            computation_class, "apply_computation"
        )
        log.warning(
            "pyevm-jit: py-evm's apply_computation is not the one Jit%s copies (py-evm "
            "0.12.1b1): its messages are interpreted",
            computation_class.__name__,
        )
    bases = (JitComputationMixin, computation_class)
    return type(f"Jit{computation_class.__name__}", bases, namespace)


def _tuning(backend: Any) -> Any:
    tuning = getattr(getattr(backend, "config", None), "tuning", None)
    if tuning is None:
        from pyevm_jit.runtime.config import RuntimeTuning

        tuning = RuntimeTuning()
    return tuning


def jit_state_classes(state_class: type, tuning: Any) -> dict[str, type]:
    """The state class attributes `jit_vm` replaces besides the computation class: the account
    database with the read cache and the lean paths (`pyevm_jit.lean.statedb`), where the state uses
    py-evm's AccountDB (a subclass that overrides what they replace keeps its class), the
    transient storage with one undo log (`pyevm_jit.lean.statedb.transient`) where it is py-evm's
    class, and the transaction executor with the lean transaction path
    (`pyevm_jit.lean.transaction`) where its methods are py-evm's of London to Prague, or else
    with the lean `build_evm_message` (`pyevm_jit.lean.txmessage`) where that method is py-evm's."""
    from pyevm_jit.lean.statedb.accountdb import jit_account_db
    from pyevm_jit.lean.statedb.readcache import shared_read_cache
    from pyevm_jit.lean.statedb.transient import lean_transient_storage_class

    changes: dict[str, type] = {}
    read_cache = bool(getattr(tuning, "read_cache", True))
    lean = bool(getattr(tuning, "lean_messages", True))
    if read_cache or lean:
        cache = None
        if read_cache:
            entries = int(getattr(tuning, "read_cache_entries", 100_000))
            cache = shared_read_cache(entries)
        journal = bool(getattr(tuning, "native_journal", True))
        account_db = jit_account_db(state_class.account_db_class, cache, journal)  # type: ignore[attr-defined]
        if account_db is not None:
            changes["account_db_class"] = account_db
        else:
            log.info(
                "pyevm-jit: %s's account database %s is not py-evm's AccountDB: kept as it is",
                state_class.__name__,
                getattr(state_class, "account_db_class", None),
            )
        if journal:  # transient storage on one undo log, as the journal's (statedb/transient.py)
            transient = lean_transient_storage_class(
                getattr(state_class, "_transient_storage_class", None)
            )
            if transient is not None:
                changes["_transient_storage_class"] = transient
    if lean:
        executor_class = state_class.transaction_executor_class  # type: ignore[attr-defined]
        executor = lean_transaction_executor(executor_class, state_class)
        if executor is None:
            executor = txmessage.lean_executor(executor_class)
        if executor is not None:
            changes["transaction_executor_class"] = executor
    return changes


def jit_vm(vm_class: type, backend: Any) -> type:
    """Return a VM class like `vm_class` whose messages run native code on backend hits.

    Works for py-evm's fork VMs and for configured subclasses of them: the state class and
    computation class of `vm_class` are kept and extended, never replaced. The VM class keeps
    `vm_class.__name__` (tools such as eth-tester and web3 name and compare VMs by it); its
    state and computation classes are named `Jit...`.
    """
    fork = getattr(vm_class, "fork", None)
    state_class = getattr(vm_class, "_state_class", None)
    if not fork or state_class is None:
        raise TypeError(f"{vm_class!r} is not a py-evm fork VM class (no fork or state class)")
    computation_class = state_class.computation_class
    if issubclass(computation_class, JitComputationMixin):
        raise TypeError(f"{vm_class.__name__} already runs compiled code")
    tuning = _tuning(backend)
    lean = bool(getattr(tuning, "lean_messages", True))
    jit_computation = jit_computation_class(computation_class, backend, fork, lean=lean)
    changes: dict[str, Any] = {"computation_class": jit_computation}
    changes.update(jit_state_classes(state_class, tuning))
    jit_state = state_class.configure(__name__=f"Jit{state_class.__name__}", **changes)
    return vm_class.configure(__name__=vm_class.__name__, _state_class=jit_state)  # type: ignore[attr-defined]
