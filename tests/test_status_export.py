"""`promptlane status` and `promptlane registry export sqlite|json`."""
from __future__ import annotations

import json
import sqlite3

import pytest

from governed import PID, card, lock, new_version, pl, ready_for


@pytest.fixture
def in_prod(gov, capsys, monkeypatch):
    """1.0.1 in prod and staging, 1.0.2 in dev."""
    new_version(gov, capsys)
    ready_for(gov, capsys, monkeypatch, "staging", "2026-12-01T08:00:00Z")
    assert pl(gov, capsys, "promote", PID, "--to", "staging")[0] == 0
    ready_for(gov, capsys, monkeypatch, "prod", "2026-12-01T08:10:00Z")
    assert pl(gov, capsys, "promote", PID, "--to", "prod")[0] == 0
    new_version(gov, capsys, "next idea")
    return gov


def test_status_table_says_what_is_served_and_what_is_missing(in_prod, capsys):
    code, out = pl(in_prod, capsys, "status")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["prompt", "version", "dev", "staging", "prod", "next"]
    assert lines[2].split() == [PID, "1.0.2", "1.0.2", "1.0.1", "1.0.1", "staging"]
    assert any("lacks: PL603 no eval results for 1.0.2" in line for line in lines)
    assert any("lacks: PL608 staging needs an approval by PM" in line for line in lines)


def test_status_json(in_prod, capsys):
    code, out = pl(in_prod, capsys, "status", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["environments"] == ["dev", "staging", "prod"]
    assert [r["prompt"] for r in doc["prompts"]] == [PID, "triage-reply"]  # the template's two examples
    row = doc["prompts"][0]
    assert row["serves"] == {"dev": "1.0.2", "staging": "1.0.1", "prod": "1.0.1"}
    assert (row["version"], row["environment"], row["next"]) == ("1.0.2", "dev", "staging")
    assert [item.split()[0] for item in row["lacks"]] == ["PL603", "PL608"]


def test_status_of_a_ready_prompt_names_the_command(gov, capsys, monkeypatch):
    new_version(gov, capsys)
    ready_for(gov, capsys, monkeypatch, "staging", "2026-12-01T08:00:00Z")
    code, out = pl(gov, capsys, "status")
    assert "ready for staging: `promptlane promote support-reply --to staging`" in out


def test_status_of_an_unsynced_prompt(gov, capsys):
    path = gov / f"prompts/{PID}/system.md"
    path.write_text(path.read_text() + "x\n")
    code, out = pl(gov, capsys, "status")
    assert code == 0 and "run `promptlane sync`" in out


def test_sqlite_export_answers_what_prod_serves(in_prod, capsys, tmp_path):
    out_file = tmp_path / "out" / "registry.sqlite"
    code, out = pl(in_prod, capsys, "registry", "export", "sqlite", str(out_file))
    assert code == 0 and "Exported 4 served row(s)" in out
    db = sqlite3.connect(out_file)
    try:
        version, payload_hash, payload = db.execute(
            "SELECT version, hash, payload FROM served WHERE prompt = ? AND environment = 'prod'", (PID,)).fetchone()
        rows = db.execute("SELECT version, hash FROM versions WHERE prompt = ? ORDER BY version", (PID,)).fetchall()
        envs = db.execute("SELECT environment FROM served WHERE prompt = ? ORDER BY position", (PID,)).fetchall()
    finally:
        db.close()
    issued = {v["version"]: v["hash"] for v in lock(in_prod)["versions"]}
    assert (version, payload_hash) == ("1.0.1", issued["1.0.1"])
    assert json.loads(payload)["format"] == "promptlane-payload/1"
    assert rows == sorted(issued.items())
    assert [e for (e,) in envs] == ["dev", "staging", "prod"]
    # Exporting again replaces the file instead of failing on existing tables.
    assert pl(in_prod, capsys, "registry", "export", "sqlite", str(out_file))[0] == 0


def test_json_bundle_for_the_runtime_sdk(in_prod, capsys, tmp_path):
    out_file = tmp_path / "bundle.json"
    assert pl(in_prod, capsys, "registry", "export", "json", str(out_file))[0] == 0
    doc = json.loads(out_file.read_text())
    assert doc["format"] == "promptlane-bundle/1"
    entry = doc["prompts"][PID]
    assert entry["environments"] == {"dev": "1.0.2", "staging": "1.0.1", "prod": "1.0.1"}
    assert sorted(entry["versions"]) == ["1.0.0", "1.0.1", "1.0.2"]
    assert entry["versions"]["1.0.2"]["hash"] == card(in_prod)["hash"]
    from promptlane.core.hashing import payload_hash

    assert all(payload_hash(v["payload"]) == v["hash"] for v in entry["versions"].values())


def test_export_refuses_a_registry_missing_a_snapshot(in_prod, capsys, tmp_path):
    (in_prod / f"registry/store/{PID}/1.0.1.json").unlink()
    out_file = tmp_path / "bundle.json"
    code, out = pl(in_prod, capsys, "registry", "export", "json", str(out_file))
    assert code == 1 and f"registry/store/{PID}/1.0.1.json:1:1: PL157" in out
    assert not out_file.exists()
