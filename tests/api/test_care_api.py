"""Care over HTTP: TMF621 trouble tickets (shape, merge-patch, bad input as problems),
self-care with an SMS code, actions from a ticket with idempotent replay, the partner's
404s, teams, routing, SLA breaches, reports, and the public lookup's "what next"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from openmvne import clock, ids
from openmvne.db import tables as t
from openmvne.db.scoping import unscoped
from openmvne.domain.subscribers import local_date
from openmvne.network.simulator import SimulatedHostNetwork
from openmvne.services import care, sms_fake
from tests.api.test_conventions import assert_problem
from tests.care_world import CareWorld, build_care
from tests.conftest import Backend
from tests.world import auth_header

TICKETS = "/tmf-api/troubleTicket/v4/troubleTicket"
V1 = "/openmvne/v1"
MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
def cw(backend: Backend) -> Iterator[CareWorld]:
    backend.serve()
    assert backend.app is not None
    backend.app.state.network = SimulatedHostNetwork(seed=7)
    gateway = sms_fake.gateway()
    gateway.reset()
    gateway.per_number_interval_s = 0  # each test's numbers start afresh
    yield build_care(backend.db, backend.app.state.network)
    gateway.reset()
    gateway.per_number_interval_s = 30.0


def as_(cw: CareWorld, who: str, **extra: str) -> dict[str, str]:
    return {**auth_header(cw.w, who), **extra}


def body(msisdn: str, kind: str = "complaint", **extra: Any) -> dict[str, Any]:
    return {
        "@type": "TroubleTicket",
        "name": "打不通",
        "description": "拨打任何号码都提示无服务",
        "severity": "major",
        "ticketType": kind,
        "relatedEntity": [{"id": msisdn, "role": "affectedNumber", "@referredType": "MSISDN"}],
        **extra,
    }


def tickets_count(backend: Backend) -> int:
    with backend.db.read() as conn:
        stmt = select(func.count()).select_from(t.trouble_ticket)
        return int(conn.execute(unscoped(stmt, "test")).scalar_one())


def test_open_read_and_work_a_ticket(http: httpx.Client, cw: CareWorld, backend: Backend) -> None:
    msisdn = cw.line(backend.db)
    created = http.post(
        TICKETS,
        json=body(msisdn, note=[{"text": "客户在店里等"}]),
        headers=as_(cw, "outletClerk"),
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert created.headers["location"] == ticket["href"]
    assert ticket["id"].startswith("tkt_")
    assert ticket["@type"] == "TroubleTicket"
    assert (ticket["status"], ticket["severity"], ticket["priority"]) == (
        "acknowledged",
        "major",
        "high",
    )
    assert ticket["channel"]["id"] == "outlet"
    assert [c["status"] for c in ticket["statusChange"]] == ["acknowledged"]
    assert [n["text"] for n in ticket["note"]] == ["客户在店里等"]
    team = next(p for p in ticket["relatedParty"] if p["role"] == "careTeam")
    assert team["id"] == ids.to_public("care_team", cw.team["p1"])
    roles = {e["role"] for e in ticket["relatedEntity"]}
    assert roles == {"affectedNumber", "affectedProduct"}
    assert ticket["expectedResolutionDate"].endswith("Z")
    assert ticket["homeRegionName"] == "广东省深圳市"
    url = f"{TICKETS}/{ticket['id']}"
    agent = as_(cw, "p1Agent")
    assert http.get(url, headers=agent).json() == ticket
    listed = http.get(TICKETS, params={"status": "acknowledged"}, headers=agent)
    assert listed.headers["x-total-count"] == "1"
    picked = http.get(url, params={"fields": "status,priority"}, headers=agent).json()
    assert set(picked) == {"id", "href", "@type", "status", "priority"}
    worked = http.patch(
        url,
        json={"status": "inProgress", "note": [{"text": "已安排基站排查"}]},
        headers={**agent, **MERGE},
    )
    assert worked.status_code == 200, worked.text
    assert worked.json()["status"] == "inProgress"
    assert [n["author"] for n in worked.json()["note"]] == ["outletClerk", "p1Agent"]
    resolved = http.patch(
        url,
        json={"status": "resolved", "statusChangeReason": "基站已恢复"},
        headers={**agent, **MERGE},
    ).json()
    assert resolved["resolutionDate"] is not None
    assert resolved["statusChangeReason"] == "基站已恢复"
    closed = http.patch(url, json={"status": "closed"}, headers={**as_(cw, "outletClerk"), **MERGE})
    assert closed.json()["status"] == "closed"


def test_bad_input_is_a_problem_and_changes_nothing(
    http: httpx.Client, cw: CareWorld, backend: Backend
) -> None:
    msisdn = cw.line(backend.db)
    clerk = as_(cw, "outletClerk")
    never_sold = cw.sw.nw.number(cw.sw.nw.m1_blocks[1], 4321)
    assert_problem(http.post(TICKETS, json=body(never_sold), headers=clerk), 404, "unknown_number")
    assert_problem(
        http.post(TICKETS, json=body(msisdn, "refund"), headers=clerk), 400, "bad_ticketType"
    )
    no_number = body(msisdn)
    no_number["relatedEntity"] = [{"id": "x", "role": "other", "@referredType": "Product"}]
    assert_problem(http.post(TICKETS, json=no_number, headers=clerk), 400, "required")
    assert_problem(
        http.post(TICKETS, json=body(msisdn, status="resolved"), headers=clerk),
        400,
        "server_owned_field",
    )
    assert_problem(
        http.post(TICKETS, json=body(msisdn, attachment=[]), headers=clerk), 400, "unknown_field"
    )
    assert_problem(
        http.post(TICKETS, json=body(msisdn, priority="critical"), headers=clerk),
        403,
        "care_desk_only",
    )
    assert tickets_count(backend) == 0
    ticket = http.post(TICKETS, json=body(msisdn), headers=clerk).json()
    url = f"{TICKETS}/{ticket['id']}"
    agent = as_(cw, "p1Agent")
    illegal = http.patch(url, json={"status": "closed"}, headers={**agent, **MERGE})
    body_ = assert_problem(illegal, 409, "illegal_status_change")
    assert body_["field"] == "status"
    assert http.get(url, headers=agent).json()["status"] == "acknowledged"
    assert_problem(
        http.patch(url, content="status=closed", headers={**agent, "Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    assert_problem(http.get(f"{TICKETS}/tkt_nonsense", headers=agent), 404, "not_found")
    # A window's ends are instants: without an offset, or past the year 9999 in UTC, they
    # name none (both were 500s).
    for window in (
        {"since": "2026-11-01T00:00:00"},
        {"until": "9999-12-31T23:00:00-05:00"},
    ):
        problem = assert_problem(
            http.post(
                f"{V1}/troubleTickets/{ticket['id']}/actions/traceRecharge",
                json=window,
                headers=agent,
            ),
            400,
            "invalid_request",
        )
        assert problem["field"] in window
    traced = http.post(
        f"{V1}/troubleTickets/{ticket['id']}/actions/traceRecharge",
        json={"since": "2026-11-01T00:00:00+08:00"},
        headers=agent,
    )
    assert traced.status_code == 201, traced.text


def test_self_care_needs_the_code_sent_to_the_number(
    http: httpx.Client, cw: CareWorld, backend: Backend
) -> None:
    msisdn = cw.line(backend.db)
    request = body(msisdn, "infoQuery", severity="minor")
    assert_problem(http.post(TICKETS, json=request), 401, "verification_required")
    sent = http.post(f"{V1}/careVerifications", json={"msisdn": msisdn})
    assert sent.status_code == 201, sent.text
    assert sent.json()["id"].startswith("cvr_")
    code = sms_fake.gateway().last_code(msisdn)
    assert code is not None
    wrong = "000000" if code != "000000" else "111111"
    failed = http.post(TICKETS, json=request, headers={"X-Verification-Code": wrong})
    assert assert_problem(failed, 422, "verification_failed")["attemptsLeft"] == 4
    assert tickets_count(backend) == 0
    opened = http.post(TICKETS, json=request, headers={"X-Verification-Code": code})
    assert opened.status_code == 201, opened.text
    assert opened.json()["channel"]["id"] == "selfCare"
    again = http.post(TICKETS, json=request, headers={"X-Verification-Code": code})
    assert_problem(again, 422, "verification_required")
    limited = http.post(f"{V1}/careVerifications", json={"msisdn": msisdn})
    assert assert_problem(limited, 429, "verification_rate_limited")["retryAfterS"] > 0
    assert_problem(
        http.post(f"{V1}/careVerifications", json={"msisdn": "17099990000"}), 404, "unknown_number"
    )


def test_a_partner_cannot_see_or_act_on_a_brand_it_does_not_serve(
    http: httpx.Client, cw: CareWorld, backend: Backend
) -> None:
    other = cw.m2_line(backend.db)
    ticket = http.post(TICKETS, json=body(other), headers=as_(cw, "platformAdmin")).json()
    url = f"{TICKETS}/{ticket['id']}"
    p1 = as_(cw, "p1Agent")
    assert_problem(http.get(url, headers=p1), 404, "not_found")
    assert_problem(
        http.patch(url, json={"status": "inProgress"}, headers={**p1, **MERGE}), 404, "not_found"
    )
    assert_problem(
        http.post(
            f"{V1}/troubleTickets/{ticket['id']}/actions/reportLost",
            json={},
            headers={**p1, "Idempotency-Key": "x-1"},
        ),
        404,
        "not_found",
    )
    assert http.get(TICKETS, headers=p1).headers["x-total-count"] == "0"
    assert_problem(http.post(TICKETS, json=body(other), headers=p1), 404, "unknown_number")
    assert http.get(url, headers=as_(cw, "mvno2Admin")).status_code == 200


def test_a_credit_from_a_ticket_happens_once_per_key(
    http: httpx.Client, cw: CareWorld, backend: Backend
) -> None:
    msisdn = cw.line(backend.db)
    agent = as_(cw, "careAgent")
    ticket = http.post(TICKETS, json=body(msisdn, "rechargeNotReceived"), headers=agent).json()
    # Routed to P1's team; the MVNO's administrator works every ticket of the MVNO.
    admin = as_(cw, "mvnoAdmin", **{"Idempotency-Key": "credit-1"})
    url = f"{V1}/troubleTickets/{ticket['id']}/actions/credit"
    payload = {"amountFen": 3000, "reason": "充值未到账"}
    first = http.post(url, json=payload, headers=admin)
    assert first.status_code == 201, first.text
    again = http.post(url, json=payload, headers=admin)
    assert (first.headers["idempotent-replayed"], again.headers["idempotent-replayed"]) == (
        "false",
        "true",
    )
    assert first.json()["transferId"] == again.json()["transferId"]
    changed = http.post(url, json={**payload, "amountFen": 1}, headers=admin)
    assert_problem(changed, 422, "idempotency_key_reused")
    with backend.db.read() as conn:
        credits = conn.execute(
            unscoped(
                select(func.count())
                .select_from(t.ledger_transfer)
                .where(t.ledger_transfer.c.code == "careCredit"),
                "test",
            )
        ).scalar_one()
    assert credits == 1
    shown = http.get(f"{TICKETS}/{ticket['id']}", headers=agent).json()
    linked = [e for e in shown["relatedEntity"] if e["role"] == "careAction"]
    assert [e["id"] for e in linked] == [first.json()["transferId"]]
    assert shown["status"] == "inProgress"
    assert_problem(
        http.post(url, json=payload, headers=as_(cw, "mvnoAdmin")), 400, "idempotency_key_required"
    )
    # A partner's agent works its own ticket, but never moves the MVNO's money.
    p1 = as_(cw, "p1Agent", **{"Idempotency-Key": "credit-2"})
    assert_problem(http.post(url, json=payload, headers=p1), 403, "mvno_desk_only")
    lost = http.post(
        f"{V1}/troubleTickets/{ticket['id']}/actions/reportLost",
        json={"reason": "手机丢了"},
        headers=p1,
    )
    assert lost.status_code == 201, lost.text
    assert lost.json()["productOrder"]["id"].startswith("ord_")


def test_teams_routing_breaches_and_reports(
    http: httpx.Client, cw: CareWorld, backend: Backend
) -> None:
    admin = as_(cw, "mvnoAdmin")
    brand = ids.to_public("brand", cw.sw.cw.brand["m1"])
    created = http.post(
        f"{V1}/careTeams",
        json={"name": "深圳专线", "serves": [{"brandId": brand, "regionCode": "440300"}]},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    team = created.json()
    assert (team["main"], team["serves"][0]["regionName"]) == (False, "广东省深圳市")
    agent_id = ids.to_public("user", cw.actor("careAgent").user_id)
    staffed = http.post(f"{team['href']}/members", json={"userId": agent_id}, headers=admin)
    assert [m["username"] for m in staffed.json()["members"]] == ["careAgent"]
    rule = http.post(
        f"{V1}/careRouting",
        json={
            "teamId": team["id"],
            "brandId": brand,
            "regionCode": "440300",
            "ticketType": "rechargeNotReceived",
        },
        headers=admin,
    )
    assert rule.status_code == 201, rule.text
    msisdn = cw.line(backend.db)
    resolved = http.get(
        f"{V1}/careRouting/resolve",
        params={"msisdn": msisdn, "ticketType": "rechargeNotReceived"},
        headers=admin,
    ).json()
    assert (resolved["team"]["id"], resolved["ruleId"]) == (team["id"], rule.json()["id"])
    assert http.get(f"{V1}/careRouting", headers=admin).headers["x-total-count"] == "2"
    assert_problem(
        http.post(
            f"{V1}/careRouting",
            json={
                "teamId": team["id"],
                "brandId": brand,
                "regionCode": "440300",
                "ticketType": "rechargeNotReceived",
            },
            headers=admin,
        ),
        409,
        "route_exists",
    )
    start = clock.now()
    with clock.frozen(start):
        ticket = http.post(
            TICKETS, json=body(msisdn, "rechargeNotReceived"), headers=as_(cw, "outletClerk")
        ).json()
    assert next(p for p in ticket["relatedParty"] if p["role"] == "careTeam")["id"] == team["id"]
    with clock.frozen(start + timedelta(hours=5)):
        assert care.escalate_breaches(backend.db) == {"breached": 1}
    breaches = http.get(f"{V1}/slaBreaches", headers=admin)
    assert breaches.headers["x-total-count"] == "1"
    breach = breaches.json()[0]
    assert breach["troubleTicket"]["id"] == ticket["id"]
    assert breach["teamId"] == team["id"]
    assert breach["escalatedToTeamId"] == ids.to_public("care_team", cw.team["main"])
    assert http.get(breach["href"], headers=admin).json() == breach
    assert http.get(f"{V1}/slaBreaches", headers=as_(cw, "p2Agent")).headers["x-total-count"] == "0"
    shown = http.get(f"{TICKETS}/{ticket['id']}", headers=admin).json()
    assert (shown["escalated"], shown["slaBreached"]) == (True, True)
    month = local_date(start).strftime("%Y-%m")
    report = http.get(f"{V1}/careReports/teams", params={"month": month}, headers=admin).json()
    assert [(r["teamName"], r["tickets"], r["slaBreached"]) for r in report] == [("深圳专线", 1, 1)]
    brands = http.get(f"{V1}/careReports/brands", params={"month": month}, headers=admin).json()
    assert brands[0]["topProblems"] == [{"ticketType": "rechargeNotReceived", "tickets": 1}]
    assert_problem(
        http.get(f"{V1}/careReports/teams", params={"month": month}, headers=as_(cw, "p1Agent")),
        403,
        "role_required",
    )
    for bad in ("9999-12", "2026-13", "2026-1"):
        for report_of in ("teams", "brands"):
            assert_problem(
                http.get(f"{V1}/careReports/{report_of}", params={"month": bad}, headers=admin),
                400,
                "bad_month",
            )
    removed = http.delete(f"{team['href']}/members/{agent_id}", headers=admin)
    assert removed.status_code == 204
    assert http.delete(rule.json()["href"], headers=admin).status_code == 204


def test_the_public_lookup_says_what_to_do_next(
    http: httpx.Client, cw: CareWorld, backend: Backend
) -> None:
    msisdn = cw.line(backend.db)
    found = http.get(f"{V1}/numberLookup/{msisdn}").json()
    assert found["hotline"] == "4000"
    assert found["serviceChannels"] == []
    assert [o["name"] for o in found["rechargeOutlets"]] == [
        "深圳中山路手机卖场",
        "深圳人民路手机卖场",
    ]
    assert found["rechargeOutlets"][0]["address"] == "广东省深圳市 深圳中山路手机卖场"
    assert found["openTicket"]["href"].endswith(TICKETS)
    assert found["openTicket"]["verificationHref"].endswith(f"{V1}/careVerifications")
    unknown = http.get(f"{V1}/numberLookup/17099990000").json()
    assert (unknown["rechargeOutlets"], unknown["openTicket"]) == ([], None)
