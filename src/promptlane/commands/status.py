"""``promptlane status``: what each environment serves per prompt, and what each prompt still
lacks for its next promotion (operations/status.py asks the gates). A plain table (stable,
greppable, fine in CI logs) or ``--json`` for machines."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from promptlane.commands.arguments import open_repo
from promptlane.core.problems import EXIT_OK, UsageError
from promptlane.operations.status import status_rows

if TYPE_CHECKING:
    from promptlane.store.repo import Repo


def _served_cell(row: dict, env: str) -> str:
    version = row["serves"].get(env)
    if not version:
        return "-"
    return f"{version} (withdrawn)" if version in row["withdrawn"] else version


def _withdrawn_lines(row: dict, environments: tuple[str, ...]) -> list[str]:
    """What a served withdrawn version is, and the command that stops serving it."""
    from promptlane.core.registry import withdrawal_text

    lines = []
    for version, mark in row["withdrawn"].items():
        still = [env for env in environments if row["serves"].get(env) == version]
        lines.append(f"    ! {version} {withdrawal_text(mark)}; still served by {', '.join(still)}: "
                     f"roll back (`promptlane rollback {row['prompt']} --env {still[-1]} --reason ...`) or promote a fix")
    return lines


def render_table(rows: list[dict], environments: tuple[str, ...]) -> str:
    head = ["prompt", "version", *environments, "next"]
    body = [[r["prompt"], str(r["version"] or "-"), *[_served_cell(r, e) for e in environments],
             r["next"] or ("(top)" if not r["lacks"] else "-")] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()]
    for row, cells in zip(rows, body, strict=False):
        lines.append(fmt.format(*cells).rstrip())
        lines += _withdrawn_lines(row, environments)
        if row["next"] and not row["lacks"]:
            lines.append(f"    ready for {row['next']}: `promptlane promote {row['prompt']} --to {row['next']}`")
        lines += [f"    lacks: {item}" for item in row["lacks"]]
    return "\n".join(lines)


def status(repo: "Repo", as_json: bool = False) -> str:
    if not repo.prompt_ids():
        raise UsageError("no prompts yet; add one with `promptlane new ID`")
    rows = status_rows(repo)
    if as_json:
        return json.dumps({"environments": list(repo.environments), "prompts": rows}, indent=2, ensure_ascii=False)
    return render_table(rows, repo.environments)


def cmd_status(args) -> int:
    print(status(open_repo(args), as_json=args.json))
    return EXIT_OK
