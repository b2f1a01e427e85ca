"""The cookiecutter template: renders cleanly for many inputs, refuses bad ones, and every
file it renders parses, validates and matches the package's own copies.

Renders go through cookiecutter's Python API (and once through its CLI) with a config file
in a tmp folder, so no test writes to the home directory. Git runs with a throw-away
identity and no global or system config.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_SCHEMAS = ROOT / "src" / "promptlane" / "schemas"
BIN = Path(sys.executable).parent  # the venv running pytest has cookiecutter, check-jsonschema

try:
    from promptlane.init import init, main, template_dir
except ImportError:  # a source checkout without an installed package
    sys.path.insert(0, str(ROOT / "src"))
    from promptlane.init import init, main, template_dir

from promptlane.problems import UsageError  # noqa: E402

DEFAULT_ENVS = ["dev", "staging", "prod"]
DEFAULT_ROLES = ["PM", "Tech Lead", "QA", "Security", "Governance"]
LONG_SLUG = "a" + "-b" * 31 + "c"  # 64 characters, the maximum
assert len(LONG_SLUG) == 64

# Every path of DESIGN.md's "governed repository" table (plus the files that wire it up).
DESIGN_PATHS = [
    "prompts/support-reply/card.yml",
    "prompts/support-reply/system.md",
    "prompts/support-reply/user.md",
    "schemas/prompt-card.example.yml",
    "schemas/prompt-card.schema.json",
    "schemas/prompt-version-schema.yml",
    "schemas/prompt-change-log.yml",
    "evals/eval-config.promptfoo.yml",
    "evals/providers/local_echo.py",
    "evals/render_chain.py",
    "evals/results/.gitkeep",
    "evals/tests/support-reply.yml",
    "ci/eval-gate.yml",
    ".github/workflows/eval-gate.yml",
    "logs/prompt-log-schema.json",
    "logs/log-sample.output.json",
    "HITL_Approval_Template.md",
    "reviews/reviewers.yml",
    "reviews/README.md",
    "workflows/policy-as-code-example.yml",
    "workflows/rollback-flow.md",
    "audit/artifact-audit-log.md",
    "registry/README.md",
    ".pre-commit-config.yaml",
    ".gitattributes",
    ".gitignore",
    "README.md",
]

CASES = {
    "defaults": {},
    "long-slug": {"project": LONG_SLUG},
    "unicode-owner": {"owner": "Zoë Ångström", "project_name": "Prompts für Zoë"},
    "custom-envs": {"environments": "dev,qa,prod"},
    "six-envs-spaced-roles": {"environments": "dev, test ,qa,uat,staging,prod",
                              "reviewer_roles": "Product Owner, Legal"},
}


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="session", autouse=True)
def isolated_env(tmp_path_factory):
    """Cookiecutter config and git identity in tmp: nothing read from or written to $HOME."""
    base = tmp_path_factory.mktemp("env")
    config = base / "cookiecutter-config.yml"
    config.write_text(f"cookiecutters_dir: {base / 'cookiecutters'}\nreplay_dir: {base / 'replay'}\n")
    (base / "gitconfig").write_text("")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COOKIECUTTER_CONFIG", str(config))  # also covers the CLI and promptlane init
        mp.setenv("GIT_CONFIG_GLOBAL", str(base / "gitconfig"))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for who in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{who}_NAME", "Template Test")
            mp.setenv(f"GIT_{who}_EMAIL", "template-test@example.com")
        yield config


def bake(output_dir: Path, config: Path, **context: str) -> Path:
    return Path(cookiecutter(str(ROOT), no_input=True, extra_context=context,
                             output_dir=str(output_dir), config_file=str(config)))


@pytest.fixture(scope="session")
def rendered(tmp_path_factory, isolated_env) -> dict[str, Path]:
    """Each case rendered once for the whole session (renders are read-only in tests)."""
    return {name: bake(tmp_path_factory.mktemp(name), isolated_env, **ctx) for name, ctx in CASES.items()}


@pytest.fixture(params=sorted(CASES))
def case(request, rendered) -> tuple[dict, Path]:
    return CASES[request.param], rendered[request.param]


def files(project: Path) -> list[Path]:
    return sorted(p for p in project.rglob("*") if p.is_file() and ".git" not in p.relative_to(project).parts)


def tree(project: Path) -> dict[str, bytes]:
    return {p.relative_to(project).as_posix(): p.read_bytes() for p in files(project)}


def envs_of(ctx: dict) -> list[str]:
    return [e.strip() for e in ctx.get("environments", ",".join(DEFAULT_ENVS)).split(",")]


def roles_of(ctx: dict) -> list[str]:
    return [r.strip() for r in ctx.get("reviewer_roles", ",".join(DEFAULT_ROLES)).split(",")]


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def card_validator() -> Draft202012Validator:
    card = json.loads((PACKAGE_SCHEMAS / "prompt-card.schema.json").read_text(encoding="utf-8"))
    block = load_yaml(PACKAGE_SCHEMAS / "prompt-version-schema.yml")
    registry = Registry().with_resource(block["$id"], Resource.from_contents(block))
    return Draft202012Validator(card, registry=registry)


def import_file(path: Path, name: str):
    """Import a rendered module without writing __pycache__ into the shared render."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


# ---------------------------------------------------------------- what every render must be


def test_every_design_path_exists(case):
    _, project = case
    missing = [p for p in DESIGN_PATHS if not (project / p).is_file()]
    assert missing == []


def test_nothing_left_unrendered(case):
    _, project = case
    for path in files(project):
        text = path.read_text(encoding="utf-8")
        assert "{{ cookiecutter." not in text and "{{cookiecutter." not in text, path
        assert "{%" not in text, path  # a raw/set block that did not render


def test_text_files_end_with_one_newline(case):
    _, project = case
    for path in files(project):
        data = path.read_bytes()
        if data:
            assert data.endswith(b"\n") and not data.endswith(b"\n\n"), path
            assert b"\r" not in data, path


def test_every_json_and_yaml_file_parses(case):
    _, project = case
    parsed = 0
    for path in files(project):
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
            parsed += 1
        elif path.suffix in (".yml", ".yaml"):
            yaml.safe_load(path.read_text(encoding="utf-8"))
            parsed += 1
    assert parsed >= 14


def test_schema_files_are_byte_identical_to_the_package(case):
    _, project = case
    for name in ("prompt-card.schema.json", "prompt-version-schema.yml"):
        assert (project / "schemas" / name).read_bytes() == (PACKAGE_SCHEMAS / name).read_bytes(), name


def test_log_sample_validates_against_log_schema(case):
    ctx, project = case
    schema = json.loads((project / "logs/prompt-log-schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    sample = json.loads((project / "logs/log-sample.output.json").read_text(encoding="utf-8"))
    assert isinstance(sample, list) and len(sample) == 2
    for record in sample:
        assert list(validator.iter_errors(record)) == []
        assert record["environment"] in envs_of(ctx)
    assert {r["status"] for r in sample} == {"ok", "error"}


def test_log_schema_rejects_an_error_without_a_message(rendered):
    project = rendered["defaults"]
    schema = json.loads((project / "logs/prompt-log-schema.json").read_text(encoding="utf-8"))
    record = json.loads((project / "logs/log-sample.output.json").read_text(encoding="utf-8"))[1]
    record["error"] = None
    assert not Draft202012Validator(schema).is_valid(record)


def test_cards_validate_and_match_their_texts(case):
    ctx, project = case
    validator = card_validator()
    example = load_yaml(project / "schemas/prompt-card.example.yml")
    live = load_yaml(project / "prompts/support-reply/card.yml")
    assert list(validator.iter_errors(example)) == []
    assert list(validator.iter_errors(live)) == []
    assert example["environment"] == envs_of(ctx)[0]
    assert live["owner"] == example["owner"] == ctx.get("owner", "team-prompts")
    # The live card is the example minus the managed block, which sync writes.
    managed = {"version", "hash", "author", "environment"}
    assert not managed & set(live)
    assert {k: v for k, v in example.items() if k not in managed} == live
    used = set()
    for step in live["steps"]:
        text = (project / "prompts/support-reply" / step["file"]).read_text(encoding="utf-8")
        used |= set(re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", text))
    assert used == set(live["variables"]) == {"customer_name", "question"}
    assert [s["role"] for s in live["steps"]] == ["system", "user"]


def test_policy_follows_the_environments(case):
    ctx, project = case
    envs, roles = envs_of(ctx), roles_of(ctx)
    policy = load_yaml(project / "workflows/policy-as-code-example.yml")
    assert policy["environments"] == envs
    assert list(policy["promotion"]) == envs[1:]
    reviewers = load_yaml(project / "reviews/reviewers.yml")
    assert list(reviewers) == roles
    for env, rule in policy["promotion"].items():
        assert isinstance(rule["allowed_branches"], list) and rule["notify"]
        assert set(rule["risk"]) == {"low", "medium", "high"}
        for risk in rule["risk"].values():
            assert 0 <= risk["min_pass_rate"] <= 1
            assert set(risk["min_category_pass_rate"]) == {"accuracy", "hallucination", "cost", "safety"}
            assert isinstance(risk["policy_only"], bool) and isinstance(risk["max_eval_age_days"], int)
            assert set(risk["required_roles"]) <= set(roles)
            assert risk["policy_only"] or risk["required_roles"], env  # someone must approve
    assert policy["promotion"][envs[-1]]["risk"]["high"]["required_roles"] == roles


def test_reviewers_and_hitl_form_follow_the_roles(case):
    ctx, project = case
    roles = roles_of(ctx)
    reviewers = load_yaml(project / "reviews/reviewers.yml")
    for role, emails in reviewers.items():
        assert emails == [role.lower().replace(" ", "-") + "@example.com"]
    form = (project / "HITL_Approval_Template.md").read_text(encoding="utf-8")
    _, front, body = form.split("---\n", 2)
    assert list(yaml.safe_load(front)) == ["prompt", "version", "hash", "reviewer", "role", "decision", "date", "note"]
    assert "## Eval summary" in body
    assert re.findall(r"^## Checklist: (.+)$", body, re.M) == roles
    assert body.count("- [ ] ") == 3 * len(roles)


def test_append_only_files_start_empty(rendered):
    project = rendered["defaults"]
    assert yaml.safe_load((project / "schemas/prompt-change-log.yml").read_text()) is None
    audit = (project / "audit/artifact-audit-log.md").read_text().splitlines()
    assert audit == [
        "# Artifact audit log",
        "",
        "| seq | time | event | prompt | version | hash | actor | detail | prev | row |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]


def test_pre_commit_config_pins_the_hooks(rendered, tmp_path, isolated_env):
    project = bake(tmp_path, isolated_env, hooks_repo="/srv/promptlane", hooks_rev="0123abc")
    config = load_yaml(project / ".pre-commit-config.yaml")
    assert config["repos"] == [{"repo": "/srv/promptlane", "rev": "0123abc", "hooks": [
        {"id": "promptlane-sync"}, {"id": "promptlane-check"}, {"id": "promptlane-audit"}]}]
    gate = (project / "ci/eval-gate.yml").read_text()
    assert 'PROMPTLANE_SPEC: "git+/srv/promptlane@0123abc"' in gate


def test_unicode_survives_as_utf8(rendered):
    project = rendered["unicode-owner"]
    assert 'owner: "Zoë Ångström"' in (project / "prompts/support-reply/card.yml").read_text(encoding="utf-8")
    assert (project / "README.md").read_text(encoding="utf-8").startswith("# Prompts für Zoë\n")


def test_long_slug_names_the_folder(rendered):
    assert rendered["long-slug"].name == LONG_SLUG


# ---------------------------------------------------------------- the CI workflow


def test_workflow_copies_are_identical(case):
    _, project = case
    assert (project / "ci/eval-gate.yml").read_bytes() == (project / ".github/workflows/eval-gate.yml").read_bytes()


def test_workflow_keeps_github_expressions_and_steps(rendered):
    gate = (rendered["defaults"] / ".github/workflows/eval-gate.yml").read_text()
    assert "${{ github.base_ref }}" in gate
    for command in ("promptlane eval plan", "promptlane eval run", "pre-commit run --all-files",
                    'promptlane audit verify --base "origin/$BASE_REF"', 'PROMPTFOO_VERSION: "0.121.20"'):
        assert command in gate


@pytest.mark.parametrize("name", ["defaults", "unicode-owner"])
def test_workflows_validate_against_github_schema(rendered, name):
    tool = BIN / "check-jsonschema"
    if not tool.exists():
        tool = shutil.which("check-jsonschema")
    if not tool:
        pytest.skip("check-jsonschema is not installed")
    project = rendered[name]
    result = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.github-workflows",
         str(project / ".github/workflows/eval-gate.yml"), str(project / "ci/eval-gate.yml")],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- bad input is refused


@pytest.mark.parametrize(("context", "variable"), [
    ({"project": "Bad Slug"}, "project"),
    ({"project": LONG_SLUG + "x"}, "project"),
    ({"environments": "dev"}, "environments"),
    ({"environments": "dev,staging,dev"}, "environments"),
    ({"environments": "a,b,c,d,e,f,g"}, "environments"),
    ({"environments": "dev,Prod"}, "environments"),
    ({"owner": ""}, "owner"),
    ({"owner": 'say "hi"'}, "owner"),
    ({"reviewer_roles": ""}, "reviewer_roles"),
    ({"hooks_rev": " "}, "hooks_rev"),
])
def test_bad_input_fails_and_leaves_nothing(tmp_path, isolated_env, capfd, context, variable):
    with pytest.raises(FailedHookException):
        bake(tmp_path, isolated_env, **context)
    assert list(tmp_path.iterdir()) == []
    err = capfd.readouterr().err
    assert f"ERROR: {variable}: " in err


def test_a_choice_outside_the_list_is_refused_by_cookiecutter(tmp_path, isolated_env):
    with pytest.raises(ValueError, match="make_initial_commit"):
        bake(tmp_path, isolated_env, make_initial_commit="maybe")
    assert list(tmp_path.iterdir()) == []


def test_every_bad_answer_is_reported_at_once(tmp_path, isolated_env, capfd):
    with pytest.raises(FailedHookException):
        bake(tmp_path, isolated_env, project="Bad Slug", owner="", environments="dev")
    err = capfd.readouterr().err
    assert all(f"ERROR: {v}: " in err for v in ("project", "owner", "environments"))


# ---------------------------------------------------------------- git, post-generation


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(project), *args], capture_output=True, text=True, check=True).stdout


def test_post_gen_initialises_git_without_committing(rendered):
    project = rendered["defaults"]
    assert git(project, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert subprocess.run(["git", "-C", str(project), "rev-parse", "--verify", "HEAD"],
                          capture_output=True).returncode != 0


def test_initial_commit_when_asked(tmp_path, isolated_env):
    project = bake(tmp_path, isolated_env, make_initial_commit="yes")
    assert git(project, "rev-list", "--count", "HEAD").strip() == "1"
    assert git(project, "status", "--porcelain") == ""
    committed = set(git(project, "ls-files").split())
    assert set(DESIGN_PATHS) <= committed


# ---------------------------------------------------------------- promptlane init


def test_template_dir_is_the_checkout():
    assert template_dir() == ROOT
    assert (template_dir() / "{{cookiecutter.project}}").is_dir()


def test_init_and_cookiecutter_cli_render_identical_trees(tmp_path, isolated_env):
    context = {"owner": "Zoë Ångström", "environments": "dev,qa,prod"}
    via_init = init(tmp_path / "a" / "prompt-repo", context)
    out = tmp_path / "b"
    subprocess.run(
        [str(BIN / "cookiecutter"), "--no-input", "--config-file", str(isolated_env), "-o", str(out),
         str(ROOT), *(f"{k}={v}" for k, v in context.items())],
        check=True, capture_output=True,
    )
    via_cli = tree(out / "prompt-repo")
    assert sorted(tree(via_init)) == sorted(via_cli)
    assert tree(via_init) == via_cli


def test_init_names_the_project_after_the_folder(tmp_path):
    project = init(tmp_path / "team-prompts-repo", {})
    assert project == tmp_path / "team-prompts-repo"
    assert "# Team Prompts Repo\n" in (project / "README.md").read_text()


def test_init_with_a_different_project_still_fills_the_target(tmp_path):
    target = tmp_path / "where"
    assert init(target, {"project": "my-prompts"}) == target
    assert (target / "prompts/support-reply/card.yml").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["where"]  # no staging folder left


def test_init_fills_an_existing_empty_folder(tmp_path):
    target = tmp_path / "empty-one"
    target.mkdir()
    assert init(target, {}) == target
    assert (target / "README.md").is_file()


def test_init_refuses_a_non_empty_folder(tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(UsageError):
        init(target, {})
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_main_scaffolds_and_reports_bad_input(tmp_path, capfd):
    assert main([str(tmp_path / "ok-repo"), "--owner", "team-x", "--environments", "dev,prod",
                 "--reviewer-roles", "QA", "--no-input"]) == 0
    policy = load_yaml(tmp_path / "ok-repo/workflows/policy-as-code-example.yml")
    assert policy["environments"] == ["dev", "prod"]
    assert main([str(tmp_path / "bad-repo"), "--environments", "dev", "--no-input"]) == 2
    assert "ERROR: environments: " in capfd.readouterr().err
    assert not (tmp_path / "bad-repo").exists()


# ---------------------------------------------------------------- the evals run as shipped


def test_local_provider_is_deterministic_and_keeps_pii_out(rendered):
    echo = import_file(rendered["defaults"] / "evals/providers/local_echo.py", "local_echo")
    context = {"vars": {"customer_name": "Eve", "question": "Card 4111 1111 1111 1111, refund please"}}
    first = echo.call_api("prompt text", {"config": {}}, context)
    assert first == echo.call_api("prompt text", {"config": {}}, context)
    assert "4111" not in first["output"] and "refund" in first["output"]
    usage = first["tokenUsage"]
    assert usage["total"] == usage["prompt"] + usage["completion"] and first["cost"] > 0


def test_prompt_function_renders_the_chain(rendered, monkeypatch):
    monkeypatch.delenv("PROMPTLANE_PROMPT", raising=False)
    chain = import_file(rendered["defaults"] / "evals/render_chain.py", "render_chain")
    out = json.loads(chain.render({"vars": {"customer_name": "Ana", "question": "Where is my invoice?"},
                                   "config": {"prompt": "support-reply"}}))
    assert [m["role"] for m in out] == ["system", "user"]
    assert "Ana" in out[0]["content"] and "Where is my invoice?" in out[1]["content"]
    assert "{{" not in json.dumps(out)
    with pytest.raises(KeyError):
        chain.render({"vars": {"customer_name": "Ana"}, "config": {"prompt": "support-reply"}})


def test_every_eval_test_names_one_category(rendered):
    tests = load_yaml(rendered["defaults"] / "evals/tests/support-reply.yml")
    categories = [t["metadata"]["category"] for t in tests]
    assert set(categories) == {"accuracy", "hallucination", "cost", "safety"}
    assert all(t["assert"] for t in tests)


def promptfoo_binary() -> str | None:
    local = ROOT / ".tools/promptfoo/node_modules/.bin/promptfoo"
    return str(local) if local.exists() else shutil.which("promptfoo")


@pytest.mark.slow
@pytest.mark.skipif(promptfoo_binary() is None, reason="promptfoo is not installed")
def test_promptfoo_runs_the_shipped_config_offline(rendered, tmp_path):
    project = tmp_path / "repo"  # a copy: the Python provider may leave __pycache__ behind
    shutil.copytree(rendered["defaults"], project)
    env = {**os.environ, "PROMPTFOO_CONFIG_DIR": str(tmp_path / "pf"), "PROMPTFOO_DISABLE_TELEMETRY": "1",
           "PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_PYTHON": sys.executable}
    env.pop("PROMPTLANE_PROMPT", None)
    out = tmp_path / "results.json"
    result = subprocess.run(
        [promptfoo_binary(), "eval", "-c", "evals/eval-config.promptfoo.yml", "--no-cache", "--no-write",
         "-o", str(out)],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = json.loads(out.read_text())["results"]["results"]
    assert len(rows) == 6 and all(r["success"] for r in rows)
    assert {r["testCase"]["metadata"]["category"] for r in rows} == {"accuracy", "hallucination", "cost", "safety"}
    assert all(r["response"]["tokenUsage"]["total"] > 0 and r["cost"] > 0 for r in rows)
