"""The ``promptlane`` command line. Each sub-command parses its arguments here and calls one
module that does the work; hooks are one-line wrappers over these commands.

Exit codes: 0 fine, 1 a check failed or files were changed, 2 bad usage or configuration.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from promptlane import __version__
from promptlane.core.problems import EXIT_FAILED, EXIT_OK, EXIT_USAGE, PromptlaneError, report

Handler = Callable[[argparse.Namespace], int]


def _repo(args):
    from promptlane.store.repo import Repo

    return Repo.at(args.root)


def _ids_from(repo, files: Sequence[str], all_flag: bool) -> list[str]:
    """Prompt ids for the given paths (any file under prompts/<id>/ or its registry files)."""

    from promptlane.store.repo import prompt_id_of

    if all_flag or not files:
        return repo.prompt_ids()
    ids = set()
    for name in files:
        rel = _rel(repo, name)
        if os.path.isdir(os.path.join(repo.root, rel)):
            # A folder (".", "prompts", "prompts/<id>"): every prompt inside it, or the one it is in.
            ids.update(i for i in repo.prompt_ids() if _within(f"prompts/{i}", rel) or _within(rel, f"prompts/{i}"))
            continue
        prompt_id = prompt_id_of(rel)
        if prompt_id and (repo.root / "prompts" / prompt_id).is_dir():
            ids.add(prompt_id)
    return sorted(ids)


def _within(path: str, folder: str) -> bool:
    return folder == "." or path == folder or path.startswith(folder.rstrip("/") + "/")


def cmd_sync(args) -> int:
    from promptlane.commands.sync import sync

    repo = _repo(args)
    result = sync(repo, _ids_from(repo, args.files, args.all))
    if result.restored:
        print(f"Put back {len(result.restored)} file(s) left by an interrupted run: {', '.join(result.restored)}")
    for line in result.changed:
        print(f"promptlane sync: {line}")
    for path in result.files:
        print(f"Fixing {path}")
    count = report(result.problems)
    if result.changed:
        print("Files changed: review them and `git add` them, then commit again.")
    return EXIT_FAILED if (result.changed or count or result.restored) else EXIT_OK


def cmd_check(args) -> int:
    from promptlane.commands.check import check

    from promptlane.store.repo import POLICY

    repo = _repo(args)
    whole = args.all or not args.files
    # The policy is checked (schema, loosening against HEAD) when it is among the files.
    policy = whole or any(_rel(repo, name) == POLICY for name in args.files)
    forms = _review_forms(repo, None if whole else [_rel(repo, name) for name in args.files])
    problems = check(repo, _ids_from(repo, args.files, args.all), policy=policy, forms=forms)
    rels = None if whole else [_rel(repo, name) for name in args.files]
    from promptlane.commands.repofiles import CHECKS, repo_file_problems

    if rels is None or any(rel in CHECKS for rel in rels):
        problems += repo_file_problems(repo, rels)
    count = report(problems)
    return EXIT_FAILED if count else EXIT_OK


def _review_forms(repo, rels: list[str] | None) -> list[str]:
    """HITL forms to validate: those given, or every reviews/<id>/<version>/*.md."""
    from promptlane.store.repo import REVIEWS

    if rels is None:
        return sorted(p.relative_to(repo.root).as_posix() for p in (repo.root / REVIEWS).glob("*/*/*.md"))
    return [rel for rel in rels if rel.startswith(f"{REVIEWS}/") and rel.endswith(".md") and rel.count("/") >= 3
            and (repo.root / rel).is_file()]


def _rel(repo, name: str) -> str:
    import os

    return os.path.relpath(os.path.abspath(name), repo.root).replace(os.sep, "/")


def cmd_audit_verify(args) -> int:
    from promptlane.operations.verify import verify

    repo = _repo(args)
    count = report(verify(repo, base=args.base, use_cache=not args.full))
    if not count:
        since = f"; only appended since {args.base}" if args.base else ""
        print(f"audit log: chain intact, registry consistent{since}")
        from promptlane.commands.audit import hint

        note = hint(repo)
        if note:
            print(note)
    return EXIT_FAILED if count else EXIT_OK


def cmd_audit_seal(args) -> int:
    from promptlane.commands.audit import seal

    print(seal(_repo(args), min_rows=args.min_rows))
    return EXIT_OK


def cmd_merge_driver(args) -> int:
    from pathlib import Path

    from promptlane.commands import merge_driver as merge

    if args.install:
        for line in merge.install(Path(args.root or ".").resolve()):
            print(f"git config {line}")
        return EXIT_OK
    if not args.kind or len(args.paths) != 3:
        print("usage: promptlane merge-driver {audit,lock,append} BASE OURS THEIRS  (or --install)", file=sys.stderr)
        return EXIT_USAGE
    return merge.run_driver(args.kind, *(Path(p) for p in args.paths))


def cmd_new(args) -> int:
    from promptlane.commands.new import new_prompt

    repo = _repo(args)
    for line in new_prompt(repo, args.id, title=args.title):
        print(line)
    return EXIT_OK


def cmd_init(args) -> int:
    from promptlane.commands.init import main as init_main

    return init_main(args.init_args)


CORE_COMMANDS = {"sync", "check", "audit", "new", "merge-driver"}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="promptlane", description="Govern LLM prompts in git.")
    parser.add_argument("--version", action="version", version=f"promptlane {__version__}")
    parser.add_argument("-C", dest="root", metavar="DIR", default=None, help="run as if started in DIR (the repository root)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("init", help="scaffold a governed repository from the bundled template", add_help=False)
    p.add_argument("init_args", nargs=argparse.REMAINDER)
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("new", help="add a prompt from the example card")
    p.add_argument("id", help="prompt id: [a-z0-9][a-z0-9-]*, also the folder name")
    p.add_argument("--title", default=None)
    p.set_defaults(handler=cmd_new)

    p = sub.add_parser("sync", help="fixer: hash, bump, demote, snapshot, changelog, audit")
    p.add_argument("files", nargs="*", help="changed files (default: every prompt)")
    p.add_argument("--all", action="store_true", help="every prompt, whatever FILES says")
    p.set_defaults(handler=cmd_sync)

    p = sub.add_parser("check", help="validate cards, texts, variables and the registry")
    p.add_argument("files", nargs="*", help="files to check (default: every prompt)")
    p.add_argument("--all", action="store_true", help="every prompt, whatever FILES says")
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("audit", help="verify the audit log, or seal its current segment")
    audit_sub = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    v = audit_sub.add_parser("verify", help="the hash chain is intact")
    v.add_argument("--base", metavar="REF", default=None,
                   help="also prove the audit log and changelog were only appended to since git REF")
    v.add_argument("--full", action="store_true",
                   help="verify everything, ignoring the local record of what was already verified")
    v.set_defaults(handler=cmd_audit_verify)
    s = audit_sub.add_parser("seal", help="move the current audit log and changelog into audit/archive/NNNN/")
    s.add_argument("--min-rows", type=int, default=1, metavar="N",
                   help="seal only when the current segment holds at least N rows (for scheduled runs)")
    s.set_defaults(handler=cmd_audit_seal)

    p = sub.add_parser("merge-driver", help="git merge driver for the audit log and registry locks")
    p.add_argument("kind", nargs="?", choices=["audit", "lock", "append"])
    p.add_argument("paths", nargs="*", metavar="FILE", help="%%O %%A %%B as git passes them")
    p.add_argument("--install", action="store_true", help="wire the drivers into this clone's .git/config")
    p.set_defaults(handler=cmd_merge_driver)

    if command in CORE_COMMANDS:
        return parser  # the hook commands: skip importing every other command's module
    # Feature commands register themselves; each module imports its heavy parts lazily.
    from promptlane.commands import eval as evals_cli, promote as promotion_cli

    evals_cli.register(sub)
    promotion_cli.register(sub)
    from promptlane.commands import report as report_cli

    report_cli.register(sub)
    return parser


def _option_values(argv: list[str]) -> set[str]:
    """Values of the global options (``-C DIR``), which are not the command."""
    return {argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "-C"}


def main(argv: Sequence[str] | None = None) -> int:
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
        return args.handler(args)
    except PromptlaneError as exc:
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
