"""A governed repository on disk: its root, the paths of a prompt's files, and its settings
(the environments and rules of its policy file, read once per run).

Paths are built only from validated prompt ids (``[a-z0-9][a-z0-9-]*``) and versions
(``N.N.N``), so nothing a card says can point a write outside the repository.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from promptlane.core.layout import CARD, PROMPTS, REGISTRY, STORE
from promptlane.core.policy import Policy
from promptlane.core.problems import UsageError
from promptlane.store.policyfile import load_environments, load_rules


@dataclass
class Repo:
    root: Path

    @classmethod
    def at(cls, path: str | os.PathLike | None = None) -> "Repo":
        root = Path(path or os.getcwd()).resolve()
        if not (root / PROMPTS).is_dir():
            raise UsageError(
                f"{root}: no {PROMPTS}/ folder here; run promptlane from the root of a governed "
                "repository (or create one with `promptlane init DIR`)"
            )
        return cls(root)

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
        return sorted(entry.name for entry in os.scandir(base) if entry.is_dir() and not entry.name.startswith("."))

    @cached_property
    def environments(self) -> tuple[str, ...]:
        """Ordered environments, from the policy file's ``environments:`` (first = development)."""
        return load_environments(self.root)

    @cached_property
    def rules(self) -> Policy:
        """The validated policy (read once per run); UsageError (exit 2) when it is invalid."""
        return load_rules(self.root)

    @property
    def first_environment(self) -> str:
        return self.environments[0]


