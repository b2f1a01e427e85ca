"""The changelog and the audit log read together (pure): what the entries say, and that the two
logs are one record.

``Ledger`` is fed every segment oldest first. It keeps what the cross-checks need (versions
issued, by whom and when; what each environment was left serving; rollbacks and what they
withdrew; the promotion that set each pointer) and finds, as it goes:

- PL220: an entry without its audit row, a row without its entry, or the two saying different
  things (they are written together, in the same order, one row per entry);
- PL221: a version issued for a second text, a text issued as a second version, or a version
  issued twice (a text returned to keeps its version and has no bump);
- PL223: a rollback entry that does not say, in the form promptlane writes, which version it
  withdrew from which environment and what it returned to;
- PL225: a promotion entry that moves more than its one pointer, or a rollback to a version an
  earlier rollback withdrew (``promptlane rollback`` refuses both).
"""
from __future__ import annotations

import re
from typing import Any

from promptlane.core.chain import row_cells
from promptlane.core.events import Event
from promptlane.core.evidence import Logged
from promptlane.core.problems import Problem

_ROLLBACK = re.compile(r"^(?P<env>[^:]+): (?P<old>\S+) -> (?P<new>\S+), (?P=old) withdrawn: (?P<why>.*)\Z", re.S)
_RISK = re.compile(r"^risk (?:low|medium|high) -> (?P<risk>low|medium|high)\Z")


def expected_cells(seq: int, entry: dict[str, Any]) -> list[str] | None:
    """The first 8 cells of the audit row an entry was written with (None: not an entry's shape)."""
    try:
        event = Event(str(entry["event"]), str(entry["time"]), str(entry["actor"]), str(entry["prompt"]),
                      str(entry["version"]), str(entry["hash"]), {}, str(entry["reason"]), None, entry.get("evidence"))
        return row_cells(seq, event)
    except (KeyError, TypeError, ValueError):
        return None


class Pairing:
    """One segment's entries matched with its audit rows, in order (PL220)."""

    def __init__(self, entries: list[tuple[int, Any]], changelog_rel: str, audit_rel: str):
        self.entries, self.changelog_rel, self.audit_rel = entries, changelog_rel, audit_rel
        self.index = 0
        self.problem: Problem | None = None

    def row(self, number: int, cells: list[str]) -> None:
        if self.problem:
            return
        if self.index >= len(self.entries):
            self.problem = Problem(self.audit_rel, number, 1, "PL220", f"row {cells[0]} has no changelog entry in "
                                   f"{self.changelog_rel}: every row is written with one entry; restore both logs from git")
            return
        line, entry = self.entries[self.index]
        self.index += 1
        expected = expected_cells(int(cells[0]), entry) if isinstance(entry, dict) else None
        if expected != cells[:8]:
            self.problem = Problem(self.changelog_rel, line, 1, "PL220", f"this entry and row {cells[0]} of "
                                   f"{self.audit_rel} (line {number}) {_difference(expected, cells)}: the two logs "
                                   "are written together, entry for row; restore both from git")

    def finish(self) -> Problem | None:
        if self.problem is None and self.index < len(self.entries):
            line = self.entries[self.index][0]
            self.problem = Problem(self.changelog_rel, line, 1, "PL220", f"this entry has no row in {self.audit_rel} "
                                   "(every entry is written with one chained row); restore both logs from git")
        return self.problem


_FIELDS = ("seq", "time", "event", "prompt", "version", "hash", "actor", "reason/evidence")


def _difference(expected: list[str] | None, cells: list[str]) -> str:
    if expected is None:
        return "cannot be matched (the entry lacks event, time, actor, prompt, version, hash or reason)"
    for name, want, have in zip(_FIELDS, expected, cells, strict=False):
        if want != have:
            return f"differ in {name} ({want[:40]!r} in the changelog, {have[:40]!r} in the row)"
    return "differ"


class Ledger:
    """What the changelog says, fed segment by segment (oldest first)."""

    def __init__(self, first: str | None = None) -> None:
        self.first = first  # the first environment: its pointer needs no promotion, so no setter is kept
        self.versions: set[tuple[Any, Any, Any]] = set()  # (prompt, version, hash) as the entries say
        self.served: set[tuple[Any, Any, Any]] = set()    # (prompt, version, environment)
        self.last: dict[str, dict[Any, Any]] = {}          # what each prompt's last entry left serving
        self.issued: dict[tuple[Any, Any], tuple[Any, Any, Any]] = {}  # (prompt, version) -> (hash, actor, time)
        self.by_hash: dict[tuple[Any, Any], Any] = {}      # (prompt, hash) -> version
        self.rollbacks: dict[str, list[dict[str, Any]]] = {}  # prompt -> [{env, withdrawn, time, why}]
        self.setters: dict[tuple[str, str], Any] = {}      # (prompt, env) -> the entry that set its pointer
        self.promoted: dict[tuple[str, str, str], list[int]] = {}  # (prompt, env, version) -> entry numbers of its promotions
        self.promotions: dict[int, Logged] = {}            # entry number -> the promotion it records
        self.risk: dict[str, str] = {}                     # prompt -> risk as its last risk event set it
        self.withdrawals: dict[str, dict[str, dict[str, Any]]] = {}  # prompt -> version -> mark, in log order
        self.problems: list[Problem] = []
        self.count = 0

    def feed(self, entries: list[tuple[int, Any]], rel: str) -> None:
        for line, entry in entries:
            self.count += 1
            if isinstance(entry, dict):
                self._entry(line, entry, rel)

    def _entry(self, line: int, entry: dict[str, Any], rel: str) -> None:
        event, prompt = entry.get("event"), entry.get("prompt")
        listed = entry.get("environments")
        environments: dict[Any, Any] = listed if isinstance(listed, dict) else {}
        if event == "version":
            self._version(line, entry, rel)
        elif event == "rollback":
            self._rollback(line, entry, rel)
        elif event == "risk" and isinstance(prompt, str):
            found = _RISK.match(str(entry.get("reason")))
            if found:
                self.risk[prompt] = found["risk"]
        if event in ("promote", "rollback"):
            for name, version in environments.items():
                if version == entry.get("version"):
                    self.served.add((prompt, version, name))
        if isinstance(prompt, str):
            self._pointers(line, entry, rel, prompt, environments)

    def _pointers(self, line: int, entry: dict[str, Any], rel: str, prompt: str, environments: dict[Any, Any]) -> None:
        before = self.last.get(prompt) or {}
        now = {env: ver for env, ver in environments.items() if ver}
        self.last[prompt] = now
        if now == before:
            return
        moved = [env for env in before.keys() | now.keys() if env != self.first and before.get(env) != now.get(env)]
        if not moved:
            return  # a version entry: only the first environment moved
        event = entry.get("event")
        if event == "promote" and len([env for env in moved if env in now]) > 1:
            self.problems.append(Problem(rel, line, 1, "PL225", f"this promotion of {prompt} {entry.get('version')} moves "
                                         f"{len(moved)} pointers ({', '.join(sorted(map(str, moved)))}): a promotion serves its "
                                         "version in one environment; restore the changelog from git"))
        for env in sorted(moved, key=str):
            if env not in now:
                self.setters.pop((prompt, env), None)
                continue
            self.setters[(prompt, env)] = (self.count, event, now[env])
            if event == "promote" and now[env] == entry.get("version"):
                self.promoted.setdefault((prompt, str(env), str(now[env])), []).append(self.count)
                self.promotions[self.count] = Logged(
                    prompt, str(entry.get("version")), str(entry.get("hash")), str(env), str(entry.get("time")),
                    dict(environments), entry.get("evidence"), rel, line, self.risk.get(prompt),
                    dict(self.withdrawals.get(prompt, {})))

    def _version(self, line: int, entry: dict[str, Any], rel: str) -> None:
        prompt, version, payload_hash = entry.get("prompt"), entry.get("version"), entry.get("hash")
        self.versions.add((prompt, version, payload_hash))
        known = self.issued.get((prompt, version))
        other = self.by_hash.get((prompt, payload_hash))
        if known is not None and known[0] != payload_hash:
            self._problem(rel, line, f"{prompt} {version} was issued for {str(known[0])[:19]}... and is issued again here "
                          f"for {str(payload_hash)[:19]}...: a version is one text, forever")
        elif other is not None and other != version:
            self._problem(rel, line, f"{prompt} {str(payload_hash)[:19]}... was issued as {other} and is issued again here "
                          f"as {version}: a text keeps the version it was first issued as")
        elif known is not None and entry.get("bump"):
            self._problem(rel, line, f"{prompt} {version} is issued a second time ({entry.get('bump')}): a version is "
                          "issued once (a text that returns keeps its version, with no bump)")
        if known is None:
            self.issued[(prompt, version)] = (payload_hash, entry.get("actor"), entry.get("time"))
            self.by_hash[(prompt, payload_hash)] = version

    def _rollback(self, line: int, entry: dict[str, Any], rel: str) -> None:
        prompt, listed = entry.get("prompt"), entry.get("environments")
        found = _ROLLBACK.match(str(entry.get("reason")))
        environments: dict[Any, Any] = listed if isinstance(listed, dict) else {}
        if not isinstance(prompt, str) or found is None or found["new"] != entry.get("version") \
                or environments.get(found["env"]) != found["new"]:
            self.problems.append(Problem(rel, line, 1, "PL223", "this rollback does not say, as promptlane writes it "
                                         "('<env>: <old> -> <new>, <old> withdrawn: <reason>', with <new> its version and "
                                         "what <env> serves after it), what it withdrew; restore the changelog from git"))
            return
        marks = self.withdrawals.setdefault(prompt, {})
        if found["new"] in marks:
            self.problems.append(Problem(rel, line, 1, "PL225", f"this rollback returns {found['env']} to {found['new']}, "
                                         f"which an earlier rollback withdrew ({marks[found['new']].get('time')}): a withdrawn "
                                         "version comes back only by promotion, with newer eval results"))
        marks[found["old"]] = {"env": found["env"], "time": entry.get("time"), "reason": found["why"]}
        self.rollbacks.setdefault(prompt, []).append(
            {"env": found["env"], "withdrawn": found["old"], "time": entry.get("time"), "why": found["why"],
             "actor": entry.get("actor")})

    def _problem(self, rel: str, line: int, message: str) -> None:
        self.problems.append(Problem(rel, line, 1, "PL221", message + "; restore the changelog from git"))

    def backing(self, prompt: str, env: str, version: str, number: int, event: Any) -> Logged | None:
        """The promotion a pointer set by entry ``number`` (a ``event``) stands on: that entry's
        own, or for a rollback the promotion it returned to; None for anything else."""
        if event == "promote":
            return self.promotions.get(number)
        if event == "rollback":
            return self.promotion_before(prompt, env, version, number)
        return None

    def promotion_before(self, prompt: str, env: str, version: str, number: int) -> Logged | None:
        """The latest promotion of ``version`` to ``env`` logged before entry ``number``: what a
        rollback to it stands on."""
        found = [n for n in self.promoted.get((prompt, env, version), []) if n < number]
        return self.promotions.get(max(found)) if found else None
