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
    """Prompt ids for the given names: any file under prompts/<id>/ or its registry files, a
    folder (every prompt inside it, or the one it is in), or a prompt's bare id
    (``promptlane sync support-reply``) where no file of that name exists."""
    if all_flag or not files:
        return repo.prompt_ids()
    known = repo.prompt_ids()
    _refuse_missing(repo, files, known)
    ids: set[str] = set()
    for name in files:
        rel = repo_rel(repo, name)
        path = os.path.join(repo.root, rel)
        if _typed_id(name) and not os.path.lexists(path):
            ids.add(_word(name))  # a prompt's id (_refuse_missing refused any other word)
            continue
        if os.path.isdir(path):
            # A folder (".", "prompts", "prompts/<id>"): every prompt inside it, or the one it is in;
            # a folder of none named like a prompt (`sync evals` for a prompt named evals): that prompt.
            inside = {i for i in known if _within(f"prompts/{i}", rel) or _within(rel, f"prompts/{i}")}
            ids.update(inside or ({_word(name)} if _typed_id(name) and _word(name) in known else set()))
            continue
        prompt_id = prompt_id_of(rel)
        if prompt_id and (repo.root / "prompts" / prompt_id).is_dir():
            ids.add(prompt_id)
    return sorted(ids)


def _typed_id(name: str) -> bool:
    """A word as a person types a prompt's id (a trailing "/" allowed): no folder separator
    inside and no dot, so no file name (README.md, prompts/x/card.yml) and no "." or ".."."""
    word = _word(name)
    return bool(word) and not any(sep and sep in word for sep in ("/", os.sep, os.altsep)) and "." not in word


def _word(name: str) -> str:
    return name.rstrip("/" + os.sep + (os.altsep or ""))


def _refuse_missing(repo: Repo, files: Sequence[str], known: Sequence[str]) -> None:
    """Names that would otherwise check nothing and pass, refused with the closest prompt: a
    file of a prompt that does not exist (a typo: prompts/suport-reply/card.yml), and a word that
    is neither a file nor a prompt's id (suport-reply). Other names (a README) are no prompt's
    and are ignored, as before. Hooks pass only files that exist, so they are never refused."""
    hints = []
    for name in files:
        rel = repo_rel(repo, name)
        if os.path.lexists(repo.root / rel):
            continue
        if _typed_id(name):
            if _word(name) not in known:
                hints.append(_unknown_id(repo, _word(name), known))
        elif prompt_id_of(rel) is not None:
            parts = rel.split("/")
            close = closest(parts[1], known) if len(parts) > 1 and parts[0] == "prompts" else None
            hints.append(f"{name} (did you mean {'/'.join([parts[0], close, *parts[2:]])}?)" if close else name)
    if hints:
        raise UsageError(f"no such file: {', '.join(hints)}; nothing was checked or changed")


def _unknown_id(repo: Repo, name: str, known: Sequence[str]) -> str:
    """A word that names no file and no prompt, with what it may have meant."""
    close = closest(name, known)
    if close:
        return f"{name} (no such prompt either; did you mean {close}?)"
    if (repo.root / "registry" / f"{name}.lock.json").is_file():
        return f"{name} (no prompts/{name}/ folder: registry/{name}.lock.json names it, retired or deleted)"
    listed = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
    return f"{name} (no such prompt either; the prompts are {listed})" if known else f"{name} (no prompt exists yet)"


def _within(path: str, folder: str) -> bool:
    return folder == "." or path == folder or path.startswith(folder.rstrip("/") + "/")
