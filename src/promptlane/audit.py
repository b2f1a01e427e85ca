"""``promptlane audit verify``: the audit log's hash chain is intact.

Each data row must carry the previous row's hash and a row hash that matches its cells
(events.row_hash), with sequence numbers 1, 2, 3, ... An edited, removed, reordered or
inserted row breaks the chain at a line this reports.
"""
from __future__ import annotations

from pathlib import Path

from .events import GENESIS, is_data_row, row_hash, split_row
from .problems import Problem
from .repo import AUDIT_LOG, Repo

COLUMNS = 10


def verify_text(text: str, shown_as: str = AUDIT_LOG) -> list[Problem]:
    problems: list[Problem] = []
    prev, expected_seq = GENESIS, 1
    for number, line in enumerate(text.splitlines(), start=1):
        if not is_data_row(line):
            continue
        cells = split_row(line)
        if len(cells) != COLUMNS:
            problems.append(Problem(shown_as, number, 1, "PL201", f"row has {len(cells)} cells, expected {COLUMNS}; audit rows are written by promptlane only"))
            return problems
        seq, claimed_prev, claimed_row = cells[0], cells[8], cells[9]
        if seq != str(expected_seq):
            problems.append(Problem(shown_as, number, 3, "PL202", f"row {seq!r} where row {expected_seq} was expected: a row was removed, inserted or reordered"))
            return problems
        if claimed_prev != prev:
            problems.append(Problem(shown_as, number, 1, "PL203", f"row {seq}: prev does not match row {expected_seq - 1}'s hash: a row before it was changed, removed or reordered"))
            return problems
        actual = row_hash(prev, cells[:8])
        if actual != claimed_row:
            problems.append(Problem(shown_as, number, 1, "PL204", f"row {seq}: its cells do not match its hash: the row was edited after it was written"))
            return problems
        prev, expected_seq = claimed_row, expected_seq + 1
    return problems


def verify(repo: Repo) -> list[Problem]:
    path: Path = repo.root / AUDIT_LOG
    if not path.exists():
        return []
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [Problem(AUDIT_LOG, raw.count(b"\n", 0, exc.start) + 1, 1, "PL200", "is not valid UTF-8; restore it from git")]
    return verify_text(text)
