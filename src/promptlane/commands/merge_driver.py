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
  result is ours followed by what they appended.

A side that ran ``promptlane audit seal`` since the ancestor starts both files again from a
continued header (the audit one names the row the chain continues from): that side's text then
comes first and the other side's new rows or entries follow, re-chained. (git's ``merge=union`` is line-based and
  interleaves multi-line entries whose lines look alike, so it is not used.)
Wire them with ``promptlane merge-driver --install`` (writes .git/config; see docs/audit.md).
"""
from __future__ import annotations

import json
from pathlib import Path

from promptlane.operations.verify import data_rows
from promptlane.store.logs import CONTINUED_CHANGELOG_HEADER, GENESIS, continuation, row_hash

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
    """Both sides' rows since ``base``, ours first, theirs re-chained after them. A side that
    sealed since ``base`` (``promptlane audit seal``) holds only rows after its seal: its text
    comes first and the other side's new rows are re-chained onto it."""
    base_rows = [cells for _, cells in data_rows(base)]
    our_rows = [cells for _, cells in data_rows(ours)]
    their_rows = [cells for _, cells in data_rows(theirs)]
    ours_new = _new_since(ours, our_rows, base, base_rows)
    theirs_new = _new_since(theirs, their_rows, base, base_rows)
    for side, new in (("ours", ours_new), ("theirs", theirs_new)):
        if new is None:
            raise MergeConflict(f"the audit log was rewritten on {side}, not only appended to")
    ours_sealed, theirs_sealed = (continuation(t) != continuation(base) for t in (ours, theirs))
    if ours_sealed and theirs_sealed and continuation(ours) != continuation(theirs):
        raise MergeConflict("both branches sealed the audit log after different rows; seal on the main branch only "
                            "(docs/audit.md), then re-run `promptlane audit seal` after merging")
    if theirs_sealed and not ours_sealed:
        return _rechain(theirs, their_rows, ours_new)
    return _rechain(ours, our_rows, theirs_new)


def _new_since(text: str, rows: list, base: str, base_rows: list) -> list | None:
    """The rows one side added since ``base``, or None when it changed what ``base`` had.

    A side that sealed since ``base`` starts from a header naming the row its chain continues
    from: the base rows after that row must open its current segment (re-chained, as a rebase
    replays them: their cells compared, not their seq and hashes); the rows before it are in
    its sealed segments, which `audit verify` checks after the merge."""
    after, base_after = continuation(text), continuation(base)
    if after == base_after:
        return rows[len(base_rows):] if rows[: len(base_rows)] == base_rows else None
    if after is None or (base_after is not None and after[0] < base_after[0]):
        return None  # lost its continued header, or continues from before base's
    rest = [cells for cells in base_rows if cells[0].isdigit() and int(cells[0]) > after[0]]
    if [cells[1:8] for cells in rows[: len(rest)]] != [cells[1:8] for cells in rest]:
        return None
    return rows[len(rest):]


def _rechain(text: str, rows: list, new: list) -> str:
    """``text`` followed by ``new`` rows renumbered and re-hashed onto its head (cells kept)."""
    seq, prev = (int(rows[-1][0]), rows[-1][9]) if rows else (continuation(text) or (0, GENESIS))
    text = text if text.endswith("\n") or not text else text + "\n"
    for cells in new:
        seq += 1
        cells = [str(seq)] + cells[1:8]
        own = row_hash(prev, cells)
        text += "| " + " | ".join(cells + [prev, own]) + " |\n"
        prev = own
    return text


def merge_append(base: str, ours: str, theirs: str) -> str:
    """Ours, then what they appended. A side that sealed since ``base`` starts again from the
    continued header: its text comes first and the other side's new entries follow it."""
    ours_grew, theirs_grew = ours.startswith(base), theirs.startswith(base)
    if ours_grew and theirs_grew:
        return _joined(ours, theirs[len(base):])
    if ours_grew and _changelog_sealed(theirs, base):
        return _joined(theirs, ours[len(base):])
    if theirs_grew and _changelog_sealed(ours, base):
        return _joined(ours, theirs[len(base):])
    if _changelog_sealed(ours, base) and _changelog_sealed(theirs, base):
        return _joined(ours, theirs[len(CONTINUED_CHANGELOG_HEADER):])
    side = "ours" if not ours_grew else "theirs"
    raise MergeConflict(f"the changelog was rewritten on {side}, not only appended to")


def _changelog_sealed(text: str, base: str) -> bool:
    """This side started the changelog again since ``base`` (a seal), rather than appending."""
    return text.startswith(CONTINUED_CHANGELOG_HEADER) and not text.startswith(base)


def _joined(first: str, added: str) -> str:
    return (first if first.endswith("\n") or not first else first + "\n") + added


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
    try:
        texts = [p.read_text(encoding="utf-8") if p.exists() else "" for p in (base, ours, theirs)]
        result = merge(*texts)
    except (MergeConflict, ValueError, KeyError, IndexError, TypeError, AttributeError, OSError, RecursionError) as exc:
        # Anything the driver cannot merge with certainty is left to a person as a conflict.
        print(f"promptlane merge-driver {kind}: conflict: {exc}")
        return 1
    ours.write_text(result, encoding="utf-8")
    return 0


def install(root: Path) -> list[str]:
    import subprocess

    from promptlane.core.problems import UsageError

    for key, value in GIT_CONFIG.items():
        try:
            done = subprocess.run(["git", "config", key, value], cwd=root, capture_output=True, text=True)
        except OSError:
            raise UsageError("git is not installed or not on PATH; install git and run again") from None
        if done.returncode != 0:
            raise UsageError(f"git config failed in {root} ({done.stderr.strip() or 'not a git repository?'}); "
                             "run it inside your clone") from None
    return [f"{key} = {value}" for key, value in GIT_CONFIG.items()]
