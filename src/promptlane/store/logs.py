"""Events and their two append-only records: the YAML changelog and the Markdown audit chain.

Both files are written only by appending text; nothing here re-serialises what is already
there. An audit row carries the previous row's hash and its own:

    row = sha256( prev + "|" + seq|time|event|prompt|version|hash|actor|detail )

over the cells exactly as written in the table (docs/audit.md). The first row's prev is
64 zeros.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

GENESIS = "0" * 64
AUDIT_HEADER = (
    "# Artifact audit log\n\n"
    "Append-only. Each row carries the hash of the row before it; `promptlane audit verify` "
    "checks the chain.\n\n"
    "| seq | time | event | prompt | version | hash | actor | detail | prev | row |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
)
CHANGELOG_HEADER = (
    "# Prompt changelog: one entry per version, promotion, demotion and rollback.\n"
    "# Append-only: promptlane appends entries; never edit or reorder them.\n"
)
# The headers a current segment starts again from after `promptlane audit seal` (segments.py).
# The audit header names the row the chain continues from, so the segment explains itself and
# the merge driver can re-chain onto it without reading the archive.
_CONTINUES = re.compile(r"continues the chain from row ([0-9]+) \(`([0-9a-f]{64})`\)")


def continued_audit_header(seq: int, row: str) -> str:
    return AUDIT_HEADER.replace(
        "checks the chain.\n\n",
        f"checks the chain.\nEarlier rows are sealed in `audit/archive/`; this segment continues the chain "
        f"from row {seq} (`{row}`).\n\n")


def continuation(text: str) -> tuple[int, str] | None:
    """The (seq, row hash) a sealed-after segment's header says the chain continues from."""
    header = text[: text.find("| seq |")] if "| seq |" in text else text[:2048]
    found = _CONTINUES.search(header)
    return (int(found[1]), found[2]) if found else None


CONTINUED_CHANGELOG_HEADER = CHANGELOG_HEADER + "# Earlier entries are sealed in audit/archive/.\n"


@dataclass(frozen=True)
class Event:
    event: str          # version | promote | demote | rollback | withdraw
    time: str
    actor: str
    prompt: str
    version: str
    hash: str
    environments: dict  # environment -> version it serves after the event
    reason: str
    bump: str | None = None


def now() -> str:
    """UTC time to the second; PROMPTLANE_NOW pins it (reproducible demos and tests)."""
    pinned = os.environ.get("PROMPTLANE_NOW")
    if pinned:
        return pinned
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def changelog_entry(event: Event) -> str:
    fields = {
        "event": event.event, "time": event.time, "actor": event.actor, "prompt": event.prompt,
        "version": event.version, "hash": event.hash,
    }
    if event.bump:
        fields["bump"] = event.bump
    fields["environments"] = event.environments
    fields["reason"] = event.reason
    # JSON scalars are valid YAML and never fall into YAML 1.1's implicit typing traps.
    lines = [f"{'- ' if i == 0 else '  '}{key}: {json.dumps(value, ensure_ascii=False, sort_keys=False)}"
             for i, (key, value) in enumerate(fields.items())]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def row_cells(seq: int, event: Event) -> list[str]:
    # What each environment serves is in the changelog and the lock; the row keeps the reason,
    # so a row's hash does not depend on the repository's environment names.
    detail = event.reason
    return [str(seq), event.time, event.event, event.prompt, event.version, event.hash, _cell(event.actor), _cell(detail)]


def row_hash(prev: str, cells: list[str]) -> str:
    return hashlib.sha256((prev + "|" + "|".join(cells)).encode("utf-8")).hexdigest()


def audit_row(prev: str, seq: int, event: Event) -> tuple[str, str]:
    cells = row_cells(seq, event)
    own = row_hash(prev, cells)
    return "| " + " | ".join(cells + [prev, own]) + " |\n", own


def split_row(line: str) -> list[str]:
    """Cells of a Markdown table row, honouring ``\\|`` escapes."""
    if "\\" not in line:  # the common case: no escapes, split in C
        body = line.strip()
        return [cell.strip() for cell in body[1 if body.startswith("|") else 0: -1 if body.endswith("|") else None].split("|")]
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    cells, current, escaped = [], [], False
    for char in body:
        if escaped:
            current.append("\\" + char if char != "|" else "\\|")
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "|":
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    cells.append("".join(current).strip())
    return cells


def is_data_row(line: str) -> bool:
    cells = line.strip()
    return cells.startswith("|") and not cells.startswith("| seq ") and not cells.startswith("| ---")


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


_ENTRY_LINE = re.compile(r"^(- |  )([A-Za-z_]+): (.*)$")


def parse_changelog(text: str) -> list:
    """The changelog's entries. Lines in the form promptlane writes (``- key: <json>`` /
    ``  key: <json>``) are read directly, ~20x faster than a YAML parse of a large log; any
    other line (a hand edit) sends the whole file through the YAML loader instead."""
    entries: list[dict] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _ENTRY_LINE.match(line)
        if match is None or (match[1] == "  " and not entries):
            return _yaml_changelog(text)
        if match[1] == "- ":
            entries.append({})
        try:
            entries[-1][match[2]] = json.loads(match[3])
        except ValueError:
            return _yaml_changelog(text)
    return entries


class ChangelogError(ValueError):
    """The changelog is not YAML: where, and what the parser said (one line)."""

    def __init__(self, line: int, col: int, what: str):
        super().__init__(f"{line}:{col}: {what}")
        self.line, self.col, self.what = line, col, what
        self.rel = "schemas/prompt-change-log.yml"  # the segment, when several were read


def _yaml_changelog(text: str) -> list:
    from promptlane.core.yamltext import load

    loaded = load(text, "changelog")
    if loaded.problems:
        first = min(loaded.problems)
        raise ChangelogError(first.line, first.col, first.message)
    return loaded.data if isinstance(loaded.data, list) else []


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
