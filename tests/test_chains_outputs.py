"""Chains (issue 19) in what promptlane writes for people and other programs: diff, report,
the JSON bundle and SQLite export (loaded and run by promptlane.runtime), the other tools'
formats (a chain is refused), and rollback (a chain's card and texts restored).

Each test works in a repository rendered from the template (the `gov` fixture, real git)
whose support-reply prompt becomes a chain of two calls, versioned by `promptlane sync`.
"""
from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from conftest import CHAIN_CALLS, snapshot_tree
from governed import CARD, PID, card, commit, lock, pl, ready_for

FOLDER = f"prompts/{PID}"
# The scaffold's card with its steps: replaced by two calls (and without its budget: budgets of
# chains are tests/test_chain_budget.py's): extract reads the question, draft writes the reply
# from its output with the scaffold's own texts.
CALLS = CHAIN_CALLS.replace("file: draft-system.md", "file: system.md").replace("file: draft-user.md", "file: user.md")
TEXTS = {
    "extract-system.md": "List the facts of the customer's question, one a line.\n",
    "extract-user.md": "{{ question }}\n",
    "user.md": "Customer name: {{ customer_name }}\n\nFacts:\n{{ extract.output }}\n\nWrite the reply e-mail.\n",
}


def as_chain(root: Path, calls: str = CALLS, texts: dict | None = None) -> None:
    """The card's steps: or calls: (up to the managed block) replaced by ``calls``, ``texts`` written."""
    text = (root / CARD).read_text(encoding="utf-8")
    start = re.search(r"^(steps|calls):\n", text, re.M)
    assert start, text
    head, tail = text[:start.start()], text[text.index("# ---- managed block"):]
    (root / CARD).write_text(head + calls + tail, encoding="utf-8")
    for name, body in (TEXTS if texts is None else texts).items():
        (root / FOLDER / name).write_text(body, encoding="utf-8")


def synced(root: Path, capsys, message: str) -> str:
    code, out = pl(root, capsys, "sync")
    assert code == 1, out
    commit(root, message)
    return str(card(root)["version"])


@pytest.fixture
def chained(gov, capsys) -> Path:
    """1.0.0 is the scaffold's single call; 1.1.0 the chain extract -> draft (steps: -> calls: is minor)."""
    as_chain(gov)
    assert synced(gov, capsys, "a chain") == "1.1.0"
    return gov


def run_chain(prompt) -> tuple[object, list[tuple[list[dict], dict]]]:
    """prompt.run with a model that answers each call with a text naming the call's model."""
    seen: list[tuple[list[dict], dict]] = []

    def call_model(messages: list[dict], model: dict) -> str:
        seen.append((messages, model))
        return f"answer {len(seen)} from {model['name']}"

    return prompt.run(call_model, customer_name="Ada", question="Where is my parcel?"), seen


# ---------------------------------------------------------------- diff


def test_diff_from_a_single_call_to_a_chain(chained, capsys):
    code, out = pl(chained, capsys, "diff", PID)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"promptlane diff {PID} 1.0.0 1.1.0"
    rows = {line[2:].split("  ")[0]: line for line in lines[2:] if line[2:].strip()}
    assert rows["calls"].startswith("* ") and "(one call: steps)" in rows["calls"] and rows["calls"].endswith("extract → draft")
    assert rows["model"].split()[2:] == ["openai/gpt-4o-mini", "—"]
    assert rows["call extract"].split()[3:] == ["—", "openai/gpt-4o-mini"]
    assert rows["call draft"].split()[3:] == ["—", "openai/gpt-4o"]
    assert "steps: -> calls: (a chain of 2 calls)" in lines
    assert "the single call: removed" in lines
    assert "call extract: added as call 1 of 2 (openai/gpt-4o-mini)" in lines
    assert "call draft: added as call 2 of 2 (openai/gpt-4o)" in lines
    assert f"--- {PID}@1.0.0/user (user)" in lines and f"+++ {PID}@1.1.0/draft/user (user)" in lines
    assert f"+++ {PID}@1.1.0/extract/system (system)" in lines and "+List the facts of the customer's question, one a line." in lines


def test_diff_of_two_chains_call_by_call(chained, capsys):
    calls = (CALLS.replace("params: {max_tokens: 500}", "params: {max_tokens: 600, top_p: 0.9}")
             .replace("model: {name: gpt-4o}", "model: {provider: anthropic, name: claude-haiku}")
             .replace("{name: system, role: system, file: extract-system.md}", "{name: system, role: user, file: extract-system.md}"))
    polish = "  - name: polish\n    steps:\n      - {name: user, role: user, file: polish-user.md}\n"
    as_chain(chained, calls + polish, {**TEXTS, "extract-system.md": "List the facts, one a line.\n",
                                       "polish-user.md": "Shorten:\n{{ draft.output }}\n"})
    assert synced(chained, capsys, "three calls") == "1.2.0"
    code, out = pl(chained, capsys, "diff", PID)
    assert code == 0, out
    lines = out.splitlines()
    rows = {line[2:].split("  ")[0]: line for line in lines[2:] if line[2:].strip()}
    assert rows["calls"].endswith("extract → draft → polish") and rows["calls"].startswith("* ")
    assert rows["call draft"].startswith("* ") and rows["call draft"].split()[3:] == ["openai/gpt-4o", "anthropic/claude-haiku"]
    assert rows["call extract"].startswith("  ")  # same model and parameters
    assert "call draft: model openai/gpt-4o -> anthropic/claude-haiku" in lines
    assert "call draft: max_tokens 500 -> 600" in lines and "call draft: top_p — -> 0.9" in lines
    assert "call polish: added as call 3 of 3 (openai/gpt-4o-mini)" in lines
    assert "call extract, step system: role system -> user" in lines
    at = lines.index(f"--- {PID}@1.1.0/extract/system (system)")
    assert lines[at + 1] == f"+++ {PID}@1.2.0/extract/system (user)"
    assert "-List the facts of the customer's question, one a line." in lines and "+List the facts, one a line." in lines
    assert f"+++ {PID}@1.2.0/polish/user (user)" in lines and "+{{ draft.output }}" in lines
    assert not any("/draft/" in line for line in lines)  # draft's texts did not change
    assert not any(line.startswith("calls re-ordered") for line in lines)

    # Re-ordered and removed: extract and draft swap places (a valid card: draft no longer
    # reads extract's output), polish goes.
    swapped = CALLS.split("  - name: draft\n")
    as_chain(chained, "calls:\n  - name: draft\n" + swapped[1] + swapped[0][len("calls:\n"):],
             {**TEXTS, "user.md": "Customer name: {{ customer_name }}\n\nWrite the reply e-mail.\n",
              "extract-user.md": "{{ question }}\n{{ draft.output }}\n"})
    synced(chained, capsys, "swapped")
    code, out = pl(chained, capsys, "diff", PID, "1.1.0")
    assert code == 0, out
    lines = out.splitlines()
    assert "calls re-ordered: extract, draft -> draft, extract" in lines
    assert not any(line.startswith("call polish") for line in lines)  # 1.1.0 had no polish
    code, out = pl(chained, capsys, "diff", PID, "1.2.0")
    assert "call polish: removed" in out.splitlines() and f"--- {PID}@1.2.0/polish/user (user)" in out


def test_diff_of_a_chain_with_itself_says_nothing_changed(chained, capsys):
    code, out = pl(chained, capsys, "diff", PID, "1.1.0", "dev")
    assert code == 0, out
    assert out.splitlines()[-1] == "(calls and step texts are identical)"


# ---------------------------------------------------------------- report


def test_report_shows_a_chain_calls_and_models(chained, capsys):
    code, out = pl(chained, capsys, "report", "--html", "report.html", "--markdown", "summary.md")
    assert code == 0, out
    page = (chained / "report.html").read_text(encoding="utf-8")
    assert ('<p class="calls">chain of 2 calls in 1.1.0: <code>extract</code> openai/gpt-4o-mini → '
            '<code>draft</code> openai/gpt-4o</p>') in page
    summary = (chained / "summary.md").read_text(encoding="utf-8")
    row = next(line for line in summary.splitlines() if line.startswith(f"| {PID}"))
    assert row.startswith(f"| {PID} (chain: extract openai/gpt-4o-mini → draft openai/gpt-4o) | 1.1.0 | minor |"), row
    code, out = pl(chained, capsys, "report", "--markdown", "--base", "HEAD~1")
    assert code == 0 and f"| {PID} (chain: extract openai/gpt-4o-mini → draft openai/gpt-4o) | 1.0.0 → 1.1.0 | minor |" in out, out


def test_report_of_a_single_call_names_no_calls(gov, capsys):
    code, out = pl(gov, capsys, "report", "--html", "report.html", "--markdown", "-")
    assert code == 0, out
    assert f"| {PID} | 1.0.0 |" in out
    page = (gov / "report.html").read_text(encoding="utf-8")
    section = page[page.index(f'<section class="prompt" id="prompt-{PID}">'):]
    assert 'class="calls"' not in section[:section.index("</section>")]


# ---------------------------------------------------------------- the JSON bundle and SQLite, run by the runtime


@pytest.mark.parametrize("fmt", ["json", "sqlite"])
def test_a_chain_exported_loads_and_runs_with_the_runtime(chained, capsys, fresh_runtime, monkeypatch, fmt):
    from promptlane import runtime

    log = chained.parent / "trace.jsonl"
    monkeypatch.setenv("PROMPTLANE_TRACE_LOG", str(log))

    out_file = chained / f"build/registry.{fmt}"
    code, out = pl(chained, capsys, "registry", "export", fmt, str(out_file))
    assert code == 0, out
    snapshot = json.loads((chained / f"registry/store/{PID}/1.1.0.json").read_text(encoding="utf-8"))
    if fmt == "json":
        exported = json.loads(out_file.read_text(encoding="utf-8"))["prompts"][PID]["versions"]["1.1.0"]["payload"]
    else:
        with sqlite3.connect(out_file) as db:
            exported = json.loads(db.execute("SELECT payload FROM versions WHERE prompt=? AND version='1.1.0'", (PID,)).fetchone()[0])
    assert exported == snapshot["payload"] and exported["format"] == "promptlane-chain/1"  # the payload as hashed

    prompt = runtime.load(out_file).get(PID, "dev")
    assert prompt.version == "1.1.0" and prompt.hash == snapshot["hash"] and prompt.is_chain
    result, seen = run_chain(prompt)
    assert [model["name"] for _, model in seen] == ["gpt-4o-mini", "gpt-4o"]
    assert seen[1][1]["params"] == {"temperature": 0.2, "max_tokens": 500}
    assert seen[0][0][1] == {"role": "user", "content": "Where is my parcel?"}
    assert seen[1][0][1]["content"] == ("Customer name: Ada\n\nFacts:\nanswer 1 from gpt-4o-mini\n\n"
                                        "Write the reply e-mail.")
    assert result.output == "answer 2 from gpt-4o"
    assert result.outputs == {"extract": "answer 1 from gpt-4o-mini", "draft": "answer 2 from gpt-4o"}
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    chain = next(r for r in records if "calls" in r)
    assert len(records) == 3 and [r.get("parent_id") for r in records if r is not chain] == [chain["trace_id"]] * 2
    assert (chain["prompt_id"], chain["version"], chain["hash"]) == (PID, "1.1.0", snapshot["hash"])
    assert runtime.load(out_file).version(PID, "1.0.0").is_chain is False  # the single call, in the same file


# ---------------------------------------------------------------- other tools' formats


@pytest.mark.parametrize("fmt, kind", [("prompty", "Prompty"), ("dotprompt", "Dotprompt"),
                                       ("github-models", "GitHub Models (.prompt.yml)")])
def test_a_chain_is_not_exported_to_a_format_of_one_model_call(chained, capsys, fmt, kind):
    before = snapshot_tree(chained)
    code, out = pl(chained, capsys, "export", PID, "--format", fmt, "--env", "dev", "-o", "out.txt")
    assert code == 1, out
    snapshot = f"registry/store/{PID}/1.1.0.json"
    lines = (chained / snapshot).read_text().splitlines()
    payload = next(n for n, text in enumerate(lines) if '"payload"' in text)
    line = next(n for n, text in enumerate(lines, 1) if n > payload and '"calls"' in text)  # the payload's calls
    assert f"{snapshot}:{line}:" in out and "PL823" in out
    assert (f"{PID} 1.1.0 is a chain of 2 model calls (extract, draft); a {kind} file holds one model call, so the chain "
            "cannot be written as one. Keep it in promptlane (the runtime runs it: prompt.run(call_model, ...)), or copy "
            "each call's texts into a file of its own by hand") in out
    assert f"{PID} 1.1.0 cannot be written as {fmt}; nothing was written" in out
    assert snapshot_tree(chained) == before and not (chained / "out.txt").exists()


def test_a_chain_that_is_one_call_again_exports(chained, capsys):
    """What the environment serves decides: once dev serves a single call again, it exports."""
    as_chain(chained, "steps:\n  - {name: system, role: system, file: system.md}\n  - {name: user, role: user, file: user.md}\n",
             {"user.md": "Customer name: {{ customer_name }}\n\n{{ question }}\n"})
    assert synced(chained, capsys, "one call again") == "1.2.0"
    code, out = pl(chained, capsys, "export", PID, "--format", "prompty", "--env", "dev")
    assert code == 0, out
    assert "Customer name: {{customer_name}}" in out.replace("{{ ", "{{").replace(" }}", "}}")


# ---------------------------------------------------------------- rollback


def test_rollback_restores_a_chain_card_and_its_texts(chained, capsys, monkeypatch):
    from governed import clock

    clock(monkeypatch, "2026-12-01T10:00:00Z")
    ready_for(chained, capsys, monkeypatch, "staging", "2026-12-01T09:30:00Z")
    assert pl(chained, capsys, "promote", PID, "--to", "staging")[0] == 0
    commit(chained, "1.1.0 in staging")
    chain_card = (chained / CARD).read_text(encoding="utf-8")

    # 1.2.0: one call again (steps:), promoted to staging, then rolled back.
    as_chain(chained, "steps:\n  - {name: system, role: system, file: system.md}\n  - {name: user, role: user, file: user.md}\n",
             {"user.md": "Customer name: {{ customer_name }}\n\n{{ question }}\n"})
    (chained / FOLDER / "extract-user.md").unlink()
    assert synced(chained, capsys, "one call") == "1.2.0"
    clock(monkeypatch, "2026-12-01T12:00:00Z")
    ready_for(chained, capsys, monkeypatch, "staging", "2026-12-01T11:30:00Z")
    assert pl(chained, capsys, "promote", PID, "--to", "staging")[0] == 0
    commit(chained, "1.2.0 in staging")

    code, out = pl(chained, capsys, "rollback", PID, "--env", "staging", "--reason", "INC-1: the chain was better")
    assert code == 0, out
    assert lock(chained)["environments"]["staging"] == "1.1.0"
    restored = card(chained)
    assert restored["version"] == "1.1.0" and "steps" not in restored
    assert [c["name"] for c in restored["calls"]] == ["extract", "draft"]
    assert restored["calls"][1]["params"] == {"max_tokens": 500}
    # calls: where steps: was, in the card's style, above the managed block as the chain wrote it
    assert (chained / CARD).read_text(encoding="utf-8").split("# ---- managed")[0] == chain_card.split("# ---- managed")[0]
    for name, text in TEXTS.items():
        assert (chained / FOLDER / name).read_text(encoding="utf-8") == text
    code, out = pl(chained, capsys, "check")
    assert code == 0, out


def test_rollback_from_a_chain_restores_the_single_call(gov, capsys, monkeypatch):
    from governed import clock

    single = (gov / CARD).read_text(encoding="utf-8")
    texts = {name: (gov / FOLDER / name).read_text(encoding="utf-8") for name in ("system.md", "user.md")}
    clock(monkeypatch, "2026-12-01T10:00:00Z")
    ready_for(gov, capsys, monkeypatch, "staging", "2026-12-01T09:30:00Z")
    assert pl(gov, capsys, "promote", PID, "--to", "staging")[0] == 0
    commit(gov, "1.0.0 in staging")
    as_chain(gov)
    assert synced(gov, capsys, "a chain") == "1.1.0"
    clock(monkeypatch, "2026-12-01T12:00:00Z")
    ready_for(gov, capsys, monkeypatch, "staging", "2026-12-01T11:30:00Z")
    assert pl(gov, capsys, "promote", PID, "--to", "staging")[0] == 0
    commit(gov, "1.1.0 in staging")

    code, out = pl(gov, capsys, "rollback", PID, "--env", "staging", "--reason", "INC-2: one call was enough")
    assert code == 0, out
    restored = card(gov)
    assert restored["version"] == "1.0.0" and "calls" not in restored
    assert restored["steps"] == [{"name": "system", "role": "system", "file": "system.md"},
                                 {"name": "user", "role": "user", "file": "user.md"}]
    text = (gov / CARD).read_text(encoding="utf-8")
    assert text.index("variables:") < text.index("steps:") < text.index("# ---- managed block")
    assert "  - {name: system, role: system, file: system.md}\n" in text
    assert {name: (gov / FOLDER / name).read_text(encoding="utf-8") for name in texts} == texts
    assert single.split("budget:")[0] == text.split("# ---- managed")[0]  # only the budget these chains leave out is gone
    code, out = pl(gov, capsys, "check")
    assert code == 0, out


def test_update_card_puts_calls_where_steps_was_and_back():
    """store/cardwrite.update_card(instead=): the swap rollback makes, every other line kept."""
    from promptlane.store.cardwrite import MANAGED_COMMENT, update_card

    single = ("id: x\nmodel: {provider: p, name: n}\nvariables: [a]\nsteps:\n  - {name: user, role: user, file: user.md}\n"
              f"# {MANAGED_COMMENT}\nversion: 1.0.0\n")
    calls = [{"name": "one", "steps": [{"name": "user", "role": "user", "file": "one.md"}]},
             {"name": "two", "model": {"name": "m"}, "steps": [{"name": "user", "role": "user", "file": "two.md"}]}]
    chain = update_card(single, {"calls": calls, "version": "1.1.0"}, remove=("steps",), instead={"calls": "steps"})
    assert chain == ("id: x\nmodel: {provider: p, name: n}\nvariables: [a]\ncalls:\n"
                     "  - name: one\n    steps:\n      - {name: user, role: user, file: one.md}\n"
                     "  - name: two\n    model: {name: m}\n    steps:\n      - {name: user, role: user, file: two.md}\n"
                     f"# {MANAGED_COMMENT}\nversion: 1.1.0\n")
    steps = [{"name": "user", "role": "user", "file": "user.md"}]
    assert update_card(chain, {"steps": steps, "version": "1.0.0"}, remove=("calls",), instead={"steps": "calls"}) == single
    with_budget = single.replace("# ----", "budget: {max_input_tokens: 10}\n# ----")
    swapped = update_card(with_budget, {"calls": calls}, remove=("steps",), instead={"calls": "steps"})
    assert swapped.count(MANAGED_COMMENT) == 1 and swapped.index("calls:") < swapped.index("budget:") < swapped.index(MANAGED_COMMENT)
