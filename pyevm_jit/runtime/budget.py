"""Compile budgets: what compiling one contract may cost, from its size and shape.

Bytecode is cheap to deploy and to call, but its shape can make it expensive to compile: 24 KB
of SELFDESTRUCT is 24,576 suspend points (each a block, a resume case and a stack flush), 6 KB
of `PUSH0 SLOAD` 3,072 storage-cache probes, thousands of dynamic jumps into a switch over
thousands of JUMPDESTs, a block that grows the stack by a thousand words. Such code costs
seconds at level 1 and up to a minute at level 2 (superlinear in LLVM's register allocator and
instruction selector), while its calls cost a few gas. Three rules bound it:

- `screen`: structural limits that grow with the code's size (suspend points, blocks,
  dynamic-jump edges, block stack growth), far above what compilers emit (solc output has a
  block every ~15 bytes and a suspend point every ~75). Code beyond them is interpreted and
  counted Ineligible, with the reason.
- `estimate`: the expected CPU seconds of one compilation at a level, from the shape (a linear
  model fitted on this project's code generator at levels 1 and 2 over solc contracts, the
  state tests' contracts and synthetic ones; plus superlinear terms for what makes level 2
  blow up). It orders the compile queue (cheap first) and marks heavy jobs.
- `job_budget`: the CPU seconds a worker may spend on one compilation: a multiple of the
  estimate (the model is approximate and machines differ), at least a floor, and never more
  than what the contract has left of its total cap. A compilation over its budget is killed by
  the kernel (RLIMIT_CPU in the worker), and the contract is Ineligible from then on (a tier-up
  over budget only leaves the level-1 program in place).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyevm_jit.opcodes import JUMP, JUMPDEST, JUMPI, OPCODES, PUSH1, PUSH32, Kind, opcodes_where

_PUSH1, _PUSH32 = PUSH1, PUSH32
_JUMPDEST, _JUMP, _JUMPI = JUMPDEST, JUMP, JUMPI
_MEMORY = frozenset(op for op in opcodes_where(memory=True) if OPCODES[op].kind is not Kind.HOST)
_STORAGE = opcodes_where(storage=True)
_WIDE_ARITH = opcodes_where(wide=True)

# Per byte value: (stack delta, class) where class is a small int; -1 for unknown opcodes.
_NATIVE, _HOST, _CONTROL, _UNKNOWN = 0, 1, 2, 3


def _classify() -> tuple[list[int], list[int]]:
    delta = [0] * 256
    kind = [_UNKNOWN] * 256
    for op, info in OPCODES.items():
        delta[op] = info.outputs - info.inputs
        if info.kind is Kind.HOST:
            kind[op] = _HOST
        elif info.kind is Kind.CONTROL:
            kind[op] = _CONTROL
        else:
            kind[op] = _NATIVE
    return delta, kind


_DELTA, _KIND = _classify()


@dataclass(frozen=True)
class Shape:
    """What a compilation's cost depends on (fork-independent approximation)."""

    size: int
    instructions: int
    blocks: int
    suspends: int  # host operations: each a suspend point with its own resume case
    storage: int  # SLOAD/SSTORE/TLOAD/TSTORE (also suspends; SLOAD probes the native cache)
    memory: int  # memory-touching instructions (expansion checks, copies)
    wide_arith: int  # DIV/MOD/EXP/shifts...: 64-bit fast paths plus runtime-library calls
    jumpdests: int
    dynamic_jumps: int  # JUMP/JUMPI whose target is not a constant pushed just before
    #: sum over blocks of the square of the block's stack growth (values live at once)
    growth_sq: int

    @property
    def jump_edges(self) -> int:
        """Edges of the dynamic-jump dispatch (every dynamic jump can reach every JUMPDEST)."""
        return self.dynamic_jumps * self.jumpdests


def shape(code: bytes) -> Shape:
    """One pass over the bytecode (PUSH data skipped)."""
    delta, kind = _DELTA, _KIND
    n = len(code)
    pc = 0
    instructions = blocks = suspends = storage = memory = wide = 0
    jumpdests = dynamic = growth_sq = 0
    height = high = 0
    prev_push = False
    block_open = False
    while pc < n:
        op = code[pc]
        instructions += 1
        if _PUSH1 <= op <= _PUSH32:
            pc += 1 + OPCODES[op].immediate
            if not block_open:
                blocks += 1
                block_open = True
            height += 1
            if height > high:
                high = height
            prev_push = True
            continue
        pc += 1
        if op == _JUMPDEST:
            jumpdests += 1
            if block_open:  # a JUMPDEST starts a new block
                growth_sq += high * high
                height = high = 0
            blocks += 1
            block_open = True
            prev_push = False
            continue
        if not block_open:
            blocks += 1
            block_open = True
        k = kind[op]
        height += delta[op]
        if height > high:
            high = height
        if k == _NATIVE:
            if op in _MEMORY:
                memory += 1
            elif op in _WIDE_ARITH:
                wide += 1
            prev_push = False
            continue
        if k == _HOST:
            suspends += 1
            if op in _STORAGE:
                storage += 1
        elif k == _CONTROL and (op == _JUMP or op == _JUMPI) and not prev_push:
            dynamic += 1
        # host, control and unknown opcodes end the block
        growth_sq += high * high
        height = high = 0
        block_open = False
        prev_push = False
    growth_sq += high * high
    return Shape(
        size=n,
        instructions=instructions,
        blocks=blocks,
        suspends=suspends,
        storage=storage,
        memory=memory,
        wide_arith=wide,
        jumpdests=jumpdests,
        dynamic_jumps=dynamic,
        growth_sq=growth_sq,
    )


# --- the screen ---------------------------------------------------------------------------------

# Structural limits: a base (small contracts are cheap whatever their shape) plus a share of the
# size. Over the ~9,900 distinct contracts of the Ethereum state tests and solc's output, only
# contracts built to stress an implementation are over them (15,000-22,000 JUMPDESTs in a
# row; 2,000 CALLs in 6 KB).
SUSPEND_BASE, SUSPEND_BYTES = 1024, 8  # suspend points <= 1024 + size / 8
BLOCK_BASE, BLOCK_BYTES = 512, 4  # blocks <= 512 + size / 4
JUMP_EDGE_LIMIT = 1 << 20  # dynamic jumps x JUMPDESTs
GROWTH_SQ_LIMIT = 1 << 21  # sum of squared block stack growth (two 1024-deep blocks)


def screen(s: Shape) -> str | None:
    """Why code of this shape is not compiled at all (None: it may be)."""
    limit = SUSPEND_BASE + s.size // SUSPEND_BYTES
    if s.suspends > limit:
        return f"{s.suspends} suspend points in {s.size} bytes (limit {limit})"
    limit = BLOCK_BASE + s.size // BLOCK_BYTES
    if s.blocks > limit:
        return f"{s.blocks} blocks in {s.size} bytes (limit {limit})"
    if s.jump_edges > JUMP_EDGE_LIMIT:
        return (
            f"{s.dynamic_jumps} dynamic jumps x {s.jumpdests} JUMPDESTs "
            f"(limit {JUMP_EDGE_LIMIT} edges)"
        )
    if s.growth_sq > GROWTH_SQ_LIMIT:
        return f"blocks holding too many stack values at once ({s.growth_sq} > {GROWTH_SQ_LIMIT})"
    return None


# --- the estimate -------------------------------------------------------------------------------

# CPU seconds per feature at level 1 (least squares over the calibration set, relative error;
# the code generator of November 2026 on the development machine).
_L1_WEIGHTS = (
    ("instructions", 12e-6),
    ("blocks", 126e-6),
    ("storage", 645e-6),
    ("memory", 1020e-6),
    ("wide_arith", 313e-6),
    ("growth_sq", 0.58e-6),
)
_L1_JUMP_TABLE = 90e-6  # per JUMPDEST when the program has a dynamic jump (the switch)
_L1_FIXED = 0.005
# Level 2 (LLVM's optimising instruction selector and greedy register allocator) costs about
# 3x level 1, growing with the function's size, plus a term quadratic in the blocks (24 KB of
# SELFDESTRUCT: 2.8 s at level 1, 64 s at level 2).
_L2_LINEAR, _L2_QUADRATIC, _L2_BLOCKS_SQ = 3.0, 0.3, 9e-8


def estimate(s: Shape, opt_level: int) -> float:
    """Expected CPU seconds of compiling code of this shape at `opt_level` (reference machine)."""
    level1 = _L1_FIXED + sum(weight * getattr(s, name) for name, weight in _L1_WEIGHTS)
    if s.dynamic_jumps:
        level1 += _L1_JUMP_TABLE * s.jumpdests
    if opt_level <= 1:
        return level1
    level2 = _L2_LINEAR * level1 + _L2_QUADRATIC * level1 * level1 + _L2_BLOCKS_SQ * s.blocks**2
    return level2 * (1.5 if opt_level >= 3 else 1.0)


# --- budgets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetPolicy:
    """How much compiling may cost (`RuntimeTuning` holds one)."""

    #: screen pathological shapes (Ineligible without compiling)
    screen: bool = True
    #: a job's CPU budget is this multiple of its estimate (0: no per-job budget)
    headroom: float = 4.0
    #: ... and at least this many CPU seconds
    floor: float = 2.0
    #: CPU seconds all compilations of one contract may cost together (0: no cap)
    cap: float = 60.0


@dataclass(frozen=True)
class Verdict:
    """What the runtime may spend on one compilation of one contract."""

    shape: Shape
    estimate: float  # expected CPU seconds at the requested level
    budget: float  # CPU seconds the worker may spend (0: unlimited)
    reason: str | None  # why the contract is not compiled (None: it is)


def assess(code: bytes, opt_level: int, policy: BudgetPolicy, spent: float = 0.0) -> Verdict:
    """The verdict for compiling `code` at `opt_level` when the contract has already cost
    `spent` CPU seconds of compilation."""
    s = shape(code)
    cost = estimate(s, opt_level)
    if policy.screen:
        reason = screen(s)
        if reason is not None:
            return Verdict(s, cost, 0.0, f"pathological code: {reason}")
    budget = 0.0
    if policy.headroom > 0:
        budget = max(policy.floor, policy.headroom * cost)
    if policy.cap > 0:
        left = policy.cap - spent
        if cost > left or left <= 0:
            return Verdict(
                s,
                cost,
                0.0,
                f"compile cost cap: {spent:.1f}s spent, about {cost:.1f}s more needed "
                f"(cap {policy.cap:g}s)",
            )
        budget = min(budget, left) if budget else left
    return Verdict(s, cost, budget, None)
