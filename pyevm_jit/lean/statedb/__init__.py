"""Content-keyed state reads: py-evm's AccountDB without repeated trie walks and RLP work.

Modules: `readcache` (the cache), `rlpscan` (item boundaries of RLP), `trie` (the walk),
`codec` (account records and storage values), `storage` (storage tries), `accountdb` (the
account database and `jit_account_db`), `journal` (the native journal: a transaction's state in
flat dicts with one undo log, in front of all of them; docs/journal.md). The checks that
py-evm's classes are the ones replaced live in `pyevm_jit.lean.guard`.

A trie's root hash commits to its whole content, so the value of a key in the trie with a given
root never changes: a cache keyed by (root, key) cannot be stale. `ReadCache` holds such entries
for storage tries ((storage root, slot) -> RLP value) and for the account trie ((state root,
address) -> RLP account), bounded in entries (least recently used go first), shared by every
state, transaction and block that reads from the same database.

`jit_account_db(AccountDB subclass, cache)` returns an account database class that answers
trie reads from the cache and fills it on a miss. Everything above the tries -- py-evm's
journals, the per-transaction account cache, pending writes, snapshots and reverts, storage
wipes -- is py-evm's own code and runs unchanged; only the lowest layer (the committed trie at
its current root) is replaced by a lookup keyed by that root. Why no read path can be stale:

- Keys carry the root the trie has *at the time of the read* (`HexaryTrie.root_hash`, which
  py-evm updates on every write to the trie), so a write, a storage wipe (`new_trie`: the root
  becomes the blank root), a revert to an older trie (`rollback_trie`) or `state_root = x`
  changes the key, never the meaning of an existing key.
- Pending writes (py-evm's journals and `_locked_changes`) sit above the trie layer and answer
  first; the cache is only asked for what py-evm would ask the trie for.
- When a trie moves from root A to root B by writes the cache has seen (py-evm flushing pending
  storage in `make_storage_root`, or account changes in `make_state_root`), a link B -> (A,
  changed keys and their new values) lets reads at B of keys *not* changed reuse entries of A.
  The link is recorded only if the root after the last seen write is the current root and every
  write started from the root the previous one left, so a write the cache did not see (any code
  changing the trie behind its back) breaks the chain and no link is made.
- Entries are namespaced by the database the tries are read from (by object identity, held
  weakly), so a database that lacks a trie's nodes is never answered from another database's
  reads.

With or without the cache (`jit_account_db(cls, None)`), the class also avoids costs of
py-evm's AccountDB that are not trie reads, with the same results: RLP decoding and encoding of
account and storage records (a small exact codec for the four-field account and for values,
with py-evm's `rlp` deciding anything unusual), `Serializable.copy` for changed accounts,
`get_code`'s copy of every trie key read so far (a membership test on the same set instead) and
the generic database layers around the EIP-2929 access journal.

Not reproduced: the trie node hashes of reads answered by the cache are not added to the
accessed-node log behind `persist()`'s MetaWitness (a beam-sync aid of py-evm). Turn the cache
off (`RuntimeTuning.read_cache = False`) where that log matters.
"""
