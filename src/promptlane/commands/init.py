"""`promptlane init [DIR]`: scaffold a governed prompt repository from the bundled template.

The template is the repository's own top-level cookiecutter template (cookiecutter.json,
{{cookiecutter.project}}/, hooks/), so `promptlane init` and `cookiecutter <repo>` render the
same tree. cookiecutter is imported only here, when a repository is actually created.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from promptlane import __version__
from promptlane.core.problems import EXIT_OK, EXIT_USAGE, UsageError

# Template variables settable by an option of the same name; the rest keep their defaults.
_VARIABLES = ("project", "project_name", "owner", "owner_email", "environments",
              "reviewer_roles", "hooks_repo", "hooks_rev")  # settable from the command line


def template_dir() -> Path:
    """The template: bundled in the wheel, else the source checkout this module runs from."""
    bundled = Path(__file__).resolve().parents[1] / "template"  # promptlane/template in the wheel
    if (bundled / "cookiecutter.json").is_file():
        return bundled
    checkout = Path(__file__).resolve().parents[3]  # src/promptlane/commands/ in a checkout
    if (checkout / "cookiecutter.json").is_file():
        return checkout
    raise UsageError(f"the promptlane template is missing: neither {bundled} nor {checkout} "
                     "has a cookiecutter.json; reinstall promptlane")


# What cookiecutter reads of a template; in a checkout, template_dir() is the repository root.
_TEMPLATE_PARTS = ("cookiecutter.json", "{{cookiecutter.project}}", "hooks")
# Bytecode is never part of a rendered repository: a test run or an import leaves __pycache__
# in the checkout's template, and pip byte-compiles the installed wheel's evals/*.py and hooks.
_NEVER_RENDERED = shutil.ignore_patterns("__pycache__", "*.py[cod]")


@contextlib.contextmanager
def _clean_template() -> Iterator[Path]:
    """A temporary copy of the template without bytecode: cookiecutter copies a template
    folder wholesale and has no way to leave files out."""
    source = template_dir()
    with tempfile.TemporaryDirectory(prefix="promptlane-template-") as scratch:
        copy = Path(scratch) / "promptlane"  # cookiecutter's replay file is named after it
        copy.mkdir()
        for name in _TEMPLATE_PARTS:
            part = source / name
            if part.is_dir():
                shutil.copytree(part, copy / name, symlinks=True, ignore=_NEVER_RENDERED)
            elif part.is_file():
                shutil.copy2(part, copy / name)
        yield copy


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def init(
    target_dir: str | os.PathLike,
    extra_context: Mapping[str, Any] | None = None,
    no_input: bool = True,
    *,
    config_file: str | None = None,
) -> Path:
    """Render the template so that the new repository is exactly ``target_dir``.

    ``project`` defaults to the target's folder name. When it is given and differs, the
    render goes to a temporary folder beside the target and is then renamed, so the caller
    still gets the folder they asked for. An existing empty target is filled in place.
    """
    from cookiecutter.exceptions import OutputDirExistsException
    from cookiecutter.main import cookiecutter

    target = Path(os.path.abspath(target_dir))
    context = dict(extra_context or {})
    context.setdefault("project", target.name)
    context.setdefault("promptlane_version", __version__)  # requirements.txt pins the promptlane rendering it
    if target.exists() and not _is_empty_dir(target):
        raise UsageError(f"{target} already exists and is not empty; choose a new folder")
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)

    options = dict(no_input=no_input, extra_context=context, config_file=config_file)
    with _clean_template() as template:
        if context["project"] == target.name:
            try:
                rendered = cookiecutter(str(template), output_dir=str(parent),
                                        overwrite_if_exists=target.exists(), **options)
            except OutputDirExistsException as exc:  # raced with another writer
                raise UsageError(str(exc)) from exc
            return Path(rendered)
        # The folder cookiecutter creates is named after `project`: render aside, then rename.
        staging = Path(tempfile.mkdtemp(prefix=".promptlane-init-", dir=parent))
        try:
            rendered = Path(cookiecutter(str(template), output_dir=str(staging), **options))
            if target.exists():
                target.rmdir()  # empty, checked above
            os.replace(rendered, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="promptlane init",
        description="Scaffold a governed prompt repository (the bundled cookiecutter template).",
    )
    parser.add_argument("dir", nargs="?", default=".",
                        help="folder to create (default: the current, empty folder); its name is the project slug")
    parser.add_argument("--project", help="repository slug, if not the folder's name")
    parser.add_argument("--project-name", help="human-readable title")
    parser.add_argument("--owner", help="owning team or person")
    parser.add_argument("--owner-email", help="owner's contact e-mail")
    parser.add_argument("--environments", help="comma-separated, in promotion order (default: dev,staging,prod)")
    parser.add_argument("--reviewer-roles", help="comma-separated roles (default: PM,Tech Lead,QA,Security,Governance); "
                        "Governance must be one of them: it approves policy changes")
    parser.add_argument("--hooks-repo", help="git URL of a promptlane hook repository (default: none; the hooks run "
                        "the promptlane pinned in requirements.txt)")
    parser.add_argument("--hooks-rev", help="with --hooks-repo: the tag or commit to pin")
    parser.add_argument("--initial-commit", action="store_true", help="make a first git commit of the scaffold")
    parser.add_argument("--no-input", action="store_true", help="do not prompt; use defaults for anything not given")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    from cookiecutter.exceptions import CookiecutterException, FailedHookException

    # cookiecutter logs a refused pre-generation hook with its traceback; the hook has already
    # said which answer is wrong, and promptlane says that nothing was created.
    logging.getLogger("cookiecutter").addHandler(logging.NullHandler())
    args = _parser().parse_args(argv)
    context = {name: getattr(args, name) for name in _VARIABLES if getattr(args, name) is not None}
    if args.initial_commit:
        context["make_initial_commit"] = "yes"
    no_input = args.no_input
    if not no_input and not sys.stdin.isatty():
        # Nobody can answer the prompts (a pipe, CI): take the defaults rather than fail on EOF.
        print("promptlane init: stdin is not a terminal; using defaults for what was not given (--no-input)",
              file=sys.stderr)
        no_input = True
    try:
        created = init(args.dir, context, no_input=no_input)
    except FailedHookException:
        # The template's pre-generation hook has already printed which answer is wrong.
        print("promptlane init: nothing was created", file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, CookiecutterException) as exc:
        print(f"promptlane init: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a file where a folder must be, a read-only place, /proc
        where = exc.filename or args.dir
        print(f"promptlane init: cannot create {where} ({exc.strerror or exc}); choose a folder you can write", file=sys.stderr)
        return EXIT_USAGE
    print(f"promptlane init: created {created}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())


def cmd_init(args) -> int:
    return main(args.init_args)
