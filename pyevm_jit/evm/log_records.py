"""The records of a frame's log buffer (`abi.LOG_RECORD_HEADER`), read back for py-evm.

A record is three int64 (record bytes, topic count, data bytes), the topics as little-endian
words, the data padded to 8 bytes; so every record starts 8-aligned. `records` reads them one
by one (the path for a computation whose `add_log_entry` is not py-evm's). `append_entries`
appends py-evm's log entries of a whole buffer at once: consecutive records of one shape
(record, topic count and data bytes: a LOG in a loop) are a run, read column by column by
`struct` (one `iter_unpack` per topic and one for the data), so no Python code runs per record
when the buffer holds one shape, and only a header read per record when it holds several. A
buffer of a few records is read record by record (cheaper below about four).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from itertools import islice, repeat
from operator import itemgetter
from typing import Any, Literal

from pyevm_jit import abi

_HEADER = abi.LOG_RECORD_HEADER
_first = itemgetter(0)
_LITTLE: Literal["little"] = "little"
#: (record, topics, size) -> the Structs reading topic k of each record, then its data
_SHAPES: dict[tuple[int, int, int], tuple[struct.Struct, ...]] = {}
_SHAPES_KEPT = 64  # bounded: data sizes vary freely, shapes in one program rarely do
#: below this many records of the first record's size, records are read one by one (measured:
#: one record 1.8 us that way against 4.2 us in bulk; even at 3-4 records)
_BULK_FROM = 4


def records(view: memoryview, used: int) -> Iterator[tuple[tuple[int, ...], bytes]]:
    """(topics, data) of each record of `view[:used]` (a byte view), in order."""
    at = 0
    from_bytes = int.from_bytes
    while at < used:
        record, topics, size = view[at : at + _HEADER].cast("q")
        t = at + _HEADER
        words = tuple(
            [from_bytes(view[t + 32 * k : t + 32 * k + 32], "little") for k in range(topics)]
        )
        d = t + 32 * topics
        yield words, bytes(view[d : d + size])
        at += record


def append_entries(
    entries: list[Any], counter: Iterator[int], address: bytes, view: memoryview, used: int
) -> None:
    """Append to `entries` the entry py-evm's `add_log_entry(address, topics, data)` appends
    for each record of `view[:used]`, in order, numbered by `counter` (the transaction
    context's log counter, advanced once per record exactly as `get_next_log_counter` does)."""
    words = view[:used].cast("q")
    if used < _BULK_FROM * words[0]:  # record by record: fewer Python steps for a few
        words.release()
        append = entries.append
        for topics, data in records(view, used):
            append((next(counter), address, topics, data))
        return
    try:
        for start, count, shape in _runs(words, used):
            _append_run(entries, counter, address, view[start : start + count * shape[0]],
                        count, shape)  # fmt: skip
    finally:
        words.release()


def _runs(words: memoryview, used: int) -> list[tuple[int, int, tuple[int, int, int]]]:
    """(byte offset, record count, shape) of the runs of records of one shape."""
    record, topics, size = words[0], words[1], words[2]
    count, rest = divmod(used, record)
    step = record // 8
    if (
        not rest
        and words[0::step].tolist() == [record] * count
        and words[1::step].tolist() == [topics] * count
        and words[2::step].tolist() == [size] * count
    ):
        return [(0, count, (record, topics, size))]
    runs: list[tuple[int, int, tuple[int, int, int]]] = []
    at = 0
    while at < used:
        i = at >> 3
        shape = (words[i], words[i + 1], words[i + 2])
        if runs and runs[-1][2] == shape:
            start, count, _ = runs[-1]
            runs[-1] = (start, count + 1, shape)
        else:
            runs.append((at, 1, shape))
        at += shape[0]
    return runs


def _append_run(
    entries: list[Any],
    counter: Iterator[int],
    address: bytes,
    chunk: memoryview,
    count: int,
    shape: tuple[int, int, int],
) -> None:
    readers = _SHAPES.get(shape)
    if readers is None:
        readers = _readers(*shape)
    *topic_readers, data_reader = readers
    if topic_readers:
        from_bytes = int.from_bytes
        columns = [
            map(from_bytes, map(_first, reader.iter_unpack(chunk)), repeat(_LITTLE))
            for reader in topic_readers
        ]
        topics: Iterator[tuple[int, ...]] = zip(*columns, strict=True)
    else:
        topics = repeat((), count)
    # islice first: zip stops after `count` entries without drawing another number (strict:
    # every column has `count` items, or ValueError)
    entries.extend(
        zip(
            islice(counter, count),
            repeat(address, count),
            topics,
            map(_first, data_reader.iter_unpack(chunk)),
            strict=True,
        )
    )


def _readers(record: int, topics: int, size: int) -> tuple[struct.Struct, ...]:
    """One Struct per topic (that word of a record) and one for the data, each `record` bytes."""
    readers = []
    for k in range(topics):
        before = _HEADER + 32 * k
        readers.append(struct.Struct(f"<{before}x32s{record - before - 32}x"))
    before = _HEADER + 32 * topics
    readers.append(struct.Struct(f"<{before}x{size}s{record - before - size}x"))
    if len(_SHAPES) >= _SHAPES_KEPT:
        _SHAPES.clear()
    shaped = _SHAPES[(record, topics, size)] = tuple(readers)
    return shaped
