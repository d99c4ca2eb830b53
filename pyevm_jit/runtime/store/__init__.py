"""Artifact stores: relocatable object code persisted with a manifest that binds it to its key.

Split the way numba splits its cache: `format` (the key, the manifest, the digest: what an
artifact file is), `policy` (which folders and files can be trusted), `filestore` (the store
in a folder), `pruning` (the size bound and its lock). The one atomic write every writer of
the package uses is `pyevm_jit.files`.
"""

from pyevm_jit.runtime.store.filestore import (
    TOUCH_INTERVAL,
    ArtifactStore,
    FileArtifactStore,
    RuntimeArtifactStore,
    StoreError,
)
from pyevm_jit.runtime.store.format import (
    MAGIC,
    MANIFEST_FORMAT,
    MAX_ARTIFACT_BYTES,
    MAX_MANIFEST_BYTES,
    SUFFIX,
    ArtifactKey,
    ArtifactManifest,
    StoredArtifact,
    artifact_digest,
    expected_entry_symbol,
    identity_fingerprint,
    safe_name,
)
from pyevm_jit.runtime.store.policy import (
    directory_problem,
    entry_problem,
    path_problem,
    writable_problem,
)

__all__ = [
    "MAGIC",
    "MANIFEST_FORMAT",
    "MAX_ARTIFACT_BYTES",
    "MAX_MANIFEST_BYTES",
    "SUFFIX",
    "TOUCH_INTERVAL",
    "ArtifactKey",
    "ArtifactManifest",
    "ArtifactStore",
    "FileArtifactStore",
    "RuntimeArtifactStore",
    "StoreError",
    "StoredArtifact",
    "artifact_digest",
    "directory_problem",
    "entry_problem",
    "expected_entry_symbol",
    "identity_fingerprint",
    "path_problem",
    "safe_name",
    "writable_problem",
]
