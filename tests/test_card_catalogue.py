"""A catalogue of bad cards: each must give its error code at the right line, and change nothing."""
from __future__ import annotations

import pytest

from conftest import CARD, run_cli, snapshot_tree

OK_TEXTS = {"system.md": "You are polite.\n", "user.md": "{{ customer_name }} asks {{ question }}\n"}


def replace(old: str, new: str) -> str:
    assert old in CARD, old
    return CARD.replace(old, new)


# (name, card text, texts, expected "path:line:col: CODE" prefix)
CATALOGUE = [
    ("yaml-syntax", replace("title: Customer support reply", "title: [unclosed"), None,
     "prompts/support-reply/card.yml:4:12: PL100"),
    ("duplicate-key", replace("owner: team-support", "owner: team-support\nowner: someone-else"), None,
     "prompts/support-reply/card.yml:6:1: PL101"),
    ("yaml11-bool-environment", CARD + "environment: no\n", None,
     "prompts/support-reply/card.yml:17:14: PL102"),
    ("yaml11-float-version", CARD + "version: 1.10\n", None,
     "prompts/support-reply/card.yml:17:10: PL104"),
    ("wrong-type-temperature", replace("temperature: 0.2", "temperature: hot"), None,
     "prompts/support-reply/card.yml:11:25: PL103"),
    ("unknown-key", replace("owner: team-support", "owner: team-support\nownr: typo"), None,
     "prompts/support-reply/card.yml:6:1: PL105"),
    ("missing-required", replace("risk: high\n", ""), None,
     "prompts/support-reply/card.yml:2:1: PL106"),
    ("bad-risk", replace("risk: high", "risk: extreme"), None,
     "prompts/support-reply/card.yml:7:7: PL103"),
    ("not-a-mapping", "- just\n- a list\n", None,
     "prompts/support-reply/card.yml:1:1: PL103"),
    ("id-not-folder", replace("id: support-reply", "id: other-name"), None,
     "prompts/support-reply/card.yml:2:5: PL121"),
    ("bad-id-pattern", replace("id: support-reply", "id: Support_Reply"), None,
     "prompts/support-reply/card.yml:2:5: PL103"),
    ("missing-text", CARD, {"system.md": "You are polite.\n"},
     "prompts/support-reply/card.yml:15:36: PL130"),
    ("dotdot-escape", replace("file: user.md", "file: ../other/user.md"), None,
     "prompts/support-reply/card.yml:15:36: PL131"),
    ("absolute-path", replace("file: user.md", "file: /etc/passwd"), None,
     "prompts/support-reply/card.yml:15:36: PL103"),
    ("undeclared-variable", CARD, {"system.md": "Hi {{ tone }}\n", "user.md": "{{ customer_name }} {{ question }}\n"},
     "prompts/support-reply/system.md:1:4: PL141"),
    ("misspelt-variable", CARD, {"system.md": "You are polite.\n", "user.md": "{{ customer_name }} asks {{ questoin }}\n"},
     "prompts/support-reply/user.md:1:26: PL141"),
    ("unused-variable", replace("[customer_name, question]", "[customer_name, question, tone]"), None,
     "prompts/support-reply/card.yml:12:38: PL140"),
    ("duplicate-step-name", replace("{name: user, role: user", "{name: system, role: user"), None,
     "prompts/support-reply/card.yml:15:12: PL134"),
    ("bad-role", replace("role: user", "role: tool"), None,
     "prompts/support-reply/card.yml:15:24: PL103"),
    ("empty-steps", CARD.split("steps:")[0] + "steps: []\n", None,
     "prompts/support-reply/card.yml:13:8: PL103"),
    ("text-not-utf8", CARD, {"system.md": b"caf\xe9\n", "user.md": "{{ customer_name }} {{ question }}\n"},
     "prompts/support-reply/system.md:1:4: PL133"),
    ("card-not-utf8", CARD.encode("utf-8") + b"# \xff\n", None,
     "prompts/support-reply/card.yml:17:3: PL110"),
    ("bad-bump", CARD + "bump: huge\n", None,
     "prompts/support-reply/card.yml:17:7: PL103"),
    ("bad-hash-shape", CARD + "version: 1.0.0\nhash: md5:abc\nauthor: a\nenvironment: dev\n", None,
     "prompts/support-reply/card.yml:18:7: PL103"),
]


def _materialise(root, card, texts):
    folder = root / "prompts" / "support-reply"
    folder.mkdir(parents=True)
    (folder / "card.yml").write_bytes(card if isinstance(card, bytes) else card.encode("utf-8"))
    for name, text in (texts or OK_TEXTS).items():
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))


@pytest.mark.parametrize("name,card,texts,expected", CATALOGUE, ids=[c[0] for c in CATALOGUE])
@pytest.mark.parametrize("command", ["check", "sync"])
def test_bad_card_is_reported_at_its_line_and_nothing_changes(tmp_path, capsys, name, card, texts, expected, command):
    root = tmp_path / "repo"
    _materialise(root, card, texts)
    before = snapshot_tree(root)
    code, out = run_cli(root, command, capsys=capsys)
    assert code == 1
    assert any(line.startswith(expected) for line in out.splitlines()), out
    assert "Found " in out.splitlines()[-1]
    assert snapshot_tree(root) == before


def test_catalogue_is_big_enough():
    assert len(CATALOGUE) >= 15
    assert len({c[3].split(": ")[1] for c in CATALOGUE}) >= 15  # distinct codes


def test_symlink_escape_is_refused(tmp_path, capsys):
    root = tmp_path / "repo"
    _materialise(root, CARD, None)
    outside = tmp_path / "secret.md"
    outside.write_text("{{ customer_name }} {{ question }}\n")
    user = root / "prompts/support-reply/user.md"
    user.unlink()
    user.symlink_to(outside)
    code, out = run_cli(root, "check", capsys=capsys)
    assert code == 1 and "PL131" in out and "points outside" in out


def test_oversized_text_is_refused_without_reading_it(tmp_path, capsys):
    root = tmp_path / "repo"
    _materialise(root, CARD, None)
    with open(root / "prompts/support-reply/user.md", "ab") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse 50 MB file
    code, out = run_cli(root, "check", capsys=capsys)
    assert code == 1 and "PL135" in out


def test_all_problems_are_reported_not_just_the_first(tmp_path, capsys):
    root = tmp_path / "repo"
    card = replace("risk: high", "risk: extreme").replace("temperature: 0.2", "temperature: hot")
    _materialise(root, card, None)
    code, out = run_cli(root, "check", capsys=capsys)
    assert code == 1
    assert "risk" in out and "temperature" in out and out.splitlines()[-1] == "Found 2 problems in 1 file."


def test_a_prompt_folder_linked_from_outside_is_refused(tmp_path, capsys):
    root = tmp_path / "repo"
    outside = tmp_path / "elsewhere" / "support-reply"
    _materialise(tmp_path / "elsewhere-root", CARD, None)
    outside.parent.mkdir(parents=True)
    (tmp_path / "elsewhere-root/prompts/support-reply").rename(outside)
    (root / "prompts").mkdir(parents=True)
    (root / "prompts/support-reply").symlink_to(outside)
    code, out = run_cli(root, "check", capsys=capsys)
    assert code == 1 and "PL131" in out and "outside prompts/" in out


@pytest.mark.parametrize("kind, code", [("link to a file", "PL123"), ("dangling link", "PL120"), ("folder", "PL120"),
                                        ("link to a folder", "PL120")])
def test_a_card_that_is_not_a_regular_file(tmp_path, capsys, kind, code):
    """card.yml must be a regular file: a link to one is PL123 (git would store the link), and
    anything that is no file to read (a dangling link, a folder, a link to one) is PL120."""
    root = tmp_path / "repo"
    _materialise(root, CARD, None)
    card = root / "prompts/support-reply/card.yml"
    kept = tmp_path / "card-elsewhere.yml"
    card.rename(kept)
    if kind == "link to a file":
        card.symlink_to(kept)
    elif kind == "dangling link":
        card.symlink_to(tmp_path / "nowhere.yml")
    elif kind == "folder":
        card.mkdir()
    else:
        (tmp_path / "a-folder").mkdir()
        card.symlink_to(tmp_path / "a-folder")
    exit_code, out = run_cli(root, "check", capsys=capsys)
    assert exit_code == 1 and f" {code} " in out, out


def test_a_prompt_folder_linked_inside_prompts_is_read_through_the_link(tmp_path, capsys):
    """A link that stays inside prompts/ is followed: its card and texts are checked as they are."""
    root = tmp_path / "repo"
    _materialise(root, CARD, None)
    (root / "prompts/support-reply").rename(root / "prompts/.real-support-reply")
    (root / "prompts/support-reply").symlink_to(root / "prompts/.real-support-reply")
    code, out = run_cli(root, "check", "prompts/support-reply/card.yml", capsys=capsys)
    assert " PL153 " in out and "Found 1 problem in 1 file." in out, out  # read, valid, only not yet synced
