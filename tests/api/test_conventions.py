"""The TM Forum conventions every router shares: shape, fields=, filters, paging, create,
merge patch, delete, problem+json errors; plus health, metrics, docs and request ids."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import update

from openmvne import clock, ids
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.domain.parties import Role
from openmvne.services import users

ORGS = "/tmf-api/party/v4/organization"
PEOPLE = "/tmf-api/party/v4/individual"
PROBLEM = "application/problem+json"


@pytest.fixture
def admin(db: Database) -> dict[str, str]:
    op = users.operator(db)
    users.add_user(
        db,
        op,
        username="root",
        party_id=op.party_id,
        roles=frozenset({Role.PLATFORM_ADMIN}),
        password="correct horse",
    )
    return {"Authorization": f"Bearer {users.create_token(db, op, 'root')}"}


def _org(http: httpx.Client, admin: dict[str, str], name: str, **extra: object) -> dict:
    body = {"name": name, "organizationType": "outlet", "regionCode": "440300", **extra}
    response = http.post(ORGS, json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


def assert_problem(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["code"] == code, body
    for key in ("type", "title", "status", "detail", "reason", "message", "requestId"):
        assert key in body
    assert body["status"] == status
    assert body["requestId"] == response.headers["x-request-id"]
    return body


def test_create_answers_201_with_location_and_tmf_shape(http, admin) -> None:
    response = http.post(
        ORGS,
        headers=admin,
        json={
            "name": "深圳人民路手机卖场",
            "organizationType": "outlet",
            "regionCode": "440300",
            "@type": "Organization",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("org_")
    assert body["@type"] == "Organization"
    assert response.headers["location"] == body["href"]
    assert body["href"].endswith(f"{ORGS}/{body['id']}")
    assert body["regionName"] == "广东省深圳市"
    again = http.get(body["href"], headers=admin)
    assert again.status_code == 200
    assert again.json() == body


def test_fields_selects_attributes_and_keeps_identity(http, admin) -> None:
    created = _org(http, admin, "卖场甲")
    one = http.get(f"{ORGS}/{created['id']}", params={"fields": "name"}, headers=admin).json()
    assert one == {
        "id": created["id"],
        "href": created["href"],
        "@type": "Organization",
        "name": "卖场甲",
    }
    listed = http.get(ORGS, params={"fields": "name,status"}, headers=admin).json()
    assert all(set(item) == {"id", "href", "@type", "name", "status"} for item in listed)
    bad = http.get(ORGS, params={"fields": "nmae"}, headers=admin)
    assert_problem(bad, 400, "bad_fields")


def test_attribute_filters_and_paging_headers(http, admin) -> None:
    for i in range(5):
        _org(http, admin, f"卖场{i}")
    _org(http, admin, "杭州卖场", regionCode="330100")
    everything = http.get(ORGS, headers=admin)
    total = int(everything.headers["X-Total-Count"])
    assert total == 7  # six outlets and the platform itself
    pages = [
        http.get(
            ORGS, params={"organizationType": "outlet", "offset": offset, "limit": 4}, headers=admin
        )
        for offset in (0, 4)
    ]
    assert [p.headers["X-Total-Count"] for p in pages] == ["6", "6"]
    assert [p.headers["X-Result-Count"] for p in pages] == ["4", "2"]
    ids_seen = [o["id"] for p in pages for o in p.json()]
    assert len(set(ids_seen)) == 6  # the pages cover everything, without overlap
    assert ids_seen == sorted(ids_seen)  # stable order: creation order (UUIDv7)
    hz = http.get(ORGS, params={"regionCode": "330100"}, headers=admin).json()
    assert [o["name"] for o in hz] == ["杭州卖场"]
    assert_problem(http.get(ORGS, params={"colour": "red"}, headers=admin), 400, "unknown_filter")
    assert_problem(
        http.get(ORGS, params={"organizationType": "bank"}, headers=admin), 400, "bad_filter_value"
    )
    assert_problem(http.get(ORGS, params={"limit": 0}, headers=admin), 400, "invalid_request")
    # An offset no database takes (past 2**63) was a 500 on every list.
    for offset in (2**63, 10**12 + 1):
        assert_problem(
            http.get(ORGS, params={"offset": offset}, headers=admin), 400, "invalid_request"
        )
    assert http.get(ORGS, params={"offset": 10**12}, headers=admin).json() == []


@pytest.mark.parametrize(
    "path",
    [
        "/tmf-api/accountManagement/v4/billingAccount",
        "/tmf-api/accountManagement/v4/partyAccount",
        "/openmvne/v1/settlementRuns",
        "/tmf-api/customerBillManagement/v4/customerBill",
        "/tmf-api/customerManagement/v4/customer",
        "/openmvne/v1/ratingBatches",
    ],
)
def test_lists_that_filter_on_nothing_refuse_a_filter(http, admin, path) -> None:
    """They answered every item, as if the filter were not there."""
    assert http.get(path, headers=admin).status_code == 200
    problem = assert_problem(
        http.get(path, headers=admin, params={"colour": "red"}), 400, "unknown_filter"
    )
    assert problem["field"] == "colour"


@pytest.mark.parametrize(
    ("path", "name", "good"),
    [
        ("/openmvne/v1/numberReservations", "status", "active"),
        ("/openmvne/v1/blockAllocationRequests", "status", "pending"),
        ("/openmvne/v1/saleRights", "status", "revoked"),
        ("/openmvne/v1/transfers", "code", "recharge"),
        ("/tmf-api/productCatalogManagement/v4/productOffering", "lifecycleStatus", "retired"),
        ("/tmf-api/troubleTicket/v4/troubleTicket", "status", "resolved"),
        ("/openmvne/v1/careRouting", "ticketType", "faultyCard"),
        ("/openmvne/v1/slaBreaches", "priority", "high"),
    ],
)
def test_a_filter_on_a_few_values_refuses_any_other(http, admin, path, name, good) -> None:
    """An unknown status answered an empty list, as if nothing matched."""
    assert http.get(path, headers=admin, params={name: good}).status_code == 200
    problem = assert_problem(
        http.get(path, headers=admin, params={name: "zz"}), 400, "bad_filter_value"
    )
    assert problem["field"] == name


def test_merge_patch_changes_given_fields_only(http, admin) -> None:
    created = _org(http, admin, "卖场乙", tradingName="乙记")
    url = f"{ORGS}/{created['id']}"
    response = http.patch(
        url,
        headers={**admin, "content-type": "application/merge-patch+json"},
        content='{"tradingName": null, "regionCode": "440305"}',
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "tradingName" not in body  # null removes (RFC 7386); no value, no attribute
    assert body["regionCode"] == "440305"
    assert body["name"] == "卖场乙"  # absent: unchanged
    plain = http.patch(url, headers=admin, json={"name": "卖场丙"})
    assert plain.status_code == 200
    assert plain.json()["name"] == "卖场丙"
    wrong_type = http.patch(url, headers={**admin, "content-type": "text/plain"}, content="x")
    assert_problem(wrong_type, 415, "unsupported_media_type")
    cannot = http.patch(url, headers=admin, json={"organizationType": "mvno"})
    assert_problem(cannot, 400, "unknown_field")
    assert http.get(url, headers=admin).json()["organizationType"] == "outlet"
    # null removes only what may be absent: a required attribute stays (it was a 500).
    for required in ("name", "status"):
        problem = assert_problem(
            http.patch(
                url,
                headers={**admin, "content-type": "application/merge-patch+json"},
                content=f'{{"{required}": null}}',
            ),
            400,
            "required",
        )
        assert problem["field"] == required
    assert http.get(url, headers=admin).json()["status"] == "active"


def test_delete_answers_204_then_404(http, admin) -> None:
    created = _org(http, admin, "卖场丁")
    url = f"{ORGS}/{created['id']}"
    assert http.delete(url, headers=admin).status_code == 204
    assert_problem(http.get(url, headers=admin), 404, "not_found")
    assert_problem(http.delete(url, headers=admin), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"organizationType": "outlet"}, "missing_field", "name"),
        ({"name": "x", "organizationType": "bank"}, "invalid_request", "organizationType"),
        ({"name": 5, "organizationType": "outlet"}, "invalid_request", "name"),
        ({"name": "x", "organizationType": "outlet", "colour": "red"}, "unknown_field", "colour"),
        ({"name": "x", "organizationType": "outlet", "id": "org_X"}, "server_owned_field", "id"),
        (
            {"name": "x", "organizationType": "outlet", "status": "closed"},
            "server_owned_field",
            "status",
        ),
        (
            {"name": "x", "organizationType": "outlet", "regionCode": "999999"},
            "region_unknown",
            "regionCode",
        ),
        (
            {"name": "x", "organizationType": "outlet", "regionCode": "110103"},
            "region_abolished",
            "regionCode",
        ),
        ({"name": "x", "organizationType": "partner"}, "partner_type_required", "partnerType"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field_and_writes_nothing(
    http, admin, body, code, field
) -> None:
    before = http.get(ORGS, headers=admin).headers["X-Total-Count"]
    response = http.post(ORGS, json=body, headers=admin)
    problem = assert_problem(response, 400, code)
    assert problem["field"] == field
    assert http.get(ORGS, headers=admin).headers["X-Total-Count"] == before


def test_malformed_json(http, admin) -> None:
    response = http.post(
        ORGS, content=b'{"name": ', headers={**admin, "content-type": "application/json"}
    )
    assert_problem(response, 400, "malformed_json")


def test_a_nul_character_anywhere_is_a_bad_request_not_a_server_error(http, admin) -> None:
    """PostgreSQL can neither store nor compare text holding a NUL: in a body, a query or a
    path it made the query fail (a 500 there, stored on SQLite). No field takes one."""
    before = http.get(ORGS, headers=admin).headers["X-Total-Count"]
    body = {"name": "卖场\u0000丁", "organizationType": "outlet", "regionCode": "440300"}
    assert_problem(http.post(ORGS, json=body, headers=admin), 400, "nul_character")
    nested = {"username": "admin", "password": "x\u0000", "name": "t"}
    assert_problem(http.post("/openmvne/v1/tokens", json=nested), 400, "nul_character")
    assert_problem(http.get(f"{ORGS}?name=a%00b", headers=admin), 400, "nul_character")
    assert_problem(http.get(f"{ORGS}/org_%00", headers=admin), 400, "nul_character")
    assert http.get(ORGS, headers=admin).headers["X-Total-Count"] == before


def test_duplicate_name_is_a_conflict(http, admin) -> None:
    _org(http, admin, "同名卖场")
    assert_problem(
        http.post(ORGS, headers=admin, json={"name": "同名卖场", "organizationType": "outlet"}),
        409,
        "name_taken",
    )


def test_missing_or_wrong_token_is_401(http, admin) -> None:
    body = assert_problem(http.get(ORGS), 401, "not_authenticated")
    assert "Bearer" in body["detail"]
    assert http.get(ORGS).headers["www-authenticate"] == "Bearer"
    assert_problem(
        http.get(ORGS, headers={"Authorization": "Bearer omv_nonsense"}), 401, "invalid_token"
    )
    token = admin["Authorization"].split()[1]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert_problem(
        http.get(ORGS, headers={"Authorization": f"Bearer {forged}"}), 401, "invalid_token"
    )


def test_revoked_token_stops_working(http, admin, db) -> None:
    assert http.get(ORGS, headers=admin).status_code == 200
    users.revoke_token(db, users.operator(db), admin["Authorization"].split()[1])
    assert_problem(http.get(ORGS, headers=admin), 401, "token_revoked")


def test_a_token_revoked_by_another_process_stops_working_within_the_cache_time(
    http, admin, db, monkeypatch
) -> None:
    """Each server process keeps a token's actor for TOKEN_CACHE_S seconds; a revocation it
    did not make itself (another process, or SQL) takes effect when that runs out."""
    monkeypatch.setattr(users, "TOKEN_CACHE_S", 0.2)
    assert http.get(ORGS, headers=admin).status_code == 200  # now known to this process
    token_id = ids.decode(admin["Authorization"].split()[1][4:].split(".")[0])
    with db.write() as conn:
        conn.execute(
            update(t.api_token).where(t.api_token.c.id == token_id).values(revoked_at=clock.now())
        )
    time.sleep(0.3)
    assert_problem(http.get(ORGS, headers=admin), 401, "token_revoked")


def test_password_login_issues_a_working_token(http, admin) -> None:
    bad = http.post("/openmvne/v1/tokens", json={"username": "root", "password": "wrong one"})
    assert_problem(bad, 401, "invalid_credentials")
    good = http.post("/openmvne/v1/tokens", json={"username": "root", "password": "correct horse"})
    assert good.status_code == 201
    token = good.json()["token"]
    assert http.get(ORGS, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_ids_of_the_wrong_kind_are_not_found(http, admin) -> None:
    created = _org(http, admin, "卖场戊")
    as_person = "ind_" + created["id"].split("_", 1)[1]
    assert_problem(http.get(f"{PEOPLE}/{as_person}", headers=admin), 404, "not_found")
    assert_problem(http.get(f"{ORGS}/garbage", headers=admin), 404, "not_found")


def test_unknown_route_and_method_are_problems(http, admin) -> None:
    assert_problem(http.get("/tmf-api/nothing", headers=admin), 404, "not_found")
    not_allowed = http.put(ORGS, headers=admin, json={})
    assert_problem(not_allowed, 405, "method_not_allowed")
    assert set(not_allowed.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert "PUT" not in not_allowed.headers["allow"]


def test_request_id_is_echoed_or_made(http) -> None:
    response = http.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    made = http.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces"
    assert len(made.headers["x-request-id"]) == 32


def test_health_docs_openapi(http) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    assert "swagger" in http.get("/docs").text.lower()
    spec = http.get("/openapi.json").json()
    for path in (
        ORGS,
        PEOPLE,
        "/tmf-api/partyRoleManagement/v4/partyRole",
        "/openmvne/v1/channelAuthorisations",
        "/openmvne/v1/channelAuthorisations/{auth_id}/approve",
    ):
        assert path in spec["paths"], path
    # Errors as they really leave: problems, bad input a 400; never FastAPI's 422 shape.
    operations = [op for methods in spec["paths"].values() for op in methods.values()]
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for op in operations:
        assert "422" not in op["responses"], op["operationId"]
        assert op["responses"]["default"]["content"][PROBLEM]["schema"] == problem_ref
    posted = spec["paths"][ORGS]["post"]["responses"]["400"]
    assert posted["content"][PROBLEM]["schema"] == problem_ref
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    missing = http.get(f"{ORGS}/org_nothing")
    assert set(spec["components"]["schemas"]["Problem"]["required"]) <= set(missing.json())


def test_metrics_count_requests_and_errors_by_route(http, admin) -> None:
    http.get(ORGS, headers=admin)
    http.get(f"{ORGS}/org_{ids.encode(ids.new_id())}", headers=admin)
    text = http.get("/metrics").text
    assert (
        'openmvne_http_requests_total{method="GET",route="/tmf-api/party/v4/organization",'
        'status="200"}' in text
    )
    assert (
        'openmvne_http_errors_total{method="GET",'
        'route="/tmf-api/party/v4/organization/{org_id}",status="404"}' in text
    )
    assert "openmvne_http_request_duration_seconds_bucket" in text


def test_individual_resource(http, admin) -> None:
    response = http.post(PEOPLE, headers=admin, json={"givenName": "伟", "familyName": "张"})
    assert response.status_code == 201
    person = response.json()
    assert person["fullName"] == "张伟"
    assert person["id"].startswith("ind_")
    patched = http.patch(person["href"], headers=admin, json={"givenName": "伟民"})
    assert patched.json()["fullName"] == "张伟民"
    assert_problem(
        http.patch(person["href"], headers=admin, json={"givenName": ""}), 400, "invalid_request"
    )
    merge = {**admin, "content-type": "application/merge-patch+json"}
    problem = assert_problem(
        http.patch(person["href"], headers=merge, content='{"status": null}'), 400, "required"
    )
    assert problem["field"] == "status"
    assert http.delete(person["href"], headers=admin).status_code == 204
