"""Signing a form with the reviewer's SSH key, the way git signs commits: ``ssh-keygen -Y sign``
with the key ``--key`` names, or else git's own ``user.signingkey`` (with ``gpg.format=ssh``):
a private key file, a public key file whose private half is in ssh-agent, or ``key::`` and a
literal public key (the agent again). The signature covers the form's exact bytes, in
promptlane's namespace (core/signatures.py), and nothing is written into the repository here:
the caller writes the form and its .sig in one transaction.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from promptlane.core.problems import Problem, UsageError
from promptlane.core.signatures import NAMESPACE
from promptlane.store import git

SIGN_TIMEOUT = 120  # seconds: a passphrase prompt or a security key's touch takes a moment
HOW_TO = ("set your signing key as for signed git commits: `git config gpg.format ssh` and "
          "`git config user.signingkey ~/.ssh/id_ed25519.pub` (or pass --key FILE)")


def configured_key(root: Path, key: str | None) -> str:
    """The key to sign with: ``key`` (--key) or git's user.signingkey; UsageError (exit 2) when none."""
    if key:
        return key
    configured = git.config(root, "user.signingkey")
    if not configured:
        raise UsageError(f"no signing key: {HOW_TO}", [Problem(".git/config", 1, 1, "PL540", f"no signing key; {HOW_TO}")])
    if (git.config(root, "gpg.format") or "openpgp") != "ssh":
        raise UsageError("user.signingkey is a GPG key", [Problem(".git/config", 1, 1, "PL540",
                         f"user.signingkey is set but gpg.format is not ssh: promptlane signs with SSH keys only; {HOW_TO}")])
    return configured


def sign(root: Path, message: bytes, key: str | None) -> bytes:
    """The armored SSH signature of ``message``; UsageError (exit 2) saying what to do when ssh-keygen cannot sign."""
    import shutil
    import subprocess

    spec = configured_key(root, key)
    if shutil.which("ssh-keygen") is None:
        raise UsageError("ssh-keygen is not installed; install OpenSSH (8.2 or later) to sign approvals")
    with tempfile.TemporaryDirectory(prefix="promptlane-sign-") as folder:
        key_file = _key_file(spec, Path(folder))
        form = Path(folder) / "form"
        form.write_bytes(message)
        try:
            # An argument list, never a shell. stdin stays the terminal: ssh-keygen asks there for a passphrase.
            done = subprocess.run(["ssh-keygen", "-Y", "sign", "-q", "-f", str(key_file), "-n", NAMESPACE, str(form)],  # noqa: S603, S607
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=SIGN_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise UsageError(f"ssh-keygen did not sign within {SIGN_TIMEOUT} s (a passphrase or a key touch?)") from None
        signature = Path(str(form) + ".sig")
        if done.returncode != 0 or not signature.is_file():
            why = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise UsageError(f"ssh-keygen could not sign with {spec} ({why[-1] if why else 'no reason given'}); {HOW_TO}",
                             [Problem(spec, 1, 1, "PL541", "cannot sign with this key")])
        return signature.read_bytes()


def _key_file(spec: str, folder: Path) -> Path:
    """The key as a file ssh-keygen can take with -f (a ``key::`` literal written out, ~ expanded)."""
    if spec.startswith("key::"):
        literal = folder / "key.pub"
        literal.write_text(spec[len("key::"):].strip() + "\n", encoding="utf-8")
        return literal
    path = Path(os.path.expanduser(spec))
    if not path.is_file():
        raise UsageError(f"signing key {spec} does not exist; {HOW_TO}", [Problem(spec, 1, 1, "PL540", "no such key file")])
    return path
