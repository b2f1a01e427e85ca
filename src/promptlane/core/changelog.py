"""The changelog's text (pure): entries written as JSON scalars in YAML, read back fast, and
what the entries say (``ChangelogKeys``): versions issued, promotions, what each prompt serves.

Written only by appending (store/logs.py); nothing here re-serialises what is already there.
"""
from __future__ import annotations

import json
import re
from typing import Any

from promptlane.core.events import Event

CHANGELOG_HEADER = (
    "# Prompt changelog: one entry per version, promotion, demotion and rollback.\n"
    "# Append-only: promptlane appends entries; never edit or reorder them.\n"
)


CONTINUED_CHANGELOG_HEADER = CHANGELOG_HEADER + "# Earlier entries are sealed in audit/archive/.\n"


def changelog_entry(event: Event) -> str:
    fields: dict[str, Any] = {
        "event": event.event, "time": event.time, "actor": event.actor, "prompt": event.prompt,
        "version": event.version, "hash": event.hash,
    }
    if event.bump:
        fields["bump"] = event.bump
    fields["environments"] = event.environments
    fields["reason"] = event.reason
    if event.evidence is not None:
        fields["evidence"] = event.evidence
    # JSON scalars are valid YAML and never fall into YAML 1.1's implicit typing traps.
    lines = [f"{'- ' if i == 0 else '  '}{key}: {json.dumps(value, ensure_ascii=False, sort_keys=False)}"
             for i, (key, value) in enumerate(fields.items())]
    return "\n".join(lines) + "\n"


_ENTRY_LINE = re.compile(r"^(- |  )([A-Za-z_]+): (.*)$")


def parse_changelog(text: str) -> list[Any]:
    """The changelog's entries (see ``changelog_lines``)."""
    return [entry for _, entry in changelog_lines(text)]


def changelog_lines(text: str) -> list[tuple[int, Any]]:
    """(line, entry) of every changelog entry. Lines in the form promptlane writes (``- key:
    <json>`` / ``  key: <json>``) are read directly, ~20x faster than a YAML parse of a large
    log; any other line (a hand edit) sends the whole file through the YAML loader instead. A
    key given twice in one entry is refused either way (ChangelogError): a second value
    appended under a committed entry must not override what it says."""
    entries: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        match = _ENTRY_LINE.match(line)
        if match is None or (match[1] == "  " and not entries):
            return _yaml_changelog(text)
        if match[1] == "- ":
            entries.append((number, {}))
        entry = entries[-1][1]
        if match[2] in entry:
            first = entries[-1][0]
            raise ChangelogError(number, 3, f"duplicate key '{match[2]}' in the entry of line {first}: an entry "
                                 "says each thing once; restore the changelog from git")
        try:
            entry[match[2]] = json.loads(match[3])
        except ValueError:
            return _yaml_changelog(text)
    return list(entries)


class ChangelogError(ValueError):
    """The changelog is not YAML: where, and what the parser said (one line)."""

    def __init__(self, line: int, col: int, what: str):
        super().__init__(f"{line}:{col}: {what}")
        self.line, self.col, self.what = line, col, what
        self.rel = "schemas/prompt-change-log.yml"  # the segment, when several were read


def _yaml_changelog(text: str) -> list[tuple[int, Any]]:
    from promptlane.core.yamltext import load

    loaded = load(text, "changelog")
    if loaded.problems:
        first = min(loaded.problems)
        raise ChangelogError(first.line, first.col, first.message)
    entries = loaded.data if isinstance(loaded.data, list) else []
    # The loader keeps no lines: an entry's is the n-th line that opens an item.
    starts = [n for n, line in enumerate(text.splitlines(), start=1) if line.startswith("-")]
    return [(starts[i] if i < len(starts) else 1, entry) for i, entry in enumerate(entries)]


class ChangelogKeys:
    """What the changelog says: versions issued, (prompt, version, env) promoted or rolled back,
    and what each prompt's last entry left each environment serving."""

    def __init__(self) -> None:
        self.versions: set[tuple[Any, Any, Any]] = set()  # (prompt, version, hash) as the entries say
        self.served: set[tuple[Any, Any, Any]] = set()    # (prompt, version, environment)
        self.last: dict[str, dict[Any, Any]] = {}

    def feed(self, text: str) -> None:
        """Add one segment's entries (segments are fed oldest first); ChangelogError if unreadable."""
        from promptlane.core.changelog import parse_changelog

        for entry in parse_changelog(text):
            if not isinstance(entry, dict):
                continue
            event, prompt = entry.get("event"), entry.get("prompt")
            listed = entry.get("environments")
            environments: dict[Any, Any] = listed if isinstance(listed, dict) else {}
            if event == "version":
                self.versions.add((prompt, entry.get("version"), entry.get("hash")))
            if event in ("promote", "rollback"):
                # Which environments the event left serving this version.
                for name, version in environments.items():
                    if version == entry.get("version"):
                        self.served.add((prompt, version, name))
            if isinstance(prompt, str):
                self.last[prompt] = {env: ver for env, ver in environments.items() if ver}
