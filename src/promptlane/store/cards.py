"""Reading one prompt card: schema, step texts, variables, and its payload hash.

``read_card`` never raises for bad input: it returns a ``Card`` whose ``problems`` say what
is wrong, each at a file and line. ``payload``/``hash`` are set only when the card and all
its texts are sound, so no hash is ever computed from half-read input.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any

from promptlane.core import hashing
from promptlane.core.problems import Problem
from promptlane.store.repo import CARD, Repo, is_prompt_id
from promptlane.core.schema import card_problems
from promptlane.core.yamltext import decode, load_file, locate

MAX_TEXT_BYTES = 1 << 20  # 1 MiB: larger "prompts" are almost always a mistaken file
PLACEHOLDER = re.compile(r"\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|[^}]*)?-?\}\}")
MANAGED_KEYS = ("version", "hash", "author", "environment")


@dataclass
class Card:
    prompt_id: str
    rel: str
    text: str = ""
    data: dict = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    texts: list[str] | None = None
    payload: dict | None = None
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
    def version(self) -> Any:
        return self.data.get("version")

    @property
    def environment(self) -> Any:
        return self.data.get("environment")


def read_card(repo: Repo, prompt_id: str) -> Card:
    rel = f"prompts/{prompt_id}/{CARD}"
    card = Card(prompt_id, rel)
    path = repo.card_path(prompt_id)
    if not path.is_file():
        card.problems.append(Problem(f"prompts/{prompt_id}", 1, 1, "PL120",
                                     f"has no {CARD}; create one with `promptlane new {prompt_id}` or remove the folder"))
        return card
    loaded = load_file(str(path), rel)
    card.text = loaded.text
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
    if card.problems:
        return card
    _read_texts(repo, card)
    if card.texts is not None:
        card.problems.extend(_variable_problems(card))
    if not card.problems:
        payload = hashing.build_payload(card.data["model"], card.data["steps"], card.texts, card.data["variables"])
        try:
            card.hash = hashing.payload_hash(payload)
        except ValueError as exc:  # e.g. .inf or .nan in params: JSON (and so the hash) has no such number
            card.problems.append(card.problem("PL103", f"model.params: cannot be hashed ({exc}); use finite numbers", "model", "params"))
            return card
        card.payload = payload
    return card


_KINDS = {int: "a number", float: "a number", bool: "a boolean", type(None): "null"}


def _non_text_key(value: Any, path: list) -> tuple[list, Any] | None:
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
    steps = card.data.get("steps")
    # Only well-shaped steps are compared; the schema has already reported any other shape.
    names = [s.get("name") for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []
    for index, name in enumerate(names):
        if name in names[:index]:
            found.append(card.problem("PL134", f"steps[{index}].name: step '{name}' appears twice; step names must be unique", "steps", index, "name"))
    return found


def _read_texts(repo: Repo, card: Card) -> None:
    folder = os.path.realpath(repo.prompt_dir(card.prompt_id))
    if not folder.startswith(os.path.realpath(repo.root / "prompts") + os.sep):
        card.problems.append(card.problem("PL131", f"prompts/{card.prompt_id} is a link to a folder outside prompts/; keep prompts inside the repository", "id"))
        return
    texts = []
    for index, step in enumerate(card.data["steps"]):
        text = _read_step(repo, card, folder, index, step["file"])
        texts.append(text)
    if all(t is not None for t in texts):
        card.texts = texts  # type: ignore[assignment]


def _inside(folder: str, name: str) -> tuple[str, bool]:
    """The real path of ``name`` under ``folder`` and whether it stays inside it.

    A plain file name that is not a symlink cannot leave the folder: one lstat answers it.
    Anything else (sub-folders, ``..``, symlinks) is resolved in full before it is trusted.
    """
    plain = os.path.join(folder, name)
    if "/" not in name and "\\" not in name and name not in (".", ".."):
        try:
            if not stat.S_ISLNK(os.lstat(plain).st_mode):
                return plain, True
        except OSError:
            return plain, True  # missing: reported as PL130 by the caller
    real = os.path.realpath(plain)
    return real, real.startswith(folder + os.sep)


def _read_step(repo: Repo, card: Card, folder: str, index: int, name: str) -> str | None:
    at = ("steps", index, "file")
    shown = f"prompts/{card.prompt_id}/{name}"
    real, inside = _inside(folder, name)
    if not inside:
        card.problems.append(card.problem("PL131", f"steps[{index}].file: '{name}' points outside prompts/{card.prompt_id}/; keep step texts in the card's folder", *at))
        return None
    try:
        info = os.stat(real)
    except OSError:
        info = None
    if info is None or not stat.S_ISREG(info.st_mode):
        card.problems.append(card.problem("PL130", f"steps[{index}].file: '{name}' does not exist; create {shown} or fix the file name", *at))
        return None
    if info.st_size > MAX_TEXT_BYTES:
        card.problems.append(card.problem("PL135", f"steps[{index}].file: '{name}' is {info.st_size} bytes, over the {MAX_TEXT_BYTES}-byte limit for a prompt text", *at))
        return None
    with open(real, "rb") as handle:
        raw = handle.read()
    text, problem = decode(raw, shown)
    if problem:
        card.problems.append(Problem(problem.path, problem.line, problem.col, "PL133", problem.message))
        return None
    return text


def placeholders(text: str) -> dict[str, int]:
    """Variable name -> first line where a ``{{ name }}`` placeholder uses it."""
    found: dict[str, int] = {}
    line, counted = 1, 0
    for match in PLACEHOLDER.finditer(text):
        line += text.count("\n", counted, match.start())  # counted as we go: linear in the text
        counted = match.start()
        found.setdefault(match[1], line)
    return found


def _variable_problems(card: Card) -> list[Problem]:
    declared = list(card.data["variables"])
    used: dict[str, tuple[str, int]] = {}
    for step, text in zip(card.data["steps"], card.texts or []):
        for name, line in placeholders(text).items():
            used.setdefault(name, (f"prompts/{card.prompt_id}/{step['file']}", line))
    found = []
    for name in sorted(set(used) - set(declared)):
        shown, line = used[name]
        found.append(Problem(shown, line, 1, "PL141", f"uses {{{{ {name} }}}} but the card does not declare it; add '{name}' to variables: in {card.rel}"))
    for index, name in enumerate(declared):
        if name not in used:
            found.append(card.problem("PL140", f"variables[{index}]: '{name}' is declared but no step text uses {{{{ {name} }}}}; remove it or use it", "variables", index))
    return found
