"""How a program leaves: the shared exit block, exits with a status, and the exit of an
instruction that fails (its inputs written where py-evm reads them, prepaid gas given back)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyevm_jit.abi import Status
from pyevm_jit.compiler.analysis import Instruction
from pyevm_jit.compiler.codegen.irtext import Block as IRBlock
from pyevm_jit.compiler.codegen.irtext import Function, IRBuilder, Value, constant_int
from pyevm_jit.compiler.codegen.types import c32, c64, i32, i64
from pyevm_jit.compiler.codegen.vstack import VirtualStack, widen
from pyevm_jit.opcodes import LOG0, LOG4, OPCODES, ForkSpec

if TYPE_CHECKING:
    from pyevm_jit.compiler.codegen.observe import ObserveOps

# Failures of an instruction: the program leaves with Status.FAIL (see `fail_block`) instead.
FAILURES = frozenset({
    Status.OUT_OF_GAS, Status.RETURNDATA_OUT_OF_BOUNDS, Status.MEMORY_ALLOCATION_FAILED,
})  # fmt: skip


class FailurePoint:
    """An instruction about to be emitted, as `ProgramBuilder.fail_block` needs it."""

    __slots__ = ("pc", "stack", "refund", "inputs", "height", "gas_before", "stack_before")

    def __init__(self, pc: int, stack: VirtualStack, refund: int) -> None:
        self.pc = pc
        self.stack = stack  # the block's stack view
        self.refund = refund  # static gas prepaid for it and the rest of its block
        self.inputs: list[Any] = []  # copies of the items py-evm reads (top first; None: not)
        self.height = 0  # stack height before it, relative to the block's entry
        self.gas_before: Value | None = None  # gas a failure must restore (a native LOG)
        self.stack_before: VirtualStack | None = None  # a copy of the whole stack view


class Exits:
    """The exits of `ProgramBuilder` (a part of it: it provides these attributes)."""

    b: IRBuilder
    fn: Function
    spec: ForkSpec
    gas_var: Value
    len_var: Value
    observe: ObserveOps
    _current: FailurePoint | None
    _fail_blocks: dict[int, IRBlock]

    def store_field(self, name: str, value: Value) -> None:
        raise NotImplementedError

    def _make_exit_block(self) -> None:
        """One shared exit: write gas and stack length back, record the pc, return a status."""
        self.exit_bb = self.fn.append_basic_block("exit")
        saved = self.b.block
        self.b.position_at_end(self.exit_bb)
        self.exit_status = self.b.phi(i32)
        self.exit_pc = self.b.phi(i64)
        self.store_field("gas", self.b.load(self.gas_var))
        self.store_field("stack_len", self.b.load(self.len_var))
        self.store_field("exit_pc", self.exit_pc)
        self.b.ret(self.exit_status)
        self.b.position_at_end(saved)

    def exit(self, status: Status, pc: int) -> None:
        """Terminate the current LLVM block by leaving the program."""
        if status in FAILURES:
            self.b.branch(self.fail_block(pc))
            return
        self.exit_dynamic(c32(int(status)), pc)

    def exit_dynamic(self, status: Value, pc: int) -> None:
        self.exit_status.add_incoming(status, self.b.block)
        self.exit_pc.add_incoming(c64(pc), self.b.block)
        self.b.branch(self.exit_bb)

    def exit_if(self, cond: Value, status: Status, pc: int, name: str = "cont") -> None:
        """Leave with `status` when `cond` holds; continue in a new block otherwise."""
        if status in FAILURES:
            const = constant_int(cond)
            if const == 0:
                return
            cont = self.fn.append_basic_block(f"{name}{pc}")
            self.b.cbranch(cond, self.fail_block(pc), cont)
            self.b.position_at_end(cont)
            return
        self.exit_if_dynamic(cond, c32(int(status)), pc, name)

    def fail_block(self, pc: int) -> IRBlock:
        """The exit of the instruction at `pc` when it fails (one per instruction).

        When no static gas was prepaid for instructions after it in its block, the failure is
        py-evm's too: Status.FAIL, with only the inputs py-evm reads before it raises written
        where the stack holds them. Otherwise py-evm might still run it (with the gas prepaid
        for the rest of the block given back) and fail later in the block: Status.FALLBACK at
        it, with the whole stack as it was before it. Either way the static gas prepaid for it
        and the rest of its block is given back."""
        block = self._fail_blocks.get(pc)
        if block is not None:
            return block
        point = self._current
        assert point is not None and point.pc == pc
        block = self._fail_blocks[pc] = self.fn.append_basic_block(f"fail{pc}")
        b = self.b
        here = b.block
        b.position_at_end(block)
        vs = point.stack
        if point.stack_before is not None:
            point.stack_before.flush(self.len_var)
            status = Status.FALLBACK
        else:
            top = vs.top if vs.top is not None else b.gep(vs.base, [vs.entry_len])
            values = [None if i is None else vs.item_value(i, top) for i in point.inputs]
            for depth, value in enumerate(values):  # all read before any write
                if value is not None:
                    slot = b.gep(top, [c64(point.height - 1 - depth)])
                    b.store(widen(b, value), slot, align=8)
            if point.height:
                b.store(b.add(vs.entry_len, c64(point.height)), self.len_var)
            status = Status.FAIL
        if point.gas_before is not None:
            b.store(point.gas_before, self.gas_var)
        if point.refund:
            b.store(b.add(b.load(self.gas_var), c64(point.refund)), self.gas_var)
        self.exit_status.add_incoming(c32(int(status)), block)
        self.exit_pc.add_incoming(c64(pc), block)
        b.branch(self.exit_bb)
        b.position_at_end(here)
        return block

    def exit_if_dynamic(self, cond: Value, status: Value, pc: int, name: str = "cont") -> None:
        const = constant_int(cond)
        if const == 0:
            return
        cont = self.fn.append_basic_block(f"{name}{pc}")
        if const is not None:  # always leaves: what follows is unreachable
            self.exit_dynamic(status, pc)
        else:
            self.exit_status.add_incoming(status, self.b.block)
            self.exit_pc.add_incoming(c64(pc), self.b.block)
            self.b.cbranch(cond, self.exit_bb, cont)
        self.b.position_at_end(cont)

    def charge(self, amount: Value, pc: int) -> None:
        """Charge dynamic gas (i64, non-negative); out of gas ends the message."""
        gas = self.b.load(self.gas_var)
        self.exit_if(self.b.icmp_signed(">", amount, gas), Status.OUT_OF_GAS, pc, "charged")
        self.b.store(self.b.sub(gas, amount), self.gas_var)
        self.observe.gas_charged(pc, amount)

    def _failure_point(self, instr: Instruction, vs: VirtualStack, refund: int) -> FailurePoint:
        """What `fail_block` needs of an instruction, taken before it is emitted."""
        point = FailurePoint(instr.pc, vs, refund)
        info = OPCODES.get(instr.opcode)
        read = info.fail_inputs if info is not None else None
        if read is None:
            return point
        if refund > self.spec.static_gas.get(instr.opcode, 0):
            point.stack_before = vs.snapshot()  # a failure may be py-evm's success
            return point
        vs.ensure(OPCODES[instr.opcode].inputs)
        point.inputs = [vs.item_copy(d) if d in read else None for d in range(max(read) + 1)]
        point.height = vs.height_delta()
        if LOG0 <= instr.opcode <= LOG4 and self.spec.log_gas is not None:
            # a native LOG charges its gas before expanding memory: py-evm charges again
            point.gas_before = self.b.load(self.gas_var)
        return point
