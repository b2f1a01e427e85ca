"""A form's checklist (pure): the task-list lines of its ``## Checklist: <role>`` section,
which of them the reviewer answered (``[x]``), ticking them when ``promptlane approve``
records the answers, and why an approval whose policy requires the checklist does not count.

The items a role must answer are those of ``HITL_Approval_Template.md`` under the rules being
judged (the base branch's, on a pull request; the one a promotion's evidence names, when
``audit verify --full`` judges it again): a form counts only with the same items, in the same
order, each once, every one ticked. Every task-list line of a checklist section is an item,
however it is written (``- [ ]``, ``* [ ]``, ``+ [ ]``, ``1. [ ]``, indented, quoted, ``[X]``),
so an item cannot hide from the count by its markdown; only ``[x]`` and ``[X]`` answer one.

The answers live in the form's body, so the reviewer's signature covers them like every other
byte of the form: a box ticked by hand after signing breaks the signature.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from promptlane.core.problems import Problem, UsageError
from promptlane.core.reviews import TEMPLATE, Review, data_role, slug
from promptlane.core.suggest import did_you_mean

SECTION = "## Checklist: "
# A task-list line: a list marker (bullet or number), possibly indented or quoted, then a box of
# up to three characters (``[ ]``, ``[x]``, ``[x ]``, ``[*]``, ``[✓]``...) that opens no link.
_ITEM = re.compile(r"^(?P<lead>[ \t>]*(?:[-*+]|\d{1,9}[.)])[ \t]*)\[(?P<box>[^\]\n]{0,3})\](?![(\[:])(?P<text>.*?)\s*$")
_TICKED = ("x", "X")


@dataclass(frozen=True)
class Item:
    text: str
    line: int         # 1-based line of the item in the file (or the body, for a template)
    answered: bool


def _sections(text: str) -> Iterator[tuple[int, str, str | None]]:
    """(line number, line, the role whose checklist section holds it, or None) for every line."""
    role: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("## "):
            role = line[len(SECTION):].strip() if line.startswith(SECTION) else None
            yield number, line, None
            continue
        yield number, line, role


def items_of(text: str, role: str) -> list[Item]:
    """The items of ``role``'s checklist in a form or the template (none: no such section)."""
    found: list[Item] = []
    for number, line, section in _sections(text):
        match = _ITEM.match(line) if section is not None and slug(section) == slug(role) else None
        if match:
            found.append(Item(match["text"].strip(), number, match["box"] in _TICKED))
    return found


def checklist_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line without trailing spaces) of every line of every checklist section,
    headings included, blank lines left out."""
    return [(number, line.rstrip()) for number, line, section in _sections(text)
            if (section is not None or line.startswith(SECTION)) and line.strip()]


def checklist_text(text: str) -> str:
    """Every checklist section of the template (``checklist_lines``, line ends normalised): what
    a change to the template's checklists is, and what its Governance approval is bound to
    (core/governance.py)."""
    return "".join(f"{line}\n" for _, line in checklist_lines(text))


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


def _set_box(line: str, box: str) -> str:
    match = _ITEM.match(line.rstrip("\r\n"))
    if match is None:
        return line
    return line[:match.start("box")] + box + line[match.end("box"):]


def tick(text: str, lines: set[int]) -> str:
    """``text`` with the boxes on ``lines`` ticked (``[x]``); every other byte kept."""
    out = text.splitlines(keepends=True)
    for number in lines:
        out[number - 1] = _set_box(out[number - 1], "x")
    return "".join(out)


def unticked(text: str) -> str:
    """``text`` with the box of every checklist item emptied (``[ ]``): a form starts with every
    item unanswered, whatever the template's boxes say; every other byte kept."""
    lines = {number for number, line, section in _sections(text) if section is not None and _ITEM.match(line)}
    out = text.splitlines(keepends=True)
    for number in lines:
        out[number - 1] = _set_box(out[number - 1], " ")
    return "".join(out)


def checklist_problem(review: Review, prompt_id: str, template: str | None = None,
                      source: str = "the working tree") -> Problem | None:
    """Why an approval does not count where the policy requires its checklist: its items are not
    those of ``template`` (the HITL template under the rules judged, from ``source``) for its role
    (PL531: missing, extra, reordered, reworded or repeated; or none at all), or it leaves items
    unanswered (PL532, at the first one's line). ``template`` None: no template is known (a
    promotion whose evidence names none), and the form's own items are judged."""
    role = str(review.data["role"])
    text = review.raw.decode("utf-8", "replace")
    items = items_of(text, role)
    cmd = f"promptlane approve {prompt_id} --role {data_role(review)} --all-confirmed"
    again = f"the reviewer records a new decision with `{cmd}` (or --confirm ITEM...)"
    if template is not None:
        wanted = items_of(template, role)
        if not wanted:
            return review.problem("PL531", f"cannot answer a checklist: {TEMPLATE} ({source}) has no '{SECTION}{role}' "
                                  f"items, and the policy requires the checklist (require_checklist): add the role's "
                                  f"items to {TEMPLATE} on the base branch (a governed change, PL413)", "role")
        mismatch = _mismatch(review, role, items, wanted, source, again)
        if mismatch:
            return mismatch
    if not items:
        return review.problem("PL531", f"has no '{SECTION}{role}' items, and the policy requires the checklist "
                              f"(require_checklist): {again}", "role")
    open_items = [item for item in items if not item.answered]
    if not open_items:
        return None
    named = "; ".join(f"'{item.text}' (line {item.line})" for item in open_items)
    return Problem(review.rel, open_items[0].line, 1, "PL532",
                   f"{len(open_items)} of {len(items)} checklist items unanswered: {named}; the policy requires every "
                   f"item (require_checklist): {again}")


def _mismatch(review: Review, role: str, items: list[Item], wanted: list[Item], source: str,
              again: str) -> Problem | None:
    """PL531 at the first item of the form that differs from the template's list (None: the same)."""
    have, want = [item.text for item in items], [item.text for item in wanted]
    if have == want:
        return None
    where = f"{TEMPLATE} ({source})"
    head = f"its '{SECTION}{role}' items are not those of {where}"
    tail = (f"; a form answers exactly the template's {len(want)} items, in its order, each once: {again} "
            f"(`promptlane approve` renders the form from the template)")
    if not items:
        return review.problem("PL531", f"has no '{SECTION}{role}' items, and {where} has {len(want)} "
                              f"(the policy requires the checklist, require_checklist){tail}", "role")
    for index, item in enumerate(items):
        if index < len(want) and item.text == want[index]:
            continue
        template_line = f"{TEMPLATE}:{wanted[index].line}" if index < len(wanted) else ""
        if item.text in have[:index]:
            why = f"'{item.text}' (line {item.line}) is there twice"
        elif index >= len(want):
            why = f"'{item.text}' (line {item.line}) is one more than the template's {len(want)}"
        elif item.text not in want:
            why = (f"'{item.text}' (line {item.line}) is not an item of the template (item {index + 1} there is "
                   f"'{want[index]}', {template_line})")
        elif want[index] not in have:
            why = f"item {index + 1} of the template, '{want[index]}' ({template_line}), is missing"
        else:
            why = f"'{item.text}' (line {item.line}) is out of order: item {index + 1} of the template is '{want[index]}' ({template_line})"
        return Problem(review.rel, item.line, 1, "PL531", f"{head}: {why}{tail}")
    missing = "; ".join(f"'{w.text}' ({TEMPLATE}:{w.line})" for w in wanted[len(items):])
    return Problem(review.rel, items[-1].line, 1, "PL531", f"{head}: {len(want) - len(items)} missing after "
                   f"line {items[-1].line}: {missing}{tail}")
