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

from promptlane.core.card import Card
from promptlane.core.layout import is_prompt_id
from promptlane.core.problems import Problem
from promptlane.core.results import ResultsError, inputs_problem
from promptlane.core.suggest import did_you_mean
from promptlane.evals.config import EvalSetupError
from promptlane.store.cards import read_card
from promptlane.store.evalinputs import InputsError, current_inputs
from promptlane.store.results import load_results

RUN_SYNC = "run `promptlane sync` first (or commit: the promptlane-sync hook does it), so results name their version"


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


def matrix(cards: list[Card]) -> dict:
    """GitHub Actions ``strategy.matrix``: ``{"include": [{"prompt": id, "hash": h}, ...]}``."""
    return {"include": [{"prompt": card.prompt_id, "hash": card.hash} for card in cards]}
