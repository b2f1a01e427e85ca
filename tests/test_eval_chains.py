"""Evals of a chain card (issue 19): every test runs the whole chain through the configured
provider, with the real, pinned promptfoo (its own providers, the template's offline stand-in,
an OpenAI-compatible server on 127.0.0.1); the chain is the template's own example,
prompts/triage-reply (with evals/tests/triage-reply.yml), as a scaffold holds it.

What a run must show: each call sent in order with the earlier outputs put in, the last
call's output judged as `output`, each call's output as `context.metadata.outputs.<call>`,
tokens and cost of all calls, results bound to the chain's hash; an import re-derives every
call's texts.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run_cli
from governed import EVAL_CONFIG, use_providers
from llm_server import REPLY_PREFIX, LLMServer
from promptlane.core import calls as core_calls
from promptlane.core.card import PLACEHOLDER
from promptlane.core.evalinputs import accepted_providers, card_provider
from promptlane.evals import config as eval_config
from promptlane.evals import render
from promptlane.core.hashing import normalise_text
from promptlane.evals.importer import _flat, mismatch
from promptlane.evals.runner import promptfoo_env
from promptlane.store.cards import read_card
from promptlane.store.repo import Repo
from promptlane.store.results import load_results

PID = "triage-reply"
TEMPLATE = ROOT / "{{cookiecutter.project}}"
FIXTURE_TESTS = 5  # evals/tests/triage-reply.yml


# ---------------------------------------------------------------- helpers


def the_chain(root: Path) -> object:
    """The template's example chain, as a scaffold holds it: synced, a chain; its card."""
    card = read_card(Repo(root), PID)
    assert card.ok and core_calls.is_chain(card.payload) and card.data["hash"] == card.hash, card.problems
    return card


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CALLS = [
    {"name": "extract", "steps": [{"name": "system", "role": "system", "text": "Notes as JSON."},
                                  {"name": "user", "role": "user", "text": "{{ message }}"}]},
    {"name": "draft", "steps": [{"name": "user", "role": "user", "text": "To {{ customer_name }}: {{- extract.output -}}!"}]},
]


# ---------------------------------------------------------------- the prompt function (pure)


def test_the_prompt_function_patterns_are_promptlanes():
    assert render.PLACEHOLDER.pattern == PLACEHOLDER.pattern
    assert render.REFERENCE.pattern == core_calls.REFERENCE.pattern


@pytest.mark.parametrize("text, variables, expected", [
    ("plain {{ x }}", {"x": 1}, "plain 1"),
    ("{{ e.output }}", {}, [{"output": "e"}]),
    # a loose form ({{- -}}, | filter) is filled by nothing (check refuses it: PL145)
    ("a {{ x }} b {{e.output}} c {{- e.output | trim -}}", {"x": "X"}, ["a X b ", {"output": "e"}, " c {{- e.output | trim -}}"]),
    # one pass: a value that reads like a placeholder or a reference is inserted as it is
    ("{{ x }} {{ e.output }}", {"x": "{{ e.output }} {{ y }}"}, ["{{ e.output }} {{ y }} ", {"output": "e"}]),
    ("{{ e.text }} {{ e }}", {"e": "E"}, "{{ e.text }} E"),
])
def test_parts_fill_variables_and_keep_outputs_for_the_chain_provider(text, variables, expected):
    assert render.parts(text, variables) == expected


def test_a_text_without_outputs_renders_as_one_call_does():
    steps = CALLS[0]["steps"]
    assert render.chain_prompt([CALLS[0]], {"message": "hi"}) == {
        "promptlane_chain": [{"call": "extract", "messages": render.messages(steps, {"message": "hi"})}]}


def test_a_missing_variable_names_the_call_and_step():
    with pytest.raises(KeyError, match=r"call 'draft' step 'user': the test gives no value for \{\{ customer_name \}\}"):
        render.chain_prompt(CALLS, {"message": "hi"})


def test_the_template_renders_a_chain_as_eval_run_does(rendered_template, tmp_path, monkeypatch):
    shutil.copytree(rendered_template / "prompts", tmp_path / "prompts")
    module = load_module(TEMPLATE / "evals/render_chain.py", "render_chain_under_test")
    monkeypatch.setattr(module, "REPO", tmp_path)
    variables = {"customer_name": "Ana", "message": "I forgot my password {{ x }}"}
    card = yaml.safe_load((tmp_path / f"prompts/{PID}/card.yml").read_text(encoding="utf-8"))
    folder = tmp_path / "prompts" / PID
    payload_calls = [{"name": call["name"], "steps": [{**step, "text": (folder / step["file"]).read_text(encoding="utf-8").rstrip("\n")}
                                                     for step in call["steps"]]} for call in card["calls"]]
    monkeypatch.setenv("PROMPTLANE_PROMPT", PID)
    monkeypatch.delenv("PROMPTFOO_DISABLE_TEMPLATING", raising=False)
    returned = module.render({"vars": variables})
    assert "{{ x }}" not in returned and returned == module.untemplated(json.dumps(json.loads(
        re.sub(r"\{\{ '([{}])' \}\}", r"\1", returned)), ensure_ascii=False))  # braces written for nunjucks, as render.py's
    assert module.untemplated('["{# a #}"]') == render.untemplated('["{# a #}"]')
    rendered = json.loads(re.sub(r"\{\{ '([{}])' \}\}", r"\1", returned))  # what promptfoo's nunjucks gives back
    expected = render.chain_prompt(payload_calls, variables)
    def flat(doc):  # as an import compares them: each text after the hash's normalisation
        return [[(m["role"], normalise_text(_flat(m["content"]))) for m in c["messages"]] for c in doc["promptlane_chain"]]

    assert flat(rendered) == flat(expected)
    assert rendered["promptlane_chain"][1]["messages"][1]["content"][1] == {"output": "extract"}
    assert [c["call"] for c in rendered["promptlane_chain"]] == ["extract", "draft"]


def test_the_template_ships_promptlanes_chain_provider():
    assert (TEMPLATE / "evals/providers/chain.mjs").read_bytes() == (ROOT / "src/promptlane/evals/chain.mjs").read_bytes()
    # Rendered by cookiecutter unless it holds no Jinja: the template copies it as it is.
    text = (TEMPLATE / "evals/providers/chain.mjs").read_text(encoding="utf-8")
    assert not any(mark in text for mark in ("{{", "{%", "{#"))


# ---------------------------------------------------------------- the config a chain gets


@pytest.fixture
def chain_repo(gov):
    the_chain(gov)
    return gov


def test_each_test_of_a_chain_runs_the_chain_provider_over_the_configured_one(chain_repo, tmp_path):
    repo = Repo(chain_repo)
    card = read_card(repo, PID)
    doc = json.loads(eval_config.build(repo, card, tmp_path).read_text(encoding="utf-8"))
    assert doc["prompts"][0]["id"] == f"file://{tmp_path / 'prompt.py'}:render_calls"
    assert doc["prompts"][0]["config"] == {"promptlane_prompt": PID, "promptlane_hash": card.hash}
    assert [p["label"] for p in doc["providers"]] == ["local-echo"]  # the eval config's, untouched
    wrapper = f"file://{tmp_path / 'chain.mjs'}"
    assert [t["provider"] for t in doc["tests"]] == [{"id": wrapper, "label": "promptlane-chain", "config": {}}] * FIXTURE_TESTS
    assert json.loads((tmp_path / "calls.json").read_text(encoding="utf-8")) == [
        {"name": c.name, "steps": c.steps} for c in core_calls.calls_of(card.payload)]
    assert (tmp_path / "chain.mjs").read_bytes() == (ROOT / "src/promptlane/evals/chain.mjs").read_bytes()
    assert not (tmp_path / "steps.json").exists()
    # A test's own provider would answer while the results name the eval config's: refused (PL345).
    tests = yaml.safe_load((chain_repo / f"evals/tests/{PID}.yml").read_text(encoding="utf-8"))
    tests[0]["provider"] = "echo"
    (chain_repo / f"evals/tests/{PID}.yml").write_text(yaml.safe_dump(tests, allow_unicode=True), encoding="utf-8")
    with pytest.raises(eval_config.EvalSetupError) as refused:
        eval_config.build(repo, card, tmp_path)
    assert [p.code for p in refused.value.problems] == ["PL345"]


def test_without_providers_each_call_runs_its_own_model(chain_repo, tmp_path):
    use_providers(chain_repo, None)
    repo = Repo(chain_repo)
    card = read_card(repo, PID)
    per_call = {"extract": {"id": "openai:chat:gpt-4o-mini", "config": {"temperature": 0, "max_tokens": 150}},
                "draft": {"id": "openai:chat:gpt-4o-mini", "config": {"temperature": 0.2, "max_tokens": 400}}}
    assert card_provider(card) == {"id": "openai:chat:gpt-4o-mini", "label": "openai:chat:gpt-4o-mini", "config": {"calls": per_call}}
    doc = json.loads(eval_config.build(repo, card, tmp_path).read_text(encoding="utf-8"))
    wrapper = f"file://{tmp_path / 'chain.mjs'}"
    assert doc["providers"] == [{"id": wrapper, "label": "openai:chat:gpt-4o-mini", "config": {"calls": per_call}}]
    assert {json.dumps(t["provider"]) for t in doc["tests"]} == {
        json.dumps({"id": wrapper, "label": "promptlane-chain", "config": {"calls": per_call}})}
    assert accepted_providers(("card",), card) == ["openai:chat:gpt-4o-mini"]


def test_a_chain_of_two_models_is_named_by_both(chain_repo):
    card_yml = chain_repo / f"prompts/{PID}/card.yml"
    card_yml.write_text(card_yml.read_text(encoding="utf-8").replace("  - name: draft\n", "  - name: draft\n    model: {name: gpt-4o}\n"),
                        encoding="utf-8")
    card = read_card(Repo(chain_repo), PID)
    name = "openai:chat:gpt-4o-mini > openai:chat:gpt-4o"
    assert (card_provider(card)["id"], card_provider(card)["config"]["calls"]["draft"]["id"]) == (name, "openai:chat:gpt-4o")
    assert accepted_providers(("card", "echo"), card) == [name, "echo"]


# ---------------------------------------------------------------- the offline stand-in


@pytest.fixture(scope="module")
def echo():
    return load_module(TEMPLATE / "evals/providers/local_echo.py", "local_echo_chain_under_test")


def chat(*messages: tuple[str, str]) -> str:
    return json.dumps([{"role": role, "content": content} for role, content in messages])


def test_the_stand_in_answers_a_chains_calls_from_each_other(echo):
    notes = echo.call_api(chat(("system", "Return JSON only."), ("user", "Customer message:\nI was charged twice, refund ASAP. Mail a@b.co")), {}, {})
    assert json.loads(notes["output"]) == {"topic": "refunds", "urgent": True, "summary": "I was charged twice, refund ASAP. Mail [e-mail]"}
    reply = echo.call_api(chat(("system", "Write to Ben."), ("user", f"Notes:\n{notes['output']}\n\nWrite.")), {}, {"vars": {"customer_name": "Ben"}})
    assert reply["output"].startswith("Hi Ben,\n\nThank you for getting in touch. You can ask for a refund within 30 days")
    assert "We have marked your request as urgent.\n\nMore help: https://help.example.com/articles/refunds\n\n" in reply["output"]
    # Deterministic, and any other prompt is restated as before.
    assert echo.call_api(chat(("system", "Return JSON only."), ("user", "Customer message:\nI was charged twice, refund ASAP. Mail a@b.co")), {}, {}) == notes
    assert echo.call_api(chat(("user", "Summarise this.")), {}, {})["output"].startswith('Thank you. You wrote: "Summarise this."')


# ---------------------------------------------------------------- real promptfoo runs


@pytest.mark.slow
def test_eval_run_of_the_example_chain_passes_offline_and_binds_the_chain_hash(chain_repo, promptfoo, capsys):
    card = read_card(Repo(chain_repo), PID)
    code, out = run_cli(chain_repo, "eval", "run", PID, capsys=capsys)
    assert code == 0, out
    assert out.startswith(f"{PID} ... {FIXTURE_TESTS}/{FIXTURE_TESTS} passed -> evals/results/{PID}/{card.hash[7:23]}.json")
    doc = load_results(chain_repo, PID, card.hash)
    assert (doc["hash"], doc["provider"], doc["tests"], doc["passed"]) == (card.hash, "local-echo", FIXTURE_TESTS, FIXTURE_TESTS)
    assert set(doc["categories"]) == {"accuracy", "hallucination", "cost", "safety"}
    assert doc["inputs"]["provider_ids"] == ["file://providers/local_echo.py"]
    code, out = run_cli(chain_repo, "eval", "plan", capsys=capsys)
    assert [entry["prompt"] for entry in json.loads(out)["include"]] == ["support-reply"]  # the chain owes nothing


WRONG_NOTES = """
- description: the notes are judged, not only the reply
  metadata: {category: accuracy}
  vars: {customer_name: Gus, message: I forgot my password.}
  assert:
    - type: contains
      transform: context.metadata.outputs.extract
      value: '"topic": "refunds"'
    - type: javascript
      value: "context.metadata.outputs.draft === output && output.includes('Hi Gus')"
"""


@pytest.mark.slow
def test_an_assertion_on_the_first_calls_output_fails_on_it(chain_repo, promptfoo, capsys):
    with (chain_repo / f"evals/tests/{PID}.yml").open("a", encoding="utf-8") as tests:
        tests.write(WRONG_NOTES)
    code, out = run_cli(chain_repo, "eval", "run", PID, "--json", capsys=capsys)
    assert code == 1
    (failure,) = json.loads(out)["prompts"][0]["failures"]
    assert failure["test"] == "the notes are judged, not only the reply"
    assert [a["type"] for a in failure["assertions"]] == ["contains"]  # the javascript one passed
    assert failure["output"].startswith("Hi Gus,")  # the test's output: the last call's


@pytest.fixture
def server():
    with LLMServer() as running:
        yield running


@pytest.fixture
def model_env(server, promptfoo, monkeypatch):
    for key in list(os.environ):
        if key.startswith(("OPENAI_", "ANTHROPIC_", "AZURE_", "PROMPTFOO_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PROMPTLANE_PROMPTFOO", promptfoo)
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-openai-key")
    return server


ONE_TEST = [{"description": "a reply from the notes", "metadata": {"category": "accuracy"},
             "vars": {"customer_name": "Ana", "message": "I forgot my password."},
             "assert": [{"type": "javascript", "value": "context.metadata.outputs.extract.startsWith('Hi! You said: Customer message:')"},
                        {"type": "contains", "value": "Hi! You said: Triage notes:\nHi! You said: Customer message:\nI forgot my password."}]}]


def sent_messages(call: dict, vars_: dict, outputs: dict) -> list:
    return [{"role": m["role"], "content": m["content"] if isinstance(m["content"], str)
             else "".join(p if isinstance(p, str) else outputs[p["output"]] for p in m["content"])}
            for m in render.chain_prompt([call], vars_)["promptlane_chain"][0]["messages"]]


@pytest.mark.slow
def test_each_call_runs_on_its_own_model_through_promptfoos_openai_provider(chain_repo, model_env, capsys):
    server = model_env
    card_yml = chain_repo / f"prompts/{PID}/card.yml"
    card_yml.write_text(card_yml.read_text(encoding="utf-8").replace("  - name: draft\n", "  - name: draft\n    model: {name: gpt-4o}\n"),
                        encoding="utf-8")
    run_cli(chain_repo, "sync", capsys=capsys)
    use_providers(chain_repo, None)
    (chain_repo / f"evals/tests/{PID}.yml").write_text(yaml.safe_dump(ONE_TEST, allow_unicode=True), encoding="utf-8")
    card = read_card(Repo(chain_repo), PID)
    code, out = run_cli(chain_repo, "eval", "run", PID, capsys=capsys)
    assert code == 0, out
    extract, draft = server.answered()  # in order: draft's messages hold extract's answer
    assert [(r.body["model"], r.body["temperature"], r.body["max_tokens"]) for r in (extract, draft)] == [
        ("gpt-4o-mini", 0, 150), ("gpt-4o", 0.2, 400)]
    first, second = (c for c in core_calls.calls_of(card.payload))
    vars_ = ONE_TEST[0]["vars"]
    assert extract.body["messages"] == sent_messages({"name": first.name, "steps": first.steps}, vars_, {})
    first_output = REPLY_PREFIX + extract.body["messages"][-1]["content"]
    assert draft.body["messages"] == sent_messages({"name": second.name, "steps": second.steps}, vars_, {"extract": first_output})
    doc = load_results(chain_repo, PID, card.hash)
    usage = [extract.usage, draft.usage]
    assert doc["tokens"]["prompt"] == sum(u["prompt_tokens"] for u in usage)
    assert doc["tokens"]["completion"] == sum(u["completion_tokens"] for u in usage)
    assert doc["cost_usd"] > 0 and doc["provider"] == "openai:chat:gpt-4o-mini > openai:chat:gpt-4o"
    assert doc["inputs"]["provider_ids"] == ["openai:chat:gpt-4o-mini > openai:chat:gpt-4o"]


@pytest.mark.slow
def test_every_call_runs_on_the_configured_provider(chain_repo, model_env, capsys):
    server = model_env
    use_providers(chain_repo, [{"id": "openai:chat:gpt-4.1-mini", "config": {"temperature": 0.5, "max_tokens": 99}}])
    (chain_repo / f"evals/tests/{PID}.yml").write_text(yaml.safe_dump(ONE_TEST, allow_unicode=True), encoding="utf-8")
    code, out = run_cli(chain_repo, "eval", "run", PID, capsys=capsys)
    assert code == 0, out
    answered = server.answered()
    assert [(r.body["model"], r.body["temperature"], r.body["max_tokens"]) for r in answered] == [("gpt-4.1-mini", 0.5, 99)] * 2
    doc = load_results(chain_repo, PID, read_card(Repo(chain_repo), PID).hash)
    assert doc["provider"] == "openai:chat:gpt-4.1-mini" and doc["tokens"]["total"] == sum(r.usage["total_tokens"] for r in answered)


@pytest.mark.slow
def test_a_failing_call_ends_the_chain_as_an_error_naming_it(chain_repo, model_env, capsys):
    server = model_env
    use_providers(chain_repo, [{"id": "openai:chat:gpt-4o-mini", "config": {"maxRetries": 0}}])
    (chain_repo / f"evals/tests/{PID}.yml").write_text(yaml.safe_dump(ONE_TEST, allow_unicode=True), encoding="utf-8")
    server.fail(400, None, when="Triage notes:")  # the second call only
    code, out = run_cli(chain_repo, "eval", "run", PID, "--json", capsys=capsys)
    assert code == 1
    (failure,) = json.loads(out)["prompts"][0]["failures"]
    assert failure["outcome"] == "error" and failure["reason"].startswith("call 'draft': ")


# ---------------------------------------------------------------- import: every call re-derived


def promptfoo_results(root: Path, card, tmp_path: Path) -> Path:
    """promptfoo's own results.json of the config `eval run` builds (the run, not promptlane's summary)."""
    work = tmp_path / "work"
    work.mkdir()
    config = eval_config.build(Repo(root), card, work)
    out = work / "results.json"
    done = subprocess.run([os.environ["PROMPTLANE_PROMPTFOO"], "eval", "-c", str(config), "-o", str(out), "--no-cache",  # noqa: S603
                           "--no-share", "--no-progress-bar", "--no-table"], cwd=work, env=promptfoo_env(work, card.prompt_id),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 100), done.stderr[-2000:]
    return out


@pytest.mark.slow
def test_import_checks_every_call_of_a_chain(chain_repo, promptfoo, capsys, tmp_path):
    card = read_card(Repo(chain_repo), PID)
    results = promptfoo_results(chain_repo, card, tmp_path)
    rows = json.loads(results.read_text(encoding="utf-8"))["results"]["results"]
    assert [mismatch(card, row) for row in rows] == [None] * FIXTURE_TESTS
    # The second call's text, changed in a row: caught, at that call and its file.
    row = json.loads(json.dumps(rows[0]))
    raw = json.loads(row["prompt"]["raw"])
    raw["promptlane_chain"][1]["messages"][1]["content"][0] = "Notes, edited:\n"
    row["prompt"]["raw"] = json.dumps(raw)
    assert mismatch(card, row) == (f"call 'draft': message 2 differs from prompts/{PID}/draft-user.md "
                                   "(the prompt changed since these results were produced)")
    # An output part moved into the text: not the same prompt either.
    raw["promptlane_chain"][1]["messages"][1]["content"] = "Triage notes:\n{{ extract.output }}\n\nWrite the reply e-mail."
    row["prompt"]["raw"] = json.dumps(raw)
    assert mismatch(card, row).startswith("call 'draft': message 2 differs")
    row["prompt"]["raw"] = json.dumps(raw["promptlane_chain"][0]["messages"])
    assert mismatch(card, row).startswith("its prompt is not a chain, but the card is a chain of 2 calls")
    # Accepted as a whole, bound to the chain's hash.
    code, out = run_cli(chain_repo, "eval", "import", str(results), "--prompt", PID, "--current-inputs", capsys=capsys)
    assert code == 0, out
    assert load_results(chain_repo, PID, card.hash)["passed"] == FIXTURE_TESTS
    # A text changed since: the import is refused, naming the call's file.
    (chain_repo / f"prompts/{PID}/extract-user.md").write_text("Message:\n{{ message }}\n", encoding="utf-8")
    run_cli(chain_repo, "sync", capsys=capsys)
    changed = read_card(Repo(chain_repo), PID)
    assert mismatch(changed, rows[0]).startswith(f"was produced for {card.hash[:19]}...")
    del rows[0]["prompt"]["config"]["promptlane_hash"]  # without the hash, the texts tell
    assert mismatch(changed, rows[0]) == (f"call 'extract': message 2 differs from prompts/{PID}/extract-user.md "
                                          "(the prompt changed since these results were produced)")
    code, out = run_cli(chain_repo, "eval", "import", str(results), "--prompt", PID, "--current-inputs", capsys=capsys)
    assert code == 1


@pytest.mark.slow
def test_the_templates_own_config_runs_a_chain_and_its_results_import(chain_repo, promptfoo, capsys, tmp_path):
    """promptfoo run directly (no promptlane config): render_chain.py and providers/chain.mjs."""
    config = yaml.safe_load((chain_repo / EVAL_CONFIG).read_text(encoding="utf-8"))
    config["prompts"] = [{"id": "file://render_chain.py:render", "label": PID, "config": {"prompt": PID}}]
    config["tests"] = [f"file://tests/{PID}.yml"]
    # The chain provider in front of each provider (a defaultTest.provider given as text is
    # dropped by promptfoo 0.121, and as a mapping resolved against the working folder).
    config["providers"] = [{"id": "file://providers/chain.mjs", "label": p["label"], "config": {"provider": p}}
                           for p in config["providers"]]
    direct = chain_repo / "evals/chain-direct.promptfoo.yml"
    direct.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "results.json"
    env = promptfoo_env(tmp_path, PID)
    env.pop("PROMPTLANE_PROMPT")
    done = subprocess.run([promptfoo, "eval", "-c", str(direct), "-o", str(out), "--no-cache", "--no-share",  # noqa: S603
                           "--no-progress-bar", "--no-table"], cwd=chain_repo, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    direct.unlink()
    code, text = run_cli(chain_repo, "eval", "import", str(out), "--prompt", PID, "--current-inputs", capsys=capsys)
    assert code == 0, text
    doc = load_results(chain_repo, PID, read_card(Repo(chain_repo), PID).hash)
    assert (doc["passed"], doc["inputs"]["bound"]) == (FIXTURE_TESTS, "eval import --current-inputs")
