"""``requirements.txt`` on disk: the promptlane version this repository pins (core/pin.py)."""
from __future__ import annotations

from promptlane import __version__
from promptlane.core.layout import REQUIREMENTS
from promptlane.core.pin import pin_problem
from promptlane.core.problems import UsageError
from promptlane.store.repo import Repo


def refuse_older_promptlane(repo: Repo, running: str = __version__) -> None:
    """Before a command judges or writes the repository: UsageError (exit 2) with PL706 when the
    running promptlane is older than the pin, so an out-of-date install never decides on files
    newer rules wrote. A requirements.txt that cannot be read is `promptlane check`'s to report."""
    try:
        text = (repo.root / REQUIREMENTS).read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return
    found = pin_problem(text, running)
    if found:
        raise UsageError(f"promptlane {running} is older than the version {REQUIREMENTS} pins; nothing was checked "
                         "or changed", [found])
