"""Day one, as a new team gets it: the default scaffold runs the promptlane it installed (one
pin, in requirements.txt), names no repository or tag promptlane does not control, refuses an
older promptlane, and `promptlane new` starts a prompt whose evals pass offline."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import BIN, ROOT, git, snapshot_tree
from governed import pl

from promptlane import __version__
from promptlane.core.results import CATEGORIES

PRE_COMMIT = str(BIN / "pre-commit")
HOOK_KEYS = ("id", "name", "description", "entry", "args", "files", "pass_filenames", "always_run", "require_serial")


def _local_hooks(root: Path) -> list[dict]:
    config = yaml.safe_load((root / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    (repo,) = config["repos"]
    assert repo["repo"] == "local"
    return repo["hooks"]


def test_the_default_scaffold_runs_the_installed_promptlane_with_the_manifests_hooks(scaffold):
    config = yaml.safe_load((scaffold / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    assert config["minimum_pre_commit_version"] == "4.4.0"  # the release that named `language: unsupported`
    manifest = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}
    local = _local_hooks(scaffold)
    assert [h["id"] for h in local] == ["promptlane"]  # the one hook; the manifest keeps the three too
    assert {"promptlane-sync", "promptlane-check", "promptlane-audit"} <= set(manifest)
    for hook in local:
        assert hook["language"] == "unsupported"
        # the same hook a remote `repo:` would give: the local copy cannot drift from the manifest
        assert {k: hook.get(k) for k in HOOK_KEYS} == {k: manifest[hook["id"]].get(k) for k in HOOK_KEYS}


def test_no_default_names_a_repository_or_a_tag(scaffold):
    defaults = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    assert defaults["hooks_repo"] == "" and defaults["hooks_rev"] == ""
    assert defaults["promptlane_version"] == __version__  # a plain `cookiecutter` render pins this promptlane
    for path in sorted(p for p in scaffold.rglob("*") if p.is_file() and ".git" not in p.parts):
        text = path.read_text(encoding="utf-8", errors="replace")
        rel = path.relative_to(scaffold).as_posix()
        assert "github.com/promptlane" not in text, rel
        assert not re.search(r"@v0\.1\.0\b|rev: v0\.1\.0", text), rel


def test_requirements_txt_is_the_one_pin(scaffold):
    lines = [line for line in (scaffold / "requirements.txt").read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#")]
    assert lines == [f"promptlane=={__version__}", "pre-commit==4.7.0"]


def test_a_hook_repository_is_still_possible(tmp_path, config_file):
    from promptlane.commands.init import init

    project = init(tmp_path / "remote", {"hooks_repo": "https://git.example.com/promptlane", "hooks_rev": "v9.9.9"},
                   config_file=config_file)
    (repo,) = yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))["repos"]
    assert repo == {"repo": "https://git.example.com/promptlane", "rev": "v9.9.9",
                    "hooks": [{"id": "promptlane"}]}


def test_a_hook_repository_without_a_rev_is_refused(tmp_path, capfd):
    from promptlane.commands.init import main

    code = main([str(tmp_path / "x"), "--no-input", "--hooks-repo", "https://git.example.com/promptlane"])
    assert code == 2
    assert "hooks_rev: must not be empty with a hook repository" in capfd.readouterr().err  # the hook's own process
    assert not (tmp_path / "x").exists()


@pytest.fixture
def config_file(tmp_path) -> str:
    config = tmp_path / "cookiecutter.yml"
    config.write_text(f"cookiecutters_dir: {tmp_path / 'cc'}\nreplay_dir: {tmp_path / 'replay'}\n")
    return str(config)


# ---------------------------------------------------------------- an older promptlane is refused


def _pin(root: Path, version: str) -> None:
    path = root / "requirements.txt"
    path.write_text(path.read_text(encoding="utf-8").replace(f"promptlane=={__version__}", f"promptlane=={version}"),
                    encoding="utf-8")


@pytest.mark.parametrize("argv", [("check",), ("sync",), ("status",), ("audit", "verify")])
def test_a_promptlane_older_than_the_pin_judges_nothing(gov, capsys, argv):
    _pin(gov, "99.0.0")
    (gov / "prompts/support-reply/system.md").write_text("Changed.\n", encoding="utf-8")
    before = snapshot_tree(gov)
    code, out = pl(gov, capsys, *argv)
    assert code == 2
    assert f"requirements.txt:6:13: PL706 pins promptlane 99.0.0, but promptlane {__version__} is running" in out
    assert "python -m pip install -r requirements.txt" in out
    assert snapshot_tree(gov) == before


@pytest.mark.parametrize("line", [f"promptlane=={__version__}", "promptlane>=0.1", "promptlane ~= 0.0.9",
                                  "promptlane @ git+https://git.example.com/promptlane@main", "# promptlane==99.0"])
def test_the_same_or_an_older_pin_or_no_version_lets_promptlane_run(gov, capsys, line):
    path = gov / "requirements.txt"
    path.write_text(re.sub(r"(?m)^promptlane==.*$", line, path.read_text(encoding="utf-8")), encoding="utf-8")
    code, out = pl(gov, capsys, "check")
    assert code == 0, out


def test_check_reports_a_requirements_file_it_cannot_read(gov, capsys):
    (gov / "requirements.txt").write_bytes(b"promptlane==0.1.0\n\xff\n")
    code, out = pl(gov, capsys, "check", str(gov / "requirements.txt"))
    assert code == 1
    assert "requirements.txt:1:1: PL700 is not valid UTF-8" in out


def test_pin_versions_compare_by_release_numbers():
    from promptlane.core.pin import pin_problem

    assert pin_problem("promptlane==0.2.0rc1\n", "0.2.0") is None  # a release is newer than its candidates
    assert pin_problem("promptlane==0.2\n", "0.2.0") is None  # 0.2 and 0.2.0 are one version
    assert pin_problem("promptlane==0.10.0\n", "0.9.9") is not None  # numbers, not text
    assert pin_problem("promptlane==0.10.0\n", "0.10.0") is None
    assert pin_problem("pre-commit==9.9.9\npromptlane-extras==9.9\n", "0.1.0") is None  # not promptlane


# ---------------------------------------------------------------- a new prompt, ready to evaluate


def test_new_writes_a_card_editors_validate_and_starter_tests_per_category(gov, capsys):
    code, out = pl(gov, capsys, "new", "order-status")
    assert code == 0, out
    assert "Created evals/tests/order-status.yml" in out
    card = (gov / "prompts/order-status/card.yml").read_text(encoding="utf-8")
    assert card.splitlines()[0] == "# yaml-language-server: $schema=../../schemas/prompt-card.schema.json"
    tests = yaml.safe_load((gov / "evals/tests/order-status.yml").read_text(encoding="utf-8"))
    assert [t["metadata"]["category"] for t in tests] == list(CATEGORIES)
    assert all(t["assert"] for t in tests)
    assert pl(gov, capsys, "sync")[0] == 1  # versions it
    code, out = pl(gov, capsys, "check")
    assert code == 0, out  # the starter tests' deliberate test data is marked for PL310


def test_new_keeps_tests_that_already_exist(gov, capsys):
    (gov / "evals/tests/order-status.yml").write_text("# ours\n", encoding="utf-8")
    assert pl(gov, capsys, "new", "order-status")[0] == 0
    assert (gov / "evals/tests/order-status.yml").read_text(encoding="utf-8") == "# ours\n"


def _load_provider(root: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("local_echo", root / "evals/providers/local_echo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_local_provider_answers_any_prompt_deterministically_without_personal_data(scaffold):
    provider = _load_provider(scaffold)
    prompt = json.dumps([{"role": "system", "content": "Translate the text."},
                         {"role": "user", "content": "Text: write to ana@example.org, card 4111 1111 1111 1111"}])  # promptlane: allow-pii
    first = provider.call_api(prompt, {}, {"vars": {"text": "anything"}})
    assert first == provider.call_api(prompt, {}, {"vars": {"text": "anything"}})
    assert "write to [e-mail], card [number]" in first["output"]
    assert "ana@example.org" not in first["output"] and "4111" not in first["output"]  # promptlane: allow-pii
    assert first["tokenUsage"]["total"] > 0 and first["cost"] > 0
    plain = provider.call_api("Summarise this.", {}, {})
    assert "Summarise this." in plain["output"]


@pytest.mark.slow
def test_a_new_prompt_with_its_own_variables_passes_its_starter_evals_offline(gov, capsys, monkeypatch):
    from promptlane.commands.new import starter_tests

    assert pl(gov, capsys, "new", "translate")[0] == 0
    folder = gov / "prompts/translate"
    card = folder / "card.yml"
    card.write_text(card.read_text(encoding="utf-8").replace("variables: [customer_name, question]",
                                                              "variables: [language, document]"), encoding="utf-8")
    (folder / "user.md").write_text("Translate into {{ language }}:\n\n{{ document }}\n", encoding="utf-8")
    (gov / "evals/tests/translate.yml").write_text(starter_tests("translate", ["language", "document"], {}),
                                                   encoding="utf-8")
    assert pl(gov, capsys, "sync")[0] == 1
    promptfoo = os.environ.get("PROMPTLANE_PROMPTFOO") or str(ROOT / ".tools/promptfoo/node_modules/.bin/promptfoo")
    if not Path(promptfoo).is_file():
        pytest.skip("the pinned promptfoo is not installed (make promptfoo)")
    monkeypatch.setenv("PROMPTLANE_PROMPTFOO", promptfoo)
    monkeypatch.setenv("PROMPTFOO_PYTHON", sys.executable)
    code, out = pl(gov, capsys, "eval", "run", "translate", "support-reply")
    assert code == 0, out
    assert "translate ... 4/4 passed" in out
    assert "support-reply ... 6/6 passed" in out  # the example is still answered from the help centre


@pytest.mark.slow
def test_a_fresh_scaffold_passes_its_local_hooks_and_a_commit_runs_them(tmp_path, config_file):
    from promptlane.commands.init import init

    project = init(tmp_path / "team-prompts", {}, config_file=config_file)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    git(project, "add", "-A")
    git(project, "commit", "-q", "--no-verify", "-m", "scaffold")
    before = snapshot_tree(project)
    done = subprocess.run([PRE_COMMIT, "run", "--all-files"], cwd=project, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert snapshot_tree(project) == before
    subprocess.run([PRE_COMMIT, "install"], cwd=project, env=env, check=True, capture_output=True)
    system = project / "prompts/support-reply/system.md"
    system.write_text(system.read_text(encoding="utf-8") + "Keep it short.\n", encoding="utf-8")
    git(project, "add", "-A")
    refused = subprocess.run(["git", "commit", "-m", "shorter"], cwd=project, env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "support-reply: patch -> 1.0.1" in refused.stdout + refused.stderr
    git(project, "add", "-A")
    landed = subprocess.run(["git", "commit", "-m", "shorter"], cwd=project, env=env, capture_output=True, text=True)
    assert landed.returncode == 0, landed.stdout + landed.stderr


# ---------------------------------------------------------------- ready for a real team


def test_codeowners_guard_what_decides_a_promotion(scaffold):
    owners = (scaffold / ".github/CODEOWNERS").read_text(encoding="utf-8")
    guarded = {line.split()[0] for line in owners.splitlines() if line.strip() and not line.startswith("#")}
    assert {"/reviews/", "/registry/", "/audit/", "/workflows/", "/evals/", "/.github/",
            "/.pre-commit-config.yaml", "/requirements.txt"} <= guarded
    assert "{{" not in owners


def test_the_readme_walks_a_team_through_making_it_theirs(scaffold):
    readme = (scaffold / "README.md").read_text(encoding="utf-8")
    for needed in ("reviews/reviewers.yml", "**Branch protection.**", "protect `main`", "Code Owners",
                   "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "pull requests from forks", "as a build artifact",
                   "python -m pip install -r requirements.txt"):
        assert needed in readme, needed


def test_a_plain_cookiecutter_render_of_a_used_checkout_holds_no_bytecode(tmp_path, config_file):
    from cookiecutter.main import cookiecutter

    template = tmp_path / "template"
    template.mkdir()
    for part in ("cookiecutter.json", "hooks", "{{cookiecutter.project}}"):
        source = ROOT / part
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, template / part)
    for folder in ("{{cookiecutter.project}}/evals/__pycache__", "{{cookiecutter.project}}/evals/providers/__pycache__"):
        (template / folder).mkdir(parents=True, exist_ok=True)
        (template / folder / "local_echo.cpython-311.pyc").write_bytes(b"\x00stale")
    out = Path(cookiecutter(str(template), no_input=True, output_dir=str(tmp_path / "out"), config_file=config_file))
    assert not [p for p in out.rglob("*") if p.name == "__pycache__" or p.suffix in (".pyc", ".pyo")]
