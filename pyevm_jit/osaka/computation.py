"""Osaka's computation: its opcodes and precompiles (P256VERIFY added, MODEXP replaced)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth._utils.address import force_bytes_to_address
from eth.vm.forks.prague.computation import PragueComputation

from pyevm_jit.osaka.constants import P256VERIFY_ADDRESS
from pyevm_jit.osaka.modexp import modexp
from pyevm_jit.osaka.opcodes import OSAKA_OPCODES
from pyevm_jit.osaka.p256verify import p256verify

OSAKA_PRECOMPILES: dict[Any, Callable[..., Any]] = {
    **PragueComputation.get_precompiles(),
    force_bytes_to_address(b"\x05"): modexp,
    P256VERIFY_ADDRESS: p256verify,
}


class OsakaComputation(PragueComputation):
    """A class for all execution computations in the Osaka fork."""

    opcodes = OSAKA_OPCODES
    _precompiles = OSAKA_PRECOMPILES
