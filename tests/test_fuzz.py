"""Property tests: readers of untrusted text report problems or refuse, they never crash.

* the card loader (``yamlio.load`` and ``card.read_card``) on arbitrary text, YAML-ish text,
  arbitrary YAML structures and mutations of a valid card: only ``Problem``s (PL1xx), and a
  hash only for a card without problems;
* the registry lock reader on arbitrary JSON: a ``Lock``, ``None`` or ``LockError``;
* the audit chain (``verify_text``, ``chain_head``, ``audit.verify``) on arbitrary text and
  bytes: only PL2xx problems;
* the runtime: ``Prompt.render`` with arbitrary variables and a registry of arbitrary bundle
  data refuse with their own errors (RenderError / RuntimeSDKError), never anything else.

Examples are moderate (the whole file runs in well under 20 s) and deadlines are off: the
properties are about crashes, not speed.
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings, strategies as st

from conftest import CARD, SYSTEM, USER
from promptlane.operations.verify import verify
from promptlane.core.chain import verify_text
from promptlane.store.cards import read_card
from promptlane.core.chain import AUDIT_HEADER, audit_row
from promptlane.core.events import Event
from promptlane.store.logs import chain_head
from promptlane.core.problems import Problem
from promptlane.core.registry import Lock, LockError
from promptlane.store.registry import read_lock
from promptlane.store.repo import Repo
from promptlane.runtime import Prompt, RenderError, RuntimeSDKError, Step
from promptlane.runtime.loader import Registry, _BundleReader
from promptlane.core.yamltext import load

EXAMPLES = int(os.environ.get("PROMPTLANE_FUZZ_EXAMPLES", "150"))  # raise it for a long hunt
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PID = "fz"
CARD_CODE = re.compile(r"^PL1\d\d$")

# ---------------------------------------------------------------- strategies

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
YAMLISH = st.lists(st.sampled_from(list(":-[]{},#&*!|>?%@`'\"\\\n\t ") + list("abcxyz019.")
                                   + ["\r\n", "\ufeff", "---", "...", "yes", "on", "1.10", "~", "<<", "  ", "- ", ": "]),
                   max_size=60).map("".join)
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-10**12, max_value=10**12) | st.floats()
           | st.text(max_size=12) | st.sampled_from(["yes", "no", "1.0.0", "sha256:" + "0" * 64, "dev", "prod", "../x"]))
STRUCTURES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4), max_leaves=16)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                    max_leaves=20)
VALID = yaml.safe_load(CARD)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


CARD_PATHS = [p for p in _paths(VALID) if p]


# ---------------------------------------------------------------- a scratch repository


@pytest.fixture(scope="module")
def scratch():
    """prompts/fz/ with valid texts; each example rewrites card.yml (and maybe a text)."""
    root = Path(tempfile.mkdtemp(prefix="promptlane-fuzz-"))
    folder = root / "prompts" / PID
    folder.mkdir(parents=True)
    yield Repo(root)
    shutil.rmtree(root)


def _reset_texts(repo: Repo) -> None:
    folder = repo.prompt_dir(PID)
    (folder / "system.md").write_text(SYSTEM, encoding="utf-8")
    (folder / "user.md").write_text(USER, encoding="utf-8")


def read(repo: Repo, card: bytes | str, user: bytes | None = None):
    _reset_texts(repo)
    if user is not None:
        (repo.prompt_dir(PID) / "user.md").write_bytes(user)
    repo.card_path(PID).write_bytes(card if isinstance(card, bytes) else card.encode("utf-8", "surrogatepass"))
    result = read_card(repo, PID)
    assert isinstance(result.problems, list) and all(isinstance(p, Problem) for p in result.problems)
    assert all(CARD_CODE.match(p.code) for p in result.problems), result.problems
    assert all(p.line >= 1 and p.col >= 1 for p in result.problems), result.problems
    if result.ok:
        assert not result.problems and re.fullmatch(r"sha256:[0-9a-f]{64}", result.hash)
    else:
        assert result.hash is None
    return result


# ---------------------------------------------------------------- the card loader


@FUZZ
@given(TEXT | YAMLISH)
@example("[" * 5000)
@example("a: &a [x]\nb: *a\nc: *nope\n")
@example("!!python/object/apply:os.system ['echo pwned']\n")
@example("{a: " * 990 + "x" + "}" * 990)
@example("a: &x " + "[" * 990 + "]" * 990)
def test_yaml_load_reports_problems_and_never_raises(text):
    loaded = load(text, "x.yml")
    assert all(isinstance(p, Problem) and p.code in ("PL100", "PL101", "PL102", "PL107") for p in loaded.problems)


@FUZZ
@given(TEXT | YAMLISH | STRUCTURES.map(lambda data: yaml.safe_dump(data, allow_unicode=True)))
@example("a: yes\nb: 1.10\nc: 2026-01-01\nd: !!set {x}\ne: [1, {f: g}]\na: again\n")
@example("{[1]: x}\n")
def test_the_fast_yaml_path_builds_what_the_generic_constructor_builds(text):
    """Documents without anchors or merge keys skip the generic construction: same data, same problems."""
    from promptlane.core.yamltext import _load

    assume("&" not in text and "<<" not in text)
    fast, generic = _load(text, "x.yml", plain=True), _load(text, "x.yml", plain=False)
    assert fast.problems == generic.problems
    assert repr(fast.data) == repr(generic.data)  # repr: nan != nan, and 1 == True in a plain ==


@FUZZ
@given(TEXT | YAMLISH | STRUCTURES.map(lambda data: yaml.safe_dump(data, allow_unicode=True)))
@example("a: 1\nb: 1.5\nc: ~\nd: null\ne: 2026-01-01\nf: .inf\ng: 0x1f\nh: 1_000\ni: '1'\nj: =\nk: true\n")
@example("- 1\n- '1'\n- \"1\"\n- 1\n")
def test_the_loader_builds_what_pyyaml_builds_each_time(text):
    """A document the loader finds nothing wrong with is the data PyYAML's own safe loader
    builds, however often a scalar's text was seen before (the loader keeps plain scalars'
    resolved tags for the run)."""
    try:
        expected = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    except (yaml.YAMLError, RecursionError):
        return
    first, again = load(text, "x.yml"), load(text, "x.yml")
    assert first.problems == again.problems and repr(first.data) == repr(again.data)
    if not first.problems:
        assert repr(first.data) == repr(expected)


@FUZZ
@given(TEXT | YAMLISH)
@example("\ufeff" + CARD.replace("\n", "\r\n"))
@example("!!python/object/apply:os.system ['echo pwned']\n")
def test_read_card_on_arbitrary_text_returns_problems(scratch, text):
    read(scratch, text.replace("id: support-reply", f"id: {PID}"))


@FUZZ
@given(STRUCTURES)
def test_read_card_on_arbitrary_yaml_structures_returns_problems(scratch, data):
    read(scratch, yaml.safe_dump(data, allow_unicode=True))


@FUZZ
@given(st.sampled_from(CARD_PATHS), STRUCTURES)
def test_read_card_on_a_valid_card_with_one_value_replaced_returns_problems(scratch, path, value):
    data = copy.deepcopy(VALID)
    data["id"] = PID
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    result = read(scratch, yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    if path == ("title",) and isinstance(value, str) and value.strip():
        assert result.ok  # the title is free text: any non-empty string is fine


@FUZZ
@given(st.binary(max_size=200))
def test_read_card_with_arbitrary_step_text_bytes(scratch, raw):
    read(scratch, CARD.replace("id: support-reply", f"id: {PID}"), user=raw)


@FUZZ
@given(JSON)
def test_lock_reader_returns_a_lock_or_refuses(scratch, doc):
    rel = scratch.root / scratch.lock_rel(PID)
    rel.parent.mkdir(exist_ok=True)
    for candidate in (doc, {"format": "promptlane-lock/1", "id": PID, "environments": doc, "versions": doc},
                      {"format": "promptlane-lock/1", "id": PID, "environments": {}, "versions": [doc], "withdrawn": doc}):
        rel.write_text(json.dumps(candidate), encoding="utf-8")
        try:
            lock = read_lock(scratch, PID)
        except LockError as exc:
            assert exc.problem.code == "PL156"
            continue
        assert isinstance(lock, Lock)
        lock.issued(), lock.highest(), lock.version_of("sha256:x")  # usable once accepted


# ---------------------------------------------------------------- the audit chain


def _chain(n: int) -> list[str]:
    rows, prev = [], "0" * 64
    for seq in range(1, n + 1):
        row, prev = audit_row(prev, seq, Event("version", "2026-01-01T00:00:00Z", "a@x", "p", f"1.0.{seq}",
                                               "sha256:" + "ab" * 32, {}, f"reason {seq}"))
        rows.append(row)
    return rows


CELL = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=20)


@FUZZ
@given(st.lists(st.lists(CELL, max_size=12), max_size=6), st.integers(min_value=0, max_value=3))
def test_audit_verify_text_on_arbitrary_rows_never_raises(rows, keep):
    lines = _chain(3)[:keep] + ["| " + " | ".join(cells) + " |\n" for cells in rows]
    problems = verify_text(AUDIT_HEADER + "".join(lines))
    assert len(problems) <= 1 and all(p.code in ("PL201", "PL202", "PL203", "PL204") for p in problems)
    if not rows:
        assert problems == []  # an intact prefix of a chain verifies


@FUZZ
@given(st.binary(max_size=400))
def test_chain_head_reads_any_bytes(raw):
    with tempfile.NamedTemporaryFile(suffix=".md") as handle:
        handle.write(raw)
        handle.flush()
        seq, prev = chain_head(Path(handle.name))
    assert isinstance(seq, int) and isinstance(prev, str)


@settings(max_examples=max(EXAMPLES // 3, 20), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | TEXT.map(lambda t: (AUDIT_HEADER + t).encode("utf-8")),
       st.binary(max_size=200) | YAMLISH.map(lambda t: t.encode("utf-8")))
def test_audit_verify_on_arbitrary_files_returns_problems(scratch, audit_bytes, changelog_bytes):
    (scratch.root / "audit").mkdir(exist_ok=True)
    (scratch.root / "schemas").mkdir(exist_ok=True)
    (scratch.root / "registry").mkdir(exist_ok=True)
    (scratch.root / scratch.lock_rel(PID)).unlink(missing_ok=True)
    (scratch.root / "audit/artifact-audit-log.md").write_bytes(audit_bytes)
    (scratch.root / "schemas/prompt-change-log.yml").write_bytes(changelog_bytes)
    problems = verify(Repo(scratch.root))
    assert all(isinstance(p, Problem) and p.code.startswith("PL2") for p in problems), problems


# ---------------------------------------------------------------- the runtime


VAR = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
VALUE = st.one_of(st.text(max_size=20), st.integers(), st.floats(), st.booleans(), st.none(),
                  st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                  st.sampled_from(["{{ x }}", "{{x}}", "}}{{", "\\1", "\\g<0>"]))


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["system", "user", "assistant"]), st.text(max_size=60),
                          st.lists(VAR, max_size=3)), min_size=1, max_size=3),
       st.lists(VAR, max_size=4, unique=True), st.dictionaries(st.text(max_size=8) | VAR, VALUE, max_size=5))
def test_render_refuses_rather_than_crashes(steps, declared, variables):
    texts = [text + "".join(f" {{{{ {name} }}}}" for name in names) for _, text, names in steps]
    prompt = Prompt("fz", "1.0.0", "sha256:" + "0" * 64, "prod", {"provider": "p", "name": "m", "params": {}},
                    tuple(Step(f"s{i}", role, text) for i, ((role, _, _), text) in enumerate(zip(steps, texts))),
                    tuple(declared))
    try:
        messages = prompt.render(**variables)
    except RenderError as exc:
        assert str(exc).startswith("fz")
        return
    assert [m["role"] for m in messages] == [role for role, _, _ in steps]
    for message in messages:
        assert isinstance(message["content"], str)


@FUZZ
@given(JSON, st.text(max_size=8), st.sampled_from(["prod", "dev", "nope"]))
def test_registry_of_arbitrary_bundle_data_refuses_with_its_own_errors(prompts, prompt_id, env):
    assume(isinstance(prompts, dict) or prompts is None)
    registry = Registry("bundle.json", _BundleReader(prompts or {}))
    for candidate in {prompt_id, *list(prompts or {})[:2]}:
        try:
            prompt = registry.get(candidate, env)
        except RuntimeSDKError:
            continue
        assert isinstance(prompt, Prompt)
