"""Concurrent branches: real git branches and merges with the promptlane merge drivers."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from conftest import BIN, git, run_cli, write_prompt
from promptlane.core.chain import data_rows, verify_text
from promptlane.commands.merge_driver import GIT_CONFIG
from promptlane.core.merging import MergeConflict, merge_audit


@pytest.fixture
def branching_repo(repo, monkeypatch):
    (repo / ".gitattributes").write_text(
        "schemas/prompt-change-log.yml merge=promptlane-append\n"
        "audit/artifact-audit-log.md merge=promptlane-audit\n"
        "registry/*.lock.json merge=promptlane-lock\n")
    write_prompt(repo, "billing-faq")
    run_cli(repo, "sync")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "second prompt")
    assert run_cli(repo, "merge-driver", "--install")[0] == 0
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")  # git runs `promptlane`
    return repo


def _edit_and_commit(repo, prompt_id, text, message):
    (repo / "prompts" / prompt_id / "system.md").write_text(text)
    assert run_cli(repo, "sync")[0] == 1
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def test_branches_that_version_different_prompts_merge_cleanly(branching_repo, capsys):
    repo = branching_repo
    git(repo, "checkout", "-qb", "feature-a")
    _edit_and_commit(repo, "support-reply", "Be warm.\n", "a")
    git(repo, "checkout", "-q", "main")
    git(repo, "checkout", "-qb", "feature-b")
    _edit_and_commit(repo, "billing-faq", "Be exact.\n", "b")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-edit", "feature-a")
    merged = git(repo, "merge", "--no-edit", "feature-b", check=False)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    audit = (repo / "audit/artifact-audit-log.md").read_text()
    assert verify_text(audit) == []
    entries = yaml.safe_load((repo / "schemas/prompt-change-log.yml").read_text())
    assert sorted((e["prompt"], e["version"]) for e in entries) == [
        ("billing-faq", "1.0.0"), ("billing-faq", "1.0.1"), ("support-reply", "1.0.0"), ("support-reply", "1.0.1")]
    assert run_cli(repo, "check", capsys=capsys)[0] == 0
    assert run_cli(repo, "audit", "verify", capsys=capsys)[0] == 0


def test_both_branches_changing_the_same_prompt_is_a_clear_conflict(branching_repo):
    repo = branching_repo
    git(repo, "checkout", "-qb", "feature-a")
    _edit_and_commit(repo, "support-reply", "Be warm.\n", "a")
    git(repo, "checkout", "-q", "main")
    _edit_and_commit(repo, "support-reply", "Be cold.\n", "main edit")
    merged = git(repo, "merge", "--no-edit", "feature-a", check=False)
    assert merged.returncode != 0
    said = merged.stdout + merged.stderr
    assert "CONFLICT" in said and "registry/support-reply.lock.json" in said
    assert "support-reply 1.0.1 was issued on both branches" in said


def test_audit_driver_refuses_a_rewritten_history():
    from promptlane.core.chain import AUDIT_HEADER, audit_row
    from promptlane.core.events import Event

    def log(*versions):
        text, prev = AUDIT_HEADER, "0" * 64
        for seq, version in enumerate(versions, start=1):
            row, prev = audit_row(prev, seq, Event("version", "t", "a", "p", version, "h", {}, "r"))
            text += row
        return text

    base, ours, theirs = log("1"), log("1", "2"), log("1", "3")
    merged = merge_audit(base, ours, theirs)
    assert verify_text(merged) == []
    assert [cells[4] for _, cells in data_rows(merged)] == ["1", "2", "3"]
    with pytest.raises(MergeConflict):
        merge_audit(log("1"), log("X", "2"), theirs)


def test_driver_config_matches_the_template():
    root = Path(__file__).resolve().parents[1]
    hook = (root / "hooks/post_gen_project.py").read_text()
    for key, value in GIT_CONFIG.items():
        assert f'"{key}": "{value}"' in hook
