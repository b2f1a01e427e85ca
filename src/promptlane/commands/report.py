"""``promptlane report``: the state of a governed repository for people.

``--html OUT``: one self-contained page (inline CSS, no script, no network asset) with what
each environment serves, each prompt's version history with eval pass rates and approvals
(a chain's calls and their models above it), and the audit timeline. ``--markdown``: a
pull-request summary for a CI job summary (a chain's calls beside its id); only ``--base REF``
asks git, for what changed since REF. ``--comment FILE`` posts such a summary
on the pull request of a GitHub Actions run (commands/prcomment.py). The data is operations/history.py.
"""
from __future__ import annotations

import html
import json
import os
import sys
from pathlib import Path
from typing import Any

from promptlane.commands.arguments import open_repo
from promptlane.commands.output import output_target, write_output
from promptlane.core.layout import is_prompt_id, prompt_id_of
from promptlane.core.problems import EXIT_OK, UsageError
from promptlane.core.registry import withdrawal_text
from promptlane.core.semver import is_version, parse
from promptlane.operations.history import (
    PromptInfo,
    RepoReport,
    VersionInfo,
    approval_text,
    collect,
    eval_text,
    pct,
    report_prompt_ids,
    short,
)
from promptlane.operations.status import status_rows
from promptlane.store.git import GitError, changed_paths, resolve, show
from promptlane.store.repo import Repo


def _target(args, name: str, option: str) -> Path:
    """An output path of `report`, checked before anything is rendered (exit 2 when it cannot be a file)."""
    hint = "; to print to stdout, use --markdown without OUT (or --markdown -)" if option == "--markdown" else ""
    # os.path.join keeps a trailing "/" (Path drops it): "out/" names a folder, never a file "out".
    return output_target(os.path.join(args.root or ".", name) if name else "", f"{option} OUT", hint)


def _write(target: Path, text: str) -> str:
    """Write atomically (temp file + rename): a report being served is never half written."""
    write_output(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return str(target)


def cmd_report(args) -> int:
    if args.comment is not None:
        return _comment(args)
    if args.html is None and args.markdown is None:
        raise UsageError("say what to write: --html OUT and/or --markdown [OUT], or post one: --comment FILE")
    if args.base and args.markdown is None:
        raise UsageError("--base REF compares prompts for the --markdown summary; add --markdown")
    # Both targets are checked before either is written: a refusal leaves every file as it was.
    html = _target(args, args.html, "--html") if args.html is not None else None
    markdown = _target(args, args.markdown, "--markdown") if args.markdown not in (None, "-") else None
    if html is not None and html == markdown:
        raise UsageError("--html and --markdown name the same file; give each its own")
    repo = open_repo(args)
    page = render_html(collect(repo)) if html is not None else None
    summary = render_markdown(repo, args.base) if args.markdown is not None else None  # a bad --base: nothing written
    if html is not None and page is not None:  # page is rendered only when html is given
        print(f"Wrote {_write(html, page)}", file=sys.stderr if args.markdown == "-" else sys.stdout)
    if summary is not None:
        if markdown is None:
            sys.stdout.write(summary)
        else:
            print(f"Wrote {_write(markdown, summary)}")
    return EXIT_OK


def _comment(args) -> int:
    """``--comment FILE``: a report already written is posted; nothing else is rendered."""
    from promptlane.commands.prcomment import post_comment

    if args.html is not None or args.markdown is not None or args.base:
        raise UsageError("--comment FILE posts a report already written: run it on its own, after "
                         "promptlane report --markdown FILE")
    if not args.comment or args.comment.endswith(("/", os.sep)):
        raise UsageError("--comment FILE: give the file `promptlane report --markdown FILE` wrote")
    return post_comment(Path(os.path.join(args.root or ".", args.comment)), args.comment)


CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:78rem;padding:0 1rem;color:#1d2330;background:#fff}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #e3e7ef;padding-bottom:.3rem}
h3{margin:1.6rem 0 .3rem}.meta{color:#5b6475;margin:.2rem 0 1rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:.92rem}
th,td{border:1px solid #d8dde8;padding:.35rem .55rem;text-align:left;vertical-align:top}
thead th{background:#f3f5f9}tbody th{font-weight:600;background:#fafbfd}
code{font:.85rem ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.none{color:#98a1b3}.ok{color:#176c2f}.bad{color:#a4161a}.warn{color:#8a5a00}td.withdrawn{background:#fdecea}
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
            cells.append(_served_cell(prompt, version) if version else "<td class=\"none\">—</td>")
        out.append("".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return out


def _served_cell(prompt: PromptInfo, version: str) -> str:
    mark = prompt.withdrawn.get(version)
    if mark is None:
        return f"<td>{_e(version)}</td>"
    return (f"<td class=\"withdrawn\">{_e(version)}<br><small class=\"bad\">⚠ {_e(withdrawal_text(mark))}</small></td>")


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
    return out + _calls_line(prompt) + _versions_table(prompt) + ["</section>"]


def _calls_line(prompt: PromptInfo) -> list[str]:
    """A chain's calls in order, each with its model (as its latest version runs them)."""
    if not prompt.calls:
        return []
    latest = prompt.latest()
    calls = " → ".join(f"<code>{_e(name)}</code> {_e(model)}" for name, model in prompt.calls)
    return [f"<p class=\"calls\">chain of {len(prompt.calls)} calls in {_e(latest.version if latest else '?')}: {calls}</p>"]


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


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def changed_since(repo: "Repo", base: str) -> dict[str, dict | None]:
    """Prompt id -> its lock document at ``base`` (None: new since then), for every prompt
    whose card, texts, lock or snapshots differ from ``base`` (working tree included)."""
    try:
        commit = resolve(repo.root, base)
    except GitError as exc:
        raise UsageError(str(exc)) from None
    names = changed_paths(repo.root, commit, "prompts", "registry")
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
    if not new:
        return "—"
    if not old:
        return "new"
    (a, b, c), (x, y, z) = parse(old), parse(new)
    if (x, y, z) == (a, b, c):
        return "none"
    return "major" if x != a else "minor" if y != b else "patch"


def _highest(lock: dict | None) -> str | None:
    versions = [v.get("version") for v in (lock or {}).get("versions", []) if is_version(v.get("version"))]
    return max(versions, key=parse) if versions else None


def _gate_rows(repo: "Repo") -> dict[str, dict]:
    try:
        return {row["prompt"]: row for row in status_rows(repo)}
    except UsageError as exc:
        return {"*": {"lacks": [str(exc)], "next": None}}


def _env_change(old: dict | None, compared: bool, prompt: PromptInfo, envs: tuple[str, ...]) -> str:
    before = (old or {}).get("environments") or {}
    parts = []
    for env in envs:
        now, was = prompt.environments.get(env), before.get(env)
        mark = " ⚠️ withdrawn" if now in prompt.withdrawn else ""
        if compared and now != was:
            parts.append(f"{env}: {was or '—'} → {now or '—'}{mark}")
        elif now:
            parts.append(f"{env}: {now}{mark}")
    return "; ".join(parts) or "nothing served"


def render_markdown(repo: "Repo", base: str | None = None) -> str:
    olds = changed_since(repo, base) if base else None
    ids = sorted(olds) if olds is not None else report_prompt_ids(repo)
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
    if latest.version in prompt.withdrawn:
        version += " ⚠️ withdrawn"
    gate_cell, detail = _gate_cell(prompt.id, latest.version, gate)
    chain = f" (chain: {' → '.join(f'{name} {model}' for name, model in prompt.calls)})" if prompt.calls else ""
    return (f"| {_md(prompt.id + chain)} | {_md(version)} | {bump} | {_md(_env_change(old, compared, prompt, envs))} | "
            f"{_md(eval_text(latest))} | {_md(approvals)} | {gate_cell} |"), _withdrawn_detail(prompt, latest, envs) + detail


def _withdrawn_detail(prompt: PromptInfo, latest: VersionInfo, envs: tuple[str, ...]) -> list[str]:
    """Under the table: each withdrawn version the row marks, where it was withdrawn and where it is still served."""
    lines = []
    for version, mark in prompt.withdrawn.items():
        still = [env for env in envs if prompt.environments.get(env) == version]
        if still or version == latest.version:
            where = f"; still served by {', '.join(still)}" if still else ""
            lines += [f"**{_md(prompt.id)} {_md(version)}** ⚠️ {_md(withdrawal_text(mark))}{where}", ""]
    return lines


def _gate_cell(prompt_id: str, version: str, gate: dict | None) -> tuple[str, list[str]]:
    if gate is None:
        return "n/a", []
    lacks, target = gate.get("lacks") or [], gate.get("next")
    # The gates are the card's version's: say so when the row shows another (a rollback restored the card).
    card_version = gate.get("version")
    subject = f"{card_version} " if card_version and card_version != version else ""
    version = str(card_version or version)
    if not lacks:
        return (f"✅ {subject}met for {target}" if target else f"✅ {subject}at the last environment"), []
    head = f"❌ {subject}{len(lacks)} missing" + (f" for {target}" if target else "")
    detail = [f"**{prompt_id} {version}**" + (f": missing for {target}" if target else ""), ""]
    detail += [f"- {_md(item)}" for item in lacks] + [""]
    return head, detail
