"""Osaka's execution-layer EIPs at their boundaries, each case run on the execution
specification (when the `osaka-spec` extra is installed), on OsakaVM interpreted and on OsakaVM
through the JIT: all sides must agree, and the outcome must be the one the EIP's text says."""

from __future__ import annotations

import pytest
from eth.constants import GAS_BASE, GAS_VERYLOW
from eth.vm.forks.prague.computation import PragueComputation
from osaka_cases import Sides, agreed, tx_case

from pyevm_jit.osaka import OsakaComputation
from pyevm_jit.osaka.constants import (
    BLOB_COUNT_LIMIT,
    GAS_CLZ,
    GAS_P256VERIFY,
    MODEXP_MAX_LENGTH,
    SECP256R1_N,
    SECP256R1_P,
    TX_MAX_GAS_LIMIT,
)
from pyevm_jit.testing.assembler import asm

MARK = 0xDEAD  # pre-stored in every probed slot, so a store of 0 is seen

# --- EIP-7939: CLZ ------------------------------------------------------------------------------

CLZ_CASES = [(0, 256), (1, 255), (2**255, 0), (2**256 - 1, 0), (2**255 - 1, 1), (0xFF, 248)]


def test_clz_values_and_gas(sides: Sides) -> None:
    code = b"".join(asm(value, "CLZ", slot, "SSTORE") for slot, (value, _) in enumerate(CLZ_CASES))
    gas_slot = len(CLZ_CASES)
    # GAS; PUSH1 1; CLZ; POP; GAS -> the difference is PUSH + CLZ + POP + GAS
    code += asm("GAS", 1, "CLZ", "POP", "GAS", "SWAP1", "SUB", gas_slot, "SSTORE", "STOP")
    slots = range(len(CLZ_CASES) + 1)
    case = tx_case(code, storage={s: MARK for s in slots}, probe=slots)
    result = agreed(sides(case))
    assert result.valid
    expected_gas = GAS_VERYLOW + GAS_CLZ + GAS_BASE + GAS_BASE
    assert result.probed == (*(count for _, count in CLZ_CASES), expected_gas)


def test_clz_on_an_empty_stack_fails(sides: Sides) -> None:
    case = tx_case(asm("CLZ", 1, 0, "SSTORE"), storage={0: MARK}, probe=[0])
    result = agreed(sides(case))
    assert result.valid and result.probed == (MARK,)  # the frame failed: nothing stored


def test_clz_exists_from_osaka_only() -> None:
    assert 0x1E in OsakaComputation.opcodes
    assert 0x1E not in PragueComputation.opcodes


# --- precompiles through a probe contract ----------------------------------------------------


def probe_code(address: int, call_gas: int = 1_000_000) -> bytes:
    """STATICCALL `address` with the calldata; store success (slot 0), the output's size
    (slot 1) and its first word (slot 2)."""
    return asm(
        "CALLDATASIZE", 0, 0, "CALLDATACOPY",
        32, 0x1000, "CALLDATASIZE", 0, address, call_gas, "STATICCALL",
        0, "SSTORE", "RETURNDATASIZE", 1, "SSTORE", 0x1000, "MLOAD", 2, "SSTORE", "STOP",
    )  # fmt: skip


def call_precompile(sides: Sides, address: int, data: bytes, call_gas: int = 1_000_000) -> tuple:
    case = tx_case(
        probe_code(address, call_gas), data=data, storage={0: MARK, 1: MARK, 2: MARK},
        probe=(0, 1, 2),
    )  # fmt: skip
    result = agreed(sides(case))
    assert result.valid
    return result.probed


# --- EIP-7951: P256VERIFY -------------------------------------------------------------------

P256 = 0x100


def _signed_vector(digest: bytes = bytes(range(32))) -> bytes:
    """A valid input: a fixed key's signature over `digest` (made by OpenSSL's signer; the
    specification verifies with another library, pycryptodome)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

    key = ec.derive_private_key(0xC0FFEE, ec.SECP256R1())
    r, s = decode_dss_signature(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
    public = key.public_key().public_numbers()
    words = (r, s, public.x, public.y)
    return digest + b"".join(w.to_bytes(32, "big") for w in words)


VALID = _signed_vector()


def _with(vector: bytes, index: int, value: int) -> bytes:
    """`vector` with its word `index` (0 hash, 1 r, 2 s, 3 qx, 4 qy) set to `value`."""
    return vector[: 32 * index] + value.to_bytes(32, "big") + vector[32 * (index + 1) :]


VALID_P256 = {
    "signature": VALID,
    # EIP-7951 has no low-s rule: the malleable twin (r, n - s) verifies too
    "high s": _with(VALID, 2, SECP256R1_N - int.from_bytes(VALID[64:96], "big")),
    "zero digest": _signed_vector(bytes(32)),
    "all-ones digest (above n)": _signed_vector(b"\xff" * 32),
}


@pytest.mark.parametrize("name", sorted(VALID_P256))
def test_p256verify_valid_signature(sides: Sides, name: str) -> None:
    assert call_precompile(sides, P256, VALID_P256[name]) == (1, 32, 1)


INVALID_P256 = {
    "other digest": _with(VALID, 0, 1),
    "r = 0": _with(VALID, 1, 0),
    "r = n": _with(VALID, 1, SECP256R1_N),
    "s = 0": _with(VALID, 2, 0),
    "s = n": _with(VALID, 2, SECP256R1_N),
    "qx = p": _with(VALID, 3, SECP256R1_P),
    "qy = p": _with(VALID, 4, SECP256R1_P),
    "point at infinity": _with(_with(VALID, 3, 0), 4, 0),
    "point off the curve": _with(VALID, 4, 1),
    "159 bytes": VALID[:-1],
    "161 bytes": VALID + b"\x00",
    "empty": b"",
}


@pytest.mark.parametrize("name", sorted(INVALID_P256))
def test_p256verify_invalid_inputs_succeed_with_empty_output(sides: Sides, name: str) -> None:
    # EIP-7951: a failed verification (malformed input included) returns nothing, never fails
    assert call_precompile(sides, P256, INVALID_P256[name]) == (1, 0, 0)


def test_p256verify_gas(sides: Sides) -> None:
    assert call_precompile(sides, P256, VALID, call_gas=GAS_P256VERIFY) == (1, 32, 1)
    assert call_precompile(sides, P256, VALID, call_gas=GAS_P256VERIFY - 1) == (0, 0, 0)
    assert call_precompile(sides, P256, b"", call_gas=GAS_P256VERIFY - 1) == (0, 0, 0)


# --- EIP-7823 / EIP-7883: MODEXP --------------------------------------------------------------

MODEXP = 0x05


def modexp_input(
    base: bytes, exponent: bytes, modulus: bytes, lengths: tuple | None = None
) -> bytes:
    b, e, m = lengths or (len(base), len(exponent), len(modulus))
    return b"".join(n.to_bytes(32, "big") for n in (b, e, m)) + base + exponent + modulus


@pytest.mark.parametrize("which", [0, 1, 2])
def test_modexp_lengths_up_to_1024_bytes(sides: Sides, which: int) -> None:
    parts = [b"\x02", b"\x03", b"\x07"]  # 2**3 % 7 = 1
    parts[which] = parts[which].rjust(MODEXP_MAX_LENGTH, b"\x00")
    success, size, word = call_precompile(sides, MODEXP, modexp_input(*parts))
    modulus_length = len(parts[2])
    assert (success, size) == (1, modulus_length)
    assert word == (1 << 248 if modulus_length == 1 else 0)  # 1, as 1 or 1024 bytes


@pytest.mark.parametrize("which", [0, 1, 2])
def test_modexp_length_over_1024_bytes_fails(sides: Sides, which: int) -> None:
    parts = [b"\x02", b"\x03", b"\x07"]
    parts[which] = parts[which].rjust(MODEXP_MAX_LENGTH + 1, b"\x00")
    assert call_precompile(sides, MODEXP, modexp_input(*parts)) == (0, 0, 0)


def test_modexp_declared_length_over_bound_without_data_fails(sides: Sides) -> None:
    data = modexp_input(b"", b"", b"", lengths=(0, 0, 2**255))
    assert call_precompile(sides, MODEXP, data) == (0, 0, 0)


def test_modexp_empty_base_and_exponent(sides: Sides) -> None:
    # 0 ** 0 mod 5 = 1 (EIP-198's definition by pow)
    assert call_precompile(sides, MODEXP, modexp_input(b"", b"", b"\x05")) == (1, 1, 1 << 248)


# --- EIP-7825: transaction gas limit cap ------------------------------------------------------


@pytest.mark.parametrize(
    ("gas", "valid"), [(TX_MAX_GAS_LIMIT - 1, True), (TX_MAX_GAS_LIMIT, True),
                       (TX_MAX_GAS_LIMIT + 1, False), (30_000_000, False)],
)  # fmt: skip
def test_transaction_gas_cap(sides: Sides, gas: int, valid: bool) -> None:
    case = tx_case(asm(1, 0, "SSTORE"), gas=gas, probe=[0])
    result = agreed(sides(case))
    assert result.valid is valid
    assert result.probed == ((1,) if valid else (0,))


# --- EIP-7594: blobs per transaction ------------------------------------------------------------


@pytest.mark.parametrize("count", [1, BLOB_COUNT_LIMIT, BLOB_COUNT_LIMIT + 1, 9, 10])
def test_blob_count_per_transaction(sides: Sides, count: int) -> None:
    hashes = [b"\x01" + bytes([n]) * 31 for n in range(count)]
    case = tx_case(asm(1, 0, "SSTORE"), blob_hashes=hashes, probe=[0])
    result = agreed(sides(case))
    assert result.valid is (count <= BLOB_COUNT_LIMIT)


def test_blob_transaction_cannot_create(sides: Sides) -> None:
    case = tx_case(b"", to=b"", blob_hashes=[b"\x01" * 32])
    assert not agreed(sides(case)).valid


# --- EIP-7623 (Prague): the calldata floor is checked when the transaction is validated -------


@pytest.mark.parametrize(("gas", "valid"), [(25_000, True), (24_999, False)])
def test_calldata_floor_is_a_validity_rule(sides: Sides, gas: int, valid: bool) -> None:
    # 100 non-zero bytes: 400 tokens, floor 21000 + 10 * 400 = 25000 > 21000 + 16 * 100
    case = tx_case(b"", data=b"\x01" * 100, gas=gas)
    assert agreed(sides(case)).valid is valid
