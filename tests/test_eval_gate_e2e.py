"""The eval gate end to end: real promptfoo results bound to the hash decide a hand-raised
`environment:`, in a scaffolded repository under git."""
from __future__ import annotations

import pytest
import yaml

from conftest import git, run_cli
from test_eval_run import governed, promptfoo, template_repo  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow
CARD = "prompts/support-reply/card.yml"


def _raise_to(root, env):
    path = root / CARD
    text = path.read_text()
    current = yaml.safe_load(text)["environment"]
    path.write_text(text.replace(f"environment: {current}", f"environment: {env}", 1))


def _edit(root, line):
    path = root / "prompts/support-reply/system.md"
    path.write_text(path.read_text() + line + "\n")


def test_raising_environment_needs_results_for_this_exact_hash(governed, capsys, monkeypatch):  # noqa: F811
    root = governed
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "scaffold")
    _edit(root, "Never promise refunds.")
    assert run_cli(root, "sync")[0] == 1

    # Without results: refused, and the message names the command that fixes it.
    _raise_to(root, "staging")
    code, out = run_cli(root, "check", CARD, capsys=capsys)
    assert code == 1 and "no eval results for 1.0.1" in out and "`promptlane eval run support-reply`" in out

    # Real promptfoo results for this hash, and the approval the policy asks for: accepted.
    assert run_cli(root, "eval", "run", "support-reply", capsys=capsys)[0] == 0
    monkeypatch.setenv("PROMPTLANE_ACTOR", "pm@example.com")
    code, out = run_cli(root, "approve", "support-reply", "--role", "PM", capsys=capsys)
    assert code == 0, out
    monkeypatch.delenv("PROMPTLANE_ACTOR")
    code, out = run_cli(root, "check", CARD, capsys=capsys)
    assert "every gate passes" in out and "run `promptlane sync`" in out  # only the record is missing
    code, out = run_cli(root, "sync", capsys=capsys)  # the hook path records the promotion
    assert code == 1 and "staging" in out
    assert run_cli(root, "check", "--all", capsys=capsys)[0] == 0

    # A new text: results of the older text never count.
    _edit(root, "Be brief.")
    assert run_cli(root, "sync")[0] == 1  # back in dev as 1.0.2
    _raise_to(root, "staging")
    code, out = run_cli(root, "check", CARD, capsys=capsys)
    assert code == 1 and "no eval results for 1.0.2" in out and "`promptlane eval run support-reply`" in out
