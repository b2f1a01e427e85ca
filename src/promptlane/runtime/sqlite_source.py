"""The SQLite export (`promptlane registry export sqlite OUT`, see commands/export.py):

    served(prompt, environment, position, version, hash, payload)
    versions(prompt, version, hash, ..., withdrawn_env, withdrawn_time, withdrawn_reason, payload, withdrawn_actor)
    retired(prompt, time, actor, reason)     (exports made before retirement existed lack it)

read once, read-only, into the bundle's shape; payload JSON stays text until asked for.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from promptlane.runtime.errors import SourceError


_WITHDRAWAL_COLUMNS = ("withdrawn_env", "withdrawn_time", "withdrawn_reason", "withdrawn_actor")


def _versions_query(db: sqlite3.Connection) -> str:
    """Exports have the withdrawal columns (withdrawn_actor since rollbacks record it); one
    missing reads as NULL, so an older export, or a table made by hand, still loads."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(versions)")}
    picked = ", ".join(name if name in columns else "NULL" for name in _WITHDRAWAL_COLUMNS)
    return f"SELECT prompt, version, hash, payload, {picked} FROM versions"  # noqa: S608 - names from the tuple above


def read_sqlite(path: Path) -> dict:
    try:
        # mode=ro: loading must never create or lock-upgrade the application's database.
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise SourceError(f"{path}: cannot open the SQLite export ({exc})") from None
    try:
        prompts: dict[str, dict] = {}
        for prompt, version, digest, payload, env, time, reason, actor in db.execute(_versions_query(db)):
            entry = prompts.setdefault(prompt, {"environments": {}, "versions": {}})
            entry["versions"][version] = {"hash": digest, "payload": payload}
            if env is not None:
                entry.setdefault("withdrawn", {})[version] = {"env": env, "time": time, "reason": reason, "actor": actor}
        for prompt, env, version in db.execute("SELECT prompt, environment, version FROM served ORDER BY prompt, position"):
            prompts.setdefault(prompt, {"environments": {}, "versions": {}})["environments"][env] = version
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'retired'").fetchone():
            for prompt, time, actor, reason in db.execute("SELECT prompt, time, actor, reason FROM retired"):
                entry = prompts.setdefault(prompt, {"environments": {}, "versions": {}})
                entry["retired"] = {"time": time, "actor": actor, "reason": reason}
    except sqlite3.Error as exc:
        raise SourceError(f"{path}: not a promptlane SQLite export ({exc}); write one with "
                          "`promptlane registry export sqlite OUT`") from None
    finally:
        db.close()
    return prompts
