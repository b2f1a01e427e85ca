"""Governance inputs on a laptop (no base: compared with HEAD): a card's risk tier, new prompts,
reviewers and allowed_signers, cards that are links. Each refused change names the Governance
approval that lets it count; the approval itself is signed with a real key."""
from __future__ import annotations

import os

from governed import CARD, PID, as_user, changelog, commit, pl
from keys import key_for, register

AUDIT = "audit/artifact-audit-log.md"


def _governance(root, capsys, monkeypatch, subject: str) -> tuple[int, str]:
    as_user(monkeypatch, "governance@example.com")
    try:
        return pl(root, capsys, "approve", "--governance", subject, "--role", "Governance",
                  "--key", str(key_for("governance@example.com")))
    finally:
        monkeypatch.delenv("PROMPTLANE_ACTOR", raising=False)


def test_a_lowered_risk_is_logged_and_counts_only_once_governance_approves(gov, capsys, monkeypatch):
    path = gov / CARD
    path.write_text(path.read_text().replace("risk: high", "risk: low"))
    code, out = pl(gov, capsys, "sync")
    assert code == 1 and "support-reply: risk high -> low (recorded in the changelog and audit log)" in out, out
    entry = changelog(gov)[-1]
    assert (entry["event"], entry["reason"], entry["version"]) == ("risk", "risk high -> low", "1.0.0")
    assert "| risk | support-reply | 1.0.0 |" in (gov / AUDIT).read_text()
    assert pl(gov, capsys, "sync")[0] == 0  # recorded once: the lock keeps the tier
    code, out = pl(gov, capsys, "check")
    assert code == 1 and f"{CARD}:9:7: PL412 risk lowered high -> low since git HEAD" in out, out
    code, out = _governance(gov, capsys, monkeypatch, CARD)
    assert code == 0 and "reviews/policy/2026-12-01-support-reply-risk-governance-governance.md" in out, out
    assert pl(gov, capsys, "check")[0] == 0
    assert pl(gov, capsys, "audit", "verify", "--full")[0] == 0


def test_a_raised_risk_needs_no_approval(gov, capsys):
    path = gov / CARD
    path.write_text(path.read_text().replace("risk: high", "risk: low"))
    assert pl(gov, capsys, "sync")[0] == 1
    commit(gov, "low (on the protected branch)")
    path.write_text(path.read_text().replace("risk: low", "risk: medium"))
    assert pl(gov, capsys, "sync")[0] == 1 and changelog(gov)[-1]["reason"] == "risk low -> medium"
    assert pl(gov, capsys, "check")[0] == 0


def test_a_new_prompt_below_the_highest_risk_needs_governance(gov, capsys, monkeypatch):
    assert pl(gov, capsys, "new", "faq-answer")[0] == 0
    card = gov / "prompts/faq-answer/card.yml"
    card.write_text(card.read_text().replace("risk: high", "risk: medium"))
    pl(gov, capsys, "sync")
    code, out = pl(gov, capsys, "check")
    assert code == 1 and "prompts/faq-answer/card.yml:" in out and "PL412 risk lowered high -> medium" in out, out
    assert _governance(gov, capsys, monkeypatch, "prompts/faq-answer/card.yml")[0] == 0
    assert pl(gov, capsys, "check")[0] == 0


def test_a_new_reviewer_key_needs_a_signed_governance_approval(gov, capsys, monkeypatch):
    register(gov, "sam@example.com")
    code, out = pl(gov, capsys, "check", "reviews/allowed_signers")
    assert code == 1 and "reviews/allowed_signers:1:1: PL411 changed since git HEAD" in out, out
    as_user(monkeypatch, "sam@example.com")  # not a Governance reviewer: refused, nothing written
    code, out = pl(gov, capsys, "approve", "--governance", "reviews/allowed_signers", "--role", "Governance",
                   "--key", str(key_for("sam@example.com")))
    assert code == 1 and "PL505" in out and not (gov / "reviews/policy").exists()
    assert _governance(gov, capsys, monkeypatch, "reviews/allowed_signers")[0] == 0
    assert pl(gov, capsys, "check", "reviews/allowed_signers")[0] == 0
    # The approval is bound to the content: another line needs another approval.
    register(gov, "tom@example.com")
    assert pl(gov, capsys, "check", "reviews/allowed_signers")[0] == 1


def test_a_card_that_is_a_link_is_refused(gov, capsys):
    real = gov / f"prompts/{PID}/card.real.yml"
    real.write_text((gov / CARD).read_text())
    (gov / CARD).unlink()
    os.symlink("card.real.yml", gov / CARD)
    code, out = pl(gov, capsys, "check")
    assert code == 1 and f"{CARD}:1:1: PL123 is a symbolic link" in out, out


def test_the_report_counts_a_form_only_with_its_signature(gov, capsys, monkeypatch):
    """What auditors read (report, diff) agrees with the gates: a form signed with the wrong
    key, or not signed, is listed but does not count."""
    from governed import approve_as, card, new_version, write_results
    from keys import sign
    from promptlane.operations.history import approvals_of
    from promptlane.store.repo import Repo

    version = new_version(gov, capsys)
    write_results(gov, "2026-12-01T08:00:00Z")
    assert approve_as(gov, capsys, monkeypatch, "PM")[0] == 0
    assert approve_as(gov, capsys, monkeypatch, "QA")[0] == 0
    sign(gov, f"reviews/{PID}/{version}/qa-qa.md", "pm@example.com")  # the QA form re-signed with another's key
    assert approve_as(gov, capsys, monkeypatch, "Security")[0] == 0
    (gov / f"reviews/{PID}/{version}/security-security.md.sig").unlink()
    rows = {a.role: (a.counts, a.note) for a in approvals_of(Repo(gov), PID, version, card(gov)["hash"])}
    assert rows["PM"] == (True, "")
    assert rows["QA"] == (False, "PL522 signature does not count")
    assert rows["Security"] == (False, "PL520 unsigned")
