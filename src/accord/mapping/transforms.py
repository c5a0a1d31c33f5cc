"""Named value converters between a system's native values and canonical values.

Each transform is a pair (inbound, outbound). They are plain functions so a profile stays
data: a profile names a transform, it does not carry code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from accord.errors import ConfigError


def _yn_in(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    return str(value).strip().upper() in ("Y", "YES", "T", "TRUE", "1")


def _yn_out(value: Any) -> str | None:
    if value is None:
        return None
    return "Y" if value else "N"


def _inverted_in(value: Any) -> bool | None:
    # e.g. Unleashed "Obsolete" = not active
    return None if value is None else not bool(value)


def _inverted_out(value: Any) -> bool | None:
    return None if value is None else not bool(value)


def _text_in(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _identity(value: Any) -> Any:
    return value


def _str_in(value: Any) -> str | None:
    return None if value is None else str(value).strip() or None


TRANSFORMS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "none": (_text_in, _identity),
    "yn": (_yn_in, _yn_out),
    "inverted": (_inverted_in, _inverted_out),
    "str": (_str_in, _identity),
}


def transform(name: str) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    try:
        return TRANSFORMS[name]
    except KeyError:
        raise ConfigError(f"unknown transform {name!r}; known: {', '.join(TRANSFORMS)}") from None
