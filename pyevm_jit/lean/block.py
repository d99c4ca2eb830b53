"""A chain's blocks built once per header: `VM.get_block` of JIT VMs without the database reads.

py-evm's `VM.get_block` builds the VM's block from its header with the block class's
`from_header`: the block's transactions, uncles and withdrawals read back from the chain
database (trie walks) and decoded, every time a VM is made. eth-tester makes a VM and asks for
its block about 20 times per web3 transaction (the pending block for every request, the latest
block for estimates, receipts and block look-ups), so one transfer decodes the same blocks over
and over (about 25-35 us each on the CI machine).

`lean_get_block(vm_class)` gives the JIT VM a `get_block` that keeps the blocks
`from_header` built, per chain database and header, and hands a block built for an equal
header again: the same object when it is the same header object, else a copy of it with the
header asked for (the block `from_header` would build: same class, same header object, equal
transactions, uncles and withdrawals). What a header names in the database is content-addressed
(the roots of its transaction, withdrawal and uncle data) and py-evm never deletes trie nodes,
so a block once read stays what the database holds for that header. A header whose data is
missing raises `BlockNotFound` from `from_header` as before and is not kept.

It stands in only for py-evm's own objects (`pyevm_jit.lean.guard` rules): `VM.get_block` and
the block class's `from_header` must be py-evm's (identity, and the fingerprints of the
versions this was written against, in `guard.PINNED`), checked when the class is made and on
every call; a VM class or block class with its own `get_block`/`from_header`, or a method patched
later, runs as written.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from pyevm_jit.lean import guard, senders

log = logging.getLogger(__name__)

__all__ = ["lean_get_block", "lean_block_vm", "block_cache_stats"]

#: blocks kept per chain database (bounded: cleared when full)
MAX_BLOCKS = 256

_caches: weakref.WeakKeyDictionary[Any, dict[tuple[type, Any], Any]] = weakref.WeakKeyDictionary()
_counts = {"hits": 0, "copies": 0, "misses": 0, "fallbacks": 0}


def _stock_get_block(vm: Any, base: Any) -> Any:
    _counts["fallbacks"] += 1
    return base.get_block(vm)


def lean_get_block(vm_class: type) -> Any | None:
    """The `get_block` for a subclass of `vm_class` that keeps the blocks it builds, or None
    where `vm_class` does not run py-evm's own `get_block` and `from_header` (or the installed
    py-evm's are not the versions this was written against)."""
    methods = guard.pinned_block_methods()
    if methods is None:
        log.debug("pyevm-jit: py-evm's VM.get_block or from_header is not 0.12.1b1's: kept")
        return None
    pyevm_get_block, from_headers = methods
    if not guard.runs_get_block(vm_class, pyevm_get_block) or not guard.builds_blocks_with(
        getattr(vm_class, "block_class", None), from_headers
    ):
        return None
    base: Any = vm_class

    def get_block(self: Any) -> Any:
        block = self._block
        if block is not None:
            return block
        block_class = self.get_block_class()
        # what stock would run now: py-evm's get_block (not patched since) and from_header
        if not guard.runs_get_block(base, pyevm_get_block) or not guard.builds_blocks_with(
            block_class, from_headers
        ):
            return _stock_get_block(self, base)
        header = self._initial_header
        chaindb = self.chaindb
        try:
            cache = _caches.get(chaindb)
        except TypeError:  # a database object that cannot be weakly referenced
            return _stock_get_block(self, base)
        if cache is None:
            cache = _caches[chaindb] = {}
        key = (block_class, header)
        kept = cache.get(key)
        if kept is not None and type(kept.header) is type(header):
            if kept.header is header:
                _counts["hits"] += 1
                self._block = kept
                return kept
            if tuple(kept.header) == tuple(header):  # equal by value, not just by hash
                _counts["copies"] += 1
                self._block = kept.copy(header=header)
                return self._block
        _counts["misses"] += 1
        block = block_class.from_header(header=header, chaindb=chaindb)
        senders.fill(block.transactions)  # senders py-evm recovered for the same transactions
        if len(cache) >= MAX_BLOCKS:
            cache.clear()
        cache[key] = block
        self._block = block
        return block

    get_block.__qualname__ = f"{vm_class.__name__}.get_block"
    get_block.__doc__ = pyevm_get_block.__doc__
    return get_block


def lean_block_vm(vm_class: type) -> type:
    """`vm_class` configured with `lean_get_block` (same name), or `vm_class` itself where that
    does not apply."""
    get_block = lean_get_block(vm_class)
    if get_block is None:
        return vm_class
    configured: type = vm_class.configure(__name__=vm_class.__name__, get_block=get_block)  # type: ignore[attr-defined]
    return configured


def block_cache_stats() -> dict[str, int]:
    """How the lean `get_block` answered since the process started: from a kept block (`hits`),
    a copy of one for an equal header (`copies`), `from_header` (`misses`), or py-evm's own
    method because something was replaced after the class was made (`fallbacks`)."""
    return dict(_counts)
