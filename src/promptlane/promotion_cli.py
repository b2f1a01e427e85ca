"""CLI for approve, promote, rollback, status and registry export (issue: promotion)."""


def register(sub) -> None:
    """Add the promotion sub-commands to the top-level parser."""
