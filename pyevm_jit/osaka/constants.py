"""Osaka's execution-layer constants, each with the EIP that sets it (values as in the
execution specification, `ethereum.forks.osaka`)."""

from __future__ import annotations

from eth._utils.address import force_bytes_to_address

# EIP-7939: CLZ, count leading zeros, at 0x1e; costs GAS_LOW (5)
CLZ = 0x1E
GAS_CLZ = 5

# EIP-7951: P256VERIFY, secp256r1 (P-256) signature verification
P256VERIFY_ADDRESS = force_bytes_to_address(b"\x01\x00")
GAS_P256VERIFY = 6900
P256VERIFY_INPUT_LENGTH = 160
#: the curve's field prime p, order n and coefficients a, b (SEC 2, secp256r1)
SECP256R1_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
SECP256R1_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SECP256R1_A = SECP256R1_P - 3
SECP256R1_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B

# EIP-7823: upper bound of each MODEXP length (base, exponent, modulus), in bytes
MODEXP_MAX_LENGTH = 1024
# EIP-7883: MODEXP gas
MODEXP_MIN_GAS = 500
MODEXP_MIN_COMPLEXITY = 16
MODEXP_EXPONENT_BYTE_FACTOR = 16

# EIP-7825: the most gas one transaction may ask for
TX_MAX_GAS_LIMIT = 2**24

# EIP-7594: the most blobs one transaction may carry
BLOB_COUNT_LIMIT = 6

# EIP-7918: the blob base fee is bounded below by this many times the execution base fee
BLOB_BASE_COST = 2**13

# EIP-7934: the most bytes an RLP-encoded block may have
MAX_BLOCK_SIZE = 10_485_760
SAFETY_MARGIN = 2_097_152
MAX_RLP_BLOCK_SIZE = MAX_BLOCK_SIZE - SAFETY_MARGIN
