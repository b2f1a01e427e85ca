"""The eval inputs a run of one prompt would use now, read from the repository (the digests are
core/evalinputs.py): ``current_inputs(repo, card)``. ``eval run`` records them in the results;
the gates, ``eval plan`` and the verification side compare a results file's with them.
"""
from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

from promptlane.core.evalinputs import CARRIED, EVAL_CONFIG, EVALS, file_digest, file_refs, make_inputs, provider_list, ref_target, tests_rel
from promptlane.core.problems import Problem, PromptlaneError
from promptlane.store.yamlfile import load_file


class InputsError(PromptlaneError):
    """The eval config or the tests cannot be read, so the current inputs are unknown."""


def current_inputs(repo: Any, card: Any, bound: str = "eval run") -> dict[str, Any]:
    """The ``inputs`` an eval of ``card`` (sound) would record if it ran now; InputsError when the
    eval config or the tests file cannot be read (each problem at its line)."""
    root = Path(repo.root)
    parts, config_files = _config(repo, root)
    rel = tests_rel(card.prompt_id)
    tests = _data(root, rel) if (root / rel).is_file() else None
    return make_inputs(parts, config_files, tests, _files(root, tests), provider_list(parts.get("providers"), card), bound)


def _config(repo: Any, root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The eval config's carried parts and the digests of the files they name, read once per run
    (``status`` and ``check`` ask the gates of every prompt; the config is the same for all)."""
    memo = repo.__dict__.setdefault("_eval_config_memo", {}) if hasattr(repo, "__dict__") else {}
    if "config" not in memo:
        parts: dict[str, Any] = {}
        if (root / EVAL_CONFIG).is_file():
            data = _data(root, EVAL_CONFIG)
            if not isinstance(data, dict):
                raise InputsError(f"{EVAL_CONFIG} is not a mapping", [Problem(EVAL_CONFIG, 1, 1, "PL324", "must be a promptfoo config (a YAML mapping)")])
            parts = {key: data[key] for key in CARRIED if data.get(key) is not None}
        memo["config"] = (parts, _files(root, parts))
    result: tuple[dict[str, Any], dict[str, Any]] = memo["config"]
    return result


def _data(root: Path, rel: str) -> Any:
    loaded = load_file(str(root / rel), rel)
    if loaded.problems:
        raise InputsError(f"{rel} cannot be read", loaded.problems)
    return loaded.data


def _files(root: Path, value: Any) -> dict[str, Any]:
    """Each ``file://`` reference -> the digest of what it names (a glob: of each match), None when missing."""
    base = root / EVALS
    found: dict[str, Any] = {}
    for ref in file_refs(value):
        target = ref_target(ref)
        path = Path(target) if Path(target).is_absolute() else base / target
        if any(c in target for c in "*?["):
            found[ref] = {Path(match).relative_to(base).as_posix() if Path(match).is_relative_to(base) else match: _digest(Path(match))
                          for match in sorted(glob.glob(str(path)))}
        else:
            found[ref] = _digest(path)
    return found


def _digest(path: Path) -> str | None:
    try:
        return file_digest(path.read_bytes())
    except OSError:  # missing, a folder, unreadable: not what the run read
        return None
