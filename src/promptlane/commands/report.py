"""CLI for `promptlane report`, `promptlane diff` and `promptlane log validate`
(issue: runtime SDK and trace logs). Handlers open the repository and call one module."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from promptlane.core.problems import EXIT_FAILED, EXIT_OK, UsageError, report


def _repo(args):
    from promptlane.store.repo import Repo

    return Repo.at(args.root)


def _path(args, name: str) -> Path:
    """A path given on the command line, relative to -C DIR when given (as if started there)."""
    return Path(args.root or ".") / name


def _target(args, name: str, option: str) -> Path:
    """An output path of `report`, checked before anything is rendered (exit 2 when it cannot be a file)."""
    from promptlane.commands.export import output_target

    hint = "; to print to stdout, use --markdown without OUT (or --markdown -)" if option == "--markdown" else ""
    # os.path.join keeps a trailing "/" (Path drops it): "out/" names a folder, never a file "out".
    return output_target(os.path.join(args.root or ".", name) if name else "", f"{option} OUT", hint)


def _write(target: Path, text: str) -> str:
    """Write atomically (temp file + rename): a report being served is never half written."""
    from promptlane.commands.export import write_output

    write_output(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return str(target)


def cmd_report(args) -> int:
    from promptlane.operations import history as rep

    if args.html is None and args.markdown is None:
        raise UsageError("say what to write: --html OUT and/or --markdown [OUT]")
    if args.base and args.markdown is None:
        raise UsageError("--base REF compares prompts for the --markdown summary; add --markdown")
    # Both targets are checked before either is written: a refusal leaves every file as it was.
    html = _target(args, args.html, "--html") if args.html is not None else None
    markdown = _target(args, args.markdown, "--markdown") if args.markdown not in (None, "-") else None
    if html is not None and html == markdown:
        raise UsageError("--html and --markdown name the same file; give each its own")
    repo = _repo(args)
    page = rep.render_html(rep.collect(repo)) if html is not None else None
    summary = rep.render_markdown(repo, args.base) if args.markdown is not None else None  # a bad --base: nothing written
    if page is not None:
        print(f"Wrote {_write(html, page)}", file=sys.stderr if args.markdown == "-" else sys.stdout)
    if summary is not None:
        if markdown is None:
            sys.stdout.write(summary)
        else:
            print(f"Wrote {_write(markdown, summary)}")
    return EXIT_OK


def cmd_diff(args) -> int:
    from promptlane.commands.diff import diff
    from promptlane.store.repo import is_prompt_id

    if not is_prompt_id(args.id):
        raise UsageError(f"'{args.id}' is not a prompt id")
    sys.stdout.write(diff(_repo(args), args.id, args.from_ref, args.to_ref))
    return EXIT_OK


def _log_schema(args) -> dict | bool:
    """The trace schema, checked against the JSON Schema meta-schema: a broken one is exit 2, naming it."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    from promptlane.runtime.logfile import LOG_SCHEMA

    path = _path(args, args.schema or LOG_SCHEMA)
    fix = "fix it, or pass --schema PATH" if not args.schema else "pass a JSON schema file"
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no trace schema here; run from a governed repository's root, "
                         "or pass --schema PATH") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not a trace schema; {fix}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror or exc}); {fix}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not a valid JSON schema file ({exc})") from None
    except RecursionError:
        raise UsageError(f"{path}: not a valid JSON schema file (nested too deeply to read)") from None
    if not isinstance(schema, (dict, bool)):
        raise UsageError(f"{path}: not a JSON schema (a schema is a JSON object, this is {json.dumps(schema)[:40]}); {fix}")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.path)
        raise UsageError(f"{path}: not a valid JSON schema ({where + ': ' if where else ''}{exc.message}); {fix}") from None
    except RecursionError:
        raise UsageError(f"{path}: not a valid JSON schema (nested too deeply to check)") from None
    return schema


def cmd_log_validate(args) -> int:
    from promptlane.runtime.logfile import LOG_SCHEMA, LogSchemaError, validate_file

    schema = _log_schema(args)
    problems, records = [], 0
    for name in args.files:
        path = _path(args, name)
        if not path.is_file():
            raise UsageError(f"{name}: no such file")
        try:
            count, found = validate_file(path, schema, name)
        except LogSchemaError as exc:
            raise UsageError(f"{_path(args, args.schema or LOG_SCHEMA)}: not a usable JSON schema ({exc})") from None
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
