"""Keys that decide whether two records are the same before one is created.

Companies match on their account code; people on first and last name within the same
company. Comparison ignores case and surrounding (and repeated) spaces (S000-08).
"""

from __future__ import annotations

import hashlib
from typing import Any

MAX_LENGTH = 400  # the hub's match_key column


def _fold(value: Any) -> str:
    return " ".join(str(value).split()).casefold() if value is not None else ""


def same_name(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two records' names agree, ignoring case and spaces (both named)."""
    name = _fold(a.get("name"))
    return bool(name) and name == _fold(b.get("name"))


CODE_MATCHED = frozenset({"company", "salesperson"})  # the entities matched on their code


def match_key(entity: str, data: dict[str, Any]) -> str | None:
    if entity in CODE_MATCHED:
        return _fitted(_fold(data.get("code"))) or None
    if entity == "person":
        first, last = _fold(data.get("first_name")), _fold(data.get("last_name"))
        if not (first or last):
            return None
        company = data.get("company")
        return _fitted(f"{company if company is not None else '-'}|{first}|{last}")
    return None


def _fitted(key: str) -> str:
    """The key within the column: an over-long one (a name pasted in twice over) keeps
    its start and a digest of the whole, so it still matches only itself."""
    if len(key) <= MAX_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{key[: MAX_LENGTH - 33]}#{digest}"
