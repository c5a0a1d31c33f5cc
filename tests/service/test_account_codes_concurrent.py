"""Account numbers stay unique when people create and renumber accounts at the same time.

The check ("is this number free?") and the write run in one transaction under the
account-number lock; without it two creates on PostgreSQL both saw a number free.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from accord.errors import ValidationError
from accord.service import customers, people
from accord.store import HubStore

WORKERS = 4
ROUNDS = 5
FIELDS = {
    "first_name": "Ana",
    "last_name": "Ngata",
    "home_location": "Main Street",
    "location_group": "All stores",
}


def _at_once(task: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run ``task(i)`` in WORKERS threads released together; their results and errors."""
    start = threading.Barrier(WORKERS)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait(timeout=30)
        try:
            results.append(task(i))
        except Exception as exc:  # collected for the assertions
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results, errors


def _codes(store: HubStore, ids: list[int]) -> list[str]:
    return [str(customers.get_customer(store, i).data["code"]) for i in ids]


def test_s002_01_numbers_handed_out_at_once_are_all_different(store: HubStore) -> None:
    created: list[int] = []
    for _ in range(ROUNDS):
        ids, errors = _at_once(lambda _i: customers.create_customer(store, dict(FIELDS)))
        assert errors == []
        created += ids
    codes = _codes(store, created)
    assert len(set(codes)) == len(codes) == WORKERS * ROUNDS


def test_s002_01_one_typed_number_is_given_to_one_account_only(store: HubStore) -> None:
    for n in range(ROUNDS):
        code = f"T-{n}"
        person_fields = {"first_name": "Bo", "last_name": "Smith", "code": code.lower()}

        def create(i: int, code: str = code, person: dict[str, Any] = person_fields) -> int:
            if i % 2:  # a person account typed with the same number in another case
                return people.create_person_account(store, dict(person))
            return customers.create_customer(store, {**FIELDS, "code": code})

        ids, errors = _at_once(create)
        assert len(ids) == 1, (code, errors)
        assert len(errors) == WORKERS - 1
        assert all(isinstance(e, ValidationError) and e.field == "code" for e in errors), errors
