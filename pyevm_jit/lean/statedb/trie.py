"""`trie_get`: py-evm's hexary trie lookup for 32-byte keys, reading only item boundaries."""

from __future__ import annotations

from typing import Any

from eth.constants import BLANK_ROOT_HASH

from pyevm_jit.lean.statedb.rlpscan import node_items, rlp_items

_NIBBLE = {c: i for i, c in enumerate("0123456789abcdef")}


def trie_get(db: Any, root: bytes, key: bytes) -> bytes | None:
    """`HexaryTrie(db, root).get(key)` for a trie whose keys are all 32 bytes long (storage and
    account tries: keccak hashes), read from the same node database (so py-evm's access logger
    sees the same node reads), or None where py-evm's own walk must answer: a node missing from
    the database (py-evm raises with the path) or anything unusual in a node.

    py-evm's walk decodes every node with pyrlp and converts the key and every node path to
    tuples of nibbles; here only the item boundaries of each node are read, and paths are hex
    strings. Same nodes read in the same order; tests/evm/test_statecache.py checks the result
    against HexaryTrie on random tries."""
    if root == BLANK_ROOT_HASH:
        return b""
    try:
        node = node_items(db[root])
        path = key.hex()
        at, end = 0, len(path)
        while True:
            if node is None:
                return None
            buf, items = node
            if len(items) == 17:
                if at == end:
                    return None
                is_list, s, e = items[_NIBBLE[path[at]]]
                at += 1
            elif len(items) == 2:
                is_list, s, e = items[0]
                if is_list or s == e:
                    return None
                prefix = buf[s:e].hex()
                flag = prefix[0]
                nibbles = prefix[1:] if flag in "13" else prefix[2:]
                is_list, s, e = items[1]
                if flag in "23":  # a leaf: its value where the rest of the key is its path
                    if path[at:] != nibbles:
                        return b""
                    return None if is_list else buf[s:e]
                if flag not in "01" or at == end:
                    return None
                if not path.startswith(nibbles, at):
                    if nibbles.startswith(path[at:]):
                        return None  # the key ends inside the extension: py-evm's case
                    return b""
                at += len(nibbles)
            else:
                return None
            # the child: an inline node, blank, a hash, or (py-evm accepts it) short RLP bytes
            if is_list:
                inner = rlp_items(buf, s, e)
                node = None if inner is None else (buf, inner)
                continue
            n = e - s
            if n == 0:
                return b""
            child = buf[s:e]
            if n == 32:
                if child == BLANK_ROOT_HASH:
                    return b""
                node = node_items(db[child])
            elif n < 32:
                node = node_items(child)
            else:
                return None
    except (KeyError, IndexError):
        return None
