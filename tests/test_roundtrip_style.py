"""Every writer of a YAML file keeps the lines it does not mean to change byte for byte.

The card of the rendered template is restyled as people write cards (flow maps and lists,
single and double quotes, comments at line ends and on their own lines, a blank line) without
changing its payload, then each command that writes into the repository runs for real:
sync (a new version, a `bump:` override), promote, rollback, retire, and approve of a policy.
Only the lines the command means to change may differ (docs/design.md, "Files promptlane writes").
"""
from __future__ import annotations

import shutil

import pytest

from conftest import git
from governed import CARD, PID, approve_as, commit, edit_text, pl, write_results
from keys import key_for

POLICY = "workflows/policy-as-code-example.yml"
MANAGED = ("version:", "hash:", "author:", "environment:")

# (as the template writes it, as a person might restyle it): the same data, so the same hash.
RESTYLE = [
    ("title: Customer support reply\n", "title: 'Customer support reply'   # single-quoted\n"),
    ("description: Answers a customer question politely, citing the help centre.\n",
     "description: \"Answers a customer question politely, citing the help centre.\"  # double-quoted\n"),
    ("tags: [support, email]\n", "tags: [support, email]  # a flow list\n\n# a comment on its own line, after a blank one\n"),
    ("  provider: openai\n", "  provider: 'openai'   # the vendor\n"),
    ("  params: {temperature: 0.2, max_tokens: 400}\n", "  params: {temperature: 0.2, max_tokens: 400}  # sampling\n"),
    ("  - {name: system, role: system, file: system.md}\n",
     "  - {name: system, role: system, file: system.md}\n  # the user's turn\n"),
    ("budget: {max_input_tokens: 1200, max_cost_per_call_usd: 0.002}\n",
     "budget: {max_input_tokens: 1200, max_cost_per_call_usd: 0.002}   # per call\n"),
    ("environment: dev\n", "environment: dev   # promptlane sets this\n"),
]


@pytest.fixture
def styled(gov, capsys):
    """The governed repository with its card restyled (same payload, so still in sync), committed."""
    path = gov / CARD
    text = path.read_text(encoding="utf-8")
    for old, new in RESTYLE:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    assert pl(gov, capsys, "sync") == (0, ""), "restyling must not change the payload"
    code, out = pl(gov, capsys, "check")
    assert code == 0, out
    commit(gov, "restyled card")
    return gov


def governance(root, capsys, monkeypatch, *args: str) -> tuple[int, str]:
    """``promptlane approve ARGS --role Governance``, signed by the Governance reviewer."""
    monkeypatch.setenv("PROMPTLANE_ACTOR", "governance@example.com")
    try:
        return pl(root, capsys, "approve", *args, "--role", "Governance", "--key", str(key_for("governance@example.com")))
    finally:
        monkeypatch.delenv("PROMPTLANE_ACTOR")


def read(root, rel: str = CARD) -> str:
    return (root / rel).read_text(encoding="utf-8")


def changed_lines(before: str, after: str, allowed: tuple[str, ...] = MANAGED) -> list[str]:
    """The new text of every line that differs; each must be one of ``allowed`` on both sides."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new), f"lines added or removed:\n{after}"
    changed = [(a, b) for a, b in zip(old, new) if a != b]
    for a, b in changed:
        assert a.lstrip().startswith(allowed) and a.split(":")[0] == b.split(":")[0], f"{a!r} became {b!r}"
    return [b for _, b in changed]


def test_sync_of_a_new_version_changes_only_the_managed_values(styled, capsys):
    before = read(styled)
    edit_text(styled, "Keep replies short.")
    code, out = pl(styled, capsys, "sync")
    assert code == 1, out
    changed = changed_lines(before, read(styled))
    assert changed[0] == "version: 1.0.1\n" and changed[2] == "author: dana@example.com\n", changed
    assert [line.split(":")[0] for line in changed] == ["version", "hash", "author"]  # environment: dev stays, comment too


def test_sync_removes_a_used_bump_line_and_nothing_else(styled, capsys):
    path = styled / CARD
    path.write_text(read(styled).replace("risk: high\n", "risk: high\nbump: major   # this change breaks callers\n"),
                    encoding="utf-8")
    before = read(styled)
    edit_text(styled, "Answer in French.")
    code, out = pl(styled, capsys, "sync")
    assert code == 1 and "major -> 2.0.0" in out, out
    without_bump = before.replace("bump: major   # this change breaks callers\n", "")
    assert changed_lines(without_bump, read(styled))[0] == "version: 2.0.0\n"


def test_promote_changes_only_the_environment_value_and_keeps_its_comment(styled, capsys, monkeypatch):
    write_results(styled, "2026-12-01T08:30:00Z")
    code, out = approve_as(styled, capsys, monkeypatch, "PM")
    assert code == 0, out
    before = read(styled)
    code, out = pl(styled, capsys, "promote", PID, "--to", "staging")
    assert code == 0, out
    assert changed_lines(before, read(styled)) == ["environment: staging   # promptlane sets this\n"]


def test_rollback_restores_the_card_in_the_users_style(styled, capsys):
    """The reported bug: rollback rewrote flow-style params and lists into block style."""
    original = read(styled)
    path = styled / CARD
    path.write_text(original.replace("{temperature: 0.2,", "{temperature: 0.3,"), encoding="utf-8")
    code, out = pl(styled, capsys, "sync")
    assert code == 1 and "minor -> 1.1.0" in out, out
    commit(styled, "1.1.0")
    at_1_1_0 = read(styled)
    code, out = pl(styled, capsys, "rollback", PID, "--env", "dev", "--reason", "INC-7: too creative")
    assert code == 0, out
    restored = read(styled)
    assert restored == original  # byte for byte the card 1.0.0 was, in its author's style
    changed = changed_lines(at_1_1_0, restored, MANAGED + ("params:",))
    assert "  params: {temperature: 0.2, max_tokens: 400}  # sampling\n" in changed
    code, out = pl(styled, capsys, "check")
    assert code == 0, out


def test_retire_leaves_every_other_card_and_the_policy_as_written(styled, capsys, monkeypatch):
    other = styled / "prompts/faq-reply"
    shutil.copytree(styled / f"prompts/{PID}", other)
    (other / "card.yml").write_text(read(styled).replace(f"id: {PID}\n", "id: faq-reply\n"), encoding="utf-8")
    code, out = pl(styled, capsys, "sync")
    assert code == 1 and "faq-reply: new prompt -> 1.0.0" in out, out
    commit(styled, "faq-reply")
    other_card, policy = read(styled, "prompts/faq-reply/card.yml"), read(styled, POLICY)
    code, out = governance(styled, capsys, monkeypatch, PID, "--retire")
    assert code == 0, out
    code, out = pl(styled, capsys, "retire", PID, "--reason", "replaced by faq-reply")
    assert code == 0, out
    assert not (styled / CARD).exists()
    assert read(styled, "prompts/faq-reply/card.yml") == other_card and read(styled, POLICY) == policy


def test_approve_of_a_policy_change_leaves_the_policy_as_written(styled, capsys, monkeypatch):
    path = styled / POLICY
    text = read(styled, POLICY)
    assert "        max_eval_age_days: 14\n" in text
    path.write_text(text.replace("        max_eval_age_days: 14\n", "        max_eval_age_days: 21   # a loosening\n", 1),
                    encoding="utf-8")
    before = path.read_bytes()
    code, out = governance(styled, capsys, monkeypatch, "--governance", POLICY)
    assert code == 0 and "reviews/policy/" in out, out
    assert path.read_bytes() == before
    assert git(styled, "status", "--porcelain", "--", POLICY).stdout.startswith(" M")  # still the user's edit only


def test_a_change_of_shape_keeps_the_style_of_everything_else():
    """A step removed (no edit in place can say it): the round-trip rewrite keeps comments,
    quotes and the flow style, also of the list it replaces."""
    from promptlane.store.cardwrite import update_card

    text = ("id: x   # the id\ntitle: 'X'\nvariables: [a, b]\nsteps:\n  - {name: s, role: system, file: s.md}\n"
            "  - {name: u, role: user, file: u.md}\nbudget: {max_input_tokens: 10}  # small\nversion: 1.0.1\n")
    out = update_card(text, {"variables": ["a"], "steps": [{"name": "s", "role": "system", "file": "s.md"}], "version": "1.0.0"})
    assert out == ("id: x   # the id\ntitle: 'X'\nvariables: [a]\nsteps:\n  - {name: s, role: system, file: s.md}\n"
                   "budget: {max_input_tokens: 10}  # small\nversion: 1.0.0\n")
