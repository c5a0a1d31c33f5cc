"""Keys that decide whether two records are the same before one is created.

Companies match on their account code; people on first and last name within the same
company. Comparison ignores case and surrounding (and repeated) spaces (S000-08).
"""

from __future__ import annotations

from typing import Any


def _fold(value: Any) -> str:
    return " ".join(str(value).split()).casefold() if value is not None else ""


def match_key(entity: str, data: dict[str, Any]) -> str | None:
    if entity in ("company", "salesperson"):
        code = _fold(data.get("code"))
        return code or None
    if entity == "person":
        first, last = _fold(data.get("first_name")), _fold(data.get("last_name"))
        if not (first or last):
            return None
        company = data.get("company")
        return f"{company if company is not None else '-'}|{first}|{last}"
    return None
