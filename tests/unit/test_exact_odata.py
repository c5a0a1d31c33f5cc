"""The sandbox's OData subset: filters as Exact Online clients write them."""

from __future__ import annotations

from typing import Any

import pytest

from accord.sandbox.exact_data import SandboxError
from accord.sandbox.exact_odata import compile_filter, parse_select

FIELDS = {"ID", "Code", "Name", "Timestamp", "Blocked", "DueDate", "Account"}
ROWS: list[dict[str, Any]] = [
    {"ID": "AAAAAAAA-0000-0000-0000-000000000001", "Code": "              1068", "Name": "O'Brien Ltd",
     "Timestamp": 5, "Blocked": False, "DueDate": "/Date(1704067200000)/", "Account": None},
    {"ID": "aaaaaaaa-0000-0000-0000-000000000002", "Code": "                 7", "Name": "Kauri",
     "Timestamp": 9, "Blocked": True, "DueDate": "/Date(1735689600000)/", "Account": None},
]  # fmt: skip


def matching(text: str) -> list[str]:
    predicate = compile_filter(text, FIELDS)
    return [row["Name"] for row in ROWS if predicate(row)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Timestamp gt 5L", ["Kauri"]),
        ("Timestamp gt 4", ["O'Brien Ltd", "Kauri"]),
        ("Code eq '              1068'", ["O'Brien Ltd"]),
        ("trim(Code) eq '7'", ["Kauri"]),
        ("Name eq 'O''Brien Ltd'", ["O'Brien Ltd"]),
        ("ID eq guid'aaaaaaaa-0000-0000-0000-000000000001'", ["O'Brien Ltd"]),
        ("(Blocked eq true) or Timestamp le 5", ["O'Brien Ltd", "Kauri"]),
        ("Blocked eq false and Timestamp ge 5", ["O'Brien Ltd"]),
        ("DueDate lt datetime'2024-06-01'", ["O'Brien Ltd"]),
        ("Account eq null", ["O'Brien Ltd", "Kauri"]),
        ("(Name eq 'Kauri') and (Timestamp gt 1L)", ["Kauri"]),
    ],
)
def test_filters_select_the_rows_exact_would(text: str, expected: list[str]) -> None:
    assert matching(text) == expected


@pytest.mark.parametrize(
    "text", ["Nope eq 1", "Name like 'x'", "Name eq", "(Name eq 'x'", "Name eq 'x' junk"]
)
def test_a_filter_exact_would_refuse_is_a_400(text: str) -> None:
    with pytest.raises(SandboxError) as refused:
        compile_filter(text, FIELDS)
    assert refused.value.status == 400


def test_select_names_known_fields_only() -> None:
    assert parse_select("ID, Name", FIELDS) == ["ID", "Name"]
    assert parse_select(None, FIELDS) is None
    with pytest.raises(SandboxError, match="'Fax' does not exist"):
        parse_select("ID,Fax", FIELDS)
