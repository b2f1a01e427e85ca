"""GitHub Models (``.prompt.yml``, what ``gh models run`` and ``gh models eval`` read), pure.

One YAML file: name, description, ``model: publisher/name``, ``modelParameters`` (maxTokens,
temperature, topP: the only ones gh-models sends), ``messages: [{role, content}]`` whose
``{{name}}`` (no spaces: gh-models replaces that exact text) is filled from each ``testData``
item, and ``evaluators`` run on every test. An import turns testData and the string evaluators
into promptfoo tests (``evals/tests/<id>.yml``) with gh-models' own semantics: ``contains``,
``startsWith`` and ``endsWith`` ignore case, ``equals`` compares the reply trimmed.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable

from promptlane.core.formats.common import (
    NAME, ROLES, Imported, Refused, Served, Source, Step, assemble, inside_scalar, params_out,
    slash_model, split_text, yaml_map, yaml_scalar,
)
from promptlane.core.problems import Problem

PARAMETERS = {"maxTokens": "max_tokens", "temperature": "temperature", "topP": "top_p"}
# What gh-models fills is an exact ``{{key}}``; a spaced ``{{ name }}`` (it stays as text there,
# promptlane would fill it) and a ``{{other-key}}`` testData fills (no card variable) are
# refused; the rest is text.
TAG = re.compile(r"\{\{(\s*[A-Za-z_][A-Za-z0-9_]*\s*|[^{}\s]+)\}\}")
KEYS = ("name", "description", "model", "modelParameters", "messages", "testData", "evaluators",
        "responseFormat", "jsonSchema")
DEFAULT_CATEGORY = "accuracy"  # what a string evaluator checks: the reply says what it must


def read(source: Source) -> Imported:
    data, at = source.mapping(0, len(source.text), "name, model, messages (and testData, evaluators)")
    problems = _unsupported(data, at)
    model = _model(data, at, problems)
    steps, used = _messages(source, data, at, problems)
    if problems:
        raise Refused(problems)
    tests = _tests(source.rel, data, used, at)
    notes = [f"{key}: not kept (a card does not carry it)" for key in data if key not in KEYS]
    ignored = [key for key in (data.get("modelParameters") or {}) if key not in PARAMETERS]
    notes += [f"modelParameters.{key}: not kept (gh-models sends maxTokens, temperature and topP only)" for key in ignored]
    if data.get("evaluators") and not data.get("testData"):
        notes.append("evaluators: not kept (no testData to run them on)")
    return Imported(_text(data.get("name")), _text(data.get("description")), model, used, steps, tests, notes)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _unsupported(data: dict[str, Any], at: Callable[..., Problem]) -> list[Problem]:
    found = []
    if data.get("responseFormat") not in (None, "text"):
        found.append(at("PL803", f"responseFormat: {data['responseFormat']!r}: a card has no structured output; remove it",
                        "responseFormat"))
    if data.get("jsonSchema") is not None:
        found.append(at("PL803", "jsonSchema: a card has no structured output; remove it", "jsonSchema"))
    return found


def _model(data: dict[str, Any], at: Callable[..., Problem], found: list[Problem]) -> dict[str, Any]:
    return slash_model(data, at, found, "modelParameters", "maxTokens, temperature, topP", PARAMETERS,
                       keep=lambda key: key in PARAMETERS, owner="publisher")


def _messages(source: Source, data: dict[str, Any], at: Callable[..., Problem], found: list[Problem]) -> tuple[list[Step], list[str]]:
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        found.append(at("PL802", "messages: must be a non-empty list of {role, content}", *(["messages"] if "messages" in data else [])))
        return [], []
    steps: list[Step] = []
    used: list[str] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str) or not isinstance(message.get("role"), str):
            found.append(at("PL802", f"messages[{index}]: must be {{role: ..., content: ...}} with text values", "messages", index))
            continue
        role = message["role"].lower()  # gh-models reads the role case-blind
        if role not in ROLES:
            found.append(at("PL809", f"messages[{index}].role: {message['role']!r} has no place on a card; use system, user "
                            "or assistant", "messages", index, "role"))
            continue
        place = at("PL805", "", "messages", index, "content")
        segments = _segments(source.text, message["content"], place, _test_keys(data), found)
        if segments is None:
            continue
        text, names = assemble(segments, _refusal(place))
        steps.append(Step(role, text))
        used += [name for name in names if name not in used]
    return steps, used


def _refusal(place: Problem) -> Callable[[int], Problem]:
    def refuse(_index: int) -> Problem:
        return Problem(place.path, place.line, place.col, "PL812", "writes out a {{ name }} gh-models leaves as text, "
                       "which promptlane would fill in; reword it")
    return refuse


def _test_keys(data: dict[str, Any]) -> set[str]:
    items = data.get("testData")
    return {str(key) for item in items if isinstance(item, dict) for key in item} if isinstance(items, list) else set()


def _segments(text: str, content: str, place: Problem, filled: set[str], found: list[Problem]) -> list[tuple[str, str]] | None:
    """The content as text and variables; ``filled``: the keys testData gives values to."""
    segments: list[tuple[str, str]] = []
    position, before = 0, len(found)
    for match in TAG.finditer(content):
        inner = match[1]
        if not NAME.match(inner.strip()) and inner not in filled:
            continue  # gh-models leaves it as it is: text
        segments.append(("text", content[position:match.start()]))
        if NAME.match(inner):
            segments.append(("var", inner))
        else:
            hint = f"write {{{{{inner.strip()}}}}}: gh-models fills only that exact text" if NAME.match(inner.strip()) else \
                "gh-models fills {{name}} only (letters, digits and _)"
            line, col = inside_scalar(text, place.line, place.col, content, match.start())
            found.append(Problem(place.path, line, col, "PL805", f"{match[0]!r} in the content is not a "
                                 f"variable gh-models fills; {hint}"))
        position = match.end()
    segments.append(("text", content[position:]))
    return segments if len(found) == before else None


def _tests(rel: str, data: dict[str, Any], variables: list[str], at: Callable[..., Problem]) -> list[dict[str, Any]] | None:
    items = data.get("testData")
    if not items:
        return None
    if not isinstance(items, list):
        raise Refused([at("PL813", "testData must be a list of mappings, one per test", "testData")])
    problems: list[Problem] = []
    checks = _evaluators(data, at, problems)
    if not checks and not problems:
        problems.append(at("PL813", "testData without evaluators would check nothing; add evaluators "
                           "(e.g. {name: mentions refund, string: {contains: refund}})", "testData"))
    tests = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(at("PL813", f"testData[{index}] must be a mapping of the variables' values", "testData", index))
            continue
        missing = [name for name in variables if name not in item]
        problems += [at("PL813", f"testData[{index}]: no value for '{name}', which the messages use", "testData", index)
                     for name in missing]
        odd = [key for key, value in item.items() if not _plain(value)]
        problems += [at("PL813", f"testData[{index}].{key}: must be text or a number (the runtime renders nothing else)",
                        "testData", index, key) for key in odd]
        if missing or odd:
            continue
        values = {str(key): _shown(value) for key, value in item.items()}
        tests.append({"description": f"{rel.rsplit('/', 1)[-1]} testData[{index}]", "metadata": {"category": DEFAULT_CATEGORY},
                      "vars": {name: item[name] for name in variables},
                      "assert": [check(values) for check in checks]})
    if problems:
        raise Refused(problems)
    return tests


def _plain(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _fill(text: str, values: dict[str, str]) -> str:
    """gh-models' TemplateString: each ``{{key}}`` of the test item replaced by its value."""
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


Check = Callable[[dict[str, str]], dict[str, Any]]


def _evaluators(data: dict[str, Any], at: Callable[..., Problem], found: list[Problem]) -> list[Check]:
    checks: list[Check] = []
    for index, evaluator in enumerate(data.get("evaluators") or []):
        rule = evaluator.get("string") if isinstance(evaluator, dict) else None
        if isinstance(evaluator, dict) and ("llm" in evaluator or "uses" in evaluator):
            kind = "an LLM judge" if "llm" in evaluator else f"the built-in {evaluator.get('uses')!r}"
            found.append(at("PL813", f"evaluators[{index}]: {kind} cannot run offline in promptlane's evals; remove it and "
                            "write a promptfoo assertion in evals/tests/ after the import", "evaluators", index))
        elif not isinstance(rule, dict) or len(rule) != 1 or not isinstance(next(iter(rule.values())), str) \
                or next(iter(rule)) not in ("contains", "equals", "startsWith", "endsWith"):
            found.append(at("PL813", f"evaluators[{index}]: write string: {{contains|equals|startsWith|endsWith: text}}",
                            "evaluators", index))
        else:
            checks.append(_check(*next(iter(rule.items())), str(evaluator.get("name") or f"evaluators[{index}]")))
    return checks


def _check(kind: str, expected: str, name: str) -> Check:
    """One string evaluator as a promptfoo assertion (named by the evaluator: promptfoo's metric)."""
    def make(values: dict[str, str]) -> dict[str, Any]:
        wanted = _fill(expected, values)
        if kind == "contains":
            return {"type": "icontains", "value": wanted, "metric": name}
        if kind == "equals":
            return {"type": "javascript", "value": f"output.trim() === {json.dumps(wanted)}", "metric": name}
        method = "startsWith" if kind == "startsWith" else "endsWith"
        return {"type": "javascript", "value": f"output.trim().toLowerCase().{method}({json.dumps(wanted.lower())})",
                "metric": name}
    return make


def tests_text(prompt_id: str, source_name: str, tests: list[dict[str, Any]]) -> str:
    """evals/tests/<id>.yml in the template's shape (every value JSON-quoted: no YAML trap)."""
    lines = [f"# Tests of prompts/{prompt_id}, imported by `promptlane import` from the testData and evaluators",
             f"# of {source_name}. Each test is in the {DEFAULT_CATEGORY} category (what a string evaluator",
             "# checks); move a test to hallucination, cost or safety where that says better what it checks."]
    for test in tests:
        lines += ["", f"- description: {yaml_scalar(test['description'])}", f"  metadata: {{category: {DEFAULT_CATEGORY}}}"]
        lines += ["  vars:"] + [f"    {name}: {yaml_scalar(value)}" for name, value in test["vars"].items()] \
            if test["vars"] else ["  vars: {}"]
        lines += ["  assert:"]
        for check in test["assert"]:
            lines += [f"    - type: {check['type']}", f"      value: {yaml_scalar(check['value'])}",
                      f"      metric: {yaml_scalar(check['metric'])}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- export


def write(served: Served) -> str:
    served.one_call('GitHub Models (.prompt.yml)')  # a chain is refused (PL823): the file holds one model call
    unknown = [key for key in served.params if key not in PARAMETERS.values()]
    if unknown:
        raise Refused([served.problem("PL822", f"model.params.{key}: a .prompt.yml carries maxTokens, temperature and topP "
                                      "only (gh-models sends nothing else); export another format", "payload", "model", "params", key)
                       for key in unknown])
    model = served.model
    lines = [f"name: {yaml_scalar(served.title)}", f"description: {yaml_scalar(served.stamp())}",
             f"model: {yaml_scalar(model['provider'] + '/' + model['name'])}"]
    if served.params:
        lines.append(f"modelParameters: {yaml_map(params_out(served.params, PARAMETERS))}")
    lines.append("messages:")
    for step in served.steps:
        content = "".join("{{" + value + "}}" if kind == "var" else value for kind, value in split_text(step["text"]))
        lines += [f"  - role: {step['role']}", f"    content: {_block(content)}"]
    return "\n".join(lines) + "\n"


def _block(text: str) -> str:
    """A literal block (``|-``) where it reads back exactly, a JSON-quoted string otherwise."""
    import yaml  # the core's YAML parser (yamltext reads with it too)

    if text and "\r" not in text and not text[:1].isspace() and text == text.rstrip():
        block = "|-\n" + "\n".join(("      " + line) if line else "" for line in text.split("\n"))
        try:
            if yaml.safe_load("content: " + block) == {"content": text}:
                return block
        except yaml.YAMLError:
            pass
    return yaml_scalar(text)
