"""Who signed a form (pure): reviews/allowed_signers in git's allowed_signers format, and the
check that an ``ssh-keygen -Y sign`` signature over a form's exact bytes was made, in
promptlane's namespace, by a key that file lists for the reviewer the form names.

The format is git's own (``gpg.ssh.allowedSignersFile``), so one file serves both:
``EMAIL[,EMAIL...] [namespaces="a,b"] [valid-after="YYYYMMDD"] [valid-before="..."] KEYTYPE BASE64 [comment]``.
A line with ``namespaces=`` counts for promptlane only when the list names ``promptlane``.
Parsing lines is sshsig's (``AllowedSigner.parse``, ssh-keygen's rules); verifying the
signature is sshsig's ``check_signature`` (in-process, 0.3 ms; ssh-keygen would be a process
per form). sshsig and cryptography cost ~120 ms to import, so they load only when a signature
is checked.
"""
from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
from dataclasses import dataclass, field

from promptlane.core.layout import ALLOWED_SIGNERS as ALLOWED_SIGNERS  # named here too (re-exported)
from promptlane.core.layout import SIGNATURE_SUFFIX as SIGNATURE_SUFFIX
from promptlane.core.problems import Problem

NAMESPACE = "promptlane"  # ssh-keygen -Y sign -n promptlane: a signature made for git commits never counts


@dataclass(frozen=True)
class SignerKey:
    principals: tuple[str, ...]   # e-mails or patterns (``*@example.com``), as git allows
    key_type: str
    blob: bytes                   # the public key, decoded
    line: int
    namespaces: tuple[str, ...] | None = None
    valid_after: str | None = None   # YYYYMMDD[HHMM[SS]][Z], compared with the form's date
    valid_before: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.blob)

    def names(self, email: str) -> bool:
        wanted = email.lower()
        return any(fnmatch.fnmatchcase(wanted, pattern.lower()) for pattern in self.principals)

    def for_promptlane(self) -> bool:
        return self.namespaces is None or NAMESPACE in self.namespaces


@dataclass
class Signers:
    keys: list[SignerKey] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # lines that are not allowed_signers lines
    source: str = ALLOWED_SIGNERS

    def keys_for(self, email: str) -> list[SignerKey]:
        return [key for key in self.keys if key.for_promptlane() and key.names(email)]

    def fingerprints_of(self, email: str) -> set[str]:
        return {key.fingerprint for key in self.keys_for(email)}


def fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint (``ssh-keygen -l``): unpadded base64 of the key blob's digest."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def parse_allowed_signers(text: str, shown_as: str = ALLOWED_SIGNERS) -> Signers:
    """Every key line; a line that cannot be read is a problem at its line, never a key."""
    from sshsig.allowed_signers import AllowedSigner  # ssh-keygen's line rules (pure Python, no crypto)

    signers = Signers(source=shown_as)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            entry = AllowedSigner.parse(line)
            blob = base64.b64decode(entry.base64_key, validate=True)
        except (ValueError, binascii.Error) as exc:
            signers.problems.append(Problem(shown_as, number, 1, "PL512", f"not an allowed_signers line ({exc}); "
                                            'write EMAIL namespaces="promptlane" KEYTYPE BASE64, as `cat ~/.ssh/id_ed25519.pub` shows the key'))
            continue
        options = entry.options or {}
        if "cert-authority" in options:
            signers.problems.append(Problem(shown_as, number, 1, "PL512", "cert-authority keys are not supported; "
                                            "list each reviewer's own public key"))
            continue
        namespaces = tuple(n.strip() for n in options["namespaces"].split(",")) if "namespaces" in options else None
        signers.keys.append(SignerKey(tuple(p for p in entry.principals.split(",") if p), entry.key_type, blob, number,
                                      namespaces, options.get("valid-after"), options.get("valid-before")))
    return signers


@dataclass(frozen=True)
class Verdict:
    """What a signature says: the signing key's fingerprint when it verifies, else why not."""
    fingerprint: str | None
    error: str | None = None
    code: str = "PL521"


def signing_key(message: bytes, armored: bytes) -> Verdict:
    """The key that made ``armored`` over ``message`` in promptlane's namespace (sshsig)."""
    import sshsig

    try:
        key = sshsig.check_signature(message, armored, namespace=NAMESPACE)
    except sshsig.InvalidSignature as exc:
        why = str(exc)
        if "Namespace" in why:
            return Verdict(None, f"was made for another purpose (not the {NAMESPACE} namespace; a git commit "
                                 f"signature, say); sign with `promptlane approve`, which runs ssh-keygen -Y sign -n {NAMESPACE}")
        return Verdict(None, "does not verify over this form: the form was changed after it was signed, or the "
                             "signature belongs to another file")
    except NotImplementedError as exc:
        return Verdict(None, f"uses a key type promptlane cannot verify ({exc}); sign with an ed25519 or RSA key",
                       "PL523")
    except (ValueError, IndexError, UnicodeDecodeError, binascii.Error):
        return Verdict(None, "is not an SSH signature (expected -----BEGIN SSH SIGNATURE-----)")
    _, blob = key.openssh_str().split(" ", 1)
    return Verdict(fingerprint(base64.b64decode(blob.split(" ")[0])))


def allowed(signers: Signers, email: str, key_fingerprint: str, date: str) -> str | None:
    """Why ``key_fingerprint`` may not sign for ``email`` on ``date``; None when it may."""
    listed = [key for key in signers.keys_for(email) if key.fingerprint == key_fingerprint]
    if not listed:
        owners = sorted({p for key in signers.keys if key.fingerprint == key_fingerprint and key.for_promptlane()
                         for p in key.principals})
        whose = f" (it is listed for {', '.join(owners)})" if owners else ""
        return (f"is made with key {key_fingerprint}, which {signers.source} does not list for {email}{whose}; "
                f"a reviewer's key gets there through a governed change (a Governance approval of "
                f"{signers.source}): sign with your own key, or ask for yours to be added")
    stamp = "".join(ch for ch in date if ch.isdigit())[:14]
    for key in listed:
        after = "".join(ch for ch in (key.valid_after or "") if ch.isdigit())
        before = "".join(ch for ch in (key.valid_before or "") if ch.isdigit())
        if (not after or stamp[:len(after)] >= after) and (not before or stamp[:len(before)] < before):
            return None
    return (f"is dated {date}, outside the validity of key {key_fingerprint} in {signers.source} "
            f"(line {listed[0].line}: valid-after/valid-before)")
