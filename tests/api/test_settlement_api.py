"""Settlement and reports over HTTP: runs, TMF678 bills and rates, scoped reports."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx

from openmvne import clock
from openmvne.services import settlement
from tests.api.test_conventions import assert_problem
from tests.conftest import Backend
from tests.services.test_settlement import history  # noqa: F401  # the fixture
from tests.subscribers_world import SubscribersWorld
from tests.tmf_conformance import assert_tmf
from tests.world import auth_header

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
