"""Guarded copies of py-evm code paths: the same steps as py-evm's own methods, with less Python.

The lean CALL family (`calls`), environment words (`env`), the SLOAD of a cache miss
(`sload`), the transaction message (`txmessage`) and executor (`transaction`), messages and
spoofed transactions (`records`), the state database (`statedb`: RLP scan, trie walk, account
codec, read cache, account database) and the blocks a VM builds from its header (`block`) each
stand in for py-evm code only while that code is py-evm's own object and the version they were
written against.

The rule: every check that decides whether a lean path may stand in for py-evm -- the identity
checks (the class's method, the opcode's class, the logic function is py-evm's own) and the
source fingerprints (py-evm's object is the one the copy was written against) -- lives in ONE
module, `guard`. No other module of this package compares py-evm objects. After a py-evm
upgrade, `tests/lean` says which fingerprint changed: compare that copy with the new py-evm
code here, then record the new fingerprint in `guard`.

This package knows nothing of native code: it imports only py-evm and the package's ground
facts; `pyevm_jit.evm` (the glue) and the integrations call it.
"""
