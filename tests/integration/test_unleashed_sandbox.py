"""The sandbox Unleashed answers like the service: validation, error bodies, paging rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from accord.connectors.unleashed_http import UnleashedHttp
from accord.sandbox.unleashed import UnleashedSandbox
from accord.sandbox.unleashed_generate import generate, load_file

API_ID, API_KEY = "1d2c3b4a-0000-4000-8000-000000000001", "sandbox-test-key"


@pytest.fixture
def http() -> Iterator[tuple[UnleashedSandbox, UnleashedHttp]]:
    with UnleashedSandbox(API_ID, API_KEY) as sandbox:
        generate(sandbox.data, customers=5, contacts=5, salespersons=2, seed=1)
        client = UnleashedHttp(sandbox.url, API_ID, API_KEY)
        yield sandbox, client
        client.close()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ([("pageSize", "0")], "pageSize"),
        ([("pageSize", "1001")], "pageSize"),
        ([("modifiedSince", "last tuesday")], "modifiedSince"),
        ([("orderBy", "Colour")], "orderBy"),
    ],
)
def test_bad_list_queries_get_400_with_the_error_body(
    http: tuple[UnleashedSandbox, UnleashedHttp], params: list[tuple[str, str]], field: str
) -> None:
    _, client = http
    answer = client.get("/Customers", params)
    assert answer.status == 400
    assert answer.body["Errors"][0]["Field"] == field and answer.body["Description"]


def test_pages_report_their_pagination(http: tuple[UnleashedSandbox, UnleashedHttp]) -> None:
    _, client = http
    answer = client.get("/Customers/2", [("pageSize", "2")])
    assert answer.body["Pagination"] == {
        "NumberOfItems": 5,
        "PageSize": 2,
        "PageNumber": 2,
        "NumberOfPages": 3,
    }
    assert len(answer.body["Items"]) == 2


def test_writes_are_validated_like_the_service(
    http: tuple[UnleashedSandbox, UnleashedHttp],
) -> None:
    sandbox, client = http
    new = "7e0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
    missing = client.request("POST", f"/Customers/{new}", body={"CustomerName": "No Code"})
    assert missing.status == 400 and missing.refused_field() == "CustomerCode"
    taken = sandbox.data.customer(sandbox.data.all_customer_guids()[0])
    assert taken is not None
    clash = client.request(
        "POST",
        f"/Customers/{new}",
        body={"CustomerCode": taken["CustomerCode"], "CustomerName": "X"},
    )
    assert clash.status == 400 and "in use" in clash.description()
    nobody = client.request(
        "POST",
        f"/Customers/{new}",
        body={"CustomerCode": "NEW1", "CustomerName": "New", "SalesPerson": "Nobody Known"},
    )
    assert nobody.status == 400 and nobody.refused_field() == "SalesPerson"
    made = client.request(
        "POST", f"/Customers/{new}", body={"CustomerCode": "NEW1", "CustomerName": "New"}
    )
    assert made.status == 201 and made.body["Guid"] == new
    assert made.body["LastModifiedOn"].startswith("/Date(")
    ghost = client.request("PUT", f"/Customers/{new}/Contacts/{new}", body={"Email": "a@b.nz"})
    assert ghost.status == 404


def test_a_data_file_is_loaded_and_a_bad_record_is_named(tmp_path: Path) -> None:
    good = {
        "Salespersons": [{"FullName": "Ann Lee", "Email": "ann@x.nz"}],
        "Customers": [
            {
                "CustomerCode": "ACME",
                "CustomerName": "Acme Ltd",
                "SalesPerson": "Ann Lee",
                "Contacts": [{"ContactFirstName": "Bo", "Email": "bo@acme.nz"}],
            }
        ],
    }
    path = tmp_path / "data.json"
    path.write_bytes(orjson.dumps(good))
    with UnleashedSandbox(API_ID, API_KEY) as sandbox:
        made = load_file(sandbox.data, path)
        assert (made.salespersons, made.customers, made.contacts) == (1, 1, 1)
        customer = sandbox.data.customer_by_code("ACME")
        assert customer is not None and customer["SalesPerson"]["FullName"] == "Ann Lee"
        bad = {"Customers": [{"CustomerCode": "ACME2", "CustomerName": "B", "Website": "no"}]}
        path.write_bytes(orjson.dumps(bad))
        with pytest.raises(ValueError, match=r"customer 'ACME2' refused \(Website\)"):
            load_file(sandbox.data, path)
