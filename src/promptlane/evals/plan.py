"""Which prompts still owe eval results for their current payload hash (a CI matrix).

A prompt is owed when its card is sound and ``evals/results/<id>/<hash16>.json`` does not hold
results that count for the hash: never evaluated, changed since, a results file that is
corrupt, of the old ``promptlane-eval/1`` format, or produced with other eval inputs (eval
config, tests, providers) than the current ones. With a base (``--base``, $PROMPTLANE_BASE: a
pull request in CI), every prompt whose lock serves a version in an environment it did not
serve at the base is owed too, whatever it has committed: CI evaluates what a change promotes
again and judges it on its own results (docs/evals.md).
"""
from __future__ import annotations

import yaml

from promptlane.core.card import Card
from promptlane.core.evalinputs import tests_rel
from promptlane.core.layout import is_prompt_id
from promptlane.core.problems import Problem
from promptlane.core.results import ResultsError, inputs_problem
from promptlane.core.suggest import did_you_mean
from promptlane.evals.config import EvalSetupError
from promptlane.store.cards import read_card
from promptlane.store.evalinputs import InputsError, current_inputs
from promptlane.store.results import load_results

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
RUN_SYNC = "run `promptlane sync` first (or commit: the commit hook does it), so results name their version"


def eval_card(repo, prompt_id: str) -> Card:
    """A card that can be evaluated: sound and synced (its hash and version are current)."""
    if not is_prompt_id(prompt_id):  # never build a path from an arbitrary argument
        raise EvalSetupError(f"'{prompt_id}' is not a prompt id ([a-z0-9][a-z0-9-]*)",
                             [Problem(f"prompts/{prompt_id}", 1, 1, "PL120", "is not a prompt id ([a-z0-9][a-z0-9-]*)")])
    if not repo.card_path(prompt_id).is_file():
        known = repo.prompt_ids()
        message = f"no such prompt{did_you_mean(prompt_id, known)}; known: {', '.join(known) or 'none'}"
        raise EvalSetupError(f"no prompt '{prompt_id}'", [Problem(f"prompts/{prompt_id}/card.yml", 1, 1, "PL120", message)])
    card = read_card(repo, prompt_id)
    # read_card sets the hash with the payload: a sound card (ok) always has one.
    if not card.ok or card.hash is None:
        raise EvalSetupError(f"{prompt_id}: the card has problems; fix them (`promptlane check`)", card.problems)
    if card.data.get("hash") != card.hash or not isinstance(card.version, str):
        raise EvalSetupError(f"{prompt_id}: not synced", [card.problem(
            "PL325", f"hash: the card is not synced with its texts and model ({card.hash[:19]}...); {RUN_SYNC}", "hash")])
    return card


def has_results(repo, card: Card) -> bool:
    """Results for the card's hash that count: valid, ``promptlane-eval/2``, of the current inputs."""
    try:
        found = load_results(repo, card.prompt_id, card.sound_hash)  # eval_card's: hash set
    except ResultsError:
        return False  # a corrupt file is re-run, never trusted
    if found is None:
        return False
    try:
        return inputs_problem(found, current_inputs(repo, card)) is None
    except InputsError:
        return False  # the eval run reports what is wrong with the eval config or tests


def owed(repo, prompt_ids: list[str] | None = None, promoted: set[str] | frozenset[str] = frozenset()) -> tuple[list[Card], list[Problem]]:
    """Cards without results that count for their hash (or in ``promoted``), and why others
    could not be considered."""
    cards, problems = [], []
    for prompt_id in prompt_ids if prompt_ids is not None else repo.prompt_ids():
        try:
            card = eval_card(repo, prompt_id)
        except EvalSetupError as exc:
            problems.extend(exc.problems)
            continue
        if prompt_id in promoted or not has_results(repo, card):
            cards.append(card)
    return cards, problems


def test_count(repo, card: Card) -> int:
    """How many test cases ``evals/tests/<id>.yml`` holds (what a batch or a shard weighs); 1 when
    it cannot be read (the run says what is wrong)."""
    try:
        loaded = yaml.load((repo.root / tests_rel(card.prompt_id)).read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 (a safe loader: CSafeLoader or SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return 1
    return len(loaded) if isinstance(loaded, list) and loaded else 1


def balance(weighed: list[tuple[Card, int]], parts: int) -> list[list[Card]]:
    """``weighed`` (card, tests) in at most ``parts`` groups of about equal tests: the largest
    first, each onto the lightest group so far (the first of equals); every group non-empty, each
    in the order the cards came, the groups in the order of their first card. Deterministic."""
    parts = max(1, min(parts, len(weighed)))
    order = {card.prompt_id: number for number, (card, _) in enumerate(weighed)}
    groups: list[list[tuple[Card, int]]] = [[] for _ in range(parts)]
    loads = [0] * parts
    for card, tests in sorted(weighed, key=lambda item: (-item[1], order[item[0].prompt_id])):
        lightest = loads.index(min(loads))
        groups[lightest].append((card, tests))
        loads[lightest] += tests
    ordered = [sorted(group, key=lambda item: order[item[0].prompt_id]) for group in groups if group]
    ordered.sort(key=lambda group: order[group[0][0].prompt_id])
    return [[card for card, _ in group] for group in ordered]


def shards(repo, cards: list[Card], count: int) -> dict:
    """``eval plan --shards K``: ``{"include": [{"shard": 1, "prompts": "a b", "tests": 12}, ...]}``,
    at most K shards (one per prompt when fewer are owed) balanced by test count."""
    weighed = [(card, test_count(repo, card)) for card in cards]
    tests = dict((card.prompt_id, n) for card, n in weighed)
    return {"include": [{"shard": number, "prompts": " ".join(card.prompt_id for card in group),
                         "tests": sum(tests[card.prompt_id] for card in group)}
                        for number, group in enumerate(balance(weighed, count), 1)]}


def matrix(cards: list[Card]) -> dict:
    """GitHub Actions ``strategy.matrix``: ``{"include": [{"prompt": id, "hash": h}, ...]}``."""
    return {"include": [{"prompt": card.prompt_id, "hash": card.hash} for card in cards]}
