"""The commit hook's start-up: what `promptlane check` of one card imports (a subprocess, its
sys.modules read at exit), and core/record.py, the small dataclass the path's types use."""
from __future__ import annotations

import dataclasses
import json
import pickle
import re
import subprocess
import sys
import textwrap
from typing import ClassVar

import pytest

from promptlane.core.problems import Problem
from promptlane.core.record import FrozenInstanceError, field, record, replace

# Imported only by the runs that need them (docs/performance.md): none of them is needed to
# check a card and its texts that are fine.
LAZY = {
    "dataclasses": "the records of the check path are core/record.py's",
    "inspect": "dataclasses imports it",
    "rfc8785": "only for a payload json.dumps cannot write as RFC 8785 does",
    "jsonschema": "only to explain an invalid card or review the policy",
    "packaging": "only for a pin that is not a plain promptlane==X",
    "promptlane.core.gates": "only when an environment was raised by hand",
    "promptlane.core.decisions": "only when forms are judged",
    "promptlane.core.reviews": "only when forms are read",
    "promptlane.core.signatures": "only when signatures or allowed_signers are read",
    "promptlane.core.checklist": "only when the HITL template's checklists are compared",
    "promptlane.core.retire": "only when a retirement is judged",
    "promptlane.core.events": "only when a log is written or an approval dated",
    "promptlane.store.reviews": "only when forms are read",
    "promptlane.operations.gating": "only when an environment was raised by hand",
}

RUN = textwrap.dedent("""
    import json, sys
    from promptlane.cli import main
    code = main(sys.argv[1:])
    print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
""")


def _modules_of(root, *args: str) -> tuple[int, set[str]]:
    """The exit code of ``promptlane ARGS`` and every module it imported. The run before it left
    the day's prices in .promptlane/cache/ (the first check of a day imports genai-prices for
    the template's cost budget: docs/performance.md), so this is a commit's usual run."""
    subprocess.run([sys.executable, "-m", "promptlane", *args], cwd=root, capture_output=True, timeout=120)
    done = subprocess.run([sys.executable, "-c", RUN, *args], cwd=root, capture_output=True, text=True, timeout=120)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


@pytest.mark.parametrize("files", [
    ["prompts/support-reply/card.yml"],
    ["prompts/support-reply/card.yml", "prompts/support-reply/system.md", "prompts/support-reply/user.md"],
])
def test_a_check_of_one_prompt_imports_none_of_the_lazy_modules(gov, files):
    code, modules = _modules_of(gov, "check", *files)
    assert code == 0
    assert "promptlane.commands.check" in modules and "yaml" in modules  # it did check the card
    loaded = {name: why for name, why in LAZY.items() if name in modules or any(m.startswith(name + ".") for m in modules)}
    assert loaded == {}, loaded


def test_hashlib_stays_unloaded_where_the_interpreter_has_its_own_sha256(gov):
    """core/hashing takes CPython's built-in SHA-256 (hashlib would load OpenSSL, ~5 ms)."""
    try:
        import _sha256  # noqa: F401
    except ImportError:
        try:
            import _sha2  # noqa: F401
        except ImportError:
            pytest.skip("this interpreter has no built-in SHA-256 module")
    code, modules = _modules_of(gov, "check", "prompts/support-reply/card.yml")
    assert code == 0 and "hashlib" not in modules and "_hashlib" not in modules


def test_a_lowered_risk_still_imports_what_judging_it_needs(gov):
    """The lazy imports move work, they drop none: a card whose risk went down since HEAD is
    refused (PL412), which asks the approvals' modules."""
    card = gov / "prompts/support-reply/card.yml"
    card.write_text(card.read_text(encoding="utf-8").replace("risk: high", "risk: low"), encoding="utf-8")
    code, modules = _modules_of(gov, "check", "prompts/support-reply/card.yml")
    assert code == 1
    assert "promptlane.store.reviews" in modules


def test_a_check_still_finds_what_it_found(gov):
    """The whole repository is fine, and a hand-edited hash is still reported (PL150)."""
    assert _modules_of(gov, "check", "--all")[0] == 0
    card = gov / "prompts/support-reply/card.yml"
    card.write_text(re.sub(r"hash: sha256:[0-9a-f]{64}", "hash: sha256:" + "0" * 64, card.read_text(encoding="utf-8")),
                    encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "promptlane", "check", "prompts/support-reply/card.yml"], cwd=gov,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "PL161 hash: sha256:000000000000... was edited by hand" in done.stdout, done.stdout


# ---------------------------------------------------------------- core/record.py


@record(frozen=True, order=True)
class Point:
    x: int
    y: int = 0
    label: str = field(default="", compare=False)
    origin: ClassVar[int] = 0


@record
class Bag:
    name: str
    items: list[int] = field(default_factory=list)


@dataclasses.dataclass(frozen=True, order=True)
class DataPoint:
    x: int
    y: int = 0
    label: str = dataclasses.field(default="", compare=False)


def test_a_record_behaves_as_the_dataclass_it_replaced():
    ours, theirs = Point(1, 2, "a"), DataPoint(1, 2, "a")
    assert repr(ours) == repr(theirs).replace("DataPoint", "Point")
    assert ours == Point(1, 2, "b") and ours != Point(1, 3) and ours != (1, 2)  # label is not compared
    assert hash(ours) == hash(Point(1, 2, "b"))
    assert sorted([Point(2), Point(1, 5), Point(1, 1)]) == [Point(1, 1), Point(1, 5), Point(2)]
    assert Point(1) < Point(2) and Point(2) >= Point(1) and not Point(1) > Point(1)
    assert Point(y=3, x=1) == Point(1, 3) and Point.y == 0 and Point.origin == 0
    with pytest.raises(FrozenInstanceError):
        ours.x = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del ours.x  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, 2, "a", 4)  # type: ignore[call-arg]


def test_a_mutable_record_has_its_own_defaults_and_no_hash():
    a, b = Bag("a"), Bag("b")
    a.items.append(1)
    assert b.items == [] and a == Bag("a", [1]) and a != Bag("a")
    a.name = "c"
    assert a.name == "c"
    with pytest.raises(TypeError):
        hash(a)


def test_records_survive_pickling_and_replace():
    """check --all's workers send their problems to the parent pickled."""
    problem = Problem("prompts/x/card.yml", 3, 1, "PL150", "hash: does not match")
    assert pickle.loads(pickle.dumps(problem)) == problem
    assert str(pickle.loads(pickle.dumps(problem))) == str(problem)
    moved = replace(problem, line=4)
    assert moved.line == 4 and problem.line == 3 and moved.message == problem.message


def test_a_field_without_default_after_one_with_is_refused():
    with pytest.raises(TypeError, match="without a default follows"):
        @record
        class Wrong:
            a: int = 0
            b: int


def test_a_whole_check_asks_jsonschema_only_for_what_it_must_explain(gov):
    """The policy is validated by generated code and the schemas as shipped are known valid; the
    trace sample (logs/) is jsonschema's to validate, so without it nothing imports jsonschema."""
    for rel in ("logs/prompt-log-schema.json", "logs/log-sample.output.json"):
        (gov / rel).unlink()
    code, modules = _modules_of(gov, "check", "--all")
    assert code == 0 and "jsonschema" not in modules
    schema = gov / "schemas/prompt-card.schema.json"
    schema.write_text(schema.read_text(encoding="utf-8").replace('"type": "object"', '"type": "objekt"', 1), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "promptlane", "check", "--all"], cwd=gov, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "schemas/prompt-card.schema.json:1:1: PL701" in done.stdout, done.stdout


def test_a_price_looked_up_is_cached_at_once(tmp_path):
    """check --all looks prices up in its worker processes, whose caches its parent never saves:
    each look-up is written when made, so the next run (CI's next check --all) imports no
    genai-prices. No file is left beside the cache."""
    from datetime import date

    from promptlane.store.pricecache import CACHE, CachedPrices
    from promptlane.store.repo import Repo

    (tmp_path / "prompts").mkdir()
    prices = CachedPrices(Repo(tmp_path))
    found = prices.price("openai", "gpt-4o-mini", date(2026, 12, 1))
    cached = json.loads((tmp_path / CACHE).read_text(encoding="utf-8"))  # no save() called
    assert "price openai gpt-4o-mini 2026-12-01" in cached["entries"]
    assert CachedPrices(Repo(tmp_path)).price("openai", "gpt-4o-mini", date(2026, 12, 1)) == found
    assert sorted(p.name for p in (tmp_path / CACHE).parent.iterdir()) == ["prices.json"]
