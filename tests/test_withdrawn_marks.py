"""A version a rollback withdrew is marked wherever it is still shown as served: `status` (text
and --json), the HTML report's served table, the PR summary, `diff`, and the runtime's Prompt,
which `get(..., refuse_withdrawn=True)` refuses (issue 17).

The scenario is the reported one: 1.0.2 went to staging and prod, prod was rolled back to
1.0.1, and dev and staging still serve 1.0.2. Everything runs through the real commands and the
real registry export, read by the real runtime.
"""
from __future__ import annotations

import json
import re
import sqlite3

import pytest

from governed import LOCK, PID, clock, commit, lock, new_version, pl, ready_for
from promptlane import runtime
from promptlane.core.registry import withdrawals_in_force

WHEN = "2026-12-03T08:00:00Z"
WHY = "INC-1: cites a retired article"
WHO = "dana@example.com"  # the git identity of conftest: who ran the rollback
MARK = f"withdrawn from prod on {WHEN} by {WHO} ({WHY})"
LOCKED = {"env": "prod", "time": WHEN, "reason": WHY, "actor": WHO}


@pytest.fixture
def rolled_back(gov, capsys, monkeypatch):
    """1.0.1 then 1.0.2 promoted to staging and prod; prod rolled back to 1.0.1."""
    root = gov
    for day, text in (("01", "Keep replies short."), ("02", "Never promise refunds.")):
        clock(monkeypatch, f"2026-12-{day}T09:00:00Z")
        new_version(root, capsys, text)
        clock(monkeypatch, f"2026-12-{day}T10:00:00Z")
        ready_for(root, capsys, monkeypatch, "staging", f"2026-12-{day}T09:30:00Z")
        assert pl(root, capsys, "promote", PID, "--to", "staging")[0] == 0
        ready_for(root, capsys, monkeypatch, "prod", f"2026-12-{day}T09:40:00Z")
        assert pl(root, capsys, "promote", PID, "--to", "prod")[0] == 0
        commit(root, f"day {day}")
    clock(monkeypatch, WHEN)
    code, out = pl(root, capsys, "rollback", PID, "--env", "prod", "--reason", WHY)
    assert code == 0, out
    commit(root, "rollback")
    assert lock(root)["environments"] == {"dev": "1.0.2", "staging": "1.0.2", "prod": "1.0.1"}
    return root


pytestmark = pytest.mark.usefixtures("fresh_runtime")  # conftest: no source or cache leaks between tests


# ---------------------------------------------------------------- status


def test_status_marks_each_environment_still_serving_the_withdrawn_version(rolled_back, capsys):
    code, out = pl(rolled_back, capsys, "status")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[2].split() == [PID, "1.0.1", "1.0.2", "(withdrawn)", "1.0.2", "(withdrawn)", "1.0.1", "(top)"]
    assert (f"    ! 1.0.2 {MARK}; still served by dev, staging: roll back "
            f"(`promptlane rollback {PID} --env staging --reason ...`) or promote a fix") in lines
    assert pl(rolled_back, capsys, "check")[0] == 0  # the marks are a view: the repository is consistent


def test_status_json_has_the_withdrawal_of_each_served_version(rolled_back, capsys):
    code, out = pl(rolled_back, capsys, "status", "--json")
    assert code == 0, out
    rows = {row["prompt"]: row for row in json.loads(out)["prompts"]}
    row = rows[PID]
    assert row["serves"] == {"dev": "1.0.2", "staging": "1.0.2", "prod": "1.0.1"}
    assert row["withdrawn"] == {"1.0.2": LOCKED}
    assert rows["triage-reply"]["withdrawn"] == {}  # the template's other prompt was not rolled back


def test_status_json_of_a_repository_without_rollbacks_marks_nothing(gov, capsys):
    rows = json.loads(pl(gov, capsys, "status", "--json")[1])["prompts"]
    assert [row["prompt"] for row in rows] == [PID, "triage-reply"] and all(row["withdrawn"] == {} for row in rows)


# ---------------------------------------------------------------- report and diff


def test_report_served_table_marks_the_withdrawn_cells(rolled_back, capsys, tmp_path):
    page = tmp_path / "report.html"
    code, out = pl(rolled_back, capsys, "report", "--html", str(page))
    assert code == 0, out
    served = re.search(r'<table id="served-table">.*?</table>', page.read_text(encoding="utf-8"), re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", served, re.S)
    (row,) = [row for row in rows if PID in row]
    cells = re.findall(r"<td[^>]*>.*?</td>", row)
    assert len(cells) == 3
    for cell in cells[:2]:  # dev and staging
        assert cell.startswith('<td class="withdrawn">1.0.2<br>') and MARK in cell
    assert cells[2] == "<td>1.0.1</td>"  # prod serves what it rolled back to, unmarked


def test_pr_summary_marks_the_withdrawn_version_and_says_whose_gates_are_met(rolled_back, capsys):
    code, out = pl(rolled_back, capsys, "report", "--markdown")
    assert code == 0, out
    row = next(line for line in out.splitlines() if line.startswith(f"| {PID} |"))
    cells = [cell.strip() for cell in row.strip("|").split(" | ")]
    assert cells[1] == "1.0.2 ⚠️ withdrawn"
    assert cells[3] == "dev: 1.0.2 ⚠️ withdrawn; staging: 1.0.2 ⚠️ withdrawn; prod: 1.0.1"
    assert cells[6] == "✅ 1.0.1 at the last environment"  # the card's version, not the withdrawn one
    assert f"**{PID} 1.0.2** ⚠️ {MARK}; still served by dev, staging" in out.splitlines()


def test_diff_marks_the_withdrawn_side(rolled_back, capsys):
    code, out = pl(rolled_back, capsys, "diff", PID, "prod", "staging")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[:2] == [f"promptlane diff {PID} 1.0.1 1.0.2", f"! 1.0.2 {MARK}; still served by dev, staging"]
    withdrawn = next(line for line in lines if line.startswith("* withdrawn"))
    assert withdrawn.split() == ["*", "withdrawn", "—", "from", "prod", "on", WHEN]
    code, out = pl(rolled_back, capsys, "diff", PID, "1.0.0", "1.0.1")
    assert code == 0 and "withdrawn" not in out  # neither side was withdrawn: no mark, no row


def test_export_of_a_withdrawn_version_says_so(rolled_back, capsys, tmp_path):
    out_file = tmp_path / "staging.prompt.yml"
    code, out = pl(rolled_back, capsys, "export", PID, "--format", "github-models", "--env", "staging", "-o", str(out_file))
    assert code == 0 and out_file.is_file(), out
    assert f"note: {PID} 1.0.2 is {MARK}; the file holds a withdrawn version" in out
    code, out = pl(rolled_back, capsys, "export", PID, "--format", "github-models", "-o", str(tmp_path / "prod.prompt.yml"))
    assert code == 0 and "note:" not in out  # prod serves 1.0.1, which nothing withdrew


# ---------------------------------------------------------------- the runtime


@pytest.fixture
def sources(rolled_back, capsys, tmp_path) -> dict:
    paths = {"json": tmp_path / "bundle.json", "sqlite": tmp_path / "registry.db"}
    for fmt, path in paths.items():
        code, out = pl(rolled_back, capsys, "registry", "export", fmt, str(path))
        assert code == 0, out
    return {**paths, "checkout": rolled_back}


@pytest.mark.parametrize("kind", ["json", "sqlite", "checkout"])
def test_the_runtime_serves_the_withdrawn_version_marked(sources, kind):
    runtime.load(sources[kind])
    staging = runtime.get(PID, "staging")
    assert staging.version == "1.0.2"
    assert staging.withdrawn == runtime.Withdrawal("prod", WHEN, WHY, WHO)
    assert str(staging.withdrawn) == MARK
    assert runtime.get(PID, "dev").withdrawn == staging.withdrawn
    assert runtime.get(PID).withdrawn is None  # prod serves 1.0.1, never withdrawn


@pytest.mark.parametrize("kind", ["json", "sqlite", "checkout"])
def test_get_refuses_a_withdrawn_version_when_told_to(sources, kind):
    runtime.load(sources[kind])
    with pytest.raises(runtime.WithdrawnError) as caught:
        runtime.get(PID, "staging", refuse_withdrawn=True)
    message = str(caught.value)
    assert f"staging serves {PID} 1.0.2, which was {MARK}" in message
    assert f"`promptlane rollback {PID} --env staging --reason ...`" in message
    assert isinstance(caught.value, runtime.NotServedError) and isinstance(caught.value, runtime.RuntimeSDKError)
    prod = runtime.get(PID, "prod", refuse_withdrawn=True)  # what was never withdrawn is served as ever
    assert (prod.version, prod.withdrawn) == ("1.0.1", None)
    registry = runtime.load(sources[kind])
    with pytest.raises(runtime.WithdrawnError):  # the Registry method takes the same flag
        registry.get(PID, "dev", refuse_withdrawn=True)


def test_a_bundle_exported_before_withdrawals_were_still_loads(sources, tmp_path):
    doc = json.loads(sources["json"].read_text(encoding="utf-8"))
    assert doc["prompts"][PID]["withdrawn"] == {"1.0.2": LOCKED}
    del doc["prompts"][PID]["withdrawn"]
    old = tmp_path / "old-bundle.json"
    old.write_text(json.dumps(doc), encoding="utf-8")
    staging = runtime.get(PID, "staging", source=old, refuse_withdrawn=True)
    assert (staging.version, staging.withdrawn) == ("1.0.2", None)  # nothing says it was withdrawn


def test_a_sqlite_table_without_the_withdrawal_columns_still_loads(sources):
    db = sqlite3.connect(sources["sqlite"])
    with db:
        for column in ("withdrawn_env", "withdrawn_time", "withdrawn_reason"):
            db.execute(f"ALTER TABLE versions DROP COLUMN {column}")
    db.close()
    staging = runtime.get(PID, "staging", source=sources["sqlite"])
    assert (staging.version, staging.withdrawn) == ("1.0.2", None)


# ---------------------------------------------------------------- who rolled back, checked


def _set_mark(root, **changes) -> None:
    path = root / LOCK
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["withdrawn"]["1.0.2"].update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del doc["withdrawn"]["1.0.2"][key]
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def test_the_mark_names_who_rolled_back_and_the_audit_holds_it_to_the_log(rolled_back, capsys):
    assert lock(rolled_back)["withdrawn"] == {"1.0.2": LOCKED}
    _set_mark(rolled_back, actor="mallory@example.com")
    for args in (["audit", "verify", "--full"], ["audit", "verify"]):
        code, out = pl(rolled_back, capsys, *args)
        assert code == 1 and f"{LOCK}:1:1: PL223 1.0.2 is marked withdrawn from prod at {WHEN} by mallory@example.com" in out


def test_a_mark_written_before_marks_named_the_actor_still_verifies_and_shows(rolled_back, capsys):
    _set_mark(rolled_back, actor=None)
    code, out = pl(rolled_back, capsys, "audit", "verify", "--full")
    assert code == 0, out
    code, out = pl(rolled_back, capsys, "status")
    assert f"    ! 1.0.2 withdrawn from prod on {WHEN} ({WHY}); still served by dev, staging" in out


def test_a_version_promoted_back_where_it_was_withdrawn_is_no_longer_marked():
    mark = {"env": "prod", "time": WHEN, "reason": WHY}
    assert withdrawals_in_force({"1.0.2": mark}, {"staging": "1.0.2", "prod": "1.0.1"}) == {"1.0.2": mark}
    # Back in prod, it passed prod's gates with eval results newer than the withdrawal (PL607).
    assert withdrawals_in_force({"1.0.2": mark}, {"staging": "1.0.2", "prod": "1.0.2"}) == {}
    assert withdrawals_in_force({"1.0.2": "not a mark"}, {"prod": "1.0.1"}) == {}
