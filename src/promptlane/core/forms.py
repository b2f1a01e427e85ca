"""Filling a HITL form (pure): the template's front matter set for one decision, the eval
summary of the hash under review, and only the reviewer's own checklist, every item of it
unanswered (a box ticked in the template answers nothing: only the reviewer's answers tick)."""
from __future__ import annotations

import json
import re
from typing import Any

from promptlane.core.checklist import unticked
from promptlane.core.problems import UsageError
from promptlane.core.reviews import SUMMARY_MARKER, TEMPLATE, slug, split_front_matter


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


def eval_summary(prompt_id: str, payload_hash: str, results: dict[str, Any] | None, results_rel: str) -> list[str]:
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
    body = unticked(_keep_checklist(_replace_summary(body, summary), role))
    return "---\n" + _fill_front(front, values) + "---\n" + body
