"""A governed repository on disk: its root, the paths of a prompt's files, and its settings
(the environments and rules of its policy file, read once per run).

Paths are built only from validated prompt ids (``[a-z0-9][a-z0-9-]*``) and versions
(``N.N.N``), so nothing a card says can point a write outside the repository.
"""
from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from promptlane.core.layout import CARD, POLICY, PROMPTS, REGISTRY, STORE
from promptlane.core.problems import UsageError
from promptlane.core.record import field, record
from promptlane.store import git

if TYPE_CHECKING:
    from promptlane.core.policy import Policy


def _folder_or_loop(entry: os.DirEntry) -> bool:
    """A folder, or a link that cannot be followed (a loop: ELOOP), which the prompt's check then
    reports instead of the listing raising."""
    try:
        return entry.is_dir()
    except OSError:
        return True


@record
class Repo:
    root: Path
    start: Path | None = field(default=None, compare=False)  # where it was looked for from (cwd or -C DIR)
    base: str | None = field(default=None, compare=False)    # --base / $PROMPTLANE_BASE: whose rules judge (store/rules.py)
    ci_results: Path | None = field(default=None, compare=False)  # $PROMPTLANE_CI_RESULTS: CI's own eval results (operations/gating.py)

    @classmethod
    def at(cls, path: str | os.PathLike | None = None) -> "Repo":
        """The governed repository around ``path`` (default: the current folder), as git finds
        its own: the nearest folder, ``path`` itself or one above it, that holds prompts/. The
        search never leaves the git work tree ``path`` is in; outside one, only ``path`` itself
        counts (a stray prompts/ folder higher up is nobody's repository). Symlinks are
        resolved first, so the walk up is finite."""
        try:
            start = Path(path or os.getcwd()).resolve()
        except FileNotFoundError:  # the current folder was deleted while a shell stood in it
            raise UsageError("the current folder no longer exists (it was removed or moved); cd into the "
                             "repository and run again, or pass -C DIR") from None
        if not start.is_dir():
            what = "not a folder" if start.exists() else "no such folder"
            raise UsageError(f"{start}: {what}; pass -C a folder inside a governed repository")
        if (start / PROMPTS).is_dir():
            return cls(_root_of(start, git.toplevel(start) if start.name == PROMPTS else None), start)
        top = git.toplevel(start)
        refused = git.refusal(start) if top is None else None
        if refused:
            where = refused.split("'")[1] if refused.count("'") >= 2 else str(start)
            raise UsageError(f"{start}: git refuses to work in this repository ({refused}); if it is yours, mark it "
                             f"safe: `git config --global --add safe.directory {where}`")
        if top is None or not start.is_relative_to(top):
            raise UsageError(
                f"{start}: no {PROMPTS}/ folder here, and it is not inside a git work tree, so promptlane "
                "looked no further up; run promptlane inside a governed repository (its root or any folder "
                "of its git clone), pass -C DIR, or create one with `promptlane init DIR`"
            )
        for folder in start.parents:
            if not folder.is_relative_to(top):
                break
            if (folder / PROMPTS).is_dir():
                return cls(_root_of(folder, top), start)
        where = "here" if start == top else f"here or in any folder above it up to {top} (the top of its git work tree)"
        raise UsageError(
            f"{start}: no {PROMPTS}/ folder {where}; run promptlane inside a governed repository (its root "
            "or any folder below it), pass -C DIR, or create one with `promptlane init DIR`"
        )

    @property
    def found_above(self) -> bool:
        """The root is not the folder promptlane was started in (it walked up to find it)."""
        return self.start is not None and self.start != self.root

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def prompt_dir(self, prompt_id: str) -> Path:
        return self.root / PROMPTS / prompt_id

    def card_path(self, prompt_id: str) -> Path:
        return self.prompt_dir(prompt_id) / CARD

    def lock_rel(self, prompt_id: str) -> str:
        return f"{REGISTRY}/{prompt_id}.lock.json"

    def snapshot_rel(self, prompt_id: str, version: str) -> str:
        return f"{STORE}/{prompt_id}/{version}.json"

    def prompt_ids(self) -> list[str]:
        """Every folder under prompts/ (valid id or not: check reports the bad ones)."""
        base = self.root / PROMPTS
        return sorted(entry.name for entry in os.scandir(base) if _folder_or_loop(entry) and not entry.name.startswith("."))

    @cached_property
    def real_prompts(self) -> str:
        """prompts/ with every link resolved, as a string: each card's texts must stay below it
        (found once per run, not once per card)."""
        return os.path.realpath(self.root / PROMPTS)

    @cached_property
    def prompts_outside(self) -> bool:
        """prompts/ is a link that leaves the repository: its cards and texts are not in git."""
        return not self.real_prompts.startswith(os.path.realpath(self.root) + os.sep)

    @cached_property
    def environments(self) -> tuple[str, ...]:
        """Ordered environments, from the policy file's ``environments:`` (first = development)."""
        from promptlane.store.policyfile import load_environments  # the policy file: only once a command needs it

        return load_environments(self.root)

    @cached_property
    def rules(self) -> Policy:
        """The validated policy (read once per run); UsageError (exit 2) when it is invalid."""
        from promptlane.store.policyfile import load_rules

        return load_rules(self.root)

    @property
    def first_environment(self) -> str:
        return self.environments[0]


def _root_of(folder: Path, top: Path | None) -> Path:
    """``folder`` holds prompts/; but a folder named prompts/ that does is more likely the
    prompts/ of the repository above it, holding a prompt named ``prompts``: that repository
    is the root when it has the registry or the policy file and ``folder`` has neither."""
    def governed(candidate: Path) -> bool:
        return (candidate / REGISTRY).is_dir() or (candidate / POLICY).is_file()

    parent = folder.parent
    if top is None or folder.name != PROMPTS or folder == top or not parent.is_relative_to(top):
        return folder
    if governed(parent) and not governed(folder):
        return parent
    return folder
