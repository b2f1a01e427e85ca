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
from dataclasses import dataclass
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
from promptlane.core.evaltests import OWN_PROMPTS, OWN_PROVIDER, tests_problems
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
    configured = carried.pop("providers", None)
    part = prompt_part(repo, card, workdir, carried.get("defaultTest"), configured)
    doc = {"description": f"promptlane {card.prompt_id} {card.hash[:19]}", "prompts": [part.prompt],
           "providers": part.providers, "tests": part.tests, **carried}
    return write_config(workdir, doc)


def write_config(workdir: Path, doc: dict) -> Path:
    path = workdir / CONFIG_NAME
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


@dataclass
class Part:
    """One prompt's share of a config: its prompt entry, the providers it runs against (the
    eval config's, else its own model's) and its tests, exactly as a run of it alone has them."""

    prompt: dict
    providers: list
    tests: list


def prompt_part(repo, card, folder: Path, default_test: Any, configured: list | None) -> Part:
    """Check the card's tests and write its prompt function, steps (or calls) and chain provider
    into ``folder``. ``configured``: the eval config's providers (None: the card's own model)."""
    tests = _tests(repo, card, default_test)
    chain = is_chain(card.payload)
    providers = configured or provider_list(None, card)
    prompt = {
        "id": f"file://{folder / PROMPT_NAME}:{'render_calls' if chain else 'render'}",
        "label": card.prompt_id,
        "config": {"promptlane_prompt": card.prompt_id, "promptlane_hash": card.hash},
    }
    if chain:
        providers, tests = _chained(folder, None if configured else providers[0], providers, tests)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(__file__).with_name("render.py"), folder / PROMPT_NAME)
    if chain:
        shutil.copyfile(Path(__file__).with_name(CHAIN_NAME), folder / CHAIN_NAME)
        calls = [{"name": call.name, "steps": call.steps} for call in calls_of(card.payload)]
        (folder / CALLS_FILE).write_text(json.dumps(calls, ensure_ascii=False), encoding="utf-8")
    else:
        (folder / STEPS_FILE).write_text(json.dumps(card.payload["steps"], ensure_ascii=False), encoding="utf-8")
    return Part(prompt, providers, tests)


@dataclass
class Member:
    """One prompt of a batch: where its tests are in the batch's ``tests`` (``first``, ``count``),
    which providers it runs against (their labels in the batch, with the label a run of it alone
    records), and so how many result rows make its whole set (``count`` times its providers)."""

    card: Any
    first: int
    count: int
    providers: int
    renamed: dict  # a provider's label in the batch -> the label a run of this prompt alone records

    @property
    def rows(self) -> int:
        return self.count * self.providers


def build_batch(repo, cards: list, workdir: Path) -> tuple[Path, list[Member], list[tuple[Any, EvalSetupError]]]:
    """One config for several prompts (``eval run`` batched, docs/evals.md): a prompt entry per
    card, each with its own prompt function and steps in ``workdir/prompts/<id>/``, label = the
    prompt id; each card's tests run against its own prompt only (``prompts: [id]``: promptfoo
    matches a label exactly, or by a prefix ending in ``:`` or ``*``, which a prompt id cannot
    hold); the eval config's providers for every prompt, or
    each card's own model restricted to the prompts that use it. Returns the config, the members
    and the cards whose part could not be built (each with the error a run of it alone raises).
    EvalSetupError: the eval config itself is bad (every prompt would fail alike)."""
    carried = repo_parts(repo)
    configured = carried.pop("providers", None)
    members: list[Member] = []
    refused: list[tuple[Any, EvalSetupError]] = []
    prompts: list[dict] = []
    tests: list[dict] = []
    own: dict[str, dict] = {}  # the batch's label -> a provider of the cards' own models, with its prompts
    ids = set() if configured else {str(p.get("id")) for card in cards for p in _own_models(card)}
    for card in cards:
        try:
            part = prompt_part(repo, card, workdir / "prompts" / card.prompt_id, carried.get("defaultTest"), configured)
        except EvalSetupError as exc:
            refused.append((card, exc))
            continue
        ref = card.prompt_id  # its label: no other label equals it, and none has a `:` or `*` to match by
        renamed = {} if configured else {_share(own, provider, ref, ids): _label(provider) for provider in part.providers}
        members.append(Member(card, len(tests), len(part.tests), len(part.providers), renamed))
        prompts.append(part.prompt)
        tests += [{**test, "prompts": [ref]} for test in part.tests]
    providers = configured if configured else [{k: v for k, v in p.items() if k != "original"} for p in own.values()]
    doc = {"description": f"promptlane batch of {len(members)} prompts", "prompts": prompts,
           "providers": providers, "tests": tests, **carried}
    return write_config(workdir, doc), members, refused


def _own_models(card) -> list:
    try:
        return [p for p in provider_list(None, card) if isinstance(p, dict)]
    except (KeyError, TypeError, ValueError):
        return []


def _label(provider: Any) -> str:
    return str(provider.get("label") or provider.get("id")) if isinstance(provider, dict) else str(provider)


def _share(own: dict[str, dict], provider: dict, ref: str, ids: set[str]) -> str:
    """Put ``provider`` (a card's own model) into ``own`` for the prompt ``ref``; return its
    label in the batch. The same provider (id, config) is shared; each distinct one is labelled
    ``<label> #N``, never a provider's id: promptfoo keys a provider's ``prompts:`` by its id and
    by its label alike, so two providers of one id (other params) must differ by label, and no
    label may be an id another provider's list would overwrite."""
    same = {k: v for k, v in provider.items() if k != "label"}
    for taken, entry in own.items():
        if {k: v for k, v in entry.items() if k not in ("label", "prompts", "original")} == same and entry["original"] == _label(provider):
            entry["prompts"].append(ref)
            return taken
    number = len(own) + 1
    while f"{_label(provider)} #{number}" in ids or f"{_label(provider)} #{number}" in own:
        number += 1
    taken = f"{_label(provider)} #{number}"
    own[taken] = {**provider, "label": taken, "prompts": [ref], "original": _label(provider)}
    return taken


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
    _refuse_prompt_filters(loaded.text, loaded.data.get("defaultTest"), providers)
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


def _refuse_prompt_filters(text: str, default_test: Any, providers: Any) -> None:
    """PL348: ``defaultTest.prompts`` or a provider's ``prompts:`` would choose which prompts run
    against what; ``eval run`` restricts each prompt's tests (and each card's own model) itself."""
    problems = []
    if isinstance(default_test, dict) and "prompts" in default_test:
        problems.append(Problem(EVAL_CONFIG, *_where_key(text, ["defaultTest"], "prompts"), "PL348",
                                f"defaultTest.prompts: {OWN_PROMPTS.format(what='every test')}"))
    for index, provider in enumerate(providers if isinstance(providers, list) else []):
        if not isinstance(provider, dict):
            continue
        path: list[Any] = [index]
        if "id" not in provider and len(provider) == 1 and isinstance(next(iter(provider.values())), dict):
            key = next(iter(provider))
            path, provider = [index, key], provider[key]
        if "prompts" in provider:
            problems.append(Problem(EVAL_CONFIG, *_where_key(text, ["providers", *path], "prompts"), "PL348",
                                    f"providers[{index}].prompts: {OWN_PROMPTS.format(what='this provider')}"))
    if problems:
        raise EvalSetupError(f"{EVAL_CONFIG} chooses which prompts run", problems)


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
