"""Chains (issue 19): a card with ``calls:``, its payload and hash, its checks and bumps."""
from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import CHAIN_CALLS
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
    ("a\nb {{extract.output}} {{\tdraft.output\n}}", {"extract": (2, 3), "draft": (2, 22)}),
    ("{{ x.output }} {{ x.output }}\n{{ y.output }}", {"x": (1, 1), "y": (2, 1)}),
    ("{{- x.output -}} {{ y.output | trim }}", {}),  # loose forms: no reference (PL145 refuses them)
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


# --- a chain card on disk: check and sync report each problem at its file:line:col ------------

CHAIN_CARD = """\
# A chain (test fixture)
id: support-chain
title: Support reply, in two calls
owner: team-support
risk: medium
model:
  provider: openai
  name: gpt-4o-mini
  params: {temperature: 0.2, max_tokens: 300}
variables: [customer_name, message]
""" + CHAIN_CALLS
CHAIN_TEXTS = {
    "extract-system.md": "List the facts of the customer's message.\n",
    "extract-user.md": "{{ message }}\n",
    "draft-system.md": "Write a short, polite reply to {{ customer_name }}.\n",
    "draft-user.md": "Facts:\n{{ extract.output }}\n",
}
CHAIN_FILE = "prompts/support-chain/card.yml"


def chain_card(old: str = "", new: str = "") -> str:
    assert old in CHAIN_CARD, old
    return CHAIN_CARD.replace(old, new, 1)


def texts(**changed: str) -> dict[str, str]:
    return {**CHAIN_TEXTS, **{name.replace("_", "-") + ".md": text for name, text in changed.items()}}


def write_chain(root, card: str = CHAIN_CARD, files: dict | None = None):
    folder = root / "prompts" / "support-chain"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "card.yml").write_text(card, encoding="utf-8")
    for name, text in (CHAIN_TEXTS if files is None else files).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


# (name, card text, texts, expected "path:line:col: CODE" prefix, a phrase of the message)
CHAIN_CATALOGUE = [
    ("one-call", CHAIN_CARD.split("  - name: draft")[0], None,
     f"{CHAIN_FILE}:12:3: PL103", "write the steps of one call under steps:"),
    ("steps-and-calls", chain_card("calls:", "steps:\n  - {name: s, role: system, file: extract-system.md}\ncalls:"), None,
     f"{CHAIN_FILE}:13:1: PL103", "never both"),
    ("neither", CHAIN_CARD.split("calls:")[0], None,
     f"{CHAIN_FILE}:2:1: PL106", "missing required key 'steps' (or 'calls' for a chain)"),
    ("bad-call-name", chain_card("name: draft", "name: Draft-2"), None,
     f"{CHAIN_FILE}:16:11: PL103", "is not a call name"),
    ("unknown-call-key", chain_card("    params: {max_tokens: 500}", "    parms: {max_tokens: 500}"), None,
     f"{CHAIN_FILE}:18:5: PL105", "unknown key 'parms'"),
    ("call-model-key", chain_card("model: {name: gpt-4o}", "model: {name: gpt-4o, temperature: 1}"), None,
     f"{CHAIN_FILE}:17:27: PL105", "calls[1].model: unknown key 'temperature'"),
    ("bad-call-param", chain_card("params: {max_tokens: 500}", "params: {max_tokens: 0}"), None,
     f"{CHAIN_FILE}:18:26: PL103", "calls[1].params.max_tokens"),
    ("call-without-steps", chain_card("    steps:\n      - {name: system, role: system, file: draft-system.md}\n"
                                      "      - {name: user, role: user, file: draft-user.md}\n", ""), None,
     f"{CHAIN_FILE}:16:5: PL106", "calls[1]: missing required key 'steps'"),
    ("duplicate-call-name", chain_card("name: draft", "name: extract"), None,
     f"{CHAIN_FILE}:16:11: PL136", "call 'extract' appears twice"),
    ("call-named-like-a-variable", chain_card("name: draft", "name: message"), None,
     f"{CHAIN_FILE}:16:11: PL137", "'message' is also a variable"),
    ("duplicate-step-in-a-call", chain_card("{name: user, role: user, file: draft-user.md}",
                                            "{name: system, role: user, file: draft-user.md}"), None,
     f"{CHAIN_FILE}:21:16: PL134", "calls[1].steps[1].name: step 'system' appears twice in call 'draft'"),
    ("same-step-names-in-two-calls-are-fine-but-a-text-is-missing", CHAIN_CARD,
     {k: v for k, v in CHAIN_TEXTS.items() if k != "draft-user.md"},
     f"{CHAIN_FILE}:21:40: PL130", "calls[1].steps[1].file: 'draft-user.md' does not exist"),
    ("text-outside-the-folder", chain_card("file: draft-user.md", "file: ../x/draft-user.md"), None,
     f"{CHAIN_FILE}:21:40: PL131", "calls[1].steps[1].file: '../x/draft-user.md' points outside"),
    ("reference-to-a-later-call", CHAIN_CARD, texts(extract_user="{{ message }}\nsee {{ draft.output }}\n"),
     "prompts/support-chain/extract-user.md:2:5: PL143", "call 'draft' runs after it"),
    ("reference-to-itself", CHAIN_CARD, texts(draft_user="{{draft.output}}\n{{ extract.output }}\n"),
     "prompts/support-chain/draft-user.md:1:1: PL143", "is its own output"),
    ("reference-to-an-unknown-call", CHAIN_CARD, texts(draft_user="Facts: {{ extrct.output }}\n"),
     "prompts/support-chain/draft-user.md:1:8: PL142", "did you mean {{ extract.output }}?"),
    ("reference-in-the-first-call", CHAIN_CARD, texts(extract_system="{{ prior.output }}\n"),
     "prompts/support-chain/extract-system.md:1:1: PL142", "'extract' is the first call"),
    ("not-output", CHAIN_CARD, texts(draft_user="Facts: {{ extract.output }} {{ extract.text }}\n"),
     "prompts/support-chain/draft-user.md:1:29: PL144", "write {{ extract.output }}"),
    ("call-used-as-a-variable", CHAIN_CARD, texts(draft_user="Facts: {{ extract }}\n"),
     "prompts/support-chain/draft-user.md:1:8: PL141", "'extract' is a call: its output is {{ extract.output }}"),
    ("undeclared-variable-in-the-second-call", CHAIN_CARD, texts(draft_system="Reply to {{ custmer_name }}. {{ customer_name }}\n"),
     "prompts/support-chain/draft-system.md:1:10: PL141", "did you mean 'customer_name'?"),
    ("variable-no-call-uses", chain_card("[customer_name, message]", "[customer_name, message, tone]"), None,
     f"{CHAIN_FILE}:10:37: PL140", "'tone' is declared but no step text uses"),
]


@pytest.mark.parametrize("name,card,files,expected,phrase", CHAIN_CATALOGUE, ids=[c[0] for c in CHAIN_CATALOGUE])
@pytest.mark.parametrize("command", ["check", "sync"])
def test_a_bad_chain_card_is_reported_at_its_line_and_nothing_changes(tmp_path, capsys, name, card, files, expected, phrase, command):
    from conftest import run_cli, snapshot_tree

    root = tmp_path / "repo"
    write_chain(root, card, files)
    before = snapshot_tree(root)
    code, out = run_cli(root, command, capsys=capsys)
    assert code == 1, out
    assert any(line.startswith(expected) and phrase in line for line in out.splitlines()), out
    assert snapshot_tree(root) == before


# --- bumps (core/semver.py) ------------------------------------------------------------------

def test_classify_change_of_chains():
    from promptlane.core.semver import classify_change

    base = chain_payload()
    single = hashing.build_payload(MODEL, CALLS[0]["steps"], TEXTS[0], ["message", "customer_name"])
    third = {"name": "polish", "steps": [{"name": "user", "role": "user"}]}
    cases = {
        "patch": [chain_payload(texts=[TEXTS[0], ["Write to {{ customer_name }}!", TEXTS[1][1]]])],
        "minor": [
            chain_payload(chain=[*CALLS, third], texts=[*TEXTS, ["Polish {{ draft.output }}"]]),   # a call added
            chain_payload(chain=CALLS[:1] + [{**CALLS[1], "name": "write"}]),                    # renamed
            chain_payload(chain=[CALLS[1], CALLS[0]], texts=[TEXTS[1], TEXTS[0]]),               # re-ordered
            chain_payload(chain=[CALLS[0], {**CALLS[1], "params": {"max_tokens": 501}}]),        # a call's params
            chain_payload(model={**MODEL, "params": {"temperature": 0.3, "max_tokens": 300}}),   # the card's params
            chain_payload(chain=[CALLS[0], {**CALLS[1], "model": {"name": "gpt-4.1"}}]),          # a call's model
            chain_payload(chain=[{**CALLS[0], "steps": CALLS[0]["steps"][::-1]}, CALLS[1]],
                          texts=[TEXTS[0][::-1], TEXTS[1]]),                                     # steps re-ordered
            chain_payload(chain=[{**CALLS[0], "steps": [CALLS[0]["steps"][0], {"name": "user", "role": "assistant"}]},
                                 CALLS[1]]),                                                     # a role
            single,                                                                              # calls: -> steps:
        ],
        "major": [chain_payload(variables=("message",)),
                  hashing.build_payload(MODEL, CALLS[0]["steps"], TEXTS[0], ["message"])],
    }
    for kind, changed in cases.items():
        for payload in changed:
            assert classify_change(base, payload) == kind, payload
            assert classify_change(payload, base) == kind, payload
    assert classify_change(base, chain_payload()) is None


# --- end to end: sync versions a chain, and bumps it as docs/hashing.md says ----------------------

def test_sync_versions_a_chain_and_bumps_it(tmp_path, capsys):
    import json

    import yaml
    from conftest import git, run_cli

    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    folder = write_chain(root)
    code, out = run_cli(root, "sync", capsys=capsys)
    assert code == 1, out
    card = yaml.safe_load((folder / "card.yml").read_text())
    first = card["version"]
    assert card["hash"].startswith("sha256:")
    snapshot = json.loads((root / f"registry/store/support-chain/{first}.json").read_text())
    assert snapshot["payload"]["format"] == "promptlane-chain/1"
    assert [c["model"]["name"] for c in snapshot["payload"]["calls"]] == ["gpt-4o-mini", "gpt-4o"]
    assert snapshot["payload"]["calls"][1]["model"]["params"] == {"temperature": 0.2, "max_tokens": 500}
    assert run_cli(root, "check", capsys=capsys)[0] == 0

    def step(edit) -> str:
        edit()
        code, out = run_cli(root, "sync", capsys=capsys)
        assert code == 1, out
        assert run_cli(root, "check", capsys=capsys)[0] == 0
        return yaml.safe_load((folder / "card.yml").read_text())["version"]

    def edit_card(old: str, new: str):
        text = (folder / "card.yml").read_text()
        assert old in text, old
        (folder / "card.yml").write_text(text.replace(old, new, 1))

    major, minor, patch = map(int, first.split("."))
    assert step(lambda: (folder / "draft-system.md").write_text("Write a polite reply to {{ customer_name }}.\n")) == \
        f"{major}.{minor}.{patch + 1}"
    assert step(lambda: edit_card("params: {max_tokens: 500}", "params: {max_tokens: 600}")) == f"{major}.{minor + 1}.0"

    def add_call():
        (folder / "polish-user.md").write_text("Make this shorter:\n{{ draft.output }}\n")
        (folder / "card.yml").write_text((folder / "card.yml").read_text().replace(
            "      - {name: user, role: user, file: draft-user.md}\n",
            "      - {name: user, role: user, file: draft-user.md}\n"
            "  - name: polish\n    steps:\n      - {name: user, role: user, file: polish-user.md}\n"))
    assert step(add_call) == f"{major}.{minor + 2}.0"

    def add_input():
        edit_card("[customer_name, message]", "[customer_name, message, tone]")
        (folder / "polish-user.md").write_text("Make this shorter, {{ tone }}:\n{{ draft.output }}\n")
    assert step(add_input) == f"{major + 1}.0.0"
    lock = json.loads((root / "registry/support-chain.lock.json").read_text())
    assert [v["bump"] for v in lock["versions"][1:]] == ["patch", "minor", "minor", "major"]


def test_a_card_going_from_steps_to_calls_is_a_minor_bump(tmp_path, capsys):
    import yaml
    from conftest import git, run_cli

    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    single = CHAIN_CARD.split("calls:")[0] + "steps:\n  - {name: user, role: user, file: draft-user.md}\n"
    folder = write_chain(root, single, {"draft-user.md": "{{ customer_name }}: {{ message }}\n"})
    assert run_cli(root, "sync", capsys=capsys)[0] == 1
    first = yaml.safe_load((folder / "card.yml").read_text())["version"]
    (folder / "extract-user.md").write_text("{{ message }}\n")
    (folder / "draft-user.md").write_text("{{ customer_name }}: {{ extract.output }}\n")
    (folder / "card.yml").write_text(CHAIN_CARD.split("calls:")[0] + "calls:\n"
                                     "  - {name: extract, steps: [{name: user, role: user, file: extract-user.md}]}\n"
                                     "  - {name: draft, steps: [{name: user, role: user, file: draft-user.md}]}\n")
    code, out = run_cli(root, "sync", capsys=capsys)
    assert code == 1, out
    major, minor, _ = map(int, first.split("."))
    assert yaml.safe_load((folder / "card.yml").read_text())["version"] == f"{major}.{minor + 1}.0"


def test_a_chain_in_a_scaffolded_repository(gov, capsys):
    """The template's repository: a chain passes check, sync versions it, the commit hook's
    check passes on the result, and a bad reference is reported at the text's line."""
    import json

    from conftest import git
    from governed import pl

    folder = write_chain(gov)
    code, out = pl(gov, capsys, "check", "prompts/support-chain/card.yml")
    assert code == 1 and "PL153" in out  # sound, only not versioned yet
    code, out = pl(gov, capsys, "sync", *[f"prompts/support-chain/{name}" for name in ["card.yml", *CHAIN_TEXTS]])
    assert code == 1 and "support-chain" in out, out
    git(gov, "add", "-A")
    git(gov, "commit", "-q", "-m", "a chain")
    code, out = pl(gov, capsys, "check", "--all")
    assert code == 0, out
    snapshot = json.loads(next((gov / "registry/store/support-chain").glob("*.json")).read_text())
    assert snapshot["card"]["calls"][1]["name"] == "draft" and "steps" not in snapshot["card"]
    assert pl(gov, capsys, "audit", "verify")[0] == 0
    (folder / "draft-user.md").write_text("Facts:\n\n  {{ extrcat.output }}\n")
    code, out = pl(gov, capsys, "check", "prompts/support-chain/draft-user.md")
    assert code == 1
    assert "prompts/support-chain/draft-user.md:3:3: PL142 {{ extrcat.output }}: no call is named 'extrcat'; " \
           "did you mean {{ extract.output }}?" in out, out


# --- any one value of a chain card replaced: problems, never a crash -------------------------------

def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


VALID_CHAIN = yaml.safe_load(CHAIN_CARD)
SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | \
    st.sampled_from(["extract", "draft", "message", "x.output", "../x", "draft-user.md"])
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                      max_leaves=8)
REFERENCES = st.text(max_size=60) | st.sampled_from(
    ["{{ draft.output }}", "{{ extract.output }}{{ extract.x }}", "{{ message.output }}", "{{- nope.output -}}"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from([p for p in _paths(VALID_CHAIN) if p]), value=VALUES, text=REFERENCES)
def test_any_value_of_a_chain_card_replaced_gives_problems_not_a_crash(tmp_path, path, value, text):
    from promptlane.core.problems import Problem
    from promptlane.store.cards import read_card
    from promptlane.store.repo import Repo

    card = copy.deepcopy(VALID_CHAIN)
    node = card
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    folder = write_chain(tmp_path, yaml.safe_dump(card, allow_unicode=True), texts(draft_user=text))
    result = read_card(Repo(tmp_path), "support-chain")
    assert all(isinstance(p, Problem) and p.line >= 1 and p.col >= 1 for p in result.problems), result.problems
    assert result.ok == (not result.problems)
    for name in folder.iterdir():
        name.unlink()
