"""``promptlane approve``: write a HITL form for a prompt's current hash (or, with ``--policy``,
for the current policy text) as the acting reviewer, refusing a form that could never count."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from promptlane.commands.arguments import open_repo
from promptlane.core.forms import eval_summary, render_form
from promptlane.core.layout import POLICY
from promptlane.core.policy import POLICY_REVIEW_ROLE, loosened, policy_hash
from promptlane.core.problems import EXIT_OK, Problem, PromptlaneError, UsageError
from promptlane.core.results import results_rel
from promptlane.core.reviews import (
    DECISIONS,
    POLICY_REVIEWS,
    REVIEWERS,
    TEMPLATE,
    Reviewers,
    review_rel,
    reviewer_slug,
    slug,
)
from promptlane.operations.gating import synced_card
from promptlane.store.context import actor, now
from promptlane.store.fsio import Transaction, recover
from promptlane.store.policyfile import base_policy, load_policy
from promptlane.store.results import load_results
from promptlane.store.reviews import load_reviewers, read_review

if TYPE_CHECKING:
    from promptlane.core.card import Card
    from promptlane.core.registry import Lock
    from promptlane.store.repo import Repo


def approve(repo: "Repo", prompt_id: str, role_name: str, decision: str = "approve", note: str = "") -> list[str]:
    """Write the reviewer's form for the card's current hash; return what to tell the user."""
    recover(repo.root)
    card, lock = synced_card(repo, prompt_id)
    payload_hash = card.sound_hash  # synced_card returns sound cards only: read_card set the hash
    reviewers = load_reviewers(repo)
    role = reviewers.role_named(role_name)
    if role is None:
        raise UsageError(f"role '{role_name}' is not in {REVIEWERS}; roles: {', '.join(reviewers.roles)}")
    who = actor(repo.root)
    _refuse_reviewer(reviewers, role, who, card, lock, DECISIONS[decision])
    template = repo.root / TEMPLATE
    if not template.is_file():
        raise UsageError(f"{TEMPLATE} is missing; restore it from the promptlane template")
    values = {"prompt": prompt_id, "version": str(card.version), "hash": payload_hash, "reviewer": who, "role": role,
              "decision": DECISIONS[decision], "date": now(), "note": note}
    summary = eval_summary(prompt_id, payload_hash, load_results(repo, prompt_id, payload_hash), results_rel(prompt_id, payload_hash))
    rel = review_rel(prompt_id, str(card.version), role, who)
    previous = read_review(repo, rel) if (repo.root / rel).is_file() else None
    if previous is not None and str(previous.data.get("reviewer", who)).lower() != who.lower():
        # Another reviewer's form has this name: never overwrite it; this one gets the long name.
        rel = review_rel(prompt_id, str(card.version), role, who, with_domain=True)
        previous = read_review(repo, rel) if (repo.root / rel).is_file() else None
    txn = Transaction(repo.root)
    txn.write(rel, render_form(template.read_text(encoding="utf-8"), values, summary, role))
    txn.commit()
    lines = [f"Wrote {rel}: {values['decision']} as {role} for {prompt_id} {card.version} ({payload_hash[:19]}...)."]
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


def approve_policy(repo: "Repo", role_name: str, decision: str = "approve", note: str = "") -> list[str]:
    """Write reviews/policy/<date>-governance-<reviewer>.md for the current policy text."""
    reviewers = load_reviewers(repo)
    role = reviewers.role_named(role_name)
    if role is None or role != reviewers.role_named(POLICY_REVIEW_ROLE):
        raise UsageError(f"a policy change is approved by the {POLICY_REVIEW_ROLE} role (in {REVIEWERS}), not '{role_name}'")
    who = actor(repo.root)
    if not reviewers.holds(who, role):
        raise PromptlaneError("refused", [Problem(REVIEWERS, reviewers.line_of(role), 1, "PL505",
                              f"{who} is not listed under {role}; a form by you would not count")])
    data, text = load_policy(repo.root)
    old = base_policy(repo.root)
    changes = loosened(old, data) if old and data else []
    time = now()
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


def cmd_approve(args) -> int:
    repo = open_repo(args)
    if args.policy:
        lines = approve_policy(repo, args.role, args.decision, args.note)
    elif not args.id:
        raise UsageError("name the prompt to approve (promptlane approve ID --role ROLE), or use --policy")
    else:
        lines = approve(repo, args.id, args.role, args.decision, args.note)
    print("\n".join(lines))
    return EXIT_OK
