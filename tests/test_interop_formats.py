"""`promptlane import` and `promptlane export`: Prompty, Dotprompt and GitHub Models files.

The formats' own parsers are the judges: `prompty` 2.1 (load + prepare, with jinja2) and
`dotpromptz` 0.2 (Dotprompt().render) render the files; a .prompt.yml is rendered as gh-models
does (each message's ``{{key}}`` replaced by the value). promptlane's side is the runtime SDK
(runtime/prompt.py render) on the registry, as an application serves the prompt.
"""
from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import snapshot_tree
from governed import PID, card, new_version, pl, ready_for

prompty = pytest.importorskip("prompty")
dotpromptz = pytest.importorskip("dotpromptz")

# ---------------------------------------------------------------------------------- the judges


def prompty_messages(path: Path, inputs: dict) -> list[tuple[str, str]]:
    agent = prompty.load(str(path))
    return [(m.role, "".join(part.value for part in m.parts)) for m in prompty.prepare(agent, inputs)]


def dotprompt_messages(text: str, inputs: dict) -> list[tuple[str, str]]:
    rendered = asyncio.run(dotpromptz.Dotprompt().render(text, dotpromptz.DataArgument(input=inputs)))
    roles = {"model": "assistant"}
    return [(roles.get(m.role.value, m.role.value), "".join(part.text for part in m.content)) for m in rendered.messages]


def github_messages(text: str, inputs: dict) -> list[tuple[str, str]]:
    """gh-models' TemplateString: every ``{{key}}`` of the inputs replaced, nothing else."""
    out = []
    for message in yaml.safe_load(text)["messages"]:
        content = message["content"]
        for key, value in inputs.items():
            content = content.replace("{{" + key + "}}", str(value))
        out.append((message["role"].lower(), content))
    return out


def served_messages(root: Path, prompt_id: str, env: str, inputs: dict) -> list[tuple[str, str]]:
    from promptlane import runtime

    return [(m["role"], m["content"]) for m in runtime.load(root).get(prompt_id, env).render(**inputs)]


def trimmed(messages: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Without the blank lines at each message's ends (Dotprompt keeps those of its markers' lines)."""
    def trim(text: str) -> str:
        lines = text.split("\n")
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        return "\n".join(lines)
    return [(role, trim(text)) for role, text in messages]


def imported(gov: Path, capsys, path: Path, *extra: str) -> str:
    code, out = pl(gov, capsys, "import", str(path), *extra)
    assert code == 0, out
    return out


# ---------------------------------------------------------------------------------- samples

PROMPTY = """\
---
name: Order status reply
description: Tells a customer where their order is, from the tracking data.
model:
  id: gpt-4o-mini
  provider: openai
  apiType: chat
  connection:
    kind: key
    endpoint: ${env:OPENAI_ENDPOINT:https://api.openai.com/v1}
  options:
    temperature: 0.1
    maxOutputTokens: 300
inputs:
  customer_name:
    kind: string
    description: The customer's first name
    default: there
  order_id:
    kind: string
  status:
    kind: string
template:
  format:
    kind: jinja2
  parser:
    kind: prompty
---
system:
You are the order desk of Example Shop. Answer in two sentences at most.
Never promise a delivery date the tracking data does not give.

user:
Hi, I'm {{customer_name}}. Where is order #{{ order_id }}?

assistant:
Let me look that up for you.

user:
Tracking says: {{status}}
"""
PROMPTY_INPUTS = {"customer_name": "Ana", "order_id": "A-1001", "status": "out for delivery"}

DOTPROMPT = """\
# Copyright 2026 Example Shop
---
model: googleai/gemini-2.0-flash
config:
  temperature: 0.4
  maxOutputTokens: 256
  topK: 20
input:
  schema:
    product: string, the product's name
    audience?: string, who reads the text
    words: integer
---
{{role "system"}}
You write product blurbs for a web shop. Plain language, no superlatives.

{{role "user"}}
Write a blurb of about {{words}} words for {{product}}, for {{{audience}}}.
"""
DOTPROMPT_INPUTS = {"product": "a steel water bottle", "audience": "hikers & <cyclists>", "words": 40}

GITHUB = """\
name: Ticket triage
description: Labels a support ticket with one category.
model: openai/gpt-4o-mini
modelParameters:
  temperature: 0
  maxTokens: 20
  frequencyPenalty: 0.5
messages:
  - role: system
    content: |
      Label the ticket with exactly one of: billing, bug, question.
      Answer with the label only.
  - role: user
    content: "Ticket: {{ticket}}"
testData:
  - ticket: I was charged twice this month.
    expected: billing
  - ticket: The export button does nothing.
    expected: bug
evaluators:
  - name: right label
    string:
      contains: "{{expected}}"
  - name: one word
    string:
      endsWith: "{{expected}}"
"""


# ---------------------------------------------------------------------------------- import


def test_the_placeholder_the_conversions_write_is_the_one_the_runtime_fills():
    from promptlane.core.formats.common import RUNTIME_PLACEHOLDER
    from promptlane.runtime.prompt import PLACEHOLDER

    assert RUNTIME_PLACEHOLDER.pattern == PLACEHOLDER.pattern


def test_a_prompty_file_imports_as_a_new_prompt_that_renders_what_prompty_renders(gov, capsys, tmp_path):
    source = tmp_path / "Order_Status.prompty"
    source.write_text(PROMPTY, encoding="utf-8")
    out = imported(gov, capsys, source)
    assert "as prompts/order-status" in out
    assert "inputs.customer_name.default: not kept" in out
    data = yaml.safe_load((gov / "prompts/order-status/card.yml").read_text(encoding="utf-8"))
    assert data["model"] == {"provider": "openai", "name": "gpt-4o-mini", "params": {"temperature": 0.1, "max_tokens": 300}}
    assert data["variables"] == ["customer_name", "order_id", "status"]
    assert [(s["name"], s["role"]) for s in data["steps"]] == [
        ("system", "system"), ("user", "user"), ("assistant", "assistant"), ("user-2", "user")]
    assert (gov / "prompts/order-status/user.md").read_text(encoding="utf-8") == \
        "Hi, I'm {{ customer_name }}. Where is order #{{ order_id }}?\n"
    assert pl(gov, capsys, "sync")[0] == 1
    assert yaml.safe_load((gov / "prompts/order-status/card.yml").read_text())["version"] == "1.0.0"
    code, out = pl(gov, capsys, "check")
    assert code == 0, out
    assert served_messages(gov, "order-status", "dev", PROMPTY_INPUTS) == prompty_messages(source, PROMPTY_INPUTS)


def test_a_dotprompt_file_imports_and_renders_what_dotprompt_renders(gov, capsys, tmp_path):
    source = tmp_path / "product-blurb.prompt"
    source.write_text(DOTPROMPT, encoding="utf-8")
    imported(gov, capsys, source)
    data = yaml.safe_load((gov / "prompts/product-blurb/card.yml").read_text(encoding="utf-8"))
    assert data["model"] == {"provider": "googleai", "name": "gemini-2.0-flash",
                             "params": {"temperature": 0.4, "max_tokens": 256, "top_k": 20}}
    assert data["variables"] == ["product", "audience", "words"]
    assert pl(gov, capsys, "sync")[0] == 1
    code, out = pl(gov, capsys, "check")
    assert code == 0, out
    served = served_messages(gov, "product-blurb", "dev", DOTPROMPT_INPUTS)
    judged = dotprompt_messages(DOTPROMPT, DOTPROMPT_INPUTS)
    assert judged[0][1].startswith("\n")  # Dotprompt keeps its marker's line break: promptlane's text does not
    assert served == trimmed(judged)


def test_a_github_models_file_imports_with_its_test_data_and_evaluators_as_eval_tests(gov, capsys, tmp_path):
    source = tmp_path / "triage.prompt.yml"
    source.write_text(GITHUB, encoding="utf-8")
    out = imported(gov, capsys, source)
    assert "modelParameters.frequencyPenalty: not kept (gh-models sends maxTokens, temperature and topP only)" in out
    data = yaml.safe_load((gov / "prompts/triage/card.yml").read_text(encoding="utf-8"))
    assert data["title"] == "Ticket triage" and data["description"] == "Labels a support ticket with one category."
    assert data["model"] == {"provider": "openai", "name": "gpt-4o-mini", "params": {"temperature": 0, "max_tokens": 20}}
    tests = yaml.safe_load((gov / "evals/tests/triage.yml").read_text(encoding="utf-8"))
    assert tests == [
        {"description": "triage.prompt.yml testData[0]", "metadata": {"category": "accuracy"},
         "vars": {"ticket": "I was charged twice this month."},
         "assert": [{"type": "icontains", "value": "billing", "metric": "right label"},
                    {"type": "javascript", "value": 'output.trim().toLowerCase().endsWith("billing")', "metric": "one word"}]},
        {"description": "triage.prompt.yml testData[1]", "metadata": {"category": "accuracy"},
         "vars": {"ticket": "The export button does nothing."},
         "assert": [{"type": "icontains", "value": "bug", "metric": "right label"},
                    {"type": "javascript", "value": 'output.trim().toLowerCase().endsWith("bug")', "metric": "one word"}]},
    ]
    assert pl(gov, capsys, "sync")[0] == 1
    code, out = pl(gov, capsys, "check")
    assert code == 0, out
    inputs = {"ticket": "I was charged twice this month."}
    # A `|` block ends with a line break gh-models sends; a card's text has no trailing line breaks.
    judged = [(role, text.rstrip("\n")) for role, text in github_messages(GITHUB, inputs)]
    assert served_messages(gov, "triage", "dev", inputs) == judged


@pytest.mark.slow
def test_the_imported_tests_run_in_promptfoo_against_the_local_provider(gov, capsys, tmp_path, promptfoo):
    """The tests a .prompt.yml's testData and evaluators became pass the real promptfoo."""
    source = tmp_path / "echo.prompt.yml"
    source.write_text("name: Echo\nmodel: openai/gpt-4o-mini\nmessages:\n  - role: user\n    content: 'Say {{word}}'\n"
                      "testData:\n  - word: apples\nevaluators:\n  - name: says it\n    string:\n      contains: '{{word}}'\n",
                      encoding="utf-8")
    imported(gov, capsys, source)
    assert pl(gov, capsys, "sync")[0] == 1
    code, out = pl(gov, capsys, "eval", "run", "echo")
    assert code == 0, out


def test_dry_run_shows_every_file_and_writes_nothing(gov, capsys, tmp_path):
    source = tmp_path / "triage.prompt.yml"
    source.write_text(GITHUB, encoding="utf-8")
    before = snapshot_tree(gov)
    code, out = pl(gov, capsys, "import", str(source), "--dry-run", "--id", "ticket-triage")
    assert code == 0, out
    for rel in ("prompts/ticket-triage/card.yml", "prompts/ticket-triage/system.md", "prompts/ticket-triage/user.md",
                "evals/tests/ticket-triage.yml"):
        assert f"--- {rel}" in out
    assert "Ticket: {{ ticket }}" in out and "Dry run: 4 file(s) would be written; nothing was." in out
    assert snapshot_tree(gov) == before


def test_a_refused_file_among_several_writes_none_of_them(gov, capsys, tmp_path):
    good, bad = tmp_path / "good.prompty", tmp_path / "bad.prompt"
    good.write_text(PROMPTY, encoding="utf-8")
    bad.write_text("---\nmodel: openai/gpt-4o\n---\n{{#if vip}}Dear VIP{{/if}}\n", encoding="utf-8")
    before = snapshot_tree(gov)
    code, out = pl(gov, capsys, "import", str(good), str(bad))
    assert code == 1
    assert f"{bad}:4:1: PL804" in out
    assert snapshot_tree(gov) == before


def test_several_files_import_in_one_run(gov, capsys, tmp_path):
    (tmp_path / "order.prompty").write_text(PROMPTY, encoding="utf-8")
    (tmp_path / "blurb.prompt").write_text(DOTPROMPT, encoding="utf-8")
    out = imported(gov, capsys, tmp_path / "order.prompty", str(tmp_path / "blurb.prompt"))
    assert "as prompts/order" in out and "as prompts/blurb" in out
    assert pl(gov, capsys, "sync")[0] == 1
    code, out = pl(gov, capsys, "check")
    assert code == 0, out
    code, out = pl(gov, capsys, "import", str(tmp_path / "order.prompty"), str(tmp_path / "blurb.prompt"), "--id", "x")
    assert code == 2 and "--id names one prompt" in out


def test_an_id_that_is_taken_or_invalid_is_refused(gov, capsys, tmp_path):
    source = tmp_path / "x.prompty"
    source.write_text(PROMPTY, encoding="utf-8")
    before = snapshot_tree(gov)
    code, out = pl(gov, capsys, "import", str(source), "--id", PID)
    assert code == 2 and f"prompts/{PID} already exists" in out
    code, out = pl(gov, capsys, "import", str(source), "--id", "Not_Valid")
    assert code == 2 and "not a valid prompt id" in out
    code, out = pl(gov, capsys, "import", str(tmp_path / "notes.txt"))
    assert code == 2 and "not a file promptlane imports" in out
    assert snapshot_tree(gov) == before


# Each construct a card cannot express, refused at its file:line:col (the files are written in tmp_path).
REFUSALS = [
    ("loop.prompty", "---\nmodel: {id: m, provider: openai}\n---\nuser:\n{% for item in items %}- {{ item }}\n{% endfor %}\n",
     "5:1: PL804", "template logic (for)"),
    ("if.prompty", "---\nmodel: {id: m, provider: openai}\n---\nsystem:\nHello{% if vip %}, dear VIP{% endif %}.\n",
     "5:6: PL804", "template logic (if)"),
    ("filter.prompty", "---\nmodel: {id: m, provider: openai}\ninputs: {name: {kind: string}}\n---\nuser:\nHi {{ name | upper }}\n",
     "6:4: PL805", "not a plain variable"),
    ("include.prompty", "---\nmodel: {id: m, provider: openai}\n---\nsystem:\n{% include 'rules.md' %}\n",
     "5:1: PL806", "template logic (include)"),
    ("comment.prompty", "---\nmodel: {id: m, provider: openai}\n---\nsystem:\nBe brief. {# tone #}\n",
     "5:11: PL807", "a template comment"),
    ("tools.prompty", "---\nmodel: {id: m, provider: openai}\ntools:\n  - name: lookup\n    kind: function\n---\nuser:\nhi\n",
     "4:3: PL803", "tools: a card has no tools"),
    ("image.prompty", "---\nmodel: {id: m, provider: openai}\ninputs:\n  photo:\n    kind: image\n---\nuser:\nLook\n",
     "5:5: PL808", "kind 'image' is a media or thread input"),
    ("developer.prompty", "---\nmodel: {id: m, provider: openai}\n---\ndeveloper:\nBe brief.\n",
     "4:1: PL809", "the 'developer' role"),
    ("frontless.prompty", "system:\nBe brief.\n", "1:1: PL801", "has no front matter"),
    ("noprovider.prompty", "---\nmodel:\n  id: gpt-4o\n---\nuser:\nhi\n", "3:3: PL811", "model.provider: missing"),
    ("mustache.prompty", "---\nmodel: {id: m, provider: openai}\ntemplate: {format: {kind: mustache}, parser: {kind: prompty}}\n"
     "---\nuser:\nhi\n", "3:20: PL803", "'mustache' is not supported"),
    ("env.prompty", "---\nmodel:\n  id: ${env:MODEL}\n  provider: openai\n---\nuser:\nhi\n", "3:7: PL811",
     "is resolved where the file runs"),
    ("boolean.prompt", "---\nmodel: openai/gpt-4o\ninput:\n  schema:\n    flag: boolean\n    name: string\n---\nHi {{name}}\n",
     "5:5: PL810", "type 'boolean' is not text"),
    ("if.prompt", "---\nmodel: openai/gpt-4o\n---\n{{role \"user\"}}\n{{#if vip}}Dear VIP{{/if}}\n",
     "5:1: PL804", "template logic (blocks"),
    ("each.prompt", "---\nmodel: openai/gpt-4o\n---\nItems:\n  {{#each items}}- {{this}}\n{{/each}}\n",
     "5:3: PL804", "template logic"),
    ("partial.prompt", "---\nmodel: openai/gpt-4o\n---\n{{role \"system\"}}\n{{> house_rules}}\n",
     "5:1: PL806", "a partial"),
    ("media.prompt", "---\nmodel: openai/gpt-4o\n---\nDescribe {{media url=photo}}\n",
     "4:10: PL808", "media, history and sections"),
    ("history.prompt", "---\nmodel: openai/gpt-4o\n---\n{{role \"system\"}}\nBe brief.\n{{history}}\n",
     "6:1: PL808", "media, history and sections"),
    ("helper.prompt", "---\nmodel: openai/gpt-4o\n---\nData: {{json order}}\n", "4:7: PL804", "helpers have no place"),
    ("path.prompt", "---\nmodel: openai/gpt-4o\n---\nHi {{user.name}}\n", "4:4: PL805", "not a plain variable"),
    ("comment.prompt", "---\nmodel: openai/gpt-4o\n---\n{{! the tone }}Be brief.\n", "4:1: PL807", "a template comment"),
    ("tools.prompt", "---\nmodel: openai/gpt-4o\ntools: [lookup]\n---\nhi\n", "3:8: PL803", "tools: a card has no tools"),
    ("nomodel.prompt", "---\nmodel: gpt-4o\n---\nhi\n", "2:8: PL811", "is not provider/name"),
    ("spaced.prompt.yml", "model: openai/gpt-4o\nmessages:\n  - role: user\n    content: 'Hi {{ name }}'\n",
     "4:18: PL805", "write {{name}}: gh-models fills only that exact text"),
    ("block.prompt.yml", "model: openai/gpt-4o\nmessages:\n  - role: user\n    content: |\n      Hello.\n      Hi {{ name }}\n",
     "6:10: PL805", "write {{name}}"),
    ("dashed.prompt.yml", "model: openai/gpt-4o\nmessages:\n  - {role: user, content: 'Hi {{first-name}}'}\n"
     "testData:\n  - first-name: Ana\nevaluators:\n  - {name: e, string: {contains: Ana}}\n",
     "3:31: PL805", "gh-models fills {{name}} only"),
    ("developer.prompt.yml", "model: openai/gpt-4o\nmessages:\n  - role: developer\n    content: hi\n",
     "3:11: PL809", "'developer' has no place on a card"),
    ("judge.prompt.yml", "model: openai/gpt-4o\nmessages:\n  - {role: user, content: 'Say {{w}}'}\ntestData:\n  - w: hi\n"
     "evaluators:\n  - name: polite\n    llm: {modelId: openai/gpt-4o, prompt: 'Is it polite?', choices: []}\n",
     "7:5: PL813", "an LLM judge cannot run offline"),
    ("schema.prompt.yml", "model: openai/gpt-4o\nresponseFormat: json_schema\njsonSchema: '{}'\nmessages:\n  - {role: user, content: hi}\n",
     "2:17: PL803", "a card has no structured output"),
    ("missing.prompt.yml", "model: openai/gpt-4o\nmessages:\n  - {role: user, content: 'Say {{w}}'}\ntestData:\n  - x: 1\n"
     "evaluators:\n  - {name: e, string: {contains: a}}\n", "5:5: PL813", "no value for 'w'"),
]


@pytest.mark.parametrize("name, text, where, phrase", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_construct_a_card_cannot_express_is_refused_at_its_place_and_nothing_is_written(
        gov, capsys, tmp_path, name, text, where, phrase):
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    before = snapshot_tree(gov)
    code, out = pl(gov, capsys, "import", str(source))
    assert code == 1, out
    assert any(line.startswith(f"{source}:{where}") and phrase in line for line in out.splitlines()), out
    assert "nothing was written" in out and "Traceback" not in out
    assert snapshot_tree(gov) == before


# ---------------------------------------------------------------------------------- export

# Characters each format must escape, and a backslash before a placeholder (Handlebars' escape).
TRICKY = "Literal {{ and {% and {# stay as they are; so does a lone \\ and \\{{ customer_name }}."
INPUTS = {"customer_name": "Ana", "question": "Where is my {{ refund }}?"}


@pytest.fixture
def in_prod(gov, capsys, monkeypatch):
    """support-reply 1.0.1 (with TRICKY text) served in staging and prod, then 1.0.2 in dev only."""
    new_version(gov, capsys, TRICKY)
    ready_for(gov, capsys, monkeypatch, "staging", "2026-12-01T08:00:00Z")
    assert pl(gov, capsys, "promote", PID, "--to", "staging")[0] == 0
    ready_for(gov, capsys, monkeypatch, "prod", "2026-12-01T08:10:00Z")
    assert pl(gov, capsys, "promote", PID, "--to", "prod")[0] == 0
    new_version(gov, capsys, "Only in dev.")
    assert card(gov)["version"] == "1.0.2"
    return gov


def _export(root: Path, capsys, fmt: str, out: Path, *extra: str) -> str:
    code, printed = pl(root, capsys, "export", PID, "--format", fmt, "-o", str(out), *extra)
    assert code == 0, printed
    assert f"Exported {PID} 1.0.1 as prod serves it, as {fmt} to {out}" in printed or "--env" in extra
    return out.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt, name", [("prompty", "reply.prompty"), ("dotprompt", "reply.prompt"),
                                       ("github-models", "reply.prompt.yml")])
def test_export_writes_the_prod_version_that_the_formats_parser_renders_as_the_runtime_does(in_prod, capsys, tmp_path, fmt, name):
    out = tmp_path / name
    text = _export(in_prod, capsys, fmt, out)
    assert "1.0.1" in text and "Only in dev." not in text  # the served snapshot, not the working card
    served = served_messages(in_prod, PID, "prod", INPUTS)
    assert TRICKY.replace("{{ customer_name }}", "Ana") in served[0][1]
    judged = {"prompty": lambda: prompty_messages(out, INPUTS), "dotprompt": lambda: dotprompt_messages(text, INPUTS),
              "github-models": lambda: github_messages(text, INPUTS)}[fmt]()
    assert judged == served


@pytest.mark.parametrize("fmt, name", [("prompty", "reply.prompty"), ("dotprompt", "reply.prompt"),
                                       ("github-models", "reply.prompt.yml")])
def test_an_exported_file_imports_back_to_the_same_payload_hash(in_prod, capsys, tmp_path, fmt, name):
    out = tmp_path / name
    _export(in_prod, capsys, fmt, out)
    imported(in_prod, capsys, out, "--id", "round-trip")
    assert pl(in_prod, capsys, "sync")[0] == 1
    served = yaml.safe_load((in_prod / "registry/store/support-reply/1.0.1.json").read_text())["hash"]
    again = yaml.safe_load((in_prod / "prompts/round-trip/card.yml").read_text())["hash"]
    assert again == served


def test_export_prints_to_stdout_without_o_and_names_the_environment(in_prod, capsys):
    code, out = pl(in_prod, capsys, "export", PID, "--format", "github-models", "--env", "dev")
    assert code == 0
    assert out.startswith('name: "Customer support reply"\n')
    assert "promptlane support-reply 1.0.2 as dev serves it" in out and "Only in dev." in out
    code, dash = pl(in_prod, capsys, "export", PID, "--format", "github-models", "--env", "dev", "-o", "-")
    assert code == 0 and dash == out


def test_export_refuses_an_environment_that_serves_nothing_and_unknown_names(gov, capsys, tmp_path):
    before = snapshot_tree(gov)
    code, out = pl(gov, capsys, "export", PID, "--format", "prompty", "-o", str(tmp_path / "x.prompty"))
    assert code == 1
    assert f"registry/{PID}.lock.json:1:1: PL820 prod serves no version of {PID}; promote one first" in out
    code, out = pl(gov, capsys, "export", PID, "--format", "prompty", "--env", "prdo")
    assert code == 2 and "'prdo' is not an environment (did you mean 'prod'?)" in out
    code, out = pl(gov, capsys, "export", "suport-reply", "--format", "prompty", "--env", "dev")
    assert code == 2 and "(did you mean 'support-reply'?)" in out
    assert snapshot_tree(gov) == before and not (tmp_path / "x.prompty").exists()


def test_export_refuses_what_a_format_cannot_carry_and_writes_nothing(gov, capsys, tmp_path):
    path = gov / "prompts/support-reply/card.yml"
    path.write_text(path.read_text().replace("max_tokens: 400}", "max_tokens: 400, seed: 7}"), encoding="utf-8")
    (gov / "prompts/support-reply/system.md").write_text("Rules follow.\nuser:\nBe kind.\n", encoding="utf-8")
    assert pl(gov, capsys, "sync")[0] == 1
    snap = "registry/store/support-reply/1.1.0.json"
    out_file = tmp_path / "x.prompt.yml"
    code, out = pl(gov, capsys, "export", PID, "--format", "github-models", "--env", "dev", "-o", str(out_file))
    assert code == 1 and f"{snap}:" in out and "PL822 model.params.seed: a .prompt.yml carries maxTokens" in out
    code, out = pl(gov, capsys, "export", PID, "--format", "prompty", "--env", "dev", "-o", str(out_file))
    assert code == 1 and "PL821 steps[0] (system) line 2: 'user:' would start a new message in Prompty" in out
    assert not out_file.exists()
    code, out = pl(gov, capsys, "export", PID, "--format", "dotprompt", "--env", "dev")
    assert code == 0 and 'config: {"temperature": 0.2, "maxOutputTokens": 400, "seed": 7}' in out


# ---------------------------------------------------------------------------------- any text

# Pieces that each format must escape or would misread, and plain ones.
PIECES = st.sampled_from(["{{", "}}", "{%", "%}", "{#", "#}", "{", "}", "\\", "\\\\", "~", "'", '"', " ", "\t", "\n",
                          "\n\n", "user:", "system:", "#", "<<<dotprompt:role:user>>>", "{{ x }}", "{{x}}", "{{{x}}}",
                          "{{ '{' }}", "a", "b c", "é", "---", "+++", "<b>", "&", "@", "\u2028"])
TEXTS = st.lists(PIECES, min_size=1, max_size=12).map("".join)
STEPS = st.lists(st.tuples(st.sampled_from(["system", "user", "assistant"]), TEXTS), min_size=1, max_size=3)


def _served(steps: list[tuple[str, str]]):
    """A served version of these steps, as a snapshot holds it (texts normalised as the hash does)."""
    from promptlane.core.formats.common import Served
    from promptlane.core.hashing import build_payload, normalise_text, payload_hash

    names = [f"s{index}" for index in range(len(steps))]
    texts = [normalise_text(text) for _, text in steps]
    used = sorted({m for text in texts for m in re.findall(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}", text)})
    payload = build_payload({"provider": "openai", "name": "gpt-4o-mini", "params": {"temperature": 0.2}},
                            [{"name": n, "role": r} for n, (r, _) in zip(names, steps)], texts, used)
    doc = {"payload": payload}
    return Served("p", "1.0.0", payload_hash(payload), "prod", "P", payload, "registry/store/p/1.0.0.json",
                  json.dumps(doc, indent=2))


def _runtime(served, inputs: dict) -> list[tuple[str, str]]:
    from promptlane.runtime.prompt import Prompt, Step

    prompt = Prompt(served.prompt_id, served.version, served.hash, served.environment, served.payload["model"],
                    tuple(Step(s["name"], s["role"], s["text"]) for s in served.steps), tuple(served.payload["variables"]))
    return [(m["role"], m["content"]) for m in prompt.render(**inputs)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_any_text_is_exported_so_the_formats_parser_renders_it_as_the_runtime_or_refused(tmp_path, steps):
    from promptlane.core.formats import dotprompt as dp
    from promptlane.core.formats import github_models as gm
    from promptlane.core.formats import prompty as pt
    from promptlane.core.formats.common import Refused

    served = _served(steps)
    inputs = {name: f"<{name} & value>" for name in served.payload["variables"]}
    expected = _runtime(served, inputs)
    for module, judge in ((pt, "prompty"), (dp, "dotprompt"), (gm, "github")):
        try:
            text = module.write(served)
        except Refused as refused:
            assert refused.problems and all(p.code in ("PL821", "PL822") for p in refused.problems)
            continue
        if judge == "prompty":
            path = tmp_path / "p.prompty"
            path.write_text(text, encoding="utf-8")
            got = prompty_messages(path, inputs)
        elif judge == "dotprompt":
            got = dotprompt_messages(text, inputs)
        else:
            got = github_messages(text, inputs)
        assert got == expected, (judge, text)


def _blank_lines_trimmed(text: str) -> str:
    return trimmed([("", text)])[0][1]


@settings(max_examples=300, deadline=None)
@given(steps=STEPS)
def test_any_exported_text_imports_back_to_the_same_steps_model_and_variables(steps):
    from promptlane.core.formats import dotprompt as dp
    from promptlane.core.formats import github_models as gm
    from promptlane.core.formats import prompty as pt
    from promptlane.core.formats.common import RUNTIME_PLACEHOLDER, Refused, Source

    served = _served(steps)
    for module, ending in ((pt, ".prompty"), (dp, ".prompt"), (gm, ".prompt.yml")):
        try:
            text = module.write(served)
        except Refused:
            continue
        back = module.read(Source("x" + ending, text))
        # An import writes each placeholder as promptlane spells it: {{ name }}.
        want = [(s["role"], RUNTIME_PLACEHOLDER.sub(r"{{ \1 }}", s["text"])) for s in served.steps]
        got = [(s.role, s.text) for s in back.steps]
        if module is dp:  # Dotprompt's own line breaks around a marker are not a card's (docs/interop.md)
            want = [(role, _blank_lines_trimmed(t)) for role, t in want]
        assert got == want, (ending, text)
        assert back.model == served.payload["model"] and sorted(back.variables) == served.payload["variables"]


# Pieces of a source file's body: role lines, placeholders, escapes, logic, plain text.
BODY = st.lists(st.sampled_from([
    "\nsystem:\n", "\nuser:\n", "\nassistant:\n", "{{ x }}", "{{x}}", "{{ y }}", "{{ '{' }}", "{{ \"}}\" }}", "{%", "{#",
    "{", "}", "}}", "\\", "\\{{x}}", "\\\\{{y}}", "{{role \"user\"}}", "{{role \"model\" ~}}", "{{~role \"system\"}}",
    "{{{x}}}", "{{#if x}}", "{{/if}}", "{{! c }}", "%", "#", "~", "\n", "\n\n", "  ", "a", "b c", "é", "<x> & y",
]), min_size=1, max_size=14).map("".join)


def _rendered(imported, inputs: dict) -> list[tuple[str, str]]:
    from promptlane.runtime.prompt import Prompt, Step

    steps = tuple(Step(f"s{i}", s.role, s.text) for i, s in enumerate(imported.steps))
    return [(m["role"], m["content"]) for m in Prompt("p", "1.0.0", "", "dev", {}, steps, tuple(imported.variables)).render(**inputs)]


JINJA_BODY = st.lists(st.sampled_from([
    "\nsystem:\n", "\nuser:\n", "\n  # assistant :  \n", "\nUser:\n", "user: hi", "{{ x }}", "{{x}}", "{{ y }}",
    "{{ '{' }}", '{{ "}" }}', "{{ '{{ x }}' }}", "{{- x }}", "{{ x|e }}", "{%", "%}", "{#", "#}", "{", "}", "}}", "\\",
    "%", "#", "~", "\n", "\n\n", "  ", "\t", "a", "b c", "é", "<x> & y", "---", "+++", "\u2028", "\f",
]), min_size=1, max_size=14).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JINJA_BODY)
def test_any_prompty_body_imports_to_what_prompty_renders_or_is_refused(tmp_path, body):
    from promptlane.core.formats import prompty as pt
    from promptlane.core.formats.common import Refused, Source

    text = "---\nmodel: {id: gpt-4o-mini, provider: openai}\n---\n" + body
    try:
        imported = pt.read(Source("p.prompty", text))
    except Refused as refused:
        assert all(p.code.startswith("PL8") for p in refused.problems)
        return
    path = tmp_path / "p.prompty"
    path.write_text(text, encoding="utf-8")
    inputs = {name: f"<{name}>" for name in imported.variables}
    assert _rendered(imported, inputs) == prompty_messages(path, inputs)


@settings(max_examples=300, deadline=None)
@given(body=BODY)
def test_any_dotprompt_body_imports_to_what_dotprompt_renders_or_is_refused(body):
    from promptlane.core.formats import dotprompt as dp
    from promptlane.core.formats.common import Refused, Source

    text = "---\nmodel: openai/gpt-4o-mini\n---\n" + body
    try:
        imported = dp.read(Source("p.prompt", text))
    except Refused as refused:
        assert all(p.code.startswith("PL8") for p in refused.problems)
        return
    inputs = {name: f"<{name}>" for name in imported.variables}
    assert _rendered(imported, inputs) == trimmed(dotprompt_messages(text, inputs))


CONTENT = st.lists(st.sampled_from(["{{x}}", "{{y}}", "{{ x }}", "{{x-y}}", "{{%}}", "{{", "}}", "{", "}", "\\", "\n",
                                    "  ", "a", "b c", "é", "'", '"', ": ", "#", "- ", "|", "\u2028", "\t"]),
                   min_size=1, max_size=10).map("".join)


@settings(max_examples=300, deadline=None)
@given(contents=st.lists(st.tuples(st.sampled_from(["system", "user", "assistant", "User"]), CONTENT), min_size=1, max_size=3))
def test_any_github_models_messages_import_to_what_gh_models_sends_or_are_refused(contents):
    from promptlane.core.formats import github_models as gm
    from promptlane.core.formats.common import Refused, Source, yaml_scalar
    from promptlane.core.hashing import normalise_text

    text = "model: openai/gpt-4o-mini\nmessages:\n" + "".join(
        f"  - role: {role}\n    content: {yaml_scalar(content)}\n" for role, content in contents)
    text += "testData:\n  - {x: X1, y: Y2, x-y: XY}\nevaluators:\n  - {name: e, string: {contains: a}}\n"
    try:
        imported = gm.read(Source("p.prompt.yml", text))
    except Refused as refused:
        assert all(p.code.startswith("PL8") for p in refused.problems)
        return
    inputs = {name: {"x": "X1", "y": "Y2"}[name] for name in imported.variables}
    for step in imported.steps:  # as sync stores the texts (a card's trailing line breaks are not kept)
        step.text = normalise_text(step.text)
    judged = [(role, normalise_text(content)) for role, content in github_messages(text, {**inputs, "x-y": "XY"})]
    assert _rendered(imported, inputs) == judged
