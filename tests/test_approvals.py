"""HITL approvals: which forms count for the gate, and what `promptlane approve` writes.

The table drives `promptlane promote support-reply --to staging` (high risk: PM must approve)
with hand-written forms; every refusal must name the form's file and line and the fix.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import snapshot_tree
from keys import key_for, register, sign
from governed import PID, approve_as, as_user, card, clock, commit, new_version, pl, write_results

V = "1.0.1"
OTHER_HASH = "sha256:" + "ab" * 32


@pytest.fixture
def edited(gov, capsys, monkeypatch):
    """support-reply 1.0.1 by dana in dev, eval results on file; PM may be pm, pm2 or dana."""
    new_version(gov, capsys)
    write_results(gov, "2026-12-01T08:00:00Z")
    reviewers = gov / "reviews/reviewers.yml"
    reviewers.write_text(reviewers.read_text().replace("  - pm@example.com\n", "  - pm@example.com\n  - pm2@example.com\n  - dana@example.com\n"))
    commit(gov, "1.0.1")
    clock(monkeypatch, "2026-12-01T10:00:00Z")  # 1.0.1 was made at 09:00; the forms are dated after it
    return gov


def form(root: Path, reviewer: str = "pm@example.com", role: str = "PM", decision: str = "approved",
         date: str = "2026-12-01T09:30:00Z", payload_hash: str | None = None, version: str = V, name: str | None = None,
         front: str | None = None, signed: bool = True) -> str:
    """A form written by hand and signed with the reviewer's own key, as `promptlane approve` would."""
    slug = role.lower().replace(" ", "-")
    rel = f"reviews/{PID}/{version}/{name or slug + '-' + reviewer.split('@')[0]}.md"
    values = {"prompt": PID, "version": version, "hash": payload_hash or card(root)["hash"], "reviewer": reviewer,
              "role": role, "decision": decision, "date": date, "note": ""}
    text = front if front is not None else "---\n" + "".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()) + "---\n\n# Prompt approval\n"
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if signed:
        sign(root, rel, reviewer)
    return rel


def _edit(root: Path, rel: str, old: str, new: str) -> str:
    path = root / rel
    path.write_text(path.read_text().replace(old, new))
    return rel


def first_hash(root: Path) -> str:
    return json.loads((root / f"registry/{PID}.lock.json").read_text())["versions"][0]["hash"]


CASES = {
    "valid approval": (lambda r: [form(r)], 0, None, None),
    "forged: hash edited": (lambda r: [form(r, payload_hash=OTHER_HASH)], 1, "PL504", 4),
    "stale: older text's hash": (lambda r: [form(r, payload_hash=first_hash(r))], 1, "PL504", 4),
    "self approval by the author": (lambda r: [form(r, reviewer="dana@example.com")], 1, "PL507", 5),
    "unknown reviewer": (lambda r: [form(r, reviewer="eve@example.com")], 1, "PL505", 5),
    "wrong role": (lambda r: [form(r, reviewer="qa@example.com")], 1, "PL505", 5),
    "missing role": (lambda r: [], 1, "PL608", None),
    "pending form": (lambda r: [form(r, decision="pending")], 1, "PL608", None),
    "only another role approved": (lambda r: [form(r, reviewer="qa@example.com", role="QA")], 1, "PL608", None),
    "moved to another version's folder": (lambda r: [form(r, version="1.0.0")], 1, "PL608", None),
    "file name does not match": (lambda r: [form(r, name="pm-someone")], 1, "PL503", 6),
    "no front matter": (lambda r: [form(r, front="# just text\n")], 1, "PL500", 1),
    "bad decision": (lambda r: [form(r, decision="maybe")], 1, "PL501", 7),
    "duplicate key": (lambda r: [form(r, front="---\nrole: PM\nrole: QA\n---\n")], 1, "PL101", 3),
    "reject, then the same reviewer's later approval": (lambda r: [form(r, decision="rejected", date="2026-12-01T09:10:00Z"),
                                                                   form(r, name="pm-pm-2", date="2026-12-01T09:15:00Z")], 0, None, None),
    "reject, then another reviewer's later approval": (lambda r: [form(r, reviewer="pm2@example.com", decision="rejected", date="2026-12-01T09:10:00Z"),
                                                                  form(r, date="2026-12-01T09:15:00Z")], 1, "PL608", None),
    "approval, then a later reject": (lambda r: [form(r, date="2026-12-01T09:10:00Z"),
                                                 form(r, reviewer="pm2@example.com", decision="rejected", date="2026-12-01T09:15:00Z")],
                                      1, "PL608", None),
    "unsigned": (lambda r: [form(r, signed=False)], 1, "PL520", 5),
    "signed with another reviewer's key": (lambda r: [form(r, signed=False), sign(r, form(r, signed=False), "qa@example.com") and ""][:1],
                                           1, "PL522", 5),
    "signed in git's namespace": (lambda r: [form(r, signed=False), sign(r, form(r, signed=False), "pm@example.com", "git") and ""][:1],
                                  1, "PL521", 5),
    "edited after signing": (lambda r: [_edit(r, form(r), "note: \"\"", "note: \"fine\"")], 1, "PL521", 5),
    "dated before its version existed": (lambda r: [form(r, date="2026-12-01T08:30:00Z")], 1, "PL524", 8),
    "dated in the future": (lambda r: [form(r, date="2026-12-02T08:30:00Z")], 1, "PL501", 8),
    "reject and approval on the same bare date": (lambda r: [form(r, date="2026-12-01"),
                                                             form(r, reviewer="pm2@example.com", decision="rejected", date="2026-12-01")],
                                                  1, "PL608", None),
    "a broken form of a role not needed does not block": (lambda r: [form(r), form(r, reviewer="eve@example.com", role="Security")],
                                                          0, None, None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_which_forms_count(edited, capsys, name):
    make, expected, code, line = CASES[name]
    rels = make(edited)
    before = snapshot_tree(edited)
    got, out = pl(edited, capsys, "promote", PID, "--to", "staging")
    assert got == expected, out
    if expected:
        assert snapshot_tree(edited) == before
        assert f" {code} " in out
        if line is not None:  # the refusal points at the form, at the offending line
            assert f"{rels[-1]}:{line}:" in out, out
        if code == "PL608":
            assert "promptlane approve support-reply --role PM" in out
        if name.startswith("approval, then"):
            assert "pm2@example.com rejected 1.0.1 on 2026-12-01T09:15:00Z" in out


def test_check_reports_the_same_refusals_for_a_hand_raised_card(edited, capsys):
    rel = form(edited, reviewer="eve@example.com")
    path = edited / f"prompts/{PID}/card.yml"
    path.write_text(path.read_text().replace("environment: dev", "environment: staging"))
    code, out = pl(edited, capsys, "check")
    assert code == 1 and f"{rel}:5:" in out and "PL505" in out and "PL608" in out


def test_stale_approval_after_an_edit_does_not_count(edited, capsys, monkeypatch):
    assert approve_as(edited, capsys, monkeypatch, "PM")[0] == 0
    new_version(edited, capsys, "changed after approval")
    write_results(edited, "2026-12-01T08:00:00Z")
    code, out = pl(edited, capsys, "promote", PID, "--to", "staging")
    assert code == 1 and "PL608" in out and "needs an approval by PM for 1.0.2" in out


# ---------------------------------------------------------------- promptlane approve


def test_approve_writes_a_filled_form(edited, capsys, monkeypatch):
    clock(monkeypatch, "2026-12-01T09:15:00Z")
    code, out = approve_as(edited, capsys, monkeypatch, "Tech Lead", None, "--note", 'says "ok": fine')
    assert code == 0, out
    rel = f"reviews/{PID}/{V}/tech-lead-tech-lead.md"
    assert rel in out
    from promptlane.store.reviews import read_review
    from promptlane.store.repo import Repo

    review = read_review(Repo.at(edited), rel)
    assert review.ok, review.problems
    assert review.data == {"prompt": PID, "version": V, "hash": card(edited)["hash"], "reviewer": "tech-lead@example.com",
                           "role": "Tech Lead", "decision": "approved", "date": "2026-12-01T09:15:00Z", "note": 'says "ok": fine'}
    text = (edited / rel).read_text()
    assert "pass rate 100.0%" in text and "1200 tokens" in text and "_Not filled yet" not in text
    assert "## Checklist: Tech Lead" in text and text.count("- [x] ") == 3 and "- [ ] " not in text  # approve_as: --all-confirmed
    assert "# your e-mail, as listed in reviews/reviewers.yml" in text  # template comments kept


def test_approve_without_results_says_so(gov, capsys, monkeypatch):
    new_version(gov, capsys)
    assert approve_as(gov, capsys, monkeypatch, "PM")[0] == 0
    assert "No eval results for this hash yet" in (gov / f"reviews/{PID}/{V}/pm-pm.md").read_text()


@pytest.mark.parametrize("who,role,extra,code,needle", [
    ("eve@example.com", "PM", [], 1, "reviews/reviewers.yml:"),
    ("qa@example.com", "PM", [], 1, "qa@example.com is not listed under PM"),
    ("dana@example.com", "PM", [], 1, "cannot approve it"),
    ("pm@example.com", "Chief", [], 2, "role 'Chief' is not in reviews/reviewers.yml"),
    ("dana@example.com", "PM", ["--decision", "reject"], 0, "rejected as PM"),  # an author may object to their own change
])
def test_approve_refuses_forms_that_could_never_count(edited, capsys, monkeypatch, who, role, extra, code, needle):
    as_user(monkeypatch, who)
    got, out = pl(edited, capsys, "approve", PID, "--role", role, "--key", str(key_for(who)), *extra)
    assert (got, needle in out) == (code, True), out


def test_reject_then_approve_through_the_cli(edited, capsys, monkeypatch):
    clock(monkeypatch, "2026-12-01T09:10:00Z")
    assert approve_as(edited, capsys, monkeypatch, "PM", "pm@example.com", "--decision", "reject", "--note", "tone")[0] == 0
    code, out = pl(edited, capsys, "promote", PID, "--to", "staging")
    assert code == 1 and "pm@example.com rejected 1.0.1" in out
    clock(monkeypatch, "2026-12-01T09:15:00Z")
    code, out = approve_as(edited, capsys, monkeypatch, "PM", "pm@example.com")
    assert code == 0 and "replaces your earlier form, not yet committed (rejected" in out
    assert pl(edited, capsys, "promote", PID, "--to", "staging")[0] == 0


def test_role_names_match_loosely_and_files_use_slugs(edited, capsys, monkeypatch):
    code, out = approve_as(edited, capsys, monkeypatch, "Tech Lead", "tech-lead@example.com")
    assert code == 0
    as_user(monkeypatch, "tech-lead@example.com")
    code, out = pl(edited, capsys, "approve", PID, "--role", "tech_lead", "--key", str(key_for("tech-lead@example.com")),
                   "--all-confirmed")
    assert code == 0 and f"reviews/{PID}/{V}/tech-lead-tech-lead.md" in out


def test_two_reviewers_whose_addresses_start_alike_keep_both_forms(edited, capsys, monkeypatch):
    """pm@example.com and pm@other.org would share pm-pm.md: the second never overwrites the first."""
    reviewers = edited / "reviews/reviewers.yml"
    reviewers.write_text(reviewers.read_text().replace("  - pm@example.com\n", "  - pm@example.com\n  - pm@other.org\n"))
    register(edited, "pm@other.org")
    assert approve_as(edited, capsys, monkeypatch, "PM", "pm@example.com", "--decision", "reject")[0] == 0
    code, out = approve_as(edited, capsys, monkeypatch, "PM", "pm@other.org")
    assert code == 0, out
    first, second = (edited / f"reviews/{PID}/{V}/{name}.md" for name in ("pm-pm", "pm-pm-other-org"))
    assert 'reviewer: "pm@example.com"' in first.read_text() and 'decision: "rejected"' in first.read_text()
    assert 'reviewer: "pm@other.org"' in second.read_text() and "replaces your earlier form" not in out
    code, out = pl(edited, capsys, "check")
    assert "PL503" not in out, out  # both file names are accepted


def test_a_ticked_checklist_is_signed_again_before_it_is_committed(edited, capsys, monkeypatch):
    """Ticking the checklist changes the signed bytes: the form stops counting (PL521) until
    `approve --sign` signs it again; once committed, a form is history and is never re-signed."""
    assert approve_as(edited, capsys, monkeypatch, "PM", "pm@example.com", "--confirm", "1")[0] == 0
    rel = f"reviews/{PID}/{V}/pm-pm.md"
    path = edited / rel
    path.write_text(path.read_text().replace("- [ ] ", "- [x] "))
    code, out = pl(edited, capsys, "promote", PID, "--to", "staging")
    assert code == 1 and f"{rel}:8:11: PL521" in out and f"`promptlane approve --sign {rel}` before it is committed" in out
    as_user(monkeypatch, "qa@example.com")  # only the form's own reviewer signs it
    code, out = pl(edited, capsys, "approve", "--sign", rel, "--key", str(key_for("qa@example.com")))
    assert code == 2 and "is pm@example.com's form; only they sign it" in out
    as_user(monkeypatch, "pm@example.com")
    code, out = pl(edited, capsys, "approve", "--sign", rel, "--key", str(key_for("pm@example.com")))
    assert code == 0 and f"Signed {rel} and {rel}.sig" in out, out
    assert pl(edited, capsys, "promote", PID, "--to", "staging")[0] == 0
    commit(edited, "approved and promoted")
    code, out = pl(edited, capsys, "approve", "--sign", rel, "--key", str(key_for("pm@example.com")))
    assert code == 2 and "is committed: review history only grows" in out


def test_signing_through_git_config_as_for_signed_commits(edited, capsys, monkeypatch):
    """No --key: git's gpg.format=ssh and user.signingkey (here a public key file, whose
    private half sits beside it, as ssh-keygen finds it) name the key."""
    from conftest import git

    git(edited, "config", "gpg.format", "ssh")
    git(edited, "config", "user.signingkey", str(key_for("pm@example.com")))
    as_user(monkeypatch, "pm@example.com")
    code, out = pl(edited, capsys, "approve", PID, "--role", "PM", "--all-confirmed")
    assert code == 0 and ".sig (signed with SHA256:" in out, out
    git(edited, "config", "gpg.format", "openpgp")
    code, out = pl(edited, capsys, "approve", PID, "--role", "PM", "--all-confirmed")
    assert code == 2 and "PL540" in out and "gpg.format is not ssh" in out


# ---------------------------------------------------------------- the checklist (prod: require_checklist)

PM_ITEMS = ("The prompt does what the product needs, for the users it serves.",
            "Tone, language and length suit the audience.",
            "The eval cases cover the situations that matter to users.")


def approve_pm(root: Path, capsys, monkeypatch, *extra: str) -> tuple[int, str]:
    """`approve` as pm@ with exactly ``extra`` (approve_as would add --all-confirmed)."""
    as_user(monkeypatch, "pm@example.com")
    return pl(root, capsys, "approve", PID, "--role", "PM", "--key", str(key_for("pm@example.com")), *extra)


def test_approve_off_a_terminal_without_answers_is_refused_and_writes_nothing(edited, capsys, monkeypatch):
    before = snapshot_tree(edited)
    code, out = approve_pm(edited, capsys, monkeypatch)
    assert code == 2, out
    assert "requires the PM checklist for prod (require_checklist)" in out and "stdin is not a terminal" in out
    assert "--confirm ITEM..." in out and "--all-confirmed" in out and f"1. {PM_ITEMS[0]}" in out
    assert snapshot_tree(edited) == before


def test_confirm_names_an_item_by_number_or_text_and_suggests_for_a_typo(edited, capsys, monkeypatch):
    before = snapshot_tree(edited)
    code, out = approve_pm(edited, capsys, monkeypatch, "--confirm", "Tone, langauge and length suit the audience")
    assert code == 2 and f"is not an item of this checklist (did you mean '{PM_ITEMS[1]}'?)" in out, out
    assert snapshot_tree(edited) == before
    code, out = approve_pm(edited, capsys, monkeypatch, "--confirm", "1", "tone, language and length suit the audience")
    assert code == 0, out
    assert f"1 of 3 checklist items unanswered ({PM_ITEMS[2]}): this approval does not count for prod" in out
    text = (edited / f"reviews/{PID}/{V}/pm-pm.md").read_text()
    assert f"- [x] {PM_ITEMS[0]}" in text and f"- [x] {PM_ITEMS[1]}" in text and f"- [ ] {PM_ITEMS[2]}" in text


def test_a_rejection_needs_no_answers_and_takes_none(edited, capsys, monkeypatch):
    code, out = approve_pm(edited, capsys, monkeypatch, "--decision", "reject", "--all-confirmed")
    assert code == 2 and "a rejection needs no answers" in out, out
    code, out = approve_pm(edited, capsys, monkeypatch, "--decision", "reject", "--note", "tone")
    assert code == 0, out


def test_an_unanswered_item_counts_for_staging_but_not_for_prod(edited, capsys, monkeypatch):
    """prod's rule has require_checklist: true; staging's has not. The gate names the items and
    the form's line; answering them all (a new form, not yet committed) lets the version through."""
    for role in ("Tech Lead", "QA", "Security", "Governance"):
        assert approve_as(edited, capsys, monkeypatch, role)[0] == 0
    assert approve_pm(edited, capsys, monkeypatch, "--confirm", "2")[0] == 0
    assert pl(edited, capsys, "promote", PID, "--to", "staging")[0] == 0
    rel = f"reviews/{PID}/{V}/pm-pm.md"
    line = (edited / rel).read_text().splitlines().index(f"- [ ] {PM_ITEMS[0]}") + 1
    code, out = pl(edited, capsys, "promote", PID, "--to", "prod")
    assert code == 1, out
    assert f"{rel}:{line}:1: PL532 2 of 3 checklist items unanswered: '{PM_ITEMS[0]}' (line {line}); " \
           f"'{PM_ITEMS[2]}' (line {line + 2})" in out
    assert "PL608" in out and "needs an approval by PM" in out
    assert approve_pm(edited, capsys, monkeypatch, "--confirm", "1", "2", "3")[0] == 0
    code, out = pl(edited, capsys, "promote", PID, "--to", "prod")
    assert code == 0, out
    assert "PM: pm@example.com (signed, checklist answered)" in (edited / "schemas/prompt-change-log.yml").read_text()


def test_a_form_without_its_roles_checklist_does_not_count_where_it_is_required(edited, capsys, monkeypatch):
    """A form whose checklist section was removed before signing answers nothing: PL531."""
    for role in ("Tech Lead", "QA", "Security", "Governance"):
        assert approve_as(edited, capsys, monkeypatch, role)[0] == 0
    assert approve_pm(edited, capsys, monkeypatch, "--all-confirmed")[0] == 0
    rel = f"reviews/{PID}/{V}/pm-pm.md"
    path = edited / rel
    path.write_text(path.read_text().split("## Checklist: PM")[0])
    assert pl(edited, capsys, "approve", "--sign", rel, "--key", str(key_for("pm@example.com")))[0] == 0
    assert pl(edited, capsys, "promote", PID, "--to", "staging")[0] == 0
    code, out = pl(edited, capsys, "promote", PID, "--to", "prod")
    assert code == 1 and f"{rel}:" in out and "PL531 has no '## Checklist: PM' items" in out, out


def test_on_a_terminal_approve_asks_each_item(edited, capsys, monkeypatch):
    """A real terminal (a pty): 'y' ticks an item, anything else leaves it unanswered."""
    import os
    import pty
    import subprocess
    import sys

    main, secondary = pty.openpty()
    os.write(main, b"y\nno\ny\n")
    env = {**os.environ, "PROMPTLANE_ACTOR": "pm@example.com"}
    done = subprocess.run([sys.executable, "-m", "promptlane", "-C", str(edited), "approve", PID, "--role", "PM",
                           "--key", str(key_for("pm@example.com"))], stdin=secondary, capture_output=True,
                          text=True, env=env, timeout=120)
    os.close(secondary)
    os.close(main)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"1. {PM_ITEMS[0]} [y/N]" in done.stderr
    text = (edited / f"reviews/{PID}/{V}/pm-pm.md").read_text()
    assert f"- [x] {PM_ITEMS[0]}" in text and f"- [ ] {PM_ITEMS[1]}" in text and f"- [x] {PM_ITEMS[2]}" in text
    assert "1 of 3 checklist items unanswered" in done.stdout
