import hashlib
import json
from pathlib import Path

import pytest

from promptlane.core import hashing

VECTORS = json.loads((Path(__file__).parent / "vectors" / "payload-hash.json").read_text(encoding="utf-8"))
CHAIN_VECTORS = json.loads((Path(__file__).parent / "vectors" / "chain-hash.json").read_text(encoding="utf-8"))
MODEL = {"provider": "openai", "name": "gpt-4o-mini", "params": {"temperature": 0.2, "max_tokens": 400}}
STEPS = [{"name": "system", "role": "system"}, {"name": "user", "role": "user"}]


def payload(texts, model=MODEL, variables=("question",)):
    return hashing.build_payload(model, STEPS, texts, variables)


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_vectors(vector):
    built = hashing.build_payload(vector["model"], vector["steps"], vector["texts"], vector["variables"])
    assert hashing.canonical_bytes(built).decode("utf-8") == vector["canonical"]
    assert hashing.payload_hash(built) == vector["hash"]


@pytest.mark.parametrize("vector", CHAIN_VECTORS["vectors"], ids=lambda v: v["name"])
def test_chain_vectors(vector):
    built = hashing.build_chain_payload(vector["model"], vector["calls"], [call["texts"] for call in vector["calls"]],
                                        vector["variables"])
    assert hashing.canonical_bytes(built).decode("utf-8") == vector["canonical"]
    assert hashing.payload_hash(built) == vector["hash"]


def test_canonical_form_matches_an_independent_serialisation():
    # For ASCII strings and integers RFC 8785 equals sorted, compact json.dumps.
    built = payload(["Hi", "Q: {{ question }}"], model={"provider": "p", "name": "m", "params": {"max_tokens": 5}})
    plain = json.dumps(built, sort_keys=True, separators=(",", ":")).encode()
    assert hashing.canonical_bytes(built) == plain
    assert hashing.payload_hash(built) == "sha256:" + hashlib.sha256(plain).hexdigest()


@pytest.mark.parametrize("variant", [
    "Hello\r\nworld\r\n", "Hello\rworld", "Hello\nworld\n\n\n", "\ufeffHello\nworld",
])
def test_line_endings_trailing_newlines_and_bom_do_not_change_the_hash(variant):
    assert hashing.payload_hash(payload([variant, "x"])) == hashing.payload_hash(payload(["Hello\nworld", "x"]))


@pytest.mark.parametrize("change", [
    lambda: payload(["Hello world!", "x"]),                                   # text
    lambda: payload(["Hello\nworld", "x"], variables=("question", "name")),    # variables
    lambda: payload(["Hello\nworld", "x"], model={**MODEL, "name": "gpt-4o"}),  # model
    lambda: payload(["Hello\nworld", "x"], model={**MODEL, "params": {"temperature": 0.3}}),
    lambda: hashing.build_payload(MODEL, [STEPS[1], STEPS[0]], ["x", "Hello\nworld"], ["question"]),  # order
])
def test_behaviour_changes_change_the_hash(change):
    assert hashing.payload_hash(change()) != hashing.payload_hash(payload(["Hello\nworld", "x"]))


def test_variable_order_and_duplicates_do_not_matter():
    assert payload(["a", "b"], variables=("b", "a", "a"))["variables"] == ["a", "b"]


def test_hash_has_the_documented_shape():
    value = hashing.payload_hash(payload(["a", "b"]))
    assert value.startswith("sha256:") and len(value) == 7 + 64


NODE_REFERENCE = r"""
// An independent implementation of docs/hashing.md in JavaScript: the canonical form must
// be reproducible outside Python. JSON.stringify of key-sorted objects is RFC 8785 here.
const crypto = require('crypto');
const fs = require('fs');
const sortKeys = (v) => Array.isArray(v) ? v.map(sortKeys)
  : (v && typeof v === 'object') ? Object.fromEntries(Object.keys(v).sort().map(k => [k, sortKeys(v[k])])) : v;
const norm = (t) => t.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n').replace(/\n+$/, '');
const steps = (list, texts) => list.map((s, i) => ({name: s.name, role: s.role, text: norm(texts[i])}));
// A chain call's model: provider and name from the call or the card, params merged key by key.
const resolved = (card, call) => ({provider: (call.model || {}).provider ?? card.provider,
  name: (call.model || {}).name ?? card.name, params: {...(card.params || {}), ...(call.params || {})}});
const doc = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
for (const v of doc.vectors) {
  const variables = [...new Set(v.variables)].sort();
  const payload = doc.format === 'promptlane-chain/1'
    ? {format: 'promptlane-chain/1', variables,
       calls: v.calls.map(c => ({name: c.name, model: resolved(v.model, c), steps: steps(c.steps, c.texts)}))}
    : {format: 'promptlane-payload/1', variables, steps: steps(v.steps, v.texts),
       model: {provider: v.model.provider, name: v.model.name, params: v.model.params || {}}};
  const canonical = JSON.stringify(sortKeys(payload));
  const hash = 'sha256:' + crypto.createHash('sha256').update(canonical, 'utf8').digest('hex');
  console.log(v.name + ' ' + hash);
}
"""


@pytest.mark.parametrize("name, vectors", [("payload-hash.json", VECTORS), ("chain-hash.json", CHAIN_VECTORS)])
def test_vectors_reproduce_in_javascript(tmp_path, name, vectors):
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = tmp_path / "reference.js"
    script.write_text(NODE_REFERENCE, encoding="utf-8")
    done = subprocess.run([node, str(script), str(Path(__file__).parent / "vectors" / name)],
                          capture_output=True, text=True, check=True)
    got = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert got == {v["name"]: v["hash"] for v in vectors["vectors"]}


from hypothesis import given, settings, strategies as st

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES)
def test_fast_canonical_form_equals_rfc8785(value):
    import rfc8785

    try:
        expected = rfc8785.dumps({"v": value})
    except Exception:
        with pytest.raises(Exception):
            hashing.canonical_bytes({"v": value})
        return
    assert hashing.canonical_bytes({"v": value}) == expected


@pytest.mark.parametrize("value", [0.2, 1.0, 1e-7, 1e16, 1e21, 123456789.125, -0.0, 5e-324, 2**53 + 1, "\u2028", "\x7f\x1f", {"\U0001F600": 1, "\uffff": 2}])
def test_fast_canonical_form_edge_cases(value):
    import rfc8785

    try:
        expected = rfc8785.dumps({"v": value})
    except Exception:
        return
    assert hashing.canonical_bytes({"v": value}) == expected
