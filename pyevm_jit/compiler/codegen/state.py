"""Native state operations: SLOAD, SSTORE, LOG0-4, TLOAD and TSTORE without leaving native code.

Each operation has a fast path answered from the frame's caches (see `abi.SlotCacheLayout`)
and a slow path that suspends to py-evm's own opcode, exactly as any host operation does.
The fast path runs only when everything it needs is known and nothing unusual can happen:
the slot is in the cache, the gas covers the cost (and, from Istanbul on, exceeds the
EIP-2200 stipend sentry), the stack holds the inputs, the record fits the log buffer and its
data lies in memory already, and the message's `state_flags` allow it (not static, the VM's
opcode is py-evm's, the switch is on). Anything else suspends, so every error and its class
come from py-evm.

The fast paths live in the runtime library (`rtlib.state.StateOps`): a call site flushes its
stack, calls the operation with pointers to the program's gas and stack length, and goes on
to the next block when it answered or suspends when it did not. Keeping the cache lookup and
SSTORE's gas and refund arithmetic out of line keeps every call site a handful of
instructions: inline, they were a third of a first-tier compile of snailtracer, and a
19.5 KB state test contract with 1,152 SSTOREs took 1.5 s instead of 0.45 s.

What the fast path changes (new slot values, refunds, log records) waits in the frame; Python
hands it to py-evm at the next suspension, fallback or exit (`evm.state_path.flush`), before
any Python code can observe the state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyevm_jit.compiler.analysis import Instruction
from pyevm_jit.compiler.codegen.irtext import ArrayType, Value
from pyevm_jit.compiler.codegen.types import c64, i64, i64p
from pyevm_jit.compiler.codegen.vstack import VirtualStack
from pyevm_jit.compiler.rtlib import sstore_rule_words
from pyevm_jit.opcodes import LOG0, LOG4, SLOAD, SSTORE, TLOAD, TSTORE

if TYPE_CHECKING:
    from pyevm_jit.compiler.codegen.program import ProgramBuilder

_RULE_GLOBAL = "pyevmjit.sstore_rule"


def emit_state_op(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack) -> bool:
    """Emit the native state operation for `instr`; False when it has none (suspend as usual)."""
    op, spec = instr.opcode, pb.spec
    args: list[Value]
    if op == SLOAD and spec.sload_hit_cost is not None:
        # no cache entry is ever cold where the fork has no cold price (before Berlin)
        cold = spec.sload_hit_cost if spec.sload_cold_cost is None else spec.sload_cold_cost
        name, args = "pyevmjit_sload", [c64(spec.sload_hit_cost), c64(cold)]
    elif op == SSTORE and spec.sstore is not None:
        name, args = "pyevmjit_sstore", [_sstore_rule(pb)]
    elif op == TLOAD and spec.transient_gas is not None:
        name, args = "pyevmjit_tload", [c64(spec.transient_gas[0])]
    elif op == TSTORE and spec.transient_gas is not None:
        name, args = "pyevmjit_tstore", [c64(spec.transient_gas[1])]
    elif LOG0 <= op <= LOG4 and spec.log_gas is not None:
        static, per_topic, per_byte = spec.log_gas
        topics = op - LOG0
        name, args = "pyevmjit_log", [c64(topics), c64(static + per_topic * topics),
                                      c64(per_byte)]  # fmt: skip
    else:
        return False
    b = pb.b
    vs.flush(pb.len_var)
    done = b.call(pb.rt(name), [pb.ctx, pb.gas_var, pb.len_var, *args])
    slow = pb.fn.append_basic_block(f"host{instr.pc}")
    b.cbranch(done, pb._block_at(instr.pc + 1), slow)
    b.position_at_end(slow)
    pb._suspend(instr, None)
    return True


def _sstore_rule(pb: ProgramBuilder) -> Value:
    """Pointer to the module's SSTORE rule words (`rtlib.SSTORE_RULE_FIELDS`)."""
    assert pb.spec.sstore is not None
    words = sstore_rule_words(pb.spec.sstore)
    if _RULE_GLOBAL not in pb.module.private_globals:
        ty = ArrayType(i64, len(words))
        init = "[" + ", ".join(f"i64 {w}" for w in words) + "]"
        pb.module.add_global_constant(_RULE_GLOBAL, ty, init, private=True)
    return Value(i64p, f"@{_RULE_GLOBAL}")


__all__ = ["emit_state_op"]
