"""Chains (issue 19): a card with ``calls:``, its payload and hash, its checks and bumps."""
from __future__ import annotations

import pytest

from promptlane.core import calls, hashing

MODEL = {"provider": "openai", "name": "gpt-4o-mini", "params": {"temperature": 0.2, "max_tokens": 300}}
CALLS = [
    {"name": "extract", "steps": [{"name": "system", "role": "system", "file": "extract-system.md"},
                                  {"name": "user", "role": "user", "file": "extract-user.md"}]},
    {"name": "draft", "model": {"name": "gpt-4o"}, "params": {"max_tokens": 500},
     "steps": [{"name": "system", "role": "system", "file": "draft-system.md"},
               {"name": "user", "role": "user", "file": "draft-user.md"}]},
]
TEXTS = [["Extract the facts.\r\n", "{{ message }}\n"], ["Write to {{ customer_name }}.", "Facts: {{ extract.output }}\n\n"]]


def chain_payload(texts=TEXTS, model=MODEL, chain=CALLS, variables=("message", "customer_name")):
    return hashing.build_chain_payload(model, chain, texts, variables)


# --- the uniform view (core/calls.py) ---------------------------------------------------------

def test_a_single_call_payload_is_one_unnamed_call():
    payload = hashing.build_payload(MODEL, [{"name": "user", "role": "user"}], ["Hi {{ x }}\n"], ["x"])
    assert not calls.is_chain(payload)
    assert calls.calls_of(payload) == [calls.Call(None, payload["model"], [{"name": "user", "role": "user", "text": "Hi {{ x }}"}])]


def test_a_chain_payload_is_its_calls_with_resolved_models():
    payload = chain_payload()
    assert calls.is_chain(payload)
    extract, draft = calls.calls_of(payload)
    assert extract.name == "extract" and extract.model == MODEL
    assert draft.name == "draft"
    assert draft.model == {"provider": "openai", "name": "gpt-4o", "params": {"temperature": 0.2, "max_tokens": 500}}
    assert draft.texts == ["Write to {{ customer_name }}.", "Facts: {{ extract.output }}"]
    assert extract.texts == ["Extract the facts.", "{{ message }}"]


def test_calls_of_refuses_what_is_not_a_payload():
    with pytest.raises(ValueError, match="not a promptlane payload"):
        calls.calls_of({"format": "something/9"})


def test_resolve_model_takes_provider_and_name_from_the_call_and_merges_params():
    assert hashing.resolve_model(MODEL, {"model": {"provider": "anthropic"}}) == \
        {"provider": "anthropic", "name": "gpt-4o-mini", "params": MODEL["params"]}
    assert hashing.resolve_model(MODEL, {"params": {"temperature": 0}}) == \
        {"provider": "openai", "name": "gpt-4o-mini", "params": {"temperature": 0, "max_tokens": 300}}
    assert hashing.resolve_model({"provider": "p", "name": "n"}) == {"provider": "p", "name": "n", "params": {}}


@pytest.mark.parametrize("text, expected", [
    ("{{ extract.output }}", {"extract": (1, 1)}),
    ("a\nb {{extract.output}} {{- draft.output -}}", {"extract": (2, 3), "draft": (2, 22)}),
    ("{{ x.output }} {{ x.output }}\n{{ y.output | trim }}", {"x": (1, 1), "y": (2, 1)}),
    ("{{ extract }} {{ extract.result }} {{ extract.output.more }} { extract.output }", {}),
    ("é😀 {{ a.output }}", {"a": (1, 4)}),
])
def test_references_find_each_call_output_at_its_first_use(text, expected):
    assert calls.references(text) == expected


def test_a_call_output_reference_is_not_a_variable():
    from promptlane.core.card import placeholders

    assert placeholders("{{ extract.output }} {{ message }}") == {"message": (1, 22)}


# --- the chain payload and its hash ----------------------------------------------------------

def test_chain_payload_has_the_documented_shape():
    payload = chain_payload()
    assert list(payload) == ["format", "calls", "variables"]
    assert payload["format"] == "promptlane-chain/1"
    assert [list(call) for call in payload["calls"]] == [["name", "model", "steps"]] * 2
    assert payload["variables"] == ["customer_name", "message"]


def test_chain_hash_uses_the_fast_path_only_where_it_equals_rfc8785():
    import rfc8785

    for payload in (chain_payload(), chain_payload(model={**MODEL, "params": {"top_p": 1e-7, "t": 1.0}})):
        assert hashing.canonical_bytes(payload) == rfc8785.dumps(payload)


@pytest.mark.parametrize("change", [
    lambda: chain_payload(texts=[TEXTS[0], ["Write to {{ customer_name }}!", TEXTS[1][1]]]),
    lambda: chain_payload(model={**MODEL, "params": {"temperature": 0.3}}),
    lambda: chain_payload(chain=[CALLS[0], {**CALLS[1], "params": {}}]),
    lambda: chain_payload(chain=[CALLS[0], {**CALLS[1], "name": "write"}]),
    lambda: chain_payload(chain=[CALLS[1], CALLS[0]], texts=[TEXTS[1], TEXTS[0]]),
    lambda: chain_payload(variables=("message",)),
])
def test_behaviour_changes_change_the_chain_hash(change):
    assert hashing.payload_hash(change()) != hashing.payload_hash(chain_payload())


def test_a_call_that_restates_the_card_model_hashes_as_one_that_inherits_it():
    restated = [CALLS[0], {**CALLS[1], "model": {"provider": "openai", "name": "gpt-4o"}, "params": {"max_tokens": 500, "temperature": 0.2}}]
    assert hashing.payload_hash(chain_payload(chain=restated)) == hashing.payload_hash(chain_payload())
