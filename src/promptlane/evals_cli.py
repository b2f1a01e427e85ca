"""CLI for `promptlane eval ...` (issue: evaluation gate)."""


def register(sub) -> None:
    """Add the eval sub-commands to the top-level parser."""
