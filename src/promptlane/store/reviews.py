"""Human approvals: HITL forms under reviews/, who may sign them, and which of them count.

A form is ``reviews/<id>/<version>/<role-slug>-<reviewer-slug>.md``: the repository's
HITL_Approval_Template.md with its YAML front matter filled (schemas/review.schema.json).
A form counts for a role only when the reviewer is listed under that role in
reviews/reviewers.yml, its hash is the card's current hash (older text never counts), its
reviewer is not the author of the version, and no later reject by that role follows it.
Every form that does not count is reported at its file and line, with what to do.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from promptlane.core.problems import Problem, PromptlaneError, UsageError
from promptlane.store.repo import REVIEWS

if TYPE_CHECKING:
    from promptlane.store.cards import Card
    from promptlane.store.registry import Lock
    from promptlane.store.repo import Repo

REVIEWERS = f"{REVIEWS}/reviewers.yml"
TEMPLATE = "HITL_Approval_Template.md"
POLICY_REVIEWS = f"{REVIEWS}/policy"
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


# ---------------------------------------------------------------- reviewers.yml


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
        from promptlane.core.yamltext import locate

        return locate(self.text, [], role).line if role in self.roles else 1


def load_reviewers(repo: "Repo") -> Reviewers:
    """reviews/reviewers.yml; UsageError (exit 2) when it is missing or malformed."""
    from promptlane.core.yamltext import load_file

    path = repo.root / REVIEWERS
    if not path.is_file():
        raise UsageError(f"{REVIEWERS} is missing; list who holds which role there (see the template)")
    loaded = load_file(str(path), REVIEWERS)
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


# ---------------------------------------------------------------- reading a form


@lru_cache(maxsize=None)
def _validators():
    from jsonschema import Draft202012Validator

    from promptlane.core.schema import read_schema

    schema = read_schema("review.schema.json")
    policy = {"$ref": "#/$defs/policyReview", "$defs": schema["$defs"]}
    return Draft202012Validator(schema), Draft202012Validator(policy)


@dataclass
class Review:
    rel: str
    front: str = ""          # the front matter's YAML text
    offset: int = 1          # file line of the front matter's first line, minus one
    data: dict = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def where(self, key: str | None = None) -> tuple[int, int]:
        """File line and column of ``key``'s value in the front matter."""
        from promptlane.core.yamltext import locate

        loc = locate(self.front, [key] if key else [])
        return loc.line + self.offset, loc.col

    def problem(self, code: str, message: str, key: str | None = None) -> Problem:
        return Problem(self.rel, *self.where(key), code, message)

    @property
    def ok(self) -> bool:
        return not self.problems

    def moment(self, end_of_day: bool) -> str:
        """The form's date as a sortable UTC timestamp; a bare date is read conservatively."""
        date = self.data["date"]
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


def read_review(repo: "Repo", rel: str, policy: bool = False) -> Review:
    from promptlane.core.yamltext import decode, load

    review = Review(rel)
    try:
        raw = (repo.root / rel).read_bytes()
    except OSError as exc:  # a folder named like a form, a dangling link, a permission
        review.problems.append(Problem(rel, 1, 1, "PL500", f"cannot be read ({exc.strerror or exc}); "
                                       "remove it or write the form again with `promptlane approve`"))
        return review
    text, problem = decode(raw, rel)
    parts = split_front_matter(text) if text is not None else None
    if parts is None:
        review.problems.append(problem or Problem(rel, 1, 1, "PL500",
                               "has no YAML front matter between '---' lines; write forms with `promptlane approve`"))
        return review
    review.front = parts[0]
    loaded = load(review.front, rel)
    review.problems += [Problem(rel, p.line + 1, p.col, p.code, p.message) for p in loaded.problems]
    if review.problems:
        return review
    if not isinstance(loaded.data, dict):
        review.problems.append(Problem(rel, 2, 1, "PL500", "front matter must be a YAML mapping"))
        return review
    review.data = loaded.data
    validator = _validators()[1 if policy else 0]
    for error in sorted(validator.iter_errors(review.data), key=lambda e: list(map(str, e.absolute_path))):
        key = str(error.absolute_path[0]) if error.absolute_path else None
        review.problems.append(review.problem("PL501", f"{key or 'front matter'}: {error.message}", key))
    return review


# ---------------------------------------------------------------- which forms count


def form_problems(review: Review, card: "Card", author: str | None, reviewers: Reviewers) -> list[Problem]:
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
    if review.rel not in (expected, review_rel(card.prompt_id, str(card.version), data["role"], data["reviewer"], True)):
        found.append(review.problem("PL503", f"file name does not match its role and reviewer: expected {expected}", "role"))
    if data["decision"] == "approved" and author and data["reviewer"].lower() == author.lower():
        found.append(review.problem("PL507", f"reviewer {data['reviewer']} is the author of {card.prompt_id} "
                                    f"{card.version} and cannot approve it; another {role or data['role']} reviewer must run `{cmd}`",
                                    "reviewer"))
    return found


def data_role(review: Review) -> str:
    role = review.data.get("role") if review.data else None
    return f'"{role}"' if isinstance(role, str) and " " in role else str(role or "ROLE")


@dataclass
class RoleStatus:
    role: str
    approved_by: list[str] = field(default_factory=list)
    rejected_by: list[str] = field(default_factory=list)   # "who on date (file:line)"
    satisfied: bool = False


def forms_for(repo: "Repo", prompt_id: str, version: str) -> list[str]:
    folder = repo.root / REVIEWS / prompt_id / version
    if not folder.is_dir():
        return []
    return sorted(f"{REVIEWS}/{prompt_id}/{version}/{p.name}" for p in folder.iterdir() if p.suffix == ".md" and p.is_file())


def role_statuses(repo: "Repo", card: "Card", lock: "Lock", roles: tuple[str, ...],
                  reviewers: Reviewers) -> tuple[dict[str, RoleStatus], list[Problem]]:
    """Per required role: who approved, who rejected, whether it is satisfied; and the forms
    claiming a required role that do not count, each as a problem at its file and line."""
    entry = lock.entry(str(card.version)) or {}
    author = entry.get("author")
    statuses = {role: RoleStatus(role) for role in roles}
    wanted = {slug(role): role for role in roles}
    approvals: dict[str, list[Review]] = {role: [] for role in roles}
    rejects: dict[str, list[Review]] = {role: [] for role in roles}
    problems: list[Problem] = []
    for rel in forms_for(repo, card.prompt_id, str(card.version)):
        review = read_review(repo, rel)
        claimed = review.data.get("role") if review.ok else None
        if review.ok and slug(str(claimed)) not in wanted:
            continue  # a form for a role this promotion does not need: neither helps nor blocks
        if not review.ok:
            problems += review.problems
            continue
        if review.data["decision"] == "pending":
            continue
        found = form_problems(review, card, author, reviewers)
        bad_date = _date_problem(review)
        if bad_date:  # such a date would sort after every reject, so it must not count
            found.append(review.problem("PL501", f"date: {review.data['date']} {bad_date}; run `promptlane approve "
                                        f"{card.prompt_id} --role {data_role(review)}`", "date"))
        if found:
            problems += found
            continue
        role = wanted[slug(claimed)]
        (approvals if review.data["decision"] == "approved" else rejects)[role].append(review)
    for role, status in statuses.items():
        _settle(status, approvals[role], rejects[role])
    return statuses, problems


def _date_problem(review: Review) -> str | None:
    """Why a form's date cannot be trusted to order it: not a real date, or an approval dated in the future."""
    from promptlane.store.logs import now
    from promptlane.operations.gating import CLOCK_SKEW, parse_time

    when, current = parse_time(review.moment(end_of_day=False)), parse_time(now())
    if when is None:
        return "is not a real date"
    if review.data["decision"] == "approved" and current is not None and when > current + CLOCK_SKEW:
        return "is in the future; an approval is dated when it is given"
    return None


def _settle(status: RoleStatus, approvals: list[Review], rejects: list[Review]) -> None:
    """A reject blocks its role until an approval dated after the latest reject."""
    last_reject = max((r.moment(end_of_day=True) for r in rejects), default="")
    status.rejected_by = [f"{r.data['reviewer']} on {r.data['date']} ({r.rel}:{r.where('decision')[0]})"
                          for r in rejects]
    status.approved_by = [r.data["reviewer"] for r in approvals if r.moment(end_of_day=False) > last_reject]
    status.satisfied = bool(status.approved_by)


# ---------------------------------------------------------------- writing a form


def _fill_front(front: str, values: dict[str, str]) -> str:
    """Set each key's value on its own line, keeping the template's comments."""
    out = []
    for line in front.splitlines(keepends=True):
        match = re.match(r"^([A-Za-z_]+):(\s*)(\"[^\"]*\"|'[^']*'|[^\s#]*)(\s*#.*)?$", line.rstrip("\r\n"))
        if match and match[1] in values:
            # JSON strings are valid YAML double-quoted scalars: no quoting trap for any text.
            head = f"{match[1]}: {json.dumps(values[match[1]])}"
            comment = (match[4] or "").lstrip()
            column = len(line.rstrip("\r\n")) - len(comment)  # keep the template's comment column
            line = (f"{head:<{column - 1}} {comment}" if comment else head) + "\n"
        out.append(line)
    missing = [key for key in values if not re.search(rf"^{key}:", front, re.M)]
    out += [f"{key}: {json.dumps(values[key])}\n" for key in missing]
    return "".join(out)


def _pct(rate: Any) -> str:
    return f"{rate * 100:.1f}%" if isinstance(rate, (int, float)) else "n/a"


def _tokens(tokens: Any) -> Any:
    return tokens.get("total", "?") if isinstance(tokens, dict) else (tokens or 0)


def eval_summary(prompt_id: str, payload_hash: str, results: dict | None, results_rel: str) -> list[str]:
    marker = f"{SUMMARY_MARKER} (pass rate per category, tokens, cost) for this hash -->"
    if results is None:
        return [marker, f"_No eval results for this hash yet: run `promptlane eval run {prompt_id}` before deciding._"]
    lines = [marker,
             f"Results `{results_rel}` of {results.get('time', '?')}: {results.get('tests', 0)} tests, "
             f"{results.get('passed', 0)} passed, {results.get('failed', 0)} failed, {results.get('errors', 0)} errors, "
             f"pass rate {_pct(results.get('pass_rate'))}; {_tokens(results.get('tokens'))} tokens, "
             f"${float(results.get('cost_usd') or 0):.4f}.", "",
             "| category | passed | total | pass rate |", "| --- | --- | --- | --- |"]
    for name, cat in sorted((results.get("categories") or {}).items()):
        lines.append(f"| {name} | {cat.get('passed', '')} | {cat.get('tests', '')} | {_pct(cat.get('pass_rate'))} |")
    return lines


def _replace_summary(body: str, summary: list[str]) -> str:
    lines = body.split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith(SUMMARY_MARKER)), None)
    if start is None:
        return "## Eval summary\n\n" + "\n".join(summary) + "\n\n" + body
    end = start + 1
    while end < len(lines) and not lines[end].startswith("|") and not lines[end].startswith("#"):
        end += 1
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join(lines[:start] + summary + lines[end:])


def _keep_checklist(body: str, role: str) -> str:
    """Only the reviewer's own checklist, when the template has one for that role."""
    sections = re.split(r"(?m)^(?=## )", body)
    own = [s for s in sections if s.startswith("## Checklist: ") and slug(s.split("\n", 1)[0][14:]) == slug(role)]
    if not own:
        return body
    kept = [s for s in sections if not s.startswith("## Checklist: ") or s in own]
    return "".join(kept).rstrip("\n") + "\n"


def render_form(template: str, values: dict[str, str], summary: list[str], role: str) -> str:
    parts = split_front_matter(template)
    if parts is None:
        raise UsageError(f"{TEMPLATE} has no front matter between '---' lines; restore it from the promptlane template")
    front, body = parts
    body = _keep_checklist(_replace_summary(body, summary), role)
    return "---\n" + _fill_front(front, values) + "---\n" + body


def approve(repo: "Repo", prompt_id: str, role_name: str, decision: str = "approve", note: str = "") -> list[str]:
    """Write the reviewer's form for the card's current hash; return what to tell the user."""
    from promptlane.store import logs as events
    from promptlane.store.fsio import Transaction, recover
    from promptlane.evals.results import results_rel
    from promptlane.operations.gating import load_eval_results, synced_card
    from promptlane.store.git import actor

    recover(repo.root)
    card, lock = synced_card(repo, prompt_id)
    reviewers = load_reviewers(repo)
    role = reviewers.role_named(role_name)
    if role is None:
        raise UsageError(f"role '{role_name}' is not in {REVIEWERS}; roles: {', '.join(reviewers.roles)}")
    who = actor(repo.root)
    _refuse_reviewer(reviewers, role, who, card, lock, DECISIONS[decision])
    template = repo.root / TEMPLATE
    if not template.is_file():
        raise UsageError(f"{TEMPLATE} is missing; restore it from the promptlane template")
    values = {"prompt": prompt_id, "version": str(card.version), "hash": card.hash, "reviewer": who, "role": role,
              "decision": DECISIONS[decision], "date": events.now(), "note": note}
    summary = eval_summary(prompt_id, card.hash, load_eval_results(repo, prompt_id, card.hash), results_rel(prompt_id, card.hash))
    rel = review_rel(prompt_id, str(card.version), role, who)
    previous = read_review(repo, rel) if (repo.root / rel).is_file() else None
    if previous is not None and str(previous.data.get("reviewer", who)).lower() != who.lower():
        # Another reviewer's form has this name: never overwrite it; this one gets the long name.
        rel = review_rel(prompt_id, str(card.version), role, who, with_domain=True)
        previous = read_review(repo, rel) if (repo.root / rel).is_file() else None
    txn = Transaction(repo.root)
    txn.write(rel, render_form(template.read_text(encoding="utf-8"), values, summary, role))
    txn.commit()
    lines = [f"Wrote {rel}: {values['decision']} as {role} for {prompt_id} {card.version} ({card.hash[:19]}...)."]
    if previous is not None and previous.ok:
        lines.append(f"It replaces your earlier form ({previous.data.get('decision')} on {previous.data.get('date')}).")
    lines.append("Tick your checklist in it, then `git add` and commit it.")
    return lines


def _refuse_reviewer(reviewers: Reviewers, role: str, who: str, card: "Card", lock: "Lock", decision: str) -> None:
    """Refuse to write a form that could never count (the gate would reject it anyway)."""
    if not reviewers.holds(who, role):
        line = reviewers.line_of(role)
        raise PromptlaneError("refused", [Problem(REVIEWERS, line, 1, "PL505",
                              f"{who} is not listed under {role}; a form by you would not count. Ask a maintainer "
                              f"to add you here, or ask one of: {', '.join(reviewers.roles.get(role, [])) or 'nobody yet'}")])
    author = (lock.entry(str(card.version)) or {}).get("author", "")
    if decision == "approved" and who.lower() == str(author).lower():
        line, col = card.where("author")
        raise PromptlaneError("refused", [Problem(card.rel, line, col, "PL507",
                              f"{who} is the author of {card.prompt_id} {card.version} and cannot approve it; "
                              f"ask another {role} reviewer ({', '.join(reviewers.roles.get(role, []))}) to run "
                              f"`promptlane approve {card.prompt_id} --role {role!r}`")])


# ---------------------------------------------------------------- approving a policy change


def policy_approval(repo: "Repo", digest: str) -> Review | None:
    """A Governance approval of exactly this policy text, if one is on file."""
    from promptlane.store.policyfile import POLICY_REVIEW_ROLE

    folder = repo.root / POLICY_REVIEWS
    if not folder.is_dir():
        return None
    try:
        reviewers = load_reviewers(repo)
    except UsageError:
        return None
    role = reviewers.role_named(POLICY_REVIEW_ROLE)
    for path in sorted(folder.glob("*.md")):
        review = read_review(repo, f"{POLICY_REVIEWS}/{path.name}", policy=True)
        if (review.ok and role and reviewers.role_named(review.data["role"]) == role
                and reviewers.holds(review.data["reviewer"], role)
                and review.data["decision"] == "approved" and review.data["hash"] == digest):
            return review
    return None


def approve_policy(repo: "Repo", role_name: str, decision: str = "approve", note: str = "") -> list[str]:
    """Write reviews/policy/<date>-governance-<reviewer>.md for the current policy text."""
    from promptlane.store import logs as events
    from promptlane.store.fsio import Transaction
    from promptlane.store.git import actor
    from promptlane.store.policyfile import POLICY_REVIEW_ROLE, _head_policy, load_policy, loosened, policy_hash
    from promptlane.store.repo import POLICY

    reviewers = load_reviewers(repo)
    role = reviewers.role_named(role_name)
    if role is None or role != reviewers.role_named(POLICY_REVIEW_ROLE):
        raise UsageError(f"a policy change is approved by the {POLICY_REVIEW_ROLE} role (in {REVIEWERS}), not '{role_name}'")
    who = actor(repo.root)
    if not reviewers.holds(who, role):
        raise PromptlaneError("refused", [Problem(REVIEWERS, reviewers.line_of(role), 1, "PL505",
                              f"{who} is not listed under {role}; a form by you would not count")])
    data, text = load_policy(repo)
    old = _head_policy(repo)
    changes = loosened(old, data) if old and data else []
    time = events.now()
    values = {"policy": POLICY, "hash": policy_hash(text), "reviewer": who, "role": role,
              "decision": DECISIONS[decision], "date": time, "note": note}
    front = "".join(f"{key}: {json.dumps(value)}\n" for key, value in values.items())
    body = "\n# Policy change approval\n\nLoosened against git HEAD (what this approval accepts):\n\n"
    body += "".join(f"- {what}\n" for _, what in changes) or "- nothing (a stricter or unchanged policy)\n"
    rel = f"{POLICY_REVIEWS}/{time[:10]}-{slug(role)}-{reviewer_slug(who)}.md"
    txn = Transaction(repo.root)
    txn.write(rel, "---\n" + front + "---\n" + body)
    txn.commit()
    return [f"Wrote {rel}: {values['decision']} policy {values['hash'][:19]}... as {role}; `git add` and commit it with the policy."]
