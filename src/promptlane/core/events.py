"""An event (version, promote, demote, rollback, risk, ...) and the UTC times events carry."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class Event:
    event: str          # version | promote | demote | rollback | withdraw | risk
    time: str
    actor: str
    prompt: str
    version: str
    hash: str
    environments: dict[str, str]  # environment -> version it serves after the event
    reason: str
    bump: str | None = None
    # What a promotion stood on, by content digest (core/evidence.py); None for other events.
    evidence: dict[str, Any] | None = None


def parse_time(text: Any) -> datetime | None:
    """An ISO UTC time such as 2026-11-25T10:00:00Z (None when it is not one)."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
