"""Where things live in a governed repository, and its few settings.

Paths are built only from validated prompt ids (``[a-z0-9][a-z0-9-]*``) and versions
(``N.N.N``), so nothing a card says can point a write outside the repository.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from promptlane.core.problems import UsageError

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}\Z")  # \Z: "$" would accept a trailing newline
DEFAULT_ENVIRONMENTS = ("dev", "staging", "prod")

PROMPTS = "prompts"
CARD = "card.yml"
REGISTRY = "registry"
STORE = "registry/store"
CHANGELOG = "schemas/prompt-change-log.yml"
AUDIT_LOG = "audit/artifact-audit-log.md"
POLICY = "workflows/policy-as-code-example.yml"
EVAL_RESULTS = "evals/results"
REVIEWS = "reviews"


def is_prompt_id(text: object) -> bool:
    return isinstance(text, str) and bool(ID_PATTERN.match(text))


@dataclass
class Repo:
    root: Path
    _cache: dict = field(default_factory=dict, repr=False)

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
        from promptlane.store.policyfile import load_environments

        return load_environments(self)

    @property
    def first_environment(self) -> str:
        return self.environments[0]


def prompt_id_of(rel_path: str) -> str | None:
    """The prompt a repository-relative path belongs to, if any."""
    parts = rel_path.replace("\\", "/").split("/")
    if len(parts) >= 3 and parts[0] == PROMPTS:
        return parts[1]
    if len(parts) == 2 and parts[0] == REGISTRY and parts[1].endswith(".lock.json"):
        return parts[1][: -len(".lock.json")]
    if len(parts) == 4 and "/".join(parts[:2]) == STORE:
        return parts[2]
    if len(parts) == 3 and parts[:2] == ["evals", "tests"] and parts[2].endswith((".yml", ".yaml")):
        return parts[2].rsplit(".", 1)[0]  # evals/tests/<id>.yml: the prompt's eval fixtures
    if len(parts) >= 4 and parts[:2] == ["evals", "results"]:
        return parts[2]
    if len(parts) >= 4 and parts[0] == REVIEWS and parts[1] != "policy":
        return parts[1]  # reviews/<id>/<version>/<form>.md
    return None
