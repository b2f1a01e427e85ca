"""`promptlane report`: the state of a governed repository for people.

``--html OUT``: one self-contained page (inline CSS, no script, no network asset) with what
each environment serves, each prompt's version history with eval pass rates and approvals,
and the audit timeline. ``--markdown``: a pull-request summary for a CI job summary.

Everything is read from repository files (registry, store, eval results, review forms, audit
log), never from git history, so a shallow CI checkout reports the same as a clone; only
``--base REF`` asks git, for what changed since REF.
"""
from __future__ import annotations

import html
import json
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promptlane.core.problems import UsageError

if TYPE_CHECKING:
    from promptlane.store.repo import Repo


# ---------------------------------------------------------------- collecting


@dataclass
class Approval:
    role: str
    reviewer: str
    decision: str
    date: str
    counts: bool          # for this version's hash, by a reviewer listed under the role
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
    try:
        from promptlane.operations.gating import load_eval_results
    except ImportError:  # the promotion module is absent: the eval package's reader suffices
        try:
            from promptlane.evals.results import load_results as load_eval_results
        except ImportError:
            return None, ""
    try:
        return load_eval_results(repo, prompt_id, payload_hash), ""
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
        problems = getattr(exc, "problems", None)
        return None, str(problems[0]) if problems else str(exc)


def approvals_of(repo: "Repo", prompt_id: str, version: str, payload_hash: str) -> list[Approval]:
    """The review forms filed for a version, each marked whether it counts for its hash."""
    from promptlane.store.reviews import forms_for, load_reviewers, read_review

    try:
        reviewers = load_reviewers(repo)
    except Exception:  # noqa: BLE001 - no reviewers file: no form can count, still list them
        reviewers = None
    found = []
    for rel in forms_for(repo, prompt_id, version):
        review = read_review(repo, rel)
        if not review.ok:
            found.append(Approval("?", "?", "invalid", "", False, f"{review.problems[0].code} invalid form", rel))
            continue
        data = review.data
        found.append(Approval(str(data["role"]), str(data["reviewer"]), str(data["decision"]), str(data["date"]),
                              *_counts(data, payload_hash, reviewers), rel))
    return found


def _counts(data: dict, payload_hash: str, reviewers: Any) -> tuple[bool, str]:
    if data["hash"] != payload_hash:
        return False, "for another hash"
    role = reviewers.role_named(str(data["role"])) if reviewers else None
    if role is None or not reviewers.holds(str(data["reviewer"]), role):
        return False, f"not a listed {data['role']} reviewer"
    return data["decision"] == "approved", ""


def _prompt_info(repo: "Repo", prompt_id: str) -> PromptInfo:
    from promptlane.store.registry import LockError, read_lock, read_snapshot

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
    return info


def _prompt_ids(repo: "Repo") -> list[str]:
    from promptlane.store.repo import REGISTRY, is_prompt_id

    locked = {p.name[: -len(".lock.json")] for p in (repo.root / REGISTRY).glob("*.lock.json")}
    return sorted(i for i in set(repo.prompt_ids()) | locked if is_prompt_id(i))


def read_audit(repo: "Repo") -> tuple[list[AuditEntry], str]:
    """Every audit row, sealed segments first, and the first break of the chain ("" if none)."""
    from promptlane.operations.verify import data_rows, follow_segment
    from promptlane.store.logs import GENESIS
    from promptlane.store.repo import AUDIT_LOG
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
    from promptlane.store.logs import now

    audit, audit_status = read_audit(repo)
    prompts = [_prompt_info(repo, prompt_id) for prompt_id in (ids if ids is not None else _prompt_ids(repo))]
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

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:78rem;padding:0 1rem;color:#1d2330;background:#fff}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #e3e7ef;padding-bottom:.3rem}
h3{margin:1.6rem 0 .3rem}.meta{color:#5b6475;margin:.2rem 0 1rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:.92rem}
th,td{border:1px solid #d8dde8;padding:.35rem .55rem;text-align:left;vertical-align:top}
thead th{background:#f3f5f9}tbody th{font-weight:600;background:#fafbfd}
code{font:.85rem ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.none{color:#98a1b3}.ok{color:#176c2f}.bad{color:#a4161a}.warn{color:#8a5a00}
.tag{display:inline-block;border-radius:.6rem;padding:0 .45rem;background:#e8f0fe;margin:0 .2rem .1rem 0;font-size:.82rem}
ul.plain{list-style:none;margin:0;padding:0}.nw{white-space:nowrap}
""".strip()


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _served_table(report: RepoReport) -> list[str]:
    out = ["<table id=\"served-table\"><thead><tr><th scope=\"col\">prompt</th>"]
    out += [f"<th scope=\"col\">{_e(env)}</th>" for env in report.environments]
    out.append("</tr></thead><tbody>")
    for prompt in report.prompts:
        cells = [f"<tr><th scope=\"row\"><a href=\"#prompt-{_e(prompt.id)}\">{_e(prompt.id)}</a></th>"]
        for env in report.environments:
            version = prompt.environments.get(env)
            cells.append(f"<td>{_e(version)}</td>" if version else "<td class=\"none\">—</td>")
        out.append("".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return out


def _approvals_cell(version: VersionInfo) -> str:
    if not version.approvals:
        return "<td class=\"none\">none</td>"
    items = []
    for a in version.approvals:
        css = "ok" if a.counts else ("bad" if a.decision == "rejected" else "warn")
        items.append(f"<li class=\"{css}\">{_e(approval_text(a))}</li>")
    return "<td><ul class=\"plain\">" + "".join(items) + "</ul></td>"


def _eval_cell(version: VersionInfo) -> str:
    if version.eval_error:
        return f"<td class=\"bad\" title=\"{_e(version.eval_error)}\">unreadable results</td>"
    if version.evals is None:
        return "<td class=\"none\">not evaluated</td>"
    cats = version.evals.get("categories") or {}
    detail = ", ".join(f"{name} {pct(c.get('pass_rate'))}" for name, c in sorted(cats.items()))
    extra = f"<br><small>{_e(detail)}</small>" if detail else ""
    return f"<td>{_e(eval_text(version))}{extra}</td>"


def _versions_table(prompt: PromptInfo) -> list[str]:
    head = ("version", "hash", "bump", "author", "created", "serves", "eval pass rate", "approvals")
    out = ["<table class=\"versions\"><thead><tr>" + "".join(f"<th scope=\"col\">{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for v in reversed(prompt.versions):  # newest first: what a reviewer looks at
        serves = " ".join(f"<span class=\"tag\">{_e(env)}</span>" for env in v.served_in) or "<span class=\"none\">—</span>"
        if v.withdrawn:
            serves += f"<br><small class=\"bad\">withdrawn from {_e(v.withdrawn.get('env'))}: {_e(v.withdrawn.get('reason'))}</small>"
        out.append(f"<tr><th scope=\"row\">{_e(v.version)}</th><td><code title=\"{_e(v.hash)}\">{_e(short(v.hash))}</code></td>"
                   f"<td>{_e(v.bump)}</td><td>{_e(v.author)}</td><td class=\"nw\">{_e(v.created)}</td><td>{serves}</td>"
                   f"{_eval_cell(v)}{_approvals_cell(v)}</tr>")
    out.append("</tbody></table>")
    return out


def _prompt_section(prompt: PromptInfo) -> list[str]:
    title = f" — {_e(prompt.title)}" if prompt.title else ""
    out = [f"<section class=\"prompt\" id=\"prompt-{_e(prompt.id)}\"><h3>{_e(prompt.id)}{title}</h3>"]
    if prompt.problem:
        return out + [f"<p class=\"bad\">{_e(prompt.problem)}</p></section>"]
    out.append(f"<p class=\"meta\">risk: {_e(prompt.risk or '?')} · {len(prompt.versions)} version(s)</p>")
    return out + _versions_table(prompt) + ["</section>"]


def _audit_section(report: RepoReport) -> list[str]:
    status = (f"<p class=\"bad\">Audit chain broken: {_e(report.audit_status)}</p>" if report.audit_status
              else f"<p class=\"ok\">Audit chain intact: {len(report.audit)} entries, newest first.</p>")
    head = ("seq", "time", "event", "prompt", "version", "hash", "actor", "detail")
    out = [status, "<table id=\"audit-table\"><thead><tr>" + "".join(f"<th scope=\"col\">{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for row in reversed(report.audit):
        out.append(f"<tr><td>{_e(row.seq)}</td><td class=\"nw\">{_e(row.time)}</td><td>{_e(row.event)}</td>"
                   f"<td class=\"nw\">{_e(row.prompt)}</td><td>{_e(row.version)}</td><td class=\"nw\"><code title=\"{_e(row.hash)}\">{_e(short(row.hash))}</code></td>"
                   f"<td>{_e(row.actor)}</td><td>{_e(row.detail)}</td></tr>")
    out.append("</tbody></table>")
    return out


def render_html(report: RepoReport) -> str:
    envs = " → ".join(report.environments)
    parts = [
        "<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>promptlane report: {_e(report.name)}</title>", f"<style>{CSS}</style></head><body>",
        f"<h1>promptlane report: {_e(report.name)}</h1>",
        f"<p class=\"meta\">Generated {_e(report.generated)} · {len(report.prompts)} prompt(s) · environments {_e(envs)}</p>",
        "<section id=\"served\"><h2>What each environment serves</h2>", *_served_table(report), "</section>",
        "<section id=\"prompts\"><h2>Prompts</h2>",
    ]
    for prompt in report.prompts:
        parts += _prompt_section(prompt)
    parts += ["</section>", "<section id=\"audit\"><h2>Audit timeline</h2>", *_audit_section(report), "</section>",
              "</body></html>"]
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------- Markdown (pull-request summary)


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def changed_since(repo: "Repo", base: str) -> dict[str, dict | None]:
    """Prompt id -> its lock document at ``base`` (None: new since then), for every prompt
    whose card, texts, lock or snapshots differ from ``base`` (working tree included)."""
    from promptlane.store.git import GitError, resolve, show
    from promptlane.store.repo import is_prompt_id, prompt_id_of

    try:
        commit = resolve(repo.root, base)
    except GitError as exc:
        raise UsageError(str(exc)) from None
    done = subprocess.run(["git", "diff", "--name-only", "--no-renames", commit, "--", "prompts", "registry"],
                          cwd=repo.root, capture_output=True, text=True)
    untracked = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "--", "prompts", "registry"],
                               cwd=repo.root, capture_output=True, text=True)
    names = (done.stdout + untracked.stdout).splitlines()
    ids = sorted({i for i in map(prompt_id_of, names) if i and is_prompt_id(i)})
    old = {}
    for prompt_id in ids:
        text = show(repo.root, commit, repo.lock_rel(prompt_id))
        try:
            old[prompt_id] = json.loads(text) if text else None
        except ValueError:
            old[prompt_id] = None
    return old


def bump_kind(old: str | None, new: str | None) -> str:
    from promptlane.core.semver import parse

    if not new:
        return "—"
    if not old:
        return "new"
    (a, b, c), (x, y, z) = parse(old), parse(new)
    if (x, y, z) == (a, b, c):
        return "none"
    return "major" if x != a else "minor" if y != b else "patch"


def _highest(lock: dict | None) -> str | None:
    from promptlane.core.semver import is_version, parse

    versions = [v.get("version") for v in (lock or {}).get("versions", []) if is_version(v.get("version"))]
    return max(versions, key=parse) if versions else None


def _gate_rows(repo: "Repo") -> dict[str, dict]:
    try:
        from promptlane.operations.status import status_rows
    except ImportError:
        return {}
    try:
        return {row["prompt"]: row for row in status_rows(repo)}
    except UsageError as exc:
        return {"*": {"lacks": [str(exc)], "next": None}}


def _env_change(old: dict | None, compared: bool, prompt: PromptInfo, envs: tuple[str, ...]) -> str:
    before = (old or {}).get("environments") or {}
    parts = []
    for env in envs:
        now, was = prompt.environments.get(env), before.get(env)
        if compared and now != was:
            parts.append(f"{env}: {was or '—'} → {now or '—'}")
        elif now:
            parts.append(f"{env}: {now}")
    return "; ".join(parts) or "nothing served"


def render_markdown(repo: "Repo", base: str | None = None) -> str:
    olds = changed_since(repo, base) if base else None
    ids = sorted(olds) if olds is not None else _prompt_ids(repo)
    report = collect(repo, ids)
    gates = _gate_rows(repo)
    title = f"## promptlane: {len(ids)} prompt(s) changed since `{base}`" if base else f"## promptlane: {len(ids)} prompt(s)"
    lines = [title, ""]
    if not ids:
        return "\n".join(lines + ["No prompt changed." if base else "No prompts yet.", ""])
    lines += ["| prompt | version | bump | environments | evals | approvals | gates |", "| --- | --- | --- | --- | --- | --- | --- |"]
    details = []
    for prompt in report.prompts:
        old = olds.get(prompt.id) if olds is not None else None
        row, detail = _markdown_row(prompt, old, base is not None, gates.get(prompt.id) or gates.get("*"), report.environments)
        lines.append(row)
        details += detail
    lines += ["", *details] if details else []
    if report.audit_status:
        lines += ["", f"**Audit chain broken:** {_md(report.audit_status)}"]
    return "\n".join(lines).rstrip("\n") + "\n"


def _markdown_row(prompt: PromptInfo, old: dict | None, compared: bool, gate: dict | None,
                  envs: tuple[str, ...]) -> tuple[str, list[str]]:
    latest = prompt.latest()
    if latest is None:
        return f"| {_md(prompt.id)} | — | — | — | — | — | ❌ {_md(prompt.problem)} |", []
    was = _highest(old) if compared else None
    version = f"{was} → {latest.version}" if was and was != latest.version else latest.version
    bump = bump_kind(was, latest.version) if compared else (latest.bump or "—")
    counted = sorted({a.role for a in latest.approvals if a.counts})
    approvals = ", ".join(f"{role} ✅" for role in counted) or "none"
    gate_cell, detail = _gate_cell(prompt.id, latest.version, gate)
    return (f"| {_md(prompt.id)} | {_md(version)} | {bump} | {_md(_env_change(old, compared, prompt, envs))} | "
            f"{_md(eval_text(latest))} | {_md(approvals)} | {gate_cell} |"), detail


def _gate_cell(prompt_id: str, version: str, gate: dict | None) -> tuple[str, list[str]]:
    if gate is None:
        return "n/a", []
    lacks, target = gate.get("lacks") or [], gate.get("next")
    if not lacks:
        return (f"✅ met for {target}" if target else "✅ at the last environment"), []
    head = f"❌ {len(lacks)} missing" + (f" for {target}" if target else "")
    detail = [f"**{prompt_id} {version}**" + (f": missing for {target}" if target else ""), ""]
    detail += [f"- {_md(item)}" for item in lacks] + [""]
    return head, detail
