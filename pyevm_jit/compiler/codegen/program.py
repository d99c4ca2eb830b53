"""Translate one contract for one fork into an LLVM module with a single entry function.

    status = entry(ctx)

Every EVM block becomes an LLVM block that checks its stack bounds and static gas once at its
head; when a check fails the program hands the rest of the message to the interpreter from that
block's start ("fallback"), so errors and their classes are exactly the interpreter's. Host
operations suspend: the program flushes its stack, records where to resume and returns; Python
runs py-evm's own opcode and calls the program again, which jumps to the resume point.
"""

from __future__ import annotations

import llvmlite.ir as ir

from pyevm_jit import abi
from pyevm_jit.abi import FIELD_INDEX, Status
from pyevm_jit.compiler.analysis import (
    Block,
    Instruction,
    build_blocks,
    jump_destinations,
    native_kind,
)
from pyevm_jit.compiler.codegen import ops, state
from pyevm_jit.compiler.codegen.memory import MemoryOps
from pyevm_jit.compiler.codegen.types import (
    ENTRY_TYPE,
    c32,
    c64,
    c256,
    constant_int,
    i32,
    i64,
    i256,
    i256p,
)
from pyevm_jit.compiler.codegen.vstack import VirtualStack
from pyevm_jit.opcodes import (
    ENV_SLOT,
    JUMP,
    JUMPI,
    OPCODES,
    RETURN,
    REVERT,
    STOP,
    ForkSpec,
    Kind,
)


class ProgramBuilder:
    def __init__(self, code: bytes, spec: ForkSpec, entry: str):
        self.code = code
        self.spec = spec
        self.module = ir.Module(name=entry)
        self.fn = ir.Function(self.module, ENTRY_TYPE, entry)
        self.fn.attributes.add("nounwind")
        self.ctx = self.fn.args[0]
        self.ctx.add_attribute("noalias")
        self.entry_name = entry
        self.blocks = build_blocks(code, spec)
        self.jumpdests = jump_destinations([i for blk in self.blocks for i in blk.instructions])
        self.env_mask = 0
        self.resume_targets: list[int] = []  # resume id - 1 -> pc to continue at

        entry_bb = self.fn.append_basic_block("entry")
        self.b = ir.IRBuilder(entry_bb)
        self.gas_var = self.b.alloca(i64, name="gas")
        self.len_var = self.b.alloca(i64, name="stack_len")
        self.b.store(self.load_field("gas"), self.gas_var)
        self.b.store(self.load_field("stack_len"), self.len_var)
        self.stack_base = self.b.bitcast(self.load_field("stack"), i256p, name="stack")
        # scratch words for runtime-library calls (arguments and results go by pointer)
        self.scratch = [self.b.alloca(i256, name=f"scratch{i}") for i in range(4)]
        self._rtlib: dict[str, ir.Function] | None = None
        self.mem = MemoryOps(self)
        self.entry_bb = entry_bb

        self.llvm_blocks = {blk.start_pc: self.fn.append_basic_block(f"pc{blk.start_pc}")
                            for blk in self.blocks}
        self.end_bb = self.fn.append_basic_block("end_of_code")
        self._make_exit_block()
        self._make_jump_dispatch()

    # --- context access ----------------------------------------------------------------------
    def field_ptr(self, name: str) -> ir.Value:
        return self.b.gep(self.ctx, [c32(0), c32(FIELD_INDEX[name])], inbounds=True)

    def load_field(self, name: str) -> ir.Value:
        return self.b.load(self.field_ptr(name), name=name)

    def store_field(self, name: str, value: ir.Value) -> None:
        self.b.store(value, self.field_ptr(name))

    def rt(self, name: str) -> ir.Function:
        """A runtime-library function, declared in this module on first use."""
        if self._rtlib is None:
            from pyevm_jit.compiler import rtlib

            self._rtlib = rtlib.declare_rtlib(self.module)
        return self._rtlib[name]

    def call_rt_words(self, name: str, *args: ir.Value) -> ir.Value:
        """Call `name(&arg0, ..., &out)` on 256-bit words and return the result word."""
        for slot, value in zip(self.scratch, args, strict=False):
            self.b.store(value, slot)
        out = self.scratch[len(args)]
        self.b.call(self.rt(name), [*self.scratch[: len(args)], out])
        return self.b.load(out)

    # --- exits ---------------------------------------------------------------------------------
    def _make_exit_block(self) -> None:
        """One shared exit: write gas and stack length back, record the pc, return a status."""
        self.exit_bb = self.fn.append_basic_block("exit")
        saved = self.b.block
        self.b.position_at_end(self.exit_bb)
        self.exit_status = self.b.phi(i32, name="status")
        self.exit_pc = self.b.phi(i64, name="exit_pc")
        self.store_field("gas", self.b.load(self.gas_var))
        self.store_field("stack_len", self.b.load(self.len_var))
        self.store_field("exit_pc", self.exit_pc)
        self.b.ret(self.exit_status)
        self.b.position_at_end(saved)

    def exit(self, status: Status, pc: int) -> None:
        """Terminate the current LLVM block by leaving the program."""
        self.exit_status.add_incoming(c32(int(status)), self.b.block)
        self.exit_pc.add_incoming(c64(pc), self.b.block)
        self.b.branch(self.exit_bb)

    def exit_dynamic(self, status: ir.Value, pc: int) -> None:
        self.exit_status.add_incoming(status, self.b.block)
        self.exit_pc.add_incoming(c64(pc), self.b.block)
        self.b.branch(self.exit_bb)

    def exit_if(self, cond: ir.Value, status: Status, pc: int, name: str = "cont") -> None:
        """Leave with `status` when `cond` holds; continue in a new block otherwise."""
        fail = self.fn.append_basic_block(f"fail{pc}")
        cont = self.fn.append_basic_block(f"{name}{pc}")
        self.b.cbranch(cond, fail, cont)
        self.b.position_at_end(fail)
        self.exit(status, pc)
        self.b.position_at_end(cont)

    def charge(self, amount: ir.Value, pc: int) -> None:
        """Charge dynamic gas (i64, non-negative); out of gas ends the message."""
        gas = self.b.load(self.gas_var)
        self.exit_if(self.b.icmp_signed(">", amount, gas), Status.OUT_OF_GAS, pc, "charged")
        self.b.store(self.b.sub(gas, amount), self.gas_var)

    # --- jumps -----------------------------------------------------------------------------------
    def _make_jump_dispatch(self) -> None:
        """One switch over all JUMPDESTs, shared by every dynamic jump."""
        self.dispatch_bb = self.fn.append_basic_block("jump_dispatch")
        saved = self.b.block
        self.b.position_at_end(self.dispatch_bb)
        self.dispatch_target = self.b.phi(i256, name="target")
        self.dispatch_pc = self.b.phi(i64, name="jump_pc")
        target = self.dispatch_target
        high = self.b.icmp_unsigned("!=", self.b.lshr(target, c256(32)), c256(0))
        invalid_bb = self.fn.append_basic_block("invalid_jump")
        switch_bb = self.fn.append_basic_block("jump_switch")
        self.b.cbranch(high, invalid_bb, switch_bb)
        self.b.position_at_end(switch_bb)
        low = self.b.trunc(target, i32)
        switch = self.b.switch(low, invalid_bb)
        for pc in sorted(self.jumpdests):
            switch.add_case(c32(pc), self.llvm_blocks[pc])
        self.b.position_at_end(invalid_bb)
        self._store_jump_target(target)
        self.exit_status.add_incoming(c32(int(Status.INVALID_JUMP)), invalid_bb)
        self.exit_pc.add_incoming(self.dispatch_pc, invalid_bb)
        self.b.branch(self.exit_bb)
        self.b.position_at_end(saved)

    def _store_jump_target(self, target: ir.Value) -> None:
        self.store_field("exit_a", self.b.trunc(target, i64))
        over = self.b.icmp_unsigned("!=", self.b.lshr(target, c256(64)), c256(0))
        self.store_field("exit_b", self.b.zext(over, i64))

    def jump_to(self, target: ir.Value, pc: int) -> None:
        const = constant_int(target)
        if const is not None:
            if const in self.jumpdests:
                self.b.branch(self.llvm_blocks[const])
            else:
                self._store_jump_target(target)
                self.exit(Status.INVALID_JUMP, pc)
            return
        self.dispatch_target.add_incoming(target, self.b.block)
        self.dispatch_pc.add_incoming(c64(pc), self.b.block)
        self.b.branch(self.dispatch_bb)

    # --- translation ---------------------------------------------------------------------------
    def build(self) -> ir.Module:
        self._emit_resume_switch_placeholder()
        for index, block in enumerate(self.blocks):
            next_pc = self.blocks[index + 1].start_pc if index + 1 < len(self.blocks) else None
            self._emit_block(block, next_pc)
        self.b.position_at_end(self.end_bb)
        self.exit(Status.STOP, len(self.code))
        self._emit_resume_switch()
        self._emit_meta()
        return self.module

    def _emit_resume_switch_placeholder(self) -> None:
        self.b.position_at_end(self.entry_bb)

    def _emit_resume_switch(self) -> None:
        self.b.position_at_end(self.entry_bb)
        first = self.llvm_blocks[self.blocks[0].start_pc] if self.blocks else self.end_bb
        resume = self.load_field("resume")
        switch = self.b.switch(resume, first)
        for rid, pc in enumerate(self.resume_targets, start=1):
            switch.add_case(c64(rid), self._block_at(pc))

    def _block_at(self, pc: int) -> ir.Block:
        return self.llvm_blocks.get(pc, self.end_bb)

    def _emit_meta(self) -> None:
        # [environment words read, context layout fingerprint] (checked when linking)
        meta_type = ir.ArrayType(i64, 2)
        meta = ir.GlobalVariable(self.module, meta_type, self.entry_name + "_meta")
        meta.global_constant = True
        meta.initializer = ir.Constant(meta_type, [c64(self.env_mask), c64(abi.ABI_FINGERPRINT)])

    def _emit_block(self, block: Block, next_pc: int | None) -> None:
        self.b.position_at_end(self.llvm_blocks[block.start_pc])
        entry_len = self.b.load(self.len_var, name="len")
        self._emit_head_checks(block, entry_len)
        vs = VirtualStack(self.b, self.stack_base, entry_len)
        spent = 0
        for instr in block.instructions:
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

    def _emit_head_checks(self, block: Block, entry_len: ir.Value) -> None:
        conds = []
        if block.min_stack:
            conds.append(self.b.icmp_unsigned("<", entry_len, c64(block.min_stack)))
        if block.max_growth:
            limit = abi.STACK_LIMIT - block.max_growth
            if limit < 0:  # the block overflows from any height: the interpreter reports it
                conds.append(ir.Constant(ir.IntType(1), 1))
            else:
                conds.append(self.b.icmp_unsigned(">", entry_len, c64(limit)))
        gas = None
        if block.static_gas:
            gas = self.b.load(self.gas_var)
            conds.append(self.b.icmp_signed("<", gas, c64(block.static_gas)))
        if conds:
            bad = conds[0]
            for c in conds[1:]:
                bad = self.b.or_(bad, c)
            self.exit_if(bad, Status.FALLBACK, block.start_pc, "body")
        if gas is not None:
            self.b.store(self.b.sub(gas, c64(block.static_gas)), self.gas_var)

    def _emit_unknown(self, instr: Instruction, vs: VirtualStack) -> None:
        if self.spec.is_valid(instr.opcode):
            # valid in py-evm's table but unknown to the compiler: let the interpreter run it
            vs.flush(self.len_var)
            self.exit(Status.FALLBACK, instr.pc)
        else:
            self.exit(Status.INVALID_INSTRUCTION, instr.pc)

    def _emit_host(self, instr: Instruction, vs: VirtualStack) -> None:
        if state.emit_state_op(self, instr, vs):
            return
        self._suspend(instr, vs)

    def _suspend(self, instr: Instruction, vs: VirtualStack) -> None:
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
            target = vs.pop()
            vs.flush(self.len_var)
            self.jump_to(target, instr.pc)
        elif op == JUMPI:
            target = vs.pop()
            cond = vs.pop()
            vs.flush(self.len_var)
            self._emit_jumpi(target, cond, instr.pc, next_pc)
        elif op in (RETURN, REVERT):
            offset, size = vs.pop(), vs.pop()
            self.mem.expand(offset, size, instr.pc)
            is_empty = self.b.icmp_unsigned("==", size, c256(0))
            offset = self.b.select(is_empty, c256(0), offset)
            self.store_field("exit_a", self.b.trunc(offset, i64))
            self.store_field("exit_b", self.b.trunc(size, i64))
            self.exit(Status.RETURN if op == RETURN else Status.REVERT, instr.pc)
        else:  # INVALID
            self.exit(Status.INVALID_INSTRUCTION, instr.pc)

    def _emit_jumpi(
        self, target: ir.Value, cond: ir.Value, pc: int, next_pc: int | None
    ) -> None:
        fallthrough = self._block_at(next_pc) if next_pc is not None else self.end_bb
        const_cond = constant_int(cond)
        if const_cond is not None:
            if const_cond:
                self.jump_to(target, pc)
            else:
                self.b.branch(fallthrough)
            return
        taken = self.fn.append_basic_block(f"jumpi_taken{pc}")
        self.b.cbranch(self.b.icmp_unsigned("!=", cond, c256(0)), taken, fallthrough)
        self.b.position_at_end(taken)
        self.jump_to(target, pc)

    def _emit_native(self, instr: Instruction, vs: VirtualStack, gas_after: int) -> None:
        info = OPCODES[instr.opcode]
        if info.kind is Kind.ENV:
            slot = ENV_SLOT[instr.opcode]
            self.env_mask |= 1 << slot
            env = self.b.bitcast(self.load_field("env"), i256p)
            vs.push(self.b.load(self.b.gep(env, [c64(slot)]), align=8))
            return
        ops.emit(self, instr, vs, gas_after)


def translate(code: bytes, spec: ForkSpec, entry: str) -> ir.Module:
    return ProgramBuilder(code, spec, entry).build()
