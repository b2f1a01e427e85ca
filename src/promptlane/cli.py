"""The ``promptlane`` command line: parse the arguments, then hand them to one command module.

Every sub-command's options are declared here; its handler is named as ``"module:function"``
under ``promptlane.commands`` and imported only when that command runs, so ``promptlane check``
(the commit hook) loads the check command and what it needs, nothing else. Hooks
(``hooks.py``) are one-line wrappers over these commands.

Exit codes: 0 fine, 1 a check failed or files were changed, 2 bad usage or configuration,
141 (128 + SIGPIPE, what a shell reports for ``git log | head -1`` under ``pipefail``) when the
reader of stdout went away before the output ended: nothing more is printed, no traceback.
"""
from __future__ import annotations

import argparse
import importlib
import math
import sys
from typing import Callable, Sequence

from promptlane import __version__
from promptlane.core.problems import EXIT_USAGE, PromptlaneError

Handler = Callable[[argparse.Namespace], int]

EXIT_PIPE = 141  # 128 + SIGPIPE (13): stdout's reader closed the pipe; see main
MAX_EVAL_TIMEOUT = 7 * 24 * 3600.0  # a week; far larger ones overflow the wait for promptfoo


def seconds(text: str) -> float:
    """``--timeout``: a number of seconds, more than 0 and at most a week."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_EVAL_TIMEOUT:  # nan passes "<= 0"
        raise argparse.ArgumentTypeError(f"{text!r}: the timeout must be a number of seconds more than 0 "
                                         f"and at most {MAX_EVAL_TIMEOUT:g} (a week)")
    return value


def shard_count(text: str) -> int:
    """``eval plan --shards``: a whole number of shards, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of shards") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the number of shards must be 1 or more")
    return value


def _files_command(sub, name: str, help_text: str, files_help: str, handler: str) -> None:
    p = sub.add_parser(name, help=help_text)
    p.add_argument("files", nargs="*", help=files_help)
    p.add_argument("--all", action="store_true", help="every prompt, whatever FILES says")
    rules_base(p)
    p.set_defaults(handler=handler)


def rules_base(p: argparse.ArgumentParser) -> None:
    """``--base REF``: judge what is new since git REF under REF's policy, reviewers and signers."""
    p.add_argument("--base", dest="rules_base", metavar="REF", default=None,
                   help="judge approvals, promotions and governance changes new since git REF under REF's "
                        "policy, reviewers and allowed_signers (default: $PROMPTLANE_BASE; without either, "
                        "the working tree's files)")


def _add_init(sub) -> None:
    p = sub.add_parser("init", help="scaffold a governed repository from the bundled template", add_help=False)
    p.add_argument("init_args", nargs=argparse.REMAINDER)
    p.set_defaults(handler="init:cmd_init")


def _add_new(sub) -> None:
    p = sub.add_parser("new", help="add a prompt from the example card")
    p.add_argument("id", help="prompt id: [a-z0-9][a-z0-9-]*, also the folder name")
    p.add_argument("--title", default=None)
    p.set_defaults(handler="new:cmd_new")


def _add_sync(sub) -> None:
    _files_command(sub, "sync", "fixer: hash, bump, demote, snapshot, changelog, audit",
                   "changed files, or prompt ids (default: every prompt)", "sync:cmd_sync")


def _add_check(sub) -> None:
    _files_command(sub, "check", "validate cards, texts, variables and the registry",
                   "files or prompt ids to check (default: every prompt)", "check:cmd_check")
    sub.choices["check"].add_argument(
        "--deleted", action="store_true",
        help="also check the prompts with a file deleted since git HEAD (a deleted served prompt is PL124), and, "
             "with no FILES, only those: what the commit hook runs, since pre-commit passes only files that exist")


def _add_hook(sub) -> None:
    p = sub.add_parser("hook", help="the commit hook: sync, check --deleted and audit verify in one process")
    p.add_argument("files", nargs="*", help="the files pre-commit passes; each part takes those its own hook would: "
                                            "sync those under prompts/ or registry/, check those of promptlane-check's "
                                            "pattern, audit verify none")
    p.add_argument("--deleted", action="store_true", help="check also the prompts with a file deleted since git HEAD, "
                                                          "as `promptlane check --deleted` (the hook's argument)")
    p.set_defaults(handler="hook:cmd_hook")


def _add_audit(sub) -> None:
    p = sub.add_parser("audit", help="verify the audit log, or seal its current segment")
    audit_sub = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    v = audit_sub.add_parser("verify", help="the hash chain is intact")
    v.add_argument("--base", metavar="REF", default=None,
                   help="also prove the audit log and changelog were only appended to since git REF")
    v.add_argument("--full", action="store_true",
                   help="verify everything, ignoring the local record of what was already verified")
    v.set_defaults(handler="audit:cmd_audit_verify")
    s = audit_sub.add_parser("seal", help="move the current audit log and changelog into audit/archive/NNNN/")
    s.add_argument("--min-rows", type=int, default=1, metavar="N",
                   help="seal only when the current segment holds at least N rows (for scheduled runs)")
    s.set_defaults(handler="audit:cmd_audit_seal")


def _add_merge_driver(sub) -> None:
    p = sub.add_parser("merge-driver", help="git merge driver for the audit log and registry locks")
    p.add_argument("kind", nargs="?", choices=["audit", "lock", "append"])
    p.add_argument("paths", nargs="*", metavar="FILE", help="%%O %%A %%B as git passes them")
    p.add_argument("--install", action="store_true", help="wire the drivers into this clone's .git/config")
    p.set_defaults(handler="merge_driver:cmd_merge_driver")


# The commands the hooks run (and init/new), in the order --help lists them: each is parsed by a
# parser that knows only that command, without importing or declaring any other (a faster start).
HOOK_COMMANDS = {"init": _add_init, "new": _add_new, "sync": _add_sync, "check": _add_check, "hook": _add_hook,
                 "audit": _add_audit, "merge-driver": _add_merge_driver}


def _add_eval_commands(sub) -> None:
    from promptlane.evals import (
        DEFAULT_TIMEOUT,  # the package __init__ only: a constant
    )

    p = sub.add_parser("eval", help="run, import and plan promptfoo evals bound to payload hashes")
    actions = p.add_subparsers(dest="eval_command", metavar="ACTION", required=True)

    run = actions.add_parser("run", help="run promptfoo for prompts whose current hash has no results")
    run.add_argument("ids", nargs="*", metavar="ID", help="prompts to evaluate (default: every prompt still owed)")
    run.add_argument("--force", action="store_true", help="run even when results for the current hash exist")
    run.add_argument("--timeout", type=seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                     help=f"stop promptfoo after this long, per prompt (default {DEFAULT_TIMEOUT:g})")
    run.add_argument("--results-dir", metavar="DIR", default=None,
                     help="write the results under DIR/<id>/ instead of evals/results/ (CI's own run; needs --force)")
    run.add_argument("--json", action="store_true",
                     help="one JSON document on stdout: each prompt's outcome and every failing test (problems on stderr)")
    run.set_defaults(handler="eval:cmd_eval_run")

    imp = actions.add_parser("import", help="take promptfoo results produced elsewhere (checked against the payload)")
    imp.add_argument("file", help="a promptfoo results.json (`promptfoo eval -o results.json`)")
    imp.add_argument("--prompt", required=True, metavar="ID", help="the prompt the results belong to")
    imp.add_argument("--current-inputs", action="store_true",
                     help="vouch that FILE was produced with this repository's current eval config, tests and providers "
                          "(required: the results are bound to them)")
    imp.set_defaults(handler="eval:cmd_eval_import")

    plan = actions.add_parser("plan", help="GitHub Actions matrix JSON of the evals still owed")
    plan.add_argument("--shards", type=shard_count, default=None, metavar="K",
                      help="K shards balanced by test count ({\"include\": [{\"shard\", \"prompts\", \"tests\"}, ...]}; "
                           "fewer when fewer prompts are owed) instead of one entry per prompt")
    rules_base(plan)
    plan.set_defaults(handler="eval:cmd_eval_plan")


def _add_promotion_commands(sub) -> None:
    p = sub.add_parser("approve", help="write a HITL approval form bound to the prompt's current hash")
    p.add_argument("id", nargs="?", help="prompt id")
    p.add_argument("--role", default=None, help="your role, as in reviews/reviewers.yml")
    p.add_argument("--decision", choices=("approve", "reject"), default="approve")
    p.add_argument("--note", default="", help="why; conditions; accepted risks")
    p.add_argument("--policy", action="store_true",
                   help="approve the current policy file instead of a prompt (Governance; see docs/promotion.md)")
    p.add_argument("--governance", metavar="FILE", default=None,
                   help="approve the new content of a governance file instead of a prompt (Governance): the policy "
                        "file, reviews/reviewers.yml, reviews/allowed_signers, HITL_Approval_Template.md for its "
                        "checklists, or prompts/ID/card.yml for its risk:")
    p.add_argument("--retire", action="store_true",
                   help="approve retiring prompt ID (as it serves now) instead of a version: the policy's retire: "
                        "roles sign these (see `promptlane retire`)")
    p.add_argument("--key", metavar="FILE", default=None,
                   help="sign with this SSH key (default: git config user.signingkey, with gpg.format ssh)")
    p.add_argument("--sign", metavar="FORM", default=None,
                   help="sign again your own form after editing it (ticking its checklist), before committing it")
    p.add_argument("--confirm", metavar="ITEM", nargs="+", action="extend", default=None,
                   help="the checklist items you confirm, each by its number (1, 2, ...) or its text; the signed "
                        "form records them ticked (asked one by one on a terminal when neither this nor --all-confirmed is given)")
    p.add_argument("--all-confirmed", action="store_true",
                   help="confirm every item of your role's checklist (the form records each one ticked)")
    rules_base(p)
    p.set_defaults(handler="approve:cmd_approve")

    p = sub.add_parser("promote", help="gates, then card + registry + changelog + audit in one step")
    p.add_argument("id")
    p.add_argument("--to", required=True, metavar="ENV")
    p.add_argument("--reason", default=None)
    rules_base(p)
    p.set_defaults(handler="promote:cmd_promote")

    p = sub.add_parser("rollback", help="serve the last version that passed in ENV (or --to VERSION)")
    p.add_argument("id")
    p.add_argument("--env", required=True)
    p.add_argument("--to", default=None, metavar="VERSION")
    p.add_argument("--reason", required=True, help="why (kept in the changelog and audit log)")
    rules_base(p)
    p.set_defaults(handler="promote:cmd_rollback")

    p = sub.add_parser("retire", help="withdraw a prompt from every environment for good (signed approvals, logged)",
                       description="Withdraw prompt ID from every environment, for good: the policy's retire: rule "
                                   "(default: one signed Governance approval, `promptlane approve ID --retire --role "
                                   "Governance`) must pass. One transaction sets every pointer of registry/ID.lock.json "
                                   "to null and marks it retired, removes prompts/ID/ (its texts stay in registry/store/), "
                                   "and logs a retire event; versions, snapshots, reviews and logs are kept. A retired "
                                   "id is never served again (PL125).")
    p.add_argument("id")
    p.add_argument("--reason", required=True, help="why (kept in the lock, the changelog and the audit log)")
    rules_base(p)
    p.set_defaults(handler="retire:cmd_retire")

    p = sub.add_parser("status", help="what each environment serves, and what each prompt still lacks")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    rules_base(p)
    p.set_defaults(handler="status:cmd_status")

    p = sub.add_parser("registry", help="the registry for runtimes and databases")
    registry_sub = p.add_subparsers(dest="registry_command", metavar="ACTION", required=True)
    e = registry_sub.add_parser("export", help="sqlite OUT | json OUT")
    e.add_argument("format", choices=("sqlite", "json"), type=str)
    e.add_argument("out")
    e.set_defaults(handler="export:cmd_export")


def _add_report_commands(sub) -> None:
    p = sub.add_parser("report", help="HTML page of what is served, version history and audit; PR summary")
    p.add_argument("--html", metavar="OUT", help="write one self-contained HTML page to OUT")
    p.add_argument("--markdown", metavar="OUT", nargs="?", const="-",
                   help="write a pull-request summary (Markdown) to OUT, or to stdout")
    p.add_argument("--base", metavar="REF", help="with --markdown: only prompts changed since git REF")
    p.add_argument("--comment", metavar="FILE",
                   help="post FILE (written by --markdown) as the one promptlane comment of this GitHub Actions "
                        "run's pull request, or update it ($GITHUB_TOKEN, $GITHUB_REPOSITORY, $GITHUB_EVENT_PATH)")
    p.set_defaults(handler="report:cmd_report")

    p = sub.add_parser("diff", help="compare two versions of a prompt: texts, model, params, evals, approvals")
    p.add_argument("id", help="prompt id")
    p.add_argument("from_ref", nargs="?", metavar="FROM", help="version or environment (default: the version before TO)")
    p.add_argument("to_ref", nargs="?", metavar="TO", help="version or environment (default: the latest version)")
    p.set_defaults(handler="diff:cmd_diff")

    p = sub.add_parser("log", help="trace logs written by the runtime SDK")
    log_sub = p.add_subparsers(dest="log_command", metavar="ACTION", required=True)
    v = log_sub.add_parser("validate", help="check trace records against logs/prompt-log-schema.json")
    v.add_argument("files", nargs="+", metavar="FILE", help="JSON Lines, one JSON record, or a JSON array")
    v.add_argument("--schema", metavar="PATH", help="schema to use (default: logs/prompt-log-schema.json of the repository)")
    v.set_defaults(handler="logs:cmd_log_validate")


def _add_interop_commands(sub) -> None:
    p = sub.add_parser("import", help="a .prompty, .prompt (Dotprompt) or .prompt.yml (GitHub Models) file as a new prompt")
    p.add_argument("files", nargs="+", metavar="FILE", help=".prompty (Prompty), .prompt (Dotprompt / Genkit) or "
                   ".prompt.yml (GitHub Models); each becomes prompts/<id>/ as `promptlane new` makes one")
    p.add_argument("--id", default=None, help="the new prompt's id (one FILE only; default: the file's name)")
    p.add_argument("--dry-run", action="store_true", help="print the files that would be written; write nothing")
    p.set_defaults(handler="interop:cmd_import")

    p = sub.add_parser("export", help="what an environment serves, as a .prompty, .prompt or .prompt.yml file")
    p.add_argument("id", help="prompt id")
    p.add_argument("--format", required=True, choices=("prompty", "dotprompt", "github-models"),
                   help="prompty (.prompty), dotprompt (.prompt) or github-models (.prompt.yml)")
    p.add_argument("--env", default=None, help="the environment whose version is written (default: the last one, e.g. prod)")
    p.add_argument("-o", dest="out", metavar="FILE", default=None, help="write to FILE, atomically (default, or -: stdout)")
    p.set_defaults(handler="interop:cmd_export")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; for a hook command, that command alone (a faster start)."""
    parser = argparse.ArgumentParser(prog="promptlane", description="Govern LLM prompts in git.")
    parser.add_argument("--version", action="version", version=f"promptlane {__version__}")
    parser.add_argument("-C", dest="root", metavar="DIR", default=None, help="run as if started in DIR (any folder inside a governed repository)")
    # `check` validates the commands named in workflows/rollback-flow.md against this parser.
    parser.set_defaults(build_parser=build_parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if command in HOOK_COMMANDS:
        HOOK_COMMANDS[command](sub)
        return parser
    for add in HOOK_COMMANDS.values():
        add(sub)
    _add_eval_commands(sub)
    _add_promotion_commands(sub)
    _add_report_commands(sub)
    _add_interop_commands(sub)
    return parser


def handler_of(name: str) -> Handler:
    """``"module:function"`` under promptlane.commands, imported now (only the command that runs)."""
    module, function = name.split(":")
    handler: Handler = getattr(importlib.import_module(f"promptlane.commands.{module}"), function)
    return handler


def _option_values(argv: list[str]) -> set[str]:
    """Values of the global options (``-C DIR``), which are not the command."""
    return {argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "-C"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code. A reader that stops early (``promptlane status | head -1``)
    ends the run quietly with EXIT_PIPE, as a process killed by SIGPIPE would (the Python docs'
    recipe: stdout is flushed here, where a closed pipe is still catchable, then pointed at
    devnull so the interpreter's last flush cannot complain)."""
    _open_closed_streams()
    try:
        try:
            return _run(argv)
        finally:  # also before argparse's SystemExit (``--help | head -1``)
            if sys.stdout is not None:
                sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_PIPE


def _open_closed_streams() -> None:
    """A caller that closed stdout or stderr (``>&-``, ``2>&-``) leaves Python with None there,
    and ``print(..., file=None)`` writes to stdout: stderr's notes would land in a JSON matrix.
    Each closed stream is devnull instead (opened in order, so it takes the closed descriptor)."""
    import os

    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # open for the rest of the process


def _quiet_stdout() -> None:
    """Point stdout's file descriptor at devnull (when it has one: not under a test's capture)."""
    import os

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _run(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["init"]:
        # init owns its whole argument list (argparse's REMAINDER would swallow --help).
        from promptlane.commands.init import main as init_main

        return init_main(argv[1:])
    command = next((a for a in argv if not a.startswith("-") and a not in _option_values(argv)), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return handler_of(args.handler)(args)
    except PromptlaneError as exc:
        from promptlane.commands.output import report

        report(exc.problems, sys.stdout)
        print(f"promptlane {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except EOFError:
        print(f"promptlane {args.command}: input ended while asking a question; "
              "pass --no-input (and the values as options) when not at a terminal", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted; every file is as it was (or is put back by the next sync)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
