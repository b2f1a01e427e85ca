"""``promptlane registry export sqlite|json OUT``: the registry for runtimes and databases.

Both read only ``registry/`` (locks and snapshots), never the cards: what is exported is
what the gates let through. SQLite (stdlib ``sqlite3``) gets two tables:

    served(prompt, environment, position, version, hash, payload)    -- what each env serves
    versions(prompt, version, hash, author, created, bump, withdrawn_env,
             withdrawn_time, withdrawn_reason, payload)              -- every version issued

The JSON bundle is ``{"format": "promptlane-bundle/1", "prompts": {id: {"environments":
{env: version}, "versions": {version: {"hash", "payload"}}}}}`` for the runtime SDK.
Both are written to a temp file and renamed: a reader never sees half an export. OUT must be
a file path (a new one, or a regular file to replace): a folder, a device or a pipe is refused.
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from promptlane.core.problems import Problem, PromptlaneError, UsageError
from promptlane.store.repo import REGISTRY, is_prompt_id

if TYPE_CHECKING:
    from promptlane.store.registry import Lock
    from promptlane.store.repo import Repo

BUNDLE_FORMAT = "promptlane-bundle/1"
FORMATS = ("sqlite", "json")


def _locks(repo: "Repo") -> list[tuple["Lock", dict[str, dict]]]:
    """Every lock with the snapshot of each version it issued; refuses a broken registry."""
    from promptlane.store.registry import LockError, read_lock, read_snapshot

    found, problems = [], []
    for path in sorted((repo.root / REGISTRY).glob("*.lock.json")):
        prompt_id = path.name[: -len(".lock.json")]
        if not is_prompt_id(prompt_id):
            continue
        try:
            lock = read_lock(repo, prompt_id)
        except LockError as exc:
            problems.append(exc.problem)
            continue
        snapshots = {}
        for entry in lock.versions:
            snap = read_snapshot(repo, prompt_id, entry["version"])
            if snap is None or snap.get("hash") != entry["hash"]:
                problems.append(Problem(repo.snapshot_rel(prompt_id, entry["version"]), 1, 1, "PL157",
                                        "is missing or does not match the lock; run `promptlane sync` or restore it from git"))
            else:
                snapshots[entry["version"]] = snap
        for env, version in lock.environments.items():
            if version is not None and (not isinstance(version, str) or lock.entry(version) is None):
                problems.append(Problem(repo.lock_rel(prompt_id), 1, 1, "PL213",
                                        f"{env} serves {version!r}, which was never issued; restore the lock from git"))
        found.append((lock, snapshots))
    if problems:
        raise PromptlaneError("the registry is inconsistent; nothing was exported", problems)
    return found


def bundle(repo: "Repo") -> dict:
    prompts = {}
    for lock, snapshots in _locks(repo):
        prompts[lock.prompt_id] = {
            "environments": {env: ver for env, ver in lock.environments.items() if ver},
            "versions": {v: {"hash": s["hash"], "payload": s["payload"]} for v, s in snapshots.items()},
        }
    return {"format": BUNDLE_FORMAT, "prompts": prompts}


def _payload(snapshot: dict) -> str:
    return json.dumps(snapshot["payload"], ensure_ascii=False, sort_keys=True)


def _fill_sqlite(db, repo: "Repo") -> int:
    db.execute("CREATE TABLE served (prompt TEXT NOT NULL, environment TEXT NOT NULL, position INTEGER NOT NULL, "
               "version TEXT NOT NULL, hash TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (prompt, environment))")
    db.execute("CREATE TABLE versions (prompt TEXT NOT NULL, version TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, "
               "author TEXT, created TEXT, bump TEXT, withdrawn_env TEXT, withdrawn_time TEXT, withdrawn_reason TEXT, "
               "payload TEXT NOT NULL, PRIMARY KEY (prompt, version))")
    order = {env: i for i, env in enumerate(repo.environments)}
    rows = 0
    for lock, snapshots in _locks(repo):
        for entry in lock.versions:
            w = lock.withdrawn.get(entry["version"], {})
            db.execute("INSERT INTO versions VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (lock.prompt_id, entry["version"], entry["hash"], entry.get("author"), entry.get("created"),
                        entry.get("bump"), w.get("env"), w.get("time"), w.get("reason"), _payload(snapshots[entry["version"]])))
        for env, version in lock.environments.items():
            if version:
                snap = snapshots[version]
                db.execute("INSERT INTO served VALUES (?,?,?,?,?,?)",
                           (lock.prompt_id, env, order.get(env, len(order)), version, snap["hash"], _payload(snap)))
                rows += 1
    return rows


def output_target(out: str | os.PathLike, what: str, stdout_hint: str = "") -> Path:
    """Where a command's output file goes (absolute), refused with a UsageError (exit 2) when it
    cannot be a file: an empty path, a folder, or something that exists but is not a regular file
    (a device, pipe or socket: the output is renamed over OUT, which would replace /dev/null)."""
    text = os.fspath(out)
    if not text:
        raise UsageError(f"{what}: the path is empty; give a file name")
    try:
        mode = os.stat(text).st_mode  # follows symlinks: /dev/stdout is the pipe or terminal it names
    except FileNotFoundError:
        mode = None
    except OSError as exc:  # a file where a folder should be, a symlink loop, no permission
        raise UsageError(f"cannot write {text}: {exc.strerror or exc}; choose a writable path") from None
    if (mode is not None and stat.S_ISDIR(mode)) or text.endswith(("/", os.sep)):
        raise UsageError(f"{text} {'is' if mode is not None else 'names'} a folder; give a file name inside it")
    if mode is not None and not stat.S_ISREG(mode):
        raise UsageError(f"{text} is not a regular file (a device, pipe or socket); {what} is written to a "
                         f"new file renamed into place, so give a file path{stdout_hint}")
    return Path(text).resolve()


def write_output(target: Path, fill: Callable[[Path], None], tmp_name: str | None = None) -> None:
    """Fill a temp file beside ``target`` (``fill(tmp)``), then rename it over ``target``: a
    reader never sees half a file. Missing parent folders are created. Any failure is a
    UsageError naming the path (exit 2), and the temp file never stays behind."""
    tmp = target.with_name(tmp_name or f".{target.name}.promptlane-tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove(tmp)  # left by a killed run; never write through a link someone put there
        fill(tmp)
        os.replace(tmp, target)
    except (OSError, sqlite3.Error) as exc:  # a folder in the way, no permission, disk full
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"cannot write {target}: {reason}; choose a writable path") from None
    finally:
        with contextlib.suppress(OSError):
            _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()


def export(repo: "Repo", fmt: str, out: str | os.PathLike) -> str:
    """Write the export; return a one-line summary."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format '{fmt}'; use one of: {', '.join(FORMATS)}")
    target = output_target(out, "OUT")
    summary = ""

    def fill(tmp: Path) -> None:
        nonlocal summary
        if fmt == "json":
            doc = bundle(repo)
            tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
            summary = f"{len(doc['prompts'])} prompt(s)"
        else:
            db = sqlite3.connect(tmp)
            try:
                with db:
                    summary = f"{_fill_sqlite(db, repo)} served row(s)"
            finally:
                db.close()

    write_output(target, fill, target.name + ".promptlane-tmp")
    return f"Exported {summary} to {target} ({fmt})"
