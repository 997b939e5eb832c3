"""Settlement and reports over HTTP: runs, TMF678 bills and rates, scoped reports."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from openmvne import clock, ids
from openmvne.services import settlement
from tests.api.test_conventions import assert_problem
from tests.conftest import Backend
from tests.services.test_settlement import history  # noqa: F401  # the fixture
from tests.subscribers_world import SubscribersWorld
from tests.tmf_conformance import assert_tmf
from tests.world import auth_header, build

BILLS = "/tmf-api/customerBillManagement/v4"


def test_bills_and_reports_in_scope(
    http: httpx.Client,
    backend: Backend,
    history: tuple[SubscribersWorld, list[str], Path],  # noqa: F811
) -> None:
    sw, lines, _ = history
    with clock.frozen(datetime(2026, 11, 3, tzinfo=UTC)):
        settlement.settle(backend.db, sw.w.op, "2026-10", close=True)
    mvno = http.get(f"{BILLS}/customerBill", headers=auth_header(sw.w, "mvnoAdmin"))
    assert mvno.headers["X-Total-Count"] == "1"
    bill = mvno.json()[0]
    assert bill["state"] == "settled"
    assert_tmf(
        "CustomerBill",
        [bill, http.get(bill["href"], headers=auth_header(sw.w, "mvnoAdmin")).json()],
    )
    assert (
        http.get(f"{BILLS}/customerBill", headers=auth_header(sw.w, "hostAdmin")).headers[
            "X-Total-Count"
        ]
        == "1"
    )
    assert (
        http.get(f"{BILLS}/customerBill", headers=auth_header(sw.w, "mvno2Admin")).headers[
            "X-Total-Count"
        ]
        == "0"
    )
    assert http.get(bill["href"], headers=auth_header(sw.w, "mvno2Admin")).status_code == 404
    rates = http.get(
        bill["appliedCustomerBillingRate"]["href"], headers=auth_header(sw.w, "mvnoAdmin")
    )
    assert {r["name"] for r in rates.json()} >= {"voice", "numbers"}
    assert_tmf("AppliedCustomerBillingRate", rates.json())
    assert sum(r["taxExcludedAmount"]["value"] for r in rates.json()) == bill["amountDue"]["value"]

    partner = http.get(
        "/openmvne/v1/reports/subscribers-by-state", headers=auth_header(sw.w, "partnerAdmin")
    )
    assert sum(r["lines"] for r in partner.json()) == 3  # sold in P1's subtree
    other = http.get(
        "/openmvne/v1/reports/subscribers-by-state", headers=auth_header(sw.w, "mvno2Admin")
    )
    assert other.json() == []
    assert_problem(
        http.get("/openmvne/v1/reports/gossip", headers=auth_header(sw.w, "mvnoAdmin")),
        404,
        "unknown_report",
    )
    runs = http.post(
        "/openmvne/v1/settlementRuns",
        json={"month": "2026-10"},
        headers=auth_header(sw.w, "mvnoAdmin"),
    )
    assert runs.status_code == 201
    assert runs.json()[0]["status"] == "closed"
    assert lines


def test_an_mvno_cannot_settle_another_mvno(http: httpx.Client, backend: Backend) -> None:
    """Another MVNO's id is refused as a made-up one is, never replaced by the caller's own
    (M1 would believe it had run M2's month)."""
    w = build(backend.db)
    runs = "/openmvne/v1/settlementRuns"
    mvno = auth_header(w, "mvnoAdmin")
    for other in (w.org["m2"], uuid.uuid4()):
        body = {"month": "2026-10", "mvnoId": ids.to_public("organization", other)}
        problem = assert_problem(http.post(runs, headers=mvno, json=body), 404, "not_found")
        assert problem["field"] == "mvnoId"
    assert http.get(runs, headers=mvno).json() == []
    m1, m2 = (ids.to_public("organization", w.org[k]) for k in ("m1", "m2"))
    own = http.post(runs, headers=mvno, json={"month": "2026-10", "mvnoId": m1})
    assert [r["mvnoId"] for r in own.json()] == [m1]
    admin = auth_header(w, "platformAdmin")
    other = http.post(runs, headers=admin, json={"month": "2026-10", "mvnoId": m2})
    assert [r["mvnoId"] for r in other.json()] == [m2]
