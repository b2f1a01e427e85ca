"""Round-trip rewrites of a card's managed block with ruamel.yaml (comments and order kept)."""
from __future__ import annotations

import io
from typing import Mapping

MANAGED_COMMENT = "---- managed block (schemas/prompt-version-schema.yml); promptlane writes it ----"


def round_trip_yaml():
    """ruamel.yaml set up to keep comments, quotes, key order and long lines."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a user's long lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def update_card(text: str, values: Mapping[str, object], remove: tuple[str, ...] = ()) -> str:
    """``text`` with ``values`` set (added at the end, under the managed comment, if new)."""
    yaml = round_trip_yaml()
    doc = yaml.load(text)
    missing = [key for key in values if key not in doc]
    for key in remove:
        if key in doc:
            del doc[key]
    for key, value in values.items():
        doc[key] = value
    if missing and len(doc) > len(missing):
        first_new = list(doc.keys())[len(doc) - len(missing)]
        doc.yaml_set_comment_before_after_key(first_new, before=MANAGED_COMMENT)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()
