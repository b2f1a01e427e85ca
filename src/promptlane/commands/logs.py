"""``promptlane log validate``: trace records (runtime/logfile.py) against the repository's
trace schema, itself checked against the JSON Schema meta-schema first."""
from __future__ import annotations

import json

from pathlib import Path

from promptlane.commands.arguments import find_repo, given_path
from promptlane.commands.output import report
from promptlane.core.problems import EXIT_FAILED, EXIT_OK, UsageError
from promptlane.runtime.logfile import LOG_SCHEMA, LogSchemaError, validate_file


def _schema_path(args) -> Path:
    """--schema PATH, else the repository's trace schema: in the folder promptlane started in,
    or at the root of the governed repository around it (from any folder inside it)."""
    if args.schema:
        return given_path(args, args.schema)
    here = given_path(args, LOG_SCHEMA)
    if here.exists():
        return here
    try:
        return find_repo(args).root / LOG_SCHEMA
    except UsageError:
        return here


def _log_schema(args, path: Path) -> dict | bool:
    """The trace schema, checked against the JSON Schema meta-schema: a broken one is exit 2, naming it."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    fix = "fix it, or pass --schema PATH" if not args.schema else "pass a JSON schema file"
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no trace schema here; run inside a governed repository, "
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
    schema_path = _schema_path(args)
    schema = _log_schema(args, schema_path)
    problems, records = [], 0
    for name in args.files:
        path = given_path(args, name)
        if not path.is_file():
            raise UsageError(f"{name}: no such file")
        try:
            count, found = validate_file(path, schema, name)
        except LogSchemaError as exc:
            raise UsageError(f"{schema_path}: not a usable JSON schema ({exc})") from None
        records += count
        problems += found
    if report(problems):
        return EXIT_FAILED
    print(f"{records} trace record(s) in {len(args.files)} file(s) match the trace schema")
    return EXIT_OK
