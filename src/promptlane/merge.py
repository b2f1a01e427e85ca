"""git merge drivers for the files every prompt change appends to.

Two branches that version or promote *different* prompts both append audit rows and both
rewrite registry locks of their own prompts. Git's text merge would conflict on the audit
log's last lines; these drivers resolve it the only way that keeps the invariants:

- ``audit``: rows of the common ancestor must be a prefix of both sides; the result is our
  rows followed by their new rows, re-chained (seq, prev and row hash recomputed on top of
  our head), so the merged log verifies. Their rows' cells are kept as written.
- ``lock``: one prompt's lock changed on both sides. Versions are united; the same version
  number with two different hashes, or an environment moved differently on each side, is a
  real conflict (the same prompt was changed on both branches) and is left to a person.

- ``append``: for the changelog. The ancestor's text must be a prefix of both sides; the
  result is ours followed by what they appended. (git's ``merge=union`` is line-based and
  interleaves multi-line entries whose lines look alike, so it is not used.)
Wire them with ``promptlane merge-driver --install`` (writes .git/config; see docs/audit.md).
"""
from __future__ import annotations

import json
from pathlib import Path

from .audit import data_rows
from .events import GENESIS, row_hash

GIT_CONFIG = {
    "merge.promptlane-audit.name": "promptlane audit log (re-chain appended rows)",
    "merge.promptlane-audit.driver": "promptlane merge-driver audit %O %A %B",
    "merge.promptlane-lock.name": "promptlane registry lock (unite versions)",
    "merge.promptlane-lock.driver": "promptlane merge-driver lock %O %A %B",
    "merge.promptlane-append.name": "promptlane append-only changelog",
    "merge.promptlane-append.driver": "promptlane merge-driver append %O %A %B",
}


class MergeConflict(Exception):
    pass


def merge_audit(base: str, ours: str, theirs: str) -> str:
    base_rows = [cells for _, cells in data_rows(base)]
    our_rows = [cells for _, cells in data_rows(ours)]
    their_rows = [cells for _, cells in data_rows(theirs)]
    for side, rows in (("ours", our_rows), ("theirs", their_rows)):
        if rows[: len(base_rows)] != base_rows:
            raise MergeConflict(f"the audit log was rewritten on {side}, not only appended to")
    seq, prev = (int(our_rows[-1][0]), our_rows[-1][9]) if our_rows else (0, GENESIS)
    text = ours if ours.endswith("\n") or not ours else ours + "\n"
    for cells in their_rows[len(base_rows):]:
        seq += 1
        new = [str(seq)] + cells[1:8]
        own = row_hash(prev, new)
        text += "| " + " | ".join(new + [prev, own]) + " |\n"
        prev = own
    return text


def merge_append(base: str, ours: str, theirs: str) -> str:
    for side, text in (("ours", ours), ("theirs", theirs)):
        if not text.startswith(base):
            raise MergeConflict(f"the changelog was rewritten on {side}, not only appended to")
    joined = ours if ours.endswith("\n") or not ours else ours + "\n"
    return joined + theirs[len(base):]


def merge_lock(base: str, ours: str, theirs: str) -> str:
    o, a, b = (json.loads(t) if t.strip() else {} for t in (base, ours, theirs))
    versions = {v["version"]: v for v in a.get("versions", [])}
    for entry in b.get("versions", []):
        mine = versions.get(entry["version"])
        if mine is None:
            versions[entry["version"]] = entry
        elif mine["hash"] != entry["hash"]:
            raise MergeConflict(f"{a.get('id')} {entry['version']} was issued on both branches for different texts; "
                                "re-run `promptlane sync` after resolving the card by hand")
    envs = {}
    for env in {**a.get("environments", {}), **b.get("environments", {})}:
        was, mine, yours = (d.get("environments", {}).get(env) for d in (o, a, b))
        if mine == yours or yours == was:
            envs[env] = mine
        elif mine == was:
            envs[env] = yours
        else:
            raise MergeConflict(f"{a.get('id')}: {env} was moved on both branches ({mine} and {yours})")
    merged = dict(a)
    merged["environments"] = {env: envs[env] for env in a.get("environments", envs)} | envs
    order = [v["version"] for v in a.get("versions", [])] + [v["version"] for v in b.get("versions", []) if v["version"] not in {x["version"] for x in a.get("versions", [])}]
    merged["versions"] = [versions[v] for v in order]
    merged["withdrawn"] = {**b.get("withdrawn", {}), **a.get("withdrawn", {})}
    return json.dumps(merged, indent=2, ensure_ascii=False) + "\n"


def run_driver(kind: str, base: Path, ours: Path, theirs: Path) -> int:
    """Entry point for git: write the result into ``ours``; exit 1 leaves a conflict."""
    merge = {"audit": merge_audit, "lock": merge_lock, "append": merge_append}[kind]
    texts = [p.read_text(encoding="utf-8") if p.exists() else "" for p in (base, ours, theirs)]
    try:
        result = merge(*texts)
    except (MergeConflict, ValueError, KeyError, IndexError) as exc:
        print(f"promptlane merge-driver {kind}: conflict: {exc}")
        return 1
    ours.write_text(result, encoding="utf-8")
    return 0


def install(root: Path) -> list[str]:
    import subprocess

    for key, value in GIT_CONFIG.items():
        subprocess.run(["git", "config", key, value], cwd=root, check=True)
    return [f"{key} = {value}" for key, value in GIT_CONFIG.items()]
