"""A YAML file read from disk through core/yamltext.py (UTF-8 checked, problems located)."""
from __future__ import annotations

from promptlane.core.yamltext import Loaded, decode, load


def load_file(path_on_disk: str, shown_as: str) -> Loaded:
    with open(path_on_disk, "rb") as handle:
        raw = handle.read()
    text, problem = decode(raw, shown_as)
    if problem:
        return Loaded(shown_as, "", None, [problem])
    if text is None:  # never: decode returns the text or a problem
        return Loaded(shown_as, "", None, [])
    return load(text, shown_as)
