"""CLI for `promptlane report`, `promptlane diff` and `promptlane log validate`
(issue: runtime SDK and trace logs). Handlers open the repository and call one module."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .problems import EXIT_FAILED, EXIT_OK, UsageError, report


def _repo(args):
    from .repo import Repo

    return Repo.at(args.root)


def _path(args, name: str) -> Path:
    """A path given on the command line, relative to -C DIR when given (as if started there)."""
    return Path(args.root or ".") / name


def _write(out: Path, text: str) -> str:
    """Write atomically (temp file + rename): a report being served is never half written."""
    target = out.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.promptlane-tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return str(target)


def cmd_report(args) -> int:
    from . import report as rep

    if not args.html and args.markdown is None:
        raise UsageError("say what to write: --html OUT and/or --markdown [OUT]")
    if args.base and args.markdown is None:
        raise UsageError("--base REF compares prompts for the --markdown summary; add --markdown")
    repo = _repo(args)
    if args.html:
        path = _write(_path(args, args.html), rep.render_html(rep.collect(repo)))
        print(f"Wrote {path}", file=sys.stderr if args.markdown == "-" else sys.stdout)
    if args.markdown is not None:
        text = rep.render_markdown(repo, args.base)
        if args.markdown == "-":
            sys.stdout.write(text)
        else:
            print(f"Wrote {_write(_path(args, args.markdown), text)}")
    return EXIT_OK


def cmd_diff(args) -> int:
    from .diff import diff
    from .repo import is_prompt_id

    if not is_prompt_id(args.id):
        raise UsageError(f"'{args.id}' is not a prompt id")
    sys.stdout.write(diff(_repo(args), args.id, args.from_ref, args.to_ref))
    return EXIT_OK


def _log_schema(args) -> dict:
    from .runtime.logfile import LOG_SCHEMA

    path = _path(args, args.schema or LOG_SCHEMA)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no trace schema here; run from a governed repository's root, "
                         "or pass --schema PATH") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not a valid JSON schema file ({exc})") from None


def cmd_log_validate(args) -> int:
    from .runtime.logfile import validate_file

    schema = _log_schema(args)
    problems, records = [], 0
    for name in args.files:
        path = _path(args, name)
        if not path.is_file():
            raise UsageError(f"{name}: no such file")
        count, found = validate_file(path, schema, name)
        records += count
        problems += found
    if report(problems):
        return EXIT_FAILED
    print(f"{records} trace record(s) in {len(args.files)} file(s) match the trace schema")
    return EXIT_OK


def register(sub) -> None:
    """Add report, diff and log sub-commands to the top-level parser."""
    p = sub.add_parser("report", help="HTML page of what is served, version history and audit; PR summary")
    p.add_argument("--html", metavar="OUT", help="write one self-contained HTML page to OUT")
    p.add_argument("--markdown", metavar="OUT", nargs="?", const="-",
                   help="write a pull-request summary (Markdown) to OUT, or to stdout")
    p.add_argument("--base", metavar="REF", help="with --markdown: only prompts changed since git REF")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("diff", help="compare two versions of a prompt: texts, model, params, evals, approvals")
    p.add_argument("id", help="prompt id")
    p.add_argument("from_ref", nargs="?", metavar="FROM", help="version or environment (default: the version before TO)")
    p.add_argument("to_ref", nargs="?", metavar="TO", help="version or environment (default: the latest version)")
    p.set_defaults(handler=cmd_diff)

    p = sub.add_parser("log", help="trace logs written by the runtime SDK")
    log_sub = p.add_subparsers(dest="log_command", metavar="ACTION", required=True)
    v = log_sub.add_parser("validate", help="check trace records against logs/prompt-log-schema.json")
    v.add_argument("files", nargs="+", metavar="FILE", help="JSON Lines, one JSON record, or a JSON array")
    v.add_argument("--schema", metavar="PATH", help="schema to use (default: logs/prompt-log-schema.json of the repository)")
    v.set_defaults(handler=cmd_log_validate)
