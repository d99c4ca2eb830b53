"""Native LOG records handed to py-evm in bulk (`evm/log_records.py`, docs/journal.md).

py-evm sees logs as the tuples in each computation's `_log_entries` (counter, address, topics,
data), numbered by the transaction context's counter across the message tree; these tests
compare exactly that (values and types, children and reverted children included) between JIT
VMs and stock VMs in the same process, and the buffer reader against the records written."""

from __future__ import annotations

import itertools
import random
import struct
from typing import Any

import pytest
from eth.vm.forks import CancunVM
from support import count_calls

from pyevm_jit import abi
from pyevm_jit.evm import log_records
from pyevm_jit.evm.vm import jit_vm
from pyevm_jit.forks import FORK_VMS
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import Label, Ref, asm

LOGGER = d._addr("ca11ee10")  # logs calldata[0] times (LOG2), returns
LOG_REVERTER = d._addr("ca11ee11")  # logs twice, then reverts


# --- the buffer reader, on buffers laid out as native code writes them ------------------------
def encode(records: list[tuple[tuple[int, ...], bytes]]) -> bytes:
    out = bytearray()
    for topics, data in records:
        padded = data + bytes(-len(data) % 8)
        size = abi.LOG_RECORD_HEADER + 32 * len(topics) + len(padded)
        out += struct.pack("<3q", size, len(topics), len(data))
        for topic in topics:
            out += topic.to_bytes(32, "little")
        out += padded
    return bytes(out)


def random_records(rng: random.Random) -> list[tuple[tuple[int, ...], bytes]]:
    out: list[tuple[tuple[int, ...], bytes]] = []
    for _ in range(rng.randint(1, 12)):
        count = rng.choice((1, 1, 2, 3, 40))
        topics = rng.randint(0, 4)
        size = rng.choice((0, 1, 7, 8, 9, 32, 33, 200))
        for _ in range(count):
            words = tuple(
                rng.choice((0, 1, 2**256 - 1, rng.getrandbits(256))) for _ in range(topics)
            )
            out.append((words, rng.randbytes(size)))
    return out


FIXED: dict[int, list[tuple[tuple[int, ...], bytes]]] = {
    0: [((1, 2, 3), b"\x07" * 32)] * 50,  # one run: read in bulk without walking the headers
    1: [((5,), b"\x01")],  # a few records: read one by one
    2: [((), b""), ((2**256 - 1, 0, 1, 2), bytes(9))],
    3: [((7,), b"ab")] * 3 + [((8,), b"abc")],  # four: in bulk, two runs
}


@pytest.mark.parametrize("seed", range(40))
def test_append_entries_reads_every_record(seed: int) -> None:
    rng = random.Random(seed)
    written = FIXED[seed] if seed in FIXED else random_records(rng)
    buf = encode(written)
    view = memoryview(bytearray(buf) + bytes(64)).cast("B")  # bytes past `used` are not read
    start = rng.randint(0, 1000)
    counter = itertools.count(start)
    entries: list[Any] = [("before",)]
    address = rng.randbytes(20)
    log_records.append_entries(entries, counter, address, view, len(buf))
    expected = [(start + i, address, topics, data) for i, (topics, data) in enumerate(written)]
    assert entries == [("before",), *expected]
    assert [type(t) for e in entries[1:] for t in e[2]] == [int] * sum(len(t) for t, _ in written)
    assert all(type(e[2]) is tuple and type(e[3]) is bytes for e in entries[1:])
    assert next(counter) == start + len(written)  # advanced once per record, no more
    assert list(log_records.records(view, len(buf))) == written


def test_shapes_kept_are_bounded() -> None:
    for size in range(3 * log_records._SHAPES_KEPT):
        buf = encode([((), bytes(size))])
        log_records.append_entries([], itertools.count(), b"", memoryview(buf), len(buf))
        assert len(log_records._SHAPES) <= log_records._SHAPES_KEPT


# --- JIT VMs against stock VMs, the same transactions -----------------------------------------
def entry_key(entry: Any) -> Any:
    counter, address, topics, data = entry
    return (type(counter), counter, type(address), bytes(address),
            type(topics), tuple((type(t), t) for t in topics), type(data), data)  # fmt: skip


def log_tree(computation: Any) -> Any:
    """What py-evm keeps of logs in a computation tree, with the types."""
    return (
        computation.is_error,
        [entry_key(e) for e in computation._log_entries],
        [log_tree(child) for child in computation.children],
        [entry_key((0, *e)) for e in computation.get_log_entries()],
    )


def apply(scenario: d.Scenario, vm_class: Any) -> Any:
    state = d.build_state(scenario, vm_class)
    return log_tree(state.apply_transaction(d.signed_transaction(scenario)))


def accounts() -> dict[bytes, d.Account]:
    logger = asm(
        0, "CALLDATALOAD", Label("top"), "DUP1", 0xF00D, 5, 3, "LOG2",
        1, "SWAP1", "SUB", "DUP1", Ref("top"), "JUMPI", "STOP",
    )  # fmt: skip
    reverter = asm(9, 0, "LOG1", 1, 2, 4, 0, "LOG2", 0, 0, "REVERT")
    return {
        **d.standard_accounts(),
        LOGGER: d.Account(code=logger),
        LOG_REVERTER: d.Account(code=reverter),
    }


def call(target: bytes, arg: int) -> list[Any]:
    return [arg, 0, "MSTORE", 0, 0, 32, 0, 0, int.from_bytes(target, "big"), "GAS", "CALL", "POP"]


def log_program(rng: random.Random) -> bytes:
    """LOGs in loops (runs of one shape, some longer than the buffer holds), single LOGs of
    other shapes, and calls to children that log, fail or revert after logging."""
    items: list[Any] = []
    for i in range(4):
        items += [rng.getrandbits(256), 32 * i, "MSTORE"]
    for segment in range(rng.randint(2, 7)):
        kind = rng.choice(("loop", "loop", "one", "call"))
        topics = rng.randint(0, 4)
        size = rng.choice((0, 1, 8, 31, 32, 96))
        offset = rng.randint(0, 31)
        if kind == "call":
            target = rng.choice((d.CALLEE, LOGGER, LOG_REVERTER, d.REVERTER))
            items += call(target, rng.choice((1, 3, 300)))
            continue
        reps = rng.choice((1, 3, 60, 700)) if kind == "loop" else 1
        items += [reps, Label(f"l{segment}")]
        for k in range(topics):  # above the loop counter: k items
            items += (
                [f"DUP{k + 1}"] if rng.random() < 0.5 else [rng.getrandbits(rng.choice((8, 256)))]
            )
        items += [size, offset, f"LOG{topics}", 1, "SWAP1", "SUB", "DUP1", Ref(f"l{segment}"),
                  "JUMPI", "POP"]  # fmt: skip
    items += rng.choice((["STOP"], [0, 0, "REVERT"]))
    return asm(*items)


@pytest.mark.parametrize("seed", range(16))
def test_logs_in_bulk_are_pyevms_entries(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    fork = ("cancun", "prague", "berlin", "byzantium")[seed % 4]
    scenario = d.Scenario(code=log_program(rng), fork=fork, accounts=accounts(), gas=20_000_000)
    stock = apply(scenario, FORK_VMS[fork])
    bulk = count_calls(monkeypatch, log_records, "append_entries")
    jit = apply(scenario, d.jit_vm_class(fork))
    assert jit == stock
    assert bulk[0] > 0


def test_an_overridden_log_counter_numbers_every_native_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A transaction context whose `get_next_log_counter` is its own numbers each native LOG
    through it (the record-by-record path), as on the stock VM."""
    context_class = CancunVM._state_class.transaction_context_class  # type: ignore[attr-defined]

    class EvenContext(context_class):  # type: ignore[misc,valid-type]
        def get_next_log_counter(self) -> int:
            return 2 * super().get_next_log_counter()

    state_class = CancunVM._state_class.configure(transaction_context_class=EvenContext)  # type: ignore[attr-defined]
    vm = CancunVM.configure(__name__="EvenVM", _state_class=state_class)
    code = asm(50, Label("l"), "DUP1", 7, 0, 0, "LOG2", 1, "SWAP1", "SUB", "DUP1", Ref("l"),
               "JUMPI", *call(LOGGER, 5), "STOP")  # fmt: skip
    scenario = d.Scenario(code=code, accounts=accounts())
    stock = apply(scenario, vm)
    bulk = count_calls(monkeypatch, log_records, "append_entries")
    records = count_calls(monkeypatch, log_records, "records")
    jit = apply(scenario, jit_vm(vm, d.get_backend()))
    assert jit == stock
    assert [e[1] for e in stock[1][:3]] == [0, 2, 4]
    assert bulk[0] == 0 and records[0] > 0


def test_long_runs_and_mixed_buffers_are_read_in_bulk(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loop of one LOG shape fills the buffer (one run, read without walking the headers),
    then alternating shapes (walked, several runs): both in bulk, both as py-evm has them."""
    code = asm(
        700, Label("a"), "DUP1", 0xF00D, 32, 0, "LOG2", 1, "SWAP1", "SUB", "DUP1", Ref("a"),
        "JUMPI", "POP",
        40, Label("b"), "DUP1", 5, 3, "LOG1", 0, 0, "LOG0", 1, "SWAP1", "SUB", "DUP1", Ref("b"),
        "JUMPI", "STOP",
    )  # fmt: skip
    scenario = d.Scenario(code=code, accounts=accounts(), gas=20_000_000)
    stock = apply(scenario, FORK_VMS["cancun"])
    runs: list[int] = []
    real = log_records._runs

    def counting(words: memoryview, used: int) -> Any:
        found = real(words, used)
        runs.append(len(found))
        return found

    monkeypatch.setattr(log_records, "_runs", counting)
    jit = apply(scenario, d.jit_vm_class("cancun"))
    assert jit == stock
    assert len(stock[1]) == 780
    assert 1 in runs and max(runs) > 2
