"""``promptlane registry export sqlite|json OUT``: the registry for runtimes and databases.

Both read only ``registry/`` (locks and snapshots), never the cards: what is exported is
what the gates let through. SQLite (stdlib ``sqlite3``) gets two tables:

    served(prompt, environment, position, version, hash, payload)    -- what each env serves
    versions(prompt, version, hash, author, created, bump, withdrawn_env,
             withdrawn_time, withdrawn_reason, payload,
             withdrawn_actor)                                        -- every version issued
    retired(prompt, time, actor, reason)                             -- prompts retired for good

The JSON bundle is ``{"format": "promptlane-bundle/1", "prompts": {id: {"environments":
{env: version}, "versions": {version: {"hash", "payload"}}, "withdrawn"?: {version: {env, time,
reason, actor?}}, "retired"?: {time, actor, reason}}}}`` for the runtime SDK: a retired prompt serves no
environment, and the runtime refuses it; a withdrawn version still served elsewhere is marked
(``Prompt.withdrawn``). Keys and columns were only ever added (``withdrawn_actor`` last, so a
reader by position still finds the others), so older exports still load.
Both are written to a temp file and renamed: a reader never sees half an export. OUT must be
a file path (a new one, or a regular file to replace): a folder, a device or a pipe is refused.
"""
from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from promptlane.commands.arguments import open_repo
from promptlane.commands.output import output_target, write_output
from promptlane.core.layout import is_prompt_id
from promptlane.core.problems import EXIT_OK, Problem, PromptlaneError, UsageError
from promptlane.core.registry import snapshot_mismatch
from promptlane.store.registry import lock_ids, read_locks, read_snapshot

if TYPE_CHECKING:
    from promptlane.core.registry import Lock
    from promptlane.store.repo import Repo

BUNDLE_FORMAT = "promptlane-bundle/1"
FORMATS = ("sqlite", "json")


def _locks(repo: "Repo") -> list[tuple["Lock", dict[str, dict]]]:
    """Every lock with the snapshot of each version it issued; refuses a broken registry."""
    found = []
    locks, problems = read_locks(repo, [i for i in lock_ids(repo) if is_prompt_id(i)])
    for lock in locks:
        prompt_id = lock.prompt_id
        snapshots = {}
        for entry in lock.versions:
            snap = read_snapshot(repo, prompt_id, entry["version"])
            why = "is missing or not a readable snapshot" if snap is None else snapshot_mismatch(snap, entry["hash"])
            if why or snap is None:  # never exported: the runtime would serve (or refuse) a text nobody approved
                problems.append(Problem(repo.snapshot_rel(prompt_id, entry["version"]), 1, 1,
                                        "PL157" if snap is None else "PL210",
                                        f"{why}; run `promptlane sync` or restore it from git; nothing was exported"))
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
        if lock.withdrawn:  # the rollbacks' marks, as the lock keeps them (the runtime sees which still stand)
            prompts[lock.prompt_id]["withdrawn"] = {v: dict(mark) for v, mark in lock.withdrawn.items()}
        if lock.retired is not None:
            prompts[lock.prompt_id]["retired"] = dict(lock.retired)
    return {"format": BUNDLE_FORMAT, "prompts": prompts}


def _payload(snapshot: dict) -> str:
    return json.dumps(snapshot["payload"], ensure_ascii=False, sort_keys=True)


def _fill_sqlite(db, repo: "Repo") -> int:
    db.execute("CREATE TABLE served (prompt TEXT NOT NULL, environment TEXT NOT NULL, position INTEGER NOT NULL, "
               "version TEXT NOT NULL, hash TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (prompt, environment))")
    db.execute("CREATE TABLE versions (prompt TEXT NOT NULL, version TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, "
               "author TEXT, created TEXT, bump TEXT, withdrawn_env TEXT, withdrawn_time TEXT, withdrawn_reason TEXT, "
               "payload TEXT NOT NULL, withdrawn_actor TEXT, PRIMARY KEY (prompt, version))")
    db.execute("CREATE TABLE retired (prompt TEXT PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL)")
    order = {env: i for i, env in enumerate(repo.environments)}
    rows = 0
    for lock, snapshots in _locks(repo):
        if lock.retired is not None:
            db.execute("INSERT INTO retired VALUES (?,?,?,?)",
                       (lock.prompt_id, lock.retired["time"], lock.retired["actor"], lock.retired["reason"]))
        for entry in lock.versions:
            w = lock.withdrawn.get(entry["version"], {})
            db.execute("INSERT INTO versions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (lock.prompt_id, entry["version"], entry["hash"], entry.get("author"), entry.get("created"),
                        entry.get("bump"), w.get("env"), w.get("time"), w.get("reason"), _payload(snapshots[entry["version"]]),
                        w.get("actor")))
        for env, version in lock.environments.items():
            if version:
                snap = snapshots[version]
                db.execute("INSERT INTO served VALUES (?,?,?,?,?,?)",
                           (lock.prompt_id, env, order.get(env, len(order)), version, snap["hash"], _payload(snap)))
                rows += 1
    return rows


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


def cmd_export(args) -> int:
    print(export(open_repo(args), args.format, args.out))
    return EXIT_OK
