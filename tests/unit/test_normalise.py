"""Normalisation: the fast paths agree with the libraries they stand in for."""

from __future__ import annotations

import phonenumbers
import pytest
from email_validator import validate_email
from hypothesis import given
from hypothesis import strategies as st

from accord.errors import ValidationError
from accord.model.entities import FieldSpec
from accord.model.normalise import (
    normalise_email,
    normalise_phone,
    normalise_value,
    normalise_website,
)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("09 379 4412", "NZ", "+6493794412"),
        ("(04) 555 0192", "NZ", "+6445550192"),
        ("+64 21 555 0134", "NZ", "+64215550134"),
        ("021-555-0134", "NZ", "+64215550134"),
        ("(02) 9374 4000", "AU", "+61293744000"),
        ("0412 345 678", "AU", "+61412345678"),
        ("(212) 555-0101", "US", "+12125550101"),
        ("09 379 4412 ext 12", "NZ", "09 379 4412 ext 12"),
        ("after 5pm", "NZ", "after 5pm"),
    ],
)
def test_phones_become_e164_or_stay_as_given(raw: str, region: str, expected: str) -> None:
    assert normalise_phone(raw, region) == expected


@given(st.from_regex(r"\A0[2-9][0-9]{6,9}\Z"), st.sampled_from(["NZ", "AU", "GB"]))
def test_the_fast_phone_path_agrees_with_phonenumbers(digits: str, region: str) -> None:
    spaced = f"({digits[:2]}) {digits[2:5]} {digits[5:]}"
    parsed = phonenumbers.parse(spaced, region)
    library = (
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if phonenumbers.is_possible_number(parsed)
        else spaced
    )
    assert normalise_phone(spaced, region) == library


@given(st.emails())
def test_the_fast_email_path_agrees_with_email_validator(address: str) -> None:
    try:
        expected = validate_email(address, check_deliverability=False).normalized
    except Exception:
        with pytest.raises(ValidationError):
            normalise_email(address)
        return
    assert normalise_email(address) == expected


def test_invalid_values_name_their_field() -> None:
    with pytest.raises(ValidationError) as caught:
        normalise_value(FieldSpec("email", "email"), "john.smith@@example")
    assert caught.value.field == "email"
    with pytest.raises(ValidationError, match="invalid website"):
        normalise_website("not a site")
    assert normalise_website("WWW.Acme.co.nz/Shop") == "https://www.acme.co.nz/Shop"
    assert normalise_value(FieldSpec("active", "bool"), "N") is False


@pytest.mark.parametrize("raw", ["²", "abc", "-3", True, 2**63, "9223372036854775808"])
def test_a_reference_that_is_no_hub_id_is_refused_naming_its_field(raw: object) -> None:
    with pytest.raises(ValidationError, match="not a hub record id") as caught:
        normalise_value(FieldSpec("company", "ref", ref_entity="company"), raw)
    assert caught.value.field == "company"


def test_a_reference_is_a_hub_id_or_blank() -> None:
    spec = FieldSpec("company", "ref", ref_entity="company")
    assert [normalise_value(spec, raw) for raw in (7, " 7 ", 2**63 - 1, "", None)] == [
        7,
        7,
        2**63 - 1,
        None,
        None,
    ]
