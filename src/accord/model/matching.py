"""Keys that decide whether two records are the same before one is created.

Companies match on their account code; people on first and last name within the same
company. Comparison ignores case and surrounding (and repeated) spaces (S000-08).
"""

from __future__ import annotations

from typing import Any


def _fold(value: Any) -> str:
    return " ".join(str(value).split()).casefold() if value is not None else ""


def same_name(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two records' names agree, ignoring case and spaces (both named)."""
    name = _fold(a.get("name"))
    return bool(name) and name == _fold(b.get("name"))


CODE_MATCHED = frozenset({"company", "salesperson"})  # the entities matched on their code


def match_key(entity: str, data: dict[str, Any]) -> str | None:
    if entity in CODE_MATCHED:
        code = _fold(data.get("code"))
        return code or None
    if entity == "person":
        first, last = _fold(data.get("first_name")), _fold(data.get("last_name"))
        if not (first or last):
            return None
        company = data.get("company")
        return f"{company if company is not None else '-'}|{first}|{last}"
    return None
