"""The artifact format: the key, the manifest, the digest and the file an artifact is.

An artifact file is a header line, the manifest (JSON) and the object bytes. Its name is
`{code_hash}.O{opt}.{identity}.pjit` for a whole-contract program and
`{code_hash}.O{opt}.{identity}.R{blocks}-{digest}.pjit` for a region program (docs/regions.md:
the program compiles `blocks` of the contract's blocks, the others are side exits; `digest`
names the set of their start pcs, so two coverages never share a name), where `identity` is a
short fingerprint of the engine
identity (`compiler.target.EngineIdentity`: package version, a hash of the code generator's and
the runtime library's sources, py-evm version, ABI version, LLVM, target triple, CPU, features),
so one store can serve machines and versions without one overwriting another, and an artifact
of another engine is skipped by its name alone.

The manifest repeats the key (code hash, fork, optimisation level, and for a region program
the start pcs of its blocks: `region`, absent for a whole contract), the full identity, the
entry symbol, the bytecode and object sizes, the creation time and a Keccak-256 digest of the
manifest and the object together. Before an artifact is handed out it must agree with its file
name, its entry symbol must be the one derived from (code hash, fork), and the digest must
match; the backend checks the digest once more right before linking, and the code length
against the code it is about to run.

What the digest protects against: corruption (a truncated or damaged file, a disk or copy
error) and mix-ups (an artifact copied or renamed under another key, a manifest paired with
another object, code of another compiler). It cannot protect against someone who can write the
store as you: they can compute a valid digest (`store.policy` is about that).
"""

from __future__ import annotations

import dataclasses
import json
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_type_hints

from eth_hash.auto import keccak

from pyevm_jit.compiler.regions import region_digest
from pyevm_jit.compiler.target import EngineIdentity
from pyevm_jit.runtime.types import RuntimeCacheKey

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode

MANIFEST_FORMAT = 2
#: the first bytes of every artifact file
MAGIC = b"pyevm-jit artifact 2\n"
SUFFIX = ".pjit"
#: refuse to read anything bigger than this as an artifact
MAX_ARTIFACT_BYTES = 64 << 20
MAX_MANIFEST_BYTES = 64 << 10
_DIGEST_DOMAIN = b"pyevm-jit artifact digest 2\0"
_HEADER = struct.Struct(">I")


def identity_fingerprint(identity: EngineIdentity) -> str:
    """A short, stable name for an engine identity (used in file names)."""
    text = json.dumps(identity.as_dict(), sort_keys=True)
    return keccak(text.encode()).hex()[:16]


def expected_entry_symbol(code_hash: bytes, fork: str) -> str:
    """The entry symbol an artifact for (code hash, fork) must export."""
    from pyevm_jit.compiler.compile import entry_symbol

    return entry_symbol(code_hash, fork)


def region_tag(region: frozenset[int] | None) -> str:
    """What names a region in a key: `{blocks}-{digest of their sorted start pcs}` ("" for the
    whole contract)."""
    return "" if region is None else f"{len(region)}-{region_digest(region)}"


def region_text(region: frozenset[int] | None) -> str:
    """A region as its manifest writes it: the sorted start pcs, comma-separated."""
    return "" if region is None else ",".join(map(str, sorted(region)))


def parse_region(text: str) -> frozenset[int] | None:
    """The region a manifest's `region` text names (None: the whole contract); ValueError when
    it is not the canonical text of a non-empty set of pcs."""
    if not text:
        return None
    region = frozenset(int(part) for part in text.split(","))
    if not region or min(region) < 0 or region_text(region) != text:
        raise ValueError("manifest region is not a sorted list of distinct pcs")
    return region


@dataclass(frozen=True)
class ArtifactKey:
    """The full identity of an artifact: runtime key, optimisation level, engine identity, and
    what a region program covers (`region_tag`; "" for a whole contract)."""

    code_hash: bytes
    fork: str
    opt_level: int
    identity: str  # identity_fingerprint(...)
    region: str = ""  # region_tag(...)

    @property
    def runtime_key(self) -> RuntimeCacheKey:
        return RuntimeCacheKey(self.code_hash, self.fork)

    @property
    def region_blocks(self) -> int:
        """Blocks a region program covers (0: the whole contract)."""
        return int(self.region.split("-", 1)[0]) if self.region else 0

    @property
    def rank(self) -> tuple[int, int, int]:
        """Orders the artifacts of one code, best last: a whole contract before any region, a
        larger region before a smaller one, then the higher level."""
        return (0 if self.region else 1, self.region_blocks, self.opt_level)

    @property
    def stem(self) -> str:
        stem = f"{self.code_hash.hex()}.O{self.opt_level}.{self.identity}"
        return f"{stem}.R{self.region}" if self.region else stem

    @property
    def file_name(self) -> str:
        return self.stem + SUFFIX

    @classmethod
    def for_identity(
        cls,
        key: RuntimeCacheKey,
        opt_level: int,
        identity: EngineIdentity,
        region: frozenset[int] | None = None,
    ) -> ArtifactKey:
        fingerprint = identity_fingerprint(identity)
        return cls(key.code_hash, key.fork, opt_level, fingerprint, region_tag(region))

    @classmethod
    def from_file_name(cls, fork: str, name: str) -> ArtifactKey | None:
        """The key a file name stands for, or None for anything else."""
        if not name.endswith(SUFFIX) or name.startswith("."):
            return None
        parts = name[: -len(SUFFIX)].split(".")
        if len(parts) not in (3, 4) or not parts[1].startswith("O") or len(parts[2]) != 16:
            return None
        region = parts[3][1:] if len(parts) == 4 else ""
        try:
            code_hash = bytes.fromhex(parts[0])
            opt = int(parts[1][1:])
            if len(parts) == 4:
                blocks, digest = region.split("-")
                if not parts[3].startswith("R") or int(blocks) <= 0 or len(digest) != 16:
                    return None
                bytes.fromhex(digest)
        except ValueError:
            return None
        if len(code_hash) != 32 or opt < 0 or not safe_name(fork):
            return None
        return cls(code_hash, fork, opt, parts[2], region)


def safe_name(name: str) -> bool:
    """Whether `name` is a plain file or folder name (no path, not . or ..)."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


@dataclass(frozen=True)
class ArtifactManifest(EngineIdentity):
    """What an artifact says about its object: the engine identity that built it (the fields of
    `EngineIdentity`), the key, the entry symbol, the sizes, the creation time and the digest of
    this manifest and the object together."""

    format: int
    code_hash: str  # hex
    fork: str
    opt_level: int
    entry_symbol: str
    bytecode_len: int
    artifact_len: int
    created: float
    digest: str  # hex Keccak-256 of this manifest (without the digest) and the object bytes
    #: a region program's block start pcs (`region_text`); "" (and absent from the file, so
    #: a whole contract's manifest is what it was before regions were stored): whole contract
    region: str = ""

    @property
    def identity(self) -> EngineIdentity:
        return EngineIdentity(**EngineIdentity.as_dict(self))

    @property
    def covered(self) -> frozenset[int] | None:
        """The blocks a region program compiles (None: the whole contract)."""
        return parse_region(self.region)

    @property
    def key(self) -> ArtifactKey:
        return ArtifactKey(
            bytes.fromhex(self.code_hash),
            self.fork,
            self.opt_level,
            identity_fingerprint(self.identity),
            region_tag(self.covered),
        )

    def _fields(self) -> dict[str, Any]:
        fields = dataclasses.asdict(self)
        if not fields["region"]:
            del fields["region"]
        return fields

    def signed_fields(self) -> dict[str, Any]:
        """Every field but the digest (what the digest covers, with the object)."""
        fields = self._fields()
        del fields["digest"]
        return fields

    def to_json(self) -> str:
        return json.dumps(self._fields(), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ArtifactManifest:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("manifest is not a JSON object")
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"unknown manifest format {data.get('format')!r}")
        types: dict[str, type] = get_type_hints(cls)
        values: dict[str, Any] = {}
        for name, kind in types.items():
            if name == "region" and name not in data:
                continue  # a whole contract's
            if name not in data:
                raise ValueError(f"manifest lacks {name!r}")
            value = data[name]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"manifest field {name!r} has the wrong type")
            values[name] = value
        extra = set(data) - set(types)
        if extra:
            raise ValueError(f"manifest has unknown fields {sorted(extra)}")
        manifest = cls(**values)
        try:
            if len(bytes.fromhex(manifest.code_hash)) != 32:
                raise ValueError
            if len(bytes.fromhex(manifest.digest)) != 32:
                raise ValueError
        except ValueError:
            raise ValueError("manifest code hash or digest is not 32 bytes of hex") from None
        covered = manifest.covered  # ValueError when not canonical
        if covered is not None and max(covered) >= manifest.bytecode_len:
            raise ValueError("manifest region lies outside the code")
        if not safe_name(manifest.fork):
            raise ValueError("manifest fork is not a plain name")
        return manifest


def frame(magic: bytes, head: bytes, body: bytes) -> bytes:
    """`magic`, the length of `head` (4 bytes, big-endian), `head`, `body`: the layout of an
    artifact file, a signed envelope, a runtime-library file and what their digests hash."""
    return magic + _HEADER.pack(len(head)) + head + body


def unframe(data: bytes, magic: bytes, max_head: int, what: str) -> tuple[bytes, bytes]:
    """(head, body) of `data` laid out by `frame` after `magic`; ValueError naming `what`
    ("artifact file", ...) when it is not that, is cut short or its head exceeds `max_head`."""
    if not data.startswith(magic):
        raise ValueError(f"{what}: bad header")
    start = len(magic) + _HEADER.size
    if len(data) < start:
        raise ValueError(f"{what}: truncated")
    (size,) = _HEADER.unpack_from(data, len(magic))
    if size > max_head or len(data) < start + size:
        raise ValueError(f"{what}: truncated or its head oversized")
    return bytes(data[start : start + size]), bytes(data[start + size :])


def fields_digest(domain: bytes, fields: dict[str, Any], data: bytes) -> str:
    """Keccak-256 (hex) over `fields` as canonical JSON and `data`, framed after `domain`."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return keccak(frame(domain, text, bytes(data))).hex()


def artifact_digest(signed: dict[str, Any], object_bytes: bytes) -> str:
    """Keccak-256 over the manifest's fields (all but the digest) and the object bytes."""
    return fields_digest(_DIGEST_DOMAIN, signed, object_bytes)


@dataclass(frozen=True)
class StoredArtifact:
    manifest: ArtifactManifest
    object_bytes: bytes

    @property
    def key(self) -> ArtifactKey:
        return self.manifest.key

    @property
    def runtime_key(self) -> RuntimeCacheKey:
        return self.manifest.key.runtime_key

    @classmethod
    def create(
        cls,
        key: RuntimeCacheKey,
        obj: ObjectCode,
        bytecode_len: int,
        identity: EngineIdentity,
        region: frozenset[int] | None = None,
    ) -> StoredArtifact:
        """The artifact of a program compiled here (`region`: the blocks it compiles, None
        for the whole contract)."""
        entry = expected_entry_symbol(key.code_hash, key.fork)
        if obj.entry_symbol != entry:
            raise ValueError(f"object code exports {obj.entry_symbol}, not {entry} of its key")
        fields: dict[str, Any] = {
            **identity.as_dict(),
            "format": MANIFEST_FORMAT,
            "code_hash": key.code_hash.hex(),
            "fork": key.fork,
            "opt_level": obj.opt_level,
            "entry_symbol": entry,
            "bytecode_len": bytecode_len,
            "artifact_len": len(obj.object_bytes),
            "created": time.time(),
        }
        if region is not None:
            fields["region"] = region_text(region)
        data = bytes(obj.object_bytes)
        manifest = ArtifactManifest(**fields, digest=artifact_digest(fields, data))
        return cls(manifest, data)

    def integrity_problem(self) -> str | None:
        """Why the object bytes and the manifest do not belong together, or None."""
        m = self.manifest
        if len(self.object_bytes) != m.artifact_len:
            return (
                f"object is {len(self.object_bytes)} bytes, manifest says "
                f"{m.artifact_len} (truncated or replaced)"
            )
        if artifact_digest(m.signed_fields(), self.object_bytes) != m.digest:
            return "Keccak-256 digest mismatch (manifest or object modified)"
        entry = expected_entry_symbol(bytes.fromhex(m.code_hash), m.fork)
        if m.entry_symbol != entry:
            return f"entry symbol {m.entry_symbol!r} is not {entry!r} of its key"
        if m.bytecode_len <= 0:
            return "manifest names no bytecode"
        return None

    @classmethod
    def read(cls, data: bytes, key: ArtifactKey) -> StoredArtifact:
        """The artifact file `data` found under the name of `key`; ValueError saying why it must
        not be used (unreadable, its manifest names another key, `integrity_problem`)."""
        try:
            artifact = cls.from_bytes(data)
        except ValueError as exc:  # UnicodeDecodeError included
            raise ValueError(f"unreadable manifest: {exc}") from None
        if artifact.key != key:
            raise ValueError(
                "manifest names another code hash, fork, level or engine than its file name"
            )
        problem = artifact.integrity_problem()
        if problem is not None:
            raise ValueError(problem)
        return artifact

    def binding_problem(self, key: RuntimeCacheKey, code_len: int | None) -> str | None:
        """Why this artifact is not the program of `key` (and of code `code_len` long)."""
        if self.runtime_key != key:
            m = self.manifest
            return f"artifact of {m.fork}/{m.code_hash[:16]} found under another key"
        if code_len is not None and code_len != self.manifest.bytecode_len:
            return (
                f"artifact for {self.manifest.bytecode_len} bytes of code, the code has {code_len}"
            )
        return None

    def compatibility_problem(
        self, identity: EngineIdentity, opt_level: int | None = None
    ) -> str | None:
        """Why this artifact cannot run in this process (another engine), or None."""
        ours = identity.as_dict()
        for name, theirs in self.manifest.identity.as_dict().items():
            if theirs != ours[name]:
                return f"built for {name}={theirs!r}, this process has {ours[name]!r}"
        if opt_level is not None and self.manifest.opt_level != opt_level:
            return f"built at -O{self.manifest.opt_level}, -O{opt_level} wanted"
        return None

    def to_object_code(self) -> ObjectCode:
        """The object code to link: its entry symbol derived from the key, never taken from the
        manifest's text (an object of another contract does not export it, so it never links)."""
        from pyevm_jit.compiler.compile import ObjectCode

        m = self.manifest
        return ObjectCode(
            object_bytes=self.object_bytes,
            entry_symbol=expected_entry_symbol(bytes.fromhex(m.code_hash), m.fork),
            fork=m.fork,
            opt_level=m.opt_level,
        )

    def to_bytes(self) -> bytes:
        """The artifact file: header, manifest, object."""
        return frame(MAGIC, self.manifest.to_json().encode(), self.object_bytes)

    @classmethod
    def from_bytes(cls, data: bytes) -> StoredArtifact:
        """Parse an artifact file (ValueError when it is not one)."""
        head, body = unframe(data, MAGIC, MAX_MANIFEST_BYTES, "artifact file")
        return cls(ArtifactManifest.from_json(head.decode("utf-8")), body)
