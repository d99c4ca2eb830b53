"""Native state operations: SLOAD, SSTORE, LOG0-4, TLOAD and TSTORE without leaving native code.

Each operation has a fast path answered from the frame's caches (see `abi.SlotCacheLayout`)
and a slow path that suspends to py-evm's own opcode, exactly as any host operation does.
The fast path runs only when everything it needs is known and nothing unusual can happen:
the slot is in the cache, the gas covers the cost (and, from Istanbul on, exceeds the
EIP-2200 stipend sentry), the stack holds the inputs, the record fits the log buffer, and the
message's `state_flags` allow it (not static, the VM's opcode is py-evm's, the switch is on).
Anything else suspends, so every error and its class come from py-evm.

What the fast path changes (new slot values, refunds, log records) waits in the frame; Python
hands it to py-evm at the next suspension, fallback or exit (`evm.state_path.flush`), before
any Python code can observe the state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyevm_jit import abi
from pyevm_jit.abi import StateFlag
from pyevm_jit.compiler.analysis import Instruction
from pyevm_jit.compiler.codegen.types import FALSE, c8, c64, c256, i8, i8p, i32, i64, i256p
from pyevm_jit.compiler.codegen.vstack import VirtualStack
from pyevm_jit.opcodes import LOG0, LOG4, SLOAD, SSTORE, TLOAD, TSTORE, SstoreRule

if TYPE_CHECKING:
    from pyevm_jit.compiler.codegen import irtext as ir
    from pyevm_jit.compiler.codegen.program import ProgramBuilder

_VALID, _DIRTY = 1, 2


def emit_state_op(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack) -> bool:
    """Emit the native state operation for `instr`; False when it has none (suspend as usual)."""
    op, spec = instr.opcode, pb.spec
    if op == SLOAD and spec.sload_hit_cost is not None:
        _load(pb, instr, vs, abi.STORAGE_CACHE, "storage_cache", StateFlag.SLOAD,
              spec.sload_hit_cost)  # fmt: skip
    elif op == SSTORE and spec.sstore is not None:
        _sstore(pb, instr, vs, spec.sstore)
    elif op == TLOAD and spec.transient_gas is not None:
        _load(pb, instr, vs, abi.TRANSIENT_CACHE, "transient_cache", StateFlag.TLOAD,
              spec.transient_gas[0])  # fmt: skip
    elif op == TSTORE and spec.transient_gas is not None:
        _tstore(pb, instr, vs, spec.transient_gas[1])
    elif LOG0 <= op <= LOG4 and spec.log_gas is not None:
        _log(pb, instr, vs, op - LOG0)
    else:
        return False
    return True


# --- shared pieces -------------------------------------------------------------------------------
def _slow_path(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack) -> ir.Block:
    """A block that suspends to py-evm's opcode with the stack as it is now."""
    saved = pb.b.block
    slow = pb.fn.append_basic_block(f"host{instr.pc}")
    pb.b.position_at_end(slow)
    pb._suspend(instr, vs)
    pb.b.position_at_end(saved)
    return slow


def _enough_stack(
    pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, inputs: int, slow: ir.Block
) -> None:
    """Continue only when the stack holds `inputs` items (py-evm reports an underflow)."""
    if len(vs.items) >= inputs:
        return
    b = pb.b
    height = b.add(vs.entry_len, c64(vs.height_delta()))
    ok = b.icmp_signed(">=", height, c64(inputs))
    cont = pb.fn.append_basic_block(f"stack_ok{instr.pc}")
    b.cbranch(ok, cont, slow)
    b.position_at_end(cont)


def _flag(pb: ProgramBuilder, flag: int) -> ir.Value:
    flags = pb.load_field("state_flags")
    return pb.b.icmp_unsigned("!=", pb.b.and_(flags, c64(flag)), c64(0))


def _all(b: ir.IRBuilder, *conds: ir.Value) -> ir.Value:
    result = conds[0]
    for cond in conds[1:]:
        result = b.and_(result, cond)
    return result


class _Entry:
    """The cache entry of a key: pointers to its key, value, original and flag byte."""

    def __init__(self, pb: ProgramBuilder, layout: abi.SlotCacheLayout, field: str,
                 key: ir.Value):  # fmt: skip
        b = pb.b
        self.layout = layout
        x = b.xor(key, b.lshr(key, c256(128)))
        x = b.trunc(b.xor(x, b.lshr(x, c256(64))), i64)
        x = b.xor(x, b.lshr(x, c64(32)))
        x = b.xor(x, b.lshr(x, c64(16)))
        self.index = b.and_(x, c64(layout.entries - 1))
        self.base = pb.load_field(field)
        words = b.bitcast(self.base, i256p)
        self.key_ptr = b.gep(words, [self.index])
        self.value_ptr = b.gep(words, [b.add(self.index, c64(layout.entries))])
        self.original_ptr = (
            b.gep(words, [b.add(self.index, c64(2 * layout.entries))])
            if layout.with_original
            else None
        )
        self.flag_ptr = b.gep(self.base, [b.add(self.index, c64(layout.flags_offset))])
        self.flags = b.load(self.flag_ptr)
        valid = b.icmp_unsigned("!=", b.and_(self.flags, c8(_VALID)), c8(0))
        self.hit = b.and_(valid, b.icmp_unsigned("==", b.load(self.key_ptr, align=8), key))

    def mark_dirty(self, pb: ProgramBuilder, count_field: str) -> None:
        """Set the dirty bit; a newly dirty entry joins the dirty list."""
        b = pb.b
        was_dirty = b.icmp_unsigned("!=", b.and_(self.flags, c8(_DIRTY)), c8(0))
        b.store(b.or_(self.flags, c8(_VALID | _DIRTY)), self.flag_ptr)
        count = pb.load_field(count_field)
        dirty_list = b.bitcast(b.gep(self.base, [c64(self.layout.dirty_offset)]),
                               i32.as_pointer())  # fmt: skip
        # the list has one spare element, so this store stays in bounds when nothing is added
        b.store(b.trunc(self.index, i32), b.gep(dirty_list, [count]))
        pb.store_field(count_field, b.select(was_dirty, count, b.add(count, c64(1))))
        pb.store_field("pending", c64(1))


def _finish_fast(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack) -> None:
    vs.flush(pb.len_var)
    pb.b.branch(pb._block_at(instr.pc + 1))


# --- SLOAD / TLOAD -------------------------------------------------------------------------------
def _load(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, layout: abi.SlotCacheLayout,
          field: str, flag: int, cost: int) -> None:  # fmt: skip
    """A slot this frame already read or wrote: its value from the cache at the warm cost."""
    b = pb.b
    slow = _slow_path(pb, instr, vs)
    _enough_stack(pb, instr, vs, 1, slow)
    key = vs.peek()
    entry = _Entry(pb, layout, field, key)
    gas = b.load(pb.gas_var)
    ok = _all(b, _flag(pb, flag), entry.hit, b.icmp_signed(">=", gas, c64(cost)))
    fast = pb.fn.append_basic_block(f"load_hit{instr.pc}")
    b.cbranch(ok, fast, slow)
    b.position_at_end(fast)
    b.store(b.sub(gas, c64(cost)), pb.gas_var)
    value = b.load(entry.value_ptr, align=8)
    vs.pop()
    vs.push(value)
    _finish_fast(pb, instr, vs)


# --- SSTORE --------------------------------------------------------------------------------------
def _sstore_gas(b: ir.IRBuilder, rule: SstoreRule, current: ir.Value, original: ir.Value,
                value: ir.Value) -> tuple[ir.Value, ir.Value]:  # fmt: skip
    """(cost, refund) as i64, py-evm's `sstore` (Frontier) or `net_sstore` for the rule."""

    def is_zero(x: ir.Value) -> ir.Value:
        return b.icmp_unsigned("==", x, c256(0))

    def pick(cond: ir.Value, yes: int | ir.Value, no: int | ir.Value) -> ir.Value:
        yes_v = c64(yes) if isinstance(yes, int) else yes
        no_v = c64(no) if isinstance(no, int) else no
        return b.select(cond, yes_v, no_v)

    cur0, val0 = is_zero(current), is_zero(value)
    if rule.family == "frontier":
        cost = pick(b.and_(cur0, b.not_(val0)), rule.set_gas, rule.reset_gas)
        refund = pick(b.and_(b.not_(cur0), val0), rule.clears_refund, 0)
        return cost, refund
    # EIP-1283 / EIP-2200 net metering (eth.vm.logic.storage.net_sstore)
    orig0 = is_zero(original)
    unchanged = b.icmp_unsigned("==", current, value)
    clean = b.icmp_unsigned("==", original, current)
    clean_cost = pick(orig0, rule.set_gas, rule.reset_gas)
    cost = pick(unchanged, rule.sload_gas, pick(clean, clean_cost, rule.sload_gas))
    clean_refund = pick(b.and_(b.not_(orig0), val0), rule.clears_refund, 0)
    dirty_clear = b.sub(
        pick(b.and_(b.not_(orig0), val0), rule.clears_refund, 0),
        pick(b.and_(b.not_(orig0), cur0), rule.clears_refund, 0),
    )
    restored = pick(orig0, rule.set_gas - rule.sload_gas, rule.reset_gas - rule.sload_gas)
    dirty_refund = b.add(
        dirty_clear, pick(b.icmp_unsigned("==", original, value), restored, c64(0))
    )
    refund = pick(unchanged, 0, pick(clean, clean_refund, dirty_refund))
    return cost, refund


def _sstore(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, rule: SstoreRule) -> None:
    b = pb.b
    slow = _slow_path(pb, instr, vs)
    _enough_stack(pb, instr, vs, 2, slow)
    key, value = vs.peek(0), vs.peek(1)
    entry = _Entry(pb, abi.STORAGE_CACHE, "storage_cache", key)
    current = b.load(entry.value_ptr, align=8)
    original = b.load(entry.original_ptr, align=8) if entry.original_ptr is not None else current
    cost, refund = _sstore_gas(b, rule, current, original, value)
    gas = b.load(pb.gas_var)
    after_static = b.sub(gas, c64(rule.static_gas))
    conds = [_flag(pb, StateFlag.SSTORE), entry.hit, b.icmp_signed(">=", after_static, cost)]
    if rule.sentry is not None:
        conds.append(b.icmp_signed(">", after_static, c64(rule.sentry)))
    fast = pb.fn.append_basic_block(f"sstore_hit{instr.pc}")
    b.cbranch(_all(b, *conds), fast, slow)
    b.position_at_end(fast)
    b.store(b.sub(after_static, cost), pb.gas_var)
    refund_ptr = pb.field_ptr("refund")
    b.store(b.add(b.load(refund_ptr), refund), refund_ptr)
    b.store(value, entry.value_ptr, align=8)
    entry.mark_dirty(pb, "dirty_count")
    vs.pop()
    vs.pop()
    _finish_fast(pb, instr, vs)


# --- TSTORE --------------------------------------------------------------------------------------
def _tstore(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, cost: int) -> None:
    """Write the transient slot into the cache; an entry dirty with another key suspends."""
    b = pb.b
    slow = _slow_path(pb, instr, vs)
    _enough_stack(pb, instr, vs, 2, slow)
    key, value = vs.peek(0), vs.peek(1)
    entry = _Entry(pb, abi.TRANSIENT_CACHE, "transient_cache", key)
    clean = b.icmp_unsigned("==", b.and_(entry.flags, c8(_DIRTY)), c8(0))
    gas = b.load(pb.gas_var)
    ok = _all(b, _flag(pb, StateFlag.TSTORE), b.or_(entry.hit, clean),
              b.icmp_signed(">=", gas, c64(cost)))  # fmt: skip
    fast = pb.fn.append_basic_block(f"tstore{instr.pc}")
    b.cbranch(ok, fast, slow)
    b.position_at_end(fast)
    b.store(b.sub(gas, c64(cost)), pb.gas_var)
    b.store(key, entry.key_ptr, align=8)
    b.store(value, entry.value_ptr, align=8)
    entry.mark_dirty(pb, "tdirty_count")
    vs.pop()
    vs.pop()
    _finish_fast(pb, instr, vs)


# --- LOG0-4 --------------------------------------------------------------------------------------
def _log(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, topics: int) -> None:
    """Append a record to the frame's log buffer (layout in `abi.LOG_RECORD_HEADER`)."""
    assert pb.spec.log_gas is not None
    static, per_topic, per_byte = pb.spec.log_gas
    b = pb.b
    slow = _slow_path(pb, instr, vs)
    _enough_stack(pb, instr, vs, 2 + topics, slow)
    offset, size = vs.peek(0), vs.peek(1)
    small = b.icmp_unsigned("<", size, c256(abi.LOG_MAX_DATA))
    size64 = b.trunc(size, i64)
    padded = b.and_(b.add(size64, c64(7)), c64(-8))
    record = b.add(padded, c64(abi.LOG_RECORD_HEADER + 32 * topics))
    used = pb.load_field("log_len")
    fits = b.icmp_unsigned("<=", b.add(used, record), pb.load_field("log_cap"))
    cost = b.add(b.mul(size64, c64(per_byte)), c64(static + per_topic * topics))
    gas = b.load(pb.gas_var)
    ok = _all(b, _flag(pb, StateFlag.LOG), small, fits, b.icmp_signed(">=", gas, cost))
    fast = pb.fn.append_basic_block(f"log{instr.pc}")
    b.cbranch(ok, fast, slow)
    b.position_at_end(fast)
    b.store(b.sub(gas, cost), pb.gas_var)
    vs.pop()
    vs.pop()
    words = [vs.pop() for _ in range(topics)]
    # py-evm charges topic and data gas, then memory expansion (out of gas either way)
    pb.mem.expand(offset, size, instr.pc)
    at = b.gep(pb.load_field("log_buf"), [used])
    header = b.bitcast(at, i64.as_pointer())
    b.store(record, header, align=8)
    b.store(c64(topics), b.gep(header, [c64(1)]), align=8)
    b.store(size64, b.gep(header, [c64(2)]), align=8)
    topic_ptr = b.bitcast(b.gep(at, [c64(abi.LOG_RECORD_HEADER)]), i256p)
    for k, word in enumerate(words):
        b.store(word, b.gep(topic_ptr, [c64(k)]), align=8)
    data = b.gep(at, [c64(abi.LOG_RECORD_HEADER + 32 * topics)])
    empty = b.icmp_unsigned("==", size, c256(0))
    source = pb.mem.address(b.select(empty, c256(0), offset))
    b.call(pb.mem.memcpy, [data, source, size64, FALSE])
    pb.store_field("log_len", b.add(used, record))
    pb.store_field("pending", c64(1))
    _finish_fast(pb, instr, vs)


__all__ = ["emit_state_op", "i8", "i8p"]
