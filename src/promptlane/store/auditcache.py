"""A local record of what ``audit verify`` last proved, so a commit re-checks only what is new.

The full verification (chain, cross-checks) reads every row, every changelog entry and every
lock: seconds at 100,000 rows. On a developer's clone most of that was proved by the previous
run. After a successful full run this module stores, in ``.promptlane/cache/audit.json``
(ignored by git, never part of the record):

- for each sealed segment (segments.py): the size, mtime and CRC-32 of both of its files;
- for the current audit log and changelog: the size and CRC-32 of the verified text, and the
  chain head (seq, row hash);
- for each registry lock: its size and mtime, its store folder's mtime, and the versions and
  environment pointers that were verified.

The next run checks those fingerprints (a CRC over the verified prefix of the current files
catches any edit of it; a sealed file is read again only when its size or mtime moved), then verifies only the appended rows and entries and the locks that changed. It can only
*pass* or *give up*: anything it cannot prove sends the run to the full verification, which
alone reports problems. CI, with no cache, always runs the full verification.
"""
from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

from promptlane.core.layout import AUDIT_LOG, CHANGELOG, REGISTRY, STORE
from promptlane.store.fsio import atomic_write
from promptlane.store.repo import Repo

CACHE = ".promptlane/cache/audit.json"
FORMAT = 3


def _prefix_ok(raw: bytes, entry: dict | None) -> bool:
    if not entry:
        return False
    return len(raw) >= entry["size"] and zlib.crc32(raw[: entry["size"]]) == entry["crc32"]


def lock_fingerprints(repo: Repo) -> dict[str, list[int]]:
    """prompt id -> [lock size, lock mtime_ns, store folder mtime_ns] (0 when absent).

    Two directory scans, whatever the number of prompts: a commit pays microseconds a prompt.
    """
    found: dict[str, list[int]] = {}
    registry = os.path.join(repo.root, REGISTRY)
    try:
        with os.scandir(registry) as entries:
            for entry in entries:
                if entry.name.endswith(".lock.json") and entry.is_file():
                    info = entry.stat()
                    found[entry.name[: -len(".lock.json")]] = [info.st_size, info.st_mtime_ns, 0]
        with os.scandir(os.path.join(repo.root, STORE)) as entries:
            for entry in entries:
                if entry.name in found and entry.is_dir():
                    found[entry.name][2] = entry.stat().st_mtime_ns
    except OSError:
        pass
    return found


def _file_fingerprint(path: Path, raw: bytes) -> list[int]:
    info = path.stat()
    return [len(raw), info.st_mtime_ns, zlib.crc32(raw)]


def sealed_fingerprint(repo: Repo, segment, audit_raw: bytes, changelog_raw: bytes) -> dict:
    return {"label": segment.label,
            "audit": _file_fingerprint(repo.root / segment.audit_rel, audit_raw),
            "changelog": _file_fingerprint(repo.root / segment.changelog_rel, changelog_raw)}


def _unchanged(path: Path, recorded: list[int]) -> bool:
    """A sealed file is as verified: same size, and same mtime or (after a checkout) same CRC.
    A matching CRC refreshes the recorded mtime, so the file is not read again next time."""
    try:
        info = path.stat()
        if info.st_size != recorded[0]:
            return False
        if info.st_mtime_ns == recorded[1]:
            return True
        if zlib.crc32(path.read_bytes()) != recorded[2]:
            return False
    except OSError:
        return False
    recorded[1] = info.st_mtime_ns
    return True


def _sealed_ok(repo: Repo, segments: list, recorded: list[dict]) -> tuple[bool, bool]:
    """(every sealed file is as verified, some recorded mtime was refreshed)"""
    sealed = [s for s in segments if s.sealed]
    if [s.label for s in sealed] != [r["label"] for r in recorded]:
        return False, False  # a segment was sealed (or removed) since: verify in full once
    before = [(r["audit"][1], r["changelog"][1]) for r in recorded]
    ok = all(_unchanged(repo.root / s.audit_rel, r["audit"]) and _unchanged(repo.root / s.changelog_rel, r["changelog"])
             for s, r in zip(sealed, recorded, strict=False))
    return ok, before != [(r["audit"][1], r["changelog"][1]) for r in recorded]


def load(repo: Repo) -> dict | None:
    try:
        cache = json.loads((repo.root / CACHE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    shaped = isinstance(cache, dict) and cache.get("format") == FORMAT and isinstance(cache.get("locks"), dict) \
        and isinstance(cache.get("sealed"), list) and isinstance(cache.get("audit"), dict) and isinstance(cache.get("changelog"), dict)
    return cache if shaped else None  # a damaged record proves nothing: verify in full


def save(repo: Repo, sealed: list[dict], audit_raw: bytes, changelog_raw: bytes, head: tuple[int, str], locks: dict,
         previous: dict | None = None) -> None:
    if previous and previous["audit"]["size"] == len(audit_raw) and previous["changelog"]["size"] == len(changelog_raw) \
            and previous.get("locks") == locks and not previous.get("refreshed"):
        return  # nothing new was proved: leave the record as it is
    cache = {
        "format": FORMAT,
        "sealed": sealed,
        "audit": {"size": len(audit_raw), "crc32": zlib.crc32(audit_raw), "seq": head[0], "head": head[1]},
        "changelog": {"size": len(changelog_raw), "crc32": zlib.crc32(changelog_raw)},
        "locks": locks,
    }
    try:
        atomic_write(repo.root / CACHE, json.dumps(cache, separators=(",", ":")))
    except OSError:
        pass  # a read-only clone just verifies in full every time


def usable(cache: dict, repo: Repo, segments: list, audit_raw: bytes, changelog_raw: bytes) -> bool:
    try:
        if not (_prefix_ok(audit_raw, cache.get("audit")) and _prefix_ok(changelog_raw, cache.get("changelog"))):
            return False
        ok, refreshed = _sealed_ok(repo, segments, cache.setdefault("sealed", []))
    except (KeyError, TypeError, IndexError, AttributeError):
        return False  # a damaged record proves nothing
    cache["refreshed"] = refreshed  # save() must then write the record even if nothing else is new
    return ok


def changed_locks(cache: dict, now: dict[str, list[int]]) -> list[str]:
    before = cache.get("locks", {})
    return sorted(pid for pid, fp in now.items() if before.get(pid, {}).get("fp") != fp)


def clear(root: Path) -> None:
    try:
        (root / CACHE).unlink()
    except OSError:
        pass


__all__ = ["CACHE", "load", "save", "usable", "sealed_fingerprint", "changed_locks", "lock_fingerprints", "clear", "AUDIT_LOG", "CHANGELOG"]
