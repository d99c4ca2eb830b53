"""A tiny EVM assembler for tests, generators and benchmarks: mnemonics from the one opcode
table, the shortest PUSH of a value, jump labels, a one-line disassembly, and the stack-to-storage
and stack-to-return-data epilogues scenarios end with.

Typical use::

    code = asm(1, 2, "ADD", *return_stack(1))
"""

from __future__ import annotations

from pyevm_jit.opcodes import BY_NAME, OPCODES

#: opcode by mnemonic, and mnemonic by opcode (the one opcode table's names)
MNEMONICS: dict[int, str] = {op: info.name for op, info in OPCODES.items()}

U256 = 2**256
MAX_U256 = U256 - 1


class Label:
    """A jump target placeholder in `asm`: `Label("x")` marks a JUMPDEST position,
    `Ref("x")` pushes its offset (PUSH2)."""

    def __init__(self, name: str) -> None:
        self.name = name


class Ref:
    def __init__(self, name: str) -> None:
        self.name = name


AsmItem = int | str | bytes | Label | Ref


def push(value: int, size: int | None = None) -> bytes:
    """The shortest PUSH of `value` (PUSH1 for 0: valid before Shanghai), or PUSH`size`."""
    value %= U256
    if size is None:
        size = max(1, (value.bit_length() + 7) // 8)
    if size == 0:
        return b"\x5f"
    return bytes([0x5F + size]) + value.to_bytes(size, "big")


def asm(*items: AsmItem) -> bytes:
    """Assemble: an int is pushed (shortest PUSH, values taken mod 2^256; negative ints are two's
    complement), a str is a mnemonic ("ADD", "PUSH0", "SHA3"), bytes are copied verbatim, a
    `Label` becomes a JUMPDEST and a `Ref` a PUSH2 of that label's offset."""
    out = bytearray()
    labels: dict[str, int] = {}
    refs: list[tuple[int, str]] = []
    for item in items:
        if isinstance(item, bool):
            raise TypeError("bool in asm")
        if isinstance(item, int):
            out += push(item)
        elif isinstance(item, str):
            try:
                out.append(BY_NAME[item.upper()])
            except KeyError:
                raise ValueError(f"unknown mnemonic {item!r}") from None
        elif isinstance(item, (bytes, bytearray)):
            out += item
        elif isinstance(item, Label):
            labels[item.name] = len(out)
            out.append(0x5B)
        elif isinstance(item, Ref):
            refs.append((len(out) + 1, item.name))
            out += b"\x61\x00\x00"
        else:
            raise TypeError(f"cannot assemble {item!r}")
    for pos, name in refs:
        out[pos : pos + 2] = labels[name].to_bytes(2, "big")
    return bytes(out)


def disasm(code: bytes) -> str:
    """One-line disassembly (for messages): 'PUSH1 0x01 PUSH1 0x02 ADD'."""
    parts: list[str] = []
    i = 0
    while i < len(code):
        op = code[i]
        name = MNEMONICS.get(op, f"0x{op:02x}")
        if 0x60 <= op <= 0x7F:
            n = op - 0x5F
            imm = code[i + 1 : i + 1 + n]
            parts.append(f"{name} 0x{imm.hex()}" + ("(truncated)" if len(imm) < n else ""))
            i += 1 + n
        else:
            parts.append(name)
            i += 1
    return " ".join(parts)


def store_stack(n: int) -> list[int | str]:
    """Pop the top `n` stack items into storage slots 0..n-1 (top of stack -> slot 0)."""
    out: list[int | str] = []
    for slot in range(n):
        out += [slot, "SSTORE"]
    return out


def return_stack(n: int) -> list[int | str]:
    """Pop the top `n` stack items into memory words 0..n-1 and RETURN them (top first)."""
    out: list[int | str] = []
    for slot in range(n):
        out += [slot * 32, "MSTORE"]
    out += [n * 32, 0, "RETURN"]
    return out
