"""Recognising a file of whereabouts imported before: its SHA-256, and the import it would repeat.

Importing the same visits or encounters file twice used to store every row twice,
and two 8-minute encounters then passed the 15-minute rule. A file is now known by
the SHA-256 of its bytes: one already recorded is refused, naming the earlier
import, before any row is read. Rows of another file that the store already holds
are skipped by the store itself (their natural keys, ``chaincut.store.natural_keys``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from chaincut.clock import Clock, to_epoch
from chaincut.store import NewImport, Store, already_imported
from chaincut.whereabouts.importing.outcome import ImportOptions
from chaincut.whereabouts.importing.readers import ImportFileError

__all__ = ["file_digest", "new_import"]


def file_digest(path: Path) -> str:
    """The SHA-256 of the file's bytes, in hex."""
    try:
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except OSError as error:
        raise ImportFileError(f"cannot read the file: {error.strerror}", path=path) from None


def new_import(store: Store, kind: str, path: Path, clock: Clock, options: ImportOptions) -> NewImport:
    """The record of importing ``path`` now; Conflict ``already_imported`` if it was imported before."""
    digest = file_digest(path)
    with store.read() as uow:
        earlier = uow.imports.find(kind, digest)
    if earlier is not None:
        raise already_imported(earlier)
    return NewImport(kind, digest, path.name, to_epoch(clock.now()), options.actor)
