"""The OData query subset the Exact Online sandbox understands.

``$filter``: comparisons (eq, ne, gt, ge, lt, le) of a field (or ``trim(Field)``) with a
literal (``'text'``, ``guid'...'``, ``datetime'2024-01-01'``, numbers with or without an
``L`` suffix, true, false, null), joined by ``and`` / ``or``, with parentheses.
Anything else is refused with a 400, as Exact Online does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from accord.sandbox.exact_data import SandboxError, parse_odata_date

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<comma>,)"
    r"|(?P<typed>(?:guid|datetime)'[^']*')|(?P<string>'(?:[^']|'')*')"
    r"|(?P<number>-?\d+(?:\.\d+)?L?)|(?P<word>[A-Za-z_][A-Za-z0-9_/]*))"
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise SandboxError(400, f"Error parsing $filter near: {text[position:]!r}")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


class _Parser:
    def __init__(self, text: str, fields: set[str]) -> None:
        self.items = _tokens(text)
        self.position = 0
        self.fields = fields

    def peek(self) -> tuple[str, str] | None:
        return self.items[self.position] if self.position < len(self.items) else None

    def take(self) -> tuple[str, str]:
        item = self.peek()
        if item is None:
            raise SandboxError(400, "Error parsing $filter: unexpected end")
        self.position += 1
        return item

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        if self.peek() is not None:
            raise SandboxError(400, f"Error parsing $filter near: {self.peek()}")
        return predicate

    def disjunction(self) -> Predicate:
        left = self.conjunction()
        while self.peek() == ("word", "or"):
            self.take()
            right = self.conjunction()
            left = (lambda a, b: lambda row: a(row) or b(row))(left, right)
        return left

    def conjunction(self) -> Predicate:
        left = self.term()
        while self.peek() == ("word", "and"):
            self.take()
            right = self.term()
            left = (lambda a, b: lambda row: a(row) and b(row))(left, right)
        return left

    def term(self) -> Predicate:
        if self.peek() == ("open", "("):
            self.take()
            inner = self.disjunction()
            if self.take() != ("close", ")"):
                raise SandboxError(400, "Error parsing $filter: ')' expected")
            return inner
        getter = self.operand()
        kind, operator = self.take()
        if kind != "word" or operator not in _COMPARE:
            raise SandboxError(400, f"Error parsing $filter: unknown operator {operator!r}")
        value = self.literal()
        compare = _COMPARE[operator]
        return lambda row: bool(compare(_comparable(getter(row), value), value))

    def operand(self) -> Callable[[dict[str, Any]], Any]:
        kind, word = self.take()
        if kind != "word":
            raise SandboxError(400, f"Error parsing $filter: field expected, got {word!r}")
        if word == "trim" and self.peek() == ("open", "("):
            self.take()
            inner = self.operand()
            self.take()
            return lambda row: None if inner(row) is None else str(inner(row)).strip()
        if word not in self.fields:
            raise SandboxError(400, f"Property '{word}' does not exist on this entity")
        return lambda row: row.get(word)

    def literal(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "typed":
            prefix, _, rest = text.partition("'")
            inner = rest[:-1]
            if prefix == "guid":
                return inner.lower()
            return datetime.fromisoformat(inner).replace(tzinfo=UTC)
        if kind == "number":
            number = text.removesuffix("L")
            return float(number) if "." in number else int(number)
        if kind == "word" and text in ("true", "false"):
            return text == "true"
        if kind == "word" and text == "null":
            return None
        raise SandboxError(400, f"Error parsing $filter: literal expected, got {text!r}")


def _comparable(value: Any, literal: Any) -> Any:
    """Stored values as the literal's type: GUIDs case-insensitive, OData dates as times."""
    if isinstance(literal, datetime) and isinstance(value, str):
        return parse_odata_date(value)
    if isinstance(value, str) and isinstance(literal, str) and _looks_like_guid(value):
        return value.lower()
    return value


def _looks_like_guid(text: str) -> bool:
    return len(text) == 36 and text.count("-") == 4


def compile_filter(text: str | None, fields: set[str]) -> Predicate:
    if not text:
        return lambda row: True
    return _Parser(text, fields).parse()


def parse_select(text: str | None, fields: set[str]) -> list[str] | None:
    if not text:
        return None
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    for name in chosen:
        if name not in fields:
            raise SandboxError(400, f"Property '{name}' does not exist on this entity")
    return chosen
