"""P256VERIFY (EIP-7951): secp256r1 signature verification as a precompile at 0x100.

Input: hash (32) | r (32) | s (32) | qx (32) | qy (32), 160 bytes. Output: 32 bytes ending in
1 when the signature verifies, else nothing. The gas (6900) is charged whatever the input; a
malformed input (wrong length, r or s outside [1, n), a coordinate outside [0, p), the point at
infinity or a point off the curve) is a failed verification, never an error: the call succeeds
with empty output. The elliptic-curve arithmetic is `cryptography`'s (OpenSSL) ECDSA verify on
the pre-hashed message, after these checks made here in integers.
"""

from __future__ import annotations

from eth.abc import ComputationAPI

from pyevm_jit.osaka.constants import (
    GAS_P256VERIFY,
    P256VERIFY_INPUT_LENGTH,
    SECP256R1_A,
    SECP256R1_B,
    SECP256R1_N,
    SECP256R1_P,
)

SUCCESS = (1).to_bytes(32, "big")


def on_curve(x: int, y: int) -> bool:
    """Whether (x, y), both in [0, p), satisfies y^2 = x^3 + ax + b (mod p)."""
    p = SECP256R1_P
    return (y * y - (x * x * x + SECP256R1_A * x + SECP256R1_B)) % p == 0


def p256_verify(data: bytes) -> bool:
    """EIP-7951's verification of a 160-byte input; False for any malformed one."""
    if len(data) != P256VERIFY_INPUT_LENGTH:
        return False
    digest = data[:32]
    r, s, qx, qy = (int.from_bytes(data[i : i + 32], "big") for i in range(32, 160, 32))
    if not (0 < r < SECP256R1_N and 0 < s < SECP256R1_N):
        return False
    if qx >= SECP256R1_P or qy >= SECP256R1_P or (qx == 0 and qy == 0):
        return False
    if not on_curve(qx, qy):
        return False
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import (
        Prehashed,
        encode_dss_signature,
    )

    try:
        key = ec.EllipticCurvePublicNumbers(qx, qy, ec.SECP256R1()).public_key()
        key.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except (InvalidSignature, ValueError):
        return False
    return True


def p256verify(computation: ComputationAPI) -> ComputationAPI:
    """The precompile: charge 6900 gas, output 32-byte 1 on a valid signature, else nothing."""
    computation.consume_gas(GAS_P256VERIFY, reason="P256VERIFY precompile")
    if p256_verify(computation.msg.data_as_bytes):
        computation.output = SUCCESS
    return computation
