"""`promptlane eval run` and `eval import` with the real, pinned promptfoo, in a repository
rendered from the template (its offline local provider, its six tests).

promptfoo: $PROMPTLANE_PROMPTFOO (`make test` sets it), else .tools/promptfoo of this checkout,
else `promptfoo` on PATH; the tests are skipped when neither it nor Node.js is there.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keys import KNOWN, key_for, register
import yaml

from conftest import ROOT, git, run_cli
from promptlane.store.cards import read_card
from promptlane.store.results import load_results
from promptlane.core.results import results_rel
from promptlane.commands.init import init
from promptlane.store.repo import Repo

pytestmark = pytest.mark.slow

CATEGORIES = {"accuracy": 2, "hallucination": 1, "cost": 1, "safety": 2}  # the template's six tests


def _promptfoo() -> str | None:
    configured = os.environ.get("PROMPTLANE_PROMPTFOO")
    candidates = [configured] if configured else [str(ROOT / ".tools/promptfoo/node_modules/.bin/promptfoo"), shutil.which("promptfoo")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


@pytest.fixture(scope="session")
def promptfoo() -> str:
    found = _promptfoo()
    if not found or not shutil.which("node"):
        pytest.skip("promptfoo or Node.js is not installed (run `make promptfoo`)")
    return found


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory) -> Path:
    """The template rendered once (tests copy it): cookiecutter's config and replay stay in tmp."""
    base = tmp_path_factory.mktemp("eval-template")
    config = base / "cookiecutter.yml"
    config.write_text(f"cookiecutters_dir: {base / 'cc'}\nreplay_dir: {base / 'replay'}\n")
    root = init(base / "governed", config_file=str(config))
    register(root, *KNOWN)  # the reviewers' own keys, as a team sets them up
    return root


@pytest.fixture
def governed(template_repo, tmp_path, promptfoo, monkeypatch) -> Path:
    root = tmp_path / "governed"
    shutil.copytree(template_repo, root, symlinks=True)
    monkeypatch.setenv("PROMPTLANE_PROMPTFOO", promptfoo)
    return root


def card_of(root: Path):
    card = read_card(Repo(root), "support-reply")
    assert card.ok, card.problems
    return card


def use_provider(root: Path, name: str, code: str) -> None:
    """Point the repository's eval config at evals/providers/<name>.py."""
    (root / f"evals/providers/{name}.py").write_text(code, encoding="utf-8")
    config = root / "evals/eval-config.promptfoo.yml"
    config.write_text(config.read_text().replace("file://providers/local_echo.py", f"file://providers/{name}.py"))


def test_run_writes_results_for_the_current_hash(governed, capsys):
    card = card_of(governed)
    code, out = run_cli(governed, "eval", "run", "support-reply", capsys=capsys)
    rel = results_rel("support-reply", card.hash)
    assert (code, out) == (0, f"support-reply ... 6/6 passed -> {rel}\n")
    doc = load_results(governed, "support-reply", card.hash)
    assert (doc["tests"], doc["passed"], doc["failed"], doc["errors"], doc["pass_rate"]) == (6, 6, 0, 0, 1.0)
    assert {name: c["tests"] for name, c in doc["categories"].items()} == CATEGORIES
    assert (doc["version"], doc["provider"], doc["promptfoo_version"]) == ("1.0.0", "local-echo", "0.121.20")
    assert doc["tokens"]["total"] == doc["tokens"]["prompt"] + doc["tokens"]["completion"] > 0
    assert 0 < doc["cost_usd"] < 0.01 and doc["failures"] == []
    chain = {"prompt": "triage-reply", "hash": read_card(Repo(governed), "triage-reply").hash}  # the other example, never run
    code, out = run_cli(governed, "eval", "plan", capsys=capsys)
    assert json.loads(out) == {"include": [chain]}
    # A changed prompt owes results again; the old ones never count for it.
    (governed / "prompts/support-reply/system.md").write_text("You are terse. Write to {{ customer_name }}.\n")
    run_cli(governed, "sync", capsys=capsys)
    changed = card_of(governed)
    assert load_results(governed, "support-reply", changed.hash) is None
    code, out = run_cli(governed, "eval", "plan", capsys=capsys)
    assert json.loads(out) == {"include": [{"prompt": "support-reply", "hash": changed.hash}, chain]}


def test_a_failing_eval_exits_1_and_records_the_reason(governed, capsys):
    with (governed / "evals/tests/support-reply.yml").open("a", encoding="utf-8") as tests:
        tests.write("\n- description: promises a free pony\n  metadata: {category: accuracy}\n"
                    "  vars: {customer_name: Gus, question: Where is my invoice?}\n"
                    "  assert:\n    - type: contains\n      value: free pony\n")
    code, out = run_cli(governed, "eval", "run", "support-reply", capsys=capsys)
    assert code == 1 and "6/7 passed, 1 failed" in out
    doc = load_results(governed, "support-reply", card_of(governed).hash)
    assert doc["categories"]["accuracy"] == {"tests": 3, "passed": 2, "pass_rate": 0.666667}
    (failure,) = doc["failures"]
    assert (failure["test"], failure["category"]) == ("promises a free pony", "accuracy")
    assert "free pony" in failure["reason"]


PONY = ("\n- description: promises a free pony\n  metadata: {category: accuracy}\n"
        "  vars: {customer_name: Gus, question: Where is my invoice?}\n"
        "  assert:\n    - type: contains\n      value: free pony\n    - type: javascript\n"
        "      value: \"output.includes('pony') || output.includes('unicorn') || output.includes('a free horse of any kind')\"\n")


def test_each_failing_test_is_shown_with_its_assertions_reasons_and_output(governed, capsys):
    with (governed / "evals/tests/support-reply.yml").open("a", encoding="utf-8") as tests:
        tests.write(PONY)
    code, out = run_cli(governed, "eval", "run", "support-reply", capsys=capsys)
    rel = results_rel("support-reply", card_of(governed).hash)
    first, *shown = out.splitlines()
    assert (code, first) == (1, f"support-reply ... 6/7 passed, 1 failed -> {rel}")
    # Each failed assertion (its value cut at 80 characters) with its reason; the output's start
    # on one line, its newlines written \n.
    assert shown[:6] == [
        "  FAILED promises a free pony (accuracy)",
        '    assertion: contains "free pony"',
        '    reason: Expected output to contain "free pony"',
        "    assertion: javascript \"output.includes('pony') || output.includes('unicorn') || output.includes('a f...\"",
        "    reason: Custom function returned false\\noutput.includes('pony') || output.includes('unicorn') || "
        "output.includes('a free horse of any kind')",
        shown[5]]
    assert shown[5].startswith('    output: "Hi Gus,\\n\\nThank you for getting in touch.') and shown[5].endswith('..."')
    assert len(shown) == 6
    code, out = run_cli(governed, "eval", "run", "support-reply", "--force", "--json", capsys=capsys)
    (prompt,) = json.loads(out)["prompts"]  # stdout is the JSON document alone
    assert code == 1 and {k: prompt[k] for k in ("prompt", "outcome", "kept", "results", "tests", "passed", "failed", "errors")} == {
        "prompt": "support-reply", "outcome": "failed", "kept": False, "results": rel, "tests": 7, "passed": 6, "failed": 1, "errors": 0}
    (failure,) = prompt["failures"]
    assert (failure["test"], failure["category"], failure["outcome"]) == ("promises a free pony", "accuracy", "failed")
    assert [(a["type"], a["value"][:20], a["reason"][:30]) for a in failure["assertions"]] == [
        ("contains", "free pony", 'Expected output to contain "fr'), ("javascript", "output.includes('pon", "Custom function returned false")]
    assert len(failure["assertions"][1]["value"]) == 80 and failure["output"].startswith("Hi Gus,\n\nThank you")
    assert len(failure["output"]) == 200 and failure["output"].endswith("...")
    # Kept results (no --force) show what the results file keeps: the test, its category and
    # promptfoo's reason for it (that of its last failed assertion).
    code, out = run_cli(governed, "eval", "run", "support-reply", capsys=capsys)
    assert code == 1 and out.splitlines()[1:] == ["  FAILED promises a free pony (accuracy)", shown[4]]


def test_an_erroring_provider_counts_errors(governed, capsys):
    use_provider(governed, "broken", "def call_api(prompt, options, context):\n    raise RuntimeError('model unavailable')\n")
    code, out = run_cli(governed, "eval", "run", "support-reply", capsys=capsys)
    assert code == 1 and "0/6 passed, 6 errors" in out
    doc = load_results(governed, "support-reply", card_of(governed).hash)
    assert (doc["errors"], doc["failed"], doc["pass_rate"]) == (6, 0, 0.0)
    assert all("model unavailable" in f["reason"] for f in doc["failures"])
    # Each errored test is shown: no assertion failed, so its reason (the error's first line) alone.
    shown = out.splitlines()
    at = shown.index("  ERROR password reset points to the reset article (accuracy)")
    assert "model unavailable" in shown[at + 1] and shown[at + 1].startswith("    reason: ")
    assert shown[at + 2] == "    output: (empty)"


def test_a_hanging_provider_times_out_and_writes_nothing(governed, capsys):
    use_provider(governed, "slow", "import time\n\ndef call_api(prompt, options, context):\n    time.sleep(60)\n    return {'output': 'late'}\n")
    started = time.monotonic()
    code, _ = run_cli(governed, "eval", "run", "support-reply", "--timeout", "5")
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    assert code == 1 and elapsed < 20
    assert "support-reply ... error" in captured.out
    assert "did not finish within 5 s and was stopped; no results were written" in captured.err
    assert not (governed / "evals/results/support-reply").exists()


def test_a_missing_provider_file_is_refused_before_running(governed, capsys):
    config = governed / "evals/eval-config.promptfoo.yml"
    config.write_text(config.read_text().replace("file://providers/local_echo.py", "file://providers/gone.py"))
    started = time.monotonic()
    code, out = run_cli(governed, "eval", "run", capsys=capsys)
    assert code == 2 and time.monotonic() - started < 5
    assert "PL323 file://providers/gone.py does not exist" in out


def test_import_takes_promptfoos_own_results_until_the_prompt_changes(governed, promptfoo, tmp_path, capsys):
    output = tmp_path / "results.json"
    env = {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
           "PROMPTFOO_CONFIG_DIR": str(tmp_path / "promptfoo-home"), "PROMPTFOO_PYTHON": sys.executable}
    done = subprocess.run([promptfoo, "eval", "-c", "evals/eval-config.promptfoo.yml", "-o", str(output), "--no-cache",
                           "--no-share", "--no-progress-bar", "--no-table"], cwd=governed, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    card = card_of(governed)
    code, out = run_cli(governed, "eval", "import", str(output), "--prompt", "support-reply", "--current-inputs", capsys=capsys)
    assert code == 0 and f"imported 6/6 passed for {card.hash[:19]}" in out
    doc = load_results(governed, "support-reply", card.hash)
    assert {name: c["tests"] for name, c in doc["categories"].items()} == CATEGORIES
    # The same results after the prompt changed: refused, nothing written for the new hash.
    user = governed / "prompts/support-reply/user.md"
    user.write_text(user.read_text().replace("Write the reply e-mail.", "Write a short reply e-mail."))
    run_cli(governed, "sync", capsys=capsys)
    changed = card_of(governed)
    code, _ = run_cli(governed, "eval", "import", str(output), "--prompt", "support-reply", "--current-inputs")
    err = capsys.readouterr().err
    assert code == 1
    assert "is not the current payload of support-reply" in err and "differs from prompts/support-reply/user.md" in err
    assert load_results(governed, "support-reply", changed.hash) is None


# ---------------------------------------------------------------- the eval gate, end to end


GATE_CARD = "prompts/support-reply/card.yml"


def _raise_to(root, env):
    path = root / GATE_CARD
    text = path.read_text()
    current = yaml.safe_load(text)["environment"]
    path.write_text(text.replace(f"environment: {current}", f"environment: {env}", 1))


def _edit(root, line):
    path = root / "prompts/support-reply/system.md"
    path.write_text(path.read_text() + line + "\n")


def test_raising_environment_needs_results_for_this_exact_hash(governed, capsys, monkeypatch):
    root = governed
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "scaffold")
    _edit(root, "Never promise refunds.")
    assert run_cli(root, "sync")[0] == 1

    # Without results: refused, and the message names the command that fixes it.
    _raise_to(root, "staging")
    code, out = run_cli(root, "check", GATE_CARD, capsys=capsys)
    assert code == 1 and "no eval results for 1.0.1" in out and "`promptlane eval run support-reply`" in out

    # Real promptfoo results for this hash, and the approval the policy asks for: accepted.
    assert run_cli(root, "eval", "run", "support-reply", capsys=capsys)[0] == 0
    monkeypatch.setenv("PROMPTLANE_ACTOR", "pm@example.com")
    code, out = run_cli(root, "approve", "support-reply", "--role", "PM", "--key", str(key_for("pm@example.com")),
                        "--all-confirmed", capsys=capsys)
    assert code == 0, out
    monkeypatch.delenv("PROMPTLANE_ACTOR")
    code, out = run_cli(root, "check", GATE_CARD, capsys=capsys)
    assert "every gate passes" in out and "run `promptlane sync`" in out  # only the record is missing
    code, out = run_cli(root, "sync", capsys=capsys)  # the hook path records the promotion
    assert code == 1 and "staging" in out
    assert run_cli(root, "check", "--all", capsys=capsys)[0] == 0

    # A new text: results of the older text never count.
    _edit(root, "Be brief.")
    assert run_cli(root, "sync")[0] == 1  # back in dev as 1.0.2
    _raise_to(root, "staging")
    code, out = run_cli(root, "check", GATE_CARD, capsys=capsys)
    assert code == 1 and "no eval results for 1.0.2" in out and "`promptlane eval run support-reply`" in out
