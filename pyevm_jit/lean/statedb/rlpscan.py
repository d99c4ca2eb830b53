"""Item boundaries of RLP lists, without decoding: what the trie walk reads of each node."""

from __future__ import annotations

Items = list[tuple[bool, int, int]]


def rlp_items(buf: bytes, start: int, end: int) -> Items | None:
    """The items of the RLP list payload buf[start:end]: (is a list, payload start, payload end)
    each; None for anything pyrlp's strict decoder would reject (non-canonical lengths, a
    single byte below 0x80 given a prefix, items running past the list)."""
    items: Items = []
    at = start
    while at < end:
        b = buf[at]
        if b < 0x80:
            items.append((False, at, at + 1))
            at += 1
            continue
        if b < 0xB8:
            s, n, is_list = at + 1, b - 0x80, False
            if n == 1 and s < end and buf[s] < 0x80:
                return None
        elif 0xC0 <= b < 0xF8:
            s, n, is_list = at + 1, b - 0xC0, True
        else:  # a long string (0xB8-0xBF) or list (0xF8-0xFF): its length in the next ll bytes
            is_list = b >= 0xF8
            s = at + 1 + b - (0xF7 if is_list else 0xB7)
            if buf[at + 1] == 0:
                return None
            n = int.from_bytes(buf[at + 1 : s], "big")
            if n < 56:
                return None
        at = s + n
        if at > end:
            return None
        items.append((is_list, s, at))
    return items


def node_items(data: bytes) -> tuple[bytes, Items] | None:
    """A trie node's encoding as (buffer, items); None where py-evm's decoding is needed (not
    exactly one RLP list: a blank node, a malformed one)."""
    if not data or data[0] < 0xC0:
        return None
    items = rlp_items(data, 0, len(data))
    if items is None or len(items) != 1 or not items[0][0]:
        return None
    _is_list, s, e = items[0]
    inner = rlp_items(data, s, e)
    return None if inner is None else (data, inner)
