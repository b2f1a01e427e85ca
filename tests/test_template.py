"""The cookiecutter template: renders cleanly for many inputs, refuses bad ones, and every
file it renders parses, validates and matches the package's own copies.

Renders go through cookiecutter's Python API (and once through its CLI) with a config file
in a tmp folder, so no test writes to the home directory. Git runs with a throw-away
identity and no global or system config.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import re
import sys
from pathlib import Path

import pytest
import yaml
from cookiecutter.main import cookiecutter
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_SCHEMAS = ROOT / "src" / "promptlane" / "schemas"
BIN = Path(sys.executable).parent  # the venv running pytest has cookiecutter, check-jsonschema

DEFAULT_ENVS = ["dev", "staging", "prod"]
DEFAULT_ROLES = ["PM", "Tech Lead", "QA", "Security", "Governance"]
LONG_SLUG = "a" + "-b" * 31 + "c"  # 64 characters, the maximum
assert len(LONG_SLUG) == 64

# Every path of DESIGN.md's "governed repository" table (plus the files that wire it up).
DESIGN_PATHS = [
    "prompts/support-reply/card.yml",
    "prompts/support-reply/system.md",
    "prompts/support-reply/user.md",
    "prompts/triage-reply/card.yml",
    "prompts/triage-reply/extract-system.md",
    "prompts/triage-reply/extract-user.md",
    "prompts/triage-reply/draft-system.md",
    "prompts/triage-reply/draft-user.md",
    "schemas/prompt-card.example.yml",
    "schemas/prompt-card.schema.json",
    "schemas/prompt-version-schema.yml",
    "schemas/prompt-change-log.yml",
    "evals/eval-config.promptfoo.yml",
    "evals/providers/local_echo.py",
    "evals/render_chain.py",
    "evals/results/.gitkeep",
    "evals/tests/support-reply.yml",
    "evals/tests/triage-reply.yml",
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
                              "reviewer_roles": "Product Owner, Legal, Governance"},
    "governance-only": {"reviewer_roles": "Governance"},
    "governance-first": {"reviewer_roles": "Governance,Tech Lead,QA"},
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
    """The package's card schema on its own: an empty registry, so a $ref outside the file fails."""
    card = json.loads((PACKAGE_SCHEMAS / "prompt-card.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(card, registry=Registry())


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
    # The live card is the example, already versioned by sync as the template's first version.
    managed = {"version", "hash", "author", "environment"}
    assert {k: v for k, v in example.items() if k not in managed} == {k: v for k, v in live.items() if k not in managed}
    assert (live["version"], live["hash"], live["environment"]) == ("1.0.0", example["hash"], envs_of(ctx)[0])
    used = set()
    for step in live["steps"]:
        text = (project / "prompts/support-reply" / step["file"]).read_text(encoding="utf-8")
        used |= set(re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", text))
    assert used == set(live["variables"]) == {"customer_name", "question"}
    assert [s["role"] for s in live["steps"]] == ["system", "user"]


def test_the_example_chain_validates_and_is_versioned_as_the_first_one(case):
    """prompts/triage-reply, the second example: a chain of two calls, at 1.0.0 in the first
    environment; its hash is true (`check --all` below proves it), its texts use its inputs."""
    ctx, project = case
    chain = load_yaml(project / "prompts/triage-reply/card.yml")
    assert list(card_validator().iter_errors(chain)) == []
    assert chain["owner"] == ctx.get("owner", "team-prompts") and "steps" not in chain
    assert (chain["version"], chain["author"], chain["environment"]) == ("1.0.0", "promptlane init", envs_of(ctx)[0])
    assert [call["name"] for call in chain["calls"]] == ["extract", "draft"]
    used, outputs = set(), set()
    for call in chain["calls"]:
        for step in call["steps"]:
            text = (project / "prompts/triage-reply" / step["file"]).read_text(encoding="utf-8")
            used |= set(re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", text))
            outputs |= set(re.findall(r"\{\{\s*([a-z_][a-z0-9_]*)\.output\s*\}\}", text))
    assert used == set(chain["variables"]) == {"customer_name", "message"} and outputs == {"extract"}
    lock = json.loads((project / "registry/triage-reply.lock.json").read_text(encoding="utf-8"))
    assert lock["environments"] == {env: ("1.0.0" if i == 0 else None) for i, env in enumerate(envs_of(ctx))}
    assert [v["hash"] for v in lock["versions"]] == [chain["hash"]]


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


def test_append_only_files_hold_the_first_version_only(rendered):
    from promptlane.core.chain import verify_text

    project = rendered["defaults"]
    entries = yaml.safe_load((project / "schemas/prompt-change-log.yml").read_text())
    assert [(e["event"], e["prompt"], e["version"], e["environments"]) for e in entries] == [
        ("version", "support-reply", "1.0.0", {"dev": "1.0.0"}), ("version", "triage-reply", "1.0.0", {"dev": "1.0.0"})]
    audit = (project / "audit/artifact-audit-log.md").read_text()
    lines = audit.splitlines()
    assert lines[0] == "# Artifact audit log"
    assert lines[-4:-2] == [
        "| seq | time | event | prompt | version | hash | actor | detail | prev | row |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    assert lines[-2].startswith("| 1 | ") and "| triage-reply | 1.0.0 |" in lines[-1]
    assert lines[-1].startswith("| 2 | ") and verify_text(audit) == []


def test_init_without_a_terminal_takes_the_defaults(tmp_path):
    """`promptlane init DIR` in a pipe or CI cannot prompt: defaults, a note, no EOF traceback."""
    from conftest import BIN

    done = subprocess.run([str(BIN / "promptlane"), "init", str(tmp_path / "piped")], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stdin is not a terminal; using defaults" in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "piped/prompts/support-reply/card.yml").is_file()


# ---------------------------------------------------------------- the roles chosen, and only those

# Generated or third-party files that name no role (a lock file's base64 may spell "QA").
NOT_ROLE_TEXT = {"evals/promptfoo/package-lock.json"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_rendered_file_names_only_the_chosen_roles(rendered, name):
    """No default role the team left out survives in a comment, an example command or a form."""
    project, chosen = rendered[name], roles_of(CASES[name])
    left_out = [role for role in DEFAULT_ROLES if role not in chosen]
    for path in files(project):
        rel = path.relative_to(project).as_posix()
        if rel in NOT_ROLE_TEXT:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for role in left_out:
            found = re.search(rf"(?<![\w-]){re.escape(role)}(?![\w-])", text)
            assert found is None, f"{rel} names {role!r}, which {name} left out: ...{text[max(0, found.start() - 60):found.end() + 20]}..."


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_render_passes_its_own_checks(rendered, name, tmp_path):
    """`promptlane check --all` on each role combination's scaffold: policy, reviewers, forms agree."""
    from conftest import BIN

    done = subprocess.run([str(BIN / "promptlane"), "-C", str(rendered[name]), "check", "--all"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_hook_names_the_role_promptlane_asks_to_approve_policy_changes():
    from promptlane.core.policy import POLICY_REVIEW_ROLE

    hook = (ROOT / "hooks/pre_gen_project.py").read_text(encoding="utf-8")
    assert f'POLICY_APPROVER = "{POLICY_REVIEW_ROLE}"' in hook


@pytest.mark.parametrize("roles,needle", [
    ("PM,Tech Lead,QA,Security", "policy changes are approved by 'Governance', which is not among the roles "
                                 "(PM, Tech Lead, QA, Security)"),
    ("PM,governance", "'governance' must be spelled 'Governance'"),
])
def test_leaving_out_the_policy_approver_is_refused_with_nothing_written(tmp_path, isolated_env, roles, needle):
    from cookiecutter.exceptions import FailedHookException

    from conftest import BIN

    with pytest.raises(FailedHookException):
        bake(tmp_path / "cookiecutter", isolated_env, reviewer_roles=roles)
    assert list((tmp_path / "cookiecutter").iterdir()) == []
    done = subprocess.run([str(BIN / "promptlane"), "init", str(tmp_path / "init" / "repo"), "--no-input",
                           "--reviewer-roles", roles], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"ERROR: reviewer_roles: {needle}" in done.stderr and "nothing was created" in done.stderr
    assert "add it (e.g. PM,Tech Lead,QA,Security,Governance)" in done.stderr or "spelled" in needle
    assert list((tmp_path / "init").iterdir()) == []
