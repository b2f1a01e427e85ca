"""Eval test files, ``evals/tests/<id>.yml``, as promptfoo reads them: one rule set that both
``promptlane check`` (on every commit) and ``promptlane eval run`` (before promptfoo starts) apply,
so a file that passes the commit also starts the run.

A test file is a non-empty YAML list of test cases, each a mapping (PL320) of promptfoo's keys
(PL342: promptfoo drops a key it does not know without a word, so an ``asert:`` would make a
test that always passes), with ``metadata.category`` one of the results' categories (PL321),
``vars`` for every variable the card declares (PL322: the prompt function refuses to render a
missing one), no var the card does not declare unless one of the test's assertions uses it
(PL340: a typo), and assertions that are mappings with a ``type`` (PL343). A test names no
``provider:`` of its own (PL345) and no ``providerOutput`` (PL346): promptfoo would answer the
test with it while the results record the run's providers, so the evidence would name a model
that never answered; no var loaded from a file or run as code (PL347), which the results are
not bound to (and a .js one gets the provider, which it can replace); and no ``prompts:`` (PL348):
``eval run`` restricts each test to its own prompt, and no test file may choose another.
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Mapping, Sequence

from promptlane.core.evalinputs import not_json, not_json_message
from promptlane.core.problems import Problem
from promptlane.core.results import CATEGORIES
from promptlane.core.suggest import closest, did_you_mean
from promptlane.core.yamltext import Loaded, Locator

# promptfoo 0.121's TestCaseSchema and AssertionSchema (with assert-set's ``assert``).
TEST_KEYS = ("description", "vars", "provider", "providers", "prompts", "providerOutput", "assert",
             "assertScoringFunction", "options", "threshold", "metadata")
ASSERTION_KEYS = ("type", "value", "config", "threshold", "weight", "provider", "rubricPrompt", "metric",
                  "transform", "contextTransform", "assert")
SHAPE = "must be a non-empty YAML list of promptfoo test cases"
# PL345, for a test's `provider:` and the eval config's `defaultTest.provider` alike.
OWN_PROVIDER = ("promptfoo would answer {what} with this provider, while the results record the eval config's "
                "`providers:` (or each card's own model) as the model evaluated; remove it, and put the model to "
                "evaluate under `providers:` in evals/eval-config.promptfoo.yml (a grader for model-graded "
                "assertions goes in `options.provider` or the assertion's own `provider:`)")

# PL348, for a test's `prompts:`, the eval config's `defaultTest.prompts` and a provider's `prompts:`.
OWN_PROMPTS = ("would choose which prompts {what} runs against; `promptlane eval run` runs each prompt's tests "
               "against that prompt alone (several prompts share one promptfoo process), so a test could run "
               "against another prompt, or none, and be counted for it; remove it")


def tests_problems(loaded: Loaded, prompt_id: str, variables: Sequence[str] | None,
                   defaults: Mapping[str, Any] | None) -> list[Problem]:
    """Every problem of one parsed test file. ``variables``: the card's (None when the card is
    broken: its variables are unknown, so vars are not checked); ``defaults``: the eval config's
    ``defaultTest.vars`` (None when it cannot be read: missing vars are then not judged)."""
    if loaded.data is None and loaded.problems:
        return list(loaded.problems)  # a syntax error: nothing to walk
    found = list(loaded.problems)
    tests = loaded.data
    if not isinstance(tests, list) or not tests:
        return found + [Problem(loaded.path, 1, 1, "PL320", SHAPE)]
    places = Locator(loaded.text)
    for index, test in enumerate(tests):
        found += _test_problems(_Test(loaded.path, places, index, prompt_id), test, variables, defaults)
    for path, what, shown in not_json(tests):  # PL350: `eval run` hands the tests to promptfoo as JSON
        where = places.at(list(path))
        found.append(Problem(loaded.path, where.line, where.col, "PL350", f"[{path[0]}] {not_json_message(path[1:], what, shown)}"))
    return found


class _Test:
    """Where one test case is: its file, its index, and the lines of its keys."""

    def __init__(self, rel: str, places: Locator, index: int, prompt_id: str):
        self.rel, self.places, self.index, self.prompt_id = rel, places, index, prompt_id

    def problem(self, code: str, message: str, *path: Any, key: str | None = None) -> Problem:
        where = self.places.at([self.index, *path], key)
        return Problem(self.rel, where.line, where.col, code, f"[{self.index}]{message}")


def _test_problems(at: _Test, test: Any, variables: Sequence[str] | None, defaults: Mapping[str, Any] | None) -> list[Problem]:
    if not isinstance(test, dict):
        return [at.problem("PL320", ": a test case must be a mapping (description, metadata, vars, assert)")]
    found = [at.problem("PL342", f" {key}: is not a key of a promptfoo test case, which ignores it{did_you_mean(str(key), TEST_KEYS)}",
                        key=str(key)) for key in test if key not in TEST_KEYS]
    if "provider" in test:
        found.append(at.problem("PL345", f" provider: {OWN_PROVIDER.format(what='this test')}", key="provider"))
    if "prompts" in test:
        found.append(at.problem("PL348", f" prompts: {OWN_PROMPTS.format(what='this test')}", key="prompts"))
    if "providerOutput" in test:
        found.append(at.problem("PL346", " providerOutput: promptfoo takes it as the test's answer and calls no model, "
                                         "while the results record the run's provider as having answered; remove it "
                                         "(assertions judge what the model says)", key="providerOutput"))
    found += _loader_problems(at, test.get("vars"))
    found += _category_problems(at, test)
    found += _assertion_problems(at, test.get("assert"))
    if variables is not None:
        found += _vars_problems(at, test, variables, defaults)
    return found


# promptfoo reads a var from a file, or runs one (a .js or .py file, a package: export, called with the
# provider, which it can replace): outside what the results are bound to, so values are written inline.
LOADER = ("file://", "package:")
INLINE = ("promptfoo reads or runs it outside what the results are bound to (a .js or .py one can even "
          "replace the model); write the value in the test itself")


def _loader_problems(at: _Test, given: Any) -> list[Problem]:
    """PL347: vars loaded from a file or run as code, which the evidence does not cover."""
    if isinstance(given, (str, list)):
        return [at.problem("PL347", f" vars: {given!r} loads the test's values from a file: promptfoo reads or runs it "
                                    "outside what the results are bound to; write the values in the test itself", "vars")]
    if not isinstance(given, dict):
        return []
    return [at.problem("PL347", f" vars.{name}: {value!r} is a var promptfoo loads: {INLINE}", "vars", key=str(name))
            for name, value in given.items() if isinstance(value, str) and value.strip().startswith(LOADER)]


def _category_problems(at: _Test, test: dict[str, Any]) -> list[Problem]:
    meta = test.get("metadata")
    category = meta.get("category") if isinstance(meta, dict) else None
    if category in CATEGORIES:
        return []
    if category is None:
        path: list[Any] = ["metadata"] if "metadata" in test else []
        what = "is missing"
    else:
        path, what = ["metadata", "category"], f"is '{category}'{did_you_mean(str(category), CATEGORIES)}"
    return [at.problem("PL321", f" metadata.category {what}; use one of {', '.join(CATEGORIES)} "
                                "(the policy sets a pass rate per category)", *path)]


def _assertion_problems(at: _Test, assertions: Any) -> list[Problem]:
    if assertions is None:
        return []
    if not isinstance(assertions, list):
        return [at.problem("PL343", " assert: must be a list of assertions ({type: ..., value: ...})", "assert")]
    found = []
    for number, assertion in enumerate(assertions):
        if not isinstance(assertion, dict) or not isinstance(assertion.get("type"), str):
            found.append(at.problem("PL343", f" assert[{number}]: an assertion must be a mapping with a type "
                                             "(https://promptfoo.dev/docs/configuration/expected-outputs/)", "assert", number))
            continue
        found += [at.problem("PL343", f" assert[{number}].{key}: is not a key of a promptfoo assertion, which ignores it"
                                      f"{did_you_mean(str(key), ASSERTION_KEYS)}", "assert", number, key=str(key))
                  for key in assertion if key not in ASSERTION_KEYS]
    return found


def _vars_problems(at: _Test, test: dict[str, Any], variables: Sequence[str], defaults: Mapping[str, Any] | None) -> list[Problem]:
    given = test.get("vars", {})
    if not isinstance(given, dict):
        return []  # a file:// or a list of them: promptfoo reads the values (PL323 checks the file is there)
    found, meant = [], set()
    used = "\n".join(_strings([test.get("assert"), test.get("options")]))
    for key in given:
        name = str(key)
        if name in variables or re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", used):
            continue  # declared, or an assertion's own (`{{ expected }}`, `context.vars.expected`)
        hint = closest(name, variables)
        meant.add(hint)
        found.append(at.problem("PL340", f" vars.{name}: prompts/{at.prompt_id} declares no such variable "
                                         f"(variables: {', '.join(variables) or 'none'}) and no assertion of this test uses it"
                                         f"{did_you_mean(name, variables)}", "vars", key=name))
    for name in variables:
        if name not in given and name not in meant and defaults is not None and name not in defaults:
            found.append(at.problem("PL322", f" vars: gives no value for {{{{ {name} }}}}, which prompts/{at.prompt_id} uses",
                                    key="vars"))  # at the vars: key (or the test, without one)
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
