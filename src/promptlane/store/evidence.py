"""The evidence store on disk: ``audit/evidence/<2 hex>/<64 hex>``, content-addressed blobs of
what promotions stood on (the format and the judging are core/evidence.py).

A blob is written once, in the promotion's transaction, and never rewritten: its name is the
sha256 of its bytes. Reading one checks that it still hashes to its name.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from promptlane.core.evidence import Collected, blob_rel
from promptlane.core.hashing import digest_of, is_digest

if TYPE_CHECKING:
    from promptlane.store.fsio import Transaction


def stage_blobs(txn: "Transaction", root: Path, collected: Collected) -> None:
    """Queue every blob the store does not hold yet."""
    for digest, raw in collected.blobs.items():
        rel = blob_rel(digest)
        if not (root / rel).is_file():
            txn.write(rel, raw.decode("utf-8"))  # collect() keeps UTF-8 text only: the bytes round-trip


class BlobReader:
    """Blobs by digest, each read and checked once per run."""

    def __init__(self, root: Path):
        self.root = root
        self.seen: dict[str, bytes | None] = {}

    def __call__(self, digest: str) -> bytes | None:
        if digest not in self.seen:
            self.seen[digest] = self._read(digest)
        return self.seen[digest]

    def _read(self, digest: str) -> bytes | None:
        if not is_digest(digest):
            return None
        path = self.root / blob_rel(digest)
        try:
            if path.is_symlink():
                return None  # a blob is a file of its own bytes, never a link to something else
            raw = path.read_bytes()
        except OSError:
            return None
        return raw if digest_of(raw) == digest else None
