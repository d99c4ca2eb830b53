"""The fast paths of the native state operations (SLOAD, SSTORE, TLOAD, TSTORE, LOG0-4).

Programs flush their stack and call these with pointers to their gas and stack length; true:
done (gas, stack and the frame's caches updated), false: nothing changed, suspend to py-evm's
opcode. See `pyevm_jit.compiler.codegen.state` for when the fast path runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import llvmlite.ir as ir

from pyevm_jit.compiler.irflow import Merge
from pyevm_jit.compiler.rtlib.limbs import LibraryBase
from pyevm_jit.compiler.rtlib.signatures import (
    I8P,
    I32P,
    I64P,
    I256P,
    SIGNATURES,
    SSTORE_RULE_FIELDS,
    WORD_ALIGN,
    const,
    i1,
    i8,
    i32,
    i64,
    i256,
)  # fmt: skip

if TYPE_CHECKING:
    from pyevm_jit.abi import SlotCacheLayout


class StateOps(LibraryBase):
    def _state_function(self, name: str) -> tuple[ir.IRBuilder, list[ir.Value], _StateAccess]:
        fn = ir.Function(self.m, SIGNATURES[name], name)
        fn.attributes.add("nounwind")
        for arg in fn.args:
            if isinstance(arg.type, ir.PointerType):
                arg.add_attribute("captures(none)")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        return b, list(fn.args), _StateAccess(b, fn.args[0], fn.args[2])

    @staticmethod
    def _fast_or_fail(b: ir.IRBuilder, ok: ir.Value) -> None:
        """Return false unless `ok` (then continue in a new block)."""
        with b.if_else(ok) as (fast, fail):
            with fast:
                pass
            with fail:
                b.ret(const(i1, 0))

    def state_ops(self) -> None:
        from pyevm_jit import abi
        from pyevm_jit.abi import StateFlag

        self._sload_op()
        self._load_op("pyevmjit_tload", abi.TRANSIENT_CACHE, "transient_cache",
                      int(StateFlag.TLOAD))  # fmt: skip
        self._sstore_op()
        self._tstore_op()
        self._log_op()

    def _load_op(self, name: str, layout: SlotCacheLayout, field: str, flag: int) -> None:
        """i1 load(ctx, gas*, len*, cost): a slot this frame already read or wrote, at the warm
        cost: the top of the stack (the key) becomes its value."""
        b, (_, gas_p, _, cost), st = self._state_function(name)
        gas = b.load(gas_p)
        ok = b.and_(st.flag(flag), b.and_(st.height_at_least(1), b.icmp_signed(">=", gas, cost)))
        self._fast_or_fail(b, ok)
        top = st.slot(1)
        entry = _CacheEntry(b, st, layout, field, b.load(top, align=WORD_ALIGN))
        self._fast_or_fail(b, entry.hit)
        b.store(b.sub(gas, cost), gas_p)
        b.store(b.load(entry.value_ptr, align=WORD_ALIGN), top, align=WORD_ALIGN)
        b.ret(const(i1, 1))

    def _sload_op(self) -> None:
        """i1 pyevmjit_sload(ctx, gas*, len*, cost, cold_cost): a slot whose value the frame's
        cache holds: the top of the stack (the key) becomes its value, at the warm cost, or at
        the cold cost for a COLD entry, which then becomes WARMED (on the change list: py-evm's
        warm mark is made at the hand-over)."""
        from pyevm_jit import abi
        from pyevm_jit.abi import StateFlag

        b, (_, gas_p, _, cost, cold_cost), st = self._state_function("pyevmjit_sload")
        self._fast_or_fail(b, b.and_(st.flag(int(StateFlag.SLOAD)), st.height_at_least(1)))
        top = st.slot(1)
        key = b.load(top, align=WORD_ALIGN)
        entry = _CacheEntry(b, st, abi.STORAGE_CACHE, "storage_cache", key)
        self._fast_or_fail(b, entry.hit)
        cold = entry.is_cold()
        price = b.select(cold, cold_cost, cost)
        gas = b.load(gas_p)
        self._fast_or_fail(b, b.icmp_signed(">=", gas, price))
        b.store(b.sub(gas, price), gas_p)
        b.store(b.load(entry.value_ptr, align=WORD_ALIGN), top, align=WORD_ALIGN)
        with b.if_then(cold):  # now warm: py-evm's mark is made at the hand-over
            b.store(
                b.or_(b.and_(entry.flags, const(i8, ~_COLD)), const(i8, _WARMED)), entry.flag_ptr
            )
            b.store(const(i64, 1), st.field("pending"))
        b.ret(const(i1, 1))

    def _sstore_op(self) -> None:
        """i1 pyevmjit_sstore(ctx, gas*, len*, rule*): py-evm's `sstore` (Frontier) or
        `net_sstore` (EIP-1283/2200) for a cached slot, `rule` as in SSTORE_RULE_FIELDS (the
        sentry: the EIP-2200 stipend, or -2^63 for none)."""
        from pyevm_jit import abi
        from pyevm_jit.abi import StateFlag

        b, (_, gas_p, _, rule_p), st = self._state_function("pyevmjit_sstore")
        rule = {name: b.load(b.gep(rule_p, [const(i32, k)], inbounds=True))
                for k, name in enumerate(SSTORE_RULE_FIELDS)}  # fmt: skip
        self._fast_or_fail(b, b.and_(st.flag(int(StateFlag.SSTORE)), st.height_at_least(2)))
        key_slot, value_slot = st.slot(1), st.slot(2)
        key = b.load(key_slot, align=WORD_ALIGN)
        value = b.load(value_slot, align=WORD_ALIGN)
        entry = _CacheEntry(b, st, abi.STORAGE_CACHE, "storage_cache", key)
        self._fast_or_fail(b, entry.hit)
        current = b.load(entry.value_ptr, align=WORD_ALIGN)
        assert entry.original_ptr is not None
        original = b.load(entry.original_ptr, align=WORD_ALIGN)
        cost, refund = self._sstore_gas(b, rule, current, original, value)
        # a COLD entry: sstore_eip2929_generic's cold charge after net metering's
        cold = entry.is_cold()
        cost = b.add(cost, b.select(cold, rule["cold_gas"], const(i64, 0)))
        gas = b.load(gas_p)
        after_static = b.sub(gas, rule["static_gas"])
        ok = b.and_(b.icmp_signed(">=", after_static, cost),
                    b.icmp_signed(">", after_static, rule["sentry"]))  # fmt: skip
        self._fast_or_fail(b, ok)
        b.store(b.sub(after_static, cost), gas_p)
        refund_p = st.field("refund")
        b.store(b.add(b.load(refund_p), refund), refund_p)
        b.store(value, entry.value_ptr, align=WORD_ALIGN)
        warmed = b.shl(b.and_(entry.flags, const(i8, _COLD)), const(i8, 1))  # COLD -> WARMED
        entry.mark_dirty("dirty_count", warmed)
        st.pop(2)
        b.ret(const(i1, 1))

    @staticmethod
    def _sstore_gas(
        b: ir.IRBuilder,
        rule: dict[str, ir.Value],
        current: ir.Value,
        original: ir.Value,
        value: ir.Value,
    ) -> tuple[ir.Value, ir.Value]:
        """(cost, refund) as i64: py-evm's `sstore` (Frontier) or `net_sstore`."""
        zero64 = const(i64, 0)

        def is_zero(x: ir.Value) -> ir.Value:
            return b.icmp_unsigned("==", x, const(i256, 0))

        def pick(cond: ir.Value, yes: ir.Value, no: ir.Value) -> ir.Value:
            return b.select(cond, yes, no)

        set_gas, reset_gas, sload_gas = rule["set_gas"], rule["reset_gas"], rule["sload_gas"]
        clears = rule["clears_refund"]
        cur0, val0, orig0 = is_zero(current), is_zero(value), is_zero(original)
        # Frontier (eth.vm.logic.storage.sstore)
        frontier_cost = pick(b.and_(cur0, b.not_(val0)), set_gas, reset_gas)
        frontier_refund = pick(b.and_(b.not_(cur0), val0), clears, zero64)
        # EIP-1283 / EIP-2200 net metering (eth.vm.logic.storage.net_sstore)
        unchanged = b.icmp_unsigned("==", current, value)
        clean = b.icmp_unsigned("==", original, current)
        clean_cost = pick(orig0, set_gas, reset_gas)
        net_cost = pick(unchanged, sload_gas, pick(clean, clean_cost, sload_gas))
        clean_refund = pick(b.and_(b.not_(orig0), val0), clears, zero64)
        dirty_clear = b.sub(
            pick(b.and_(b.not_(orig0), val0), clears, zero64),
            pick(b.and_(b.not_(orig0), cur0), clears, zero64),
        )
        restored = pick(orig0, b.sub(set_gas, sload_gas), b.sub(reset_gas, sload_gas))
        dirty_refund = b.add(
            dirty_clear, pick(b.icmp_unsigned("==", original, value), restored, zero64)
        )
        net_refund = pick(unchanged, zero64, pick(clean, clean_refund, dirty_refund))
        net = b.icmp_unsigned("!=", rule["net"], zero64)
        return pick(net, net_cost, frontier_cost), pick(net, net_refund, frontier_refund)

    def _tstore_op(self) -> None:
        """i1 pyevmjit_tstore(ctx, gas*, len*, cost): write the transient slot into the cache;
        an entry dirty with another key fails."""
        from pyevm_jit import abi
        from pyevm_jit.abi import StateFlag

        b, (_, gas_p, _, cost), st = self._state_function("pyevmjit_tstore")
        gas = b.load(gas_p)
        ok = b.and_(st.flag(int(StateFlag.TSTORE)),
                    b.and_(st.height_at_least(2), b.icmp_signed(">=", gas, cost)))  # fmt: skip
        self._fast_or_fail(b, ok)
        key = b.load(st.slot(1), align=WORD_ALIGN)
        value = b.load(st.slot(2), align=WORD_ALIGN)
        entry = _CacheEntry(b, st, abi.TRANSIENT_CACHE, "transient_cache", key)
        clean = b.icmp_unsigned("==", b.and_(entry.flags, const(i8, _DIRTY)), const(i8, 0))
        self._fast_or_fail(b, b.or_(entry.hit, clean))
        b.store(b.sub(gas, cost), gas_p)
        b.store(key, entry.key_ptr, align=WORD_ALIGN)
        b.store(value, entry.value_ptr, align=WORD_ALIGN)
        entry.mark_dirty("tdirty_count")
        st.pop(2)
        b.ret(const(i1, 1))

    def _log_op(self) -> None:
        """i1 pyevmjit_log(ctx, gas*, len*, topics, fixed, per_byte): append a record to the
        frame's log buffer (layout in `abi.LOG_RECORD_HEADER`). Memory expansion as py-evm
        charges it, after the topic and data gas; a LOG that cannot pay for it fails (nothing
        changed), and py-evm's opcode reports the error."""
        from pyevm_jit import abi
        from pyevm_jit.abi import StateFlag

        memcpy = self.m.declare_intrinsic("llvm.memcpy", [I8P, I8P, i64])
        mem_grow = self.m.get_global("pyevmjit_mem_grow")
        b, (_, gas_p, _, topics, fixed, per_byte), st = self._state_function("pyevmjit_log")
        fn = b.function
        go = b.and_(st.flag(int(StateFlag.LOG)),
                    st.height_at_least(b.add(topics, const(i64, 2))))  # fmt: skip
        self._fast_or_fail(b, go)
        offset = b.load(st.slot(1), align=WORD_ALIGN)
        size = b.load(st.slot(2), align=WORD_ALIGN)
        small = b.icmp_unsigned("<", size, const(i256, abi.LOG_MAX_DATA))
        size64 = b.trunc(size, i64)
        padded = b.and_(b.add(size64, const(i64, 7)), const(i64, -8))
        record = b.add(
            padded, b.add(b.mul(topics, const(i64, 32)), const(i64, abi.LOG_RECORD_HEADER))
        )
        log_len_p = st.field("log_len")
        used = b.load(log_len_p)
        fits = b.icmp_unsigned("<=", b.add(used, record), b.load(st.field("log_cap")))
        cost = b.add(b.mul(size64, per_byte), fixed)
        gas = b.load(gas_p)
        self._fast_or_fail(b, b.and_(b.and_(small, fits), b.icmp_signed(">=", gas, cost)))
        # memory expansion (py-evm charges it after the topic and data gas): offsets at or
        # above 2^63 can never be paid for
        empty = b.icmp_unsigned("==", size64, const(i64, 0))
        huge = b.icmp_unsigned(">", offset, const(i256, (1 << 63) - 1))
        self._fast_or_fail(b, b.or_(empty, b.not_(huge)))
        offset64 = b.select(empty, const(i64, 0), b.trunc(offset, i64))
        end = b.add(offset64, size64)
        after_log = b.sub(gas, cost)
        grow_bb, paid_bb = fn.append_basic_block("grow"), fn.append_basic_block("paid")
        b.cbranch(b.icmp_unsigned(">", end, b.load(st.field("memory_len"))), grow_bb, paid_bb)
        paid = Merge(b, paid_bb)
        paid.arrived(after_log)
        b.position_at_end(grow_bb)
        grown = b.call(mem_grow, [b.function.args[0], after_log, end])
        self._fast_or_fail(b, b.icmp_signed(">=", grown, const(i64, 0)))
        paid.arrive(grown)
        (gas_left,) = paid.phis(i64, "gas_left")
        b.store(gas_left, gas_p)
        at = b.gep(st.pointer_field("log_buf", I8P), [used])
        header = b.bitcast(at, I64P)
        b.store(record, header, align=8)
        b.store(topics, b.gep(header, [const(i64, 1)]), align=8)
        b.store(size64, b.gep(header, [const(i64, 2)]), align=8)
        topic_words = b.bitcast(b.gep(at, [const(i64, abi.LOG_RECORD_HEADER)]), I256P)
        # topic k is the stack item 3 + k from the top
        start = b.block
        loop, copied = fn.append_basic_block("topics"), fn.append_basic_block("topics_done")
        b.cbranch(b.icmp_unsigned("==", topics, const(i64, 0)), copied, loop)
        b.position_at_end(loop)
        k = b.phi(i64, "k")
        k.add_incoming(const(i64, 0), start)
        word = b.load(st.slot(b.add(k, const(i64, 3))), align=WORD_ALIGN)
        b.store(word, b.gep(topic_words, [k]), align=WORD_ALIGN)
        k_next = b.add(k, const(i64, 1))
        k.add_incoming(k_next, loop)
        b.cbranch(b.icmp_unsigned("<", k_next, topics), loop, copied)
        b.position_at_end(copied)
        data = b.gep(at, [b.add(b.mul(topics, const(i64, 32)), const(i64, abi.LOG_RECORD_HEADER))])
        source = b.gep(st.pointer_field("memory", I8P), [offset64])
        b.call(memcpy, [data, source, size64, const(i1, 0)])
        b.store(b.add(used, record), log_len_p)
        b.store(const(i64, 1), st.field("pending"))
        st.pop(b.add(topics, const(i64, 2)))
        b.ret(const(i1, 1))


_VALID, _DIRTY, _COLD, _WARMED = 1, 2, 4, 8  # abi.CacheFlag


class _StateAccess:
    """The context fields and the EVM stack, as a state operation sees them."""

    def __init__(self, b: ir.IRBuilder, ctx: ir.Value, len_p: ir.Value) -> None:
        from pyevm_jit.abi import FIELD_INDEX

        self.b = b
        self.index = FIELD_INDEX
        self.fields = b.bitcast(ctx, I64P)
        self.len_p = len_p
        self.height = b.load(len_p)
        self._stack: ir.Value | None = None

    def field(self, name: str) -> ir.Value:
        """Pointer to an i64 field."""
        return self.b.gep(self.fields, [const(i32, self.index[name])], inbounds=True)

    def pointer_field(self, name: str, ty: ir.PointerType) -> ir.Value:
        return self.b.load(self.b.bitcast(self.field(name), ty.as_pointer()))

    def flag(self, flag: int) -> ir.Value:
        flags = self.b.load(self.field("state_flags"))
        return self.b.icmp_unsigned("!=", self.b.and_(flags, const(i64, flag)), const(i64, 0))

    def height_at_least(self, count: int | ir.Value) -> ir.Value:
        n = const(i64, count) if isinstance(count, int) else count
        return self.b.icmp_unsigned(">=", self.height, n)

    def slot(self, depth: int | ir.Value) -> ir.Value:
        """Pointer to the stack item `depth` from the top (1: the top)."""
        b = self.b
        if self._stack is None:
            self._stack = self.pointer_field("stack", I256P)
        d = const(i64, depth) if isinstance(depth, int) else depth
        return b.gep(self._stack, [b.sub(self.height, d)])

    def pop(self, count: int | ir.Value) -> None:
        n = const(i64, count) if isinstance(count, int) else count
        self.b.store(self.b.sub(self.height, n), self.len_p)


class _CacheEntry:
    """The cache entry of a key (`abi.SlotCacheLayout`): pointers to its key, value, original
    value and flag byte, and whether it holds the key."""

    def __init__(self, b: ir.IRBuilder, st: _StateAccess, layout: SlotCacheLayout, field: str,
                 key: ir.Value) -> None:  # fmt: skip
        self.b, self.st, self.layout = b, st, layout
        x = b.xor(key, b.lshr(key, const(i256, 128)))
        x = b.trunc(b.xor(x, b.lshr(x, const(i256, 64))), i64)
        x = b.xor(x, b.lshr(x, const(i64, 32)))
        x = b.xor(x, b.lshr(x, const(i64, 16)))
        self.index = b.and_(x, const(i64, layout.entries - 1))
        self.base = st.pointer_field(field, I8P)
        words = b.bitcast(self.base, I256P)
        self.key_ptr = b.gep(words, [self.index])
        self.value_ptr = b.gep(words, [b.add(self.index, const(i64, layout.entries))])
        self.original_ptr = (
            b.gep(words, [b.add(self.index, const(i64, 2 * layout.entries))])
            if layout.with_original
            else None
        )
        self.flag_ptr = b.gep(self.base, [b.add(self.index, const(i64, layout.flags_offset))])
        self.flags = b.load(self.flag_ptr)
        valid = b.icmp_unsigned("!=", b.and_(self.flags, const(i8, _VALID)), const(i8, 0))
        same = b.icmp_unsigned("==", b.load(self.key_ptr, align=WORD_ALIGN), key)
        self.hit = b.and_(valid, same)

    def is_cold(self) -> ir.Value:
        return self.b.icmp_unsigned("!=", self.b.and_(self.flags, const(i8, _COLD)), const(i8, 0))

    def mark_dirty(self, count_field: str, warmed: ir.Value | None = None) -> None:
        """Set the dirty bit (and `warmed`: WARMED for a COLD entry, which is then no longer
        COLD); a newly dirty entry joins the dirty list."""
        b, st = self.b, self.st
        was_dirty = b.icmp_unsigned("!=", b.and_(self.flags, const(i8, _DIRTY)), const(i8, 0))
        flags = b.or_(self.flags, const(i8, _VALID | _DIRTY))
        if warmed is not None:
            flags = b.or_(b.and_(flags, const(i8, ~_COLD)), warmed)
        b.store(flags, self.flag_ptr)
        count_p = st.field(count_field)
        count = b.load(count_p)
        dirty_list = b.bitcast(b.gep(self.base, [const(i64, self.layout.dirty_offset)]), I32P)
        # the list has one spare element, so this store stays in bounds when nothing is added
        b.store(b.trunc(self.index, i32), b.gep(dirty_list, [count]))
        b.store(b.select(was_dirty, count, b.add(count, const(i64, 1))), count_p)
        b.store(const(i64, 1), st.field("pending"))
