"""Translate one contract for one fork into an LLVM module with a single entry function.

    status = entry(ctx)

Every EVM block becomes an LLVM block that checks its stack bounds and static gas once at its
head; when a check fails the program hands the rest of the message to the interpreter from that
block's start ("fallback"). An instruction that fails (gas, memory, return data bounds) leaves
with its inputs where the stack holds them and the static gas prepaid for it and the rest of its
block given back ("fail"): py-evm runs that one instruction and raises its own error with its
own message; an invalid opcode falls back at it. So errors, their messages and everything
observed up to them are exactly the interpreter's. Host
operations suspend: the program flushes its stack, records where to resume and returns; Python
runs py-evm's own opcode and calls the program again, which jumps to the resume point.

The module is written as text (`irtext`), with constants folded while translating.
"""

from __future__ import annotations

from pyevm_jit import abi
from pyevm_jit.abi import FIELD_INDEX, Status
from pyevm_jit.compiler.analysis import (
    Block,
    Instruction,
    native_kind,
)
from pyevm_jit.compiler.codegen import ops, state
from pyevm_jit.compiler.codegen.exits import Exits, FailurePoint
from pyevm_jit.compiler.codegen.irtext import (
    ArrayType,
    Function,
    IRBuilder,
    Module,
    Value,
    constant_int,
)
from pyevm_jit.compiler.codegen.irtext import Block as IRBlock
from pyevm_jit.compiler.codegen.memory import MemoryOps
from pyevm_jit.compiler.codegen.observe import ObserveOps
from pyevm_jit.compiler.codegen.types import (
    CONTEXT_TYPE,
    CONTEXT_TYPE_DEF,
    ENTRY_TYPE,
    FALSE,
    RTLIB_SIGNATURES,
    TRUE,
    c32,
    c64,
    c256,
    i1,
    i64,
    i256,
    i256p,
)
from pyevm_jit.compiler.codegen.vstack import Split, VirtualStack, narrow64
from pyevm_jit.compiler.regions import analysis, close_region
from pyevm_jit.opcodes import (
    ENV_SLOT,
    JUMP,
    JUMPDEST,
    JUMPI,
    OPCODES,
    RETURN,
    REVERT,
    STOP,
    ForkSpec,
    Kind,
)


class ProgramBuilder(Exits):
    def __init__(
        self, code: bytes, spec: ForkSpec, entry: str, region: frozenset[int] | None = None
    ):
        self.code = code
        self.spec = spec
        self.module = Module(entry)
        self.module.type_defs.append(CONTEXT_TYPE_DEF)
        self.fn = Function(self.module, ENTRY_TYPE, entry, ["ctx"])
        self.fn.attributes.append("nounwind")
        self.fn.arg_attributes[0] = "noalias"
        self.ctx = self.fn.args[0]
        self.entry_name = entry
        self.blocks, _, self.jumpdests = analysis(code, spec)
        # the blocks compiled (None: all); the others are side exits (compiler/regions.py)
        self.region = None if region is None else close_region(self.blocks, region)
        self.env_mask = 0
        self.body_blocks: dict[int, IRBlock] = {}  # pc -> the block after its head checks
        # blocks entered from JUMPDEST-only blocks before them (see _emit_stubs)
        self.stub_targets = {
            nxt.start_pc
            for blk, nxt in zip(self.blocks, self.blocks[1:], strict=False)
            if _is_stub(blk)
        }
        self.resume_targets: list[int] = []  # resume id - 1 -> pc to continue at

        entry_bb = self.fn.append_basic_block("entry")
        self.b = IRBuilder(entry_bb)
        self.gas_var = self.b.alloca(i64)
        self.len_var = self.b.alloca(i64)
        self.b.store(self.load_field("gas"), self.gas_var)
        self.b.store(self.load_field("stack_len"), self.len_var)
        self.stack_base = self.b.bitcast(self.load_field("stack"), i256p)
        # scratch words for runtime-library calls (arguments and results go by pointer)
        self.scratch = [self.b.alloca(i256) for _ in range(4)]
        self._rt: dict[str, Function] = {}
        self.entry_bb = entry_bb
        self.mem = MemoryOps(self)
        self.observe = ObserveOps(self)
        self._current: FailurePoint | None = None  # the instruction being emitted
        self._fail_blocks: dict[int, IRBlock] = {}  # pc -> its exit when it fails

        self.block_starts = frozenset(blk.start_pc for blk in self.blocks)
        # a region's side exits get their one-branch blocks when something jumps or falls
        # into them (`block_for`), and a dynamic jump out of it shares one exit; a traced
        # program logs each block before leaving, so it has them all
        self.lazy_exits = self.region is not None and not self.observe.on
        self.llvm_blocks = {
            blk.start_pc: self.fn.append_basic_block(f"pc{blk.start_pc}")
            for blk in self.blocks
            if not self.lazy_exits or blk.start_pc in self.region  # type: ignore[operator]
        }
        self.end_bb = self.fn.append_basic_block("end_of_code")
        self._make_exit_block()
        self._make_jump_dispatch()

    # --- context access ----------------------------------------------------------------------
    def field_ptr(self, name: str) -> Value:
        return self.b.gep(
            self.ctx, [c32(0), c32(FIELD_INDEX[name])], inbounds=True, source_etype=CONTEXT_TYPE
        )

    def load_field(self, name: str) -> Value:
        return self.b.load(self.field_ptr(name))

    def store_field(self, name: str, value: Value) -> None:
        self.b.store(value, self.field_ptr(name))

    def rt(self, name: str) -> Function:
        """A runtime-library function, declared in this module on first use."""
        fn = self._rt.get(name)
        if fn is None:
            fn = self._rt[name] = self.module.declare_indirect(name, RTLIB_SIGNATURES[name])
        return fn

    def call_rt_words(self, name: str, *args: Value) -> Value:
        """Call `name(&arg0, ..., &out)` on 256-bit words and return the result word."""
        for slot, value in zip(self.scratch, args, strict=False):
            self.b.store(value, slot)
        out = self.scratch[len(args)]
        self.b.call(self.rt(name), [*self.scratch[: len(args)], out])
        return self.b.load(out)

    # --- jumps -----------------------------------------------------------------------------------
    def _make_jump_dispatch(self) -> None:
        """One switch over all JUMPDESTs, shared by every dynamic jump."""
        self.dispatch_bb = self.fn.append_basic_block("jump_dispatch")
        saved = self.b.block
        b = self.b
        b.position_at_end(self.dispatch_bb)
        self.dispatch_target = b.phi(i64)  # low 64 bits of the target
        self.dispatch_high = b.phi(i1)  # target >= 2^64
        self.dispatch_pc = b.phi(i64)
        invalid_bb = self.fn.append_basic_block("invalid_jump")
        switch_bb = self.fn.append_basic_block("jump_switch")
        b.cbranch(self.dispatch_high, invalid_bb, switch_bb)
        b.position_at_end(switch_bb)
        inside = sorted(pc for pc in self.jumpdests if pc in self.llvm_blocks)
        outside = sorted(self.jumpdests.difference(inside))
        outside_bb = self.fn.append_basic_block("jump_outside") if outside else invalid_bb
        switch = b.switch(self.dispatch_target, outside_bb)
        for pc in inside:
            switch.add_case(pc, self.llvm_blocks[pc])
        if outside:  # a JUMPDEST outside the region: one side exit at the target for all
            b.position_at_end(outside_bb)
            exit_bb = self.fn.append_basic_block("jump_side_exit")
            others = b.switch(self.dispatch_target, invalid_bb)
            for pc in outside:
                others.add_case(pc, exit_bb)
            b.position_at_end(exit_bb)
            self.exit_status.add_incoming(c32(int(Status.FALLBACK)), exit_bb)
            self.exit_pc.add_incoming(self.dispatch_target, exit_bb)
            b.branch(self.exit_bb)
        b.position_at_end(invalid_bb)
        self.store_field("exit_a", self.dispatch_target)
        self.store_field("exit_b", b.zext(self.dispatch_high, i64))
        self.exit_status.add_incoming(c32(int(Status.INVALID_JUMP)), invalid_bb)
        self.exit_pc.add_incoming(self.dispatch_pc, invalid_bb)
        b.branch(self.exit_bb)
        b.position_at_end(saved)

    def _split_target(self, target: Value | Split) -> tuple[Value, Value]:
        """(low 64 bits, whether the target is at least 2^64) of a jump target."""
        if isinstance(target, Split):
            return target.low, target.high(self.b)
        low = narrow64(self.b, target)
        if low is not None:
            return low, FALSE
        b = self.b
        if target.type is i1:
            return b.zext(target, i64), FALSE
        high = b.icmp_unsigned("!=", b.lshr(target, c256(64)), c256(0))
        return b.trunc(target, i64), high

    def jump_to(self, target: Value | Split, pc: int) -> None:
        const = constant_int(target) if isinstance(target, Value) else None
        if const is not None:
            if const in self.jumpdests:
                self.b.branch(self.block_for(const))
            else:
                low, high = self._split_target(target)
                self.store_field("exit_a", low)
                self.store_field("exit_b", self.b.zext(high, i64))
                self.exit(Status.INVALID_JUMP, pc)
            return
        low, high = self._split_target(target)
        block = self.b.block
        self.dispatch_target.add_incoming(low, block)
        self.dispatch_high.add_incoming(high, block)
        self.dispatch_pc.add_incoming(c64(pc), block)
        self.b.branch(self.dispatch_bb)

    # --- translation ---------------------------------------------------------------------------
    def build(self) -> Module:
        stubs: list[Block] = []  # JUMPDEST-only blocks falling into the next block
        for index, block in enumerate(self.blocks):
            next_pc = self.blocks[index + 1].start_pc if index + 1 < len(self.blocks) else None
            if self.region is not None and block.start_pc not in self.region:
                if not self.lazy_exits:
                    self._emit_side_exit(block)
                continue
            if next_pc is not None and _is_stub(block):
                stubs.append(block)
                continue
            self._emit_block(block, next_pc)
            if stubs:
                self._emit_stubs(stubs, block)
                stubs = []
        self.b.position_at_end(self.end_bb)
        self.exit(Status.STOP, len(self.code))
        self._emit_resume_switch()
        self._emit_meta()
        return self.module

    def _emit_resume_switch(self) -> None:
        self.b.position_at_end(self.entry_bb)
        first = self.block_for(self.blocks[0].start_pc) if self.blocks else self.end_bb
        if not self.resume_targets:
            self.b.branch(first)
            return
        resume = self.load_field("resume")
        switch = self.b.switch(resume, first)
        for rid, pc in enumerate(self.resume_targets, start=1):
            switch.add_case(rid, self._block_at(pc))

    def _block_at(self, pc: int) -> IRBlock:
        return self.block_for(pc) if pc in self.block_starts else self.end_bb

    def block_for(self, pc: int) -> IRBlock:
        """The LLVM block of the EVM block at `pc`; outside the region, its side exit (made
        on first use: a branch to the shared exit with `Status.FALLBACK` at `pc`)."""
        block = self.llvm_blocks.get(pc)
        if block is None:
            block = self.llvm_blocks[pc] = self.fn.append_basic_block(f"side_exit{pc}")
            self.exit_status.add_incoming(c32(int(Status.FALLBACK)), block)
            self.exit_pc.add_incoming(c64(pc), block)
            IRBuilder(block).branch(self.exit_bb)
        return block

    def _emit_meta(self) -> None:
        # [environment words read, context layout fingerprint] (checked when linking)
        meta_type = ArrayType(i64, 2)
        self.module.add_global_constant(
            self.entry_name + "_meta",
            meta_type,
            f"[i64 {self.env_mask}, i64 {abi.ABI_FINGERPRINT}]",
        )

    def _emit_stubs(self, stubs: list[Block], target: Block) -> None:
        """Blocks that are a lone JUMPDEST falling into `target` share one entry into it: its
        checks with the stubs' gas added, falling back at the first stub entered (the state is
        exact there as well), then its body."""
        b = self.b
        entry = self.fn.append_basic_block(f"stubs{target.start_pc}")
        b.position_at_end(entry)
        extra = b.phi(i64)
        fallback_pc = b.phi(i64)
        for n, stub in enumerate(stubs):
            b.position_at_end(self.llvm_blocks[stub.start_pc])
            self.observe.block_entered(stub.start_pc)  # stands for the stubs after it, too
            extra.add_incoming(c64(stub.static_gas * (len(stubs) - n)), b.block)
            fallback_pc.add_incoming(c64(stub.start_pc), b.block)
            b.branch(entry)
        b.position_at_end(entry)
        entry_len = b.load(self.len_var)
        self._emit_head_checks(target, entry_len, extra, fallback_pc)
        b.branch(self.body_blocks[target.start_pc])

    def _emit_block(self, block: Block, next_pc: int | None) -> None:
        self.b.position_at_end(self.llvm_blocks[block.start_pc])
        self.mem.start_block()
        entry_len = self.b.load(self.len_var)
        self._emit_head_checks(block, entry_len, log_entry=self.observe.on)
        if block.start_pc in self.stub_targets:  # also entered from its stubs' checks
            body = self.fn.append_basic_block(f"body{block.start_pc}")
            self.b.branch(body)
            self.b.position_at_end(body)
            self.body_blocks[block.start_pc] = body
            entry_len = self.b.load(self.len_var)
        vs = VirtualStack(self.b, self.stack_base, entry_len)
        spent = 0
        for instr in block.instructions:
            self._current = self._failure_point(instr, vs, block.static_gas - spent)
            kind = native_kind(instr.opcode, self.spec)
            if kind is None:
                self._emit_unknown(instr, vs)
                return
            if kind is Kind.HOST:
                self._emit_host(instr, vs)
                return
            spent += self.spec.static_gas[instr.opcode]
            if kind is Kind.CONTROL:
                self._emit_control(instr, vs, next_pc)
                return
            self._emit_native(instr, vs, block.static_gas - spent)
        # fell through into the next block
        vs.flush(self.len_var)
        self.b.branch(self._block_at(next_pc) if next_pc is not None else self.end_bb)

    def _emit_side_exit(self, block: Block) -> None:
        """A block outside the region: the interpreter runs the message from its start, as
        when its head checks fail (the stack is flushed at every block boundary)."""
        self.b.position_at_end(self.llvm_blocks[block.start_pc])
        if self.observe.on:
            self.observe.log_block(block.start_pc)
        self.exit(Status.FALLBACK, block.start_pc)

    def _emit_head_checks(
        self,
        block: Block,
        entry_len: Value,
        extra_gas: Value | None = None,
        fallback_pc: Value | None = None,
        log_entry: bool = False,
    ) -> None:
        """Stack bounds and static gas (plus `extra_gas`, falling back at `fallback_pc`);
        with `log_entry`, the block's entry is logged for observers first (codegen/observe.py:
        the trace flag joins the checks' condition, so the main path gains no branch)."""
        b = self.b
        bad: Value | None = None
        low, high = block.min_stack, abi.STACK_LIMIT - block.max_growth
        if high < low:  # the block fails from any height: the interpreter reports it
            bad = TRUE
        elif low and high < abi.STACK_LIMIT:
            # low <= len <= high as one unsigned comparison
            bad = b.icmp_unsigned(">", b.sub(entry_len, c64(low)), c64(high - low))
        elif low:
            bad = b.icmp_unsigned("<", entry_len, c64(low))
        elif high < abi.STACK_LIMIT:
            bad = b.icmp_unsigned(">", entry_len, c64(high))
        gas = None
        cost: Value = c64(block.static_gas)
        if extra_gas is not None:
            cost = b.add(cost, extra_gas)
        if constant_int(cost) != 0:
            gas = b.load(self.gas_var)
            short = b.icmp_signed("<", gas, cost)
            bad = short if bad is None else b.or_(bad, short)
        if log_entry:
            self._log_entry_then_check(block, bad)
        elif bad is not None:
            if fallback_pc is None:
                self.exit_if(bad, Status.FALLBACK, block.start_pc, "checked")
            else:
                cont = self.fn.append_basic_block(f"checked{block.start_pc}")
                self.exit_status.add_incoming(c32(int(Status.FALLBACK)), b.block)
                self.exit_pc.add_incoming(fallback_pc, b.block)
                b.cbranch(bad, self.exit_bb, cont)
                b.position_at_end(cont)
        if gas is not None:
            b.store(b.sub(gas, cost), self.gas_var)

    def _log_entry_then_check(self, block: Block, bad: Value | None) -> None:
        """Off the main path when the checks fail or the trace is on: log the entry (the log
        function does nothing when the trace is off), then fall back if the checks failed."""
        b = self.b
        flag = self.observe.flag("trace")
        slow = self.fn.append_basic_block(f"entered{block.start_pc}")
        cont = self.fn.append_basic_block(f"checked{block.start_pc}")
        b.cbranch(flag if bad is None else b.or_(bad, flag), slow, cont)
        b.position_at_end(slow)
        self.observe.log_block(block.start_pc)
        const = None if bad is None else constant_int(bad)
        if bad is None or const == 0:
            b.branch(cont)
        elif const is not None:
            self.exit(Status.FALLBACK, block.start_pc)
        else:
            self.exit_status.add_incoming(c32(int(Status.FALLBACK)), slow)
            self.exit_pc.add_incoming(c64(block.start_pc), slow)
            b.cbranch(bad, self.exit_bb, cont)
        b.position_at_end(cont)

    def _emit_unknown(self, instr: Instruction, vs: VirtualStack) -> None:
        # invalid in this fork, or valid in py-evm's table but unknown to the compiler: the
        # interpreter runs it (raising py-evm's error, or running the table's own entry)
        vs.flush(self.len_var)
        self.exit(Status.FALLBACK, instr.pc)

    def _emit_host(self, instr: Instruction, vs: VirtualStack) -> None:
        if state.emit_state_op(self, instr, vs):
            return
        self._suspend(instr, vs)

    def _suspend(self, instr: Instruction, vs: VirtualStack | None) -> None:
        """Leave to run `instr` through py-evm (`vs`: the stack to flush first, if any)."""
        if vs is not None:
            vs.flush(self.len_var)
        self.resume_targets.append(instr.pc + 1)
        self.store_field("resume", c64(len(self.resume_targets)))
        self.store_field("exit_op", c64(instr.opcode))
        self.exit(Status.SUSPEND, instr.pc)

    def _emit_control(self, instr: Instruction, vs: VirtualStack, next_pc: int | None) -> None:
        op = instr.opcode
        if op == STOP:
            self.exit(Status.STOP, instr.pc)
        elif op == JUMP:
            target = vs.pop_split()
            vs.flush(self.len_var)
            self.jump_to(target, instr.pc)
        elif op == JUMPI:
            target = vs.pop_split()
            cond = vs.pop_split()
            vs.flush(self.len_var)
            self._emit_jumpi(target, cond, instr.pc, next_pc)
        elif op in (RETURN, REVERT):
            offset, size = vs.pop_split(), vs.pop_split()
            low = self.mem.expand(offset, size, instr.pc)
            size64 = self.mem.low64(size)
            is_empty = self.b.icmp_unsigned("==", size64, c64(0))
            self.store_field("exit_a", self.b.select(is_empty, c64(0), low))
            self.store_field("exit_b", size64)
            self.exit(Status.RETURN if op == RETURN else Status.REVERT, instr.pc)
        else:  # INVALID, when the fork's table has it: its static gas was prepaid
            vs.flush(self.len_var)
            gas = self.spec.static_gas[op]
            if gas:
                self.b.store(self.b.add(self.b.load(self.gas_var), c64(gas)), self.gas_var)
            self.exit(Status.FALLBACK, instr.pc)

    def _emit_jumpi(
        self, target: Value | Split, cond: Value | Split, pc: int, next_pc: int | None
    ) -> None:
        fallthrough = self._block_at(next_pc) if next_pc is not None else self.end_bb
        const_cond = constant_int(cond) if isinstance(cond, Value) else None
        if const_cond is not None:
            if const_cond:
                self.jump_to(target, pc)
            else:
                self.b.branch(fallthrough)
            return
        const_target = constant_int(target) if isinstance(target, Value) else None
        if const_target is not None and const_target in self.jumpdests:
            self.b.cbranch(self._truth(cond), self.block_for(const_target), fallthrough)
            return
        taken = self.fn.append_basic_block(f"jumpi_taken{pc}")
        self.b.cbranch(self._truth(cond), taken, fallthrough)
        self.b.position_at_end(taken)
        self.jump_to(target, pc)

    def _truth(self, cond: Value | Split) -> Value:
        return cond.nonzero(self.b) if isinstance(cond, Split) else ops.truth(self.b, cond)

    def _emit_native(self, instr: Instruction, vs: VirtualStack, gas_after: int) -> None:
        info = OPCODES[instr.opcode]
        if info.kind is Kind.ENV:
            slot = ENV_SLOT[instr.opcode]
            self.env_mask |= 1 << slot
            env = self.b.bitcast(self.load_field("env"), i256p)
            vs.push(self.b.load(self.b.gep(env, [c64(slot)]), align=8))
            return
        ops.emit(self, instr, vs, gas_after)


def _is_stub(block: Block) -> bool:
    """A lone JUMPDEST that falls through (JUMPDEST sleds, padding between functions)."""
    return (
        len(block.instructions) == 1
        and block.instructions[0].opcode == JUMPDEST
        and block.falls_through
    )


def translate(
    code: bytes, spec: ForkSpec, entry: str, region: frozenset[int] | None = None
) -> Module:
    return ProgramBuilder(code, spec, entry, region).build()
