"""The two append-only records on disk: the YAML changelog and the Markdown audit chain.

Both files are written only by appending text (``record`` queues the changelog entries and
chained rows of some events on a transaction); nothing here re-serialises what is already
there. Readers follow the sealed segments (segments.py) as one log. The text formats are
core/changelog.py and core/chain.py.
"""
from __future__ import annotations

import os
from pathlib import Path

from promptlane.core.chain import (
    AUDIT_HEADER,
    GENESIS,
    audit_row,
    continued_audit_header,
    is_data_row,
    split_row,
)
from promptlane.core.changelog import (
    CHANGELOG_HEADER,
    CONTINUED_CHANGELOG_HEADER,
    ChangelogError,
    changelog_entry,
    parse_changelog,
)
from promptlane.core.events import Event


def chain_head(path: Path) -> tuple[int, str]:
    """(last seq, last row hash) from the end of the audit log, reading only its tail."""
    if not path.exists():
        return 0, GENESIS
    size = path.stat().st_size
    with open(path, "rb") as handle:
        chunk = 8192
        while True:
            start = max(0, size - chunk)
            handle.seek(start)
            tail = handle.read().decode("utf-8", errors="replace")
            lines = tail.splitlines()
            if start > 0:
                lines = lines[1:]  # the first line may be cut
            rows = [line for line in lines if is_data_row(line)]
            if rows or start == 0:
                break
            chunk *= 4
    if not rows:
        return 0, GENESIS
    cells = split_row(rows[-1])
    try:
        return int(cells[0]), cells[-1]
    except (ValueError, IndexError):
        return 0, GENESIS


def log_head(root: Path, audit_rel: str) -> tuple[int, str]:
    """The chain head to append after: the current segment's last row, else (just after a seal)
    the last row of the newest sealed segment."""
    head = chain_head(root / audit_rel)
    if head[0] == 0:
        from promptlane.store.segments import sealed_segments

        sealed, _ = sealed_segments(root)
        if sealed:
            head = chain_head(root / sealed[-1].audit_rel)
    return head


def needs_newline(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def record(txn, root: Path, events: list[Event], changelog_rel: str, audit_rel: str) -> None:
    """Queue the changelog entries and chained audit rows of ``events`` on a transaction."""
    if not events:
        return
    changelog, audit = root / changelog_rel, root / audit_rel
    seq, prev = log_head(root, audit_rel)
    # A log file that does not exist yet starts from its header; after a seal, the continued one.
    continued = seq > 0 and not audit.exists()
    text = "" if changelog.exists() else (CONTINUED_CHANGELOG_HEADER if continued else CHANGELOG_HEADER)
    if needs_newline(changelog):
        text += "\n"
    txn.append(changelog_rel, text + "".join(changelog_entry(e) for e in events))
    if audit.exists():
        rows = "\n" if needs_newline(audit) else ""
    else:
        rows = continued_audit_header(seq, prev) if continued else AUDIT_HEADER
    for event in events:
        seq += 1
        row, prev = audit_row(prev, seq, event)
        rows += row
    txn.append(audit_rel, rows)


def read_all_changelogs(root: Path) -> list:
    """Entries of every changelog segment (sealed ones first, then the current one).
    ChangelogError names the segment (``rel``) that cannot be read."""
    from promptlane.store.segments import all_segments

    entries: list = []
    for segment in all_segments(root)[0]:
        try:
            found = read_changelog(root / segment.changelog_rel)
        except ChangelogError as exc:
            exc.rel = segment.changelog_rel
            raise
        entries.extend(found if isinstance(found, list) else [])
    return entries


def read_changelog(path: Path) -> list:
    """Entries of the changelog file ([] when it does not exist); ChangelogError when unreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ChangelogError(raw.count(b"\n", 0, exc.start) + 1, 1, "is not valid UTF-8") from None
    return parse_changelog(text)
