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

from promptlane.core.chain import GENESIS, continuation, walk_chain
from promptlane.core.ledger import Ledger, Pairing
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
    head, audited, ledger, sealed_record = walked
    found, verified = cross_check(repo, audited, ledger, fingerprints)
    if not found and not problems:
        auditcache.save(repo, sealed_record, audit_raw, changelog_raw, head, verified)
    return problems + found


def _walk_segments(repo: Repo, segments: list, current: tuple[bytes, bytes]):
    """Follow the chain through every segment in order, each row matched with its changelog
    entry, and gather what the entries say: the first problem, or (head, audited versions,
    ledger, record of the sealed files). ``current`` holds the current segment's two files,
    already read by the caller."""
    from promptlane.core.changelog import ChangelogError, changelog_lines
    from promptlane.store import auditcache

    head, audited, ledger, sealed_record = (0, GENESIS), set(), Ledger(repo.first_environment), []
    for index, segment in enumerate(segments):
        audit_raw, changelog_raw = (_raw(repo, segment.audit_rel), _raw(repo, segment.changelog_rel)) if segment.sealed else current
        audit_text, problem = _decode(audit_raw, segment.audit_rel)
        changelog_text, problem2 = _decode(changelog_raw, segment.changelog_rel)
        if problem or problem2:
            return problem or problem2
        try:
            entries = changelog_lines(changelog_text)
        except ChangelogError as exc:
            return Problem(segment.changelog_rel, exc.line, exc.col, "PL207", f"cannot be read ({exc.what}); restore it from git")
        pairing = Pairing(entries, segment.changelog_rel, segment.audit_rel)
        broken, head, versions = follow_segment(repo, index, segment, audit_text, head, pairing.row)
        if broken or pairing.finish():
            return broken or pairing.problem
        audited |= versions
        ledger.feed(entries, segment.changelog_rel)
        if segment.sealed:
            sealed_record.append(auditcache.sealed_fingerprint(repo, segment, audit_raw, changelog_raw))
    return head, audited, ledger, sealed_record


def follow_segment(repo: Repo, index: int, segment, audit_text: str, head: tuple[int, str], each=None):
    """One segment of the chain after ``head``: (first problem or None, new head, version rows).
    Every segment after the first must also say where it continues from (PL219)."""
    if index or continuation(audit_text) is not None:
        problem = _continuation_problem(repo, segment, audit_text, head)
        if problem:
            return problem, head, set()
    return walk_chain(audit_text, head, shown_as=segment.audit_rel, each=each)


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
    from promptlane.core.changelog import ChangelogError, changelog_lines
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
    try:
        entries = changelog_lines(new_entries)
    except ChangelogError:
        return None
    pairing = Pairing(entries, CHANGELOG, AUDIT_LOG)
    broken, head, audited = walk_chain(new_rows, head, each=pairing.row)
    ledger = Ledger(repo.first_environment)
    ledger.feed(entries, CHANGELOG)
    if broken or pairing.finish() or ledger.problems or not _only_issues(ledger, entries, cache.get("locks", {})):
        return None  # a promotion or rollback is derived from its evidence by the full run
    first = repo.first_environment
    if any(pid not in fingerprints and any(env != first for env, _ in rec.get("served", []))
           for pid, rec in cache.get("locks", {}).items()):
        return None  # the lock of a served prompt is gone: the full run says so (PL215)
    records = {pid: rec for pid, rec in cache.get("locks", {}).items() if pid in fingerprints}
    for prompt_id in auditcache.changed_locks(cache, fingerprints):
        before = records.get(prompt_id, {"versions": {}, "served": [], "fp": [0, 0, 0]})
        try:
            lock = read_lock(repo, prompt_id)
        except LockError:
            return None
        if lock is None or not _lock_grew(repo, lock, before, ledger, audited, fingerprints[prompt_id]):
            return None  # gone since the scan, or changed apart from the new entries: verify in full
        records[prompt_id] = _record(lock, fingerprints[prompt_id])
    return head, records


def _only_issues(ledger: Ledger, entries: list, cached: dict) -> bool:
    """The new entries move no pointer above the first environment and re-issue no cached version."""
    if any(isinstance(e, dict) and e.get("event") in ("promote", "rollback") for _, e in entries):
        return False
    for (prompt_id, version), (payload_hash, _, _) in ledger.issued.items():
        known = cached.get(prompt_id, {}).get("versions", {}).get(version)
        if known is not None and known != payload_hash:
            return False
    return True


def _lock_grew(repo: Repo, lock, before: dict, ledger: Ledger, audited: set, fingerprint: list) -> bool:
    """A changed lock agrees with the verified one plus the new entries."""
    store_changed = before["fp"][2] != fingerprint[2]
    for entry in lock.versions:
        key = (lock.prompt_id, entry["version"], entry["hash"])
        known = before["versions"].get(entry["version"]) == entry["hash"]
        if not known:
            issued = ledger.issued.get((lock.prompt_id, entry["version"]))
            if key not in ledger.versions or key not in audited or issued is None or \
                    (issued[1], issued[2]) != (entry.get("author"), entry.get("created")):
                return False
        if (store_changed or not known) and _version_trail(repo, repo.lock_rel(lock.prompt_id), key, {key}, {key}):
            return False
    for env, version in _served_pairs(lock):
        if lock.entry(version) is None:
            return False
        if env != repo.first_environment and [env, version] not in before["served"]:
            return False
    if lock.withdrawn != before.get("withdrawn", {}):
        return False
    return lock.prompt_id in ledger.last and _pointer_problem(repo, lock, ledger) is None


def _served_pairs(lock) -> list[list[str]]:
    return [[env, version] for env, version in lock.environments.items() if version is not None]


def _record(lock, fingerprint: list[int]) -> dict:
    return {"fp": fingerprint, "versions": {e["version"]: e["hash"] for e in lock.versions}, "served": _served_pairs(lock),
            "withdrawn": lock.withdrawn}


def appended_only(repo: Repo, base: str) -> list[Problem]:
    """Since ``base``: its sealed segments are unchanged, and its current segment's two files are,
    byte for byte, the start of the segment that now holds them (the current one, or the one
    sealed since), with what follows starting a new row and a new entry."""
    from promptlane.store.git import GitError, resolve, show_bytes
    from promptlane.store.segments import all_segments, segments_at

    try:
        commit = resolve(repo.root, base)
    except GitError as exc:
        raise UsageError(str(exc)) from None
    old = segments_at(repo.root, commit)
    new, _ = all_segments(repo.root)
    problems = _sealed_changes(repo, commit, base, [s for s in old if s.sealed])
    grown = new[len(old) - 1] if len(new) >= len(old) else new[-1]
    for old_rel, rel, code, what in ((AUDIT_LOG, grown.audit_rel, "PL205", "audit log"),
                                     (CHANGELOG, grown.changelog_rel, "PL206", "changelog")):
        before, now = show_bytes(repo.root, commit, old_rel) or b"", _raw(repo, rel)
        problem = _prefix_problem(before, now, rel, code, f"since {base} the {what} may only be appended to")
        if problem:
            problems.append(problem)
    return problems


def _prefix_problem(before: bytes, now: bytes, rel: str, code: str, rule: str) -> Problem | None:
    """``now`` must start with ``before``, byte for byte, and go on from a new line; a changelog's
    addition must open a new entry, not add keys to the base's last one."""
    if not now.startswith(before):
        line, col = _first_difference(before.decode("utf-8", "replace"), now.decode("utf-8", "replace"))
        return Problem(rel, line, col, code, f"differs from the base before its end (a byte changed, added or removed): {rule}")
    added = now[len(before):]
    line = before.count(b"\n") + 1
    if added and before and not before.endswith(b"\n"):
        col = len(before.rsplit(b"\n", 1)[-1].decode("utf-8", "replace")) + 1  # just after the base's last character
        return Problem(rel, line, col, code, f"what was added continues the base's last line: {rule}, on new lines")
    first = next((text for text in added.split(b"\n") if text.strip() and not text.startswith(b"#")), b"")
    if code == "PL206" and first and not first.startswith(b"- "):
        return Problem(rel, line, 1, code, f"what was added continues the base's last entry instead of opening a new one: {rule}")
    return None


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
            line, col = _first_difference(show(repo.root, commit, rel) or "", now)
            problems.append(Problem(rel, line, col, watched[rel], f"was sealed in {base} and has changed since: sealed segments are never written again; restore it from git"))
    return problems


def _first_difference(old: str, new: str) -> tuple[int, int]:
    """(line, column) of the first character where ``new`` departs from ``old``."""
    for number, (a, b) in enumerate(zip(old.splitlines(), new.splitlines(), strict=False), start=1):
        if a != b:
            return number, next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))) + 1
    return min(len(old.splitlines()), len(new.splitlines())) + 1, 1


def _pointer_problem(repo: Repo, lock, keys: Ledger) -> Problem | None:
    """The lock must serve what the prompt's last changelog entry says: a hand edit of the lock
    (say, prod pointed back at a withdrawn version) leaves the two apart."""
    expected = keys.last.get(lock.prompt_id)
    actual = {env: ver for env, ver in lock.environments.items() if ver}
    if expected is None or expected == actual:
        return None
    return Problem(repo.lock_rel(lock.prompt_id), 1, 1, "PL215",
                   f"serves {actual} but the last changelog entry for {lock.prompt_id} says {expected}: "
                   f"the lock was edited by hand; restore it from git, then promote or roll back with promptlane")


def cross_check(repo: Repo, audited: set, ledger: Ledger, fingerprints: dict | None = None) -> tuple[list[Problem], dict]:
    """Problems, and per lock what was verified (for the local cache): each lock against the
    log, then every pointer derived from its promotion's evidence (operations/derivation.py)."""
    from promptlane.operations.derivation import pointer_problems
    from promptlane.store.registry import lock_ids, read_locks

    records: dict = {}
    locks, problems = read_locks(repo, lock_ids(repo))
    problems = ledger.problems + problems
    for lock in locks:
        problems += lock_problems(repo, lock, ledger, audited)
        if fingerprints and lock.prompt_id in fingerprints:
            records[lock.prompt_id] = _record(lock, fingerprints[lock.prompt_id])
    return problems + _lost_locks(repo, ledger) + pointer_problems(repo, ledger, locks), records


def _lost_locks(repo: Repo, ledger: Ledger) -> list[Problem]:
    """A prompt the log leaves served above the first environment has its lock (PL215): deleting
    a lock, with its prompt's folder, must not make a served prompt vanish from the record."""
    from promptlane.store.registry import lock_ids

    present, first = set(lock_ids(repo)), repo.first_environment
    return [Problem(repo.lock_rel(prompt_id), 1, 1, "PL215", f"is missing, but the last changelog entry for {prompt_id} "
                    f"says it serves {serving}: a lock is never deleted; restore it from git (a prompt leaves with "
                    f"`promptlane retire {prompt_id} --reason ...`)")
            for prompt_id, serving in sorted(ledger.last.items())
            if prompt_id not in present and any(env != first for env in serving)]


def lock_problems(repo: Repo, lock, ledger: Ledger, audited: set) -> list[Problem]:
    """One lock against the log: its versions issued, logged and stored, by the author and at
    the time their version entries say; its pointers promoted; its withdrawals rolled back."""
    prompt_id, rel = lock.prompt_id, repo.lock_rel(lock.prompt_id)
    problems: list[Problem] = []
    for entry in lock.versions:
        key = (prompt_id, entry["version"], entry["hash"])
        problems += _version_trail(repo, rel, key, ledger.versions, audited)
        issued = ledger.issued.get((prompt_id, entry["version"]))
        if issued is not None and issued[0] == entry["hash"] and (issued[1], issued[2]) != (entry.get("author"), entry.get("created")):
            problems.append(Problem(rel, 1, 1, "PL222", f"version {entry['version']} was issued by {issued[1]} at {issued[2]} "
                                    f"(its version entry), but the lock says {entry.get('author')} at {entry.get('created')}: "
                                    "who wrote a version is never rewritten; restore the lock from git"))
    first = repo.first_environment
    for env, version in lock.environments.items():
        if version is None:
            continue
        if lock.entry(version) is None:
            problems.append(Problem(rel, 1, 1, "PL213", f"{env} serves {version}, which was never issued"))
        elif env != first and (prompt_id, version, env) not in ledger.served:
            problems.append(Problem(rel, 1, 1, "PL214", f"{env} serves {version} but no promotion of it to {env} is logged; promote it with `promptlane promote {prompt_id} --to {env}`"))
    problems += _withdrawal_problems(rel, lock, ledger.rollbacks.get(prompt_id, []))
    pointer = _pointer_problem(repo, lock, ledger)
    if pointer:
        problems.append(pointer)
    return problems


def _withdrawal_problems(rel: str, lock, rollbacks: list[dict]) -> list[Problem]:
    """Each withdrawal mark is the one a logged rollback left (by its actor, when the mark names
    one: marks written before they did name none), and each rollback left one (PL223)."""
    found = []
    for version, mark in lock.withdrawn.items():
        said = {"env": mark.get("env"), "withdrawn": version, "time": mark.get("time"), "why": mark.get("reason")}
        logged = [r for r in rollbacks if {key: r.get(key) for key in said} == said]
        by = f" by {mark['actor']}" if "actor" in mark else ""
        if not logged or (by and all(r.get("actor") != mark["actor"] for r in logged)):
            found.append(Problem(rel, 1, 1, "PL223", f"{version} is marked withdrawn from {mark.get('env')} at {mark.get('time')}{by}, "
                                 "but no rollback entry withdrew it then: withdrawals are written by `promptlane rollback` only; "
                                 "restore the lock from git"))
    for rollback in rollbacks:
        if rollback["withdrawn"] not in lock.withdrawn:
            found.append(Problem(rel, 1, 1, "PL223", f"the rollback of {rollback['time']} withdrew {rollback['withdrawn']} from "
                                 f"{rollback['env']}, but the lock no longer marks it withdrawn: a withdrawal is never removed "
                                 "(it comes back only with newer eval results); restore the lock from git"))
    return found


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
