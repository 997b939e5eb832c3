"""Number resources over HTTP: shapes, bad input, scope, the public lookup and its limit."""

from __future__ import annotations

import uuid

import httpx
import pytest

from openmvne import ids
from openmvne.api.ratelimit import TokenBucket
from openmvne.api.routers import numbers as numbers_router
from openmvne.domain.numbers import HostNetwork
from openmvne.domain.parties import OrgKind
from openmvne.services import parties
from tests.api.test_conventions import assert_problem
from tests.conftest import Backend
from tests.numbers_world import NumbersWorld, build_numbers
from tests.world import auth_header

V1 = "/openmvne/v1"
RESOURCE = "/tmf-api/resourceInventoryManagement/v4/resource"


@pytest.fixture
def nw(backend: Backend) -> NumbersWorld:
    return build_numbers(backend.db)


def test_segment_registration_by_the_host(http: httpx.Client, nw: NumbersWorld) -> None:
    host = auth_header(nw.w, "hostAdmin")
    created = http.post(f"{V1}/numberSegments", headers=host, json={"prefix": "1709"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["prefix"], body["size"], body["blocks"]) == ("1709", 10_000_000, 1000)
    assert created.headers["location"] == body["href"]
    for prefix, status, code in [
        ("1709", 409, "segment_exists"),
        ("17091", 400, "prefix_malformed"),
        ("1700", 400, "wrong_host_network"),
        ("170", 400, "prefix_shared"),
        ("139", 400, "not_a_resale_segment"),
    ]:
        problem = assert_problem(
            http.post(f"{V1}/numberSegments", headers=host, json={"prefix": prefix}), status, code
        )
        assert problem["field"] == "prefix"
    assert_problem(
        http.post(
            f"{V1}/numberSegments", headers=auth_header(nw.w, "mvnoAdmin"), json={"prefix": "167"}
        ),
        403,
        "role_required",
    )
    listed = http.get(f"{V1}/numberSegments", headers=auth_header(nw.w, "outletClerk"))
    assert {s["prefix"] for s in listed.json()} == {"171", "1709"}


def test_allocation_request_and_host_decision(http: httpx.Client, nw: NumbersWorld) -> None:
    w = nw.w
    segment = http.get(f"{V1}/numberSegments", headers=auth_header(w, "mvno2Admin")).json()[0]
    request = http.post(
        f"{V1}/blockAllocationRequests",
        headers=auth_header(w, "mvno2Admin"),
        json={"segmentId": segment["id"], "blockCount": 2, "regionCode": "440100"},
    )
    assert request.status_code == 201, request.text
    href = request.json()["href"]
    assert_problem(http.get(href, headers=auth_header(w, "mvnoAdmin")), 404, "not_found")
    assert_problem(
        http.post(f"{href}/grant", headers=auth_header(w, "mvno2Admin")), 403, "role_required"
    )
    granted = http.post(f"{href}/grant", headers=auth_header(w, "hostAdmin"))
    assert granted.status_code == 200, granted.text
    assert granted.json()["status"] == "granted"
    assert len(granted.json()["grantedBlocks"]) == 2
    assert_problem(
        http.post(f"{href}/grant", headers=auth_header(w, "hostAdmin")), 409, "already_decided"
    )
    blocks = http.get(
        f"{V1}/numberBlocks", headers=auth_header(w, "mvno2Admin"), params={"regionCode": "440100"}
    ).json()
    assert [b["prefix"] for b in blocks] == granted.json()["grantedBlocks"]


def test_sale_rights_and_bad_ranges(http: httpx.Client, nw: NumbersWorld) -> None:
    w = nw.w
    mvno = auth_header(w, "mvnoAdmin")
    o1 = ids.to_public("channel_authorisation", w.auth["a_o1"])
    kept = nw.m1_blocks[1]
    made = http.post(
        f"{V1}/saleRights",
        headers=mvno,
        json={"holderId": o1, "firstNumber": f"{kept}0000", "lastNumber": f"{kept}0999"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["size"] == 1000
    for body, status, code in [
        (
            {"holderId": o1, "firstNumber": f"{kept}0500", "lastNumber": f"{kept}0600"},
            409,
            "range_overlaps",
        ),
        ({"holderId": o1, "blockPrefix": nw.m2_blocks[0]}, 422, "range_not_owned"),
        (
            {"holderId": o1, "firstNumber": "1710000", "lastNumber": f"{kept}0600"},
            400,
            "msisdn_malformed",
        ),
        (
            {"holderId": o1, "firstNumber": f"{kept}0900", "lastNumber": f"{kept}0800"},
            400,
            "range_reversed",
        ),
        ({"holderId": o1}, 400, "invalid_request"),
        ({"holderId": "chn_nope", "blockPrefix": kept}, 400, "bad_reference"),
    ]:
        assert_problem(http.post(f"{V1}/saleRights", headers=mvno, json=body), status, code)
    partner_view = http.get(f"{V1}/saleRights", headers=auth_header(w, "partnerAdmin")).json()
    assert {r["holderId"] for r in partner_view} == {
        ids.to_public("channel_authorisation", w.auth["a_p1"]),
        o1,
    }


def test_search_reserve_release_over_http(http: httpx.Client, nw: NumbersWorld) -> None:
    w = nw.w
    clerk = auth_header(w, "outletClerk")
    found = http.get(
        f"{V1}/availableNumbers",
        headers=clerk,
        params={"pattern": "*88", "excludeDigits": "4", "limit": 5},
    )
    assert found.status_code == 200
    items = found.json()
    assert len(items) == 5
    assert all(i["msisdn"].endswith("88") and "4" not in i["msisdn"] for i in items)
    assert {"grade", "oneOffPriceFen", "minMonthlySpendFen", "minMonths", "brand"} <= set(items[0])
    # A grade no rule table knows is refused, not an empty page that looks like "none left".
    bad = http.get(f"{V1}/availableNumbers", headers=clerk, params={"grade": "Z"})
    assert assert_problem(bad, 400, "bad_filter_value")["field"] == "grade"
    graded = http.get(f"{V1}/availableNumbers", headers=clerk, params={"grade": "D", "limit": 3})
    assert graded.status_code == 200, graded.text
    assert {i["grade"] for i in graded.json()} == {"D"}
    reserved = http.post(
        f"{V1}/numberReservations", headers=clerk, json={"msisdns": [items[0]["msisdn"]]}
    )
    assert reserved.status_code == 201, reserved.text
    body = reserved.json()
    assert body["status"] == "active"
    assert 1790 <= body["secondsLeft"] <= 1800
    again = http.post(
        f"{V1}/numberReservations",
        headers=auth_header(w, "partnerAdmin"),
        json={"msisdns": [items[0]["msisdn"]]},
    )
    assert_problem(again, 409, "number_taken")
    by_count = http.post(
        f"{V1}/numberReservations", headers=clerk, json={"count": 3, "pattern": "*520"}
    )
    assert by_count.status_code == 201, by_count.text
    assert len(by_count.json()["numbers"]) == 3
    number = http.get(f"{RESOURCE}/{items[0]['msisdn']}", headers=clerk).json()
    assert (number["numberState"], number["resourceStatus"]) == ("reserved", "reserved")
    released = http.post(f"{body['href']}/release", headers=clerk)
    assert released.json()["status"] == "released"
    assert (
        http.get(f"{RESOURCE}/{items[0]['msisdn']}", headers=clerk).json()["numberState"]
        == "inStock"
    )


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"pattern": "139*"}, "pattern_cannot_match"),
        ({"pattern": "1*2*3"}, "pattern_malformed"),
        ({"pattern": "17100000000000"}, "pattern_cannot_match"),
        ({"limit": 0}, "invalid_request"),
        ({"excludeDigits": "x"}, "bad_exclude"),
        ({"regionCode": "999999"}, "region_unknown"),
    ],
)
def test_search_refuses_bad_patterns(
    http: httpx.Client, nw: NumbersWorld, params: dict, code: str
) -> None:
    problem = assert_problem(
        http.get(f"{V1}/availableNumbers", headers=auth_header(nw.w, "outletClerk"), params=params),
        400,
        code,
    )
    assert problem["field"]


@pytest.mark.parametrize(
    ("msisdns", "status", "code"),
    [
        (["1710000"], 400, "msisdn_malformed"),
        (["171000000001"], 400, "msisdn_malformed"),
        (["1710000abcd"], 400, "msisdn_malformed"),
        (["13800138000"], 400, "not_a_resale_number"),
        ([], 400, "required"),
    ],
)
def test_reserve_refuses_bad_numbers(
    http: httpx.Client, nw: NumbersWorld, msisdns: list[str], status: int, code: str
) -> None:
    assert_problem(
        http.post(
            f"{V1}/numberReservations",
            headers=auth_header(nw.w, "outletClerk"),
            json={"msisdns": msisdns},
        ),
        status,
        code,
    )


def test_foreign_numbers_and_reservations_are_404(http: httpx.Client, nw: NumbersWorld) -> None:
    w = nw.w
    number = nw.number(nw.m1_blocks[0], 1)
    reservation = http.post(
        f"{V1}/numberReservations",
        headers=auth_header(w, "outletClerk"),
        json={"msisdns": [number]},
    ).json()
    for who in ("mvno2Admin", "hostAdmin", "subscriber"):
        assert http.get(reservation["href"], headers=auth_header(w, who)).status_code == 404
        assert http.get(f"{RESOURCE}/{number}", headers=auth_header(w, who)).status_code == 404
    assert http.get(reservation["href"], headers=auth_header(w, "mvnoAdmin")).status_code == 200
    assert http.get(reservation["href"], headers=auth_header(w, "partnerAdmin")).status_code == 200
    kept = nw.number(nw.m1_blocks[1], 1)
    assert http.get(f"{RESOURCE}/{kept}", headers=auth_header(w, "outletClerk")).status_code == 404
    listed = http.get(RESOURCE, headers=auth_header(w, "mvno2Admin"))
    assert listed.json() == []


def test_withhold_through_tmf639_patch(http: httpx.Client, nw: NumbersWorld) -> None:
    w = nw.w
    number = nw.number(nw.m1_blocks[1], 6666)
    url = f"{RESOURCE}/{number}"
    withheld = http.patch(
        url, headers=auth_header(w, "mvnoAdmin"), json={"numberState": "withheld"}
    )
    assert withheld.status_code == 200, withheld.text
    assert withheld.json()["resourceStatus"] == "suspended"
    assert_problem(
        http.patch(url, headers=auth_header(w, "mvnoAdmin"), json={"numberState": "inUse"}),
        400,
        "invalid_transition",
    )
    back = http.patch(url, headers=auth_header(w, "mvnoAdmin"), json={"numberState": "inStock"})
    assert back.json()["numberState"] == "inStock"


def test_public_lookup_needs_no_login_and_is_limited(
    http: httpx.Client, nw: NumbersWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = nw.number(nw.m1_blocks[0], 5)
    found = http.get(f"{V1}/numberLookup/{number}")
    assert found.status_code == 200
    body = found.json()
    assert (body["mvno"], body["hostNetworkName"], body["inService"]) == (
        "星河移动",
        "China Unicom",
        False,
    )
    assert body["homeRegionName"] == "广东省深圳市"
    assert_problem(http.get(f"{V1}/numberLookup/12345"), 400, "msisdn_malformed")
    monkeypatch.setattr(numbers_router, "lookup_limiter", TokenBucket(rate_per_s=0.01, burst=3))
    statuses = [http.get(f"{V1}/numberLookup/{number}").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    limited = http.get(f"{V1}/numberLookup/{number}")
    assert_problem(limited, 429, "rate_limited")


def test_policy_and_rules(http: httpx.Client, nw: NumbersWorld) -> None:
    w = nw.w
    m1 = ids.to_public("organization", w.org["m1"])
    url = f"{V1}/numberPolicies/{m1}"
    policy = http.get(url, headers=auth_header(w, "mvnoAdmin")).json()
    assert (policy["quarantineDays"], policy["reservationMinutes"]) == (90, 30)
    assert policy["prettyNumberRules"]["rules"][0] == {"rule": "same:6", "grade": "S"}
    changed = http.patch(url, headers=auth_header(w, "mvnoAdmin"), json={"quarantineDays": 60})
    assert changed.json()["quarantineDays"] == 60
    assert_problem(
        http.patch(url, headers=auth_header(w, "mvnoAdmin"), json={"utilisationThresholdPct": 1}),
        403,
        "role_required",
    )
    assert_problem(
        http.patch(url, headers=auth_header(w, "mvnoAdmin"), json={"reservationMinutes": 0}),
        400,
        "out_of_range",
    )
    for not_a_number in ({"reservationMinutes": True}, {"quarantineDays": "30"}):
        assert_problem(
            http.patch(url, headers=auth_header(w, "mvnoAdmin"), json=not_a_number),
            400,
            "invalid_request",
        )
    assert http.get(url, headers=auth_header(w, "mvnoAdmin")).json()["quarantineDays"] == 60
    rules = {
        "rules": [{"rule": "endsWith:8", "grade": "X"}],
        "prices": {
            "X": {"oneOffFen": 5000, "minMonthlyFen": 0, "minMonths": 0},
            "N": {"oneOffFen": 0, "minMonthlyFen": 0, "minMonths": 0},
        },
        "fourDiscountPct": 0,
    }
    assert (
        http.patch(
            url, headers=auth_header(w, "mvnoAdmin"), json={"prettyNumberRules": rules}
        ).status_code
        == 200
    )
    graded = http.get(
        f"{RESOURCE}/{nw.number(nw.m1_blocks[0], 18)}", headers=auth_header(w, "outletClerk")
    ).json()
    assert {"name": "grade", "value": "X"} in graded["resourceCharacteristic"]
    assert_problem(http.get(url, headers=auth_header(w, "mvno2Admin")), 404, "not_found")


def test_an_mvno_cannot_request_blocks_for_another_mvno(
    http: httpx.Client, nw: NumbersWorld
) -> None:
    """Another MVNO's id is refused as a made-up one is, never replaced by the caller's own."""
    w = nw.w
    mvno = auth_header(w, "mvnoAdmin")
    segment = http.get(f"{V1}/numberSegments", headers=mvno).json()[0]
    body = {"segmentId": segment["id"], "blockCount": 1}
    before = http.get(f"{V1}/blockAllocationRequests", headers=mvno).json()
    for other in (w.org["m2"], uuid.uuid4()):
        named = {**body, "mvnoId": ids.to_public("organization", other)}
        problem = assert_problem(
            http.post(f"{V1}/blockAllocationRequests", headers=mvno, json=named), 404, "not_found"
        )
        assert problem["field"] == "mvnoId"
    assert http.get(f"{V1}/blockAllocationRequests", headers=mvno).json() == before
    own = {**body, "mvnoId": ids.to_public("organization", w.org["m1"])}
    assert http.post(f"{V1}/blockAllocationRequests", headers=mvno, json=own).status_code == 201
    m2 = {**body, "mvnoId": ids.to_public("organization", w.org["m2"])}
    admin = auth_header(w, "platformAdmin")
    made = http.post(f"{V1}/blockAllocationRequests", headers=admin, json=m2)
    assert made.status_code == 201, made.text
    assert http.get(made.json()["href"], headers=auth_header(w, "mvno2Admin")).status_code == 200


def test_a_host_cannot_register_a_segment_for_another_host(
    http: httpx.Client, nw: NumbersWorld, backend: Backend
) -> None:
    """Another host network's id answers as a made-up one does: 404 on hostId."""
    telecom = parties.create_organisation(
        backend.db,
        nw.w.op,
        kind=OrgKind.HOST_NETWORK,
        name="中国电信",
        network_code=HostNetwork.TELECOM,
    )["id"]
    host = auth_header(nw.w, "hostAdmin")
    for other in (telecom, uuid.uuid4()):
        body = {"prefix": "1709", "hostId": ids.to_public("organization", other)}
        problem = assert_problem(
            http.post(f"{V1}/numberSegments", headers=host, json=body), 404, "not_found"
        )
        assert problem["field"] == "hostId"
    own = {"prefix": "1709", "hostId": ids.to_public("organization", nw.w.org["host"])}
    assert http.post(f"{V1}/numberSegments", headers=host, json=own).status_code == 201
