"""Who acts, when, and on which branch: PROMPTLANE_ACTOR / PROMPTLANE_NOW / PROMPTLANE_BRANCH
when set (CI, reproducible demos), else git's identity, the clock and git's branch."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from promptlane.store import git
from promptlane.store.repo import Repo


def now() -> str:
    """UTC time to the second; PROMPTLANE_NOW pins it (reproducible demos and tests)."""
    pinned = os.environ.get("PROMPTLANE_NOW")
    if pinned:
        return pinned
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def actor(root: Path) -> str:
    """Who is acting: PROMPTLANE_ACTOR, else git's author identity, else the login name."""
    for name in ("PROMPTLANE_ACTOR", "GIT_AUTHOR_EMAIL"):
        if os.environ.get(name):
            return os.environ[name]
    return _configured_identity(root)


@lru_cache(maxsize=None)
def _configured_identity(root: Path) -> str:
    """git's user.email (asked once per run: a mass sync must not start a git per prompt)."""
    email = git.config(root, "user.email")
    if email:
        return email
    import getpass

    return getpass.getuser()


def branch(repo: Repo) -> str | None:
    """PROMPTLANE_BRANCH (CI checkouts are often a detached HEAD), else git's branch."""
    return os.environ.get("PROMPTLANE_BRANCH") or git.current_branch(repo.root)


def unborn_branch(repo: Repo) -> str | None:
    """The branch checked out when it has no commit yet (so ``branch`` is None); None when
    PROMPTLANE_BRANCH names the branch instead."""
    return None if os.environ.get("PROMPTLANE_BRANCH") else git.unborn_branch(repo.root)
