"""What every command does with its arguments: open the repository (from the current folder or
``-C DIR``, or the nearest folder above it that holds prompts/), read paths relative to where
it started, and turn the file names a hook passes into the prompts they belong to."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from promptlane.core.layout import prompt_id_of
from promptlane.core.problems import UsageError
from promptlane.core.suggest import closest
from promptlane.store.pinfile import refuse_older_promptlane
from promptlane.store.repo import Repo


def find_repo(args: argparse.Namespace) -> Repo:
    """The repository around the folder the command started in (``Repo.at``). When that is
    not its root, one line on stderr says which root is used: stdout stays the command's."""
    repo = Repo.at(args.root)
    if repo.found_above:
        print(f"promptlane: using the repository at {repo.root}", file=sys.stderr)
    return repo


def open_repo(args: argparse.Namespace) -> Repo:
    """The repository the command runs in; refused (exit 2) when the running promptlane is older
    than the one its requirements.txt pins: older rules must not judge or write newer files."""
    repo = find_repo(args)
    refuse_older_promptlane(repo)
    repo.base = getattr(args, "rules_base", None) or os.environ.get("PROMPTLANE_BASE") or None
    ci_results = os.environ.get("PROMPTLANE_CI_RESULTS")  # the folder CI's eval job wrote (`eval run --results-dir`)
    repo.ci_results = outside_checkout(repo, Path(ci_results), "PROMPTLANE_CI_RESULTS") if ci_results else None
    return repo


def outside_checkout(repo: Repo, folder: Path, what: str) -> Path:
    """CI's own results folder, absolute; refused (exit 2) inside the repository, where the
    pull request's own files could stand in for CI's run."""
    resolved = folder.resolve()
    if resolved == repo.root.resolve() or resolved.is_relative_to(repo.root.resolve()):
        raise UsageError(f"{what}={folder} is inside the repository: CI's own eval results live outside the checkout "
                         "(the workflow uses $RUNNER_TEMP/ci-results), so no committed file can stand in for them")
    return resolved


def given_path(args: argparse.Namespace, name: str) -> Path:
    """A path given on the command line, relative to -C DIR when given (as if started there)."""
    return Path(args.root or ".") / name


def repo_rel(repo: Repo, name: str) -> str:
    """A file name as given (relative to the folder promptlane started in: the current one, or
    -C DIR), relative to the repository root, with '/'."""
    path = os.path.join(repo.start, name) if repo.start is not None else name
    return os.path.relpath(os.path.abspath(path), repo.root).replace(os.sep, "/")


def ids_from(repo: Repo, files: Sequence[str], all_flag: bool) -> list[str]:
    """Prompt ids for the given paths (any file under prompts/<id>/ or its registry files)."""
    if all_flag or not files:
        return repo.prompt_ids()
    _refuse_missing(repo, files)
    ids: set[str] = set()
    for name in files:
        rel = repo_rel(repo, name)
        if os.path.isdir(os.path.join(repo.root, rel)):
            # A folder (".", "prompts", "prompts/<id>"): every prompt inside it, or the one it is in.
            ids.update(i for i in repo.prompt_ids() if _within(f"prompts/{i}", rel) or _within(rel, f"prompts/{i}"))
            continue
        prompt_id = prompt_id_of(rel)
        if prompt_id and (repo.root / "prompts" / prompt_id).is_dir():
            ids.add(prompt_id)
    return sorted(ids)


def _refuse_missing(repo: Repo, files: Sequence[str]) -> None:
    """A file of a prompt that does not exist (a typo: prompts/suport-reply/card.yml) would
    otherwise check nothing and pass: refuse it, with the closest prompt. Other names (a README)
    are no prompt's and are ignored, as before. Hooks pass only files that exist."""
    missing = [name for name in files if prompt_id_of(repo_rel(repo, name)) is not None
               and not os.path.lexists(repo.root / repo_rel(repo, name))]
    if not missing:
        return
    hints = []
    for name in missing:
        parts = repo_rel(repo, name).split("/")
        close = closest(parts[1], repo.prompt_ids()) if len(parts) > 1 and parts[0] == "prompts" else None
        hints.append(f"{name} (did you mean {'/'.join([parts[0], close, *parts[2:]])}?)" if close else name)
    raise UsageError(f"no such file: {', '.join(hints)}; nothing was checked or changed")


def _within(path: str, folder: str) -> bool:
    return folder == "." or path == folder or path.startswith(folder.rstrip("/") + "/")
