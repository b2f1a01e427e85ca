"""Human approvals (pure): who may sign (reviews/reviewers.yml), what a HITL form says, and
which forms count for a prompt version.

A form is ``reviews/<id>/<version>/<role-slug>-<reviewer-slug>.md``: the repository's
HITL_Approval_Template.md with its YAML front matter filled (schemas/review.schema.json).
Here: what one form says and why it cannot count on its own terms (another version or hash,
a reviewer not listed under its role, a wrong file name, the author approving). Its
signature, its date and the forms taken together are core/decisions.py; reading the files
is store/reviews.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from promptlane.core.card import Card
from promptlane.core.layout import POLICY_REVIEWS as POLICY_REVIEWS  # named here too (re-exported)
from promptlane.core.layout import REVIEWERS as REVIEWERS
from promptlane.core.layout import REVIEWS
from promptlane.core.layout import TEMPLATE as TEMPLATE
from promptlane.core.problems import Problem
from promptlane.core.yamltext import Loaded, decode, load, locate

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

SUMMARY_MARKER = "<!-- promptlane: eval summary"
DECISIONS = {"approve": "approved", "reject": "rejected"}
FRONT_KEYS = ("prompt", "version", "hash", "reviewer", "role", "decision", "date", "note")


def slug(text: str) -> str:
    """Role or reviewer as a file-name part: lower case, runs of other characters as '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def reviewer_slug(reviewer: str) -> str:
    return slug(reviewer.split("@", 1)[0])


def review_rel(prompt_id: str, version: str, role: str, reviewer: str, with_domain: bool = False) -> str:
    """reviews/<id>/<version>/<role>-<reviewer>.md; with_domain adds the e-mail's domain, for a
    second reviewer of the role whose address starts the same (pm@example.com, pm@other.org)."""
    name = reviewer_slug(reviewer)
    if with_domain and "@" in reviewer:
        name += "-" + slug(reviewer.split("@", 1)[1])
    return f"{REVIEWS}/{prompt_id}/{version}/{slug(role)}-{name}.md"


@dataclass
class Reviewers:
    roles: dict[str, list[str]] = field(default_factory=dict)
    text: str = ""

    def role_named(self, name: str) -> str | None:
        """The role as reviewers.yml spells it (case and '-'/'_'/' ' do not matter)."""
        wanted = slug(name)
        return next((role for role in self.roles if slug(role) == wanted), None)

    def holds(self, reviewer: str, role: str) -> bool:
        return reviewer.lower() in (email.lower() for email in self.roles.get(role, []))

    def roles_of(self, reviewer: str) -> list[str]:
        return [role for role in self.roles if self.holds(reviewer, role)]

    def line_of(self, role: str) -> int:
        return locate(self.text, [], role).line if role in self.roles else 1


@lru_cache(maxsize=None)
def _validators() -> tuple[Draft202012Validator, Draft202012Validator]:
    from promptlane.core.schema import offline_validator, read_schema

    schema = read_schema("review.schema.json")
    policy = {"$ref": "#/$defs/policyReview", "$defs": schema["$defs"]}
    return offline_validator(schema), offline_validator(policy)


@dataclass
class Review:
    rel: str
    front: str = ""          # the front matter's YAML text
    offset: int = 1          # file line of the front matter's first line, minus one
    data: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    raw: bytes = b""                 # the file's exact bytes: what a signature covers
    signature: bytes | None = None   # <form>.md.sig, when there is one

    def where(self, key: str | None = None) -> tuple[int, int]:
        """File line and column of ``key``'s value in the front matter."""
        loc = locate(self.front, [key] if key else [])
        return loc.line + self.offset, loc.col

    def problem(self, code: str, message: str, key: str | None = None) -> Problem:
        return Problem(self.rel, *self.where(key), code, message)

    @property
    def ok(self) -> bool:
        return not self.problems

    def moment(self, end_of_day: bool) -> str:
        """The form's date as a sortable UTC timestamp; a bare date is read conservatively."""
        date: str = self.data["date"]
        return date + ("T23:59:59Z" if end_of_day else "T00:00:00Z") if len(date) == 10 else date


def split_front_matter(text: str) -> tuple[str, str] | None:
    """(front matter, body) of a Markdown file that starts with a ``---`` block."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n") == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1:])
    return None


def form_problems(review: Review, card: Card, author: str | None, reviewers: Reviewers) -> list[Problem]:
    """Why a well-formed approve/reject form does not count for the card's current hash."""
    data, cmd = review.data, f"promptlane approve {card.prompt_id} --role {data_role(review)}"
    found = []
    if data["prompt"] != card.prompt_id or data["version"] != str(card.version):
        found.append(review.problem("PL502", f"names {data['prompt']} {data['version']} but lies in the folder of "
                                    f"{card.prompt_id} {card.version}; forms are not moved between versions: run `{cmd}`", "prompt"))
    if data["hash"] != card.hash:
        found.append(review.problem("PL504", f"hash {data['hash'][:19]}... is not the current hash of {card.prompt_id} "
                                    f"{card.version} ({str(card.hash)[:19]}...): an approval counts only for the text "
                                    f"it reviewed; run `{cmd}`", "hash"))
    role = reviewers.role_named(data["role"])
    if role is None:
        found.append(review.problem("PL506", f"role '{data['role']}' is not a role of {REVIEWERS} "
                                    f"({', '.join(reviewers.roles)})", "role"))
    elif not reviewers.holds(data["reviewer"], role):
        held = reviewers.roles_of(data["reviewer"])
        who = f"holds {', '.join(held)}" if held else f"is not listed in {REVIEWERS} at all"
        found.append(review.problem("PL505", f"reviewer {data['reviewer']} is not listed under {role} in "
                                    f"{REVIEWERS} ({who}); a {role} reviewer must run `{cmd}`", "reviewer"))
    expected = review_rel(card.prompt_id, str(card.version), data["role"], data["reviewer"])
    stems = (expected[:-3], review_rel(card.prompt_id, str(card.version), data["role"], data["reviewer"], True)[:-3])
    if not any(re.fullmatch(re.escape(stem) + r"(-[2-9]|-[1-9][0-9]+)?\.md", review.rel) for stem in stems):
        found.append(review.problem("PL503", f"file name does not match its role and reviewer: expected {expected}", "role"))
    if data["decision"] == "approved" and author and data["reviewer"].lower() == author.lower():
        found.append(review.problem("PL507", f"reviewer {data['reviewer']} is the author of {card.prompt_id} "
                                    f"{card.version} and cannot approve it; another {role or data['role']} reviewer must run `{cmd}`",
                                    "reviewer"))
    return found


def data_role(review: Review) -> str:
    role = review.data.get("role") if review.data else None
    return f'"{role}"' if isinstance(role, str) and " " in role else str(role or "ROLE")


def parse_reviewers(loaded: Loaded) -> Reviewers:
    """reviews/reviewers.yml as read; UsageError (exit 2) when it is malformed."""
    from promptlane.core.problems import UsageError

    if loaded.problems:
        raise UsageError(f"{REVIEWERS} cannot be read", loaded.problems)
    data = loaded.data or {}
    ok = isinstance(data, dict) and all(
        isinstance(role, str) and isinstance(emails, list) and all(isinstance(e, str) and e for e in emails)
        for role, emails in data.items())
    if not ok:
        raise UsageError(f"{REVIEWERS} is malformed", [Problem(REVIEWERS, 1, 1, "PL510",
                         "must map each role to a list of e-mails, e.g. QA: [qa@example.com]")])
    return Reviewers(dict(data), loaded.text)


def parse_review(rel: str, raw: bytes, policy: bool = False) -> Review:
    """A form from its bytes: front matter read and checked against schemas/review.schema.json."""
    review = Review(rel, raw=raw)
    text, problem = decode(raw, rel)
    parts = split_front_matter(text) if text is not None else None
    if parts is None:
        review.problems.append(problem or Problem(rel, 1, 1, "PL500",
                               "has no YAML front matter between '---' lines; write forms with `promptlane approve`"))
        return review
    review.front = parts[0]
    data = fast_front(review.front)
    if data is None:  # not in the form promptlane writes: the YAML loader, with its problems
        loaded = load(review.front, rel)
        review.problems += [Problem(rel, p.line + 1, p.col, p.code, p.message) for p in loaded.problems]
        if review.problems:
            return review
        if not isinstance(loaded.data, dict):
            review.problems.append(Problem(rel, 2, 1, "PL500", "front matter must be a YAML mapping"))
            return review
        data = loaded.data
    review.data = data
    if _valid_fast(data, policy):
        return review
    validator = _validators()[1 if policy else 0]
    for error in sorted(validator.iter_errors(review.data), key=lambda e: list(map(str, e.absolute_path))):
        key = str(error.absolute_path[0]) if error.absolute_path else None
        review.problems.append(review.problem("PL501", f"{key or 'front matter'}: {error.message}", key))
    return review


# ``key: "json string"``, optionally followed by a comment: every line promptlane writes.
_FRONT_LINE = re.compile(r'^([A-Za-z_][A-Za-z0-9_]*): ("(?:[^"\\]|\\.)*")(?:[ \t]+#.*)?[ \t]*$')


def fast_front(front: str) -> dict[str, Any] | None:
    """The front matter read without YAML when every line is a comment, blank, or
    ``key: "JSON string"`` (what ``promptlane approve`` writes; 20x faster than the loader,
    which ``check --all`` would run once per form); None for anything else, which then goes
    through the YAML loader and its problem reporting."""
    import json

    data: dict[str, Any] = {}
    for line in front.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _FRONT_LINE.match(line)
        if match is None or match[1] in data:
            return None  # a duplicate key is the loader's to report (PL101)
        try:
            data[match[1]] = json.loads(match[2])
        except ValueError:  # a YAML escape JSON does not have (\x, \N, ...): let YAML read it
            return None
    return data or None


def _valid_fast(data: dict[str, Any], policy: bool) -> bool:
    """The generated validator (scripts/gen_card_validator.py); jsonschema only for an invalid form, to say why."""
    if policy:
        from promptlane.core._governance_validator import JsonSchemaValueException, validate
    else:
        from promptlane.core._review_validator import JsonSchemaValueException, validate  # type: ignore[assignment]
    try:
        validate(data)  # type: ignore[no-untyped-call]  # generated without annotations
    except JsonSchemaValueException:
        return False
    return True
