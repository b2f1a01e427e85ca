"""Where things live in a governed repository, as names (no file is touched here).

Paths are built only from validated prompt ids (``[a-z0-9][a-z0-9-]*``) and versions
(``N.N.N``), so nothing a card says can point a write outside the repository.
"""
from __future__ import annotations

import re

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
REVIEWERS = f"{REVIEWS}/reviewers.yml"
ALLOWED_SIGNERS = f"{REVIEWS}/allowed_signers"
POLICY_REVIEWS = f"{REVIEWS}/policy"
TEMPLATE = "HITL_Approval_Template.md"
SIGNATURE_SUFFIX = ".sig"  # reviews/<id>/<version>/<form>.md.sig, as ssh-keygen -Y sign writes it
REQUIREMENTS = "requirements.txt"  # the promptlane (and pre-commit) a repository runs


# Names a prompt id may not take: a prompt's folders are named after it (registry/store/<id>/,
# evals/results/<id>/, reviews/<id>/), and one named "prompts" there would look like the root
# of a governed repository to a command run below it; reviews/policy/ holds policy approvals.
RESERVED_IDS = frozenset({PROMPTS, "policy"})


def is_prompt_id(text: object) -> bool:
    return isinstance(text, str) and bool(ID_PATTERN.match(text)) and text not in RESERVED_IDS


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
