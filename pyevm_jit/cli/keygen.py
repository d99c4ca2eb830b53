"""`pyevm-jit keygen DIR`: an Ed25519 key pair for signing artifacts of a shared store.

Writes `pyevm-jit-signing.pem` (the private key, mode 0600: for the producers, e.g. the CI job
of the default branch, as `PYEVM_JIT_SIGNING_KEY`) and `pyevm-jit-trusted.pem` (the public key:
for every consumer, as `PYEVM_JIT_TRUSTED_KEYS`); see docs/shared-store.md."""

from __future__ import annotations

import argparse

from pyevm_jit.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="folder for the key pair (created)")


def run(args: argparse.Namespace) -> int:
    from pyevm_jit.runtime.store.signing import SigningKeyError, write_keypair

    try:
        private, public = write_keypair(args.directory)
    except SigningKeyError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(str(exc)) from None
    print(f"private key (signing; keep secret, mode 0600): {private}")
    print(f"public key (give to consumers as PYEVM_JIT_TRUSTED_KEYS): {public}")
    return 0
