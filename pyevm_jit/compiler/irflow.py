"""Control-flow shapes that the code generator and the runtime library both build: a loop
entered with initial values, and paths that meet in one block with a value each.

Both builders have llvmlite's interface (`codegen.irtext.IRBuilder` follows llvmlite's
`IRBuilder`), so these work with either; they write exactly the instructions a hand-written
branch and phi would (same blocks, same order), so the IR is the same text.
"""

from __future__ import annotations

from typing import Any


def enter_loop(b: Any, head: Any, *inits: tuple[Any, str, Any]) -> list[Any]:
    """Branch from the current block to the loop header `head` and open its phis there: one per
    `(type, name, initial value)`, in that order (the loop adds the other incomings)."""
    start = b.block
    b.branch(head)
    b.position_at_end(head)
    phis = []
    for ty, name, value in inits:
        phi = b.phi(ty, name)
        phi.add_incoming(value, start)
        phis.append(phi)
    return phis


class Merge:
    """Paths that meet in `block`, each bringing one value per phi (phis get their incomings in
    the order the paths arrived)."""

    def __init__(self, b: Any, block: Any) -> None:
        self.b = b
        self.block = block
        self.arrivals: list[tuple[tuple[Any, ...], Any]] = []

    def arrived(self, *values: Any, block: Any = None) -> None:
        """A path that reaches the block from `block` (default: the current one) by a branch
        already written (a conditional branch's edge)."""
        self.arrivals.append((values, self.b.block if block is None else block))

    def arrive(self, *values: Any) -> None:
        """Leave the current block for the meeting block, bringing `values`."""
        self.arrived(*values)
        self.b.branch(self.block)

    def phis(self, ty: Any, *names: str) -> list[Any]:
        """Continue in the meeting block with one phi per name (one unnamed phi: `names` empty)."""
        self.b.position_at_end(self.block)
        phis = [self.b.phi(ty, name) for name in names] if names else [self.b.phi(ty)]
        for values, block in self.arrivals:
            for phi, value in zip(phis, values, strict=True):
                phi.add_incoming(value, block)
        return phis
