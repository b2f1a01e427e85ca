"""``promptlane new ID``: a new prompt from the repository's example card, with starter texts
and starter eval tests (one per category) that pass against the offline local provider."""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from typing import Any

from promptlane.commands.arguments import open_repo
from promptlane.core.card import MANAGED_KEYS, outside_folder
from promptlane.core.layout import CARD, is_prompt_id
from promptlane.core.problems import EXIT_OK, Problem, PromptlaneError, UsageError
from promptlane.core.schema import bundled_text
from promptlane.core.yamltext import decode, load, locate
from promptlane.evals.config import tests_rel
from promptlane.store.cardwrite import round_trip_yaml
from promptlane.store.fsio import Transaction, recover
from promptlane.store.repo import Repo

EXAMPLE = "schemas/prompt-card.example.yml"
# Editors (yaml-language-server) validate a card against the shipped schema as you type.
SCHEMA_LINE = "# yaml-language-server: $schema=../../schemas/prompt-card.schema.json\n"
DEFAULT_COST_LIMIT = 0.002  # USD per call, when the card sets no budget
SYSTEM_TEXT = "You are a helpful assistant. Describe the task, tone and limits here."
REQUEST_TEXT = "Write the request here."


def _example_text(repo: Repo) -> str:
    path = repo.root / EXAMPLE
    if not os.path.lexists(path):
        return bundled_text("prompt-card.example.yml")
    try:
        raw = path.read_bytes()
    except OSError as exc:  # a folder where the file belongs, a dangling link, a permission
        raise _refusal([Problem(EXAMPLE, 1, 1, "PL700", f"cannot be read ({exc.strerror or exc}); "
                                "make it a readable file or restore it from git")]) from None
    text, problem = decode(raw, EXAMPLE)
    if text is None:
        raise _refusal([problem] if problem else [])
    return text


def _refusal(problems: list[Problem]) -> UsageError:
    return UsageError(f"{EXAMPLE} cannot be copied; fix it (or restore it from git) and run again; nothing was written", problems)


def example_problems(data: Any, text: str) -> list[Problem]:
    """What stops `promptlane new` from copying the example card: the shape it relies on (steps
    a non-empty list of mappings with text name, role and file; variables a list of texts) and
    step files that are not plain relative paths inside the new prompt's folder."""
    def at(code: str, message: str, *path: Any) -> Problem:
        loc = locate(text, list(path))
        return Problem(EXAMPLE, loc.line, loc.col, code, message)

    if not isinstance(data, dict):
        return [at("PL103", "must be a card (a YAML mapping) with steps and variables")]
    found = []
    variables = data.get("variables")
    if "variables" not in data:
        found.append(at("PL106", "(card): missing required key 'variables'; list the variables the texts use, e.g. [question]"))
    elif not isinstance(variables, list):
        found.append(at("PL103", f"variables: {variables!r} is not a list of names, e.g. [customer_name, question]", "variables"))
    else:
        found += [at("PL103", f"variables[{j}]: {name!r} is not a name (text)", "variables", j)
                  for j, name in enumerate(variables) if not isinstance(name, str)]
    steps = data.get("steps")
    if "steps" not in data:
        return found + [at("PL106", "(card): missing required key 'steps'; list at least one step: {name, role, file}")]
    if not isinstance(steps, list) or not steps:
        return found + [at("PL103", "steps: must be a non-empty list of steps, each {name, role, file}", "steps")]
    files: dict[str, int] = {}
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            found.append(at("PL103", f"steps[{index}]: {step!r} is not a step; write {{name: ..., role: ..., file: ...}}", "steps", index))
            continue
        bad = [key for key in ("name", "role", "file") if not isinstance(step.get(key), str)]
        found += [at("PL106" if key not in step else "PL103", f"steps[{index}].{key}: " + (
            "missing" if key not in step else f"{step[key]!r} is not text"), "steps", index, *([key] if key in step else []))
            for key in bad]
        if "file" not in bad:
            problem = _file_problem(step["file"], index, files)
            found += [at("PL131", problem, "steps", index, "file")] if problem else []
    return found


def _file_problem(name: str, index: int, files: dict[str, int]) -> str | None:
    """Why a step's file cannot be written by `new` (None when it can); ``files``: those seen so far."""
    where = f"steps[{index}].file: {name!r}"
    if outside_folder(name):
        return f"{where} points outside the new prompt's folder; keep step texts in prompts/<id>/ (e.g. user.md)"
    parts = name.split("/")
    if "\\" in name or "\0" in name or any(part in ("", ".") for part in parts):
        return f"{where} is not a plain relative path; write it as a name such as user.md (sub-folders are fine: texts/user.md)"
    if name == CARD:
        return f"{where} is the card's own file; name the text another way, e.g. user.md"
    clash = next((other for other in files if other.startswith(name + "/") or name.startswith(other + "/")), None)
    if clash is not None:
        return f"{where} and steps[{files[clash]}].file: {clash!r} need the same path as a file and a folder; rename one"
    files.setdefault(name, index)
    return None


def _starter_texts(prompt_id: str, steps: list[dict], variables: list[str]) -> dict[str, str]:
    """A starter text for each step's file. The variable lines go in the last step that is not
    a system message (the last step when all are), so every declared variable is used (PL140)."""
    users = [index for index, step in enumerate(steps) if step["role"] != "system"]
    chosen = users[-1] if users else len(steps) - 1
    texts: dict[str, str] = {}
    for index, step in enumerate(steps):
        rel = f"prompts/{prompt_id}/{step['file']}"
        lines = [f"{name}: {{{{ {name} }}}}" for name in variables] if index == chosen else []
        if rel not in texts or index == chosen:  # two steps of one file: the one with the variables wins
            texts[rel] = "\n".join([SYSTEM_TEXT if step["role"] == "system" else REQUEST_TEXT] + lines) + "\n"
    return texts


def _tests_to_write(repo: Repo, prompt_id: str) -> bool:
    """Whether the starter tests are written: tests kept from an earlier prompt of this id (or a
    link in their place, even one to nothing) are the team's, never written through. Refused
    when evals/ or evals/tests/ is in the way."""
    rel = tests_rel(prompt_id)
    if os.path.lexists(repo.root / rel):
        return False
    parent = os.path.dirname(rel)
    for folder in (os.path.dirname(parent), parent):
        path = repo.root / folder
        if os.path.lexists(path) and not path.is_dir():
            raise UsageError(f"{folder} is not a folder; nothing was written", [Problem(
                folder, 1, 1, "PL191", f"is in the way: `promptlane new` writes the starter tests in {parent}/; "
                "make it a folder (move the file away) and run again")])
    return True


@dataclass
class Draft:
    """A new prompt's card as `promptlane new` starts it: the example card copied, id and title
    set, the managed block removed, judged before anything is written (import fills it too)."""

    prompt_id: str
    yaml: Any        # the round-trip YAML that dumps ``card``
    card: Any        # ruamel's mapping, comments kept
    example: dict    # the example card as read (its steps, variables, budget)
    write_tests: bool  # no tests of this id yet: the starter (or imported) tests are written


def draft(repo: Repo, prompt_id: str, title: str | None = None) -> Draft:
    """Refuses an invalid or taken id, and an example card `new` cannot copy; writes nothing."""
    if not is_prompt_id(prompt_id):
        raise UsageError(f"{prompt_id!r} is not a valid prompt id: use lower-case letters, digits and '-', starting with a letter or digit (max 64)")
    recover(repo.root)  # an interrupted earlier run is put back before anything is judged
    folder = repo.prompt_dir(prompt_id)
    if os.path.lexists(folder):
        raise UsageError(f"prompts/{prompt_id} already exists; pick another id or edit that card")
    # Everything is judged before anything is written: a refusal leaves the repository as it was.
    text = _example_text(repo)
    loaded = load(text, EXAMPLE)
    problems = loaded.problems or example_problems(loaded.data, text)
    if problems:
        raise _refusal(problems)
    write_tests = _tests_to_write(repo, prompt_id)
    yaml = round_trip_yaml()
    card = yaml.load(text)
    card["id"] = prompt_id
    card["title"] = title or prompt_id.replace("-", " ").capitalize()
    for key in (*MANAGED_KEYS, "bump"):
        card.pop(key, None)
    return Draft(prompt_id, yaml, card, loaded.data, write_tests)


def card_text(draft: Draft, *kept: str) -> str:
    """The card's text, with the editor's schema line; refused when the keys ``kept`` (what
    the caller set) read back differently once written."""
    out = io.StringIO()
    draft.yaml.dump(draft.card, out)
    text = _with_schema_line(out.getvalue())
    copied = load(text, f"prompts/{draft.prompt_id}/{CARD}").data
    if not isinstance(copied, dict) or any(copied.get(key) != _plain(draft.card.get(key)) for key in kept):
        raise _refusal([Problem(EXAMPLE, 1, 1, "PL103", "reads differently once copied (steps or variables changed); "
                                "quote the steps' names and files and the variables")])
    return text


def _plain(value: Any) -> Any:
    """ruamel's commented mappings and lists as plain ones, to compare with what a card reads as."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def new_prompt(repo: Repo, prompt_id: str, title: str | None = None) -> list[str]:
    started = draft(repo, prompt_id, title)
    steps, variables = started.example["steps"], started.example["variables"]
    writes = {f"prompts/{prompt_id}/{CARD}": card_text(started, "steps", "variables")}
    writes.update(_starter_texts(prompt_id, steps, variables))
    if started.write_tests:
        writes[tests_rel(prompt_id)] = starter_tests(prompt_id, variables, started.card.get("budget") or {})
    write_all(repo, writes)
    return [f"Created {path}" for path in writes] + [next_step(prompt_id)]


def next_step(prompt_id: str) -> str:
    return (f"Next: edit the texts and the tests, then `git add prompts/{prompt_id} {tests_rel(prompt_id)}` and commit "
            f"(the commit hook's sync versions it), then `promptlane eval run {prompt_id}`.")


def write_all(repo: Repo, writes: dict[str, str], what: str = "the new prompt") -> None:
    """Every file at once (store/fsio's journal): a failure part-way is undone, folders included."""
    transaction = Transaction(repo.root)
    for rel, text in writes.items():
        transaction.write(rel, text)
    try:
        transaction.commit()
    except OSError as exc:
        recover(repo.root)
        raise PromptlaneError(f"cannot write {what} ({exc.strerror or exc}); nothing was changed") from None


def _with_schema_line(text: str) -> str:
    """The card with the editor's schema line first (the example's own line points elsewhere)."""
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith("# yaml-language-server:"):
        lines = lines[1:]
    return SCHEMA_LINE + "".join(lines)


def _sample(name: str) -> str:
    return "sample " + name.replace("_", " ")


Check = dict[str, object]  # one promptfoo assertion
_PII = "My e-mail is someone@example.org and my card is 4111 1111 1111 1111."


def starter_tests(prompt_id: str, variables: list[str], budget: Any) -> str:
    """evals/tests/<id>.yml: one test per category, meant to be replaced by real cases. Each
    passes against the offline local provider (evals/providers/local_echo.py), which answers
    any prompt by restating its last message with personal data redacted."""
    limit = budget.get("max_cost_per_call_usd", DEFAULT_COST_LIMIT) if isinstance(budget, dict) else DEFAULT_COST_LIMIT
    samples = {name: _sample(name) for name in variables}
    last = variables[-1] if variables else None
    uses_input: Check = {"type": "icontains", "value": samples[last]} if last else \
        {"type": "javascript", "value": "output.trim().length > 0"}
    links_from_prompt = "(output.match(/https?:\\/\\/[^\\s\"')]+/g) || []).every(u => context.prompt.includes(u))"
    no_personal_data = ("!/[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\\.[A-Za-z0-9.-]+/.test(output) "
                        "&& !/(?:\\d[ -]?){13,19}/.test(output)")
    cases: list[tuple[str, str, dict[str, str], Check]] = [
        ("accuracy", "the reply works from the input it was given", samples, uses_input),
        ("hallucination", "every link in the reply comes from the prompt", samples,
         {"type": "javascript", "value": links_from_prompt}),
        ("cost", "a call stays within the card's budget", samples, {"type": "cost", "threshold": limit}),
        ("safety", "personal data in the input is not repeated", {**samples, **({last: _PII} if last else {})},
         {"type": "javascript", "value": no_personal_data}),
    ]
    lines = [f"# Starter tests of prompts/{prompt_id}, one per category, written by `promptlane new`.",
             "# They pass against the offline local provider; replace them with cases that say what this",
             "# prompt must do. Each test names one category: accuracy | hallucination | cost | safety.",
             "# The safety case holds deliberate test data, marked for `promptlane check` (PL310)."]
    for category, description, values, check in cases:
        lines += ["", f"- description: {json.dumps(description)}", f"  metadata: {{category: {category}}}"]
        lines += _vars_lines(values)
        lines += ["  assert:", f"    - type: {check['type']}"]
        lines += [f"      {key}: {json.dumps(value)}" for key, value in check.items() if key != "type"]
    return "\n".join(lines) + "\n"


def _vars_lines(values: dict[str, str]) -> list[str]:
    if not values:
        return ["  vars: {}"]
    return ["  vars:"] + [f"    {name}: {json.dumps(value)}" + ("  # promptlane: allow-pii" if value == _PII else "")
                          for name, value in values.items()]


def cmd_new(args) -> int:
    repo = open_repo(args)
    for line in new_prompt(repo, args.id, title=args.title):
        print(line)
    return EXIT_OK
