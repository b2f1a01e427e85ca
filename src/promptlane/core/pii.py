"""Personal data and secrets in prompt texts and eval fixtures (PL310).

Each detector is a small class (the detect-secrets plug-in shape): a regular expression finds
*candidates*, then ``valid`` throws out the ones that cannot be real, with checksums where a
format has one (Luhn for card numbers, ISO 13616 mod-97 for IBANs, the SSA rules for US SSNs;
all via python-stdnum). Regex-only detection of card numbers would flag one random 16-digit
order number in ten; the checksum plus the issuer prefix makes a hit worth a person's time.

``scan_text`` and ``redact`` are the public API (the runtime SDK reuses them). A line that
carries the marker ``promptlane: allow-pii`` (usually as a trailing comment) is deliberate test
data; ``scan_text(..., honour_allow=True)`` skips it. The runtime never honours the marker:
anyone could type it into a chat message.
"""
from __future__ import annotations

import bisect
import re
from functools import lru_cache
from typing import ClassVar, Iterator

from promptlane.core.problems import Problem
from promptlane.core.record import record

ALLOW_MARKER = "promptlane: allow-pii"
HOW_TO_FIX = f"remove it or mark deliberate test data with a trailing '{ALLOW_MARKER}' comment on that line"


@record(frozen=True)
class Finding:
    kind: str    # detector id, e.g. "credit-card"
    label: str   # what a person reads, e.g. "credit card number"
    line: int    # 1-based
    col: int     # 1-based, in characters
    start: int   # span of the match in the scanned text: text[start:end]
    end: int


@lru_cache(maxsize=None)
def compiled(regex: str) -> re.Pattern[str]:
    """``regex`` compiled once, on first use: most runs (a commit of a text holding no candidate)
    never run a detector's pattern, and compiling all of them cost a start-up ~9 ms."""
    return re.compile(regex)


class Detector:
    kind: ClassVar[str]
    label: ClassVar[str]
    regex: ClassVar[str]  # compiled on first use: ``pattern``
    group: ClassVar[int] = 0  # the part of the match that is the secret
    # Necessary conditions, checked in C before the pattern runs (most texts hold no candidate):
    # one of these substrings, and at least this many digits, must be in the text.
    needs: ClassVar[tuple[str, ...]] = ()
    min_digits: ClassVar[int] = 0

    @property
    def pattern(self) -> re.Pattern[str]:
        return compiled(self.regex)

    def could_match(self, text: str, digits: int) -> bool:
        return digits >= self.min_digits and (not self.needs or any(part in text for part in self.needs))

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        for match in self.pattern.finditer(text):
            if self.valid(match[self.group], match):
                yield match.span(self.group)

    def valid(self, candidate: str, match: re.Match[str]) -> bool:
        return True


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


class PrivateKey(Detector):
    kind, label = "private-key", "private key"
    needs = ("-----BEGIN ",)
    regex = r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    end_regex = r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        # The span runs to the END line when there is one, so ``redact`` removes the key body too.
        for match in self.pattern.finditer(text):
            end = compiled(self.end_regex).search(text, match.end())
            yield match.start(), end.end() if end else match.end()


class AwsAccessKey(Detector):
    kind, label = "aws-access-key", "AWS access key id"
    needs = ("AKIA", "ASIA", "ABIA", "ACCA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA", "AGPA")
    regex = r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|AGPA)[A-Z0-9]{16}(?![A-Za-z0-9])"


class GitHubToken(Detector):
    kind, label = "github-token", "GitHub token"
    needs = ("gh", "github_pat_")
    regex = r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,244})(?![A-Za-z0-9_])"


class SkApiKey(Detector):
    """OpenAI-style keys (``sk-...``, ``sk-proj-...``; Anthropic's ``sk-ant-...`` share the shape)."""

    kind, label = "api-key", "API key (sk-...)"
    needs = ("sk-",)
    regex = r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])"

    def valid(self, candidate: str, match: re.Match[str]) -> bool:
        body = candidate[3:]
        # Random keys mix letters and digits; a long-hyphenated word ("sk-learn-...") does not.
        return bool(re.search(r"\d", body)) and bool(re.search(r"[A-Za-z]", body))


# Issuer prefixes (IIN ranges) of the card networks: Visa, Mastercard (51-55, 2221-2720), Amex,
# Diners, JCB, Discover, UnionPay. Luhn alone passes one random number in ten.
_CARD_PREFIX = r"^(?:4|5[1-5]|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)|3[47]|3(?:0[0-5]|[68])|35|6(?:011|5|4[4-9])|62)"


class CreditCard(Detector):
    kind, label = "credit-card", "credit card number"
    min_digits = 13
    # 13-19 digits, optionally grouped by single spaces or dashes.
    regex = r"(?<![\w+-])\d(?:[ -]?\d){12,18}(?![\w-])"  # after "+": a phone number

    # How card numbers are printed: one run, or these group lengths (4-4-4-4, Amex 4-6-5, ...).
    # Other groupings ("DE89 3704 0044 0532 0130 01" minus its country code) are other numbers.
    GROUPINGS = {(4, 4, 4, 4), (4, 4, 4, 1), (4, 4, 4, 3), (4, 4, 4, 4, 3), (4, 6, 5), (4, 6, 4)}

    def valid(self, candidate: str, match: re.Match[str]) -> bool:
        from stdnum import luhn

        groups = tuple(len(g) for g in re.split(r"[ -]", candidate))
        if len(groups) > 1 and groups not in self.GROUPINGS:
            return False
        number = _digits(candidate)
        return bool(compiled(_CARD_PREFIX).match(number)) and luhn.is_valid(number)


class Iban(Detector):
    kind, label = "iban", "IBAN"
    min_digits = 2
    # Printed in groups of four, or as one run.
    regex = r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?|[A-Z0-9]{11,30})(?![A-Za-z0-9])"

    def valid(self, candidate: str, match: re.Match[str]) -> bool:
        from stdnum import iban

        return iban.is_valid(candidate)


class UsSsn(Detector):
    kind, label = "us-ssn", "US social security number"
    min_digits = 9
    # Only the written forms 123-45-6789 / 123 45 6789: bare 9-digit runs are mostly not SSNs.
    regex = r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])"

    def valid(self, candidate: str, match: re.Match[str]) -> bool:
        from stdnum.us import ssn

        return ssn.is_valid(_digits(candidate))


class Email(Detector):
    kind, label = "email", "e-mail address"
    needs = ("@",)
    regex = (
        r"(?<![\w.+%-])[A-Za-z0-9][A-Za-z0-9._%+-]*@"
        r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])"
    )
    _FILE_SUFFIXES = {"png", "jpg", "jpeg", "gif", "svg", "webp"}  # icon@2x.png is an image

    def could_match(self, text: str, digits: int) -> bool:
        # The domain starts right after the "@" with an ASCII letter or digit: an "@" in a regular
        # expression ("+@[A-Z...") or before a space compiles no pattern.
        at = text.find("@")
        while at != -1:
            after = text[at + 1:at + 2]
            if after.isascii() and after.isalnum():
                return True
            at = text.find("@", at + 1)
        return False

    def valid(self, candidate: str, match: re.Match[str]) -> bool:
        local = candidate.split("@", 1)[0]
        tld = candidate.rsplit(".", 1)[1].lower()
        return ".." not in local and not local.endswith(".") and tld not in self._FILE_SUFFIXES


class Phone(Detector):
    """International numbers written with ``+`` (E.164 allows 8-15 digits with the country code),
    and North American numbers written with separators, (415) 555-2671 or 415-555-2671."""

    kind, label = "phone", "phone number"
    min_digits = 8  # E.164's shortest with its country code; North American numbers have 10
    regex = (
        r"(?<![\w+])\+[1-9][\d .()-]{6,22}\d(?![\w-])"
        r"|(?<![\w+(-])(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\w-])"
    )

    def valid(self, candidate: str, match: re.Match[str]) -> bool:
        digits = _digits(candidate)
        if candidate.startswith("+"):
            # Grouping characters only between digits, never doubled, parentheses balanced.
            if re.search(r"[ .-]{2}|\(\)|[.-]\(|\)[.-]", candidate) or candidate.count("(") != candidate.count(")"):
                return False
            return 8 <= len(digits) <= 15
        # NANP: area code and exchange start with 2-9; N11 codes are services, not subscribers.
        area, exchange = digits[:3], digits[3:6]
        return area[0] in "23456789" and exchange[0] in "23456789" and area[1:] != "11"


_PLACEHOLDER_VALUES = {"changeme", "password", "placeholder", "redacted", "example", "secret", "none", "null", "true", "false"}


class SecretAssignment(Detector):
    """``api_key = "..."``, ``password: ...`` and the like, with a value that looks real."""

    kind, label = "secret-assignment", "secret assignment (api_key=...)"
    needs = (":", "=")
    _KEYWORDS = ("key", "secret", "token", "passw")  # every keyword of the pattern holds one

    def could_match(self, text: str, digits: int) -> bool:
        if not super().could_match(text, digits):
            return False
        lowered = text.lower()
        return any(word in lowered for word in self._KEYWORDS)
    regex = (
        r"(?i)(?<![\w-])(?:api[_-]?key|secret[_-]?key|client[_-]?secret|access[_-]?token|auth[_-]?token|"
        r"secret|token|password|passwd)[\"']?\s*[:=]\s*[\"']?([^\s\"'`,;]{8,})"
    )
    group = 1

    def valid(self, candidate: str, match: re.Match[str]) -> bool:
        value = candidate.rstrip(".)")
        if value.lower() in _PLACEHOLDER_VALUES or value.startswith(("{{", "${", "<", "$", "%(", "os.", "env")):
            return False
        if re.search(r"[(){}\[\]]", value) or len(set(value.lower()) - {"x", "*", "-", "_"}) < 4:
            return False  # a call, a template, or xxxx/**** filler
        has_letters, has_digits = bool(re.search(r"[A-Za-z]", value)), bool(re.search(r"\d", value))
        return (has_letters and has_digits) or len(value) >= 20


# Order = priority when spans overlap: the more specific detector names the finding.
DETECTORS: tuple[Detector, ...] = (
    PrivateKey(), AwsAccessKey(), GitHubToken(), SkApiKey(), Iban(), CreditCard(), UsSsn(),
    Email(), Phone(), SecretAssignment(),
)


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer("\n", text)]


def scan_text(text: str, *, honour_allow: bool = False) -> list[Finding]:
    """Every finding in ``text``, in reading order; overlapping hits are reported once."""
    if honour_allow and ALLOW_MARKER in text.lower():
        # Blank out allowed lines (offsets kept) so no detector, nor its checksum, sees them.
        text = "\n".join(" " * len(line) if ALLOW_MARKER in line.lower() else line for line in text.split("\n"))
    starts = _line_starts(text)
    taken: list[tuple[int, int]] = []
    found: list[Finding] = []
    digits = sum(map(text.count, "0123456789"))
    for detector in DETECTORS:
        if not detector.could_match(text, digits):
            continue
        for start, end in detector.spans(text):
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            index = bisect.bisect_right(starts, start) - 1
            taken.append((start, end))
            found.append(Finding(detector.kind, detector.label, index + 1, start - starts[index] + 1, start, end))
    return sorted(found, key=lambda f: (f.start, f.end))


def redact(text: str) -> str:
    """``text`` with every finding replaced by ``[REDACTED:<kind>]`` (allow markers ignored)."""
    out, last = [], 0
    for finding in scan_text(text):
        out.append(text[last:finding.start])
        out.append(f"[REDACTED:{finding.kind}]")
        last = finding.end
    out.append(text[last:])
    return "".join(out)


def text_problems(text: str, shown_as: str) -> list[Problem]:
    """Findings in one file as PL310 problems (allow markers honoured)."""
    return [Problem(shown_as, f.line, f.col, "PL310", f"{f.label} found; {HOW_TO_FIX}")
            for f in scan_text(text, honour_allow=True)]


