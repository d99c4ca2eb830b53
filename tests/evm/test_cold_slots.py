"""Cold cache entries (hostops.seed_storage, evm/state_path.py) against py-evm.

A message's storage cache starts with the slots of its account that the native journal's view
holds; from Berlin on the ones that are not warm yet are COLD entries, whose first native SLOAD
or SSTORE charges py-evm's cold price and whose warm mark is handed to py-evm at the next flush.
The view holds such slots when the same state already ran a message that read them and was
reverted (gas estimates, `eth_call`s, the bench's warm repetitions) or when a reverted child
read them. Each test runs the same messages on a stock VM and a JIT VM in one process, on one
state each, reverting after each run as an estimate does, and compares every run: status and
error, gas left, refund, output, the slots' values, which slots are warm, and the charges a
gas profiler sees; and it counts the SLOAD misses (suspensions) on the JIT side, so that the
native path is known to have run.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth.vm.forks.berlin.constants import COLD_SLOAD_COST
from support import count_calls, record_charges

from pyevm_jit.testing import differential as d
from pyevm_jit.testing.account import Account
from pyevm_jit.testing.assembler import AsmItem, Label, Ref, asm, return_stack
from pyevm_jit.testing.differential import CONTRACT, SENDER, Scenario

SLOTS = range(6)


@pytest.fixture
def misses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """SLOAD misses of native code (each a suspension to py-evm)."""
    from pyevm_jit.evm import hostops, run

    yield count_calls(monkeypatch, run, "run_lean_sload", hostops.run_lean_sload)


@dataclass(frozen=True)
class Run:
    status: str
    gas_remaining: int
    refund: int
    output: bytes
    storage: tuple[int, ...]
    warm: tuple[bool, ...]
    #: the slots py-evm's storage database recorded as read (its witness of accessed slots)
    accessed: tuple[int, ...]


def _message_runs(
    vm_class: type,
    scenario: Scenario,
    gases: Sequence[int],
    prewarm: Sequence[int] = (),
    commit_last: bool = False,
) -> list[Run]:
    """Each gas amount: the scenario's call as one message (`apply_message`, as the bench and
    py-evm's executor run it) on one state, reverted afterwards (the last one committed with
    `commit_last`); `prewarm`: slots marked warm before, as an access list does."""
    from eth.vm.message import Message

    state = d.build_state(scenario, vm_class)
    berlin = hasattr(state, "mark_storage_warm")
    runs = []
    for k, gas in enumerate(gases):
        snapshot = state.snapshot()
        context = state.get_transaction_context_class()(gas_price=1, origin=SENDER)
        message = Message(
            gas=gas,
            to=CONTRACT,
            sender=SENDER,
            value=0,
            data=scenario.calldata,
            code=state.get_code(CONTRACT),
        )
        if berlin:
            state.mark_address_warm(SENDER)
            state.mark_address_warm(CONTRACT)
            for slot in prewarm:
                state.mark_storage_warm(CONTRACT, slot)
        computation = state.computation_class.apply_message(state, message, context)
        status = "ok" if computation.is_success else type(computation.error).__name__
        accessed = _accessed_slots(state)
        last = k == len(gases) - 1
        runs.append(
            Run(
                status,
                computation.get_gas_remaining(),
                computation.get_gas_refund(),
                bytes(computation.output),
                # read last (a read is an access): only after the last run
                tuple(state.get_storage(CONTRACT, s) for s in SLOTS) if last else (),
                tuple(berlin and state.is_storage_warm(CONTRACT, s) for s in SLOTS),
                accessed,
            )
        )
        if commit_last and last:
            state.commit(snapshot)
        else:
            state.revert(snapshot)
    return runs


def _accessed_slots(state: Any) -> tuple[int, ...]:
    store = state._account_db._account_stores.get(CONTRACT)
    return () if store is None else tuple(sorted(store.get_accessed_slots()))


def check_runs(
    scenario: Scenario, gases: Sequence[int], prewarm: Sequence[int] = (), **kw: Any
) -> list[Run]:
    from pyevm_jit.forks import fork_vm

    stock = _message_runs(fork_vm(scenario.fork), scenario, gases, prewarm, **kw)
    jit = _message_runs(d.jit_vm_class(scenario.fork), scenario, gases, prewarm, **kw)
    assert jit == stock
    return stock


def _program(rng: random.Random) -> bytes:
    """SLOADs and SSTOREs of a few slots (values 0-2, so that net metering's every case comes
    up), their results summed and returned."""
    items: list[AsmItem] = [0]
    for _ in range(rng.randrange(2, 9)):
        slot = rng.choice(SLOTS)
        if rng.random() < 0.55:
            items += [slot, "SLOAD", "ADD"]
        else:
            items += [rng.randrange(3), slot, "SSTORE"]
    return asm(*items, *return_stack(1))


@pytest.mark.parametrize("fork", ["berlin", "london", "cancun", "prague"])
@pytest.mark.parametrize("seed", range(8))
def test_cold_and_warm_mixes(fork: str, seed: int, misses: list[int]) -> None:
    """Random reads and writes; runs after the first find their slots in the view, cold (and
    warm where an access list marked them); the last run is committed."""
    rng = random.Random(seed)
    storage = {s: rng.randrange(3) for s in SLOTS if rng.random() < 0.6}
    scenario = Scenario(code=_program(rng), fork=fork, storage=storage)
    prewarm = [s for s in SLOTS if rng.random() < 0.3]
    check_runs(scenario, [200_000], prewarm)  # compiles the program
    first = misses[0]
    check_runs(scenario, [200_000] * 3, prewarm, commit_last=True)
    # the first run of a state reads its slots from py-evm; later runs find them in the view
    assert misses[0] - first <= len(SLOTS)
    before = misses[0]
    check_runs(scenario, [200_000] * 3, prewarm)
    assert misses[0] - before <= len(SLOTS), "later runs should not miss"


def test_a_seeded_cold_slot_runs_natively(misses: list[int]) -> None:
    code = asm(1, "SLOAD", 1, "SLOAD", "ADD", 7, 1, "SSTORE", 2, "SLOAD", "ADD", *return_stack(1))
    scenario = Scenario(code=code, storage={1: 5, 2: 9})
    check_runs(scenario, [100_000])
    before = misses[0]
    runs = check_runs(scenario, [100_000] * 4)
    assert misses[0] - before == 2  # the first run's two misses; none in the three after
    assert runs[0] == replace(runs[3], storage=())  # (values read after the last run only)


@pytest.mark.parametrize("fork", ["frontier", "istanbul"])
def test_before_berlin_nothing_is_cold(fork: str, misses: list[int]) -> None:
    """Without access sets no entry is seeded: every run reads its slot from py-evm."""
    code = asm(1, "SLOAD", 3, 1, "SSTORE", *return_stack(1))
    scenario = Scenario(code=code, fork=fork, storage={1: 5})
    check_runs(scenario, [100_000])
    before = misses[0]
    check_runs(scenario, [100_000] * 3)
    assert misses[0] - before == 3


def _gas_to_reach(code: bytes, fork: str = "cancun") -> int:
    """Gas used by `code` up to the end, as py-evm charges it with everything paid."""
    scenario = Scenario(code=code, fork=fork, storage={0: 4})
    (run,) = check_runs(scenario, [1_000_000])
    return 1_000_000 - run.gas_remaining


@pytest.mark.parametrize(
    "code",
    [
        asm(0, "SLOAD", "POP", "STOP"),  # the cold read
        asm(0, "SLOAD", 0, "SSTORE", "STOP"),  # the read, then a warm no-op write
        asm(5, 0, "SSTORE", "STOP"),  # a cold write: net metering plus the cold charge
        asm(0, 0, "SSTORE", "STOP"),  # a cold clear (refund), near the 2300 sentry
        asm(4, 0, "SSTORE", "STOP"),  # a cold no-op write: the sentry and the cold charge
    ],
)
def test_gas_at_the_cold_price_boundary(code: bytes, misses: list[int]) -> None:
    """Every gas amount from what the program needs without the cold charge to past the
    EIP-2200 sentry: native code pays the cold price only when it can (else py-evm's opcode
    raises its own error), at every boundary (the cold charge, the sentry, the whole)."""
    need = _gas_to_reach(code)
    scenario = Scenario(code=code, storage={0: 4})
    before = misses[0]
    coarse = [1_000_000, *range(max(1, need - 2110), need + 2310, 13)]
    runs = check_runs(scenario, coarse)
    # every gas amount around each change of outcome, and around the cold charge
    changes = [coarse[k] for k in range(1, len(runs) - 1) if runs[k].status != runs[k + 1].status]
    fine = {g for at in [*changes, need - 2113, need - 13] for g in range(at, at + 27) if g > 0}
    runs += check_runs(scenario, sorted(fine))
    assert any(run.status == "OutOfGas" for run in runs)
    assert any(run.status == "ok" for run in runs[1:])
    assert misses[0] - before < len(runs)  # some ran natively from a cold entry


def test_warm_marks_reach_py_evm_before_a_call(misses: list[int]) -> None:
    """A cold entry warmed natively, then a call: py-evm sees the mark (the child, a
    DELEGATECALL into the same storage, reads the slot at the warm price)."""
    reader = asm(1, "SLOAD", "POP", "GAS", 0, "MSTORE", 32, 0, "RETURN")
    world = {d.CALLEE: Account(code=reader)}
    code = asm(
        1, "SLOAD", "POP",
        32, 0, 0, 0, d.addr(d.CALLEE), "GAS", "DELEGATECALL", "POP",
        0, "MLOAD", 2, "SSTORE", 1, "SLOAD", *return_stack(1),
    )  # fmt: skip
    scenario = Scenario(code=code, storage={1: 5}, accounts=world)
    check_runs(scenario, [300_000] * 3)


def test_slots_read_by_a_reverted_child_are_cold(misses: list[int]) -> None:
    """A child that read slots and reverted leaves them in the view but not warm: the next
    child of the same account (and the caller) is seeded with them cold."""
    child = [1, "SLOAD", 2, "SLOAD", "ADD", 0, "MSTORE", 32, 0, "REVERT"]
    call = [0, 0, 32, 0, 0, "ADDRESS", "GAS", "CALL", "ADD"]
    top = [0, 1, 0, "MSTORE", *call, *call, 1, "SLOAD", "ADD", 5, 2, "SSTORE", *call]
    code = asm(
        0, "CALLDATALOAD", Ref("child"), "JUMPI", *top, *return_stack(1),
        Label("child"), *child,
    )  # fmt: skip
    for fork in ("berlin", "cancun"):
        check_runs(Scenario(code=code, fork=fork, storage={1: 3, 2: 4}), [500_000] * 3)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_reverts_at_depth(depth: int, misses: list[int]) -> None:
    """A chain of self-calls, each reading and writing slots, the deepest reverting: every
    frame's seed and every warm mark as py-evm has them, in every run."""
    items: list[AsmItem] = [0, "CALLDATALOAD"]
    for k in range(depth + 1):
        items += ["DUP1", k, "EQ", Ref(f"d{k}"), "JUMPI"]
    items.append("STOP")
    for k in range(depth + 1):
        items += [Label(f"d{k}"), "POP", k % 3, "SLOAD", k + 1, (k + 1) % 3, "SSTORE"]
        if k < depth:
            items += [k + 1, 0, "MSTORE", 0, 0, 32, 0, 0, "ADDRESS", "GAS", "CALL", 100 + k]
            items += ["SSTORE", (k + 2) % 3, "SLOAD", 3, "SSTORE", "STOP"]
        else:
            items += [0, 0, "REVERT"]
    scenario = Scenario(code=asm(*items), storage={0: 1, 1: 2, 2: 0})
    check_runs(scenario, [400_000] * 3, prewarm=[2])


def test_debug2_logging(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """With the GasMeter's DEBUG2 output on, py-evm logs every charge: the JIT's messages are
    interpreted and log the same lines, cold charges among them, where a cold entry would
    otherwise have been seeded."""
    from eth.vm.gas_meter import GasMeter
    from eth_utils.logging import DEBUG2_LEVEL_NUM

    from pyevm_jit.forks import fork_vm

    code = asm(1, "SLOAD", 7, 1, "SSTORE", *return_stack(1))
    scenario = Scenario(code=code, storage={1: 5})
    check_runs(scenario, [100_000] * 2)  # compiled
    logger = GasMeter.logger
    monkeypatch.setitem(logger.__dict__, "show_debug2", True)  # a cached_property
    monkeypatch.delitem(logger.__dict__, "debug2", raising=False)  # its no-op, once off
    caplog.set_level(DEBUG2_LEVEL_NUM, logger=logger.name)
    stock = _message_runs(fork_vm("cancun"), scenario, [100_000] * 2)
    lines = [r.getMessage() for r in caplog.records if r.name == logger.name]
    caplog.clear()
    assert _message_runs(d.jit_vm_class("cancun"), scenario, [100_000] * 2) == stock
    assert [r.getMessage() for r in caplog.records if r.name == logger.name] == lines
    assert len([line for line in lines if " - 2100 -> " in line]) == 2  # a cold SLOAD per run


def test_a_patched_consume_gas_sees_every_charge(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyevm_jit.forks import fork_vm

    code = asm(1, "SLOAD", 7, 1, "SSTORE", 2, "SLOAD", *return_stack(2))
    scenario = Scenario(code=code, storage={1: 5, 2: 6})
    check_runs(scenario, [100_000] * 2)
    charges = record_charges(monkeypatch)
    stock = _message_runs(fork_vm("cancun"), scenario, [100_000] * 3)
    stock_charges, charges[:] = list(charges), []
    jit = _message_runs(d.jit_vm_class("cancun"), scenario, [100_000] * 3)
    assert jit == stock
    assert (2100, "SLOAD") in stock_charges and charges == stock_charges


@pytest.mark.parametrize("owner", ["state", "account_db"])
@pytest.mark.parametrize("method", ["is_storage_warm", "mark_storage_warm", "get_storage"])
def test_customised_storage_methods_keep_py_evm_path(
    owner: str, method: str, misses: list[int]
) -> None:
    """A state class, or an account database class, whose storage method is the user's: no
    native SLOAD or SSTORE, so nothing is seeded; the method runs as often as on py-evm."""
    from pyevm_jit.evm.vm import jit_vm
    from pyevm_jit.forks import fork_vm

    calls: list[int] = []
    vm = fork_vm("cancun")
    base = vm.get_state_class()
    owner_class = base if owner == "state" else base.account_db_class
    original = getattr(owner_class, method)

    def custom(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    if owner == "state":
        state_class = base.configure(__name__="CustomState", **{method: custom})
    else:
        db_class = type("CustomAccountDB", (owner_class,), {method: custom})
        state_class = base.configure(__name__="CustomState", account_db_class=db_class)
    stock_vm = vm.configure(__name__="CustomVM", _state_class=state_class)
    jit = jit_vm(stock_vm, d.get_backend())
    code = asm(1, "SLOAD", 7, 1, "SSTORE", 2, "SLOAD", *return_stack(2))
    scenario = Scenario(code=code, storage={1: 5, 2: 6})
    stock = _message_runs(stock_vm, scenario, [100_000] * 3)
    seen, calls[:] = len(calls), []
    before = misses[0]
    assert _message_runs(jit, scenario, [100_000] * 3) == stock
    assert seen and len(calls) == seen
    assert misses[0] - before == 2 * 3  # every SLOAD of every run left native code


def test_a_seeded_entry_follows_a_warm_mark_made_by_a_call(misses: list[int]) -> None:
    """A cold entry of the caller, then a DELEGATECALL that reads that slot (py-evm marks it
    warm): the caller's next read of it costs the warm price, as in py-evm."""
    reader = asm(1, "SLOAD", "POP", "STOP")
    world = {d.CALLEE: Account(code=reader)}
    code = asm(
        2, "SLOAD", "POP",  # a read of another slot keeps the cache in use
        0, 0, 0, 0, d.addr(d.CALLEE), "GAS", "DELEGATECALL", "POP",
        "GAS", 1, "SLOAD", "POP", "GAS", "SWAP1", "SUB", *return_stack(1),
    )  # fmt: skip
    scenario = Scenario(code=code, storage={1: 5, 2: 6}, accounts=world)
    runs = check_runs(scenario, [300_000] * 3)
    # (the scenario is the one meant: py-evm charged the warm price for the caller's read)
    assert int.from_bytes(runs[-1].output, "big") < COLD_SLOAD_COST


def test_the_hand_over_reads_every_word_shape() -> None:
    """`SlotCache.take_dirty` (limbs, one C call per word) returns the keys and values native
    code left, as 32 little-endian bytes, in the dirty list's order: words below and above
    2**64, zero, 2**256 - 1; `remember` (small words packed, others as bytes) likewise."""
    import struct

    from pyevm_jit import abi
    from pyevm_jit.evm.state_path import SlotCache

    cache = SlotCache(abi.STORAGE_CACHE)
    rng = random.Random(5)
    shapes = [0, 1 << 64, (1 << 64) - 1, (1 << 256) - 1]
    for _ in range(300):
        cache.used = True
        cache.clear()
        entries: dict[int, tuple[int, int]] = {}
        for _ in range(rng.randrange(1, 40)):
            key = rng.choice([*shapes, rng.randrange(1 << 16), rng.randrange(1 << 256)])
            value = rng.choice([*shapes, rng.randrange(1 << 64), rng.randrange(1 << 256)])
            entries[cache.layout.index(key)] = (key, value)
        for n, index in enumerate(entries):
            key, value = entries[index]
            cache.remember(key, value, value)
            assert cache.entry(key) == (value, value, 1)
            cache.view[cache.flags_at + index] = int(abi.CacheFlag.VALID | abi.CacheFlag.DIRTY)
            struct.pack_into("<i", cache.buf, cache.dirty_at + 4 * n, index)
        assert cache.take_dirty(len(entries)) == list(entries.values())
        assert all(cache.view[cache.flags_at + index] == 1 for index in entries)
