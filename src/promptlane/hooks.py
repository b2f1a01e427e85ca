"""pre-commit entry points: each is ``promptlane <command>`` with the hook's file names
(``promptlane-hook``, the template's default, is ``promptlane hook``: the other three in one process)."""
from __future__ import annotations

from typing import Sequence

from promptlane.cli import main


def sync_main(argv: Sequence[str] | None = None) -> int:
    import sys

    return main(["sync", *(sys.argv[1:] if argv is None else argv)])


def check_main(argv: Sequence[str] | None = None) -> int:
    import sys

    return main(["check", *(sys.argv[1:] if argv is None else argv)])


def audit_main(argv: Sequence[str] | None = None) -> int:
    import sys

    return main(["audit", "verify", *(sys.argv[1:] if argv is None else argv)])


def hook_main(argv: Sequence[str] | None = None) -> int:
    import sys

    return main(["hook", *(sys.argv[1:] if argv is None else argv)])
