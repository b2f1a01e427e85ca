"""The audit chain, cross-checks against the registry, and append-only since a git ref."""
from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from conftest import git, run_cli
from promptlane.core.chain import verify_text
from promptlane.core.chain import AUDIT_HEADER, audit_row
from promptlane.core.events import Event

AUDIT = "audit/artifact-audit-log.md"


def chain(n: int) -> str:
    text, prev = AUDIT_HEADER, "0" * 64
    for seq in range(1, n + 1):
        event = Event("version", f"2026-01-0{seq}T00:00:00Z", "a@example.com", "p", f"1.0.{seq}", "sha256:" + "ab" * 32, {}, f"reason | {seq}")
        row, prev = audit_row(prev, seq, event)
        text += row
    return text


def rows(text):
    lines = text.splitlines(keepends=True)
    head = [l for l in lines if not l.startswith("| ") or not l[2].isdigit()]
    data = [l for l in lines if l.startswith("| ") and l[2].isdigit()]
    return head, data


def test_an_intact_chain_verifies_and_pipes_in_cells_are_escaped():
    text = chain(4)
    assert verify_text(text) == []
    assert "reason \\| 1" in text


@pytest.mark.parametrize("tamper,code,line", [
    (lambda h, d: h + [d[0], d[1].replace("1.0.2", "1.0.9"), d[2], d[3]], "PL204", 8),
    (lambda h, d: h + [d[0], d[2], d[3]], "PL202", 8),                  # removed
    (lambda h, d: h + [d[1], d[0], d[2], d[3]], "PL202", 7),            # reordered
    (lambda h, d: h + [d[0], d[1], d[1], d[2], d[3]], "PL202", 9),     # duplicated (inserted)
    (lambda h, d: h + d[:3], None, None),                               # truncated at the end: still a chain
    (lambda h, d: h + [d[0], d[1].rsplit(" | ", 1)[0] + " |\n"], "PL201", 8),
])
def test_tampering_is_caught_at_its_line(tamper, code, line):
    head, data = rows(chain(4))
    problems = verify_text("".join(tamper(head, data)))
    if code is None:
        assert problems == []
        return
    assert [(p.code, p.line) for p in problems] == [(code, line)]


def test_a_rehashed_forgery_still_breaks_the_next_row():
    head, data = rows(chain(3))
    from promptlane.core.chain import row_hash, split_row

    cells = split_row(data[1])
    cells[4] = "9.9.9"
    cells[9] = row_hash(cells[8], cells[:8])  # the forger recomputes this row's own hash
    forged = "| " + " | ".join(cells) + " |\n"
    problems = verify_text("".join(head + [data[0], forged, data[2]]))
    assert [(p.code, p.line) for p in problems] == [("PL203", 9)]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_verifier_never_crashes_on_arbitrary_text(noise):
    problems = verify_text(AUDIT_HEADER + noise)
    assert all(p.code.startswith("PL20") or p.code == "PL224" for p in problems)  # PL224: a stray line in the table


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=3), st.text(min_size=1, max_size=30))
def test_any_single_cell_edit_is_detected(index, replacement):
    head, data = rows(chain(4))
    from promptlane.core.chain import split_row

    cells = split_row(data[index])
    column = 1 + (len(replacement) % 7)  # one of time..detail
    if cells[column] == replacement.strip() or "|" in replacement or "\n" in replacement or not replacement.strip():
        return
    cells[column] = replacement.strip()
    data[index] = "| " + " | ".join(cells) + " |\n"
    assert verify_text("".join(head + data)) != []


def test_verify_cross_checks_the_registry(repo, capsys):
    assert run_cli(repo, "audit", "verify", capsys=capsys)[0] == 0
    (repo / "registry/store/support-reply/1.0.0.json").unlink()
    code, out = run_cli(repo, "audit", "verify", capsys=capsys)
    assert code == 1 and "PL210" in out


def test_a_pointer_to_a_never_promoted_version_is_reported(repo, capsys):
    path = repo / "registry/support-reply.lock.json"
    data = json.loads(path.read_text())
    data["environments"]["prod"] = "1.0.0"
    path.write_text(json.dumps(data))
    code, out = run_cli(repo, "audit", "verify", capsys=capsys)
    assert code == 1 and "PL214" in out and "promptlane promote support-reply --to prod" in out


def test_a_version_without_its_changelog_entry_is_reported(repo, capsys):
    # The rows then have no entries: the logs are no longer one to one (PL220), said first.
    (repo / "schemas/prompt-change-log.yml").write_text("# emptied\n")
    code, out = run_cli(repo, "audit", "verify", capsys=capsys)
    assert code == 1 and "PL220" in out and "row 1 has no changelog entry" in out


def test_base_ref_proves_append_only(repo, capsys):
    (repo / "prompts/support-reply/system.md").write_text("Be terse.\n")
    run_cli(repo, "sync")
    assert run_cli(repo, "audit", "verify", "--base", "HEAD", capsys=capsys)[0] == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "edit")
    log = repo / "schemas/prompt-change-log.yml"
    log.write_text(log.read_text().replace('"first version"', '"first version, reviewed"'))
    code, out = run_cli(repo, "audit", "verify", "--base", "HEAD~1", capsys=capsys)
    assert code == 1 and "PL206" in out


def test_base_ref_that_does_not_exist_is_a_usage_error(repo, capsys):
    code, _ = run_cli(repo, "audit", "verify", "--base", "origin/nope")
    assert code == 2
    assert "git ref 'origin/nope' not found" in capsys.readouterr().err


def test_base_ref_outside_git_is_a_usage_error(repo, capsys, tmp_path):
    import shutil

    shutil.rmtree(repo / ".git")
    code, _ = run_cli(repo, "audit", "verify", "--base", "HEAD")
    assert code == 2 and "not a git repository" in capsys.readouterr().err


def test_fast_changelog_reader_agrees_with_yaml_and_falls_back_on_hand_edits():
    from promptlane.core.changelog import changelog_entry, parse_changelog

    events = [Event("version", "t1", "a@b", "p", "1.0.0", "sha256:x", {"dev": "1.0.0"}, 'say "hi": yes', "initial"),
              Event("promote", "t2", "Zoë", "p", "1.0.0", "sha256:x", {"dev": "1.0.0", "staging": "1.0.0"}, "ok")]
    text = "# header\n" + "".join(changelog_entry(e) for e in events)
    assert parse_changelog(text) == yaml.safe_load(text)
    edited = text + "- {event: demote, prompt: p}\n"  # flow style by hand: not our line form
    assert parse_changelog(edited) == yaml.safe_load(edited)


def _forbid_full_verification(monkeypatch):
    import promptlane.operations.verify as audit

    def refuse(*args, **kwargs):
        raise AssertionError("full cross-check ran")

    monkeypatch.setattr(audit, "cross_check", refuse)


def test_second_verify_uses_the_local_record_and_checks_only_what_is_new(repo, capsys, monkeypatch):
    assert run_cli(repo, "audit", "verify", capsys=capsys)[0] == 0  # full run, writes the record
    assert (repo / ".promptlane/cache/audit.json").is_file()
    (repo / "prompts/support-reply/system.md").write_text("Be terse.\n")
    assert run_cli(repo, "sync")[0] == 1
    _forbid_full_verification(monkeypatch)
    assert run_cli(repo, "audit", "verify", capsys=capsys)[0] == 0


def test_an_edit_of_an_already_verified_row_is_still_caught(repo, capsys):
    assert run_cli(repo, "audit", "verify", capsys=capsys)[0] == 0
    log = repo / "audit/artifact-audit-log.md"
    log.write_text(log.read_text().replace("| first version |", "| first version! |"))
    code, out = run_cli(repo, "audit", "verify", capsys=capsys)
    assert code == 1 and "PL204" in out


def test_a_forged_new_row_falls_back_to_the_full_verification(repo, capsys):
    assert run_cli(repo, "audit", "verify", capsys=capsys)[0] == 0
    (repo / "prompts/support-reply/system.md").write_text("Be terse.\n")
    run_cli(repo, "sync")
    log = repo / "audit/artifact-audit-log.md"
    log.write_text(log.read_text().replace("| patch change |", "| no change |"))
    code, out = run_cli(repo, "audit", "verify", capsys=capsys)
    assert code == 1 and "PL204" in out


def test_a_snapshot_removed_after_verification_is_caught(repo, capsys):
    assert run_cli(repo, "audit", "verify", capsys=capsys)[0] == 0
    (repo / "registry/store/support-reply/1.0.0.json").unlink()
    code, out = run_cli(repo, "audit", "verify", capsys=capsys)
    assert code == 1 and "PL210" in out


def test_a_shallow_ci_checkout_verifies_like_the_full_clone(life, tmp_path):
    """Repo files are the state, not git history: a depth-1 clone passes the same hooks."""
    from conftest import snapshot_tree

    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{life['root']}", str(shallow))
    assert git(shallow, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    before = snapshot_tree(shallow)
    for args in (["sync", "--all"], ["check", "--all"], ["audit", "verify", "--full"]):
        code = run_cli(shallow, *args)[0]
        assert code == 0, args
    assert snapshot_tree(shallow) == before
