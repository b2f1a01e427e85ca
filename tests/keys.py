"""Real SSH keys for tests: one ed25519 key per e-mail, made once per test run with ssh-keygen
(what a reviewer has), registered in reviews/allowed_signers and used to sign forms the way
`promptlane approve` does (`ssh-keygen -Y sign -n promptlane`)."""
from __future__ import annotations

import atexit
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

ALLOWED_SIGNERS = "reviews/allowed_signers"
# Everyone the governed fixtures know: the five reviewers, a second PM and the author.
KNOWN = ("pm@example.com", "tech-lead@example.com", "qa@example.com", "security@example.com",
         "governance@example.com", "pm2@example.com", "dana@example.com")
_folder: Path | None = None


def _keys() -> Path:
    global _folder
    if _folder is None:
        _folder = Path(tempfile.mkdtemp(prefix="promptlane-test-keys-"))
        atexit.register(shutil.rmtree, _folder, True)
    return _folder


def key_for(email: str) -> Path:
    """The private key of ``email`` (made on first use; the public half next to it, .pub)."""
    path = _keys() / re.sub(r"[^a-z0-9]+", "-", email.lower())
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f", str(path)], check=True)
    return path


def public_key(email: str) -> str:
    """``ssh-ed25519 AAAA...`` (type and key, no comment)."""
    return " ".join(Path(str(key_for(email)) + ".pub").read_text().split()[:2])


def signer_line(email: str, key_of: str | None = None) -> str:
    """An allowed_signers line: ``email`` may sign with the key of ``key_of`` (default: their own)."""
    return f'{email} namespaces="promptlane" {public_key(key_of or email)}\n'


def register(root: Path, *emails: str) -> None:
    """Append each e-mail's own key to reviews/allowed_signers."""
    path = root / ALLOWED_SIGNERS
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(text + "".join(signer_line(email) for email in emails), encoding="utf-8")


def sign(root: Path, rel: str, email: str, namespace: str = "promptlane") -> Path:
    """Sign the form at ``rel`` with ``email``'s key, as `promptlane approve` does: ``rel``.sig."""
    target = root / rel
    signature = Path(str(target) + ".sig")
    signature.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-Y", "sign", "-q", "-f", str(key_for(email)), "-n", namespace, str(target)],
                   check=True, capture_output=True)
    return signature
