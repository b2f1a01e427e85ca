"""What a promotion stood on, by content digest, and judging it again from those bytes (pure).

Every ``promote`` event names its evidence in the changelog entry (``evidence:``), and the
audit row binds that mapping by its digest::

    {"results": "sha256:...",                 # the eval results file of this hash, as read
     "forms": [{"path": "reviews/...md", "form": "sha256:...", "sig": "sha256:..." | null}],
     "policy": "sha256:...", "reviewers": "sha256:..." | null, "allowed_signers": "sha256:..." | null,
     "template": "sha256:..." | null}         # HITL_Approval_Template.md: the checklists a form answers

A record made before the evidence named the template has no ``template`` key: its forms'
checklists are judged by their own items, as they were then (``null``: there was none).

The bytes are kept in ``audit/evidence/<2 hex>/<64 hex>`` (content-addressed: the name is the
sha256 of the file, so the store only grows and a blob is never rewritten). ``judge`` asks the
gates again under exactly the rules the event names, at the event's time, with the forms and
results it names: an auditor proves from a clone alone that what is served passed its gates.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from promptlane.core.hashing import HASH_PREFIX, digest_of, is_digest, json_digest

if TYPE_CHECKING:
    from promptlane.core.card import Card
    from promptlane.core.gates import Evidence
    from promptlane.core.policy import Policy
    from promptlane.core.registry import Lock
    from promptlane.core.reviews import Review, Reviewers
    from promptlane.core.signatures import Signers

EVIDENCE = "audit/evidence"
RULE_FILES = ("policy", "reviewers", "allowed_signers", "template")


def blob_rel(digest: str) -> str:
    """Where the bytes of ``digest`` are kept (callers pass only ``is_digest`` values)."""
    hexed = digest[len(HASH_PREFIX):]
    return f"{EVIDENCE}/{hexed[:2]}/{hexed}"


def evidence_digest(evidence: dict[str, Any]) -> str:
    """The digest the audit row carries: the mapping as compact sorted JSON."""
    return json_digest(evidence)


@dataclass
class Collected:
    """Evidence being gathered for one promotion: the mapping and the blobs it names."""
    mapping: dict[str, Any] = field(default_factory=lambda: {"results": None, "forms": []})
    blobs: dict[str, bytes] = field(default_factory=dict)

    def add(self, raw: bytes | None) -> str | None:
        if raw is None:
            return None
        digest = digest_of(raw)
        self.blobs[digest] = raw
        return digest

    def results(self, raw: bytes | None) -> None:
        self.mapping["results"] = self.add(raw)

    def form(self, path: str, raw: bytes, signature: bytes | None) -> None:
        self.mapping["forms"].append({"path": path, "form": self.add(raw), "sig": self.add(signature)})

    def rules(self, name: str, raw: bytes | None) -> None:
        self.mapping[name] = self.add(raw)


@dataclass(frozen=True)
class Logged:
    """One logged promotion, as the changelog entry has it (and where)."""
    prompt: str
    version: str
    hash: str
    env: str
    time: str
    environments: dict[str, Any]
    evidence: Any
    rel: str
    line: int
    risk: str | None  # the card's risk at the event, as the log's risk events say (None: the snapshot's)
    withdrawn: dict[str, dict[str, Any]] = field(default_factory=dict)  # version -> mark, rollbacks logged before it


Reader = Callable[[str], "bytes | None"]


def shape_problem(evidence: Any) -> str | None:
    """Why an ``evidence`` mapping is not one promptlane writes (None when it is)."""
    if not isinstance(evidence, dict):
        return "names no evidence (a promotion records the digests of its results, forms and rules)"
    if not is_digest(evidence.get("results")) or not is_digest(evidence.get("policy")):
        return "names no results or policy digest"
    for name in ("reviewers", "allowed_signers", "template"):
        if evidence.get(name) is not None and not is_digest(evidence.get(name)):
            return f"names a {name} that is not a digest"
    forms = evidence.get("forms")
    if not isinstance(forms, list) or not all(
            isinstance(f, dict) and isinstance(f.get("path"), str) and is_digest(f.get("form"))
            and (f.get("sig") is None or is_digest(f.get("sig"))) for f in forms):
        return "has a forms list that is not [{path, form, sig}] with digests"
    return None


def rule_paths() -> dict[str, str]:
    """Each rules file the evidence names: its key -> its repository path."""
    from promptlane.core.layout import POLICY
    from promptlane.core.reviews import REVIEWERS, TEMPLATE
    from promptlane.core.signatures import ALLOWED_SIGNERS

    return {"policy": POLICY, "reviewers": REVIEWERS, "allowed_signers": ALLOWED_SIGNERS, "template": TEMPLATE}


def rule_files(evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """(repository path, digest) of each rules file a mapping names."""
    paths = rule_paths()
    return [(paths[name], evidence[name]) for name in RULE_FILES if is_digest(evidence.get(name))]


def named_digests(evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """(what, digest) of every blob a well-shaped mapping names."""
    found = [(name, evidence[name]) for name in ("results", *RULE_FILES) if evidence.get(name)]
    for form in evidence["forms"]:
        found.append((form["path"], form["form"]))
        if form.get("sig"):
            found.append((form["path"] + ".sig", form["sig"]))
    return found


MISSING, UNMET = "PL226", "PL227"


class Parsed:
    """Rules files parsed once per run, by digest: every promotion of a repository names the
    same few policies, reviewers and allowed_signers (a parse that fails, fails each time)."""

    def __init__(self) -> None:
        self.done: dict[str, Any] = {}

    def get(self, digest: str, parse: Callable[[], Any]) -> Any:
        if digest not in self.done:
            try:
                self.done[digest] = parse()
            except ValueError as exc:
                self.done[digest] = exc
        found = self.done[digest]
        if isinstance(found, ValueError):
            raise found
        return found


def judge(promotion: Logged, snapshot: dict[str, Any], lock: Any, read: Reader,
          parsed: Parsed | None = None) -> tuple[str, str] | None:
    """(code, why) when the logged promotion does not stand: PL226 its evidence is not there
    (none named, or a blob missing or changed), PL227 it does not pass its gates under the
    rules it names, judged at its own time with the results and forms it names. None when it
    stands. ``snapshot`` is the version's store snapshot (verified against the lock); ``read``
    returns a blob's bytes, or None when it is missing or does not hash to its name."""
    why = shape_problem(promotion.evidence)
    if why:
        return MISSING, why
    evidence: dict[str, Any] = promotion.evidence
    blobs: dict[str, bytes] = {}
    for what, digest in named_digests(evidence):
        raw = read(digest)
        if raw is None:
            return MISSING, f"its {what} ({digest[:19]}...) is not in {EVIDENCE}/ (or no longer hashes to its name)"
        blobs[digest] = raw
    try:
        inputs = _inputs(promotion, snapshot, lock, evidence, blobs, parsed or Parsed())
    except ValueError as exc:
        return UNMET, str(exc)
    from promptlane.core import gates

    card, as_then, policy, found = inputs
    result = gates.evaluate(card, as_then, promotion.env, policy, found)
    if result.ok:
        return None
    shown = "; ".join(f"{p.code} {p.message}" for p in result.problems[:3])
    more = f"; and {len(result.problems) - 3} more" if len(result.problems) > 3 else ""
    return UNMET, f"does not pass its gates under the rules it names: {shown}{more}"


def _inputs(promotion: Logged, snapshot: dict[str, Any], lock: Any, evidence: dict[str, Any],
            blobs: dict[str, bytes], parsed: Parsed) -> "tuple[Card, Lock, Policy, Evidence]":
    """The card, lock, policy and gate evidence as they were at the event (ValueError: why not)."""
    from promptlane.core import gates
    from promptlane.core.card import Card
    from promptlane.core.events import parse_time
    from promptlane.core.governance import RISK_ORDER
    from promptlane.core.registry import Lock

    moment = parse_time(promotion.time)
    if moment is None:
        raise ValueError(f"has no valid time ({promotion.time!r})")
    policy = parsed.get(evidence["policy"], lambda: _policy(blobs[evidence["policy"]]))

    saved = snapshot.get("card")
    card_then: dict[str, Any] = saved if isinstance(saved, dict) else {}
    # The stricter of what the log's risk events say and what the version was issued with: a
    # risk event alone (anyone can append one) never makes a version's rules looser.
    said = [r for r in (promotion.risk, card_then.get("risk", gates.DEFAULT_RISK)) if r in RISK_ORDER] or [gates.DEFAULT_RISK]
    risk = max(said, key=RISK_ORDER.__getitem__)
    data = {**card_then, "id": promotion.prompt, "version": promotion.version, "hash": promotion.hash,
            "risk": risk, "environment": promotion.env}
    card = Card(promotion.prompt, f"prompts/{promotion.prompt}/card.yml", data=data, payload=snapshot.get("payload"),
                hash=promotion.hash)
    # Withdrawals by the rollbacks logged before it, whatever time the entry claims: a promotion
    # replayed with an old time still meets the withdrawal (PL607 asks for newer results).
    as_then = Lock(promotion.prompt, lock.versions, dict(promotion.environments), dict(promotion.withdrawn))
    reviewers: Reviewers | None = None
    signers: Signers | None = None
    forms: list[Review] = []
    template: str | None = None
    if gates.needs_approvals(policy, promotion.env, card):
        reviewers, signers, forms = _panel_inputs(evidence, blobs, parsed)
        template = _template(evidence, blobs)
    results = _results(blobs[evidence["results"]])
    found = gates.Evidence(results, [], reviewers, forms, None, moment, signers=signers,
                           rules_source="the rules the event names", branch_known=False, template=template)
    return card, as_then, policy, found


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"its {what} is not UTF-8 text") from None


def _policy(raw: bytes) -> "Policy":
    from promptlane.core.policy import policy_problems, rules_of
    from promptlane.core.yamltext import load

    text = _text(raw, "policy")
    loaded = load(text, "policy")
    if loaded.problems or not isinstance(loaded.data, dict) or policy_problems(loaded.data, text, "policy"):
        raise ValueError("the policy it names is not a valid policy")
    return rules_of(loaded.data, text)


def _results(raw: bytes) -> dict[str, Any] | None:
    from promptlane.core.results import validate

    try:
        doc = json.loads(_text(raw, "results"))
    except json.JSONDecodeError:
        raise ValueError("its results are not JSON") from None
    if validate(doc):
        raise ValueError(f"its results are not valid: {'; '.join(validate(doc))}")
    return doc if isinstance(doc, dict) else None


def _reviewers(raw: bytes) -> "Reviewers":
    from promptlane.core.reviews import REVIEWERS, parse_reviewers
    from promptlane.core.yamltext import load

    try:
        return parse_reviewers(load(_text(raw, REVIEWERS), REVIEWERS))
    except Exception as exc:  # noqa: BLE001 - a reviewers file that cannot be read is a problem, not a crash
        raise ValueError(f"the reviewers file it names cannot be read ({exc})") from None


def _template(evidence: dict[str, Any], blobs: dict[str, bytes]) -> str | None:
    """The HITL template the event names ("" when it names none in force; None: a record made
    before the evidence named the template, whose forms' own items are judged)."""
    if "template" not in evidence:
        return None
    digest = evidence["template"]
    return _text(blobs[digest], "HITL template") if digest else ""


def _signers(raw: bytes) -> "Signers":
    from promptlane.core.signatures import parse_allowed_signers

    return parse_allowed_signers(_text(raw, "allowed_signers"))


def _panel_inputs(evidence: dict[str, Any], blobs: dict[str, bytes], parsed: Parsed) -> "tuple[Reviewers, Signers, list[Review]]":
    from promptlane.core.reviews import parse_review

    if not evidence.get("reviewers"):
        raise ValueError("the rule needs approvals but the event names no reviewers file")
    reviewers = parsed.get(evidence["reviewers"], lambda: _reviewers(blobs[evidence["reviewers"]]))
    signed = evidence.get("allowed_signers")
    signers = parsed.get(signed or "", lambda: _signers(blobs[signed] if signed else b""))
    forms = []
    for entry in evidence["forms"]:
        review = parse_review(entry["path"], blobs[entry["form"]])
        review.signature = blobs[entry["sig"]] if entry.get("sig") else None
        forms.append(review)
    return reviewers, signers, forms
