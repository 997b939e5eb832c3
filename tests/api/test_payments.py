"""Self-service recharge through the (fake) payment gateway: redirect, signed asynchronous
callbacks, duplicates and out-of-order news, a bad signature refused."""

from __future__ import annotations

import time

import httpx
import pytest

from openmvne.services import money
from openmvne.services.payments import sign
from tests.api.test_conventions import assert_problem
from tests.conftest import Backend
from tests.money_world import MoneyWorld, build_money
from tests.world import auth_header

V1 = "/openmvne/v1"


@pytest.fixture
def mw(backend: Backend) -> MoneyWorld:
    return build_money(backend.db)


def _order(http: httpx.Client, mw: MoneyWorld, key: str, amount: int = 3000) -> dict:
    made = http.post(
        f"{V1}/paymentOrders",
        json={"msisdn": mw.line1, "amountFen": amount},
        headers={**auth_header(mw.nw.w, "subscriber"), "Idempotency-Key": key},
    )
    assert made.status_code == 201, made.text
    return made.json()


def _balance(mw: MoneyWorld, backend: Backend) -> int:
    try:
        return int(money.balance_of(backend.db, mw.nw.w.actor["mvnoAdmin"], mw.line1)["balanceFen"])
    except Exception:  # no account yet: nothing was ever credited
        return 0


def test_redirect_pay_and_async_callbacks_credit_once(
    http: httpx.Client, mw: MoneyWorld, backend: Backend
) -> None:
    order = _order(http, mw, "p1")
    page = http.get(order["redirectUrl"])
    assert "30.00" in page.text
    http.post(order["redirectUrl"].split("?")[0], data={"amountFen": 3000, "outcome": "paid"})
    status_url = f"{V1}/paymentOrders/{order['orderId']}"
    headers = auth_header(mw.nw.w, "subscriber")
    deadline = time.monotonic() + 10
    while http.get(status_url, headers=headers).json()["status"] == "pending":
        assert time.monotonic() < deadline, "the gateway never called back"
        time.sleep(0.05)
    time.sleep(0.5)  # let the duplicate and the stale 'failed' arrive too
    assert http.get(status_url, headers=headers).json()["status"] == "paid"
    assert _balance(mw, backend) == 3000
    assert money.check(backend.db) == []


def test_bad_signature_is_refused(http: httpx.Client, mw: MoneyWorld, backend: Backend) -> None:
    order = _order(http, mw, "p2")
    message = {"orderId": order["orderId"], "txnId": "gw-1", "amountFen": 3000, "status": "paid"}
    forged = http.post(
        f"{V1}/paymentCallbacks",
        json=message,
        headers={"X-Signature": sign({**message, "amountFen": 1})},
    )
    assert_problem(forged, 401, "bad_signature")
    assert_problem(http.post(f"{V1}/paymentCallbacks", json=message), 401, "bad_signature")
    assert _balance(mw, backend) == 0


def test_duplicates_and_out_of_order(http: httpx.Client, mw: MoneyWorld, backend: Backend) -> None:
    paid = _order(http, mw, "p3")
    message = {"orderId": paid["orderId"], "txnId": "gw-2", "amountFen": 3000, "status": "paid"}
    answers = [
        http.post(
            f"{V1}/paymentCallbacks", json=message, headers={"X-Signature": sign(message)}
        ).json()
        for _ in range(3)
    ]
    assert [a["applied"] for a in answers] == [True, False, False]
    # An attempt's failure, then the money taken: in either order, the line is credited once.
    headers = auth_header(mw.nw.w, "subscriber")
    for n, first in enumerate(("failed", "paid")):
        order = _order(http, mw, f"p4-{n}")
        news = [
            {"orderId": order["orderId"], "txnId": f"gw-3-{n}", "amountFen": 3000, "status": s}
            for s in (first, "paid" if first == "failed" else "failed")
        ]
        applied = [
            http.post(f"{V1}/paymentCallbacks", json=m, headers={"X-Signature": sign(m)}).json()[
                "applied"
            ]
            for m in [*news, news[-1]]
        ]
        assert applied == ([True, True, False] if first == "failed" else [True, False, False])
        shown = http.get(f"{V1}/paymentOrders/{order['orderId']}", headers=headers).json()
        assert shown["status"] == "paid"
        assert _balance(mw, backend) == 3000 * (n + 2)
    # A txnId the tables cannot hold, or one that settled another order: refused, nothing moved.
    other = _order(http, mw, "p6")
    for txn, status, code in (("x" * 65, 422, "bad_callback"), ("gw-2", 409, "txn_id_reused")):
        message = {"orderId": other["orderId"], "txnId": txn, "amountFen": 3000, "status": "paid"}
        assert_problem(
            http.post(
                f"{V1}/paymentCallbacks", json=message, headers={"X-Signature": sign(message)}
            ),
            status,
            code,
        )
    assert _balance(mw, backend) == 9000
    wrong = _order(http, mw, "p5")
    message = {"orderId": wrong["orderId"], "txnId": "gw-5", "amountFen": 1, "status": "paid"}
    assert_problem(
        http.post(f"{V1}/paymentCallbacks", json=message, headers={"X-Signature": sign(message)}),
        409,
        "amount_mismatch",
    )
    assert money.check(backend.db) == []


def test_orders_need_a_line_in_service(http: httpx.Client, mw: MoneyWorld) -> None:
    idle = mw.nw.number(mw.nw.m1_blocks[0], 9)
    refused = http.post(
        f"{V1}/paymentOrders",
        json={"msisdn": idle, "amountFen": 100},
        headers={**auth_header(mw.nw.w, "subscriber"), "Idempotency-Key": "i"},
    )
    assert_problem(refused, 422, "line_not_in_service")
