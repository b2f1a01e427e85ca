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

import sys
from pathlib import Path

from promptlane.core.merging import MergeConflict, merge_append, merge_audit, merge_lock
from promptlane.core.problems import EXIT_OK, EXIT_USAGE, UsageError
from promptlane.store.git import GitError, set_config

GIT_CONFIG = {
    "merge.promptlane-audit.name": "promptlane audit log (re-chain appended rows)",
    "merge.promptlane-audit.driver": "promptlane merge-driver audit %O %A %B",
    "merge.promptlane-lock.name": "promptlane registry lock (unite versions)",
    "merge.promptlane-lock.driver": "promptlane merge-driver lock %O %A %B",
    "merge.promptlane-append.name": "promptlane append-only changelog",
    "merge.promptlane-append.driver": "promptlane merge-driver append %O %A %B",
}


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
    for key, value in GIT_CONFIG.items():
        try:
            set_config(root, key, value)
        except GitError as exc:
            raise UsageError(str(exc)) from None
    return [f"{key} = {value}" for key, value in GIT_CONFIG.items()]


def cmd_merge_driver(args) -> int:
    from pathlib import Path


    if args.install:
        for line in install(Path(args.root or ".").resolve()):
            print(f"git config {line}")
        return EXIT_OK
    if not args.kind or len(args.paths) != 3:
        print("usage: promptlane merge-driver {audit,lock,append} BASE OURS THEIRS  (or --install)", file=sys.stderr)
        return EXIT_USAGE
    return run_driver(args.kind, *(Path(p) for p in args.paths))
