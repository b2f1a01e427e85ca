"""The pin in requirements.txt: read as pip reads it (core/pin.py), from a regular file and
only its first 64 KiB (store/pinfile.py); and the hook repository's values written into
.pre-commit-config.yaml so that any string survives exactly."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import BIN, snapshot_tree
from governed import pl

from promptlane import __version__
from promptlane.core.pin import pin_problem
from promptlane.core.requirements import pinned

RUNNING = "0.1.0"


def _refusal(text: str, running: str = RUNNING) -> str | None:
    found = pin_problem(text, running)
    return None if found is None else f"{found.line}:{found.col}: {found.message.split(':')[0]}"


# ---------------------------------------------------------------- the rule (core/pin.py)


@pytest.mark.parametrize(("text", "expected"), [
    ("promptlane==0.2.0\n", "1:13: pins promptlane 0.2.0, but promptlane 0.1.0 is running"),
    # names compare as PEP 503 says: case does not matter
    ("PromptLane==0.2.0\n", "1:13: pins promptlane 0.2.0, but promptlane 0.1.0 is running"),
    ("PROMPTLANE == 0.2.0\n", "1:15: pins promptlane 0.2.0, but promptlane 0.1.0 is running"),
    # every specifier is read, and the highest lower bound is the one reported
    ("promptlane>=0.0.1,==0.2.0\n", "1:21: pins promptlane 0.2.0, but promptlane 0.1.0 is running"),
    ("promptlane==0.2.0,>=0.0.1\n", "1:13: pins promptlane 0.2.0, but promptlane 0.1.0 is running"),
    ("promptlane >= 0.0.1, >= 0.3, < 2\n", "1:25: pins promptlane 0.3, but promptlane 0.1.0 is running"),
    # `>` excludes its own version
    ("promptlane>0.1.0\n", "1:12: pins promptlane >0.1.0, but promptlane 0.1.0 is running"),
    # post-releases, epochs, pre-releases, ===, ~=, wildcards: reported as written
    ("promptlane==0.1.0.post1\n", "1:13: pins promptlane 0.1.0.post1, but promptlane 0.1.0 is running"),
    ("promptlane==0!0.2.0\n", "1:13: pins promptlane 0!0.2.0, but promptlane 0.1.0 is running"),
    ("promptlane==1!0.0.1\n", "1:13: pins promptlane 1!0.0.1, but promptlane 0.1.0 is running"),
    ("promptlane==0.2.0rc1\n", "1:13: pins promptlane 0.2.0rc1, but promptlane 0.1.0 is running"),
    ("promptlane===0.2.0\n", "1:14: pins promptlane 0.2.0, but promptlane 0.1.0 is running"),
    ("promptlane~=0.2\n", "1:13: pins promptlane 0.2, but promptlane 0.1.0 is running"),
    ("promptlane==0.2.*\n", "1:13: pins promptlane 0.2.*, but promptlane 0.1.0 is running"),
    # extras, parentheses, a marker (not evaluated), a comment, options and continuations
    ("promptlane[extra] (>=0.2, <1)\n", "1:22: pins promptlane 0.2, but promptlane 0.1.0 is running"),
    ("promptlane==0.2.0 ; python_version < '3'\n", "1:13: pins promptlane 0.2.0, but promptlane 0.1.0 is running"),
    ("promptlane==0.2.0  # the next one\n", "1:13: pins promptlane 0.2.0, but promptlane 0.1.0 is running"),
    ("-r base.txt\n--index-url https://pypi.example.com/simple\n\n# pins\npromptlane==0.2.0 \\\n"
     "    --hash=sha256:00ff\n", "5:13: pins promptlane 0.2.0, but promptlane 0.1.0 is running"),
    ("promptlane \\\n  >=0.3.0\n", "2:5: pins promptlane 0.3.0, but promptlane 0.1.0 is running"),
    # a line that is not a requirement is skipped; the next one pins
    ("promptlane==not a version\npromptlane==0.2.0\n", "2:13: pins promptlane 0.2.0, but promptlane 0.1.0 is running"),
])
def test_a_newer_pin_is_refused_where_its_version_is_written(text, expected):
    assert _refusal(text) == expected


@pytest.mark.parametrize("text", [
    "promptlane==0.1.0\n", "promptlane>=0.1\n", "promptlane ~= 0.0.9\n", "promptlane==0.1.*\n", "promptlane>0.0.9\n",
    "promptlane==0.0.9.post3\n", "promptlane>=0.0.1,==0.1.0\n",
    # upper bounds and exclusions never refuse a newer promptlane
    "promptlane<0.1\n", "promptlane<=0.0.1,!=0.1.0\n", "promptlane!=0.1.0\n", "promptlane\n",
    # not promptlane: another project (prompt-lane and prompt_lane are one name, not this one)
    "prompt-lane==9.0\n", "prompt_lane==9.0\n", "promptlane-extras==9.9\n", "xpromptlane==9\n",
    # not a pin: a URL, a comment, an option, a line pip would refuse, === with no version
    "promptlane @ git+https://git.example.com/promptlane@main\n", "# promptlane==99.0\n", "  # promptlane==99.0\n",
    "-e git+https://git.example.com/x#egg=promptlane==99\n", "promptlane==99.0 junk\n", "promptlane===main\n",
    # the first promptlane requirement decides, even when it pins nothing
    "promptlane<2\npromptlane==99.0\n", "promptlane @ file:///wheels/promptlane.whl\npromptlane==99.0\n",
    # a comment line ends a continuation and stays a comment
    "pre-commit==4.7.0 \\\n# promptlane==99.0\n",
])
def test_an_older_or_equal_pin_or_no_pin_lets_promptlane_run(text):
    assert _refusal(text) is None


def test_a_newer_running_promptlane_passes_and_pre_releases_compare_as_pep_440_says():
    assert _refusal("promptlane==0.2.0rc1\n", "0.2.0rc1") is None
    assert _refusal("promptlane==0.2.0rc1\n", "0.2.0") is None
    assert _refusal("promptlane==0.2.0\n", "0.2.0rc1") is not None  # a release candidate is older
    assert _refusal("promptlane==0.2.*\n", "0.2.0rc1") is None  # ==0.2.* allows 0.2's pre-releases
    assert _refusal("promptlane>0.1.0\n", "0.1.1") is None
    assert _refusal("promptlane==1.0\n", "1.0.0") is None  # trailing zeros do not count
    assert _refusal("promptlane==0.10.0\n", "0.9.9") is not None  # numbers, not text


def test_the_rule_is_linear_in_its_text():
    """A line of 40,000 spaces after the name took the old regex 13 s."""
    hostile = [
        "promptlane" + " " * 60_000 + "x\n",
        " " * 60_000 + "\n",
        "promptlane==" + " " * 60_000 + "0.2.0\n",
        "promptlane" + "=" * 60_000 + "\n",
        "promptlane>=0.1" + ", >=0.1" * 8_000 + "\n",
        "promptlane" + "a#" * 30_000 + "\n",
        "promptlane" + "a-" * 30_000 + "\n",
        "\\\n" * 30_000 + "promptlane==0.2.0\n",
        "promptlane==" + "9" * 60_000 + "\n",  # too long for int(): not a version
        ("x==1\n" * 12_000),
    ]
    for text in hostile:
        start = time.perf_counter()
        pin_problem(text, RUNNING)
        assert time.perf_counter() - start < 1.0, text[:40]
    assert pinned("promptlane==" + " " * 60_000 + "0.2.0\n") is not None


# ---------------------------------------------------------------- the file (store/pinfile.py)


def _write(root: Path, data: bytes) -> None:
    (root / "requirements.txt").unlink(missing_ok=True)
    (root / "requirements.txt").write_bytes(data)


def test_only_the_first_64_kib_are_read_and_a_pin_below_them_is_ignored(gov, capsys):
    from promptlane.store.pinfile import LIMIT, read_requirements
    from promptlane.store.repo import Repo

    path = gov / "requirements.txt"
    with path.open("wb") as handle:  # a sparse 200 MB file, its pin on the first line
        handle.write(b"promptlane==99.0.0\n")
        handle.truncate(200 * 1024 * 1024)
    start = time.perf_counter()
    text = read_requirements(Repo(gov))
    assert isinstance(text, str) and text.startswith("promptlane==99.0.0\n") and len(text) <= LIMIT
    code, out = pl(gov, capsys, "status")
    assert code == 2 and "requirements.txt:1:13: PL706 pins promptlane 99.0.0" in out
    assert time.perf_counter() - start < 5

    line = b"# a comment line, repeated past the limit\n"
    filler = line * (LIMIT // len(line) + 1)
    _write(gov, filler + b"promptlane==99.0.0\n")
    assert pl(gov, capsys, "check", "--all")[0] == 0

    # the line the limit cuts is dropped, not read as a shorter version
    _write(gov, b"#" * (LIMIT - 15) + b"\npromptlane==0.10.0\n")
    text = read_requirements(Repo(gov))
    assert isinstance(text, str) and text.endswith("\n") and "promptlane" not in text


def _run(root: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "promptlane", *argv], cwd=root, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_requirements_file_is_not_opened(gov):
    (gov / "requirements.txt").unlink()
    os.mkfifo(gov / "requirements.txt")
    before = snapshot_tree(gov)
    for argv in (("status",), ("audit", "verify"), ("check", "--all"), ("check", "requirements.txt")):
        try:
            done = _run(gov, *argv)
        except subprocess.TimeoutExpired:
            pytest.fail(f"promptlane {' '.join(argv)} hung on a FIFO requirements.txt")
        if argv[0] == "check":
            assert done.returncode == 1, done.stdout + done.stderr
            assert "requirements.txt:1:1: PL700 is not a regular file" in done.stdout
        else:
            assert done.returncode == 0, done.stdout + done.stderr
    assert snapshot_tree(gov) == before


def test_a_folder_or_an_unreadable_requirements_file_is_reported_not_raised(gov, capsys):
    (gov / "requirements.txt").unlink()
    (gov / "requirements.txt").mkdir()
    code, out = pl(gov, capsys, "check", "--all")
    assert code == 1 and "requirements.txt:1:1: PL700 is not a regular file; make it a readable file" in out
    (gov / "requirements.txt").rmdir()
    (gov / "requirements.txt").symlink_to("nowhere.txt")
    assert pl(gov, capsys, "check", "--all")[0] == 0  # a dangling link: no file, as before
    _write(gov, b"\xef\xbb\xbfpromptlane==99.0.0\n")  # a BOM is not part of the name
    code, out = pl(gov, capsys, "check", "--all")
    assert code == 2 and "requirements.txt:1:13: PL706 pins promptlane 99.0.0" in out


# ---------------------------------------------------------------- the hook repository's values


@pytest.fixture
def config_file(tmp_path) -> str:
    config = tmp_path / "cookiecutter.yml"
    config.write_text(f"cookiecutters_dir: {tmp_path / 'cc'}\nreplay_dir: {tmp_path / 'replay'}\n")
    return str(config)


HOOK_VALUES = [
    ("https://git.example.com/promptlane", "1.0"),  # a float, unquoted
    ("https://git.example.com/promptlane", "1234567"),  # an int
    ("https://git.example.com/promptlane", "v1 # x"),  # a comment, unquoted
    ("https://git.example.com/promptlane", "v1: x"),  # a mapping: invalid YAML, unquoted
    ("{a: b}", "v1"),  # a flow mapping
    ("https://git.example.com/promptlane", "true"),
    ("https://git.example.com/promptlane", "null"),
    ("https://git.example.com/promptlane", "~"),
    ("https://git.example.com/promptlane", "0x1F"),
    ("- a", "[v1]"),
    ("&anchor", "*alias"),
    ("'quoted'", "\"v1\""),
    ("C:\\src\\promptlane", "it's <&> caf\u00e9 \u2028 \u0085"),  # backslashes; characters YAML would fold
    (" https://git.example.com/promptlane ", " v1 "),  # spaces at both ends
]


@pytest.mark.parametrize(("repo", "rev"), HOOK_VALUES)
def test_hook_repository_values_survive_exactly_and_pre_commit_accepts_them(tmp_path, config_file, repo, rev):
    from promptlane.commands.init import init

    project = init(tmp_path / "remote", {"hooks_repo": repo, "hooks_rev": rev}, config_file=config_file)
    config_path = project / ".pre-commit-config.yaml"
    (entry,) = yaml.safe_load(config_path.read_text(encoding="utf-8"))["repos"]
    assert entry["repo"] == repo and entry["rev"] == rev
    assert [hook["id"] for hook in entry["hooks"]] == ["promptlane"]
    done = subprocess.run([str(BIN / "pre-commit"), "validate-config", str(config_path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("options", "message"), [
    (["--hooks-rev", "v1.0.0"], "hooks_rev: is only used with a hook repository (hooks_repo, --hooks-repo)"),
    (["--hooks-repo", "https://git.example.com/promptlane", "--hooks-rev", "v1\nx"],
     "hooks_rev: must not contain control characters"),
    (["--hooks-repo", "https://git.example.com/\U0001F600", "--hooks-rev", "v1"],
     "hooks_repo: must not contain control characters or characters beyond U+FFFF"),
    (["--hooks-repo", "   ", "--hooks-rev", "v1"], "hooks_repo: must not be blank"),
])
def test_bad_hook_repository_values_are_refused_before_anything_is_rendered(tmp_path, capfd, options, message):
    from promptlane.commands.init import main

    code = main([str(tmp_path / "x"), "--no-input", *options])
    assert code == 2
    err = capfd.readouterr().err
    assert f"ERROR: {message}" in err, err
    assert not (tmp_path / "x").exists()


def test_the_default_render_still_pins_this_promptlane(scaffold):
    assert pinned((scaffold / "requirements.txt").read_text(encoding="utf-8")) is not None
    assert pin_problem((scaffold / "requirements.txt").read_text(encoding="utf-8"), __version__) is None


# ---------------------------------------------------------------- the fast path of every command

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_numbers = st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=4).map(lambda ns: ".".join(map(str, ns)))
_noise = st.sampled_from(["# promptlane is pinned here", "pre-commit==4.7.0", "", "   # a comment", "-r other.txt"])


@settings(max_examples=300, deadline=None)
@given(pin=_numbers, running=_numbers, before=st.lists(_noise, max_size=3), after=st.lists(_noise, max_size=3),
       spelling=st.sampled_from(["promptlane", "PromptLane", " promptlane "]), comment=st.sampled_from(["", "  # pinned"]))
def test_the_fast_path_agrees_with_the_full_rule(pin, running, before, after, spelling, comment):
    """Every command reads the pin (store/pinfile.py); a plain `promptlane==X` is judged without
    importing packaging (~80 ms). Whenever the fast path lets a run through, the full rule does too."""
    from promptlane.core import pin as rule

    text = "\n".join([*before, f"{spelling}=={pin}{comment}", *after]) + "\n"
    if rule._plainly_new_enough(text, running):
        full = pinned(text)
        from packaging.version import Version

        assert full is None or Version(running) >= full.floor, (text, running)


@pytest.mark.parametrize("args", [
    ["check", "prompts/support-reply/card.yml"],
    # the template's one hook: sync, check and audit verify in one process
    ["hook", "--deleted", "prompts/support-reply/card.yml", "prompts/support-reply/system.md"],
])
def test_a_hook_run_does_not_import_packaging(gov, args):
    """The pin check on every command must not cost the commit path packaging's import, and a
    hook imports its own command modules, no other command's."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "promptlane", *args],
                          cwd=gov, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "promptlane.core.pin" in imported
    assert not any(name == "packaging" or name.startswith("packaging.") for name in imported)
    # (cli imports the handler's module through importlib, which -X importtime does not show;
    # what that module imports, it shows)
    commands = {name.split(".")[2] for name in imported if name.startswith("promptlane.commands.")}
    parts = {"check": set(), "hook": {"sync", "check", "audit"}}[args[0]]
    assert parts <= commands <= parts | {args[0], "arguments", "output"}, sorted(commands)
