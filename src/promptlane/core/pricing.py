"""Model prices and context windows for budgets, from genai-prices (pydantic's package, MIT).

genai-prices ships its data as Python (``genai_prices/data.py``): the lookup is pure, offline and
the same on every machine with the same genai-prices. promptlane never calls its
``UpdatePrices`` (that fetches newer prices from GitHub), so a price always names the installed
snapshot: "genai-prices 0.2.3". Importing it costs ~130 ms (its data and pydantic), so it is
imported lazily, only for a card whose budget needs a price or a context window, and
store/pricecache.py keeps what was looked up so that the next run need not import it at all.

A card may declare its own price (``budget.price``): then genai-prices is not asked for the
price at all (a local, fine-tuned or negotiated-price model).
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any

from promptlane.core.record import record
from promptlane.core.suggest import did_you_mean

PER_MILLION = Decimal(1_000_000)

# The smallest context window genai-prices knows for any model of these providers (their
# fallback providers' included: azure serves openai's models). A max_input_tokens within it
# fits every such model, so check need not import genai-prices to know (a card with a token
# budget only stays off the ~130 ms import). Derived from the data, not chosen:
# tests/test_pricing.py recomputes it from the installed genai-prices and fails when it moved.
WINDOW_FLOORS = {"openai": 8192, "azure": 8192, "anthropic": 200_000, "google": 8192, "mistral": 8000}

# The price keys of a chat model that a budget's call (input, output, cached input) is charged
# by; the others listed cost nothing in such a call (no cache writes, searches). A model priced
# by these alone, at flat rates, is priced here by arithmetic (~2 us, not calc_price's ~200 us
# a call: `check --all` prices every card); any other (tiers, per-request fees) by calc_price.
# tests/test_pricing.py holds the arithmetic to calc_price for every such model.
FLAT_KEYS = frozenset({"input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok",
                       "web_searches_kcount", "storage_searches_kcount"})


@record(frozen=True)
class CallTokens:
    """The tokens of one call: all input (cached ones included), output, and the cached part."""
    input: int
    output: int = 0
    cached: int = 0


@record(frozen=True)
class Price:
    """How one model is priced: from genai-prices' data (``ref`` set) or from the card's ``budget.price``."""
    model: str                  # "openai gpt-4o-mini": the provider and the model as matched
    source: str                 # "genai-prices 0.2.3" or "the card's budget.price"
    input_per_1m: Decimal
    output_per_1m: Decimal
    cached_per_1m: Decimal | None  # None: no cheaper price for cached input
    tiered: bool = False        # genai-prices prices long inputs higher (the rates shown are the base)
    ref: tuple[str, str] | None = None  # (genai-prices provider id, model id)
    flat: bool = True           # the rates above are the whole price (FLAT_KEYS)

    def cost(self, tokens: CallTokens, on: date) -> Decimal:
        """USD for a call of ``tokens`` on day ``on`` (genai-prices' calc_price unless ``flat``)."""
        if self.ref is None or self.flat:
            uncached = tokens.input - tokens.cached
            cached_rate = self.input_per_1m if self.cached_per_1m is None else self.cached_per_1m
            return (uncached * self.input_per_1m + tokens.cached * cached_rate
                    + tokens.output * self.output_per_1m) / PER_MILLION
        return _genai_cost(self.ref, tokens, on)


@record(frozen=True)
class Unpriced:
    """No price for the card's model: the problem's code, the ``model:`` key it points at, the message."""
    code: str
    key: str
    message: str


def declared_price(declared: dict[str, Any], provider: str, model_name: str) -> Price:
    """The card's ``budget.price`` (schema-checked: input and output per 1M tokens, optional cached)."""
    cached = declared.get("cached_input_per_1m_usd")
    return Price(f"{provider} {model_name}", "the card's budget.price",
                 Decimal(str(declared["input_per_1m_usd"])), Decimal(str(declared["output_per_1m_usd"])),
                 None if cached is None else Decimal(str(cached)))


@lru_cache(maxsize=None)
def genai_price(provider: str, model_name: str, on: date) -> Price | Unpriced:
    """The price genai-prices has for ``provider``/``model_name`` on day ``on``, or why there is none."""
    name = snapshot()
    found = _provider(provider)
    if found is None:
        return Unpriced("PL173", "provider", f"{name} has no prices for provider '{provider}'"
                        f"{did_you_mean(provider, _provider_ids())}; {_HOW_TO_DECLARE}")
    model = _model(found, model_name)
    if model is None:
        return Unpriced("PL172", "name", f"{name} does not know {found.id} model '{model_name}'"
                        f"{did_you_mean(model_name, _model_ids(found))}; {_HOW_TO_DECLARE}")
    rates = model.get_prices(_noon(on))
    if rates.input_mtok is None:  # priced by audio seconds, images, requests: not by the tokens counted here
        return Unpriced("PL175", "name", f"{name} has no per-token input price for "
                        f"{found.id} {model.id}; {_HOW_TO_DECLARE}")
    cached = rates.cache_read_mtok
    charged = {key: rate for key, rate in vars(rates).items() if rate is not None}
    # No output price: the model bills no output tokens (an embedding model).
    output = Decimal(0) if rates.output_mtok is None else _base(rates.output_mtok)
    return Price(f"{found.id} {model.id}", name, _base(rates.input_mtok), output,
                 None if cached is None else _base(cached),
                 tiered=any(r is not None and not isinstance(r, Decimal) for r in (rates.input_mtok, rates.output_mtok)),
                 ref=(found.id, model.id),
                 flat=charged.keys() <= FLAT_KEYS and all(isinstance(rate, Decimal) for rate in charged.values()))


def model_window(provider: str, model_name: str) -> tuple[int, str] | None:
    """(the model's context window, the model as matched), or None when genai-prices does not know it."""
    found = _provider(provider)
    model = _model(found, model_name) if found is not None else None
    if found is None or model is None or model.context_window is None:
        return None
    return model.context_window, f"{found.id} {model.id}"


class Prices:
    """Where budgets look prices and context windows up: genai-prices itself. A store keeps what
    one run looked up (store/pricecache.py), so the next commit need not import genai-prices."""

    def price(self, provider: str, model_name: str, on: date) -> Price | Unpriced:
        return genai_price(provider, model_name, on)

    def window(self, provider: str, model_name: str) -> tuple[int, str] | None:
        return model_window(provider, model_name)

    def snapshot(self) -> str:
        return snapshot()


def context_window(provider: str, model_name: str, max_input_tokens: int,
                   prices: Prices | None = None) -> tuple[int, str] | None:
    """(the model's context window, the model as matched) when ``max_input_tokens`` exceeds it;
    None when it fits or genai-prices does not know the model's window."""
    if max_input_tokens <= WINDOW_FLOORS.get(provider.lower(), 0):
        return None  # within every window of the provider: nothing to look up
    known = (prices or Prices()).window(provider, model_name)
    return known if known is not None and max_input_tokens > known[0] else None


_HOW_TO_DECLARE = ("declare the price on the card: budget: {price: {input_per_1m_usd: 0.5, output_per_1m_usd: 1.5}} "
                   "(USD per 1M tokens; 0 for a free local model)")


def snapshot() -> str:
    """Which prices: the installed genai-prices release, whose bundled data is the snapshot."""
    import genai_prices  # lazy: ~130 ms, paid only by a card whose budget needs a price

    return f"genai-prices {genai_prices.__version__}"


def _noon(on: date) -> datetime:
    # A fixed hour makes the price a function of the day: deepseek's off-peak discount (16:30 to
    # 00:30 UTC) would otherwise pass or fail a commit by the time of day. Noon is the standard price.
    return datetime.combine(on, time(12), tzinfo=timezone.utc)


def _genai_cost(ref: tuple[str, str], tokens: CallTokens, on: date) -> Decimal:
    from genai_prices import Usage, calc_price

    # genai-prices counts cached tokens inside input_tokens (as the providers report them).
    usage = Usage(input_tokens=tokens.input, output_tokens=tokens.output, cache_read_tokens=tokens.cached)
    total: Decimal = calc_price(usage, ref[1], provider_id=ref[0], genai_request_timestamp=_noon(on)).total_price
    return total


def _base(rate: Any) -> Decimal:
    """A flat rate as is; a tiered one's base rate (for the message: the cost itself uses the tiers)."""
    return rate if isinstance(rate, Decimal) else Decimal(rate.base)


@lru_cache(maxsize=None)
def _provider(provider: str) -> Any:  # a genai_prices.types.Provider, or None
    from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

    return find_provider_by_id(get_snapshot().providers, provider)


def _model(found: Any, model_name: str) -> Any:  # a genai_prices.types.ModelInfo, or None
    from genai_prices.data_snapshot import get_snapshot

    return found.find_model(model_name, all_providers=get_snapshot().providers)


def _provider_ids() -> list[str]:
    from genai_prices.data_snapshot import get_snapshot

    return [p.id for p in get_snapshot().providers]


def _model_ids(found: Any) -> list[str]:
    from genai_prices.data_snapshot import get_snapshot

    fallbacks = [p for p in get_snapshot().providers if p.id in (found.fallback_model_providers or ())]
    return [m.id for p in (found, *fallbacks) for m in p.models]
