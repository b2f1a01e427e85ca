"""Merging the append-only files of two branches (pure): audit rows re-chained after the
other side's, changelog entries appended, registry locks united. The git merge driver that
reads and writes the files is commands/merge_driver.py."""
from __future__ import annotations

import json

from promptlane.core.chain import GENESIS, continuation, data_rows, row_hash
from promptlane.core.changelog import CONTINUED_CHANGELOG_HEADER


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
    if ours_new is None or theirs_new is None:
        side = "ours" if ours_new is None else "theirs"
        raise MergeConflict(f"the audit log was rewritten on {side}, not only appended to")
    ours_sealed, theirs_sealed = (continuation(t) != continuation(base) for t in (ours, theirs))
    if ours_sealed and theirs_sealed and continuation(ours) != continuation(theirs):
        raise MergeConflict("both branches sealed the audit log after different rows; seal on the main branch only "
                            "(docs/audit.md), then re-run `promptlane audit seal` after merging")
    if theirs_sealed and not ours_sealed:
        return _rechain(theirs, their_rows, ours_new)
    return _rechain(ours, our_rows, theirs_new)


def _new_since(text: str, rows: list[list[str]], base: str, base_rows: list[list[str]]) -> list[list[str]] | None:
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


def _rechain(text: str, rows: list[list[str]], new: list[list[str]]) -> str:
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
    retired = a.get("retired") or b.get("retired")  # a retirement on either side stands
    if retired is not None:
        if any(merged["environments"].values()):
            raise MergeConflict(f"{a.get('id')} was retired on one branch and serves a version on the other; "
                                "a retired prompt is served nowhere: resolve the lock by hand")
        merged["retired"] = retired
    return json.dumps(merged, indent=2, ensure_ascii=False) + "\n"
