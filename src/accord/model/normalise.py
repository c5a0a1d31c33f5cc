"""Normalisation of canonical values: phones to E.164, emails, websites, text, flags.

Normalising on the way in means a system's own spelling ("09 123 4567") and the hub's
("+6491234567") compare equal after mapping, so formatting alone never causes a write.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from accord.errors import ValidationError
from accord.ids import MAX_ID
from accord.model.entities import FieldSpec

Value = str | bool | int | float | None

_TRUE = {"y", "yes", "true", "1", "t", "on"}
_FALSE = {"n", "no", "false", "0", "f", "off", ""}
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Plain addresses (the vast majority) are checked here; anything unusual (quotes,
# non-ASCII, IP literals) goes through email-validator, which costs ~100 µs a value.
_PLAIN_EMAIL = re.compile(
    r"^(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})$"
)
_PHONE_PUNCTUATION = re.compile(r"[\s().\-/]")
_WEBSITE = re.compile(r"^(https?://)?([a-z0-9-]+\.)+[a-z]{2,}(:\d+)?(/\S*)?$", re.IGNORECASE)


def normalise_value(spec: FieldSpec, value: object, *, region: str = "NZ") -> Value:
    """Return the canonical form of ``value`` or raise ValidationError naming the field."""
    if value is None:
        return None
    if spec.kind == "bool":
        return _normalise_bool(spec, value)
    if spec.kind == "ref":
        return _normalise_ref(spec, value)
    if spec.kind == "number":
        if isinstance(value, int | float):
            return value
        try:
            return float(str(value))
        except ValueError:
            raise ValidationError(f"not a number: {value!r}", field=spec.name) from None
    text = str(value).strip()
    if not text:
        return None
    if spec.kind == "phone":
        return normalise_phone(text, region)
    if spec.kind == "email":
        return normalise_email(text, spec.name)
    if spec.kind == "website":
        return normalise_website(text, spec.name)
    return text


def _normalise_ref(spec: FieldSpec, value: object) -> int | None:
    """A hub record's id: a whole number, or its digits as text; blank is no reference."""
    if isinstance(value, str) and not value.strip():
        return None
    text = (
        str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    )
    # isascii: "²" is a digit to isdigit() but not a number to int().
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        raise ValidationError(f"not a hub record id: {value!r}", field=spec.name)
    return int(text)


def _normalise_bool(spec: FieldSpec, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError(f"not a yes/no value: {value!r}", field=spec.name)


@lru_cache(maxsize=65536)
def normalise_phone(text: str, region: str) -> str:
    """E.164 when the number parses and is possible; otherwise the trimmed text as given.

    Phone fields in ERPs hold free text ("ext 12", "after 5pm"); refusing them would block
    records for a cosmetic reason, so an unparseable number is kept verbatim.
    """
    if _E164.match(text):
        return text
    fast = _fast_phone(text, region)
    if fast is not None:
        return fast
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return text
    if not phonenumbers.is_possible_number(parsed) or parsed.extension:
        return text  # E.164 has no room for an extension: keep the number whole
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=256)
def _region_numbering(region: str) -> tuple[int, str | None, frozenset[int]]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
    if metadata is None:
        return 0, None, frozenset()
    general = metadata.general_desc
    lengths = frozenset(general.possible_length or ()) if general is not None else frozenset()
    return metadata.country_code or 0, metadata.national_prefix, lengths


def _fast_phone(text: str, region: str) -> str | None:
    """The common shapes without a full parse: "+64 21 555 0134" and "(09) 379 4412".

    A national number takes the region's country code after dropping the trunk prefix,
    only when its length is one the region's numbering plan allows; anything else
    (extensions, letters, odd lengths) takes the full parse.
    """
    compact = _PHONE_PUNCTUATION.sub("", text)
    if compact.startswith("+"):
        return compact if _E164.match(compact) else None
    if not compact.isdigit():
        return None
    code, prefix, lengths = _region_numbering(region)
    if not code or not prefix or not compact.startswith(prefix):
        return None
    national = compact[len(prefix) :]
    if len(national) not in lengths or national.startswith("0"):
        return None
    return f"+{code}{national}"


@lru_cache(maxsize=65536)
def normalise_email(text: str, field: str = "email") -> str:
    plain = _PLAIN_EMAIL.match(text)
    if plain and len(text) <= 254 and len(plain.group("local")) <= 64:
        return f"{plain.group('local')}@{plain.group('domain').lower()}"
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"invalid email address {text!r}: {exc}", field=field) from exc
    return str(result.normalized)


def normalise_website(text: str, field: str = "website") -> str:
    if not _WEBSITE.match(text):
        raise ValidationError(f"invalid website {text!r}", field=field)
    lowered = text if "://" in text else f"https://{text}"
    scheme, rest = lowered.split("://", 1)
    host, _, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}" + (f"/{path}" if path else "")
