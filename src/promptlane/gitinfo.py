"""The few facts promptlane asks git for; argument lists only, never a shell string."""
from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path


def _git(root: Path, *args: str) -> str | None:
    if shutil.which("git") is None:
        return None
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@lru_cache(maxsize=None)
def actor(root: Path) -> str:
    """Who is acting: PROMPTLANE_ACTOR, else git's author identity, else the login name."""
    for name in ("PROMPTLANE_ACTOR", "GIT_AUTHOR_EMAIL"):
        if os.environ.get(name):
            return os.environ[name]
    email = _git(root, "config", "user.email")
    if email:
        return email
    import getpass

    return getpass.getuser()


def current_branch(root: Path) -> str | None:
    return _git(root, "rev-parse", "--abbrev-ref", "HEAD")


def show(root: Path, ref: str, rel: str) -> str | None:
    return _git(root, "show", f"{ref}:{rel}")
