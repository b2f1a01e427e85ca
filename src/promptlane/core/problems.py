"""Problems (findings reported as ``path:line:col: CODE message``) and the errors that stop a run.

Every check returns problems instead of raising, so one run reports all of them.
Exit codes follow DESIGN.md: 0 fine, 1 a check failed or files changed, 2 bad usage/config.
"""
from __future__ import annotations

from typing import Iterable

from promptlane.core.record import record

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
_ESCAPED = {code: f"\\x{code:02x}" for code in (*range(32), 127)}


def one_line(text: str) -> str:
    """``text`` with control characters escaped (an id "b\\n" shows as b\\x0a), so an error stays one line."""
    return text.translate(_ESCAPED)


@record(frozen=True, order=True)
class Problem:
    path: str
    line: int
    col: int
    code: str
    message: str

    def __str__(self) -> str:
        # One problem, one line: a control character in a path (a folder named "a\n") is escaped.
        return f"{one_line(self.path)}:{self.line}:{self.col}: {self.code} {one_line(self.message)}"


class PromptlaneError(Exception):
    """A run that cannot go on; carries the problems that explain why and an exit code."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, problems: Iterable[Problem] = ()):
        super().__init__(message)
        self.problems = list(problems)


class UsageError(PromptlaneError):
    """Bad arguments or configuration: exit 2."""

    exit_code = EXIT_USAGE


