"""Recharge vouchers: PINs shown once, redeemed once, guesses limited and audited."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from openmvne import clock, ids
from openmvne.db import tables as t
from openmvne.db.scoping import unscoped
from openmvne.services import money, vouchers
from tests.api.test_conventions import assert_problem
from tests.conftest import Backend
from tests.money_world import MoneyWorld, build_money
from tests.world import auth_header

V1 = "/openmvne/v1"


@pytest.fixture
def mw(backend: Backend) -> MoneyWorld:
    vouchers.guesses = vouchers._Guesses()  # a fresh per-process counter per test
    return build_money(backend.db)


def _sold_batch(http: httpx.Client, mw: MoneyWorld, count: int = 3) -> list[dict]:
    mvno = auth_header(mw.nw.w, "mvnoAdmin")
    made = http.post(
        f"{V1}/voucherBatches",
        headers=mvno,
        json={
            "faceValueFen": 5000,
            "count": count,
            "expiresOn": (clock.now().date() + timedelta(days=365)).isoformat(),
        },
    )
    assert made.status_code == 201, made.text
    batch = made.json()["id"]
    p1 = ids.to_public("organization", mw.nw.w.org["p1"])
    assert http.post(
        f"{V1}/voucherBatches/{batch}/distribute", headers=mvno, json={"channelId": p1}
    ).json() == {"distributed": count}
    sold = http.post(
        f"{V1}/voucherBatches/{batch}/sell", headers={**mvno, "Idempotency-Key": f"sell-{batch}"}
    )
    assert sold.json() == {"sold": count}
    return made.json()["vouchers"]


def test_a_pin_credits_a_line_once(http: httpx.Client, mw: MoneyWorld, backend: Backend) -> None:
    cards = _sold_batch(http, mw)
    mvno = auth_header(mw.nw.w, "mvnoAdmin")
    body = {"msisdn": mw.line1, "pin": cards[0]["pin"]}
    first = http.post(f"{V1}/vouchers/redeem", headers={**mvno, "Idempotency-Key": "r1"}, json=body)
    assert first.status_code == 201, first.text
    assert first.json()["amountFen"] == 5000
    replay = http.post(
        f"{V1}/vouchers/redeem", headers={**mvno, "Idempotency-Key": "r1"}, json=body
    )
    assert replay.headers["Idempotent-Replayed"] == "true"
    again = http.post(f"{V1}/vouchers/redeem", headers={**mvno, "Idempotency-Key": "r2"}, json=body)
    assert_problem(again, 422, "voucher_not_redeemable")
    assert money.balance_of(backend.db, mw.nw.w.actor["mvnoAdmin"], mw.line1)["balanceFen"] == 5000
    other = http.post(
        f"{V1}/vouchers/redeem",
        headers={**mvno, "Idempotency-Key": "r3"},
        json={"msisdn": mw.line2, "pin": cards[1]["pin"]},
    )
    assert_problem(other, 422, "voucher_wrong_line")  # M1's voucher, M2's line
    assert money.check(backend.db) == []
    with backend.db.read() as conn:
        stored = conn.execute(unscoped(select(t.voucher.c.pin_hmac), "test")).scalars().all()
    assert cards[0]["pin"] not in " ".join(stored)


def test_guessing_is_limited_and_audited(
    http: httpx.Client, mw: MoneyWorld, backend: Backend
) -> None:
    _sold_batch(http, mw, count=1)
    clerk = auth_header(mw.nw.w, "outletClerk")
    statuses = [
        http.post(
            f"{V1}/vouchers/redeem",
            headers={**clerk, "Idempotency-Key": f"g{i}"},
            json={"msisdn": mw.line1, "pin": f"{i:016d}"},
        ).status_code
        for i in range(7)
    ]
    assert statuses == [422] * 5 + [429, 429]
    with backend.db.read() as conn:
        refused = conn.execute(
            unscoped(
                select(func.count()).where(t.audit_event.c.action == "voucher.redeem_refused"),
                "test",
            )
        ).scalar_one()
    assert refused == 5


def test_blocked_and_expired_vouchers(http: httpx.Client, mw: MoneyWorld) -> None:
    cards = _sold_batch(http, mw)
    mvno = auth_header(mw.nw.w, "mvnoAdmin")
    assert http.post(f"{V1}/vouchers/{cards[0]['serial']}/block", headers=mvno).status_code == 200
    assert_problem(
        http.post(
            f"{V1}/vouchers/redeem",
            headers={**mvno, "Idempotency-Key": "b"},
            json={"msisdn": mw.line1, "pin": cards[0]["pin"]},
        ),
        422,
        "voucher_not_redeemable",
    )
    assert_problem(
        http.post(
            f"{V1}/vouchers/{cards[1]['serial']}/block", headers=auth_header(mw.nw.w, "mvno2Admin")
        ),
        404,
        "not_found",
    )
    later = clock.now() + timedelta(days=400)
    with clock.frozen(later):
        expired = http.post(
            f"{V1}/vouchers/redeem",
            headers={**mvno, "Idempotency-Key": "e"},
            json={"msisdn": mw.line1, "pin": cards[2]["pin"]},
        )
    assert_problem(expired, 422, "voucher_expired")


def test_bad_voucher_requests(http: httpx.Client, mw: MoneyWorld) -> None:
    mvno = auth_header(mw.nw.w, "mvnoAdmin")
    for body, code in [
        ({"faceValueFen": 0, "count": 1, "expiresOn": "2099-01-01"}, "bad_amount"),
        ({"faceValueFen": 100, "count": 0, "expiresOn": "2099-01-01"}, "bad_count"),
        ({"faceValueFen": 100, "count": 1, "expiresOn": "2000-01-01"}, "bad_date"),
    ]:
        assert_problem(http.post(f"{V1}/voucherBatches", headers=mvno, json=body), 400, code)
    assert_problem(
        http.post(
            f"{V1}/vouchers/redeem",
            headers={**mvno, "Idempotency-Key": "x"},
            json={"msisdn": mw.line1, "pin": "12"},
        ),
        400,
        "bad_pin",
    )
    assert_problem(
        http.post(
            f"{V1}/voucherBatches",
            headers=auth_header(mw.nw.w, "outletClerk"),
            json={"faceValueFen": 100, "count": 1, "expiresOn": "2099-01-01"},
        ),
        403,
        "role_required",
    )
