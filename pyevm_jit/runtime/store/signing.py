"""Signatures of artifacts that travel between machines (the shared store, `store.shared`).

The folder rules of `store.policy` protect a local cache; they mean nothing for a bucket. An
artifact published to a shared store is therefore wrapped in a signed envelope::

    ENVELOPE_MAGIC, u32 length, JSON {"key": key id, "signature": hex}, artifact file bytes

The signature is Ed25519 (`cryptography`) over a domain string and the artifact file's bytes
(header, manifest and object: `store.format`), so nothing of an artifact can be changed without
breaking it. Ed25519 signatures are deterministic: one producer key publishing one artifact
twice writes the same bytes.

Producers sign with the private key in `PYEVM_JIT_SIGNING_KEY=FILE`; consumers link only what a
public key in `PYEVM_JIT_TRUSTED_KEYS=FILE[:FILE...]` (PEM files) verifies. `pyevm-jit keygen
DIR` writes a pair (`write_keypair`). `cryptography` comes with the `[cluster]` extra; without
it nothing can be signed or verified, so nothing from a shared store is ever linked.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyevm_jit.files import atomic_write, make_private_dirs
from pyevm_jit.runtime.store.format import frame, unframe

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

ENVELOPE_MAGIC = b"pyevm-jit signed artifact 1\n"
_DOMAIN = b"pyevm-jit artifact signature 1\0"
_MAX_HEADER = 4096

SIGNING_KEY_ENV = "PYEVM_JIT_SIGNING_KEY"
TRUSTED_KEYS_ENV = "PYEVM_JIT_TRUSTED_KEYS"
PRIVATE_NAME = "pyevm-jit-signing.pem"
PUBLIC_NAME = "pyevm-jit-trusted.pem"


class TrustError(Exception):
    """An envelope that must not be linked: unsigned, signed by an unknown key, or tampered."""


class SigningKeyError(Exception):
    """A key file that cannot be read or is not an Ed25519 key of the right kind."""


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise SigningKeyError(
            "signing needs the 'cryptography' package (pip install 'pyevm-jit[cluster]')"
        ) from None
    return serialization, ed25519


def key_id(public: Ed25519PublicKey) -> str:
    """A short name of a public key (the first 16 hex digits of its raw bytes' Keccak)."""
    from eth_hash.auto import keccak

    serialization, _ = _crypto()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return str(keccak(raw).hex()[:16])


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey
    key_id: str

    def wrap(self, artifact_bytes: bytes) -> bytes:
        """The signed envelope of an artifact file."""
        signature = self.private.sign(_DOMAIN + artifact_bytes)
        header = json.dumps(
            {"key": self.key_id, "signature": signature.hex()}, sort_keys=True
        ).encode()
        return frame(ENVELOPE_MAGIC, header, artifact_bytes)


@dataclass(frozen=True)
class TrustedKeys:
    """The public keys a consumer trusts, by key id."""

    keys: Mapping[str, Ed25519PublicKey]

    def unwrap(self, data: bytes) -> bytes:
        """The artifact file inside a signed envelope; TrustError when it must not be used."""
        if not data.startswith(ENVELOPE_MAGIC):
            raise TrustError("unsigned (no signature envelope)")
        try:
            head, body = unframe(data, ENVELOPE_MAGIC, _MAX_HEADER, "signature envelope")
        except ValueError as exc:
            raise TrustError(str(exc)) from None
        try:
            header = json.loads(head.decode("utf-8"))
            kid = str(header["key"])
            signature = bytes.fromhex(str(header["signature"]))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise TrustError("signature envelope unreadable") from None
        public = self.keys.get(kid)
        if public is None:
            raise TrustError(f"signed by key {kid}, which is not trusted")
        try:
            public.verify(signature, _DOMAIN + body)
        except Exception:  # cryptography's InvalidSignature
            raise TrustError(f"bad signature of key {kid} (tampered)") from None
        return body


def _read_pem(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read key file {path}: {exc.strerror or exc}") from None


def load_signer(path: str | os.PathLike[str]) -> Signer:
    """The producer's signing key (a PEM PKCS#8 Ed25519 private key)."""
    serialization, ed25519 = _crypto()
    path = Path(path)
    try:
        private = serialization.load_pem_private_key(_read_pem(path), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 private key")
    return Signer(private, key_id(private.public_key()))


def load_trusted(paths: Sequence[str | os.PathLike[str]]) -> TrustedKeys:
    """The public keys in PEM files (each may hold several keys, one after the other)."""
    serialization, ed25519 = _crypto()
    keys: dict[str, Ed25519PublicKey] = {}
    for raw_path in paths:
        path = Path(raw_path)
        text = _read_pem(path)
        blocks = [b for b in text.split(b"-----END PUBLIC KEY-----") if b.strip()]
        if not blocks:
            raise SigningKeyError(f"{path} holds no PEM public key")
        for block in blocks:
            try:
                public = serialization.load_pem_public_key(
                    block.strip() + b"\n-----END PUBLIC KEY-----\n"
                )
            except ValueError as exc:
                raise SigningKeyError(f"{path}: not a PEM public key: {exc}") from None
            if not isinstance(public, ed25519.Ed25519PublicKey):
                raise SigningKeyError(f"{path}: not an Ed25519 public key")
            keys[key_id(public)] = public
    return TrustedKeys(keys)


def signer_from_env(environ: Mapping[str, str] | None = None) -> Signer | None:
    env = os.environ if environ is None else environ
    text = env.get(SIGNING_KEY_ENV, "").strip()
    return load_signer(text) if text else None


def trusted_from_env(environ: Mapping[str, str] | None = None) -> TrustedKeys:
    env = os.environ if environ is None else environ
    text = env.get(TRUSTED_KEYS_ENV, "").strip()
    paths = [p for p in text.split(os.pathsep) if p]
    return load_trusted(paths) if paths else TrustedKeys({})


def write_keypair(directory: str | os.PathLike[str]) -> tuple[Path, Path]:
    """A new Ed25519 pair in `directory`: the private key (mode 0600) and the public key
    (mode 0644), each written atomically; an existing pair is never overwritten."""
    serialization, ed25519 = _crypto()
    folder = Path(directory)
    private_path, public_path = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    for path in (private_path, public_path):
        if os.path.lexists(path):
            raise FileExistsError(f"{path} exists (remove it first to make a new pair)")
    make_private_dirs(folder)
    private = ed25519.Ed25519PrivateKey.generate()
    atomic_write(
        private_path,
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        mode=0o600,
    )
    atomic_write(
        public_path,
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        mode=0o644,
    )
    return private_path, public_path
