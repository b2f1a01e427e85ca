"""What budgets looked up in genai-prices, kept in ``.promptlane/cache/prices.json`` (local, not
repository state) so that the next ``check`` of a card with a cost budget need not import
genai-prices: that import costs ~130 ms idle, more than the rest of a commit's check.

An entry holds what core.pricing found for one provider, model and day (a flat price or why
there is none) or one model's context window. The cache names the genai-prices data it came
from (the path, size and modification time of its ``data.py``, found without importing it):
another genai-prices install starts an empty cache. A tiered price is never kept (its cost
needs calc_price anyway). A cache that cannot be read or written is simply not used.
"""
from __future__ import annotations

import importlib.util
import json
import os
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from promptlane.core.pricing import Price, Prices, Unpriced
from promptlane.store.repo import Repo

CACHE = ".promptlane/cache/prices.json"
FORMAT = "promptlane-prices-cache/1"


def data_identity() -> str | None:
    """The installed genai-prices data, without importing it: its data.py's path, size and mtime."""
    spec = importlib.util.find_spec("genai_prices")  # finds the package; does not run it
    if spec is None or spec.origin is None:
        return None
    data = Path(spec.origin).with_name("data.py")
    try:
        stat = data.stat()
    except OSError:
        return None
    return f"{data}:{stat.st_size}:{stat.st_mtime_ns}"


class CachedPrices(Prices):
    """core.pricing.Prices, answered from the cache where it can be; ``save`` keeps what was new."""

    def __init__(self, repo: Repo) -> None:
        self.path = repo.root / CACHE
        self.identity: str | None = None
        self._entries: dict[str, Any] | None = None  # read at the first look-up: most cards have no budget
        self.new = False

    @property
    def entries(self) -> dict[str, Any]:
        if self._entries is None:
            self.identity = data_identity()
            self._entries = self._load()
        return self._entries

    def _load(self) -> dict[str, Any]:
        try:
            cache = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        usable = isinstance(cache, dict) and cache.get("format") == FORMAT and cache.get("data") == self.identity \
            and isinstance(cache.get("entries"), dict)
        return cache["entries"] if usable and self.identity else {}

    def _keep(self, key: str, value: Any) -> None:
        self.entries[key] = value
        self.new = True
        # Written at once, not only by check's ``save`` at the end: check --all looks prices up in
        # its worker processes, whose caches the parent never sees, so without this a repository
        # checked only as a whole (CI) imported genai-prices in every worker on every run.
        self.save()

    def price(self, provider: str, model_name: str, on: date) -> Price | Unpriced:
        key = f"price {provider} {model_name} {on.isoformat()}"
        kept = _decoded(self.entries.get(key))
        if kept is not None:
            return kept
        found = super().price(provider, model_name, on)
        if isinstance(found, Unpriced) or found.flat:
            self._keep(key, _encoded(found))
        return found

    def window(self, provider: str, model_name: str) -> tuple[int, str] | None:
        key = f"window {provider} {model_name}"
        kept = self.entries.get(key)
        if isinstance(kept, list) and (not kept or (len(kept) == 2 and isinstance(kept[0], int))):
            return (kept[0], str(kept[1])) if kept else None
        found = super().window(provider, model_name)
        self._keep(key, list(found) if found else [])
        return found

    def snapshot(self) -> str:
        kept = self.entries.get("snapshot")
        if isinstance(kept, str):
            return kept
        found = super().snapshot()
        self._keep("snapshot", found)
        return found

    def save(self) -> None:
        if not (self.new and self.identity):  # nothing looked up, or genai-prices not found
            return
        try:
            # A temporary file of this process's own: check --all's workers may write at once.
            text = json.dumps({"format": FORMAT, "data": self.identity, "entries": self.entries}, separators=(",", ":"),
                              sort_keys=True)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.path)
            self.new = False
        except OSError:
            pass  # a read-only clone looks prices up every time


def _encoded(found: Price | Unpriced) -> dict[str, Any]:
    if isinstance(found, Unpriced):
        return {"unpriced": [found.code, found.key, found.message]}
    return {"model": found.model, "source": found.source, "input": str(found.input_per_1m),
            "output": str(found.output_per_1m), "cached": None if found.cached_per_1m is None else str(found.cached_per_1m),
            "ref": list(found.ref or ())}


def _decoded(kept: Any) -> Price | Unpriced | None:
    """The entry as core.pricing made it, or None for no entry (or one this version cannot read)."""
    if not isinstance(kept, dict):
        return None
    try:
        if "unpriced" in kept:
            code, key, message = kept["unpriced"]
            return Unpriced(str(code), str(key), str(message))
        ref = tuple(str(part) for part in kept["ref"])
        return Price(str(kept["model"]), str(kept["source"]), Decimal(kept["input"]), Decimal(kept["output"]),
                     None if kept["cached"] is None else Decimal(kept["cached"]),
                     ref=(ref[0], ref[1]) if len(ref) == 2 else None, flat=True)
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return None
