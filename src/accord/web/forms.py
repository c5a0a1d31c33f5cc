"""What an edit form of a record sends back, and which of it the user changed.

A record's card form posts every input, including the fields the user never touched.
Written as they are, those would put back the values the form was rendered with over
an edit someone else (a colleague, the API, a sync) made after the form was opened. So
the form carries, next to each input, the value it was rendered with (a hidden
``was.<name>`` input), and the handler writes only the fields whose posted value differs
from it. On a field both changed the user's value wins, as it always did.

A form without those hidden inputs (an older page, a script) is taken as it is: every
field it posts counts as changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.datastructures import FormData

WAS = "was."


def posted(form: FormData, names: Iterable[str], flags: Iterable[str] = ()) -> dict[str, Any]:
    """The inputs as posted: text as typed; a flag is on when its box is ticked (an
    unticked box sends nothing, so only give the flags the user could change)."""
    values: dict[str, Any] = {name: v for name in names if isinstance(v := form.get(name), str)}
    for name in flags:
        values[name] = form.get(name) == "on"
    return values


def rendered(form: FormData, names: Iterable[str]) -> dict[str, str]:
    """The values the form was rendered with, to carry along when it is shown again."""
    return {name: v for name in names if isinstance(v := form.get(WAS + name), str)}


def changed(values: dict[str, Any], shown: dict[str, str]) -> dict[str, Any]:
    """The posted ``values`` that differ from the ones the form was ``shown`` with."""
    return {
        name: value
        for name, value in values.items()
        if name not in shown or not _same(value, shown[name])
    }


def _same(value: Any, shown: str) -> bool:
    if isinstance(value, bool):  # a check box: rendered ticked is "on"
        return value == (shown == "on")
    # A text input drops the line breaks of the value it is given while the hidden copy
    # keeps them: compared without them, an untouched multi-line value stays untouched.
    return _flat(str(value)) == _flat(shown)


def _flat(text: str) -> str:
    return text.replace("\r", "").replace("\n", "")
