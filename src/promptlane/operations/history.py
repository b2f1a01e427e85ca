"""The history of a governed repository, read for people: what each environment serves, each
prompt's versions with their eval results and approvals, and the audit timeline.

Everything is read from repository files (registry, store, eval results, review forms, audit
log), never from git history, so a shallow CI checkout reports the same as a clone.
``promptlane report`` renders it (commands/report.py), ``promptlane diff`` compares two of
its versions (commands/diff.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from promptlane.store.repo import Repo


# ---------------------------------------------------------------- collecting


@dataclass
class Approval:
    role: str
    reviewer: str
    decision: str
    date: str
    counts: bool          # for this version's hash, by a reviewer listed under the role, signed by their key
    note: str = ""        # why it does not count
    rel: str = ""


@dataclass
class VersionInfo:
    version: str
    hash: str
    author: str = ""
    created: str = ""
    bump: str = ""
    served_in: list[str] = field(default_factory=list)
    withdrawn: dict | None = None
    evals: dict | None = None
    eval_error: str = ""
    approvals: list[Approval] = field(default_factory=list)


@dataclass
class PromptInfo:
    id: str
    title: str = ""
    risk: str = ""
    environments: dict[str, str | None] = field(default_factory=dict)
    versions: list[VersionInfo] = field(default_factory=list)   # in issue order
    problem: str = ""                                           # lock missing or unreadable
    withdrawn: dict[str, dict] = field(default_factory=dict)    # version -> mark still in force (core.registry)
    calls: list[tuple[str, str]] = field(default_factory=list)  # a chain's latest version: (call, provider/model), in order

    def latest(self) -> VersionInfo | None:
        from promptlane.core.semver import parse

        return max(self.versions, key=lambda v: parse(v.version)) if self.versions else None

    def find(self, version: str) -> VersionInfo | None:
        return next((v for v in self.versions if v.version == version), None)


@dataclass
class AuditEntry:
    line: int
    seq: str
    time: str
    event: str
    prompt: str
    version: str
    hash: str
    actor: str
    detail: str


@dataclass
class RepoReport:
    name: str
    generated: str
    environments: tuple[str, ...]
    prompts: list[PromptInfo]
    audit: list[AuditEntry]
    audit_status: str            # "" when the chain is intact, else the first problem


def eval_results(repo: "Repo", prompt_id: str, payload_hash: str) -> tuple[dict | None, str]:
    """(results, error): a bad results file is shown as such, never crashes a report."""
    from promptlane.store.results import load_results

    try:
        return load_results(repo, prompt_id, payload_hash), ""
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
        problems = getattr(exc, "problems", None)
        return None, str(problems[0]) if problems else str(exc)


def approvals_of(repo: "Repo", prompt_id: str, version: str, payload_hash: str) -> list[Approval]:
    """The review forms filed for a version, each marked whether it counts for its hash."""
    from promptlane.store import rules
    from promptlane.store.reviews import forms_for, read_review

    try:
        panel = rules.panel(repo)
    except Exception:  # noqa: BLE001 - no reviewers file: no form can count, still list them
        panel = None
    found = []
    for rel in forms_for(repo, prompt_id, version):
        review = read_review(repo, rel)
        if not review.ok:
            found.append(Approval("?", "?", "invalid", "", False, f"{review.problems[0].code} invalid form", rel))
            continue
        data = review.data
        found.append(Approval(str(data["role"]), str(data["reviewer"]), str(data["decision"]), str(data["date"]),
                              *_counts(review, payload_hash, panel), rel))
    return found


def _counts(review: Any, payload_hash: str, panel: Any) -> tuple[bool, str]:
    """Whether the form would count on its own: this hash, a listed reviewer, a valid signature
    (who fills which role in a promotion is the gates'; see core/decisions.py)."""
    from promptlane.core.decisions import signature_problem

    data = review.data
    if data["hash"] != payload_hash:
        return False, "for another hash"
    role = panel.reviewers.role_named(str(data["role"])) if panel else None
    if role is None or not panel.reviewers.holds(str(data["reviewer"]), role):
        return False, f"not a listed {data['role']} reviewer"
    problem = signature_problem(review, panel) if data["decision"] != "pending" else None
    if problem is not None:
        return False, f"{problem.code} {'unsigned' if problem.code == 'PL520' else 'signature does not count'}"
    return data["decision"] == "approved", ""


def _prompt_info(repo: "Repo", prompt_id: str) -> PromptInfo:
    from promptlane.core.registry import LockError
    from promptlane.store.registry import read_lock, read_snapshot

    info = PromptInfo(prompt_id, environments={env: None for env in repo.environments})
    try:
        lock = read_lock(repo, prompt_id)
    except LockError as exc:
        info.problem = str(exc.problem)
        return info
    if lock is None:
        info.problem = "never synced: run `promptlane sync`"
        return info
    info.environments.update(lock.environments)
    info.withdrawn = lock.withdrawals_in_force()
    for entry in lock.versions:
        version = VersionInfo(entry["version"], entry["hash"], str(entry.get("author", "")),
                              str(entry.get("created", "")), str(entry.get("bump", "")),
                              [env for env, v in info.environments.items() if v == entry["version"]],
                              lock.withdrawn.get(entry["version"]))
        version.evals, version.eval_error = eval_results(repo, prompt_id, entry["hash"])
        version.approvals = approvals_of(repo, prompt_id, entry["version"], entry["hash"])
        info.versions.append(version)
    latest = info.latest()
    snapshot = read_snapshot(repo, prompt_id, latest.version) if latest else None
    card = (snapshot or {}).get("card") or {}
    info.title, info.risk = str(card.get("title", "")), str(card.get("risk", ""))
    info.calls = chain_calls((snapshot or {}).get("payload"))
    return info


def chain_calls(payload: Any) -> list[tuple[str, str]]:
    """(name, provider/model) of each call of a chain payload, in order; [] for a single call
    (and for what is no readable payload: the report shows the rest as it is)."""
    from promptlane.core.calls import calls_of, is_chain

    if not isinstance(payload, dict) or not is_chain(payload):
        return []
    try:
        return [(str(call.name), f"{call.model.get('provider')}/{call.model.get('name')}") for call in calls_of(payload)]
    except (KeyError, TypeError, AttributeError):
        return []


def report_prompt_ids(repo: "Repo") -> list[str]:
    from promptlane.core.layout import REGISTRY, is_prompt_id

    locked = {p.name[: -len(".lock.json")] for p in (repo.root / REGISTRY).glob("*.lock.json")}
    return sorted(i for i in set(repo.prompt_ids()) | locked if is_prompt_id(i))


def read_audit(repo: "Repo") -> tuple[list[AuditEntry], str]:
    """Every audit row, sealed segments first, and the first break of the chain ("" if none)."""
    from promptlane.core.chain import GENESIS, data_rows
    from promptlane.core.layout import AUDIT_LOG
    from promptlane.operations.verify import follow_segment
    from promptlane.store.segments import all_segments

    segments, layout = all_segments(repo.root)
    if not (repo.root / AUDIT_LOG).is_file():
        return [], f"{AUDIT_LOG} is missing"
    rows: list[AuditEntry] = []
    head, problem = (0, GENESIS), layout[0] if layout else None
    for index, segment in enumerate(segments):
        path = repo.root / segment.audit_rel
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        if problem is None:
            problem, head, _ = follow_segment(repo, index, segment, text, head)
        rows += [AuditEntry(line, *cells[:8]) for line, cells in data_rows(text) if len(cells) >= 8]
    return rows, str(problem) if problem else ""


def collect(repo: "Repo", ids: list[str] | None = None) -> RepoReport:
    from promptlane.store.context import now

    audit, audit_status = read_audit(repo)
    prompts = [_prompt_info(repo, prompt_id) for prompt_id in (ids if ids is not None else report_prompt_ids(repo))]
    return RepoReport(repo.root.name, now(), repo.environments, prompts, audit, audit_status)


# ---------------------------------------------------------------- small formatters


def pct(rate: Any) -> str:
    return f"{rate * 100:.1f}%" if isinstance(rate, (int, float)) and not isinstance(rate, bool) else "n/a"


def eval_text(version: VersionInfo) -> str:
    if version.eval_error:
        return "unreadable results"
    if version.evals is None:
        return "not evaluated"
    ev = version.evals
    return f"{pct(ev.get('pass_rate'))} ({ev.get('passed', '?')}/{ev.get('tests', '?')})"


def approval_text(approval: Approval) -> str:
    text = f"{approval.role}: {approval.reviewer} {approval.decision}"
    if approval.date:
        text += f" {approval.date[:10]}"
    return text + (f" (does not count: {approval.note})" if approval.note else "")


def short(payload_hash: str) -> str:
    return payload_hash[:19] + "…" if len(payload_hash) > 19 else payload_hash


# ---------------------------------------------------------------- HTML


# ---------------------------------------------------------------- Markdown (pull-request summary)


