"""A prompt card (pure): the model of ``prompts/<id>/card.yml``, its schema, identity and
variable checks, and its payload hash once the step texts are read.

A card is one model call (``steps:``) or a chain (``calls:``, each call with its own steps;
a call's texts may use ``{{ <call>.output }}`` of an earlier call). ``step_entries`` lists the
steps of either kind with their YAML paths, so readers of texts need no second loop.

``parse_card`` and ``complete_card`` never raise for bad input: the ``Card`` they fill has
``problems`` that say what is wrong, each at a file and line. ``payload``/``hash`` are set
only when the card and all its texts are sound, so no hash is ever computed from half-read
input. Reading the files is store/cards.py.
"""
from __future__ import annotations

import re
from typing import Any, NamedTuple

from promptlane.core import hashing
from promptlane.core.calls import DOTTED, first_matches, references
from promptlane.core.layout import RESERVED_IDS, is_prompt_id
from promptlane.core.problems import Problem
from promptlane.core.record import field, record
from promptlane.core.schema import card_problems
from promptlane.core.suggest import closest
from promptlane.core.yamltext import Loaded, locate

MAX_TEXT_BYTES = 1 << 20  # 1 MiB: larger "prompts" are almost always a mistaken file
# The one placeholder grammar (evals/render.py, the template's render_chain.py and the runtime
# fill exactly it, with the value as given): ``{{ name }}``, spaces optional.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# A placeholder in a template engine's looser forms, ``{{- name -}}`` or ``{{ name | filter }}``
# (``name.output`` too): nothing in promptlane fills it, so a text may not write one (PL145).
LOOSE = re.compile(r"\{\{(-)?\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*(\|(?:[^}]|\}(?!\}))*?)?(-)?\}\}")
MANAGED_KEYS = ("version", "hash", "author", "environment")


class StepAt(NamedTuple):
    """A step of a card and where it is: ``path`` is its YAML path (``("steps", 1)`` or
    ``("calls", 0, "steps", 1)``), ``call`` the index of its call in a chain (None otherwise)."""

    path: tuple[Any, ...]
    step: dict[str, Any]
    call: int | None

    @property
    def dotted(self) -> str:
        """The path as messages write it: ``steps[1]``, ``calls[0].steps[1]``."""
        return ".".join(f"{part}" if isinstance(part, str) else f"[{part}]" for part in self.path).replace(".[", "[")


def is_chain_card(data: Any) -> bool:
    return isinstance(data, dict) and "calls" in data and "steps" not in data


def step_entries(data: Any) -> list[StepAt]:
    """Every well-shaped step of a card (``steps:`` or all calls' ``steps:``), in the order the
    texts are read and hashed. Shapes the schema refuses are skipped (it reports them)."""
    if not isinstance(data, dict):
        return []
    groups: list[tuple[tuple[Any, ...], Any, int | None]] = [(("steps",), data.get("steps"), None)]
    if is_chain_card(data):
        calls = data["calls"] if isinstance(data["calls"], list) else []
        groups = [(("calls", i, "steps"), call.get("steps"), i) for i, call in enumerate(calls) if isinstance(call, dict)]
    return [StepAt((*at, j), step, call) for at, steps, call in groups if isinstance(steps, list)
            for j, step in enumerate(steps) if isinstance(step, dict)]


def call_names(data: Any) -> list[Any]:
    """The ``name`` of each call of a chain card, as written ([] for a card with ``steps:``)."""
    if not is_chain_card(data) or not isinstance(data["calls"], list):
        return []
    return [call.get("name") if isinstance(call, dict) else None for call in data["calls"]]


@record
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
            if isinstance(item, (dict, list)):  # a scalar holds no key: not visited
                found = _non_text_key(item, path + [key])
                if found:
                    return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, (dict, list)):
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
    # Only well-shaped steps are compared; the schema has already reported any other shape.
    seen: dict[Any, list[Any]] = {}  # lists: a name the schema refuses may be unhashable ([], {})
    for entry in step_entries(card.data):
        name, names = entry.step.get("name"), seen.setdefault(entry.call, [])
        if name in names:
            within = "" if entry.call is None else f" in call '{card.data['calls'][entry.call].get('name')}'"
            found.append(card.problem("PL134", f"{entry.dotted}.name: step '{name}' appears twice{within}; step names must be "
                                      f"unique{'' if entry.call is None else ' within a call'}", *entry.path, "name"))
        names.append(name)
    calls = call_names(card.data)
    variables = card.data["variables"] if isinstance(card.data.get("variables"), list) else []
    for index, name in enumerate(calls):
        if not isinstance(name, str):
            continue
        if name in calls[:index]:
            found.append(card.problem("PL136", f"calls[{index}].name: call '{name}' appears twice; call names must be unique "
                                      f"(texts name a call's output as {{{{ {name}.output }}}})", "calls", index, "name"))
        if name in variables:
            found.append(card.problem("PL137", f"calls[{index}].name: '{name}' is also a variable; {{{{ {name} }}}} and "
                                      f"{{{{ {name}.output }}}} would be confused: rename the call or the variable",
                                      "calls", index, "name"))
    return found


def placeholders(text: str) -> dict[str, tuple[int, int]]:
    """Variable name -> (line, column) of the first ``{{ name }}`` placeholder that uses it;
    the column counts characters from 1, as an editor does. ``{{ call.output }}`` is not one
    (core/calls.references finds those)."""
    return first_matches(PLACEHOLDER, text)


def loose_placeholders(text: str) -> list[tuple[str, str, int, int]]:
    """Each placeholder written in a form nothing fills (``LOOSE``): (as written, its name, line,
    column), the column counting characters from 1."""
    found = []
    for match in LOOSE.finditer(text):
        if match.group(1) or match.group(3) or match.group(4):
            line = text.count("\n", 0, match.start()) + 1
            col = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
            found.append((match.group(0), match.group(2), line, col))
    return found


def _loose_problems(card: Card) -> list[Problem]:
    found = []
    for entry, text in zip(step_entries(card.data), card.texts or [], strict=False):
        for written, name, line, col in loose_placeholders(text):
            found.append(Problem(f"prompts/{card.prompt_id}/{entry.step['file']}", line, col, "PL145", (
                f"{written} is not a placeholder promptlane fills: it fills {{{{ name }}}} (spaces optional) with the "
                f"value as given, no filters or whitespace control, in the evals and at runtime alike; write {{{{ {name} }}}}")))
    return found


def _reference_problems(card: Card) -> list[Problem]:
    """In a chain, each ``{{ x.output }}`` must name a call that runs before the text's own."""
    names = [str(name) for name in call_names(card.data)]
    found = []
    for entry, text in zip(step_entries(card.data), card.texts or [], strict=False):
        if entry.call is None:
            continue
        own, earlier = names[entry.call], names[:entry.call]
        shown = f"prompts/{card.prompt_id}/{entry.step['file']}"
        for name, (line, col) in references(text).items():
            ref = f"{{{{ {name}.output }}}}"
            if name in earlier:
                continue
            if name == own:
                found.append(Problem(shown, line, col, "PL143", f"{ref} in call '{own}' is its own output, which does not exist "
                                     f"while it runs; a call uses only outputs of calls before it"
                                     f"{' (' + ', '.join(earlier) + ')' if earlier else ''}"))
            elif name in names:
                found.append(Problem(shown, line, col, "PL143", f"{ref} in call '{own}': call '{name}' runs after it "
                                     f"(calls[{names.index(name)}]); a call uses only outputs of calls before it: move "
                                     f"'{name}' before '{own}' in {card.rel}"))
            else:
                close = closest(name, earlier)
                fix = f"did you mean {{{{ {close}.output }}}}?" if close else \
                    (f"calls before '{own}': {', '.join(earlier)}" if earlier else f"'{own}' is the first call: no output comes before it")
                found.append(Problem(shown, line, col, "PL142", f"{ref}: no call is named '{name}'; {fix}"))
        for dotted, (line, col) in first_matches(DOTTED, text, groups=2).items():
            name, attribute = dotted.split(".")
            if name in names and attribute != "output":
                found.append(Problem(shown, line, col, "PL144", f"{{{{ {dotted} }}}}: a call has only .output; "
                                     f"write {{{{ {name}.output }}}}"))
    return found


def _variable_problems(card: Card) -> list[Problem]:
    declared = list(card.data["variables"])
    used: dict[str, tuple[str, int, int]] = {}
    for entry, text in zip(step_entries(card.data), card.texts or [], strict=False):
        for name, (line, col) in placeholders(text).items():
            used.setdefault(name, (f"prompts/{card.prompt_id}/{entry.step['file']}", line, col))
    calls = set(map(str, call_names(card.data)))
    found = _loose_problems(card) + _reference_problems(card)
    for name in sorted(set(used) - set(declared)):
        shown, line, col = used[name]
        close = closest(name, declared)
        fix = f"add '{name}' to variables: in {card.rel}"
        if name in calls:
            fix = f"'{name}' is a call: its output is {{{{ {name}.output }}}} (or {fix})"
        elif close:
            fix = f"did you mean '{close}'? (or {fix})"
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
    if is_chain_card(card.data):
        calls, per_call, start = card.data["calls"], [], 0
        for call in calls:
            per_call.append(texts[start:start + len(call["steps"])])
            start += len(call["steps"])
        payload = hashing.build_chain_payload(card.data["model"], calls, per_call, card.data["variables"])
    else:
        payload = hashing.build_payload(card.data["model"], card.data["steps"], texts, card.data["variables"])
    try:
        card.hash = hashing.payload_hash(payload)
    except ValueError as exc:  # e.g. .inf or .nan in params: JSON (and so the hash) has no such number
        where = "model.params or a call's params" if is_chain_card(card.data) else "model.params"
        card.problems.append(card.problem("PL103", f"{where}: cannot be hashed ({exc}); use finite numbers", "model", "params"))
        return
    card.payload = payload


def outside_folder(name: str) -> bool:
    """Whether a step's ``file`` leaves the card's folder by its name alone (the PL131 rule
    before any folder exists, for `promptlane new`): an absolute path, a drive, or a ``..`` part.
    store/cards.py also resolves symlinks once the files exist."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or bool(re.match(r"[A-Za-z]:", name)) or ".." in parts
