"""`promptlane report` (HTML in headless Chromium, Markdown PR summary) and `promptlane diff`,
on a repository rendered from the template that lived a real life: versions, eval results,
approvals, promotions to staging and prod, then a new version in dev.

The session fixtures ``scaffold`` and ``life`` (conftest.py) are shared with test_runtime and
test_tracing: rendering and promoting once keeps the suite quick on two cores.
"""
from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from governed import PID, cli

CHROMIUM = shutil.which("chromium")


# ---------------------------------------------------------------- reading the page back


class Page(HTMLParser):
    """Tables (by id or class) as rows of cell texts, and the whole visible text."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: list[tuple[dict, list[list[str]]]] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self._skip = 0
        self.tags: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("style", "script", "title"):
            self._skip += 1
        elif tag == "table":
            self.tables.append((dict(attrs), []))
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag):
        if tag in ("style", "script", "title"):
            self._skip -= 1
        elif tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._skip:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def table(self, **attrs) -> list[list[str]]:
        key, value = next(iter(attrs.items()))
        key = "class" if key == "cls" else key
        return next(rows for found, rows in self.tables if found.get(key) == value)

    def visible(self) -> str:
        return " ".join("".join(self.text).split())


def dump_dom(path: Path, tmp_path: Path) -> str:
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}",
         "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


# ---------------------------------------------------------------- HTML


@pytest.fixture(scope="session")
def html_report(life, tmp_path_factory, session_env) -> Path:
    out = tmp_path_factory.mktemp("html") / "site" / "report.html"
    code, text = cli(life["root"], "report", "--html", str(out), mp=session_env)
    assert code == 0 and "Wrote" in text
    return out


def test_html_report_is_self_contained(html_report):
    text = html_report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<style>" in text
    for needle in ("<script", "<link", "src=", "@import", "url(", "http://", "https://"):
        assert needle not in text, needle


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_html_report_in_headless_chromium(html_report, tmp_path):
    page = Page(dump_dom(html_report, tmp_path))
    served = page.table(id="served-table")
    assert served[0] == ["prompt", "dev", "staging", "prod"]
    assert served[1] == [PID, "1.0.2", "1.0.1", "1.0.1"]

    versions = page.table(cls="versions")
    head, rows = versions[0], {row[0]: dict(zip(versions[0], row)) for row in versions[1:]}
    assert head == ["version", "hash", "bump", "author", "created", "serves", "eval pass rate", "approvals"]
    assert list(rows) == ["1.0.2", "1.0.1", "1.0.0"]  # newest first
    assert rows["1.0.1"]["serves"] == "staging prod" and rows["1.0.2"]["serves"] == "dev"
    assert rows["1.0.1"]["eval pass rate"].startswith("100.0% (10/10)")
    assert rows["1.0.2"]["eval pass rate"].startswith("80.0% (8/10)")
    assert rows["1.0.0"]["eval pass rate"] == "not evaluated"
    assert "PM: pm@example.com approved 2026-12-01" in rows["1.0.1"]["approvals"]
    assert "Governance: governance@example.com approved" in rows["1.0.1"]["approvals"]
    assert rows["1.0.2"]["approvals"] == "none" and rows["1.0.1"]["bump"] == "patch"

    audit = page.table(id="audit-table")
    events = [(row[2], row[4]) for row in audit[1:]]
    assert events[:3] == [("demote", "1.0.2"), ("version", "1.0.2"), ("promote", "1.0.1")]
    assert events[-1] == ("version", "1.0.0") and ("promote", "1.0.1") in events[2:4]
    visible = page.visible()
    assert f"Audit chain intact: {len(events)} entries" in visible
    assert "support-reply — Customer support reply" in visible


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_html_escapes_what_repository_files_say(tmp_path):
    """A title or reviewer with markup is shown as text: the page runs nothing from the repo."""
    from promptlane.operations.history import Approval, PromptInfo, RepoReport, VersionInfo
    from promptlane.commands.report import render_html

    version = VersionInfo("1.0.0", "sha256:" + "a" * 64, served_in=["prod"],
                          approvals=[Approval("QA", "<img src=x onerror=alert(1)>", "approved", "2026-01-01", True)])
    evil = PromptInfo("x", title="<script>alert(1)</script>", environments={"dev": None, "prod": "1.0.0"}, versions=[version])
    out = tmp_path / "evil.html"
    out.write_text(render_html(RepoReport("r", "now", ("dev", "prod"), [evil], [], "")), encoding="utf-8")
    page = Page(dump_dom(out, tmp_path))
    assert "script" not in page.tags and "img" not in page.tags
    assert "x — <script>alert(1)</script>" in page.visible()
    assert page.table(id="served-table")[1] == ["x", "—", "1.0.0"]


def test_report_needs_an_output(life, session_env):
    code, out = cli(life["root"], "report", mp=session_env)
    assert code == 2 and "--html OUT" in out


# ---------------------------------------------------------------- Markdown


def test_markdown_summary_against_a_base_ref(life, session_env):
    code, out = cli(life["root"], "report", "--markdown", "--base", life["released"], mp=session_env)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"## promptlane: 1 prompt(s) changed since `{life['released']}`"
    row = next(line for line in lines if line.startswith(f"| {PID} "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:6] == [PID, "1.0.1 → 1.0.2", "patch", "dev: 1.0.1 → 1.0.2; staging: 1.0.1; prod: 1.0.1",
                         "80.0% (8/10)", "none"]
    assert cells[6].startswith("❌") and "for staging" in cells[6]
    assert any("PL608" in line and "--role PM" in line for line in lines)   # the missing approval
    assert any("PL604" in line and "80.0%" in line for line in lines)       # the pass rate below policy


def test_markdown_summary_without_changes_and_to_a_file(life, session_env, tmp_path):
    code, out = cli(life["root"], "report", "--markdown", str(tmp_path / "summary.md"), "--base", "HEAD", mp=session_env)
    assert code == 0 and "Wrote" in out
    assert (tmp_path / "summary.md").read_text(encoding="utf-8") == \
        "## promptlane: 0 prompt(s) changed since `HEAD`\n\nNo prompt changed.\n"


def test_markdown_summary_of_every_prompt_and_bad_base(life, session_env):
    code, out = cli(life["root"], "report", "--markdown", mp=session_env)
    assert code == 0 and f"| {PID} | 1.0.2 | patch | dev: 1.0.2; staging: 1.0.1; prod: 1.0.1 |" in out
    code, out = cli(life["root"], "report", "--markdown", "--base", "no-such-ref", mp=session_env)
    assert code == 2 and "no-such-ref" in out


def test_bump_kind():
    from promptlane.commands.report import bump_kind

    assert [bump_kind(a, b) for a, b in [(None, "1.0.0"), ("1.0.0", "1.0.1"), ("1.0.1", "1.2.0"),
                                        ("1.2.0", "2.0.0"), ("1.0.0", "1.0.0")]] == \
        ["new", "patch", "minor", "major", "none"]


# ---------------------------------------------------------------- diff


def test_diff_defaults_to_the_latest_two_versions(life, session_env):
    code, out = cli(life["root"], "diff", PID, mp=session_env)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"promptlane diff {PID} 1.0.1 1.0.2"
    facts = {line[2:].split()[0]: line for line in lines[2:12] if line[2:].strip()}
    assert facts["version"].startswith("* ") and "1.0.1" in facts["version"] and "1.0.2" in facts["version"]
    assert facts["model"].startswith("  ") and facts["model"].count("openai/gpt-4o-mini") == 2
    assert "100.0% (10/10)" in facts["eval"] and "80.0% (8/10)" in facts["eval"]
    assert "staging, prod" in facts["serves"] and facts["serves"].rstrip().endswith("dev")
    assert facts["approvals"].endswith("approved 2026-12-01  none")  # 1.0.2 has none
    first = lines.index(facts["approvals"])
    assert lines[first + 1].strip() == "PM: pm@example.com approved 2026-12-01"  # one approval a line
    assert f"--- {PID}@1.0.1/system (system)" in lines and f"+++ {PID}@1.0.2/system (system)" in lines
    assert "+Never promise refunds." in lines and " Keep replies short." in lines
    assert not any(line.startswith(("---", "+++")) and "/user " in line for line in lines)  # unchanged step


def test_diff_between_environments_and_versions(life, session_env):
    code, out = cli(life["root"], "diff", PID, "1.0.0", "prod", mp=session_env)
    assert code == 0 and out.splitlines()[0] == f"promptlane diff {PID} 1.0.0 1.0.1"
    assert "+Keep replies short." in out and "Never promise refunds." not in out
    code, out = cli(life["root"], "diff", PID, "prod", "staging", mp=session_env)
    assert code == 0 and "(step texts are identical)" in out
    for args, needle in [(("1.0.0",), None), (("9.9.9",), "neither an issued version"),
                         (("1.0.1", "1.0.0"), None)]:
        code, out = cli(life["root"], "diff", PID, *args, mp=session_env)
        assert code == (2 if needle else 0), out
        if needle:
            assert needle in out
    code, out = cli(life["root"], "diff", "no-such-prompt", mp=session_env)
    assert code == 2 and "no prompt 'no-such-prompt' (prompts/no-such-prompt/card.yml); known: " in out


def test_step_diffs_of_added_removed_and_recast_steps():
    from promptlane.commands.diff import step_diffs

    def snap(version, steps):
        return {"version": version, "payload": {"format": "promptlane-payload/1", "model": {},
                                                "steps": [{"name": n, "role": r, "text": t} for n, r, t in steps]}}

    old = snap("1.0.0", [("system", "system", "a\nb"), ("old", "user", "gone")])
    new = snap("2.0.0", [("system", "user", "a\nc"), ("new", "user", "fresh")])
    lines = step_diffs("p", old, new)
    assert "step system: role system -> user" in lines
    assert ["--- p@1.0.0/system (system)", "+++ p@2.0.0/system (user)"] == lines[1:3]
    assert "-b" in lines and "+c" in lines and " a" in lines
    assert "--- /dev/null" in lines and "+++ p@2.0.0/new (user)" in lines and "+fresh" in lines
    assert "--- p@1.0.0/old (user)" in lines and "+++ /dev/null" in lines and "-gone" in lines
