"""The promptfoo config of one prompt, written to a temp folder, checked before anything runs.

- prompts:   the card's steps as chat messages (``render.py`` + ``steps.json``: the texts exactly
             as hashed, read once by ``read_card``, so the eval runs the payload it is bound to);
             its ``config`` carries ``promptlane_prompt`` and ``promptlane_hash`` into the results.
- providers: ``providers`` of evals/eval-config.promptfoo.yml when it has them (the repository's
             override, e.g. an offline stand-in), else one from the card's model.
- tests:     evals/tests/<id>.yml, each with ``metadata.category``; plus ``defaultTest`` and
             ``evaluateOptions`` of the repository config.

A chain card (``calls:``) runs the whole chain in each test: its prompt is every call rendered
at once (``render_calls`` + ``calls.json``), and every test's ``provider`` is the chain provider
(``chain.mjs``), which runs the calls in order through the model provider: the provider under
evaluation (the eval config's), else, running each card's own model, each call's own model (one
provider per call in its ``config.calls``; the run's one provider is then the chain provider,
labelled as ``card_provider`` names the chain's models). A single-call card's config is as it
always was.

The providers that answer are the ones the results record: a test's own ``provider:`` and the
eval config's ``defaultTest.provider`` are refused (PL345), for a chain and a single call alike
(promptfoo 0.121 answers a test with either, while its results name the run's provider).

promptfoo resolves relative ``file://`` paths against its config's folder, which here is the
temp folder, so every relative ``file://`` in the carried parts is made absolute against evals/
(the folder the repository's own config resolves them against). Each one must exist: promptfoo
hangs for minutes on a missing provider file instead of failing.
"""
from __future__ import annotations

import glob
import json
import shutil
from pathlib import Path
from typing import Any

from promptlane.core.evalinputs import (  # noqa: F401  (EVAL_CONFIG, CARRIED, tests_rel, card_provider: this module's API too)
    CARRIED,
    EVAL_CONFIG,
    EVALS,
    NOT_PATHS,
    CHAIN_CALLS,
    card_provider,
    labelled,
    PROVIDER_KEYS,
    not_json,
    not_json_message,
    provider_list,
    unknown_provider_keys,
    ref_target,
    strings,
    tests_rel,
)
from promptlane.core.calls import calls_of, is_chain
from promptlane.core.problems import Problem, UsageError
from promptlane.core.evaltests import OWN_PROVIDER, tests_problems
from promptlane.core.suggest import did_you_mean
from promptlane.core.yamltext import locate
from promptlane.evals.render import CALLS_FILE, STEPS_FILE
from promptlane.store.yamlfile import load_file

CONFIG_NAME = "promptfooconfig.json"
PROMPT_NAME = "prompt.py"
CHAIN_NAME = "chain.mjs"  # the chain provider (a copy of this package's chain.mjs)
CHAIN_LABEL = "promptlane-chain"


class EvalSetupError(UsageError):
    """The eval cannot start: missing files, bad tests, no promptfoo (exit 2)."""


def build(repo, card, workdir: Path) -> Path:
    """Write the config, the prompt function and the steps into ``workdir``; return the config path."""
    carried = repo_parts(repo)
    tests = _tests(repo, card, carried.get("defaultTest"))
    chain = is_chain(card.payload)
    configured = carried.pop("providers", None)
    providers = configured or provider_list(None, card)
    prompt = {
        "id": f"file://{workdir / PROMPT_NAME}:{'render_calls' if chain else 'render'}",
        "label": card.prompt_id,
        "config": {"promptlane_prompt": card.prompt_id, "promptlane_hash": card.hash},
    }
    if chain:
        providers, tests = _chained(workdir, None if configured else providers[0], providers, tests)
    doc = {"description": f"promptlane {card.prompt_id} {card.hash[:19]}", "prompts": [prompt],
           "providers": providers, "tests": tests, **carried}
    shutil.copyfile(Path(__file__).with_name("render.py"), workdir / PROMPT_NAME)
    if chain:
        shutil.copyfile(Path(__file__).with_name(CHAIN_NAME), workdir / CHAIN_NAME)
        calls = [{"name": call.name, "steps": call.steps} for call in calls_of(card.payload)]
        (workdir / CALLS_FILE).write_text(json.dumps(calls, ensure_ascii=False), encoding="utf-8")
    else:
        (workdir / STEPS_FILE).write_text(json.dumps(card.payload["steps"], ensure_ascii=False), encoding="utf-8")
    path = workdir / CONFIG_NAME
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def _chained(workdir: Path, own_model: dict | None, providers: list, tests: list) -> tuple[list, list]:
    """A chain's providers and tests: each test's provider is the chain provider (module
    docstring). ``own_model``: the card's own provider (card_provider) when no eval config
    names providers, whose config holds one provider per call. The tests have no provider of
    their own, nor does defaultTest (PL345, refused before this)."""
    wrapper = f"file://{workdir / CHAIN_NAME}"
    per_call = None
    if own_model is not None:
        per_call = own_model["config"][CHAIN_CALLS]
        providers = [{"id": wrapper, "label": own_model["label"], "config": {"calls": per_call}}]
    config = {"calls": per_call} if per_call else {}
    return providers, [{**test, "provider": {"id": wrapper, "label": CHAIN_LABEL, "config": config}} for test in tests]


def _load_yaml(repo, rel: str):
    loaded = load_file(str(repo.root / rel), rel)
    if loaded.problems:
        raise EvalSetupError(f"{rel} cannot be read", loaded.problems)
    return loaded


def repo_parts(repo) -> dict:
    """providers / defaultTest / evaluateOptions of the repository config, file:// made absolute."""
    if not (repo.root / EVAL_CONFIG).is_file():
        return {}
    loaded = _load_yaml(repo, EVAL_CONFIG)
    if loaded.data is None:  # empty, comments only, or `null`: a truncated file, not "no override"
        raise EvalSetupError(f"{EVAL_CONFIG} is empty", [Problem(EVAL_CONFIG, 1, 1, "PL324", (
            "is empty; give it `providers:` (the template's is an offline stand-in), "
            "or delete the file to run each card's own model"))])
    if not isinstance(loaded.data, dict):
        raise EvalSetupError(f"{EVAL_CONFIG} is not a mapping", [Problem(EVAL_CONFIG, 1, 1, "PL324", "must be a promptfoo config (a YAML mapping)")])
    parts = {key: loaded.data[key] for key in CARRIED if loaded.data.get(key) is not None}
    providers = loaded.data.get("providers")  # `providers:` left empty is refused too, not ignored
    if "providers" in loaded.data and not (isinstance(providers, (list, str)) and providers):
        line, col = _where(loaded.text, ["providers"])
        raise EvalSetupError("bad providers", [Problem(EVAL_CONFIG, line, col, "PL324", "providers: must be a non-empty list of promptfoo providers (or leave it out to use each card's model)")])
    _refuse_not_json(loaded.text, {key: loaded.data[key] for key in CARRIED if key in loaded.data})
    _refuse_unknown_provider_keys(loaded.text, providers)
    _refuse_default_provider(loaded.text, loaded.data.get("defaultTest"))
    if providers is not None:
        parts["providers"] = provider_list(providers, card=None)
    _refuse_missing_files(repo, EVAL_CONFIG, loaded.text, parts, ())
    return absolutise(parts, repo.root / EVALS)


def _refuse_not_json(text: str, carried: dict) -> None:
    """PL350: a value promptfoo's JSON config cannot hold (YAML's dates), before it crashes the run."""
    problems = [Problem(EVAL_CONFIG, *_where(text, list(path)), "PL350", not_json_message(path, what, shown))
                for path, what, shown in not_json(carried)]
    if problems:
        raise EvalSetupError(f"{EVAL_CONFIG} has values a promptfoo config cannot hold", problems)


def _refuse_default_provider(text: str, default_test: Any) -> None:
    """PL345: ``defaultTest.provider`` would answer every test while the results name ``providers:``."""
    if isinstance(default_test, dict) and "provider" in default_test:
        raise EvalSetupError(f"{EVAL_CONFIG} names a provider the results would not record", [Problem(
            EVAL_CONFIG, *_where_key(text, ["defaultTest"], "provider"), "PL345",
            f"defaultTest.provider: {OWN_PROVIDER.format(what='every test')}")])


def _refuse_unknown_provider_keys(text: str, providers: Any) -> None:
    """PL351: a provider key promptfoo ignores (`confg:`), so its params would never reach the model."""
    problems = [Problem(EVAL_CONFIG, *_where_key(text, ["providers", *path], key), "PL351", (
        f"providers[{path[0]}]{''.join(f'.{p}' for p in path[1:])}.{key}: is not a key of a promptfoo provider, which "
        f"ignores it without a word{did_you_mean(key, PROVIDER_KEYS)}; a provider's keys are {', '.join(PROVIDER_KEYS)}"))
        for path, key in unknown_provider_keys(providers)]
    if problems:
        raise EvalSetupError(f"{EVAL_CONFIG} has provider keys promptfoo would ignore", problems)


def _where_key(text: str, path: list, key: str) -> tuple[int, int]:
    loc = locate(text, path, key)
    return loc.line, loc.col


def _where(text: str, path: list) -> tuple[int, int]:
    loc = locate(text, path)
    return loc.line, loc.col


def _tests(repo, card, default_test: Any) -> list:
    rel = tests_rel(card.prompt_id)
    if not (repo.root / rel).is_file():
        raise EvalSetupError(f"{card.prompt_id} has no tests", [Problem(
            rel, 1, 1, "PL320", f"does not exist; write the test cases of {card.prompt_id} there (see evals/tests/support-reply.yml in a new scaffold)")])
    loaded = _load_yaml(repo, rel)
    defaults = (default_test or {}).get("vars") if isinstance(default_test, dict) else None
    # The rules `promptlane check` applies on every commit (core/evaltests.py).
    problems = tests_problems(loaded, card.prompt_id, card.payload["variables"], defaults if isinstance(defaults, dict) else {})
    if problems:
        raise EvalSetupError(f"{rel} has bad test cases", problems)
    _refuse_missing_files(repo, rel, loaded.text, loaded.data, ())
    return absolutise(loaded.data, repo.root / EVALS)


def referenced_path(ref: str, base: Path) -> Path:
    """The file a ``file://`` reference names (without a ``:function`` suffix), absolute."""
    target = ref_target(ref)
    return Path(target) if Path(target).is_absolute() else base / target


def _refuse_missing_files(repo, rel: str, text: str, value: Any, path: tuple) -> None:
    base = repo.root / EVALS
    problems = []
    for where, string in strings(value, path):
        if not string.startswith("file://"):
            continue
        target = referenced_path(string, base)
        exists = bool(glob.glob(str(target))) if any(c in str(target) for c in "*?[") else target.is_file()
        if not exists:
            line, col = _where(text, list(where))
            problems.append(Problem(rel, line, col, "PL323", f"{string} does not exist (looked for {target}); fix the path (relative to evals/) or create the file"))
    if problems:
        raise EvalSetupError("referenced files are missing; promptfoo was not started (it would hang)", problems)


def absolutise(value: Any, base: Path) -> Any:
    """Every relative ``file://`` string inside ``value`` made absolute against ``base``."""
    if isinstance(value, str):
        if value.startswith("file://") and not Path(value[len("file://"):]).is_absolute():
            return "file://" + str(base / value[len("file://"):])
        return value
    if isinstance(value, dict):
        return {key: item if key in NOT_PATHS else absolutise(item, base) for key, item in value.items()}
    if isinstance(value, list):
        return [absolutise(item, base) for item in value]
    return value
