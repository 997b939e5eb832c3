"""Every route of the OpenAPI document that names an object in its path, called on foreign
objects by: the other MVNO's admin, a partner, outlet and care agent of the other MVNO, a
partner, outlet and care agent of a sibling subtree, and a subscriber who does not hold the
line. A foreign object must answer exactly as an object that does not exist does (the same
status and code: 404 where the caller could act on one, else the same refusal), and no
call may succeed. Lists must not show a foreign object either."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from openmvne import ids
from openmvne.api.app import create_app
from openmvne.config import Settings
from tests.conftest import BACKENDS, Backend
from tests.tenancy_world import TenancyWorld, served_tenancy

# Public on purpose: any outlet recharges any connected brand's number, and anyone may look
# a number up (docs/numbers.md, docs/money.md).
PUBLIC = ("/numberLookup/", "/rechargePreview/")
KINDS = {
    "org_id": "organization",
    "outlet_id": "organization",
    "mvno_id": "mvno",
    "person_id": "individual",
    "customer_id": "individual",
    "role_id": "channel_authorisation",
    "auth_id": "channel_authorisation",
    "prefix": "prefix",
    "request_id": "number_allocation_request",
    "right_id": "sale_right",
    "reservation_id": "number_reservation",
    "msisdn": "msisdn",
    "offering_id": "product_offering",
    "spec_id": "product_specification",
    "brand_id": "brand",
    "list_id": "wholesale_price_list",
    "design_id": "package_design",
    "transfer_id": "stock_transfer",
    "iccid": "iccid",
    "product_id": "subscription",
    "ticket_id": "trouble_ticket",
    "team_id": "care_team",
    "user_id": "user",
    "route_id": "care_route",
    "breach_id": "care_sla_breach",
    "bill_id": "customer_bill",
    "topup_id": "topup",
    "hold_id": "hold",
    "serial": "voucher_serial",
    "session_id": "charging_session",
    "account_id": "ledger_account",
}
OTHER_PARAMS = {"task": "suspend", "action": "credit"}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/organization/{org_id}"): {"tradingName": "hijacked"},
    ("PATCH", "/individual/{person_id}"): {"givenName": "改名"},
    ("PATCH", "/partyRole/{role_id}"): {"status": "suspended"},
    ("PATCH", "/numberPolicies/{mvno_id}"): {"utilisationThresholdPct": 50},
    ("PATCH", "/resource/{msisdn}"): {"numberState": "withheld"},
    ("PATCH", "/productOffering/{offering_id}"): {"lifecycleStatus": "retired"},
    ("PATCH", "/brands/{brand_id}"): {"name": "hijacked"},
    ("PATCH", "/wholesalePriceLists/{list_id}"): {"validTo": "2030-01-01"},
    ("PUT", "/commissionSchemes/{mvno_id}"): {"revenueShareBp": {}, "mvnoMarginBp": 100},
    ("PATCH", "/packageDesigns/{design_id}"): {"priceFen": 100_000},
    ("PATCH", "/simCards/{iccid}"): {"state": "faulty"},
    ("PATCH", "/troubleTicket/{ticket_id}"): {"note": [{"text": "x"}]},
    ("PATCH", "/careTeams/{team_id}"): {"name": "hijacked"},
    ("POST", "/holds/{hold_id}/post"): {"amountFen": 1},
    ("POST", "/chargingSessions/{session_id}/update"): {"requestNumber": 1, "usedUnits": 1},
    ("POST", "/chargingSessions/{session_id}/terminate"): {"requestNumber": 1, "usedUnits": 1},
    ("POST", "/subscribers/{msisdn}/tasks/{task}"): {"reason": "x"},
    ("POST", "/troubleTickets/{ticket_id}/actions/{action}"): {"amountFen": 100, "reason": "x"},
}
OUTSIDE_M1 = ["M1", "P1", "P2", "H1b"]
FOREIGN = {
    "mvnoAdmin": ["M2"],
    "careAgent": ["M2"],
    "mvno2Admin": OUTSIDE_M1,
    "qAdmin": OUTSIDE_M1,
    "rClerk": OUTSIDE_M1,
    "m2Agent": OUTSIDE_M1,
    "partnerAdmin": ["M2", "P2"],
    "outletClerk": ["M2", "P2"],
    "p1Agent": ["M2", "P2"],
    "p2Admin": ["M2", "P1", "H1b"],
    "o2Clerk": ["M2", "P1", "H1b"],
    "p2Agent": ["M2", "P1", "H1b"],
    "holder1": ["M2", "P2", "H1b"],
}


def _document() -> dict[str, Any]:
    return create_app(Settings(database_url="sqlite://")).openapi()  # type: ignore[no-any-return]


DOCUMENT = _document()


def _kind(path: str, param: str) -> str | None:
    if param == "batch_id":
        return "sim_batch" if "/simBatches/" in path else "voucher_batch"
    if param == "order_id":
        return "payment_order" if "/paymentOrders/" in path else "product_order"
    return KINDS.get(param)


def _object_routes() -> list[tuple[str, str]]:
    found = []
    for path, operations in DOCUMENT["paths"].items():
        if any(part in path for part in PUBLIC):
            continue
        for method, operation in operations.items():
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            if any(_kind(path, name) for name in names):
                found.append((method.upper(), path))
    return found


def _list_routes() -> list[tuple[str, int]]:
    """Lists with paging and no required parameter, with their largest page."""
    found = []
    for path, operations in DOCUMENT["paths"].items():
        get = operations.get("get")
        if get is None or "{" in path:
            continue
        limit = [p for p in get.get("parameters", []) if p["name"] == "limit"]
        required = [p for p in get.get("parameters", []) if p.get("required")]
        if limit and not required:
            found.append((path, limit[0]["schema"].get("maximum", 100)))
    return found


def _absent(kind: str) -> str:
    made = {
        "mvno": ids.to_public("organization", ids.new_id()),
        "prefix": "1719999",
        "msisdn": "17199990001",
        "iccid": "89860100000000099990",
        "topup": f"top_{ids.encode(ids.new_id())}",
        "hold": str(ids.new_id()),
        "payment_order": str(ids.new_id()),
        "voucher_serial": "VZZZZZZZZ000000",
        "charging_session": "gy-nobody",
    }
    return made.get(kind) or ids.to_public(kind, ids.new_id())


def _values(tw: TenancyWorld, owner: str, kind: str) -> list[str]:
    if kind == "product_specification":  # an offering's specification has the offering's id
        offers = tw.of(owner, "product_offering")
        return [ids.to_public(kind, ids.from_public("product_offering", o)) for o in offers]
    return tw.of(owner, kind)


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, backends: dict[str, Backend]
) -> Iterator[tuple[TenancyWorld, httpx.Client]]:
    with served_tenancy(backends[request.param]) as served:
        yield served


def _answer(response: httpx.Response) -> tuple[int, str | None]:
    problem = response.headers.get("content-type", "").startswith("application/problem+json")
    return response.status_code, response.json().get("code") if problem else None


@pytest.mark.parametrize(("method", "path"), _object_routes())
def test_a_foreign_object_is_as_absent_as_none(
    world: tuple[TenancyWorld, httpx.Client], method: str, path: str
) -> None:
    tw, client = world
    params = [part.split("}")[0] for part in path.split("{")[1:]]
    keyed = [p for p in params if _kind(path, p)]
    body = next((b for (m, end), b in BODIES.items() if m == method and path.endswith(end)), None)
    if body is None and method in ("POST", "PUT", "PATCH"):
        body = {}
    leaks = []
    for who, owners in FOREIGN.items():
        headers = tw.headers(who)
        absent = {**OTHER_PARAMS, **{p: _absent(_kind(path, p) or "") for p in keyed}}
        headers["Idempotency-Key"] = f"absent-{who}-{method}-{path}"
        nothing = _answer(client.request(method, path.format(**absent), headers=headers, json=body))
        for owner in owners:
            for value in _values(tw, owner, _kind(path, keyed[-1]) or ""):
                values = dict(absent)
                for p in keyed[:-1]:  # e.g. the team of a member: the same owner's
                    values[p] = (_values(tw, owner, _kind(path, p) or "") or [absent[p]])[0]
                values[keyed[-1]] = value
                headers["Idempotency-Key"] = f"{who}-{method}-{path}-{value}"
                response = client.request(method, path.format(**values), headers=headers, json=body)
                if response.status_code < 300 or _answer(response) != nothing:
                    leaks.append((who, owner, value, _answer(response), nothing))
    assert not leaks, leaks


@pytest.mark.parametrize(("path", "limit"), _list_routes())
def test_lists_show_no_foreign_object(
    world: tuple[TenancyWorld, httpx.Client], path: str, limit: int
) -> None:
    tw, client = world
    leaks = []
    for who, owners in FOREIGN.items():
        foreign = {v for owner in owners for values in tw.objects[owner].values() for v in values}
        response = client.get(path, headers=tw.headers(who), params={"limit": limit})
        if response.status_code != 200:
            assert response.status_code == 403, (who, response.text)
            continue
        shown = {str(item.get("id")) for item in response.json()}
        leaks.extend((who, item) for item in shown & foreign)
    assert not leaks, leaks
