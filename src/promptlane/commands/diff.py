"""`promptlane diff ID [FROM] [TO]`: what changed between two versions of a prompt.

FROM and TO are versions (``1.2.0``) or environment names (``prod``: the version it serves).
TO defaults to the latest version issued, FROM to the version issued before TO. Texts come
from the store snapshots (registry/store/<id>/<version>.json), so any two versions ever
issued can be compared without git history. Model, parameters, variables, eval pass rates
and approvals are printed side by side, then a unified diff of each step's text. A chain
(``promptlane-chain/1``) is compared call by call (core/calls.py): its calls, each call's
model and parameters side by side, then what changed per call (added, removed, re-ordered,
model, parameters, roles) and a unified diff of each call's step texts.
"""
from __future__ import annotations

import difflib
import json
import sys
from typing import TYPE_CHECKING, Any, cast

from promptlane.commands.arguments import open_repo
from promptlane.core.calls import Call, calls_of, is_chain
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
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("payload"), dict) or not _readable(snapshot["payload"]):
        raise UsageError(f"{repo.snapshot_rel(prompt_id, version)} is missing or unreadable; restore it from git")
    return snapshot


def _readable(payload: dict) -> bool:
    try:
        return all(isinstance(call.model, dict) and isinstance(call.steps, list) for call in calls_of(payload))
    except (ValueError, KeyError, TypeError):  # neither payload format, or a call without its keys
        return False


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _facts(snapshot: dict, version: "VersionInfo", middle: list[str], withdrawn: dict | None) -> list[list[str]]:
    """One cell per label; a cell may take several lines (one approval a line). ``middle``: the
    model rows' cells; ``withdrawn``: the versions' marks in force, when either side has one
    (else no such row)."""
    payload = snapshot["payload"]
    facts = [version.version, version.hash[:23] + "…", version.bump or "—", *middle]
    facts += [", ".join(payload.get("variables", [])) or "—", ", ".join(version.served_in) or "—"]
    if withdrawn is not None:
        mark = withdrawn.get(version.version)
        facts.append(f"from {mark.get('env')} on {mark.get('time')}" if mark else "—")
    facts.append(eval_text(version))
    return [[fact] for fact in facts] + [[approval_text(a) for a in version.approvals] or ["none"]]


def _model_cells(model: dict | None, params: list[str]) -> list[str]:
    if model is None:  # a call only the other side has
        return ["—"] * (1 + len(params))
    return [f"{model.get('provider')}/{model.get('name')}", *(_value(model.get("params", {}).get(p, "—")) for p in params)]


def _params(*models: dict | None) -> list[str]:
    return sorted(set().union(*((model or {}).get("params", {}) for model in models)))


def _by_name(payload: dict) -> dict[str | None, Call]:
    """A payload's calls by name, in the order they run (a single call's name is None)."""
    return {call.name: call for call in calls_of(payload)}


def _keys(old: dict[str | None, Call], new: dict[str | None, Call]) -> list[str | None]:
    """The calls to show: the new order, then the calls only the old side had."""
    return list(new) + [key for key in old if key not in new]


def _call_label(key: str | None) -> str:
    return f"call {key}" if key is not None else "the single call"


def _model_rows(old: dict, new: dict) -> tuple[list[str], list[str], list[str]]:
    """(labels, old cells, new cells) of the model rows: a model and its parameters for two
    single calls (as always); for a chain on either side, its calls, then each call's model
    and parameters (``—`` where a side has no such call)."""
    if not is_chain(old) and not is_chain(new):
        a, b = old.get("model", {}), new.get("model", {})
        params = _params(a, b)
        return ["model", *(f"  {p}" for p in params)], _model_cells(a, params), _model_cells(b, params)
    before, after = _by_name(old), _by_name(new)
    labels = ["calls"]
    left, right = [_order(old)], [_order(new)]
    for key in _keys(before, after):
        a, b = (before[key].model if key in before else None), (after[key].model if key in after else None)
        params = _params(a, b)
        labels += [f"call {key}" if key is not None else "model", *(f"  {p}" for p in params)]
        left += _model_cells(a, params)
        right += _model_cells(b, params)
    return labels, left, right


def _order(payload: dict) -> str:
    return " → ".join(str(call.name) for call in calls_of(payload)) if is_chain(payload) else "(one call: steps)"


def side_by_side(old: tuple[dict, "VersionInfo"], new: tuple[dict, "VersionInfo"], withdrawn: dict | None = None) -> list[str]:
    models, left_models, right_models = _model_rows(old[0]["payload"], new[0]["payload"])
    marked = withdrawn if withdrawn and {old[1].version, new[1].version} & set(withdrawn) else None
    labels = ["version", "hash", "bump", *models, "variables", "serves",
              *(["withdrawn"] if marked is not None else []), "eval pass rate", "approvals"]
    left, right = _facts(*old, left_models, marked), _facts(*new, right_models, marked)
    width = max(len(label) for label in labels) + 2
    col = max(len(line) for cell in left for line in cell) + 2
    lines = []
    for label, a, b in zip(labels, left, right, strict=False):
        mark = " " if a == b else "*"
        for index in range(max(len(a), len(b))):
            head = f"{mark} {label:<{width}}" if index == 0 else " " * (width + 2)
            lines.append(f"{head}{(a[index] if index < len(a) else ''):<{col}}{b[index] if index < len(b) else ''}".rstrip())
    return lines


def _texts_diff(prompt_id: str, versions: tuple[str, str], call: str | None,
                old_steps: list[dict], new_steps: list[dict]) -> list[str]:
    """Unified diff per step name (in the new order, then steps only the old side had), each
    file named ``id@version/step (role)``, or ``id@version/call/step (role)`` in a chain.
    Payload texts are normalised (LF, no trailing newline), so lines compare cleanly."""
    before = {s["name"]: s for s in old_steps}
    after = {s["name"]: s for s in new_steps}
    names = [s["name"] for s in new_steps] + [n for n in before if n not in after]
    where = f"{call}/" if call is not None else ""
    out: list[str] = []
    for name in names:
        a, b = before.get(name), after.get(name)
        if a and b and a["role"] != b["role"]:
            out.append(f"{f'call {call}, ' if call is not None else ''}step {name}: role {a['role']} -> {b['role']}")
        a_name = f"{prompt_id}@{versions[0]}/{where}{name} ({a['role']})" if a else "/dev/null"
        b_name = f"{prompt_id}@{versions[1]}/{where}{name} ({b['role']})" if b else "/dev/null"
        out += difflib.unified_diff(a["text"].splitlines() if a else [], b["text"].splitlines() if b else [],
                                    a_name, b_name, lineterm="")
    return out


def _call_changes(key: str | None, position: str, a: Call | None, b: Call | None) -> list[str]:
    """What changed in one call besides its texts: added, removed, its model, its parameters."""
    label = _call_label(key)
    if b is None:
        return [f"{label}: removed"]
    (now,) = _model_cells(b.model, [])
    if a is None:
        return [f"{label}: added as call {position} ({now})"]
    (was,) = _model_cells(a.model, [])
    out = [f"{label}: model {was} -> {now}"] if was != now else []
    for param in _params(a.model, b.model):
        x, y = _model_cells(a.model, [param])[1], _model_cells(b.model, [param])[1]
        if x != y:
            out.append(f"{label}: {param} {x} -> {y}")
    return out


def step_diffs(prompt_id: str, old: dict, new: dict) -> list[str]:
    """Unified diff per step name (in the new step order, then steps only the old one had).
    For a chain on either side, call by call (in the new order, then calls only the old one
    had): a line for each call added, removed or re-ordered and each model or parameter
    changed, then the unified diff of the call's step texts."""
    versions = (old["version"], new["version"])
    if not is_chain(old["payload"]) and not is_chain(new["payload"]):
        (was,), (now,) = calls_of(old["payload"]), calls_of(new["payload"])
        return _texts_diff(prompt_id, versions, None, was.steps, now.steps)
    before, after = _by_name(old["payload"]), _by_name(new["payload"])
    out: list[str] = []
    if is_chain(old["payload"]) != is_chain(new["payload"]):
        out.append(f"steps: -> calls: (a chain of {len(after)} calls)" if is_chain(new["payload"])
                   else f"calls: (a chain of {len(before)} calls) -> steps:")
    kept_old, kept_new = [k for k in before if k in after], [k for k in after if k in before]
    if kept_old != kept_new:
        out.append(f"calls re-ordered: {', '.join(map(str, kept_old))} -> {', '.join(map(str, kept_new))}")
    order = list(after)
    for key in _keys(before, after):
        position = f"{order.index(key) + 1} of {len(order)}" if key in after else ""
        a, b = before.get(key), after.get(key)
        out += _call_changes(key, position, a, b)
        out += _texts_diff(prompt_id, versions, key, a.steps if a else [], b.steps if b else [])
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
    same = "(calls and step texts are identical)" if is_chain(new["payload"]) else "(step texts are identical)"
    lines += ["", *texts] if texts else ["", same]
    return "\n".join(lines) + "\n"


def cmd_diff(args) -> int:
    if not is_prompt_id(args.id):
        raise UsageError(f"'{args.id}' is not a prompt id")
    sys.stdout.write(diff(open_repo(args), args.id, args.from_ref, args.to_ref))
    return EXIT_OK
