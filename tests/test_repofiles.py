"""The governed repository's own files are checked, not just present."""
from __future__ import annotations

import pytest

from conftest import run_cli, snapshot_tree


def _edit(root, rel, old, new):
    path = root / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1))


BREAKAGES = [
    ("schemas/prompt-card.example.yml", lambda r: _edit(r, "schemas/prompt-card.example.yml", "risk: high", "risk: extreme"),
     "schemas/prompt-card.example.yml:8:7: PL103"),
    ("schemas/prompt-card.schema.json", lambda r: _edit(r, "schemas/prompt-card.schema.json", '"type": "object"', '"type": "objekt"'),
     "schemas/prompt-card.schema.json:1:1: PL701"),
    ("schemas/prompt-version-schema.yml", lambda r: _edit(r, "schemas/prompt-version-schema.yml", "type: object", "type: [object"),
     "schemas/prompt-version-schema.yml:"),
    ("logs/log-sample.output.json", lambda r: _edit(r, "logs/log-sample.output.json", '"status": "ok"', '"status": "fine"'),
     "logs/log-sample.output.json:"),
    ("logs/prompt-log-schema.json", lambda r: (r / "logs/prompt-log-schema.json").write_text("{not json"),
     "logs/prompt-log-schema.json:1:2: PL700"),
    ("HITL_Approval_Template.md", lambda r: _edit(r, "HITL_Approval_Template.md", "decision:", "verdict:"),
     "HITL_Approval_Template.md:2:1: PL703"),
    ("ci/eval-gate.yml", lambda r: (r / "ci/eval-gate.yml").write_text((r / "ci/eval-gate.yml").read_text() + "# local tweak\n"),
     ".github/workflows/eval-gate.yml:"),
    ("workflows/rollback-flow.md", lambda r: _edit(r, "workflows/rollback-flow.md", "promptlane status", "promptlane state"),
     "workflows/rollback-flow.md:"),
]


@pytest.mark.parametrize("rel,breakage,expected", BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_a_broken_repository_file_is_reported_when_committed_and_in_ci(gov, capsys, rel, breakage, expected):  # noqa: F811
    breakage(gov)
    before = snapshot_tree(gov)
    code, out = run_cli(gov, "check", rel, capsys=capsys)  # a commit touching it
    assert code == 1 and any(line.startswith(expected) for line in out.splitlines()), out
    code, out = run_cli(gov, "check", "--all", capsys=capsys)  # CI's --all-files
    assert code == 1 and any(line.startswith(expected) for line in out.splitlines()), out
    assert snapshot_tree(gov) == before


def test_a_fresh_scaffold_passes_and_other_files_skip_these_checks(gov, capsys):  # noqa: F811
    assert run_cli(gov, "check", "--all", capsys=capsys) == (0, "")
    (gov / "HITL_Approval_Template.md").write_text("no front matter\n")
    assert run_cli(gov, "check", "prompts/support-reply/card.yml", capsys=capsys)[0] == 0
