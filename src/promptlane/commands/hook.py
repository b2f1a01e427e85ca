"""``promptlane hook``: the commit hook. What the hooks promptlane-sync, promptlane-check and
promptlane-audit do on a commit, in one process and one pre-commit hook: pre-commit's own work
around each hook (a ``git diff`` of the work tree before and after it, which stats every
tracked file) is paid once instead of three times.

The parts run in the order pre-commit runs the three hooks, each on the files its own hook
would be given, so the verdicts are theirs:

1. ``sync`` on the files under prompts/ or registry/ (promptlane-sync's ``files``); with none,
   sync does not run, as pre-commit skips a hook that matches no file;
2. ``check`` (with ``--deleted`` when given, as the hook gives it) on the files of
   promptlane-check's pattern, reading what sync just wrote;
3. ``audit verify``.

Every part runs whatever the others found, as pre-commit runs every hook of a commit. Each
prints what its own hook prints, under a header line (``--- promptlane check ---``) when it
prints anything, and the exit code is the worst of the three: 0 fine, 1 a check failed or
files were changed (pre-commit also fails the commit on the files sync wrote), 2 bad usage or
configuration. A part refused as a whole (a ``PromptlaneError``) is printed as ``cli.main``
prints one, and the next part runs. The one thing shared is the repository opened once (its
root, pin check and policy settings, which sync never writes); cards, locks and logs are read
by each part as its own hook reads them.
"""
from __future__ import annotations

import argparse
import re
import sys
from typing import Callable, TextIO

from promptlane.commands.arguments import open_repo
from promptlane.core.problems import PromptlaneError

# The `files` patterns of .pre-commit-hooks.yaml's promptlane-sync and promptlane-check (a test
# holds them equal); the promptlane hook's own pattern is check's, which includes sync's.
SYNC_FILES = r"^(prompts|registry)/"
CHECK_FILES = (r"^(prompts/|registry/|evals/(tests|results)/|reviews/|workflows/|logs/|schemas/prompt-card\.|"
               r"schemas/prompt-version-schema\.yml$|HITL_Approval_Template\.md$|evals/eval-config\.promptfoo\.yml$|"
               r"ci/eval-gate\.yml$|\.github/workflows/eval-gate\.yml$|requirements\.txt$)")


def cmd_hook(args: argparse.Namespace) -> int:
    repo = open_repo(args)
    sync_files = [name for name in args.files if re.search(SYNC_FILES, name)]  # as pre-commit matches
    check_files = [name for name in args.files if re.search(CHECK_FILES, name)]
    codes = []
    if sync_files:
        from promptlane.commands.sync import cmd_sync

        sync_args = argparse.Namespace(root=args.root, files=sync_files, all=False, rules_base=None)
        codes.append(_part("sync", "sync", lambda: cmd_sync(sync_args, repo)))
    from promptlane.commands.check import cmd_check

    check_args = argparse.Namespace(root=args.root, files=check_files, all=False, deleted=args.deleted,
                                    rules_base=None, build_parser=args.build_parser)
    codes.append(_part("check", "check", lambda: cmd_check(check_args, repo)))
    from promptlane.commands.audit import cmd_audit_verify

    audit_args = argparse.Namespace(root=args.root, base=None, full=False)
    codes.append(_part("audit verify", "audit", lambda: cmd_audit_verify(audit_args, repo)))
    return max(codes)


def _part(title: str, command: str, run: Callable[[], int]) -> int:
    """One part's exit code; what it prints goes out under its header. A refusal is printed as
    ``cli.main`` prints it for that command alone."""
    from promptlane.commands.output import report

    out, err = sys.stdout, sys.stderr
    header = _Header(out, f"--- promptlane {title} ---")
    sys.stdout, sys.stderr = _Headed(out, header), _Headed(err, header)
    try:
        return run()
    except PromptlaneError as exc:
        report(exc.problems)  # to this part's stdout
        print(f"promptlane {command}: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        sys.stdout, sys.stderr = out, err
        out.flush()


class _Header:
    """A part's header line, written to stdout once, before the first thing the part prints."""

    def __init__(self, out: TextIO, line: str) -> None:
        self.out, self.line, self.written = out, line, False

    def before(self, stream: TextIO) -> None:
        if not self.written:
            self.written = True
            self.out.write(self.line + "\n")
        if stream is not self.out:
            self.out.flush()  # pre-commit shows stdout and stderr as one: keep them in order


class _Headed:
    """A stream that writes its part's header first (stdout and stderr share one header)."""

    def __init__(self, stream: TextIO, header: _Header) -> None:
        self.stream, self.header = stream, header

    def write(self, text: str) -> int:
        if text:
            self.header.before(self.stream)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str):
        return getattr(self.stream, name)  # isatty, fileno, encoding: the stream's own

