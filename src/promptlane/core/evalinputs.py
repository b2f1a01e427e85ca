"""What an eval run is bound to besides the payload hash (pure): its inputs, as digests.

A results file (``promptlane-eval/2``, core/results.py) records, under ``inputs``::

    {"config": "sha256:...",     # the carried parts of evals/eval-config.promptfoo.yml (providers,
                                 # defaultTest, evaluateOptions, as written) and every file a
                                 # file:// in them names (a python provider's code)
     "tests": "sha256:...",      # evals/tests/<id>.yml (its test cases, as parsed) and every file
                                 # a file:// in them names
     "providers": "sha256:...",  # the providers the run used: ids and config (the eval config's,
                                 # else the card's own model)
     "provider_ids": ["file://providers/local_echo.py"],
     "bound": "eval run"}        # who bound them: `eval run`, or `eval import --current-inputs`

Paths stay as written (relative to evals/), so a clone on another machine computes the same
digests; a referenced file is hashed with its line endings normalised. A referenced file that
is missing is recorded as missing (null), so results of a run that had it never match a tree
that does not. store/evalinputs.py reads the files; ``make_inputs`` is the digest.
"""
from __future__ import annotations

import datetime
import json
import math
import re
from typing import Any, Iterator

from promptlane.core.calls import calls_of, is_chain
from promptlane.core.hashing import digest_of, json_digest

EVALS = "evals"
EVAL_CONFIG = "evals/eval-config.promptfoo.yml"
CARRIED = ("providers", "defaultTest", "evaluateOptions")
INPUT_KEYS = ("config", "tests", "providers")
CHAIN_CALLS = "calls"  # a chain's card_provider: each call's own provider
CARD_MODEL = "card"  # in accept_providers: the provider the card's own model gives (card_provider)
_CODE_FILE = re.compile(r"^(.*\.(?:py|js|mjs|cjs|ts))(?::[A-Za-z_][\w.]*)?$")
_PROVIDER_IDS = {
    "openai": "openai:chat:{name}", "azure": "azure:chat:{name}", "anthropic": "anthropic:messages:{name}",
    "ollama": "ollama:chat:{name}", "google": "google:{name}", "vertex": "vertex:{name}",
}
# Names, not paths: a label may well read "file://providers/x.py" (the id as written).
NOT_PATHS = ("label", "description")


def tests_rel(prompt_id: str) -> str:
    return f"{EVALS}/tests/{prompt_id}.yml"


def model_provider(model: Any) -> dict[str, Any]:
    """A promptfoo provider for a resolved model, e.g. ``openai:chat:gpt-4o-mini`` + its params."""
    template = _PROVIDER_IDS.get(model["provider"].lower(), model["provider"] + ":{name}")
    provider_id = template.format(name=model["name"])
    return {"id": provider_id, "label": provider_id, "config": dict(model["params"])}


def card_provider(card: Any) -> dict[str, Any]:
    """A promptfoo provider for the card's model, e.g. ``openai:chat:gpt-4o-mini`` + its params.

    A chain's is named by its calls' models: the one id when every call has the same
    provider, else each call's in order joined by " > "; its ``config`` holds each call's
    own provider under CHAIN_CALLS, which the chain provider runs (evals/config.py)."""
    calls = calls_of(card.payload)
    if not is_chain(card.payload):
        return model_provider(calls[0].model)
    per_call = {str(call.name): model_provider(call.model) for call in calls}
    ids = [entry["id"] for entry in per_call.values()]
    name = ids[0] if len(set(ids)) == 1 else " > ".join(ids)
    return {"id": name, "label": name, "config": {CHAIN_CALLS: {call: {"id": entry["id"], "config": entry["config"]}
                                                               for call, entry in per_call.items()}}}


def labelled(provider: Any) -> Any:
    """Label each provider with its id as written, so results name it without temp-folder paths."""
    if isinstance(provider, str):
        return {"id": provider, "label": provider}
    if isinstance(provider, dict) and isinstance(provider.get("id"), str) and not provider.get("label"):
        return {**provider, "label": provider["id"]}
    return provider


def provider_list(configured: Any, card: Any) -> list[Any]:
    """The providers a run uses: the eval config's (labelled), else the card's own model."""
    if configured:
        return [labelled(p) for p in ([configured] if isinstance(configured, str) else configured)]
    return [card_provider(card)]


def provider_id(provider: Any) -> str:
    if isinstance(provider, dict) and isinstance(provider.get("id"), str):
        return str(provider["id"])
    return provider if isinstance(provider, str) else json.dumps(provider, sort_keys=True, default=str)


def strings(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every string inside ``value`` with its path (labels and descriptions left out)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in NOT_PATHS:
                yield from strings(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, path + (index,))


def not_json(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    """Every value inside ``value`` that promptfoo's JSON config cannot hold: its path, what YAML
    made of it and its text. An unquoted ``apiVersion: 2024-10-21`` (Azure's examples) is a date."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from not_json(key, path + (key,))  # a key `2024-10-21:` is a date as well
            yield from not_json(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from not_json(item, path + (index,))
    elif isinstance(value, datetime.date):  # datetime too
        yield path, "is a date to YAML", value.isoformat()
    elif isinstance(value, float) and not math.isfinite(value):
        yield path, "is not a finite number", str(value)
    elif not isinstance(value, (str, int, float, type(None))):  # bool is an int
        yield path, f"is a {type(value).__name__} to YAML", str(value)


def not_json_message(path: tuple[Any, ...], what: str, text: str) -> str:
    """What PL350 says about one value ``not_json`` found."""
    return f"{dotted(path)}: {text} {what}, which promptfoo's config (JSON) cannot hold; quote it (\"{text}\") to keep it a string"


# The keys of a promptfoo 0.121 provider (its ProviderOptionsSchema). promptfoo drops any other
# without a word: a `confg:` would send the model none of its params and no base URL.
PROVIDER_KEYS = ("id", "label", "config", "prompts", "transform", "delay", "env", "inputs")


def unknown_provider_keys(providers: Any) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path, key) of each key of a provider in ``providers`` (a list, as written) promptfoo does
    not know; a provider may be a mapping with an ``id`` or ``{"<id>": {options}}``."""
    for index, provider in enumerate(providers if isinstance(providers, list) else []):
        if not isinstance(provider, dict):
            continue
        path: tuple[Any, ...] = (index,)
        if "id" not in provider and len(provider) == 1 and isinstance(next(iter(provider.values())), dict):
            key = next(iter(provider))
            path, provider = (index, key), provider[key]
        for key in provider:
            if key not in PROVIDER_KEYS:
                yield path, str(key)


def dotted(path: tuple[Any, ...]) -> str:
    """``providers[0].config.apiVersion``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def file_refs(value: Any) -> list[str]:
    """The ``file://`` references inside ``value``, each once, in order."""
    return list(dict.fromkeys(s for _, s in strings(value) if s.startswith("file://")))


def ref_target(ref: str) -> str:
    """The path a ``file://`` reference names, without a ``:function`` suffix."""
    target = ref[len("file://"):]
    match = _CODE_FILE.match(target)
    return match.group(1) if match else target


def digest(value: Any) -> str:
    """sha256 of ``value`` as canonical JSON."""
    return json_digest(value)


def file_digest(raw: bytes) -> str:
    return digest_of(raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))


def make_inputs(config_parts: dict[str, Any], config_files: dict[str, Any], tests: Any, tests_files: dict[str, Any],
                providers: list[Any], bound: str = "eval run") -> dict[str, Any]:
    """The ``inputs`` mapping of a results file (module docstring)."""
    return {
        "config": digest({"carried": config_parts, "files": config_files}),
        "tests": digest({"tests": tests, "files": tests_files}),
        "providers": digest(providers),
        "provider_ids": [provider_id(p) for p in providers],
        "bound": bound,
    }


# promptfoo providers that run a local program rather than call a model: a card's model names
# none of them, so `card` in accept_providers never accepts one (list it explicitly, a governed
# change, if a team really evaluates against a script).
PROGRAM_PROVIDERS = ("exec", "python", "file", "script", "golang", "ruby", "javascript", "js", "sequence", "echo",
                     "manual-input")


def accepted_providers(accept: tuple[str, ...], card: Any) -> list[str]:
    """The provider ids a rule's ``accept_providers`` names, ``card`` read as the card's own model
    (none when the card's model provider is a local program: PROGRAM_PROVIDERS)."""
    program = card.payload and any(str(call.model["provider"]).lower().split(":")[0] in PROGRAM_PROVIDERS
                                   for call in calls_of(card.payload))
    own: str | None = str(card_provider(card)["id"]) if card.payload and not program else None
    names = [own if name == CARD_MODEL else name for name in accept]
    return list(dict.fromkeys(name for name in names if name is not None))
