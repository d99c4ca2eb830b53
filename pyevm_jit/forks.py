"""Fork names and the fork VM classes (py-evm's, and Osaka's from pyevm_jit/osaka), said once.

Three spellings name a fork: py-evm's id (`VM.fork`: "tangerine-whistle", the key of programs
and artifacts), the VM class ("TangerineWhistleVM") and the name the Ethereum tests use
("EIP150"). `fork_name` turns any of them (any case, `_` or `-`) into py-evm's id;
`fixture_fork_name` into the Ethereum tests' name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import eth.vm.forks as _forks
from eth.abc import VirtualMachineAPI

from pyevm_jit.osaka import BPO1VM, BPO2VM, OsakaVM

#: py-evm's fork VM classes, oldest first
VM_CLASSES: tuple[type[VirtualMachineAPI], ...] = (
    _forks.FrontierVM,
    _forks.HomesteadVM,
    _forks.TangerineWhistleVM,
    _forks.SpuriousDragonVM,
    _forks.ByzantiumVM,
    _forks.ConstantinopleVM,
    _forks.PetersburgVM,
    _forks.IstanbulVM,
    _forks.MuirGlacierVM,
    _forks.BerlinVM,
    _forks.LondonVM,
    _forks.ArrowGlacierVM,
    _forks.GrayGlacierVM,
    _forks.ParisVM,
    _forks.ShanghaiVM,
    _forks.CancunVM,
    _forks.PragueVM,
    # the forks after py-evm's last, built here on its PragueVM (pyevm_jit/osaka)
    OsakaVM,
    BPO1VM,
    BPO2VM,
)
#: py-evm fork id -> VM class, oldest first
FORK_VMS: dict[str, type[VirtualMachineAPI]] = {vm.fork: vm for vm in VM_CLASSES}
FORKS: tuple[str, ...] = tuple(FORK_VMS)

#: turns a stock fork VM class into the class to run with (itself, or its JIT VM)
VMFactory = Callable[[type[Any]], type[Any]]

#: the Ethereum tests' fork names (in `post`, and a few aliases) -> py-evm fork id, oldest first
FIXTURE_FORKS: dict[str, str] = {
    "Frontier": "frontier",
    "Homestead": "homestead",
    "EIP150": "tangerine-whistle",
    "EIP158": "spurious-dragon",
    "Byzantium": "byzantium",
    "Constantinople": "constantinople",
    "ConstantinopleFix": "petersburg",
    "Istanbul": "istanbul",
    "MuirGlacier": "muir-glacier",
    "Berlin": "berlin",
    "London": "london",
    "ArrowGlacier": "arrow-glacier",
    "GrayGlacier": "gray-glacier",
    "Paris": "paris",
    "Merge": "paris",
    "Shanghai": "shanghai",
    "Cancun": "cancun",
    "Prague": "prague",
    "Osaka": "osaka",
    "BPO1": "bpo1",
    "BPO2": "bpo2",
}

#: forks that exist in Ethereum (and in newer test releases) but that neither py-evm 0.12 nor
#: this package has: their test cases are counted as unsupported, never silently dropped
UNSUPPORTED_FIXTURE_FORKS: frozenset[str] = frozenset(
    {"Amsterdam", "BPO3", "BPO4", "BPO5", "EOF", "EOFv1"}
)


def vm_classes() -> dict[str, type[VirtualMachineAPI]]:
    """py-evm's fork VM classes by their `fork` id, oldest first."""
    return dict(FORK_VMS)


def _simple(name: str) -> str:
    text = name.strip().lower().replace("-", "").replace("_", "")
    return text[:-2] if text.endswith("vm") else text


@functools.cache
def _spellings() -> dict[str, str]:
    """Every accepted spelling, simplified -> py-evm fork id."""
    names = {_simple(fork): fork for fork in FORKS}
    names.update({_simple(vm.__name__): vm.fork for vm in VM_CLASSES})
    names.update({_simple(fixture): fork for fixture, fork in FIXTURE_FORKS.items()})
    return names


def fork_name(name: str) -> str:
    """py-evm's id of a fork named any way ('Cancun', 'CancunVM', 'tangerine_whistle',
    'EIP150'). ValueError for a fork py-evm lacks."""
    fork = _spellings().get(_simple(name))
    if fork is None:
        raise ValueError(f"unknown fork {name!r} (known: {', '.join(FORKS)})")
    return fork


def fixture_fork_name(name: str) -> str:
    """The Ethereum tests' name of a fork named any way, including the forks py-evm lacks
    ('osaka' -> 'Osaka', 'tangerine_whistle' -> 'EIP150'). ValueError for an unknown name."""
    wanted = _simple(name)
    for known in sorted([*FIXTURE_FORKS, *UNSUPPORTED_FIXTURE_FORKS]):
        if _simple(known) == wanted:
            return known
    fork = _spellings().get(wanted)
    if fork is not None:
        return next(fixture for fixture, id_ in FIXTURE_FORKS.items() if id_ == fork)
    raise ValueError(
        f"unknown fork {name!r} (known: {', '.join(FIXTURE_FORKS)}, "
        f"and unsupported: {', '.join(sorted(UNSUPPORTED_FIXTURE_FORKS))})"
    )


def fork_vm(fork: str) -> type[VirtualMachineAPI]:
    """py-evm's VM class of a fork named any way."""
    return FORK_VMS[fork_name(fork)]


def valid_opcodes(fork: str) -> frozenset[int]:
    """The opcode bytes that exist in `fork` according to py-evm (the oracle)."""
    computation_class = fork_vm(fork)._state_class.computation_class  # type: ignore[attr-defined]
    return frozenset(computation_class.opcodes)


def fork_at_least(fork: str, other: str) -> bool:
    return FORKS.index(fork_name(fork)) >= FORKS.index(fork_name(other))


def header_class(vm_class: type[Any]) -> type[Any]:
    """The block header class of a VM class (its block class's `header` field)."""
    return dict(vm_class.get_block_class()._meta.fields)["header"]
