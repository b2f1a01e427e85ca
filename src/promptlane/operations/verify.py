"""``promptlane audit verify``: the audit trail can be trusted from the repository alone.

1. The chain: each data row carries the previous row's hash and a row hash that matches its
   cells (core/chain.py), with sequence numbers 1, 2, 3, ... An edited, removed, reordered
   or inserted row breaks it at a line this reports.
2. Cross-checks: every version in a registry lock has its store snapshot (same hash), its
   changelog entry and its audit row; every environment pointer names an issued version that
   was promoted (or rolled back) there.
3. With ``--base REF``: since REF, the audit log and the changelog were only appended to.

Both logs may be split into sealed segments (store/segments.py); all three checks read the segments
in order as one log.
"""
from __future__ import annotations

from promptlane.core.chain import GENESIS, continuation, data_rows, walk_chain
from promptlane.core.changelog import ChangelogKeys
from promptlane.core.layout import AUDIT_LOG, CHANGELOG
from promptlane.core.problems import Problem, PromptlaneError, UsageError
from promptlane.store.repo import Repo


def _raw(repo: Repo, rel: str) -> bytes:
    try:
        return (repo.root / rel).read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:  # a folder, a permission: say which file, not a traceback
        raise PromptlaneError(f"{rel} cannot be read", [Problem(
            rel, 1, 1, "PL200", f"cannot be read ({exc.strerror or exc}); make it a readable file or restore it from git")]) from None


def _decode(raw: bytes, rel: str) -> tuple[str, Problem | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return "", Problem(rel, raw.count(b"\n", 0, exc.start) + 1, 1, "PL200", "is not valid UTF-8; restore it from git")


def verify(repo: Repo, base: str | None = None, use_cache: bool = True) -> list[Problem]:
    """Chain, cross-checks and (with ``base``) append-only since a git ref, over every segment
    (sealed ones, then the current one) read as one log.

    With a usable local cache (auditcache) only what changed since the last successful run is
    verified; whatever that cannot prove is verified in full.
    """
    from promptlane.store import auditcache
    from promptlane.store.fsio import pending_problem
    from promptlane.store.segments import all_segments

    interrupted = pending_problem(repo.root)  # half-changed files until sync puts them back
    if interrupted:
        return [interrupted]
    segments, layout = all_segments(repo.root)
    if layout:
        return layout  # follow the chain only through a well-formed archive
    audit_raw, changelog_raw = _raw(repo, AUDIT_LOG), _raw(repo, CHANGELOG)
    fingerprints = auditcache.lock_fingerprints(repo)
    cache = auditcache.load(repo) if use_cache and base is None else None
    if cache and auditcache.usable(cache, repo, segments, audit_raw, changelog_raw):
        try:
            proved = _incremental(repo, cache, audit_raw, changelog_raw, fingerprints)
        except (UnicodeDecodeError, KeyError, TypeError, AttributeError, IndexError, ValueError):
            proved = None  # new bytes that do not decode, or a damaged record: it proves nothing
        if proved is not None:
            auditcache.save(repo, cache["sealed"], audit_raw, changelog_raw, proved[0], proved[1], previous=cache)
            return []
    problems = appended_only(repo, base) if base is not None else []
    walked = _walk_segments(repo, segments, current=(audit_raw, changelog_raw))
    if isinstance(walked, Problem):
        return problems + [walked]
    head, audited, keys, sealed_record = walked
    found, verified = cross_check(repo, audited, keys, fingerprints)
    if not found and not problems:
        auditcache.save(repo, sealed_record, audit_raw, changelog_raw, head, verified)
    return problems + found


def _walk_segments(repo: Repo, segments: list, current: tuple[bytes, bytes]):
    """Follow the chain through every segment in order and gather the changelog's keys: the
    first problem, or (head, audited versions, changelog keys, record of the sealed files).
    ``current`` holds the current segment's two files, already read by the caller."""
    from promptlane.core.changelog import ChangelogError
    from promptlane.store import auditcache

    head, audited, keys, sealed_record = (0, GENESIS), set(), ChangelogKeys(), []
    for index, segment in enumerate(segments):
        audit_raw, changelog_raw = (_raw(repo, segment.audit_rel), _raw(repo, segment.changelog_rel)) if segment.sealed else current
        audit_text, problem = _decode(audit_raw, segment.audit_rel)
        changelog_text, problem2 = _decode(changelog_raw, segment.changelog_rel)
        if problem or problem2:
            return problem or problem2
        broken, head, versions = follow_segment(repo, index, segment, audit_text, head)
        if broken:
            return broken
        audited |= versions
        try:
            keys.feed(changelog_text)
        except ChangelogError as exc:
            return Problem(segment.changelog_rel, exc.line, exc.col, "PL207", f"cannot be read ({exc.what}); restore it from git")
        if segment.sealed:
            sealed_record.append(auditcache.sealed_fingerprint(repo, segment, audit_raw, changelog_raw))
    return head, audited, keys, sealed_record


def follow_segment(repo: Repo, index: int, segment, audit_text: str, head: tuple[int, str]):
    """One segment of the chain after ``head``: (first problem or None, new head, version rows).
    Every segment after the first must also say where it continues from (PL219)."""
    if index or continuation(audit_text) is not None:
        problem = _continuation_problem(repo, segment, audit_text, head)
        if problem:
            return problem, head, set()
    return walk_chain(audit_text, head, shown_as=segment.audit_rel)


def _continuation_problem(repo: Repo, segment, audit_text: str, head: tuple[int, str]) -> Problem | None:
    """A segment after a seal must exist and its header must name the row the segments before
    it end at: a deleted current file or a stripped header would hide a removed segment."""
    for rel in (segment.audit_rel, segment.changelog_rel):
        if not (repo.root / rel).is_file():
            return Problem(rel, 1, 1, "PL219", "is missing: after a seal the logs go on in this file; restore it from git")
    claimed = continuation(audit_text)
    if claimed == head:
        return None
    line = audit_text.count("\n", 0, max(0, audit_text.find("continues the chain"))) + 1
    said = f"says the chain continues from row {claimed[0]}" if claimed else "does not say which row the chain continues from"
    return Problem(segment.audit_rel, line, 1, "PL219", f"its header {said}, but the segments before it end at row {head[0]}: "
                   "a sealed segment or this header was changed, added or removed; restore it from git")


def _incremental(repo: Repo, cache: dict, audit_raw: bytes, changelog_raw: bytes, fingerprints: dict):
    """(new head, lock records) when everything new checks out from the cached state, else None."""
    from promptlane.core.changelog import ChangelogError
    from promptlane.core.registry import LockError
    from promptlane.store import auditcache
    from promptlane.store.registry import read_lock

    audit_size, changelog_size = cache["audit"]["size"], cache["changelog"]["size"]
    new_rows = audit_raw[audit_size:].decode("utf-8")
    new_entries = changelog_raw[changelog_size:].decode("utf-8")
    # What was appended must start a new line, a new row and a new entry: text that continues the
    # last verified line (a row's last cell, an entry's field) is only judged by the full run.
    if any(size and raw[size - 1:size] != b"\n" for size, raw in ((audit_size, audit_raw), (changelog_size, changelog_raw))):
        return None
    if new_entries and not new_entries.startswith(("- ", "#")):
        return None
    head = (cache["audit"]["seq"], cache["audit"]["head"])
    if continuation(new_rows) not in (None, head):
        return None
    broken, head, audited = walk_chain(new_rows, head)
    if broken:
        return None
    try:
        keys = ChangelogKeys()
        keys.feed(new_entries)
        logged, served = keys.versions, keys.served
    except ChangelogError:
        return None
    records = {pid: rec for pid, rec in cache.get("locks", {}).items() if pid in fingerprints}
    first = repo.first_environment
    for prompt_id in auditcache.changed_locks(cache, fingerprints):
        before = records.get(prompt_id, {"versions": {}, "served": [], "fp": [0, 0, 0]})
        try:
            lock = read_lock(repo, prompt_id)
        except LockError:
            return None
        if lock is None:  # gone since the scan: the AttributeError it used to raise also gave up here
            return None
        store_changed = before["fp"][2] != fingerprints[prompt_id][2]
        for entry in lock.versions:
            key = (prompt_id, entry["version"], entry["hash"])
            known = before["versions"].get(entry["version"]) == entry["hash"]
            if not known and (key not in logged or key not in audited):
                return None
            if (store_changed or not known) and _version_trail(repo, repo.lock_rel(prompt_id), key, {key}, {key}):
                return None
        pairs = _served_pairs(lock)
        for env, version in pairs:
            if lock.entry(version) is None:
                return None
            if env != first and [env, version] not in before["served"] and (prompt_id, version, env) not in served:
                return None
        if prompt_id not in keys.last or _pointer_problem(repo, lock, keys):
            return None  # a lock changed without a new entry, or apart from it: verify in full
        records[prompt_id] = _record(lock, fingerprints[prompt_id])
    return head, records


def _served_pairs(lock) -> list[list[str]]:
    return [[env, version] for env, version in lock.environments.items() if version is not None]


def _record(lock, fingerprint: list[int]) -> dict:
    return {"fp": fingerprint, "versions": {e["version"]: e["hash"] for e in lock.versions}, "served": _served_pairs(lock)}


def appended_only(repo: Repo, base: str) -> list[Problem]:
    """Since ``base``: its sealed segments are unchanged, and its current segment is a prefix of
    the segment that now holds those rows (the current one, or the one sealed since)."""
    from promptlane.store.git import GitError, resolve, show
    from promptlane.store.segments import all_segments, segments_at

    try:
        commit = resolve(repo.root, base)
    except GitError as exc:
        raise UsageError(str(exc)) from None
    old = segments_at(repo.root, commit)
    new, _ = all_segments(repo.root)
    problems = _sealed_changes(repo, commit, base, [s for s in old if s.sealed])
    grown = new[len(old) - 1] if len(new) >= len(old) else new[-1]
    new_text = _raw(repo, grown.audit_rel).decode("utf-8", errors="replace")
    old_rows = list(data_rows(show(repo.root, commit, AUDIT_LOG) or ""))
    new_rows = list(data_rows(new_text))
    for index, (_, cells) in enumerate(old_rows):
        if index >= len(new_rows) or new_rows[index][1] != cells:
            line = new_rows[index][0] if index < len(new_rows) else max(1, len(new_text.splitlines()))
            problems.append(Problem(grown.audit_rel, line, 1, "PL205", f"row {cells[0]} of {base} was changed or removed: since {base} the audit log may only be appended to"))
            break
    old_log = show(repo.root, commit, CHANGELOG) or ""
    changelog_text = _raw(repo, grown.changelog_rel).decode("utf-8", errors="replace")
    if not changelog_text.startswith(old_log):
        line = _first_difference(old_log, changelog_text)
        problems.append(Problem(grown.changelog_rel, line, 1, "PL206", f"differs from {base} before its end: since {base} the changelog may only be appended to"))
    return problems


def _sealed_changes(repo: Repo, commit: str, base: str, sealed: list) -> list[Problem]:
    """Sealed segments of ``base`` changed or removed since (git compares the trees: no reads)."""
    from promptlane.store.git import changed_since, show

    if not sealed:
        return []
    problems = []
    watched = {rel: code for s in sealed for rel, code in ((s.audit_rel, "PL205"), (s.changelog_rel, "PL206"))}
    for rel in changed_since(repo.root, commit, "audit/archive/"):
        if rel in watched:
            now = (repo.root / rel).read_text(encoding="utf-8", errors="replace") if (repo.root / rel).is_file() else ""
            line = _first_difference(show(repo.root, commit, rel) or "", now)
            problems.append(Problem(rel, line, 1, watched[rel], f"was sealed in {base} and has changed since: sealed segments are never written again; restore it from git"))
    return problems


def _first_difference(old: str, new: str) -> int:
    for number, (a, b) in enumerate(zip(old.splitlines(), new.splitlines(), strict=False), start=1):
        if a != b:
            return number
    return min(len(old.splitlines()), len(new.splitlines())) + 1


def _pointer_problem(repo: Repo, lock, keys: "ChangelogKeys") -> Problem | None:
    """The lock must serve what the prompt's last changelog entry says: a hand edit of the lock
    (say, prod pointed back at a withdrawn version) leaves the two apart."""
    expected = keys.last.get(lock.prompt_id)
    actual = {env: ver for env, ver in lock.environments.items() if ver}
    if expected is None or expected == actual:
        return None
    return Problem(repo.lock_rel(lock.prompt_id), 1, 1, "PL215",
                   f"serves {actual} but the last changelog entry for {lock.prompt_id} says {expected}: "
                   f"the lock was edited by hand; restore it from git, then promote or roll back with promptlane")


def cross_check(repo: Repo, audited: set, keys: ChangelogKeys, fingerprints: dict | None = None) -> tuple[list[Problem], dict]:
    """Problems, and per lock what was verified (for the local cache)."""
    from promptlane.store.registry import lock_ids, read_locks

    logged, served = keys.versions, keys.served
    records: dict = {}
    locks, problems = read_locks(repo, lock_ids(repo))
    first = repo.first_environment
    for lock in locks:
        prompt_id = lock.prompt_id
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
        pointer = _pointer_problem(repo, lock, keys)
        if pointer:
            problems.append(pointer)
        if fingerprints and prompt_id in fingerprints:
            records[prompt_id] = _record(lock, fingerprints[prompt_id])
    return problems, records


def _version_trail(repo: Repo, rel: str, key: tuple, logged: set, audited: set) -> list[Problem]:
    prompt_id, version, payload_hash = key
    found = []
    from promptlane.core.registry import snapshot_mismatch
    from promptlane.store.registry import read_snapshot

    snapshot = repo.root / repo.snapshot_rel(prompt_id, version)
    if not snapshot.exists():
        found.append(Problem(repo.snapshot_rel(prompt_id, version), 1, 1, "PL210", f"missing: {rel} lists {version} but its snapshot is gone; restore it from git"))
    else:
        why = snapshot_mismatch(read_snapshot(repo, prompt_id, version), payload_hash)
        if why:
            found.append(Problem(repo.snapshot_rel(prompt_id, version), 1, 1, "PL210",
                                 f"{why} ({rel}, {version}); restore it from git"))
    if key not in logged:
        found.append(Problem(CHANGELOG, 1, 1, "PL211", f"no version entry for {prompt_id} {version} ({payload_hash[:19]}...) listed in {rel}"))
    if key not in audited:
        found.append(Problem(AUDIT_LOG, 1, 1, "PL212", f"no audit row for {prompt_id} {version} ({payload_hash[:19]}...) listed in {rel}"))
    return found
