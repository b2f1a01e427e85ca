"""``promptlane audit verify`` (operations/verify.py) and ``promptlane audit seal``.

Seal moves the current audit log and changelog into the next sealed segment
(store/segments.py), byte for byte, and starts both again from their headers. Sealing keeps
every commit's cost independent of history: pre-commit diffs each file a hook appended to,
and after a seal those files are small again. It is a commit of its own, made on the main
branch (docs/audit.md says why: two branches sealing different rows would conflict).
"""
from __future__ import annotations

from promptlane.commands.arguments import open_repo
from promptlane.commands.output import report
from promptlane.core.chain import continued_audit_header, is_data_row
from promptlane.core.changelog import CHANGELOG_HEADER, CONTINUED_CHANGELOG_HEADER
from promptlane.core.layout import AUDIT_LOG, CHANGELOG
from promptlane.core.problems import EXIT_FAILED, EXIT_OK, PromptlaneError, UsageError
from promptlane.store.logs import log_head
from promptlane.store.repo import Repo
from promptlane.store.segments import folder, sealed_segment, sealed_segments

# `audit verify` suggests a seal past this many rows in the current segment: a commit then
# diffs ~1.5 MB of log (docs/performance.md measures the cost of never sealing).
HINT_ROWS = 5000


def current_rows(text: str) -> int:
    return sum(1 for line in text.splitlines() if is_data_row(line))


def rows_since_seal(repo: Repo) -> int:
    """Rows in the current segment, from its last row and its header (two small reads)."""
    from promptlane.core.chain import continuation
    from promptlane.store.logs import chain_head

    path = repo.root / AUDIT_LOG
    seq, _ = chain_head(path)
    if not seq:
        return 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        start = continuation(handle.read(2048))
    return seq - (start[0] if start else 0)


def hint(repo: Repo) -> str | None:
    rows = rows_since_seal(repo)
    if rows < HINT_ROWS:
        return None
    return (f"note: {AUDIT_LOG} holds {rows:,} rows since the last seal and every commit diffs it; "
            f"run `promptlane audit seal` on the main branch and commit the seal on its own")


def seal(repo: Repo, min_rows: int = 1) -> str:
    """Seal the current segment when it holds at least ``min_rows`` rows; what was done."""
    from promptlane.operations.verify import verify
    from promptlane.store.fsio import Transaction, recover

    recover(repo.root)
    _refuse_uncommitted(repo)
    problems = verify(repo, use_cache=False)  # what is sealed is proved in full, never from the local record
    if problems:
        raise PromptlaneError("the audit trail does not verify; nothing was sealed", problems)
    audit_path, changelog_path = repo.root / AUDIT_LOG, repo.root / CHANGELOG
    # Bytes decoded as they are (no newline translation): the sealed file is exactly the committed one.
    audit_text = audit_path.read_bytes().decode("utf-8") if audit_path.exists() else ""
    rows = current_rows(audit_text)
    if rows < max(1, min_rows):
        return f"nothing sealed: {AUDIT_LOG} holds {rows} row{'s' if rows != 1 else ''} (sealing starts at {max(1, min_rows)})"
    changelog_text = changelog_path.read_bytes().decode("utf-8") if changelog_path.exists() else CHANGELOG_HEADER
    head = log_head(repo.root, AUDIT_LOG)
    sealed, _ = sealed_segments(repo.root)
    target = sealed_segment(len(sealed) + 1)
    txn = Transaction(repo.root)
    txn.write(target.audit_rel, audit_text)
    txn.write(target.changelog_rel, changelog_text)
    txn.write(AUDIT_LOG, continued_audit_header(*head))
    txn.write(CHANGELOG, CONTINUED_CHANGELOG_HEADER)
    txn.commit()
    return (f"sealed {rows} row{'s' if rows != 1 else ''} into {folder(len(sealed) + 1)}/; "
            f"{AUDIT_LOG} and {CHANGELOG} start again and continue the chain. Commit the seal on its own.")


def _refuse_uncommitted(repo: Repo) -> None:
    """A seal moves exactly what is committed: pending rows would land in the archive unreviewed."""
    from promptlane.store.git import uncommitted

    dirty = uncommitted(repo.root, AUDIT_LOG, CHANGELOG, "audit/archive/")
    if dirty:
        raise UsageError(f"the audit log or changelog has uncommitted changes ({dirty[0].strip()}); "
                         "commit them first: a seal is a commit of its own")


def cmd_audit_verify(args, repo: Repo | None = None) -> int:
    """``repo``: already opened (``promptlane hook`` opens it once for its parts)."""
    from promptlane.operations.verify import verify

    repo = repo or open_repo(args)
    count = report(verify(repo, base=args.base, use_cache=not args.full))
    if not count:
        since = f"; only appended since {args.base}" if args.base else ""
        print(f"audit log: chain intact, registry consistent{since}")

        note = hint(repo)
        if note:
            print(note)
    return EXIT_FAILED if count else EXIT_OK


def cmd_audit_seal(args) -> int:
    print(seal(open_repo(args), min_rows=args.min_rows))
    return EXIT_OK
