"""The governed repository's own files, checked (not just present): the example card, the
schemas, the trace schema and its sample, the HITL form, the reviewers, the eval config, the
CI workflow and its wired copy, the rollback runbook.

Run by ``promptlane check`` with ``--all`` (CI's ``pre-commit run --all-files``) or when one of
these files is among the files given (a commit that touches it).
"""
from __future__ import annotations

import json
import re
from typing import Callable

from promptlane.core.card import outside_folder
from promptlane.core.layout import REQUIREMENTS
from promptlane.core.problems import Problem, PromptlaneError
from promptlane.core.reviews import REVIEWERS
from promptlane.store.pinfile import pin_problems
from promptlane.store.repo import Repo

EXAMPLE_CARD = "schemas/prompt-card.example.yml"
CARD_SCHEMA = "schemas/prompt-card.schema.json"
VERSION_SCHEMA = "schemas/prompt-version-schema.yml"
LOG_SCHEMA = "logs/prompt-log-schema.json"
LOG_SAMPLE = "logs/log-sample.output.json"
HITL_FORM = "HITL_Approval_Template.md"
EVAL_CONFIG = "evals/eval-config.promptfoo.yml"
CI_WORKFLOW = "ci/eval-gate.yml"
WIRED_WORKFLOW = ".github/workflows/eval-gate.yml"
ROLLBACK_FLOW = "workflows/rollback-flow.md"
FORM_KEYS = ("prompt", "version", "hash", "reviewer", "role", "decision", "date")


def _text(repo: Repo, rel: str) -> str | None:
    try:
        return (repo.root / rel).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise _Stop(Problem(rel, 1, 1, "PL700", "is not valid UTF-8; save it as UTF-8")) from None
    except OSError as exc:  # a folder where the file belongs, a dangling link, a permission
        raise _Stop(Problem(rel, 1, 1, "PL700", f"cannot be read ({exc.strerror or exc}); make it a readable file or restore it from git")) from None


class _Stop(Exception):
    def __init__(self, problem: Problem):
        self.problem = problem


def _yaml(rel: str, text: str):
    from promptlane.core.yamltext import load

    loaded = load(text, rel)
    if loaded.problems:
        raise _Stop(min(loaded.problems))
    return loaded.data


def _json(rel: str, text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Stop(Problem(rel, exc.lineno, exc.colno, "PL700", f"is not valid JSON ({exc.msg})")) from None


def _schema_ok(rel: str, schema) -> list[Problem]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [Problem(rel, 1, 1, "PL701", f"is not a valid JSON Schema (2020-12): {exc.message}")]
    return []


def check_example_card(repo: Repo, text: str) -> list[Problem]:
    from promptlane.core.schema import card_problems

    data = _yaml(EXAMPLE_CARD, text)
    if not isinstance(data, dict):
        return [Problem(EXAMPLE_CARD, 1, 1, "PL103", "must be a complete card (a YAML mapping)")]
    return list(card_problems(data, text, EXAMPLE_CARD)) + example_step_file_problems(data, text)


def example_step_file_problems(data: dict, text: str) -> list[Problem]:
    """PL131 for each step of the example card whose ``file`` points outside the new prompt's
    folder: `promptlane new` would write its starter text there."""
    from promptlane.core.yamltext import locate

    steps = data.get("steps")
    found = []
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        name = step.get("file") if isinstance(step, dict) else None
        if isinstance(name, str) and outside_folder(name):
            loc = locate(text, ["steps", index, "file"])
            found.append(Problem(EXAMPLE_CARD, loc.line, loc.col, "PL131",
                                 f"steps[{index}].file: {name!r} points outside the new prompt's folder; "
                                 "`promptlane new` writes each step's text in prompts/<id>/: use a relative path such as user.md"))
    return found


def _as_shipped(name: str, text: str) -> bool:
    """The file is the schema promptlane bundles, as `promptlane init` writes it: a valid JSON
    Schema (tests/test_schemas.py), so jsonschema (~50 ms to import) need not say so again."""
    from promptlane.core.schema import bundled_text

    return text == bundled_text(name)


def check_card_schema(repo: Repo, text: str) -> list[Problem]:
    if _as_shipped("prompt-card.schema.json", text):
        return []
    return _schema_ok(CARD_SCHEMA, _json(CARD_SCHEMA, text))


def check_version_schema(repo: Repo, text: str) -> list[Problem]:
    if _as_shipped("prompt-version-schema.yml", text):
        return []
    return _schema_ok(VERSION_SCHEMA, _yaml(VERSION_SCHEMA, text))


def check_log_files(repo: Repo, _text_unused: str) -> list[Problem]:
    from promptlane.runtime.logfile import LogSchemaError, validate_text

    schema_text, sample = _text(repo, LOG_SCHEMA), _text(repo, LOG_SAMPLE)
    if schema_text is None:
        return [] if sample is None else [Problem(LOG_SCHEMA, 1, 1, "PL702", f"is missing, so {LOG_SAMPLE} cannot be checked; restore it from the template")]
    schema = _json(LOG_SCHEMA, schema_text)
    found = _schema_ok(LOG_SCHEMA, schema)
    if sample is not None and not found:
        try:
            found += validate_text(sample, schema, LOG_SAMPLE)[1]
        except LogSchemaError as exc:  # a $ref that resolves to nothing
            found.append(Problem(LOG_SCHEMA, 1, 1, "PL701", f"cannot be used ({exc}); restore it from the template"))
    return found


def check_hitl_form(repo: Repo, text: str) -> list[Problem]:
    from promptlane.core.reviews import split_front_matter

    parts = split_front_matter(text)
    if parts is None:
        return [Problem(HITL_FORM, 1, 1, "PL703", "needs YAML front matter between '---' lines; `promptlane approve` fills it")]
    data = _yaml(HITL_FORM, parts[0])
    missing = [key for key in FORM_KEYS if not isinstance(data, dict) or key not in data]
    return [Problem(HITL_FORM, 2, 1, "PL703", f"front matter lacks {', '.join(missing)}; `promptlane approve` fills these keys")] if missing else []


def check_reviewers(repo: Repo, text: str) -> list[Problem]:
    from promptlane.store.reviews import load_reviewers

    try:
        load_reviewers(repo)
    except PromptlaneError as exc:
        return exc.problems or [Problem(REVIEWERS, 1, 1, "PL506", str(exc))]
    return []


def check_eval_config(repo: Repo, text: str) -> list[Problem]:
    from promptlane.evals.config import repo_parts

    _yaml(EVAL_CONFIG, text)
    try:
        repo_parts(repo)
    except PromptlaneError as exc:
        return exc.problems
    return []


def check_workflows(repo: Repo, text: str) -> list[Problem]:
    import yaml

    # GitHub reads workflows as YAML 1.1 (its `on:` key is the boolean true): not our strict loader.
    try:
        # A safe loader (CSafeLoader, else SafeLoader); plain YAML 1.1 on purpose: `on:` is a workflow key.
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        return [Problem(CI_WORKFLOW, mark.line + 1 if mark else 1, mark.column + 1 if mark else 1, "PL704", f"is not valid YAML: {exc.problem}")]
    if not isinstance(data, dict) or "jobs" not in data:
        return [Problem(CI_WORKFLOW, 1, 1, "PL704", "is not a GitHub Actions workflow (no jobs:)")]
    wired = _text(repo, WIRED_WORKFLOW)
    if wired is not None and wired != text:
        line = next((n for n, (a, b) in enumerate(zip(text.splitlines(), wired.splitlines(), strict=False), 1) if a != b),
                    min(len(text.splitlines()), len(wired.splitlines())) + 1)
        return [Problem(WIRED_WORKFLOW, line, 1, "PL704", f"differs from {CI_WORKFLOW} (line {line}); keep the wired copy identical: cp {CI_WORKFLOW} {WIRED_WORKFLOW}")]
    return []


def check_rollback_flow(text: str, commands: set[str]) -> list[Problem]:
    """Every `promptlane COMMAND` the runbook names is a real command of this promptlane."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in re.finditer(r"\bpromptlane ([a-z][a-z-]*)", line):
            if match[1] not in commands:
                found.append(Problem(ROLLBACK_FLOW, number, match.start() + 1, "PL705",
                                     f"`promptlane {match[1]}` is not a promptlane command; the runbook must name real ones"))
    return found


CHECKS: dict[str, Callable[[Repo, str], list[Problem]]] = {
    EXAMPLE_CARD: check_example_card,
    CARD_SCHEMA: check_card_schema,
    VERSION_SCHEMA: check_version_schema,
    LOG_SCHEMA: check_log_files,
    LOG_SAMPLE: check_log_files,
    HITL_FORM: check_hitl_form,
    REVIEWERS: check_reviewers,
    EVAL_CONFIG: check_eval_config,
    CI_WORKFLOW: check_workflows,
    WIRED_WORKFLOW: check_workflows,
    ROLLBACK_FLOW: lambda repo, text: [],  # needs the command line: see repo_file_problems
    REQUIREMENTS: lambda repo, _text_unused: pin_problems(repo),  # reads its own file: store/pinfile.py
}


def repo_file_problems(repo: Repo, rels: list[str] | None, command_names: Callable[[], set[str]]) -> list[Problem]:
    """Problems of the given repository files (all of them when ``rels`` is None).
    ``command_names``: the promptlane commands, asked only when the rollback runbook is checked."""
    checks = {**CHECKS, ROLLBACK_FLOW: lambda _repo, text: check_rollback_flow(text, command_names())}
    wanted = list(checks) if rels is None else [rel for rel in checks if rel in rels]
    done: set = set()
    found: list[Problem] = []
    for rel in wanted:
        check = checks[rel]
        source = CI_WORKFLOW if check is check_workflows else rel
        if check in done:
            continue
        done.add(check)
        try:
            text = "" if rel == REQUIREMENTS else _text(repo, source)  # a FIFO must not be opened here
            if text is not None or check is check_log_files:  # the log pair checks its own presence
                found += check(repo, text or "")
        except _Stop as stop:
            found.append(stop.problem)
    return found
