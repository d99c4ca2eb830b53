"""Known deviations of stock py-evm (0.12) from the Ethereum state tests.

Every entry is a case where py-evm's own interpreter disagrees with the fixture, so no VM class
built on it can pass. Such cases are reported as expected failures (xfail), never as passes; a
listed case that passes is reported as a failure so that this list stays exact.

Keys are case ids `<file relative to GeneralStateTests>::<test>::<fork>::<index>`; a key may
stop after the file, the test or the fork to cover all the cases under it. Each value says what
differs and why.
"""

from __future__ import annotations

_EIP3607 = (
    "EIP-3607 (reject transactions from senders with deployed code, SENDER_NOT_EOA): py-evm "
    "0.12 does not implement it and executes the transaction"
)

KNOWN_DEVIATIONS: dict[str, str] = {
    # --- transaction validation gaps -------------------------------------------------------
    "stEIP3607/transactionCollidingWithNonEmptyAccount_calls.json": _EIP3607,
    "stEIP3607/transactionCollidingWithNonEmptyAccount_callsItself.json": _EIP3607,
    "stEIP3607/transactionCollidingWithNonEmptyAccount_init_Paris.json": _EIP3607,
    "stEIP3607/transactionCollidingWithNonEmptyAccount_send_Paris.json": _EIP3607,
    "Cancun/stEIP4844-blobtransactions/createBlobhashTx.json::createBlobhashTx::Cancun::0": (
        "a blob transaction with an empty `to` must be invalid (TYPE_3_TX_CONTRACT_CREATION); "
        "py-evm 0.12 accepts it and runs it as a contract creation"
    ),
    "Shanghai/stEIP3860-limitmeterinitcode/creationTxInitCodeSizeLimit.json"
    "::creationTxInitCodeSizeLimit::Cancun::1": (
        "a creation transaction with init code over 49152 bytes must be invalid "
        "(INITCODE_SIZE_EXCEEDED); py-evm 0.12 does not check it in transaction validation but "
        "raises OutOfGas out of apply_transaction after buying gas and bumping the nonce"
    ),
}


def deviation_reason(case_id: str) -> str | None:
    """Why `case_id` is a known py-evm deviation, or None when it is not one."""
    # Test names may contain "::" themselves (the EEST ones do), so cut from both ends.
    candidates = (
        case_id,
        case_id.rsplit("::", 1)[0],  # file::test::fork
        case_id.rsplit("::", 2)[0],  # file::test
        case_id.split("::", 1)[0],  # file
    )
    for key in candidates:
        reason = KNOWN_DEVIATIONS.get(key)
        if reason is not None:
            return reason
    return None
