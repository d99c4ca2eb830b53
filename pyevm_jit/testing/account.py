"""An account of a pre-state in plain values: what a differential scenario, a fuzz program's
world and a specification case put at an address before the transaction runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Account:
    balance: int = 0
    nonce: int = 0
    code: bytes = b""
    storage: Mapping[int, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Empty as EIP-161 says (no code, nonce 0, balance 0; storage does not count): such
        an account is not put in a specification case's pre-state. Since the merge none exists
        (EIP-7523), and the specification no longer removes touched empty accounts as py-evm
        does, so one in a pre-state (with storage or without) would make the sides differ for
        no reason of theirs."""
        return not (self.balance or self.nonce or self.code)
