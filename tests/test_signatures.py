"""The pure core of signed approvals: allowed_signers read as git reads it, a signature made
by ssh-keygen verified in-process, and the loosening rules for environments. Real keys
(tests/keys.py, ssh-keygen); no repository needed."""
from __future__ import annotations

import subprocess

import pytest

from keys import key_for, public_key, sign
from promptlane.core.policy import loosened
from promptlane.core.signatures import NAMESPACE, allowed, fingerprint, parse_allowed_signers, signing_key


def _fingerprint_by_ssh_keygen(email: str) -> str:
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(key_for(email)) + ".pub"], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


def test_fingerprints_are_openssh_s():
    signers = parse_allowed_signers(f'pm@example.com namespaces="promptlane" {public_key("pm@example.com")} laptop\n')
    assert [key.fingerprint for key in signers.keys] == [_fingerprint_by_ssh_keygen("pm@example.com")]


@pytest.mark.parametrize("line,email,counts", [
    ('pm@example.com {key}', "pm@example.com", True),                        # no namespaces: every one
    ('pm@example.com namespaces="promptlane" {key}', "PM@Example.com", True),  # e-mails compare without case
    ('pm@example.com namespaces="git" {key}', "pm@example.com", False),        # git commits only
    ('pm@example.com namespaces="git,promptlane" {key}', "pm@example.com", True),
    ('"pm@example.com,qa@example.com" {key}', "qa@example.com", True),        # several principals
    ('*@example.com {key}', "anyone@example.com", True),                      # a pattern, as git allows
    ('*@example.com {key}', "pm@example.org", False),
])
def test_which_lines_name_a_reviewer(line, email, counts):
    signers = parse_allowed_signers(line.format(key=public_key("pm@example.com")) + "\n")
    assert not signers.problems
    assert bool(signers.keys_for(email)) is counts


@pytest.mark.parametrize("line,why", [
    ("pm@example.com", "not an allowed_signers line"),
    ("pm@example.com ssh-ed25519 %%%", "not an allowed_signers line"),
    ('pm@example.com namespaces="promptlane ssh-ed25519 AAAA', "not an allowed_signers line"),
    ("pm@example.com cert-authority {key}", "cert-authority keys are not supported"),
])
def test_bad_lines_are_problems_at_their_line(line, why):
    text = "# comment\n\n" + line.format(key=public_key("pm@example.com")) + "\n"
    signers = parse_allowed_signers(text)
    assert signers.keys == [] and [(p.line, p.code) for p in signers.problems] == [(3, "PL512")]
    assert why in signers.problems[0].message


def test_a_signature_verifies_only_over_its_bytes_and_namespace(tmp_path):
    form = tmp_path / "form.md"
    form.write_text("---\nreviewer: pm@example.com\n---\n")
    sig = sign(tmp_path, "form.md", "pm@example.com").read_bytes()
    assert signing_key(form.read_bytes(), sig).fingerprint == _fingerprint_by_ssh_keygen("pm@example.com")
    changed = signing_key(form.read_bytes() + b"\n", sig)
    assert changed.fingerprint is None and "does not verify over this form" in str(changed.error)
    other = signing_key(form.read_bytes(), sign(tmp_path, "form.md", "pm@example.com", "git").read_bytes())
    assert other.fingerprint is None and f"not the {NAMESPACE} namespace" in str(other.error)
    garbage = signing_key(form.read_bytes(), b"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n")
    assert garbage.fingerprint is None


def test_allowed_checks_the_key_is_the_reviewers_and_in_its_validity():
    pm = public_key("pm@example.com")
    signers = parse_allowed_signers(f'pm@example.com valid-after="20261101",valid-before="20261201" {pm}\n'
                                    f'qa@example.com {public_key("qa@example.com")}\n')
    mine = signers.keys[0].fingerprint
    assert allowed(signers, "pm@example.com", mine, "2026-11-15T10:00:00Z") is None
    assert "outside the validity" in str(allowed(signers, "pm@example.com", mine, "2026-12-01T09:00:00Z"))
    assert "outside the validity" in str(allowed(signers, "pm@example.com", mine, "2026-10-31"))
    refused = allowed(signers, "qa@example.com", mine, "2026-11-15")
    assert refused is not None and "does not list for qa@example.com (it is listed for pm@example.com)" in refused


def test_fingerprint_is_stable():
    assert fingerprint(b"") == "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"


POLICY = {"environments": ["dev", "staging", "prod"], "promotion": {"staging": {}, "prod": {}}}


def _risks():
    rule = {"min_pass_rate": 1.0, "min_category_pass_rate": {}, "max_eval_age_days": 7, "policy_only": False,
            "required_roles": ["PM"]}
    return {"risk": {name: dict(rule) for name in ("low", "medium", "high")}}


@pytest.mark.parametrize("environments,rules,expected", [
    (["dev", "prod", "staging"], ["staging", "prod"], "environments reordered dev -> staging -> prod to dev -> prod -> staging"),
    (["dev", "staging", "prod", "qa"], ["staging", "prod", "qa"], "environment qa added"),
    (["dev", "prod"], ["prod"], "environment staging removed"),
    (["dev", "staging", "prod"], ["staging"], "promotion.prod removed"),
    (["sandbox", "staging", "prod"], ["staging", "prod"], "first environment changed dev -> sandbox"),
    (["dev", "staging", "live"], ["staging", "live"], "last environment changed prod -> live"),
])
def test_environment_changes_are_loosenings(environments, rules, expected):
    old = {"environments": POLICY["environments"], "promotion": {env: _risks() for env in ("staging", "prod")}}
    new = {"environments": environments, "promotion": {env: _risks() for env in rules}}
    assert any(what.startswith(expected) for _, what in loosened(old, new)), loosened(old, new)


def test_signatures_off_and_fewer_reviewers_are_loosenings():
    old = {"environments": ["dev", "prod"], "promotion": {"prod": {**_risks(), "require_signatures": True}}}
    new = {"environments": ["dev", "prod"], "promotion": {"prod": {**_risks(), "require_signatures": False}}}
    old["promotion"]["prod"]["risk"]["high"]["min_reviewers"] = 3
    new["promotion"]["prod"]["risk"]["high"]["min_reviewers"] = 2
    found = [what for _, what in loosened(old, new)]
    assert "promotion.prod.require_signatures turned off (unsigned approvals would count)" in found
    assert "promotion.prod.risk.high.min_reviewers lowered 3 -> 2" in found


# ---------------------------------------------------------------- decisions: one person, one role

from promptlane.core.card import Card  # noqa: E402
from promptlane.core.decisions import Panel, Version, decide  # noqa: E402
from promptlane.core.events import parse_time  # noqa: E402
from promptlane.core.reviews import Reviewers, parse_review  # noqa: E402
from promptlane.core.signatures import Signers  # noqa: E402

HASH = "sha256:" + "ab" * 32
CARD_TEXT = "version: 1.0.1\nenvironment: dev\n"


def _card() -> Card:
    return Card("support-reply", "prompts/support-reply/card.yml", CARD_TEXT,
                {"version": "1.0.1", "hash": HASH, "environment": "dev"}, hash=HASH)


def _form(reviewer: str, role: str, decision: str = "approved", date: str = "2026-12-01T10:00:00Z", suffix: str = ""):
    front = (f'---\nprompt: "support-reply"\nversion: "1.0.1"\nhash: "{HASH}"\nreviewer: "{reviewer}"\n'
             f'role: "{role}"\ndecision: "{decision}"\ndate: "{date}"\nnote: ""\n---\n')
    slug = role.lower().replace(" ", "-")
    return parse_review(f"reviews/support-reply/1.0.1/{slug}-{reviewer.split('@')[0]}{suffix}.md", front.encode())


ROLES = {"PM": ["pm@example.com", "ana@example.com"], "QA": ["qa@example.com", "ana@example.com"], "Security": ["sec@example.com"]}


def _decide(forms, roles=("PM", "QA"), min_reviewers=0):
    panel = Panel(Reviewers(ROLES), Signers(), require_signatures=False)
    return decide(_card(), Version("dana@example.com", "2026-12-01T09:00:00Z"), roles, panel, forms,
                  parse_time("2026-12-01T12:00:00Z"), min_reviewers)


def test_a_person_in_two_roles_fills_the_one_the_others_leave_open():
    """ana approved as PM and QA, pm as PM: the matching gives PM to pm and QA to ana."""
    decision = _decide([_form("ana@example.com", "PM"), _form("ana@example.com", "QA"), _form("pm@example.com", "PM")])
    assert decision.unmet == [] and decision.problems == []
    assert decision.statuses["PM"].approved_by == ["pm@example.com"] and decision.statuses["QA"].approved_by == ["ana@example.com"]


def test_a_person_alone_in_two_roles_fills_one():
    decision = _decide([_form("ana@example.com", "PM"), _form("ana@example.com", "QA")])
    assert [code for code, _ in decision.unmet] == ["PL611"]


def test_min_reviewers_counts_people_not_forms():
    forms = [_form("pm@example.com", "PM"), _form("qa@example.com", "QA")]
    assert _decide(forms, min_reviewers=2).unmet == []
    assert [code for code, _ in _decide(forms, min_reviewers=3).unmet] == ["PL611"]


def test_a_rejection_stands_until_the_same_reviewer_decides_again():
    reject = _form("sec@example.com", "Security", "rejected", "2026-12-01T10:30:00Z")
    forms = [_form("pm@example.com", "PM"), _form("qa@example.com", "QA"), reject]
    assert [code for code, _ in _decide(forms).unmet] == ["PL608"]  # Security is not even required here
    later = _form("sec@example.com", "Security", "approved", "2026-12-01T10:45:00Z", "-2")
    assert _decide([*forms, later]).unmet == []


def test_an_unsigned_form_does_not_count_where_signatures_are_required():
    panel = Panel(Reviewers(ROLES), Signers(), require_signatures=True)
    decision = decide(_card(), Version("dana@example.com", None), ("PM",), panel, [_form("pm@example.com", "PM")],
                      parse_time("2026-12-01T12:00:00Z"))
    assert [p.code for p in decision.problems] == ["PL520"] and [c for c, _ in decision.unmet] == ["PL608"]
