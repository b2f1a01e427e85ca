"""`promptlane diff ID [FROM] [TO]`: what changed between two versions of a prompt.

FROM and TO are versions (``1.2.0``) or environment names (``prod``: the version it serves).
TO defaults to the latest version issued, FROM to the version issued before TO. Texts come
from the store snapshots (registry/store/<id>/<version>.json), so any two versions ever
issued can be compared without git history. Model, parameters, variables, eval pass rates
and approvals are printed side by side, then a unified diff of each step's text.
"""
from __future__ import annotations

import difflib
import json
import sys
from typing import TYPE_CHECKING, Any, cast

from promptlane.commands.arguments import open_repo
from promptlane.core.layout import REGISTRY, is_prompt_id
from promptlane.core.problems import EXIT_OK, Problem, PromptlaneError, UsageError
from promptlane.core.registry import withdrawal_text
from promptlane.core.suggest import did_you_mean
from promptlane.operations.history import approval_text, collect, eval_text
from promptlane.store.registry import read_snapshot

if TYPE_CHECKING:
    from promptlane.operations.history import PromptInfo, VersionInfo
    from promptlane.store.repo import Repo


def _resolve(prompt: "PromptInfo", ref: str) -> str:
    if prompt.find(ref):
        return ref
    if ref in prompt.environments:
        served = prompt.environments[ref]
        if not served:
            raise UsageError(f"{ref} serves no version of {prompt.id}")
        if prompt.find(served) is None:  # a hand-edited pointer: there is nothing issued to compare
            raise PromptlaneError("the registry lock is inconsistent", [Problem(
                f"{REGISTRY}/{prompt.id}.lock.json", 1, 1, "PL213",
                f"{ref} serves {served!r}, which was never issued; restore the lock from git")])
        return served
    issued = [v.version for v in prompt.versions]
    raise UsageError(f"{prompt.id}: '{ref}' is neither an issued version ({', '.join(issued)}) nor an environment "
                     f"({', '.join(prompt.environments)}){did_you_mean(ref, [*issued, *prompt.environments])}")


def pick(prompt: "PromptInfo", from_ref: str | None, to_ref: str | None) -> tuple[str, str]:
    if not prompt.versions:
        raise UsageError(f"{prompt.id} has no version yet: run `promptlane sync`")
    # latest() is None only without versions, refused above.
    to_version = _resolve(prompt, to_ref) if to_ref else cast("VersionInfo", prompt.latest()).version
    if from_ref:
        return _resolve(prompt, from_ref), to_version
    order = [v.version for v in prompt.versions]
    index = order.index(to_version)
    if index == 0:
        raise UsageError(f"{prompt.id} {to_version} is its first version: nothing to compare it with; "
                         f"name another version or environment")
    return order[index - 1], to_version


def _snapshot(repo: "Repo", prompt_id: str, version: str) -> dict:
    try:
        snapshot = read_snapshot(repo, prompt_id, version)
    except (ValueError, UnicodeDecodeError):
        snapshot = None
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("payload"), dict):
        raise UsageError(f"{repo.snapshot_rel(prompt_id, version)} is missing or unreadable; restore it from git")
    return snapshot


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _facts(snapshot: dict, version: "VersionInfo", params: list[str], withdrawn: dict | None) -> list[list[str]]:
    """One cell per label; a cell may take several lines (one approval a line). ``withdrawn``:
    the versions' marks in force, when either side has one (else no such row)."""
    payload = snapshot["payload"]
    model = payload.get("model", {})
    facts = [version.version, version.hash[:23] + "…", version.bump or "—", f"{model.get('provider')}/{model.get('name')}"]
    facts += [_value(model.get("params", {}).get(name, "—")) for name in params]
    facts += [", ".join(payload.get("variables", [])) or "—", ", ".join(version.served_in) or "—"]
    if withdrawn is not None:
        mark = withdrawn.get(version.version)
        facts.append(f"from {mark.get('env')} on {mark.get('time')}" if mark else "—")
    facts.append(eval_text(version))
    return [[fact] for fact in facts] + [[approval_text(a) for a in version.approvals] or ["none"]]


def side_by_side(old: tuple[dict, "VersionInfo"], new: tuple[dict, "VersionInfo"], withdrawn: dict | None = None) -> list[str]:
    params = sorted(set(old[0]["payload"].get("model", {}).get("params", {}))
                    | set(new[0]["payload"].get("model", {}).get("params", {})))
    marked = withdrawn if withdrawn and {old[1].version, new[1].version} & set(withdrawn) else None
    labels = ["version", "hash", "bump", "model", *(f"  {p}" for p in params), "variables", "serves",
              *(["withdrawn"] if marked is not None else []), "eval pass rate", "approvals"]
    left, right = _facts(*old, params, marked), _facts(*new, params, marked)
    width = max(len(label) for label in labels) + 2
    col = max(len(line) for cell in left for line in cell) + 2
    lines = []
    for label, a, b in zip(labels, left, right, strict=False):
        mark = " " if a == b else "*"
        for index in range(max(len(a), len(b))):
            head = f"{mark} {label:<{width}}" if index == 0 else " " * (width + 2)
            lines.append(f"{head}{(a[index] if index < len(a) else ''):<{col}}{b[index] if index < len(b) else ''}".rstrip())
    return lines


def step_diffs(prompt_id: str, old: dict, new: dict) -> list[str]:
    """Unified diff per step name (in the new chain order, then steps only the old one had).
    Payload texts are normalised (LF, no trailing newline), so lines compare cleanly."""
    before = {s["name"]: s for s in old["payload"]["steps"]}
    after = {s["name"]: s for s in new["payload"]["steps"]}
    names = [s["name"] for s in new["payload"]["steps"]] + [n for n in before if n not in after]
    out: list[str] = []
    for name in names:
        a, b = before.get(name), after.get(name)
        if a and b and a["role"] != b["role"]:
            out.append(f"step {name}: role {a['role']} -> {b['role']}")
        a_name = f"{prompt_id}@{old['version']}/{name} ({a['role']})" if a else "/dev/null"
        b_name = f"{prompt_id}@{new['version']}/{name} ({b['role']})" if b else "/dev/null"
        out += difflib.unified_diff(a["text"].splitlines() if a else [], b["text"].splitlines() if b else [],
                                    a_name, b_name, lineterm="")
    return out


def _withdrawn_header(prompt: "PromptInfo", sides: tuple[str, str]) -> list[str]:
    """A line per compared version a rollback withdrew (and that is not served there again)."""
    lines = []
    for version in dict.fromkeys(sides):
        mark = prompt.withdrawn.get(version)
        if mark:
            still = [env for env, v in prompt.environments.items() if v == version]
            where = f"; still served by {', '.join(still)}" if still else ""
            lines.append(f"! {version} {withdrawal_text(mark)}{where}")
    return lines


def diff(repo: "Repo", prompt_id: str, from_ref: str | None = None, to_ref: str | None = None) -> str:
    if not repo.card_path(prompt_id).is_file():
        known = repo.prompt_ids()
        raise UsageError(f"no prompt '{prompt_id}' (prompts/{prompt_id}/card.yml){did_you_mean(prompt_id, known)}; "
                         f"known: {', '.join(known) or 'none'}")
    prompt = collect(repo, [prompt_id]).prompts[0]
    if prompt.problem:
        raise UsageError(f"{prompt_id}: {prompt.problem}")
    a, b = pick(prompt, from_ref, to_ref)
    old, new = _snapshot(repo, prompt_id, a), _snapshot(repo, prompt_id, b)
    lines = [f"promptlane diff {prompt_id} {a} {b}", *_withdrawn_header(prompt, (a, b)), ""]
    # pick() returns issued versions only (_resolve refuses a pointer to anything else).
    lines += side_by_side((old, cast("VersionInfo", prompt.find(a))), (new, cast("VersionInfo", prompt.find(b))),
                          prompt.withdrawn)
    texts = step_diffs(prompt_id, old, new)
    lines += ["", *texts] if texts else ["", "(step texts are identical)"]
    return "\n".join(lines) + "\n"


def cmd_diff(args) -> int:
    if not is_prompt_id(args.id):
        raise UsageError(f"'{args.id}' is not a prompt id")
    sys.stdout.write(diff(open_repo(args), args.id, args.from_ref, args.to_ref))
    return EXIT_OK
