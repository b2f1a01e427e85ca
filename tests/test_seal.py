"""``promptlane audit seal``: sealed segments of the audit log and changelog, read as one log.

Real repositories (the rendered template), real git commits, branches and merges through the
installed merge drivers. Bad layouts of audit/archive/ are in test_bad_inputs.py; a seal killed
at every step of its transaction is in test_crash_safety.py.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, git, snapshot_tree
from governed import AUDIT, CHANGELOG, PID, commit, lock, new_version, pl, ready_for
from promptlane.core.chain import data_rows
from promptlane.core.chain import continuation
from promptlane.store.logs import read_all_changelogs
from promptlane.store.repo import Repo

SEALED = "audit/archive/0001"


def rows(root: Path, rel: str = AUDIT) -> list[list[str]]:
    return [cells for _, cells in data_rows((root / rel).read_text(encoding="utf-8"))]


def rows_called(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def seal(root: Path, capsys, *extra: str) -> str:
    code, out = pl(root, capsys, "audit", "seal", *extra)
    assert code == 0, out
    return out


def verified(root: Path, capsys, *extra: str) -> None:
    code, out = pl(root, capsys, "audit", "verify", "--full", *extra)
    assert code == 0, out


def test_seal_moves_both_logs_byte_for_byte_and_the_chain_continues(gov, capsys):
    scaffold = len(rows(gov))  # one init row per example prompt of the template
    new_version(gov, capsys)
    commit(gov, "1.0.1")
    audit_before, changelog_before = (gov / AUDIT).read_bytes(), (gov / CHANGELOG).read_bytes()
    sealed = rows(gov)
    last = sealed[-1]
    assert len(sealed) == scaffold + 1 and (last[0], last[3], last[4]) == (str(scaffold + 1), PID, "1.0.1")

    out = seal(gov, capsys)
    assert f"sealed {rows_called(len(sealed))} into audit/archive/0001/" in out
    assert (gov / SEALED / "artifact-audit-log.md").read_bytes() == audit_before
    assert (gov / SEALED / "prompt-change-log.yml").read_bytes() == changelog_before
    assert rows(gov) == [] and continuation((gov / AUDIT).read_text()) == (len(sealed), last[9])
    assert read_all_changelogs(gov)[-1]["version"] == "1.0.1"
    verified(gov, capsys)
    commit(gov, "seal")

    assert new_version(gov, capsys, "Answer in the customer's language.") == "1.0.2"
    (row,) = rows(gov)
    assert row[0] == str(len(sealed) + 1) and row[8] == last[9]  # the first row after the seal chains onto the last sealed one
    commit(gov, "1.0.2")
    verified(gov, capsys)
    verified(gov, capsys, "--base", "HEAD~3")  # from before the seal: everything was only appended
    assert git(gov, "status", "--porcelain").stdout == ""


def test_min_rows_makes_a_scheduled_seal_a_no_op(gov, capsys):
    before = snapshot_tree(gov)
    held = len(rows(gov))  # the scaffold's init rows
    out = seal(gov, capsys, "--min-rows", "500")
    assert f"nothing sealed: audit/artifact-audit-log.md holds {rows_called(held)} (sealing starts at 500)" in out
    assert snapshot_tree(gov) == before


def test_a_current_segment_without_rows_is_not_sealed_again(gov, capsys):
    seal(gov, capsys)
    commit(gov, "seal")
    before = snapshot_tree(gov)
    assert "nothing sealed" in seal(gov, capsys)
    assert snapshot_tree(gov) == before


def test_the_local_record_reads_a_sealed_file_again_only_when_its_stat_moved(gov, capsys):
    seal(gov, capsys)
    commit(gov, "seal")
    verified(gov, capsys)  # the full run writes the record
    sealed = gov / SEALED / "artifact-audit-log.md"
    os.utime(sealed, ns=(1, 1))  # a checkout: same bytes, new mtime
    assert pl(gov, capsys, "audit", "verify")[0] == 0
    text = sealed.read_text(encoding="utf-8")
    sealed.write_text(text.replace("| first version |", "| first Version |"), encoding="utf-8")  # same size
    code, out = pl(gov, capsys, "audit", "verify")
    assert code == 1 and f"{SEALED}/artifact-audit-log.md:5:1: PL204" in out, out


def test_rollback_finds_what_an_environment_served_in_sealed_segments(gov, capsys, monkeypatch):
    ready_for(gov, capsys, monkeypatch, "staging", "2026-12-01T08:30:00Z")
    assert pl(gov, capsys, "promote", PID, "--to", "staging", "--reason", "QA")[0] == 0
    new_version(gov, capsys)
    ready_for(gov, capsys, monkeypatch, "staging", "2026-12-01T08:40:00Z")
    assert pl(gov, capsys, "promote", PID, "--to", "staging", "--reason", "QA")[0] == 0
    commit(gov, "1.0.1 in staging")
    seal(gov, capsys)
    commit(gov, "seal")
    assert not any(e for e in read_all_changelogs(gov) if e.get("event") == "rollback")

    code, out = pl(gov, capsys, "rollback", PID, "--env", "staging", "--reason", "INC-9: wrong tone")
    assert code == 0, out
    assert lock(gov)["environments"]["staging"] == "1.0.0"  # only the sealed changelog knew staging served it
    verified(gov, capsys)


def test_the_report_timeline_spans_the_segments(gov, capsys):
    from promptlane.operations.history import read_audit

    scaffold = [(r[0], r[4]) for r in rows(gov)]  # the init rows, each version 1.0.0
    assert [seq for seq, _ in scaffold] == [str(n) for n in range(1, len(scaffold) + 1)]
    new_version(gov, capsys)
    commit(gov, "1.0.1")
    seal(gov, capsys)
    new_version(gov, capsys, "Answer in the customer's language.")
    entries, status = read_audit(Repo(gov))
    n = len(scaffold)
    assert [(e.seq, e.version) for e in entries] == [*scaffold, (str(n + 1), "1.0.1"), (str(n + 2), "1.0.2")] and status == ""


# ---------------------------------------------------------------- merges across a seal


@pytest.fixture
def two_prompts(gov, capsys, monkeypatch):
    """The template's prompt and a second one, committed; merge drivers wired; `promptlane` on PATH."""
    assert pl(gov, capsys, "new", "billing-faq")[0] == 0
    assert pl(gov, capsys, "sync")[0] in (0, 1)
    commit(gov, "second prompt")
    assert pl(gov, capsys, "merge-driver", "--install")[0] == 0
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
    return gov


def edit(root: Path, capsys, prompt_id: str, text: str) -> None:
    path = root / "prompts" / prompt_id / "system.md"
    path.write_text(path.read_text(encoding="utf-8") + text + "\n", encoding="utf-8")
    assert pl(root, capsys, "sync")[0] == 1
    commit(root, f"edit {prompt_id}")


def merge(root: Path, branch: str):
    return git(root, "merge", "--no-edit", branch, check=False)


def assert_one_log(root: Path, capsys, versions: set) -> None:
    verified(root, capsys)
    logged = {(e["prompt"], e["version"]) for e in read_all_changelogs(root) if e["event"] == "version"}
    assert versions <= logged
    assert git(root, "status", "--porcelain").stdout == ""


@pytest.mark.parametrize("into", ["main", "feature"])
def test_a_branch_merges_with_a_main_that_sealed_in_either_direction(two_prompts, capsys, into):
    root = two_prompts
    git(root, "checkout", "-qb", "feature")
    edit(root, capsys, "billing-faq", "Quote the invoice number.")
    git(root, "checkout", "-q", "main")
    edit(root, capsys, PID, "Keep replies short.")
    seal(root, capsys)
    commit(root, "seal")
    git(root, "checkout", "-q", into)
    done = merge(root, "feature" if into == "main" else "main")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_one_log(root, capsys, {("billing-faq", "1.0.1"), (PID, "1.0.1")})
    assert (root / SEALED / "artifact-audit-log.md").is_file()
    # The branch's row follows the seal in the current segment, re-chained onto the sealed head.
    assert [(r[3], r[4]) for r in rows(root)] == [("billing-faq", "1.0.1")]


def test_two_branches_that_sealed_the_same_rows_merge_cleanly(two_prompts, capsys):
    root = two_prompts
    sealed = len(rows(root))  # the scaffold's rows and billing-faq's first
    git(root, "checkout", "-qb", "feature")
    seal(root, capsys)
    commit(root, "seal on the branch")
    edit(root, capsys, "billing-faq", "Quote the invoice number.")
    git(root, "checkout", "-q", "main")
    seal(root, capsys)
    commit(root, "seal on main")
    edit(root, capsys, PID, "Keep replies short.")
    done = merge(root, "feature")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_one_log(root, capsys, {("billing-faq", "1.0.1"), (PID, "1.0.1")})
    assert [(r[0], r[3]) for r in rows(root)] == [(str(sealed + 1), PID), (str(sealed + 2), "billing-faq")]


def test_two_branches_that_sealed_different_rows_is_a_clear_conflict(two_prompts, capsys):
    root = two_prompts
    git(root, "checkout", "-qb", "feature")
    edit(root, capsys, "billing-faq", "Quote the invoice number.")
    seal(root, capsys)
    commit(root, "seal on the branch")
    git(root, "checkout", "-q", "main")
    edit(root, capsys, PID, "Keep replies short.")
    seal(root, capsys)
    commit(root, "seal on main")
    done = merge(root, "feature")
    assert done.returncode != 0
    assert "both branches sealed the audit log after different rows" in done.stdout
    assert re.search(r"CONFLICT .*audit/archive/0001/artifact-audit-log.md", done.stdout), done.stdout


def test_verify_suggests_a_seal_once_the_current_segment_is_long(gov, capsys, monkeypatch):
    from promptlane.commands import audit as seal_module

    hint = len(rows(gov)) + 1  # the scaffold's rows are one short of it
    monkeypatch.setattr(seal_module, "HINT_ROWS", hint)
    code, out = pl(gov, capsys, "audit", "verify")
    assert code == 0 and "note:" not in out  # one row short
    new_version(gov, capsys)
    code, out = pl(gov, capsys, "audit", "verify")
    assert code == 0 and f"note: audit/artifact-audit-log.md holds {hint} rows since the last seal" in out, out
    commit(gov, "1.0.1")
    seal(gov, capsys)
    code, out = pl(gov, capsys, "audit", "verify")
    assert code == 0 and "note:" not in out, out


def test_a_branch_rebases_onto_a_main_that_sealed(two_prompts, capsys):
    """A rebase replays each commit with its parent as the base: the second replay's base already
    holds the first replayed row, which the sealed side re-chained after its seal."""
    root = two_prompts
    git(root, "checkout", "-qb", "feature")
    edit(root, capsys, "billing-faq", "Quote the invoice number.")
    edit(root, capsys, "billing-faq", "Never guess a due date.")
    git(root, "checkout", "-q", "main")
    sealed = len(rows(root))  # the scaffold's rows and billing-faq's first
    seal(root, capsys)
    commit(root, "seal")
    git(root, "checkout", "-q", "feature")
    done = git(root, "rebase", "main", check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_one_log(root, capsys, {("billing-faq", "1.0.1"), ("billing-faq", "1.0.2")})
    assert [(r[0], r[4]) for r in rows(root)] == [(str(sealed + 1), "1.0.1"), (str(sealed + 2), "1.0.2")]


# ---------------------------------------------------------------- the local record never passes what --full refuses


def _tampered_like_full(root: Path, capsys) -> None:
    """The quick verify (with the local record) refuses exactly when the full one does."""
    quick, quick_out = pl(root, capsys, "audit", "verify")
    full, full_out = pl(root, capsys, "audit", "verify", "--full")
    assert full == 1, full_out
    assert quick == 1, quick_out


def test_an_appended_line_that_continues_the_last_changelog_entry_is_judged_in_full(gov, capsys):
    verified(gov, capsys)  # the record
    with open(gov / CHANGELOG, "a", encoding="utf-8") as log:
        log.write('  environments: {"dev": "1.0.0", "prod": "1.0.0"}\n')  # rewrites the last entry's field
    _tampered_like_full(gov, capsys)


def test_a_last_row_extended_after_its_newline_was_removed_is_judged_in_full(gov, capsys):
    path = gov / AUDIT
    path.write_bytes(path.read_bytes()[:-1])  # the chain still holds without the final newline
    assert pl(gov, capsys, "audit", "verify")[0] == 0  # ... and the record is written
    with open(path, "a", encoding="utf-8") as log:
        log.write(" tampered |\n")
    _tampered_like_full(gov, capsys)


def test_a_current_log_recreated_with_a_false_header_is_judged_in_full(gov, capsys):
    seal(gov, capsys)
    commit(gov, "seal")
    verified(gov, capsys)
    header = (gov / AUDIT).read_text(encoding="utf-8")
    (gov / AUDIT).unlink()
    _tampered_like_full(gov, capsys)  # after a seal the current file must be there ...
    (gov / AUDIT).write_text(re.sub(r"from row \d+", "from row 7", header), encoding="utf-8")
    _tampered_like_full(gov, capsys)  # ... and continue from where the sealed rows end


def test_seal_verifies_in_full_whatever_the_local_record_says(gov, capsys):
    verified(gov, capsys)
    with open(gov / CHANGELOG, "a", encoding="utf-8") as log:
        log.write('  environments: {"dev": "1.0.0", "prod": "1.0.0"}\n')
    commit(gov, "tampered")
    code, out = pl(gov, capsys, "audit", "seal")
    assert code == 1 and "nothing was sealed" in out, out
    assert not (gov / SEALED).exists()


def test_seal_keeps_every_byte_even_a_bare_carriage_return(gov, capsys):
    path = gov / AUDIT
    path.write_bytes(path.read_bytes().replace(b"# Artifact audit log\n", b"# Artifact audit log\r (QA copy)\n", 1))
    commit(gov, "a bare CR in the title")
    committed = subprocess.run(["git", "show", f"HEAD:{AUDIT}"], cwd=gov, capture_output=True, check=True).stdout
    assert b"\r" in committed
    seal(gov, capsys)
    assert (gov / SEALED / "artifact-audit-log.md").read_bytes() == committed
