"""``promptlane audit verify``: the audit trail can be trusted from the repository alone.

1. The chain: each data row carries the previous row's hash and a row hash that matches its
   cells (events.row_hash), with sequence numbers 1, 2, 3, ... An edited, removed, reordered
   or inserted row breaks it at a line this reports.
2. Cross-checks: every version in a registry lock has its store snapshot (same hash), its
   changelog entry and its audit row; every environment pointer names an issued version that
   was promoted (or rolled back) there.
3. With ``--base REF``: since REF, the audit log and the changelog were only appended to.
"""
from __future__ import annotations

import json
from pathlib import Path

from .events import GENESIS, is_data_row, row_hash, split_row
from .problems import Problem, UsageError
from .repo import AUDIT_LOG, CHANGELOG, REGISTRY, Repo

COLUMNS = 10
CELLS = ("seq", "time", "event", "prompt", "version", "hash", "actor", "detail", "prev", "row")


def data_rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every data row."""
    return [(n, split_row(line)) for n, line in enumerate(text.splitlines(), start=1) if is_data_row(line)]


def verify_text(text: str, shown_as: str = AUDIT_LOG) -> list[Problem]:
    prev, expected_seq = GENESIS, 1
    for number, cells in data_rows(text):
        problem = _row_problem(shown_as, number, cells, prev, expected_seq)
        if problem:
            return [problem]  # everything after a break is unanchored: report the break only
        prev, expected_seq = cells[9], expected_seq + 1
    return []


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


def _read(repo: Repo, rel: str) -> tuple[str | None, Problem | None]:
    path: Path = repo.root / rel
    if not path.exists():
        return None, None
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, Problem(rel, raw.count(b"\n", 0, exc.start) + 1, 1, "PL200", "is not valid UTF-8; restore it from git")


def verify(repo: Repo, base: str | None = None) -> list[Problem]:
    audit_text, problem = _read(repo, AUDIT_LOG)
    if problem:
        return [problem]
    changelog_text, problem = _read(repo, CHANGELOG)
    if problem:
        return [problem]
    problems = verify_text(audit_text or "")
    if base is not None:
        problems += appended_only(repo, base, audit_text or "", changelog_text or "")
    if not problems:
        problems += cross_check(repo, audit_text or "", changelog_text or "")
    return problems


def appended_only(repo: Repo, base: str, audit_text: str, changelog_text: str) -> list[Problem]:
    from .gitinfo import GitError, resolve, show

    try:
        commit = resolve(repo.root, base)
    except GitError as exc:
        raise UsageError(str(exc))
    problems = []
    old_rows = data_rows(show(repo.root, commit, AUDIT_LOG) or "")
    new_rows = data_rows(audit_text)
    for index, (_, cells) in enumerate(old_rows):
        if index >= len(new_rows) or new_rows[index][1] != cells:
            line = new_rows[index][0] if index < len(new_rows) else max(1, len(audit_text.splitlines()))
            problems.append(Problem(AUDIT_LOG, line, 1, "PL205", f"row {cells[0]} of {base} was changed or removed: since {base} the audit log may only be appended to"))
            break
    old_log = show(repo.root, commit, CHANGELOG) or ""
    if not changelog_text.startswith(old_log):
        line = _first_difference(old_log, changelog_text)
        problems.append(Problem(CHANGELOG, line, 1, "PL206", f"differs from {base} before its end: since {base} the changelog may only be appended to"))
    return problems


def _first_difference(old: str, new: str) -> int:
    for number, (a, b) in enumerate(zip(old.splitlines(), new.splitlines()), start=1):
        if a != b:
            return number
    return min(len(old.splitlines()), len(new.splitlines())) + 1


def _changelog_keys(text: str) -> tuple[set, set]:
    """(prompt, version, hash) of version events; (prompt, version, env) promoted or rolled back."""
    from .events import parse_changelog

    versions, served = set(), set()
    for entry in parse_changelog(text):
        if not isinstance(entry, dict):
            continue
        event = entry.get("event")
        if event == "version":
            versions.add((entry.get("prompt"), entry.get("version"), entry.get("hash")))
        if event in ("promote", "rollback"):
            # Which environments the event left serving this version.
            for name, version in (entry.get("environments") or {}).items():
                if version == entry.get("version"):
                    served.add((entry.get("prompt"), version, name))
    return versions, served


def cross_check(repo: Repo, audit_text: str, changelog_text: str) -> list[Problem]:
    from .registry import LockError, read_lock

    try:
        logged, served = _changelog_keys(changelog_text)
    except Exception as exc:  # a YAML error: report it where sync will not append blindly
        return [Problem(CHANGELOG, 1, 1, "PL207", f"cannot be read ({exc}); restore it from git")]
    audited = {(c[3], c[4], c[5]) for _, c in data_rows(audit_text) if c[2] == "version"}
    problems: list[Problem] = []
    registry = repo.root / REGISTRY
    locks = sorted(p.name[: -len(".lock.json")] for p in registry.glob("*.lock.json")) if registry.is_dir() else []
    first = repo.first_environment
    for prompt_id in locks:
        try:
            lock = read_lock(repo, prompt_id)
        except LockError as exc:
            problems.append(exc.problem)
            continue
        rel = repo.lock_rel(prompt_id)
        for entry in lock.versions:
            key = (prompt_id, entry["version"], entry["hash"])
            problems += _version_trail(repo, rel, key, logged, audited)
        for env, version in lock.environments.items():
            if version is None:
                continue
            if lock.entry(version) is None:
                problems.append(Problem(rel, 1, 1, "PL213", f"{env} serves {version}, which was never issued"))
            elif env != first and (prompt_id, version, env) not in served:
                problems.append(Problem(rel, 1, 1, "PL214", f"{env} serves {version} but no promotion of it to {env} is logged; promote it with `promptlane promote {prompt_id} --to {env}`"))
    return problems


def _version_trail(repo: Repo, rel: str, key: tuple, logged: set, audited: set) -> list[Problem]:
    prompt_id, version, payload_hash = key
    found = []
    snapshot = repo.root / repo.snapshot_rel(prompt_id, version)
    if not snapshot.exists():
        found.append(Problem(repo.snapshot_rel(prompt_id, version), 1, 1, "PL210", f"missing: {rel} lists {version} but its snapshot is gone; restore it from git"))
    else:
        try:
            stored = json.loads(snapshot.read_text(encoding="utf-8")).get("hash")
        except (ValueError, UnicodeDecodeError):
            stored = None
        if stored != payload_hash:
            found.append(Problem(repo.snapshot_rel(prompt_id, version), 1, 1, "PL210", f"hash does not match {rel} for {version}; restore it from git"))
    if key not in logged:
        found.append(Problem(CHANGELOG, 1, 1, "PL211", f"no version entry for {prompt_id} {version} ({payload_hash[:19]}...) listed in {rel}"))
    if key not in audited:
        found.append(Problem(AUDIT_LOG, 1, 1, "PL212", f"no audit row for {prompt_id} {version} ({payload_hash[:19]}...) listed in {rel}"))
    return found
