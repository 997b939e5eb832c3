"""Recharge vouchers: PINs shown once, redeemed once, guesses limited and audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

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


def _sold_batch(
    http: httpx.Client,
    mw: MoneyWorld,
    count: int = 3,
    *,
    face_fen: int = 5000,
    expires_on: str | None = None,
) -> list[dict]:
    mvno = auth_header(mw.nw.w, "mvnoAdmin")
    made = http.post(
        f"{V1}/voucherBatches",
        headers=mvno,
        json={
            "faceValueFen": face_fen,
            "count": count,
            "expiresOn": expires_on or (clock.now().date() + timedelta(days=365)).isoformat(),
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


def test_a_batch_worth_more_than_one_transfer_may_carry_is_sold(
    http: httpx.Client, mw: MoneyWorld, backend: Backend
) -> None:
    """2,001 cards of 500 yuan are worth 100,050,000 fen, more than a transfer carries
    (MAX_AMOUNT_FEN): the sale moves them in transfers of whole cards, each within the cap,
    and the liability is the batch's whole value."""
    assert len(_sold_batch(http, mw, 2_001, face_fen=50_000)) == 2_001
    lt = t.ledger_transfer
    with backend.db.read() as conn:
        amounts = conn.execute(
            unscoped(select(lt.c.amount_fen).where(lt.c.code == "voucherSale"), "test")
        ).scalars().all()  # fmt: skip
    assert sorted(amounts) == [50_000, 100_000_000]
    assert money.check(backend.db) == []


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


def test_a_voucher_expires_at_the_end_of_its_day_in_beijing(
    http: httpx.Client, mw: MoneyWorld
) -> None:
    """Expiry dates are Beijing's calendar: a card that expires on 31 March is refused from
    00:00 on 1 April in Beijing (16:00 UTC on the 31st), and a batch may not be made on 1
    April Beijing time to expire that day."""
    mvno = auth_header(mw.nw.w, "mvnoAdmin")
    with clock.frozen(datetime(2027, 3, 20, 4, tzinfo=UTC)):
        cards = _sold_batch(http, mw, 2, expires_on="2027-03-31")

    def redeem(card: dict, at: datetime) -> httpx.Response:
        with clock.frozen(at):
            return http.post(
                f"{V1}/vouchers/redeem",
                headers={**mvno, "Idempotency-Key": card["serial"]},
                json={"msisdn": mw.line1, "pin": card["pin"]},
            )

    last_minute = redeem(cards[0], datetime(2027, 3, 31, 15, 59, tzinfo=UTC))  # 23:59 Beijing
    assert last_minute.status_code == 201, last_minute.text
    assert_problem(
        redeem(cards[1], datetime(2027, 3, 31, 16, 0, tzinfo=UTC)), 422, "voucher_expired"
    )
    with clock.frozen(datetime(2027, 3, 31, 17, tzinfo=UTC)):  # 1 April, 01:00 in Beijing
        too_late = http.post(
            f"{V1}/voucherBatches",
            headers=mvno,
            json={"faceValueFen": 5000, "count": 1, "expiresOn": "2027-04-01"},
        )
    assert_problem(too_late, 400, "bad_date")


def test_bad_voucher_requests(http: httpx.Client, mw: MoneyWorld) -> None:
    mvno = auth_header(mw.nw.w, "mvnoAdmin")
    for body, code in [
        ({"faceValueFen": 0, "count": 1, "expiresOn": "2099-01-01"}, "bad_amount"),
        ({"faceValueFen": 100, "count": 0, "expiresOn": "2099-01-01"}, "bad_count"),
        ({"faceValueFen": 100, "count": 1, "expiresOn": "2000-01-01"}, "bad_date"),
    ]:
        assert_problem(http.post(f"{V1}/voucherBatches", headers=mvno, json=body), 400, code)
    outlet = ids.to_public("organization", mw.nw.w.actor["outletClerk"].party_id)
    assert_problem(
        http.post(
            f"{V1}/voucherBatches",
            headers=auth_header(mw.nw.w, "platformAdmin"),
            json={"faceValueFen": 100, "count": 1, "expiresOn": "2099-01-01", "mvnoId": outlet},
        ),
        400,
        "not_an_mvno",
    )
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


def test_an_mvno_cannot_make_a_batch_for_another_mvno(
    http: httpx.Client, mw: MoneyWorld, backend: Backend
) -> None:
    """Another MVNO's id is refused as a made-up one is, never replaced by the caller's own
    (the caller would believe it had made M2's vouchers)."""
    w = mw.nw.w
    mvno = auth_header(w, "mvnoAdmin")
    body = {"faceValueFen": 100, "count": 1, "expiresOn": "2099-01-01"}
    for other in (w.org["m2"], uuid.uuid4()):
        named = {**body, "mvnoId": ids.to_public("organization", other)}
        problem = assert_problem(
            http.post(f"{V1}/voucherBatches", headers=mvno, json=named), 404, "not_found"
        )
        assert problem["field"] == "mvnoId"
    own = {**body, "mvnoId": ids.to_public("organization", w.org["m1"])}
    assert http.post(f"{V1}/voucherBatches", headers=mvno, json=own).status_code == 201
    assert http.post(f"{V1}/voucherBatches", headers=mvno, json=body).status_code == 201
    m2 = {**body, "mvnoId": ids.to_public("organization", w.org["m2"])}
    admin = auth_header(w, "platformAdmin")
    assert http.post(f"{V1}/voucherBatches", headers=admin, json=m2).status_code == 201
    vb = t.voucher_batch
    with backend.db.read() as conn:
        owners = conn.execute(unscoped(select(vb.c.mvno_id), "test")).scalars().all()
    assert sorted(owners) == sorted([w.org["m1"], w.org["m1"], w.org["m2"]])
