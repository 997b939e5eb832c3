"""Money over HTTP: top-up with idempotency, floats, holds, errors, scope."""

from __future__ import annotations

import uuid

import httpx
import pytest

from openmvne import ids
from tests.api.test_conventions import assert_problem
from tests.conftest import Backend
from tests.money_world import MoneyWorld, build_money
from tests.world import auth_header

PREPAY = "/tmf-api/prepayBalanceManagement/v4"
V1 = "/openmvne/v1"


@pytest.fixture
def mw(backend: Backend) -> MoneyWorld:
    return build_money(backend.db)


def _clerk(mw: MoneyWorld, key: str | None = "k1") -> dict[str, str]:
    headers = auth_header(mw.nw.w, "outletClerk")
    if key:
        headers["Idempotency-Key"] = key
    return headers


def test_topup_is_idempotent_and_shows_only_the_brand(http: httpx.Client, mw: MoneyWorld) -> None:
    preview = http.get(f"{V1}/rechargePreview/{mw.line2}", headers=_clerk(mw))
    assert preview.json() == {
        "msisdn": mw.line2,
        "brand": None,  # its blocks were allocated before it had a brand
        "mvno": "青桐通信",
        "maskedName": None,
    }
    body = {"msisdn": mw.line2, "amountFen": 3000, "channelOrderNumber": "POS-1"}
    first = http.post(f"{PREPAY}/topupBalance", headers=_clerk(mw), json=body)
    assert first.status_code == 201, first.text
    assert first.headers["Idempotent-Replayed"] == "false"
    assert first.headers["location"] == first.json()["href"]
    assert first.json()["amount"] == {"amount": 3000, "units": "fen"}
    again = http.post(f"{PREPAY}/topupBalance", headers=_clerk(mw), json=body)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert_problem(
        http.post(f"{PREPAY}/topupBalance", headers=_clerk(mw), json={**body, "amountFen": 3100}),
        422,
        "idempotency_key_reused",
    )
    assert_problem(
        http.post(f"{PREPAY}/topupBalance", headers=_clerk(mw, None), json=body),
        400,
        "idempotency_key_required",
    )
    got = http.get(first.json()["href"], headers=_clerk(mw))
    assert got.json()["id"] == first.json()["id"]
    assert (
        http.get(first.json()["href"], headers=auth_header(mw.nw.w, "mvno2Admin")).status_code
        == 200
    )  # the recharged line's MVNO sees it
    assert (
        http.get(first.json()["href"], headers=auth_header(mw.nw.w, "mvnoAdmin")).status_code == 404
    )
    bucket = http.get(
        f"{PREPAY}/bucket", params={"msisdn": mw.line2}, headers=auth_header(mw.nw.w, "mvno2Admin")
    ).json()
    assert bucket[0]["remainingValue"] == {"amount": 3000, "units": "fen"}
    assert (
        http.get(f"{PREPAY}/bucket", params={"msisdn": mw.line2}, headers=_clerk(mw)).status_code
        == 404
    )
    o1 = ids.to_public("organization", mw.nw.w.org["o1"])
    assert http.get(f"{V1}/floats/{o1}", headers=_clerk(mw)).json()["balanceFen"] == 7000


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"amountFen": 0}, 400, "bad_amount"),
        ({"amountFen": -100}, 400, "bad_amount"),
        ({"amountFen": 10.5}, 400, "invalid_request"),
        ({"amountFen": "100"}, 400, "invalid_request"),
        ({"amountFen": 10**10}, 400, "bad_amount"),
        ({"amountFen": 50_000}, 422, "insufficient_funds"),
        ({"msisdn": "17199990001"}, 404, "unknown_number"),
        ({"msisdn": "abc"}, 400, "msisdn_malformed"),
        ({"channelOrderNumber": ""}, 400, "required"),
        ({"channelOrderNumber": "P" * 65}, 400, "too_long"),
    ],
)
def test_bad_topups_move_nothing(
    http: httpx.Client, mw: MoneyWorld, change: dict, status: int, code: str
) -> None:
    body = {"msisdn": mw.line1, "amountFen": 1000, "channelOrderNumber": "POS-9", **change}
    assert_problem(
        http.post(f"{PREPAY}/topupBalance", headers=_clerk(mw, "bad"), json=body), status, code
    )
    o1 = ids.to_public("organization", mw.nw.w.org["o1"])
    assert http.get(f"{V1}/floats/{o1}", headers=_clerk(mw)).json()["balanceFen"] == 10_000


def test_only_the_platform_records_floats(http: httpx.Client, mw: MoneyWorld) -> None:
    o1 = ids.to_public("organization", mw.nw.w.org["o1"])
    body = {"outletId": o1, "amountFen": 500}
    assert_problem(
        http.post(f"{V1}/floatPayments", headers=_clerk(mw, "f1"), json=body), 403, "role_required"
    )
    admin = {**auth_header(mw.nw.w, "platformAdmin"), "Idempotency-Key": "f1"}
    assert http.post(f"{V1}/floatPayments", headers=admin, json=body).status_code == 201
    assert (
        http.post(f"{V1}/floatPayments", headers=admin, json=body).headers["Idempotent-Replayed"]
        == "true"
    )
    assert http.get(f"{V1}/floats/{o1}", headers=_clerk(mw)).json()["balanceFen"] == 10_500
    r = ids.to_public("organization", mw.nw.w.org["r"])
    assert http.get(f"{V1}/floats/{r}", headers=_clerk(mw)).status_code == 404


def test_holds_over_http(http: httpx.Client, mw: MoneyWorld) -> None:
    http.post(
        f"{PREPAY}/topupBalance",
        headers=_clerk(mw, "t"),
        json={"msisdn": mw.line1, "amountFen": 1000, "channelOrderNumber": "T"},
    )
    mvno = auth_header(mw.nw.w, "mvnoAdmin")
    held = http.post(
        f"{V1}/holds",
        headers={**mvno, "Idempotency-Key": "h"},
        json={"msisdn": mw.line1, "amountFen": 700},
    )
    assert held.status_code == 201, held.text
    hold_id = held.json()["holdId"]
    posted = http.post(
        f"{V1}/holds/{hold_id}/post",
        headers={**mvno, "Idempotency-Key": "p"},
        json={"amountFen": 800},
    )
    assert_problem(posted, 400, "bad_amount")
    posted = http.post(
        f"{V1}/holds/{hold_id}/post",
        headers={**mvno, "Idempotency-Key": "p2"},
        json={"amountFen": 300},
    )
    assert posted.status_code == 200
    assert_problem(
        http.post(f"{V1}/holds/{hold_id}/void", headers={**mvno, "Idempotency-Key": "v"}),
        409,
        "hold_resolved",
    )
    assert (
        http.get(f"{PREPAY}/bucket", params={"msisdn": mw.line1}, headers=mvno).json()[0][
            "remainingValue"
        ]["amount"]
        == 700
    )
    journal = http.get(f"{V1}/transfers", headers=mvno).json()
    assert {t["code"] for t in journal} >= {"recharge", "hold", "post", "commission"}
    assert http.get(f"{V1}/transfers", headers=auth_header(mw.nw.w, "mvno2Admin")).json() == []


def test_commission_statements_and_accounts(http: httpx.Client, mw: MoneyWorld) -> None:
    from zoneinfo import ZoneInfo

    from openmvne import clock

    http.post(
        f"{PREPAY}/topupBalance",
        headers=_clerk(mw, "cs"),
        json={"msisdn": mw.line1, "amountFen": 10_000, "channelOrderNumber": "CS"},
    )
    month = clock.now().astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    w = mw.nw.w
    statement = http.get(
        f"{V1}/commissionStatements", params={"month": month}, headers=auth_header(w, "mvnoAdmin")
    ).json()
    owed = {row["channelId"]: row["amountFen"] for row in statement}
    assert owed == {
        ids.to_public("organization", w.org["o1"]): 150,
        ids.to_public("organization", w.org["p1"]): 100,
        ids.to_public("organization", w.org["n"]): 50,
    }
    mine = http.get(
        f"{V1}/commissionStatements", params={"month": month}, headers=_clerk(mw)
    ).json()
    assert [row["amountFen"] for row in mine] == [150]
    assert (
        http.get(
            f"{V1}/commissionStatements",
            params={"month": "2020-01"},
            headers=auth_header(w, "mvnoAdmin"),
        ).json()
        == []
    )
    # Beyond the calendar's reach (a year past 9999 was a 500), or not as months are written.
    for bad in ("11/2026", "9999-12", "2026-1", "2026-13", "1999-12"):
        assert_problem(
            http.get(
                f"{V1}/commissionStatements",
                params={"month": bad},
                headers=auth_header(w, "mvnoAdmin"),
            ),
            400,
            "bad_month",
        )
    billing = http.get(
        "/tmf-api/accountManagement/v4/billingAccount", headers=auth_header(w, "mvnoAdmin")
    ).json()
    assert [a["name"] for a in billing] == [mw.line1]
    assert billing[0]["accountBalance"][0]["amount"] == {"unit": "fen", "value": 10_000}
    assert http.get("/tmf-api/accountManagement/v4/billingAccount", headers=_clerk(mw)).json() == []
    floats = http.get("/tmf-api/accountManagement/v4/partyAccount", headers=_clerk(mw)).json()
    assert {a["accountType"] for a in floats} == {"outletFloat", "channelCommission"}
    # Each account is a resource of its own, under its own kind, for those who see it.
    line_account = billing[0]
    assert http.get(line_account["href"], headers=auth_header(w, "mvnoAdmin")).json() == (
        line_account
    )
    assert http.get(line_account["href"], headers=_clerk(mw)).status_code == 404
    misfiled = line_account["href"].replace("/billingAccount/", "/partyAccount/")
    assert http.get(misfiled, headers=auth_header(w, "mvnoAdmin")).status_code == 404
    for account in floats:
        assert http.get(account["href"], headers=_clerk(mw)).json() == account
        assert http.get(account["href"], headers=auth_header(w, "mvno2Admin")).status_code == 404


def test_an_outlet_cannot_top_up_as_another_outlet(http: httpx.Client, mw: MoneyWorld) -> None:
    """outletId names the outlet whose float pays: another outlet's (or a made-up) id is not
    found, never replaced by the clerk's own; the clerk's own id works as none does."""
    body = {"msisdn": mw.line1, "amountFen": 1000, "channelOrderNumber": "POS-R"}
    for n, other in enumerate((mw.nw.w.org["r"], uuid.uuid4())):
        named = {**body, "outletId": ids.to_public("organization", other)}
        problem = assert_problem(
            http.post(f"{PREPAY}/topupBalance", headers=_clerk(mw, f"r{n}"), json=named),
            404,
            "not_found",
        )
        assert problem["field"] == "outletId"
    o1 = ids.to_public("organization", mw.nw.w.org["o1"])
    assert http.get(f"{V1}/floats/{o1}", headers=_clerk(mw)).json()["balanceFen"] == 10_000
    own = {**body, "outletId": o1}
    first = http.post(f"{PREPAY}/topupBalance", headers=_clerk(mw, "own"), json=own)
    assert first.status_code == 201, first.text
    again = http.post(f"{PREPAY}/topupBalance", headers=_clerk(mw, "own"), json=own)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert http.get(f"{V1}/floats/{o1}", headers=_clerk(mw)).json()["balanceFen"] == 9_000
