"""A prompt's eval test file, ``evals/tests/<id>.yml``, read for ``promptlane check``: parsed by
the core's C loader, judged by core/evaltests.py, and the eval config's ``defaultTest.vars``
(which give a value for every test) read once per run."""
from __future__ import annotations

from typing import Any

from promptlane.core.evalinputs import EVAL_CONFIG, EVALS, tests_rel
from promptlane.core.evaltests import tests_problems
from promptlane.core.problems import Problem
from promptlane.core.yamltext import Loaded
from promptlane.store.yamlfile import load_file

def read_tests(repo: Any, prompt_id: str) -> Loaded | None:
    """The parsed test file of ``prompt_id`` (problems included), None when it has none."""
    rel = tests_rel(prompt_id)
    try:
        return load_file(str(repo.root / rel), rel)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def default_vars(repo: Any) -> dict[str, Any] | None:
    """``defaultTest.vars`` of the eval config ({} without one); None when the config cannot be
    read (its own check reports why), so no test is blamed for a var the config might give."""
    memo = repo.__dict__.setdefault("_eval_default_vars", {})
    if "vars" not in memo:
        memo["vars"] = _default_vars(repo)
    found: dict[str, Any] | None = memo["vars"]
    return found


def _default_vars(repo: Any) -> dict[str, Any] | None:
    if not (repo.root / EVAL_CONFIG).is_file():
        return {}
    loaded = load_file(str(repo.root / EVAL_CONFIG), EVAL_CONFIG)
    if loaded.problems or not isinstance(loaded.data, dict):
        return None
    default_test = loaded.data.get("defaultTest")
    given = default_test.get("vars") if isinstance(default_test, dict) else None
    return given if isinstance(given, dict) else {}


def file_problems(repo: Any, loaded: Loaded, prompt_id: str, variables: list[str] | None) -> list[Problem]:
    """The problems of a read test file, with the eval config's default vars."""
    return tests_problems(loaded, prompt_id, variables, default_vars(repo) if variables is not None else None)


def stray_problems(repo: Any, rels: list[str] | None) -> list[Problem]:
    """Test files ``eval run`` never reads: ``evals/tests/<x>.yml`` of no prompt (PL341, with the
    closest prompt id) and ``<id>.yaml`` (PL344). ``rels``: the files given, None for all."""
    from promptlane.core.suggest import closest

    folder = repo.root / EVALS / "tests"
    if rels is None:
        rels = sorted(f"{EVALS}/tests/{path.name}" for path in (*folder.glob("*.yml"), *folder.glob("*.yaml")) if path.is_file())
    found = []
    for rel in rels:
        parts = rel.split("/")
        if len(parts) != 3 or parts[:2] != [EVALS, "tests"] or not parts[2].endswith((".yml", ".yaml")):
            continue
        name, ext = parts[2].rsplit(".", 1)
        if ext == "yaml":
            found.append(Problem(rel, 1, 1, "PL344", f"is not read: `promptlane eval run` reads {tests_rel(name)}; "
                                                     f"rename it (`git mv {rel} {tests_rel(name)}`)"))
        elif not repo.prompt_dir(name).is_dir() and not (repo.root / repo.lock_rel(name)).exists():
            hint = closest(name, repo.prompt_ids())
            where = f" (did you mean {tests_rel(hint)}, the tests of prompts/{hint}?)" if hint else ""
            found.append(Problem(rel, 1, 1, "PL341", f"is the tests file of no prompt: prompts/{name}/ does not exist{where}; "
                                                     "name it after the prompt's id, or remove it"))
    return found
