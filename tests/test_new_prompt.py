"""`promptlane new ID` from an example card a team edited, and the offline provider its starter
tests run against (evals/providers/local_echo.py).

`new` judges everything before it writes: a step file outside the new folder, an example card
of the wrong shape or evals/tests/ in the way is refused (exit 2) with nothing written, so a
retry works; what it writes goes on one transaction, undone as a whole when it fails; it
never writes over a file (nor through a link) that is already there.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import snapshot_tree
from governed import pl

EXAMPLE = "schemas/prompt-card.example.yml"
STEPS = "  - {name: system, role: system, file: system.md}\n  - {name: user, role: user, file: user.md}\n"


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def refused(root: Path, capsys, *args: str, code: int = 2) -> str:
    """The command is refused with ``code`` and changes no file."""
    before = snapshot_tree(root)
    got, out = pl(root, capsys, *args)
    assert got == code, out
    assert "Traceback" not in out
    assert snapshot_tree(root) == before, "a refused command changed files"
    return out


# ---------------------------------------------------------------- step files stay in the new folder


@pytest.mark.parametrize("name", ["../support-reply/user.md", "../../evil.md", "texts/../../x.md", "{tmp}/evil.md"])
def test_new_refuses_step_files_outside_the_new_prompts_folder(gov, capsys, tmp_path, name):
    name = name.replace("{tmp}", str(tmp_path))  # an absolute path
    edit(gov, EXAMPLE, "file: user.md}", f"file: {name}}}")
    victim = (gov / "prompts/support-reply/user.md").read_bytes()
    out = refused(gov, capsys, "new", "clobber")
    assert f"{EXAMPLE}:16:36: PL131 steps[1].file: '{name}' points outside the new prompt's folder" in out
    assert (gov / "prompts/support-reply/user.md").read_bytes() == victim
    assert not (gov / "evil.md").exists() and not (tmp_path / "evil.md").exists() and not (gov / "prompts/clobber").exists()


@pytest.mark.parametrize("name", ["card.yml", "texts/", "a//b.md", "./user.md", "texts\\\\user.md"])
def test_new_refuses_a_step_file_that_is_not_a_plain_path_or_is_the_card(gov, capsys, name):
    edit(gov, EXAMPLE, "file: user.md}", f"file: \"{name}\"}}")
    out = refused(gov, capsys, "new", "odd")
    assert f"{EXAMPLE}:16:36: PL131 steps[1].file:" in out


def test_check_flags_an_example_card_whose_step_file_points_outside(gov, capsys):
    edit(gov, EXAMPLE, "file: user.md}", "file: ../support-reply/user.md}")
    out = refused(gov, capsys, "check", EXAMPLE, code=1)
    assert f"{EXAMPLE}:16:36: PL131 steps[1].file: '../support-reply/user.md' points outside the new prompt's folder" in out


def test_a_step_file_in_a_sub_folder_is_created_and_the_card_passes_check(gov, capsys):
    edit(gov, EXAMPLE, "file: user.md}", "file: texts/user.md}")
    code, out = pl(gov, capsys, "new", "nested")
    assert code == 0, out
    assert "Created prompts/nested/texts/user.md" in out
    assert "{{ question }}" in (gov / "prompts/nested/texts/user.md").read_text(encoding="utf-8")
    assert pl(gov, capsys, "sync")[0] == 1
    code, out = pl(gov, capsys, "check")
    assert code == 0, out


# ---------------------------------------------------------------- judged first, written at once


SHAPES = [
    ("a step that is a plain string", lambda t: t.replace("- {name: user, role: user, file: user.md}", "- user.md"),
     "16:5: PL103 steps[1]: 'user.md' is not a step"),
    ("a step without a file", lambda t: t.replace(", file: user.md}", "}"), "16:5: PL106 steps[1].file: missing"),
    ("a step file that is a number", lambda t: t.replace("file: user.md}", "file: 7}"), "16:36: PL103 steps[1].file: 7 is not text"),
    ("variables a mapping", lambda t: t.replace("variables: [customer_name, question]", "variables: {customer_name: 1}"),
     "13:12: PL103 variables: {'customer_name': 1} is not a list of names"),
    ("variables missing", lambda t: re.sub(r"(?m)^variables:.*\n", "", t), "3:1: PL106 (card): missing required key 'variables'"),
    ("a variable that is a list", lambda t: t.replace("[customer_name, question]", "[customer_name, [question]]"),
     "13:28: PL103 variables[1]: ['question'] is not a name"),
    ("steps empty", lambda t: t.replace(STEPS, "").replace("steps:", "steps: []", 1), "14:8: PL103 steps: must be a non-empty list"),
    ("steps missing", lambda t: t.replace(STEPS, "").replace("steps:", "stepz:", 1), "3:1: PL106 (card): missing required key 'steps'"),
    ("not a mapping", lambda t: "- just a list\n", "1:1: PL103 must be a card"),
    ("not YAML", lambda t: t.replace("tags: [support, email]", "tags: [support, email"), ": PL100 YAML syntax error"),
]


@pytest.mark.parametrize("change,expected", [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_an_example_card_new_cannot_copy_is_refused_with_its_line_and_nothing_is_written(gov, capsys, change, expected):
    path = gov / EXAMPLE
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")
    out = refused(gov, capsys, "new", "order-status")
    assert any(line.startswith(EXAMPLE + ":") and expected in line for line in out.splitlines()), out
    assert f"promptlane new: {EXAMPLE} cannot be copied" in out


def test_an_example_card_that_cannot_be_read_is_refused(gov, capsys):
    (gov / EXAMPLE).write_bytes(b"id: x\ntitle: \xff\n")
    assert f"{EXAMPLE}:2:8: PL110" in refused(gov, capsys, "new", "order-status")
    (gov / EXAMPLE).unlink()
    (gov / EXAMPLE).mkdir()
    assert f"{EXAMPLE}:1:1: PL700 cannot be read" in refused(gov, capsys, "new", "order-status")


@pytest.mark.parametrize("in_the_way", ["evals/tests", "evals"])
def test_evals_tests_in_the_way_is_refused_before_anything_is_written_and_the_retry_works(gov, capsys, in_the_way):
    import shutil

    shutil.rmtree(gov / in_the_way)
    (gov / in_the_way).write_text("not a folder\n", encoding="utf-8")
    out = refused(gov, capsys, "new", "order-status")
    assert f"{in_the_way}:1:1: PL191 is in the way" in out
    assert not (gov / "prompts/order-status").exists()
    (gov / in_the_way).unlink()
    code, out = pl(gov, capsys, "new", "order-status")  # the retry is not blocked by a half-made prompt
    assert code == 0, out
    assert (gov / "evals/tests/order-status.yml").is_file()


def test_a_write_that_fails_part_way_is_undone_whole(gov, capsys, monkeypatch):
    before = snapshot_tree(gov)
    real = os.replace

    def failing(src, dst, *args, **kwargs):
        if str(dst).endswith("prompts/order-status/user.md"):  # the last of four renames
            raise OSError(28, "No space left on device")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", failing)
    code, out = pl(gov, capsys, "new", "order-status")
    monkeypatch.setattr(os, "replace", real)
    assert code == 1 and "Traceback" not in out, out
    assert "nothing was changed" in out
    assert snapshot_tree(gov) == before
    assert not (gov / "prompts/order-status").exists() and not any(gov.rglob("*.promptlane-tmp"))
    assert pl(gov, capsys, "new", "order-status")[0] == 0


def test_a_new_killed_part_way_is_put_back_by_the_next_new(gov, capsys):
    env = {**os.environ, "PROMPTLANE_FAULT_AT": "rename:prompts/order-status/card.yml"}
    done = subprocess.run([sys.executable, "-m", "promptlane.cli", "-C", str(gov), "new", "order-status"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 70, done.stdout + done.stderr
    code, out = pl(gov, capsys, "new", "order-status")
    assert code == 0, out
    assert pl(gov, capsys, "sync")[0] == 1
    assert pl(gov, capsys, "check")[0] == 0


@pytest.mark.parametrize("kind", ["file", "dangling link", "link to a file"])
def test_tests_already_there_are_kept_and_never_written_through(gov, capsys, tmp_path, kind):
    tests = gov / "evals/tests/order-status.yml"
    target = tmp_path / "elsewhere.yml"
    if kind == "file":
        tests.write_text("# ours\n", encoding="utf-8")
    else:
        if kind == "link to a file":
            target.write_text("# theirs\n", encoding="utf-8")
        tests.symlink_to(target)
    code, out = pl(gov, capsys, "new", "order-status")
    assert code == 0, out
    assert "Created evals/tests/order-status.yml" not in out
    if kind == "file":
        assert tests.read_text(encoding="utf-8") == "# ours\n"
    else:
        assert tests.is_symlink() and os.readlink(tests) == str(target)
        assert (target.read_text(encoding="utf-8") == "# theirs\n") if kind == "link to a file" else not target.exists()


def test_a_dangling_link_where_the_prompt_folder_goes_is_refused(gov, capsys, tmp_path):
    (gov / "prompts/order-status").symlink_to(tmp_path / "nowhere")
    out = refused(gov, capsys, "new", "order-status")
    assert "prompts/order-status already exists" in out
    assert not (tmp_path / "nowhere").exists()


# ---------------------------------------------------------------- the variables go in a text that is sent


@pytest.mark.parametrize("steps,with_variables", [
    ("  - {name: user, role: user, file: user.md}\n  - {name: system, role: system, file: system.md}\n", "user.md"),
    ("  - {name: a, role: user, file: a.md}\n  - {name: b, role: assistant, file: b.md}\n"
     "  - {name: c, role: system, file: c.md}\n", "b.md"),
    ("  - {name: system, role: system, file: system.md}\n  - {name: rules, role: system, file: rules.md}\n", "rules.md"),
])
def test_the_variables_go_in_the_last_step_that_is_not_a_system_message(gov, capsys, steps, with_variables):
    edit(gov, EXAMPLE, STEPS, steps)
    code, out = pl(gov, capsys, "new", "order-status")
    assert code == 0, out
    folder = gov / "prompts/order-status"
    for path in folder.glob("*.md"):
        text = path.read_text(encoding="utf-8")
        assert ("{{ question }}" in text) == (path.name == with_variables), (path.name, text)
    assert pl(gov, capsys, "sync")[0] == 1
    code, out = pl(gov, capsys, "check")
    assert code == 0, out  # no PL140: every declared variable is used


# ---------------------------------------------------------------- the offline provider


@pytest.fixture(scope="module")
def provider(scaffold):
    spec = importlib.util.spec_from_file_location("local_echo_under_test", scaffold / "evals/providers/local_echo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chat(*messages: tuple[str, object]) -> str:
    return json.dumps([{"role": role, "content": content} for role, content in messages])


@pytest.mark.parametrize("prompt", [None, 42, 1.5, True, ["a", "list"], {"a": "mapping"}, b"bytes"])
def test_the_provider_answers_a_prompt_that_is_not_text(provider, prompt):
    result = provider.call_api(prompt, {}, {})
    assert result["output"].startswith("Thank you. You wrote: ")
    assert result["tokenUsage"]["total"] > 0 and result["cost"] > 0
    assert provider.call_api(None, None, None)["output"] == 'Thank you. You wrote: "". Here is a short, careful answer to that request.'


@pytest.mark.parametrize("price", ["0.1", "x", None, True, float("nan"), [1], {"a": 1}])
def test_a_price_that_is_not_a_number_falls_back_to_the_default(provider, price):
    config = {"input_per_1k": price, "output_per_1k": price}
    assert provider.call_api("Summarise this.", {"config": config}, {}) == provider.call_api("Summarise this.", {}, {})
    cheap = provider.call_api("Summarise this.", {"config": {"input_per_1k": 0, "output_per_1k": 0}}, {})
    assert cheap["cost"] == 0
    assert provider.call_api("Summarise this.", {"config": "not a mapping"}, "no context")["cost"] > 0


@pytest.mark.parametrize("text", ["a" * 60_000, "a" * 60_000 + "@", "a." * 30_000 + "@" + "b-" * 30_000, "a@" * 30_000])
def test_redaction_is_linear_on_long_tokens(provider, text):
    started = time.perf_counter()
    provider.call_api(chat(("user", text)), {}, {})
    assert time.perf_counter() - started < 1.0  # the quadratic regex took several seconds


def test_redaction_finds_what_the_e_mail_pattern_finds(provider):
    import random

    pattern = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+")  # promptlane: allow-pii
    rng = random.Random(7)
    for _ in range(20_000):
        text = "".join(rng.choice("ab1.-_%+@ ,x.y") for _ in range(rng.randint(0, 24)))
        assert provider.redact_emails(text) == pattern.sub("[e-mail]", text), text
    assert provider.redact_emails("mail ana.b+x@mail.example.org, or bo@x.io.") == "mail [e-mail], or [e-mail]"  # promptlane: allow-pii


def test_links_are_kept_whole_so_the_reply_cites_only_the_prompts_links(provider):
    link = "https://help.example.org/articles/360012345678-how-to-reset"
    prompt = chat(("system", "Answer briefly."), ("user", f"See {link} and call 555 1234 5678 or mail ana@example.org"))  # promptlane: allow-pii
    output = provider.call_api(prompt, {}, {})["output"]
    assert link in output
    assert "[number]" in output and "[e-mail]" in output and "555" not in output and "ana@" not in output
    # The starter hallucination test: every link in the reply comes from the prompt.
    assert all(url in prompt for url in re.findall(r"https?://[^\s\"')]+", output))
    long = chat(("user", "word " * 55 + "https://example.org/" + "7" * 80))  # the cut falls inside the link
    output = provider.call_api(long, {}, {})["output"]
    assert all(url in long for url in re.findall(r"https?://[^\s\"')]+", output)), output


def test_message_content_in_parts_or_null_is_read_as_its_text(provider):
    parts = [{"type": "text", "text": "Translate this"}, {"type": "image_url", "image_url": {"url": "x"}},
             {"type": "text", "text": "please."}]
    assert 'You wrote: "Translate this please."' in provider.call_api(chat(("user", parts)), {}, {})["output"]
    assert 'You wrote: ""' in provider.call_api(chat(("system", "Be brief."), ("user", None)), {}, {})["output"]
    assert 'You wrote: "7"' in provider.call_api(chat(("user", 7)), {}, {})["output"]


def test_the_example_prompt_is_still_answered_from_the_help_centre(provider):
    prompt = chat(("system", "Cite https://help.example.com/ articles."), ("user", "Ana asks: how do I reset my password?"))
    result = provider.call_api(prompt, {}, {"vars": {"customer_name": "Ana", "question": "How do I reset my password?"}})
    assert result["output"] == (
        "Hi Ana,\n\nThank you for getting in touch. To reset your password, choose \"Forgot password\" on the sign-in "
        "page and follow the link we e-mail you; the link is valid for 24 hours.\n\nMore help: "
        "https://help.example.com/articles/reset-password\n\nBest regards,\nCustomer Support")
