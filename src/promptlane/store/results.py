"""Eval results on disk: ``evals/results/<id>/<hash16>.json``, read and validated for one
payload hash, or written atomically (the format is core/results.py). ``folder`` names another
folder laid out the same way: CI's own results (``eval run --results-dir``, read through
``$PROMPTLANE_CI_RESULTS``), kept apart from the committed ones."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from promptlane.core.layout import EVAL_RESULTS
from promptlane.core.problems import Problem
from promptlane.core.results import FORMAT, ResultsError, results_rel, to_json, validate


def load_results(repo: Any, prompt_id: str, payload_hash: str, folder: Path | None = None) -> dict | None:
    """The results of exactly this payload, or None when it has none.

    ``repo``: a ``promptlane.repo.Repo`` or the repository root. Raises ``ResultsError`` when
    the file exists but is malformed or names another prompt or hash (hand-edited or corrupt).
    ``folder``: read from there instead of evals/results/ (problems then name that folder).
    """
    root = _root(repo)
    rel = results_rel(prompt_id, payload_hash)
    if folder is not None:
        path = Path(folder) / Path(rel).relative_to(EVAL_RESULTS)
        root, rel = path.parent, str(path)
    try:
        raw = (root / rel).read_bytes()
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{rel} is not valid JSON", [Problem(rel, 1, 1, "PL330", f"is not valid UTF-8 JSON ({exc}); re-run `promptlane eval run {prompt_id} --force`")]) from None
    errors = validate(doc)
    if not errors and (doc["prompt"] != prompt_id or doc["hash"] != payload_hash):
        errors = [f"belongs to {doc['prompt']} {doc['hash'][:19]}..., not {prompt_id} {payload_hash[:19]}..."]
    if errors:
        raise ResultsError(f"{rel} is not a valid {FORMAT} file",
                           [Problem(rel, 1, 1, "PL330", f"{e}; re-run `promptlane eval run {prompt_id} --force`") for e in errors])
    return doc


def _root(repo: Any) -> Path:
    # A Repo's root; not getattr(repo, "root"): every Path has a .root too (it is "/").
    return Path(repo) if isinstance(repo, (str, os.PathLike)) else Path(repo.root)


def write_results(repo: Any, summary: dict, folder: Path | None = None) -> str:
    """Write atomically; return the repository-relative path (or the path in ``folder``)."""
    from promptlane.store.fsio import atomic_write

    errors = validate(summary)
    if errors:  # a bug here must not leave a file the gates would trust
        raise ResultsError(f"refusing to write invalid results: {'; '.join(errors)}")
    rel = results_rel(summary["prompt"], summary["hash"])
    if folder is not None:
        path = Path(folder) / Path(rel).relative_to(EVAL_RESULTS)
        atomic_write(path, to_json(summary))
        return str(path)
    atomic_write(_root(repo) / rel, to_json(summary))
    return rel
