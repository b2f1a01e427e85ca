"""PII and secret detectors (PL310): true positives, checksum-invalid negatives, the allow comment."""
from __future__ import annotations

import pytest

from conftest import run_cli
from promptlane.core.pii import ALLOW_MARKER, DETECTORS, redact, scan_text

GH_TOKEN = "ghp_" + "Ab3" * 12  # 36 characters after the prefix

# (kind, text containing exactly one hit of that kind, the hit)
POSITIVES = [
    ("credit-card", "card 4111 1111 1111 1111 please", "4111 1111 1111 1111"),
    ("credit-card", "card 4111-1111-1111-1111.", "4111-1111-1111-1111"),
    ("credit-card", "amex 378282246310005 ok", "378282246310005"),
    ("credit-card", "amex 3782 822463 10005 ok", "3782 822463 10005"),
    ("credit-card", "mc 5555555555554444", "5555555555554444"),
    ("iban", "pay to DE89 3704 0044 0532 0130 00 today", "DE89 3704 0044 0532 0130 00"),
    ("iban", "pay to GB82WEST12345698765432", "GB82WEST12345698765432"),
    ("us-ssn", "ssn 123-45-6789.", "123-45-6789"),
    ("us-ssn", "ssn 123 45 6789", "123 45 6789"),
    ("email", "write to ana.lopez+news@mail.example.com now", "ana.lopez+news@mail.example.com"),
    ("phone", "call +1 415 555 2671 now", "+1 415 555 2671"),
    ("phone", "call +44 20 7946 0958", "+44 20 7946 0958"),
    ("phone", "call (415) 555-2671", "(415) 555-2671"),
    ("phone", "call 415-555-2671", "415-555-2671"),
    ("phone", "call +4915112345678", "+4915112345678"),
    ("aws-access-key", "key AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE"),
    ("github-token", f"token {GH_TOKEN} here", GH_TOKEN),
    ("github-token", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"),
    ("api-key", "OPENAI sk-proj-abc123def456ghi789jkl012mno", "sk-proj-abc123def456ghi789jkl012mno"),
    ("api-key", "legacy sk-" + "a1B2" * 12, "sk-" + "a1B2" * 12),
    ("private-key", "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----",
     "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----"),
    ("private-key", "-----BEGIN OPENSSH PRIVATE KEY-----", "-----BEGIN OPENSSH PRIVATE KEY-----"),
    ("secret-assignment", 'api_key = "abcd1234efgh5678"', "abcd1234efgh5678"),
    ("secret-assignment", "password: hunter2hunter2", "hunter2hunter2"),
    ("secret-assignment", "CLIENT_SECRET=Zm9vYmFyYmF6cXV4cXV1eA", "Zm9vYmFyYmF6cXV4cXV1eA"),
]

# Look like a finding, are not one (checksum, prefix, grouping, range or shape is wrong).
NEGATIVES = [
    ("credit-card", "card 4111 1111 1111 1112"),           # Luhn fails
    ("credit-card", "order 1234567890123452"),              # Luhn passes, no card network starts with 1
    ("credit-card", "ref 4111 11 1111 111 111"),           # Luhn-valid digits, not how cards are printed
    ("credit-card", "version 4.1.1.1"),
    ("iban", "pay to DE89 3704 0044 0532 0130 01"),       # mod-97 fails
    ("iban", "pay to GB82WEST1234569876543"),             # wrong length for GB
    ("us-ssn", "ssn 078-05-1120"),                        # the advertised wallet number
    ("us-ssn", "ssn 666-12-3456"),                        # area 666 is never issued
    ("us-ssn", "ssn 123-00-4567"),                        # group 00 is never issued
    ("us-ssn", "date 2024-01-15"),
    ("email", "a retina icon@2x.png"),
    ("email", "not an address: user@localhost"),
    ("phone", "the year +2024"),                          # too few digits
    ("phone", "(115) 555-2671 has no valid area code"),
    ("phone", "411-555-2671 is a service code"),
    ("phone", "version 1.2.3 and 2024-01-15"),
    ("phone", "+1 415  555 2671 double space"),
    ("aws-access-key", "AKIA1234 is too short"),
    ("aws-access-key", "akiaiosfodnn7example lower case"),
    ("github-token", "ghp_short1234"),
    ("api-key", "use sk-learn-contrib-and-friends-package"),  # a package name: no digits
    ("api-key", "sk-123"),
    ("private-key", "-----BEGIN PUBLIC KEY-----"),
    ("private-key", "-----BEGIN CERTIFICATE-----"),
    ("secret-assignment", "password: {{ password }}"),
    ("secret-assignment", "api_key = ${OPENAI_API_KEY}"),
    ("secret-assignment", "token: changeme"),
    ("secret-assignment", "api_key: xxxxxxxxxxxx"),
    ("secret-assignment", "api_key = os.environ['KEY']"),
    ("secret-assignment", "max_tokens: 400"),
    ("secret-assignment", "password: short1"),
]


def test_every_detector_has_positive_and_negative_cases():
    kinds = {d.kind for d in DETECTORS}
    assert kinds == {k for k, _, _ in POSITIVES} == {k for k, _ in NEGATIVES}


@pytest.mark.parametrize("kind,text,hit", POSITIVES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(POSITIVES)])
def test_true_positives(kind, text, hit):
    found = scan_text(text)
    assert [(f.kind, text[f.start:f.end]) for f in found] == [(kind, hit)]
    assert found[0].line == text[: found[0].start].count("\n") + 1


@pytest.mark.parametrize("kind,text", NEGATIVES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(NEGATIVES)])
def test_checksum_and_shape_negatives(kind, text):
    assert [f.kind for f in scan_text(text)] == []


@pytest.mark.parametrize("kind,text,hit", POSITIVES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(POSITIVES)])
def test_allow_comment_skips_the_line_only_when_honoured(kind, text, hit):
    lines = text.split("\n")
    marked = "\n".join([f"{lines[0]}  # {ALLOW_MARKER}", *lines[1:]])
    assert scan_text(marked, honour_allow=True) == []
    assert [f.kind for f in scan_text(marked)] == [kind]  # the runtime never honours it


def test_allow_comment_applies_to_its_own_line():
    text = f"a 4111 1111 1111 1111  # {ALLOW_MARKER}\nb 4111 1111 1111 1111\n"
    found = scan_text(text, honour_allow=True)
    assert [(f.line, f.col) for f in found] == [(2, 3)]


def test_positions_are_one_based_lines_and_columns():
    text = "first line\n  mail: eve@example.org\n"
    (finding,) = scan_text(text)
    assert (finding.kind, finding.line, finding.col) == ("email", 2, 9)
    assert text[finding.start:finding.end] == "eve@example.org"


def test_overlaps_are_reported_once_by_the_most_specific_detector():
    text = 'api_key = "sk-proj-abc123def456ghi789jkl012mno"'
    assert [f.kind for f in scan_text(text)] == ["api-key"]


def test_redact_replaces_every_finding():
    text = "Mail eve@example.org, card 4111 1111 1111 1111, call +1 415 555 2671. Thanks"
    assert redact(text) == "Mail [REDACTED:email], card [REDACTED:credit-card], call [REDACTED:phone]. Thanks"
    assert redact("nothing to hide") == "nothing to hide"


def test_redact_removes_a_whole_private_key():
    text = "x\n-----BEGIN EC PRIVATE KEY-----\nabc\n-----END EC PRIVATE KEY-----\ny"
    assert redact(text) == "x\n[REDACTED:private-key]\ny"


def test_check_reports_pl310_in_texts_and_fixtures(repo, capsys):
    (repo / "prompts/support-reply/system.md").write_text("Escalate to ops@acme.io when unsure.\n", encoding="utf-8")
    (repo / "evals/tests").mkdir(parents=True)
    (repo / "evals/tests/support-reply.yml").write_text(
        "- vars:\n    question: my SSN is 123-45-6789\n"
        f"    other: card 4111 1111 1111 1111  # {ALLOW_MARKER}\n", encoding="utf-8")
    run_cli(repo, "sync", capsys=capsys)
    code, out = run_cli(repo, "check", capsys=capsys)
    assert code == 1
    pii = [line for line in out.splitlines() if "PL310" in line]
    assert pii == [
        "evals/tests/support-reply.yml:2:25: PL310 US social security number found; remove it or mark deliberate "
        f"test data with a trailing '{ALLOW_MARKER}' comment on that line",
        "prompts/support-reply/system.md:1:13: PL310 e-mail address found; remove it or mark deliberate "
        f"test data with a trailing '{ALLOW_MARKER}' comment on that line",
    ]


# ---------------------------------------------------------------- the pre-checks are only a shortcut

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from promptlane.core import pii  # noqa: E402

_PIECES = st.sampled_from([
    "4111 1111 1111 1111", "123-45-6789", "+44 20 7946 0958", "(415) 555-2671", "dana@example.com",
    "DE89 3704 0044 0532 0130 00", "AKIAIOSFODNN7EXAMPLE", "ghp_" + "a1" * 18, "sk-proj-" + "Ab3" * 8,
    "api_key = 'Zx9Qw8Er7Ty6'", "Password: hunter2hunter2", "-----BEGIN PRIVATE KEY-----", "TOKEN=", "@", "+",
    " ", "\n", ":", "=", "-", "7", "42", "key", "Secret",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=12)), max_size=12).map("".join))
def test_the_pre_checks_never_hide_a_finding(text):
    """scan_text with every detector's pre-check forced open finds exactly the same."""
    gated = scan_text(text)
    originals = {type(d): type(d).could_match for d in pii.DETECTORS}
    try:
        for cls in originals:
            cls.could_match = lambda self, text, digits: True
        ungated = scan_text(text)
    finally:
        for cls, method in originals.items():
            cls.could_match = method
    assert gated == ungated
