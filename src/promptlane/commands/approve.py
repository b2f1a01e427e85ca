"""``promptlane approve``: write a HITL form for a prompt's current hash (or, with
``--governance``, for the new content of a governance file), signed with the reviewer's SSH
key, refusing a form that could never count. ``--sign FORM`` signs again a form of one's own
after editing it (before it is committed: committed forms are never changed)."""
from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from promptlane.commands.arguments import open_repo, repo_rel
from promptlane.core import governance
from promptlane.core.forms import eval_summary, render_form
from promptlane.core.gates import DEFAULT_RISK
from promptlane.core.layout import POLICY
from promptlane.core.policy import POLICY_REVIEW_ROLE, loosened
from promptlane.core.problems import EXIT_OK, Problem, PromptlaneError, UsageError
from promptlane.core.results import results_rel
from promptlane.core.reviews import DECISIONS, REVIEWERS, TEMPLATE, Reviewers, parse_review, review_rel
from promptlane.core.signatures import SIGNATURE_SUFFIX, allowed, signing_key
from promptlane.core.suggest import did_you_mean
from promptlane.operations.gating import synced_card
from promptlane.store import git, rules
from promptlane.store.context import actor, now
from promptlane.store.fsio import Transaction, recover
from promptlane.store.policyfile import base_policy, load_policy
from promptlane.store.results import load_results
from promptlane.store.reviews import read_review

if TYPE_CHECKING:
    from promptlane.core.card import Card
    from promptlane.core.registry import Lock
    from promptlane.store.repo import Repo


def approve(repo: "Repo", prompt_id: str, role_name: str, decision: str = "approve", note: str = "",
            key: str | None = None, confirm: list[str] | None = None, all_confirmed: bool = False) -> list[str]:
    """Write the reviewer's signed form for the card's current hash, its checklist answered as
    ``confirm`` / ``all_confirmed`` say (or as asked on a terminal); return what to tell the user."""
    recover(repo.root)
    card, lock = synced_card(repo, prompt_id)
    payload_hash = card.sound_hash  # synced_card returns sound cards only: read_card set the hash
    reviewers = rules.reviewers(repo)
    role = _role(repo, reviewers, role_name)
    who = actor(repo.root)
    _refuse_reviewer(reviewers, role, who, card, lock, DECISIONS[decision])
    template = rules.template(repo)  # the base's, with a base: its checklists are the ones judged
    if template is None:
        raise UsageError(f"{TEMPLATE} is missing from {rules.source(repo)}; restore it from the promptlane template")
    values = {"prompt": prompt_id, "version": str(card.version), "hash": payload_hash, "reviewer": who, "role": role,
              "decision": DECISIONS[decision], "date": now(), "note": note}
    summary = eval_summary(prompt_id, payload_hash, load_results(repo, prompt_id, payload_hash), results_rel(prompt_id, payload_hash))
    rel, previous = _form_rel(repo, prompt_id, str(card.version), role, who)
    text = render_form(template, values, summary, role)
    text, unanswered = _answer_checklist(repo, text, rel, role, decision, confirm or [], all_confirmed)
    signed = _write_signed(repo, rel, text.encode("utf-8"), who, values["date"], key)
    lines = [f"Wrote {rel}{signed}: {values['decision']} as {role} for {prompt_id} {card.version} ({payload_hash[:19]}...)."]
    if previous is not None and previous.ok:
        lines.append(f"It replaces your earlier form, not yet committed ({previous.data.get('decision')} on {previous.data.get('date')}).")
    lines += unanswered
    lines.append("`git add` and commit both files.")
    return lines


def _answer_checklist(repo: "Repo", text: str, rel: str, role: str, decision: str, confirm: list[str],
                      all_confirmed: bool) -> tuple[str, list[str]]:
    """The form with the reviewer's confirmed items ticked (inside what is signed), and what to
    say of items left open. Refused (exit 2, nothing written) when the policy requires the
    checklist and nobody can be asked, or when an answer names no item."""
    from promptlane.core.checklist import chosen, items_of, tick

    items = items_of(text, role)
    requiring = [env for env, rule in rules.policy(repo).rules.items() if rule.require_checklist]
    if decision != "approve":
        if confirm or all_confirmed:
            raise UsageError("--confirm and --all-confirmed answer an approval's checklist; a rejection needs no answers")
        return text, []
    if requiring and not items:
        raise UsageError(f"the policy requires the checklist for {', '.join(requiring)} (require_checklist), but "
                         f"{TEMPLATE} ({rules.source(repo)}) has no '## Checklist: {role}' items ('- [ ] ...'); add them "
                         "to the template (a governed change: PL413)")
    if all_confirmed:
        lines = {item.line for item in items}
    elif confirm:
        lines = chosen(items, confirm)
    elif items and sys.stdin.isatty():
        lines = _ask(items)
    elif requiring:
        listed = "\n".join(f"  {n}. {item.text}" for n, item in enumerate(items, 1))
        raise UsageError(f"the policy requires the {role} checklist for {', '.join(requiring)} (require_checklist), "
                         f"and nobody can be asked here (stdin is not a terminal): confirm the items with "
                         f"--confirm ITEM... (a number or the text) or --all-confirmed; nothing was written.\n{listed}")
    else:
        return text, [f"To tick your checklist, answer it with --confirm ITEM... or --all-confirmed, or edit the "
                      f"form and run `promptlane approve --sign {rel}`."] if items else []
    left = [item.text for item in items if item.line not in lines]
    if not left or not requiring:
        return tick(text, lines), []
    return tick(text, lines), [f"{len(left)} of {len(items)} checklist items unanswered ({'; '.join(left)}): this "
                               f"approval does not count for {', '.join(requiring)}, whose rule requires every item."]


def _ask(items) -> set[int]:
    """Each item asked on the terminal; the lines of those the reviewer confirms."""
    confirmed = set()
    print("Your checklist (y confirms an item; anything else leaves it unanswered):", file=sys.stderr)
    for number, item in enumerate(items, 1):
        print(f"  {number}. {item.text} [y/N] ", end="", file=sys.stderr, flush=True)
        if sys.stdin.readline().strip().lower() in ("y", "yes"):
            confirmed.add(item.line)
    return confirmed


def _form_rel(repo: "Repo", prompt_id: str, version: str, role: str, who: str):
    """Where this reviewer's form goes: their uncommitted form is replaced; a committed one is
    never touched (review history only grows), so a later decision gets the next free name."""
    rel = review_rel(prompt_id, version, role, who)
    previous = read_review(repo, rel) if (repo.root / rel).is_file() else None
    if previous is not None and str(previous.data.get("reviewer", who)).lower() != who.lower():
        # Another reviewer's form has this name: never overwrite it; this one gets the long name.
        rel = review_rel(prompt_id, version, role, who, with_domain=True)
        previous = read_review(repo, rel) if (repo.root / rel).is_file() else None
    stem, number = rel[:-3], 1
    while _committed(repo, rel):
        number += 1
        rel, previous = f"{stem}-{number}.md", None
        if (repo.root / rel).is_file() and not _committed(repo, rel):
            previous = read_review(repo, rel)
    return rel, previous


def _committed(repo: "Repo", rel: str) -> bool:
    """The file is in HEAD or in the base: part of the review history, never rewritten."""
    commits = [c for c in (rules.base_commit(repo), "HEAD") if c]
    return any(git.show_bytes(repo.root, commit, rel) is not None for commit in commits)


def _write_signed(repo: "Repo", rel: str, form: bytes, who: str, date: str, key: str | None) -> str:
    """Sign ``form`` (when a key is configured, or required) and write it with its .sig in one
    transaction; refused, writing nothing, when the signature would not count."""
    from promptlane.store.signing import configured_key, sign

    try:
        configured_key(repo.root, key)
        has_key = True
    except UsageError:
        has_key = False
    if not has_key and not rules.signatures_required(repo):
        txn = Transaction(repo.root)
        txn.write(rel, form.decode("utf-8"))
        txn.commit()
        return " (unsigned: the policy requires no signatures)"
    signature = sign(repo.root, form, key)  # UsageError with what to do when there is no key
    verdict = signing_key(form, signature)
    refusal = verdict.error or allowed(rules.signers(repo), who, str(verdict.fingerprint), date)
    if refusal:
        raise PromptlaneError("refused: the signature would not count", [Problem(
            rel, 1, 1, "PL522", f"not written: the signature {refusal}")])
    txn = Transaction(repo.root)
    txn.write(rel, form.decode("utf-8"))
    txn.write(rel + SIGNATURE_SUFFIX, signature.decode("ascii"))
    txn.commit()
    return f" and {rel}{SIGNATURE_SUFFIX} (signed with {verdict.fingerprint})"


def _role(repo: "Repo", reviewers: Reviewers, role_name: str) -> str:
    """The role as reviewers.yml spells it; an unknown one is refused with the closest."""
    role = reviewers.role_named(role_name)
    if role is None:
        raise UsageError(f"role '{role_name}' is not in {REVIEWERS}{did_you_mean(role_name, reviewers.roles)}; "
                         f"roles: {', '.join(reviewers.roles)} (judged under {rules.source(repo)})")
    return role


def _refuse_reviewer(reviewers: Reviewers, role: str, who: str, card: "Card", lock: "Lock", decision: str) -> None:
    """Refuse to write a form that could never count (the gate would reject it anyway)."""
    author = (lock.entry(str(card.version)) or {}).get("author", "")
    if not reviewers.holds(who, role):
        line = reviewers.line_of(role)
        others = [r for r in reviewers.roles.get(role, []) if r.lower() != str(author).lower()]
        raise PromptlaneError("refused", [Problem(REVIEWERS, line, 1, "PL505",
                              f"{who} is not listed under {role}; a form by you would not count. Ask a maintainer "
                              f"to add you here, or ask one of: {', '.join(others) or 'nobody yet'}")])
    if decision == "approved" and who.lower() == str(author).lower():
        line, col = card.where("author")
        others = [r for r in reviewers.roles.get(role, []) if r.lower() != who.lower()]
        raise PromptlaneError("refused", [Problem(card.rel, line, col, "PL507",
                              f"{who} is the author of {card.prompt_id} {card.version} and cannot approve it; "
                              f"ask another {role} reviewer ({', '.join(others) or f'none listed: add one to {REVIEWERS}'}) "
                              f"to run `promptlane approve {card.prompt_id} --role {role!r}`")])


def resign(repo: "Repo", name: str, key: str | None) -> list[str]:
    """Sign again one's own, not yet committed form after editing it."""
    rel = repo_rel(repo, name)
    path = repo.root / rel
    if not path.is_file() or not rel.startswith("reviews/") or not rel.endswith(".md"):
        raise UsageError(f"{name}: not a review form (reviews/.../*.md)")
    if _committed(repo, rel):
        raise UsageError(f"{rel} is committed: review history only grows; record a new decision with `promptlane approve`")
    raw = path.read_bytes()
    review = parse_review(rel, raw, policy=rel.startswith("reviews/policy/"))
    if not review.ok:
        raise PromptlaneError("the form has problems; fix them first", review.problems)
    who = actor(repo.root)
    if str(review.data["reviewer"]).lower() != who.lower():
        raise UsageError(f"{rel} is {review.data['reviewer']}'s form; only they sign it (you are {who})")
    signed = _write_signed(repo, rel, raw, who, str(review.data["date"]), key)
    return [f"Signed {rel}{signed}."]


def approve_governance(repo: "Repo", subject: str, role_name: str, decision: str = "approve", note: str = "",
                       key: str | None = None) -> list[str]:
    """Write reviews/policy/<date>-<subject>-governance-<reviewer>.md for the new content of a governance file."""
    reviewers = rules.reviewers(repo)
    role = reviewers.role_named(role_name)
    if role is None or role != reviewers.role_named(POLICY_REVIEW_ROLE):
        raise UsageError(f"a governance change is approved by the {POLICY_REVIEW_ROLE} role (in {REVIEWERS}), not '{role_name}'")
    who = actor(repo.root)
    if not reviewers.holds(who, role):
        raise PromptlaneError("refused", [Problem(REVIEWERS, reviewers.line_of(role), 1, "PL505",
                              f"{who} is not listed under {role} ({rules.source(repo)}); a form by you would not count")])
    digest, extra, accepts = _subject(repo, subject)
    time = now()
    values = {"policy": subject, **extra, "hash": digest, "reviewer": who, "role": role,
              "decision": DECISIONS[decision], "date": time, "note": note}
    front = "".join(f"{name}: {json.dumps(value)}\n" for name, value in values.items())
    body = f"\n# Governance approval of {subject}\n\nWhat this approval accepts:\n\n"
    body += "".join(f"- {what}\n" for what in accepts) or "- nothing looser (a stricter or unchanged file)\n"
    rel = governance.approval_rel(subject, time, who)
    signed = _write_signed(repo, rel, ("---\n" + front + "---\n" + body).encode("utf-8"), who, time, key)
    return [f"Wrote {rel}{signed}: {values['decision']} {subject} {digest[:19]}... as {role}; "
            "`git add` and commit it with the change."]


def _subject(repo: "Repo", subject: str) -> tuple[str, dict[str, str], list[str]]:
    """(digest, extra front matter, what the approval accepts) for a governance file or a card."""
    if subject == POLICY:
        data, text = load_policy(repo.root)
        old = base_policy(repo.root, rules.compared_with(repo))
        return governance.file_digest(text), {}, [what for _, what in (loosened(old, data) if old and data else [])]
    if subject == TEMPLATE:
        path = repo.root / subject
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        before = git.show(repo.root, rules.compared_with(repo), subject) or ""
        return governance.checklist_digest(text), {}, governance.checklist_changes(before, text) or [
            f"the checklists of {subject} as they are now"]
    if subject in governance.GOVERNED_FILES:
        path = repo.root / subject
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        return governance.file_digest(text), {}, [f"{subject} as it is now ({len(text.splitlines())} lines)"]
    parts = subject.split("/")
    if len(parts) == 3 and parts[0] == "prompts" and parts[2] == "card.yml" and (repo.root / subject).is_file():
        from promptlane.store.cards import read_card

        risk = str(read_card(repo, parts[1]).data.get("risk", DEFAULT_RISK))
        return governance.risk_digest(parts[1], risk), {"risk": risk}, [f"{parts[1]} at risk: {risk}"]
    raise UsageError(f"--governance {subject}: not a governance file; name {', '.join(governance.GOVERNED_FILES)} "
                     "or a prompt's card (prompts/ID/card.yml, for its risk:)")


def approve_retire(repo: "Repo", prompt_id: str, role_name: str, decision: str = "approve", note: str = "",
                   key: str | None = None) -> list[str]:
    """Write reviews/policy/<date>-<id>-retire-<role>-<reviewer>.md: the reviewer's signed decision
    on retiring ``prompt_id`` as it serves now (core/retire.py)."""
    from promptlane.core import retire
    from promptlane.core.layout import is_prompt_id
    from promptlane.core.registry import LockError
    from promptlane.store.registry import read_lock

    recover(repo.root)
    try:
        lock = read_lock(repo, prompt_id) if is_prompt_id(prompt_id) else None
    except LockError as exc:
        raise PromptlaneError("the registry lock is unreadable", [exc.problem]) from None
    if lock is None or not lock.versions:
        raise UsageError(f"no prompt {prompt_id!r} in the registry (registry/{prompt_id}.lock.json)"
                         f"{did_you_mean(prompt_id, repo.prompt_ids())}")
    if lock.retired is not None:
        raise UsageError(f"{prompt_id} is already retired ({lock.retired.get('time')}); nothing to approve")
    reviewers = rules.reviewers(repo)
    role = _role(repo, reviewers, role_name)
    who = actor(repo.root)
    if not reviewers.holds(who, role):
        raise PromptlaneError("refused", [Problem(REVIEWERS, reviewers.line_of(role), 1, "PL505",
                              f"{who} is not listed under {role} ({rules.source(repo)}); a form by you would not count")])
    serving = retire.serving_text(lock, rules.policy(repo).environments)
    time = now()
    values = {"policy": retire.card_rel(prompt_id), "retire": serving, "hash": retire.retire_digest(prompt_id, serving),
              "reviewer": who, "role": role, "decision": DECISIONS[decision], "date": time, "note": note}
    front = "".join(f"{name}: {json.dumps(value)}\n" for name, value in values.items())
    body = (f"\n# Retirement of {prompt_id}\n\nWhat this approval accepts: {prompt_id} is withdrawn from every "
            f"environment for good (it serves: {serving}).\n")
    stem = retire.approval_rel(prompt_id, role, time, who)[:-3]
    rel, number = f"{stem}.md", 1
    while (repo.root / rel).exists() or _committed(repo, rel):
        number += 1
        rel = f"{stem}-{number}.md"
    signed = _write_signed(repo, rel, ("---\n" + front + "---\n" + body).encode("utf-8"), who, time, key)
    return [f"Wrote {rel}{signed}: {values['decision']} retiring {prompt_id} (serving {serving}) as {role}; "
            f"`git add` and commit it, then `promptlane retire {prompt_id} --reason ...`."]


def cmd_approve(args) -> int:
    repo = open_repo(args)
    if (args.confirm or args.all_confirmed) and (args.sign or args.retire or args.policy or args.governance):
        raise UsageError("--confirm and --all-confirmed answer the checklist of a prompt approval (approve ID --role "
                         "ROLE); --sign, --retire and governance approvals have none")
    if args.sign:
        lines = resign(repo, args.sign, args.key)
    elif args.retire:
        if not args.id or not args.role:
            raise UsageError("name the prompt and your role: promptlane approve ID --retire --role ROLE")
        lines = approve_retire(repo, args.id, args.role, args.decision, args.note, args.key)
    elif args.policy or args.governance:
        subject = repo_rel(repo, args.governance) if args.governance else POLICY
        lines = approve_governance(repo, subject, args.role or POLICY_REVIEW_ROLE, args.decision, args.note, args.key)
    elif not args.id:
        raise UsageError("name the prompt to approve (promptlane approve ID --role ROLE), or use --governance FILE")
    elif not args.role:
        raise UsageError(f"name your role: promptlane approve {args.id} --role ROLE (a role of {REVIEWERS})")
    else:
        lines = approve(repo, args.id, args.role, args.decision, args.note, args.key, args.confirm, args.all_confirmed)
    print("\n".join(lines))
    return EXIT_OK
