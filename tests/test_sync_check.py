"""sync (the fixer) and check (the checker) on real files in a git repo."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import USER, run_cli, snapshot_tree, write_prompt
from promptlane.core.chain import verify_text

CARD_REL = "prompts/support-reply/card.yml"


def card(root):
    return yaml.safe_load((root / CARD_REL).read_text())


def lock(root):
    return json.loads((root / "registry/support-reply.lock.json").read_text())


def changelog(root):
    return yaml.safe_load((root / "schemas/prompt-change-log.yml").read_text())


def edit(root, rel, old, new):
    path = root / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_first_sync_versions_the_prompt_and_a_second_run_changes_nothing(repo, capsys):
    data = card(repo)
    assert (data["version"], data["environment"], data["author"]) == ("1.0.0", "dev", "dana@example.com")
    assert data["hash"].startswith("sha256:")
    assert lock(repo)["environments"] == {"dev": "1.0.0", "staging": None, "prod": None}
    assert (repo / "registry/store/support-reply/1.0.0.json").is_file()
    before = snapshot_tree(repo)
    code, out = run_cli(repo, "sync", capsys=capsys)
    assert (code, out) == (0, "")
    assert snapshot_tree(repo) == before
    assert run_cli(repo, "check", capsys=capsys) == (0, "")


def test_sync_keeps_comments_and_key_order(repo):
    text = (repo / CARD_REL).read_text()
    assert text.startswith("# Support reply card (test fixture)\nid: support-reply\ntitle:")
    assert "params: {temperature: 0.2, max_tokens: 400}" in text


@pytest.mark.parametrize("change,expected_version,expected_bump", [
    (lambda r: edit(r, "prompts/support-reply/system.md", "polite", "friendly"), "1.0.1", "patch"),
    (lambda r: (r / "prompts/support-reply/user.md").write_text(USER.replace("\n", "\r\n") + "\n\n"), None, None),
    (lambda r: edit(r, CARD_REL, "temperature: 0.2", "temperature: 0.4"), "1.1.0", "minor"),
    # gpt-4.1-mini: a call (400 output tokens) stays within the card's $0.002 budget; gpt-4o's would not (PL302)
    (lambda r: edit(r, CARD_REL, "name: gpt-4o-mini", "name: gpt-4.1-mini"), "1.1.0", "minor"),
    (lambda r: edit(r, CARD_REL, "role: system, file", "role: assistant, file"), "1.1.0", "minor"),
    (lambda r: (edit(r, CARD_REL, "[customer_name, question]", "[customer_name, question, tone]"),
                edit(r, "prompts/support-reply/user.md", "asks:", "asks ({{ tone }}):")), "2.0.0", "major"),
    (lambda r: (edit(r, "prompts/support-reply/system.md", "polite", "kind"),
                (r / CARD_REL).write_text((r / CARD_REL).read_text() + "bump: major\n")), "2.0.0", "major"),
    (lambda r: edit(r, CARD_REL, "owner: team-support", "owner: team-other"), None, None),  # metadata only
])
def test_bump_rules(repo, capsys, change, expected_version, expected_bump):
    change(repo)
    code, out = run_cli(repo, "sync", capsys=capsys)
    if expected_version is None:
        assert code == 0 and card(repo)["version"] == "1.0.0"
        return
    assert code == 1, out
    assert f"-> {expected_version}" in out and f"Fixing {CARD_REL}" in out
    assert card(repo)["version"] == expected_version and "bump" not in card(repo)
    assert changelog(repo)[-1]["bump"] == expected_bump
    assert run_cli(repo, "sync", capsys=capsys)[0] == 0  # idempotent
    assert run_cli(repo, "check", capsys=capsys)[0] == 0


def test_reverting_a_text_gets_its_old_version_back_and_new_edits_bump_above_all(repo, capsys):
    edit(repo, "prompts/support-reply/system.md", "polite", "friendly")
    run_cli(repo, "sync")
    edit(repo, "prompts/support-reply/system.md", "friendly", "polite")
    run_cli(repo, "sync")
    assert card(repo)["version"] == "1.0.0"  # one hash, one version, forever
    assert [v["version"] for v in lock(repo)["versions"]] == ["1.0.0", "1.0.1"]
    edit(repo, "prompts/support-reply/system.md", "polite", "warm")
    run_cli(repo, "sync")
    assert card(repo)["version"] == "1.0.2"  # above every version ever issued, never reused


def test_a_change_demotes_and_logs_both_events(repo, capsys):
    # Pretend staging serves 1.0.0 (promotion itself is tested elsewhere).
    data = lock(repo)
    data["environments"]["staging"] = "1.0.0"
    (repo / "registry/support-reply.lock.json").write_text(json.dumps(data, indent=2) + "\n")
    edit(repo, CARD_REL, "environment: dev", "environment: staging")
    edit(repo, "prompts/support-reply/system.md", "polite", "curt")
    code, out = run_cli(repo, "sync", capsys=capsys)
    assert code == 1
    assert card(repo)["environment"] == "dev"
    assert lock(repo)["environments"] == {"dev": "1.0.1", "staging": "1.0.0", "prod": None}
    assert [e["event"] for e in changelog(repo)] == ["version", "version", "demote"]
    audit = (repo / "audit/artifact-audit-log.md").read_text()
    assert verify_text(audit) == [] and len([l for l in audit.splitlines() if l.startswith("| ") and l[2].isdigit()]) == 3


def test_changelog_and_audit_are_appended_not_rewritten(repo, capsys):
    log_before = (repo / "schemas/prompt-change-log.yml").read_bytes()
    audit_before = (repo / "audit/artifact-audit-log.md").read_bytes()
    edit(repo, "prompts/support-reply/system.md", "polite", "brisk")
    run_cli(repo, "sync")
    assert (repo / "schemas/prompt-change-log.yml").read_bytes().startswith(log_before)
    assert (repo / "audit/artifact-audit-log.md").read_bytes().startswith(audit_before)


@pytest.mark.parametrize("tamper,code", [
    (lambda r: edit(r, "prompts/support-reply/user.md", "asks", "says"), "PL150"),  # text edited, not synced
    (lambda r: edit(r, CARD_REL, "version: 1.0.0", "version: 0.9.0"), "PL151"),
    (lambda r: edit(r, CARD_REL, "version: 1.0.0", "version: 7.0.0"), "PL151"),
    (lambda r: edit(r, CARD_REL, "environment: dev", "environment: qa"), "PL154"),
    (lambda r: edit(r, CARD_REL, "environment: dev", "environment: prod"), "PL160"),
    (lambda r: (r / "registry/support-reply.lock.json").write_text("{not json"), "PL156"),
    (lambda r: (r / "registry/support-reply.lock.json").unlink(), "PL155"),
    (lambda r: (r / "registry/store/support-reply/1.0.0.json").unlink(), "PL157"),
])
def test_check_catches_hand_edits_and_names_the_fix(repo, capsys, tamper, code):
    tamper(repo)
    before = snapshot_tree(repo)
    status, out = run_cli(repo, "check", capsys=capsys)
    assert status == 1 and f" {code} " in out, out
    assert snapshot_tree(repo) == before


def test_a_reused_version_is_refused(repo, capsys):
    edit(repo, "prompts/support-reply/system.md", "polite", "jolly")
    run_cli(repo, "sync")
    first_hash = lock(repo)["versions"][0]["hash"]
    # Hand edit: claim 1.0.0 for the new text (1.0.0 belongs to another hash).
    text = (repo / CARD_REL).read_text()
    (repo / CARD_REL).write_text(text.replace("version: 1.0.1", "version: 1.0.0"))
    status, out = run_cli(repo, "check", capsys=capsys)
    assert status == 1 and "PL152" in out and first_hash[:19] in out


def test_sync_refuses_a_read_only_target_and_changes_nothing(repo, capsys, monkeypatch):
    edit(repo, "prompts/support-reply/system.md", "polite", "stern")
    target = repo / "registry/support-reply.lock.json"
    target.chmod(0o444)
    real_access = os.access
    # root bypasses permission bits, so ask the same question the code asks, by mode.
    monkeypatch.setattr(os, "access", lambda p, m: real_access(p, m) and (os.stat(p).st_mode & 0o200 or m != os.W_OK))
    before = snapshot_tree(repo)
    status, out = run_cli(repo, "sync", capsys=capsys)
    assert status == 1 and "PL191" in out and "read-only" in out
    assert snapshot_tree(repo) == before


STEPS = ["temp", "journal", "append:audit/artifact-audit-log.md", "append:schemas/prompt-change-log.yml",
         "rename:prompts/support-reply/card.yml", "rename:registry/store/support-reply/1.0.1.json"]


@pytest.mark.parametrize("step", STEPS)
def test_a_sync_killed_at_any_write_step_is_undone(repo, capsys, step):
    edit(repo, "prompts/support-reply/system.md", "polite", "gentle")
    before = snapshot_tree(repo)
    env = {**os.environ, "PROMPTLANE_FAULT_AT": step}
    done = subprocess.run([sys.executable, "-m", "promptlane.cli", "sync"], cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 70, done.stderr  # killed mid-way
    status, out = run_cli(repo, "check", capsys=capsys)
    if step != "temp":
        assert "PL190" in out  # check reports the interrupted run and changes nothing
    code, out = run_cli(repo, "sync", capsys=capsys)
    if step != "temp":
        assert "Put back" in out
    # After recovery sync redoes the work; the result equals an uninterrupted run.
    assert card(repo)["version"] == "1.0.1"
    assert verify_text((repo / "audit/artifact-audit-log.md").read_text()) == []
    assert [e["version"] for e in changelog(repo)] == ["1.0.0", "1.0.1"]
    assert not any(p.endswith((".promptlane-tmp", ".promptlane-bak")) for p in snapshot_tree(repo))
    assert run_cli(repo, "check", capsys=capsys)[0] == 0
    assert snapshot_tree(repo) != before


def test_files_outside_prompts_are_ignored_and_other_prompts_untouched(repo, capsys):
    write_prompt(repo, "other-prompt")
    code, out = run_cli(repo, "sync", "README.md", capsys=capsys)
    assert code == 0 and not (repo / "registry/other-prompt.lock.json").exists()
    code, out = run_cli(repo, "sync", "prompts/other-prompt/user.md", capsys=capsys)
    assert code == 1 and "other-prompt: new prompt -> 1.0.0" in out
    assert card(repo)["version"] == "1.0.0"


def test_new_creates_a_valid_prompt(repo, capsys):
    code, out = run_cli(repo, "new", "billing-faq", capsys=capsys)
    assert code == 0 and "Created prompts/billing-faq/card.yml" in out
    assert run_cli(repo, "sync", capsys=capsys)[0] == 1
    assert run_cli(repo, "check", capsys=capsys)[0] == 0
    assert run_cli(repo, "new", "billing-faq", capsys=capsys)[0] == 2
    assert run_cli(repo, "new", "Bad_Id", capsys=capsys)[0] == 2


def test_not_a_governed_repository_is_a_usage_error(tmp_path, capsys):
    code = run_cli(tmp_path, "check")[0]
    assert code == 2
    assert "no prompts/ folder" in capsys.readouterr().err


@pytest.mark.parametrize("path,expected", [
    ("prompts/a-b/card.yml", "a-b"), ("prompts/a-b/sub/x.md", "a-b"), ("registry/a-b.lock.json", "a-b"),
    ("registry/store/a-b/1.0.0.json", "a-b"), ("evals/tests/a-b.yml", "a-b"), ("evals/results/a-b/0123.json", "a-b"),
    ("reviews/a-b/1.0.0/pm-x.md", "a-b"), ("reviews/policy/2026-01-01-governance-x.md", None),
    ("reviews/reviewers.yml", None), ("README.md", None), ("prompts", None),
])
def test_files_map_to_their_prompt(path, expected):
    from promptlane.core.layout import prompt_id_of

    assert prompt_id_of(path) == expected


# Texts set back to 1.0.1's (served by prod) while the block says 1.0.2 at an environment that
# serves 1.0.2: a return sync records (the block as sync or a promotion wrote it), unless 1.0.2
# was withdrawn and the block sits above the first environment: a withdrawn version comes back
# to a card only through sync, in dev, so that block was written by hand (PL164).
@pytest.mark.parametrize("environment, withdrawn, expected", [
    ("staging", False, ("PL150", False)), ("dev", False, ("PL150", False)),
    ("dev", True, ("PL150", False)), ("staging", True, ("PL164", True)),
])
def test_a_return_from_a_withdrawn_versions_block_above_dev_is_a_hand_edit(environment, withdrawn, expected):
    from promptlane.core.managed import managed_findings
    from promptlane.core.registry import Lock

    old, new = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    lock = Lock("a-b", versions=[{"version": "1.0.1", "hash": old, "author": "dana@example.com"},
                                 {"version": "1.0.2", "hash": new, "author": "erin@example.com"}],
                environments={"dev": "1.0.2", "staging": "1.0.2", "prod": "1.0.1"},
                withdrawn={"1.0.2": {"env": "prod", "time": "2026-12-03T08:00:00Z", "reason": "INC-1"}} if withdrawn else {})
    data = {"version": "1.0.2", "hash": new, "author": "erin@example.com", "environment": environment}
    found = managed_findings(data, old, lock, ("dev", "staging", "prod"))
    assert [(f.code, f.by_hand) for f in found] == [expected]
    if expected[0] == "PL164":
        assert "1.0.2 was withdrawn from prod on 2026-12-03T08:00:00Z" in found[0].message
        assert found[0].message.endswith(f"set version back to 1.0.1, hash to {old}, author to dana@example.com, "
                                         "environment to prod")


def test_check_reads_the_policy_only_when_it_is_among_the_files(repo, capsys):
    policy = repo / "workflows/policy-as-code-example.yml"
    policy.parent.mkdir(parents=True, exist_ok=True)
    policy.write_text("environments: [dev, staging, prod]\npromotion: {}\nbogus: 1\n")
    assert run_cli(repo, "check", "prompts/support-reply/card.yml", capsys=capsys)[0] == 0
    code, out = run_cli(repo, "check", "workflows/policy-as-code-example.yml", capsys=capsys)
    assert code == 1 and "workflows/policy-as-code-example.yml:" in out


@pytest.mark.parametrize("form,code", [
    ("no front matter\n", "PL500"),
    ("---\nprompt: support-reply\nversion: 1.0.0\n---\n", "PL501"),
    ("---\nprompt: [unclosed\n---\n", "PL100"),
])
def test_review_forms_are_validated_when_committed(repo, capsys, form, code):
    rel = "reviews/support-reply/1.0.0/pm-pm.md"
    (repo / rel).parent.mkdir(parents=True)
    (repo / rel).write_text(form)
    status, out = run_cli(repo, "check", rel, capsys=capsys)
    assert status == 1 and f"{rel}:" in out and f" {code} " in out
    assert run_cli(repo, "check", "--all", capsys=capsys)[0] == 1


def test_an_unused_bump_override_is_removed_without_a_new_version(repo, capsys):
    (repo / CARD_REL).write_text((repo / CARD_REL).read_text() + "bump: major\n")
    code, out = run_cli(repo, "sync", capsys=capsys)
    assert code == 1 and "removed unused bump" in out
    assert "bump" not in card(repo) and card(repo)["version"] == "1.0.0"
    assert len(changelog(repo)) == 1


def test_check_over_many_prompts_in_worker_processes_reports_the_same(repo, capsys, monkeypatch):
    import promptlane.commands.check as check_module

    for n in range(6):
        write_prompt(repo, f"p-{n}")
    run_cli(repo, "sync")
    (repo / "prompts/p-3/card.yml").write_text((repo / "prompts/p-3/card.yml").read_text().replace("id: p-3", "id: p-4"))
    (repo / "prompts/p-5/user.md").write_text("{{ nope }}\n")
    capsys.readouterr()
    monkeypatch.setenv("PROMPTLANE_JOBS", "1")
    sequential = run_cli(repo, "check", "--all", capsys=capsys)
    monkeypatch.setenv("PROMPTLANE_JOBS", "2")
    monkeypatch.setattr(check_module, "PARALLEL_FROM", 2)
    parallel = run_cli(repo, "check", "--all", capsys=capsys)
    assert parallel == sequential and sequential[0] == 1
    assert " PL121 " in sequential[1] and " PL141 " in sequential[1]
