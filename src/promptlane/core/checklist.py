"""A form's checklist (pure): the ``- [ ] item`` lines of its ``## Checklist: <role>`` section,
which of them the reviewer answered (``- [x]``), ticking them when ``promptlane approve``
records the answers, and why an approval whose policy requires the checklist does not count.

The answers live in the form's body, so the reviewer's signature covers them like every other
byte of the form: a box ticked by hand after signing breaks the signature.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from promptlane.core.problems import Problem, UsageError
from promptlane.core.reviews import Review, data_role, slug
from promptlane.core.suggest import did_you_mean

SECTION = "## Checklist: "
_ITEM = re.compile(r"^- \[( |x|X)\] (.+?)\s*$")


@dataclass(frozen=True)
class Item:
    text: str
    line: int         # 1-based line of the item in the file (or the body, for a template)
    answered: bool


def items_of(text: str, role: str) -> list[Item]:
    """The items of ``role``'s checklist in a form or the template (none: no such section)."""
    found: list[Item] = []
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("## "):
            inside = line.startswith(SECTION) and slug(line[len(SECTION):]) == slug(role)
            continue
        match = _ITEM.match(line) if inside else None
        if match:
            found.append(Item(match[2], number, match[1] != " "))
    return found


def chosen(items: list[Item], wanted: list[str]) -> set[int]:
    """The lines of the items ``wanted`` names, each by its number (1, 2, ...) or its text (case,
    and a final '.', ignored); UsageError with a did-you-mean for one that names no item."""
    def key(text: str) -> str:
        return text.strip().rstrip(".").lower()

    by_text = {key(item.text): item.line for item in items}
    lines: set[int] = set()
    for name in wanted:
        if name.strip().isdigit() and 1 <= int(name) <= len(items):
            lines.add(items[int(name) - 1].line)
        elif key(name) in by_text:
            lines.add(by_text[key(name)])
        else:
            listed = "; ".join(f"{n}. {item.text}" for n, item in enumerate(items, 1))
            raise UsageError(f"--confirm {name!r} is not an item of this checklist"
                             f"{did_you_mean(name, [item.text for item in items])}; "
                             f"name an item by its number or its text: {listed}")
    return lines


def tick(text: str, lines: set[int]) -> str:
    """``text`` with the boxes on ``lines`` ticked; every other byte kept."""
    out = text.splitlines(keepends=True)
    for number in lines:
        out[number - 1] = out[number - 1].replace("- [ ] ", "- [x] ", 1)
    return "".join(out)


def checklist_problem(review: Review, prompt_id: str) -> Problem | None:
    """Why an approval does not count where the policy requires its checklist: it has none for
    its role (PL531), or items it leaves unanswered (PL532, at the first one's line)."""
    role = str(review.data["role"])
    text = review.raw.decode("utf-8", "replace")
    items = items_of(text, role)
    cmd = f"promptlane approve {prompt_id} --role {data_role(review)} --all-confirmed"
    if not items:
        return review.problem("PL531", f"has no '{SECTION}{role}' items, and the policy requires the checklist "
                              f"(require_checklist): the reviewer records a new decision with `{cmd}` (or --confirm ITEM...)",
                              "role")
    open_items = [item for item in items if not item.answered]
    if not open_items:
        return None
    named = "; ".join(f"'{item.text}' (line {item.line})" for item in open_items)
    return Problem(review.rel, open_items[0].line, 1, "PL532",
                   f"{len(open_items)} of {len(items)} checklist items unanswered: {named}; the policy requires every "
                   f"item (require_checklist): the reviewer records a new decision with `{cmd}` (or --confirm ITEM...)")
