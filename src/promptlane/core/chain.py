"""The audit log's hash chain, as text: rows, their hashes, and walking the chain (pure).

An audit row carries the previous row's hash and its own:

    row = sha256( prev + "|" + seq|time|event|prompt|version|hash|actor|detail )

over the cells exactly as written in the Markdown table (docs/audit.md). The first row's prev
is 64 zeros. Nothing here reads or writes a file: store/logs.py appends rows, and
operations/verify.py follows the chain through the segments on disk.
"""
from __future__ import annotations

import hashlib
import re
from typing import Callable, Iterator

from promptlane.core.events import Event
from promptlane.core.evidence import evidence_digest
from promptlane.core.layout import AUDIT_LOG
from promptlane.core.problems import Problem

GENESIS = "0" * 64
AUDIT_HEADER = (
    "# Artifact audit log\n\n"
    "Append-only. Each row carries the hash of the row before it; `promptlane audit verify` "
    "checks the chain.\n\n"
    "| seq | time | event | prompt | version | hash | actor | detail | prev | row |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
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


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def row_cells(seq: int, event: Event) -> list[str]:
    # What each environment serves is in the changelog and the lock; the row keeps the reason,
    # so a row's hash does not depend on the repository's environment names. A promotion's
    # evidence is bound into the chain by its digest (the changelog entry holds the mapping).
    detail = event.reason
    if event.evidence is not None:
        detail += f" [evidence {evidence_digest(event.evidence)}]"
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


COLUMNS = 10


def data_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every data row, lazily: a 100k-row log is never held twice."""
    for number, line in enumerate(text.splitlines(), start=1):
        if is_data_row(line):
            yield number, split_row(line)


def walk_chain(
    text: str, head: tuple[int, str] = (0, GENESIS), shown_as: str = AUDIT_LOG,
    each: Callable[[int, list[str]], None] | None = None,
) -> tuple[Problem | None, tuple[int, str], set[tuple[str, str, str]]]:
    """One pass over the rows that follow ``head`` (seq, row hash): the first break (or None),
    the new head, and the (prompt, version, hash) of every version row. ``each`` sees every
    row that chains (line number, cells). Once the table has begun (its header and ``| --- |``
    line), every line is a row: a note, a blank line or a second header in it is PL224."""
    seq, prev = head
    versions: set[tuple[str, str, str]] = set()
    in_table = "| seq |" not in text  # appended rows (incremental): no header, all rows
    for number, line in enumerate(text.splitlines(), start=1):
        if not is_data_row(line):
            if in_table:
                return (Problem(shown_as, number, 1, "PL224", "is not an audit row, inside the table: the table holds "
                                "rows written by promptlane only; restore the log from git"), (seq, prev), versions)
            in_table = line.strip().startswith("| ---")
            continue
        cells = split_row(line)
        problem = _row_problem(shown_as, number, cells, prev, seq + 1)
        if problem:
            return problem, (seq, prev), versions  # after a break nothing is anchored: stop there
        seq, prev = seq + 1, cells[9]
        if cells[2] == "version":
            versions.add((cells[3], cells[4], cells[5]))
        if each is not None:
            each(number, cells)
    return None, (seq, prev), versions


def verify_text(text: str, shown_as: str = AUDIT_LOG) -> list[Problem]:
    problem, _, _ = walk_chain(text, shown_as=shown_as)
    return [problem] if problem else []


def _row_problem(shown_as: str, number: int, cells: list[str], prev: str, expected_seq: int) -> Problem | None:
    if len(cells) != COLUMNS:
        return Problem(shown_as, number, 1, "PL201", f"row has {len(cells)} cells, expected {COLUMNS}; audit rows are written by promptlane only")
    if cells[0] != str(expected_seq):
        return Problem(shown_as, number, 3, "PL202", f"row {cells[0]!r} where row {expected_seq} was expected: a row was removed, inserted or reordered")
    if cells[8] != prev:
        return Problem(shown_as, number, 1, "PL203", f"row {cells[0]}: prev does not match row {expected_seq - 1}'s hash: a row before it was changed, removed or reordered")
    if row_hash(prev, cells[:8]) != cells[9]:
        return Problem(shown_as, number, 1, "PL204", f"row {cells[0]}: its cells do not match its hash: the row was edited after it was written")
    return None
