"""A prompt card (pure): the model of ``prompts/<id>/card.yml``, its schema, identity and
variable checks, and its payload hash once the step texts are read.

``parse_card`` and ``complete_card`` never raise for bad input: the ``Card`` they fill has
``problems`` that say what is wrong, each at a file and line. ``payload``/``hash`` are set
only when the card and all its texts are sound, so no hash is ever computed from half-read
input. Reading the files is store/cards.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from promptlane.core import hashing
from promptlane.core.layout import RESERVED_IDS, is_prompt_id
from promptlane.core.problems import Problem
from promptlane.core.schema import card_problems
from promptlane.core.suggest import closest
from promptlane.core.yamltext import Loaded, locate

MAX_TEXT_BYTES = 1 << 20  # 1 MiB: larger "prompts" are almost always a mistaken file
PLACEHOLDER = re.compile(r"\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|[^}]*)?-?\}\}")
MANAGED_KEYS = ("version", "hash", "author", "environment")


@dataclass
class Card:
    prompt_id: str
    rel: str
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    texts: list[str] | None = None
    payload: dict[str, Any] | None = None
    hash: str | None = None

    @property
    def ok(self) -> bool:
        return self.payload is not None

    def where(self, *path: Any, key: str | None = None) -> tuple[int, int]:
        loc = locate(self.text, list(path), key)
        return loc.line, loc.col

    def problem(self, code: str, message: str, *path: Any, key: str | None = None) -> Problem:
        line, col = self.where(*path, key=key)
        return Problem(self.rel, line, col, code, message)

    @property
    def sound_hash(self) -> str:
        """The payload hash of a sound card (``ok``). Callers hold sound cards only (read_card
        without problems, synced_card, eval_card): asking an unsound one is a programming error."""
        if self.hash is None:
            raise ValueError(f"{self.rel} has problems, so no payload hash; check card.ok first")
        return self.hash

    @property
    def version(self) -> Any:
        return self.data.get("version")

    @property
    def environment(self) -> Any:
        return self.data.get("environment")


_KINDS = {int: "a number", float: "a number", bool: "a boolean", type(None): "null"}


def _non_text_key(value: Any, path: list[Any]) -> tuple[list[Any], Any] | None:
    """The first mapping key that is not a string (``1:``, ``true:``), with where it is."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return path, key
            found = _non_text_key(item, path + [key])
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _non_text_key(item, path + [index])
            if found:
                return found
    return None


def _identity_problems(card: Card) -> list[Problem]:
    found = []
    declared = card.data.get("id")
    if declared != card.prompt_id:
        hint = "" if is_prompt_id(card.prompt_id) else "; rename the folder to a valid id ([a-z0-9][a-z0-9-]*)"
        found.append(card.problem("PL121", f"id '{declared}' must equal the folder name '{card.prompt_id}'{hint}", "id"))
    elif declared in RESERVED_IDS:
        found.append(card.problem("PL121", f"id '{declared}' is reserved (promptlane names folders after ids, and "
                                  f"'{declared}' already has a meaning there); rename the prompt and its folder", "id"))
    steps = card.data.get("steps")
    # Only well-shaped steps are compared; the schema has already reported any other shape.
    names = [s.get("name") for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []
    for index, name in enumerate(names):
        if name in names[:index]:
            found.append(card.problem("PL134", f"steps[{index}].name: step '{name}' appears twice; step names must be unique", "steps", index, "name"))
    return found


def placeholders(text: str) -> dict[str, tuple[int, int]]:
    """Variable name -> (line, column) of the first ``{{ name }}`` placeholder that uses it;
    the column counts characters from 1, as an editor does."""
    found: dict[str, tuple[int, int]] = {}
    line, counted, line_start = 1, 0, 0
    for match in PLACEHOLDER.finditer(text):
        newlines = text.count("\n", counted, match.start())  # counted as we go: linear in the text
        if newlines:
            line += newlines
            line_start = text.rindex("\n", counted, match.start()) + 1
        counted = match.start()
        found.setdefault(match[1], (line, match.start() - line_start + 1))
    return found


def _variable_problems(card: Card) -> list[Problem]:
    declared = list(card.data["variables"])
    used: dict[str, tuple[str, int, int]] = {}
    for step, text in zip(card.data["steps"], card.texts or [], strict=False):
        for name, (line, col) in placeholders(text).items():
            used.setdefault(name, (f"prompts/{card.prompt_id}/{step['file']}", line, col))
    found = []
    for name in sorted(set(used) - set(declared)):
        shown, line, col = used[name]
        close = closest(name, declared)
        fix = f"add '{name}' to variables: in {card.rel}"
        fix = f"did you mean '{close}'? (or {fix})" if close else fix
        found.append(Problem(shown, line, col, "PL141", f"uses {{{{ {name} }}}} but the card does not declare it; {fix}"))
    for index, name in enumerate(declared):
        if name not in used:
            close = closest(name, set(used) - set(declared))
            fix = f"did you mean {{{{ {name} }}}} where a text has {{{{ {close} }}}}?" if close else "remove it or use it"
            found.append(card.problem("PL140", f"variables[{index}]: '{name}' is declared but no step text uses {{{{ {name} }}}}; {fix}", "variables", index))
    return found


def parse_card(prompt_id: str, rel: str, loaded: Loaded) -> Card:
    """The card as read: YAML, schema and identity problems (the texts are read next)."""
    card = Card(prompt_id, rel, loaded.text)
    card.problems.extend(loaded.problems)
    if any(p.code in ("PL100", "PL107", "PL110") for p in loaded.problems):
        return card
    if not isinstance(loaded.data, dict):
        card.problems.append(Problem(rel, 1, 1, "PL103", "a card must be a YAML mapping (see schemas/prompt-card.example.yml)"))
        return card
    card.data = loaded.data
    odd_key = _non_text_key(card.data, [])
    if odd_key is not None:
        path, key = odd_key
        line, col = card.where(*path, key=str(key))
        card.problems.append(Problem(rel, line, col, "PL103", f"key {key!r} is read as {_KINDS.get(type(key), 'a value')}, not text; quote it: '{key}'"))
        return card
    card.problems.extend(card_problems(card.data, card.text, rel))
    card.problems.extend(_identity_problems(card))
    return card


def complete_card(card: Card, texts: list[str]) -> None:
    """With its step texts read: the variables they use, then the payload and its hash.
    ``payload``/``hash`` are set only when everything is sound."""
    card.texts = texts
    card.problems.extend(_variable_problems(card))
    if card.problems:
        return
    payload = hashing.build_payload(card.data["model"], card.data["steps"], texts, card.data["variables"])
    try:
        card.hash = hashing.payload_hash(payload)
    except ValueError as exc:  # e.g. .inf or .nan in params: JSON (and so the hash) has no such number
        card.problems.append(card.problem("PL103", f"model.params: cannot be hashed ({exc}); use finite numbers", "model", "params"))
        return
    card.payload = payload


def outside_folder(name: str) -> bool:
    """Whether a step's ``file`` leaves the card's folder by its name alone (the PL131 rule
    before any folder exists, for `promptlane new`): an absolute path, a drive, or a ``..`` part.
    store/cards.py also resolves symlinks once the files exist."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or bool(re.match(r"[A-Za-z]:", name)) or ".." in parts
