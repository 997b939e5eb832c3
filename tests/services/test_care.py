"""After-sales care against real databases: opening and routing tickets, tenancy of the
care desk, the state machine, SLA breaches and escalation on a controlled clock, self-care
codes through the fake SMS gateway, actions from a ticket (exactly once per key), reports,
and the public lookup's "what next"."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from openmvne import clock
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.ledger import TransferCode
from openmvne.domain.subscribers import local_date
from openmvne.errors import DomainError
from openmvne.services import (
    care,
    care_actions,
    care_reports,
    care_teams,
    care_verify,
    money,
    number_lifecycle,
    number_lookup,
    number_supply,
    sims,
    subscriber_orders,
)
from openmvne.services.care import TicketRequest
from openmvne.services.care_actions import ActionInput
from openmvne.services.care_teams import AreaIn
from openmvne.services.sms_fake import FakeSmsGateway
from tests.care_world import CareWorld, build_care
from tests.subscribers_world import card_file, holder_actor, person


@pytest.fixture
def cw(db: Database) -> CareWorld:
    return build_care(db)


def count(db: Database, table: Any, **where: Any) -> int:
    with db.read() as conn:
        stmt = select(func.count()).select_from(table)
        for k, v in where.items():
            stmt = stmt.where(table.c[k] == v)
        return int(conn.execute(unscoped(stmt, "test")).scalar_one())


def raises(code: str, status: int | None = None) -> Any:
    class Check:
        def __enter__(self) -> None:
            return None

        def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
            assert isinstance(exc, DomainError), f"expected {code}, got {exc!r}"
            assert exc.code == code, f"expected {code}, got {exc.code}: {exc.message}"
            if status is not None:
                assert exc.status == status
            return True

    return Check()


def note_texts(ticket: dict[str, Any]) -> list[str]:
    return [e["text"] for e in ticket["events"] if e["kind"] == "note"]


# --- opening and routing ------------------------------------------------------------------


def test_a_ticket_is_routed_at_once_by_brand_and_region(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    ticket = cw.ticket(db, msisdn, "complaint")
    assert ticket["status"] == "acknowledged"
    assert ticket["team_id"] == cw.team["p1"]  # m1-brand in Shenzhen: Guangdong's partner
    assert ticket["channel"] == "outlet"
    assert ticket["priority"] == "medium"  # minor complaint
    assert ticket["sla_due_at"] == ticket["created_at"] + timedelta(hours=48)
    assert ticket["region_code"] == "440300"
    kinds = [e["kind"] for e in ticket["events"]]
    assert kinds == ["status", "routed"]


def test_the_most_specific_rule_wins_and_unrouted_tickets_fall_back(
    db: Database, cw: CareWorld
) -> None:
    admin = cw.actor("mvnoAdmin")
    brand = cw.sw.cw.brand["m1"]
    # Shenzhen's recharge problems go to the MVNO's own desk: narrower region and a type.
    care_teams.create_route(
        db,
        admin,
        team_id=cw.team["main"],
        brand_id=brand,
        region_code="440300",
        ticket_type=care.TicketType.RECHARGE_NOT_RECEIVED,
    )
    msisdn = cw.line(db)
    assert cw.ticket(db, msisdn, "rechargeNotReceived")["team_id"] == cw.team["main"]
    assert cw.ticket(db, msisdn, "faultyCard")["team_id"] == cw.team["p1"]
    # M2 has no rules and no team yet: its main team is made and takes the ticket.
    other = cw.m2_line(db)
    ticket = cw.ticket(db, other, "infoQuery")
    with db.read() as conn:
        main_of_m2 = care_teams.main_team(conn, cw.w.org["m2"])
    assert ticket["team_id"] == main_of_m2
    assert ticket["team_name"] == "青桐通信 care desk"
    # A Hangzhou block of M1: no rule for Zhejiang, so the route test says "fallback".
    number_supply.update_policy(db, cw.w.op, cw.w.org["m1"], {"utilisation_threshold_pct": 0})
    with db.read() as conn:
        seg = conn.execute(
            unscoped(select(t.number_segment.c.id).where(t.number_segment.c.prefix == "171"), "t")
        ).scalar_one()
    prefixes = number_supply.allocate_now(
        db, cw.w.op, mvno_id=cw.w.org["m1"], segment_id=seg, block_count=1, region_code="330100"
    )["granted_prefixes"]
    hangzhou = f"{prefixes[0]}0001"
    found = care_teams.route_test(db, admin, hangzhou, "complaint")
    assert (found["fallback"], found["team"]["id"]) == (True, cw.team["main"])
    found = care_teams.route_test(db, admin, msisdn, "complaint")
    assert (found["fallback"], found["rule_id"], found["team"]["id"]) == (
        False,
        cw.route["gd"],
        cw.team["p1"],
    )
    # A Zhejiang rule for P2's team now catches Hangzhou numbers.
    care_teams.create_route(
        db, admin, team_id=cw.team["p2"], brand_id=brand, region_code="330000", ticket_type=None
    )
    assert care_teams.route_test(db, admin, hangzhou, "complaint")["team"]["id"] == cw.team["p2"]


def test_a_team_named_as_the_main_team_would_be_leaves_room_for_it(
    db: Database, cw: CareWorld
) -> None:
    """An MVNO names a team of its own "<MVNO> care desk" before its first ticket: its main
    team, made on first use, takes the next free name (this was a 500 on every ticket)."""
    care_teams.create_team(
        db, cw.w.actor["mvno2Admin"], name="青桐通信 care desk", owner_id=None, areas=[]
    )
    ticket = cw.ticket(db, cw.m2_line(db), "infoQuery")
    assert ticket["team_name"] == "青桐通信 care desk (2)"


def test_routing_rules_and_teams_are_checked(db: Database, cw: CareWorld) -> None:
    admin = cw.actor("mvnoAdmin")
    brand = cw.sw.cw.brand["m1"]
    with raises("route_outside_team_area", 422):  # P2 serves Zhejiang, not Guangdong
        care_teams.create_route(
            db, admin, team_id=cw.team["p2"], brand_id=brand, region_code="440300", ticket_type=None
        )
    with raises("route_exists", 409):
        care_teams.create_route(
            db,
            admin,
            team_id=cw.team["main"],
            brand_id=brand,
            region_code="440000",
            ticket_type=None,
        )
    with raises("main_team_exists", 409):
        care_teams.create_team(db, admin, name="又一个", owner_id=None, areas=[], main=True)
    with raises("not_an_mvno_partner", 422):  # Q is M2's channel, not M1's
        care_teams.create_team(
            db, admin, name="粤通", owner_id=cw.w.org["q"], areas=[AreaIn(brand, "440000")]
        )
    with raises("role_required", 403):
        care_teams.create_team(db, cw.actor("careAgent"), name="x", owner_id=None, areas=[])
    with raises("not_a_care_agent", 422):  # P1's admin is not an agent
        care_teams.add_member(db, admin, cw.team["p1"], cw.actor("partnerAdmin").user_id)
    with raises("not_found", 404):  # an agent of another organisation
        care_teams.add_member(db, admin, cw.team["p1"], cw.actor("p2Agent").user_id)
    with raises("not_an_mvno", 400):  # the platform names an outlet as the MVNO
        care_teams.create_team(
            db, cw.w.op, name="网点团队", owner_id=None, areas=[], mvno_id=cw.w.org["o1"]
        )


def test_bad_tickets_change_nothing(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    before = count(db, t.trouble_ticket)
    never_sold = cw.sw.nw.number(cw.sw.nw.m1_blocks[1], 4321)
    with raises("unknown_number", 404):
        cw.ticket(db, never_sold)
    with raises("unknown_number", 404):  # a number no MVNO has
        cw.ticket(db, "17099990000")
    with raises("bad_ticketType", 400):
        cw.ticket(db, msisdn, "refund please")
    with raises("bad_severity", 400):
        cw.ticket(db, msisdn, severity="urgent")
    with raises("required", 400):
        cw.ticket(db, msisdn, description="  ")
    with raises("too_long", 400):  # not "required": the person typed too much, not nothing
        cw.ticket(db, msisdn, description="话" * 2001)
    with raises("unknown_number", 404):  # not the subscriber's own line
        cw.ticket(db, msisdn, who="subscriber")
    with raises("care_desk_only", 403):  # a requester does not pick the priority
        care.open_ticket(
            db,
            cw.actor("outletClerk"),
            TicketRequest(msisdn, "complaint", "minor", "x", priority="critical"),
        )
    assert count(db, t.trouble_ticket) == before


def test_id_numbers_never_stay_in_ticket_text(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    number = person(cw.holder[msisdn]).number
    ticket = cw.ticket(db, msisdn, description=f"客户证件 {number} 要补卡")
    assert number not in ticket["description"]
    assert f"{number[:4]}**********{number[-4:]}" in ticket["description"]
    updated = care.update_ticket(
        db, cw.actor("p1Agent"), ticket["id"], notes=[f"核对 {number.lower()} 无误"]
    )
    assert all(number not in n and number.lower() not in n for n in note_texts(updated))
    # Touching letters, as people type them: still masked.
    for text in (f"ID{number}", f"证件号{number}X", f"sfz:{number.lower()}abc"):
        masked = cw.ticket(db, msisdn, description=text)["description"]
        assert number not in masked.upper(), masked


# --- tenancy of the desk -----------------------------------------------------------------------


def test_a_partner_agent_sees_and_works_only_its_teams_brands_and_regions(
    db: Database, cw: CareWorld
) -> None:
    shenzhen = cw.ticket(db, cw.line(db))
    other_brand = cw.ticket(db, cw.m2_line(db), actor=cw.actor("platformAdmin"))
    p1, p2 = cw.actor("p1Agent"), cw.actor("p2Agent")
    assert care.get_ticket(db, p1, shenzhen["id"])["id"] == shenzhen["id"]
    # P1 serves m1-brand in Guangdong only: M2's brand is not its business.
    for who, ticket in ((p1, other_brand), (p2, shenzhen)):
        with raises("not_found", 404):
            care.get_ticket(db, who, ticket["id"])
        with raises("not_found", 404):
            care.update_ticket(db, who, ticket["id"], status="inProgress")
        with raises("not_found", 404):
            care_actions.act(
                db, who, ticket["id"], "reportLost", ActionInput(), idempotency_key="k-1"
            )
        rows, _ = care.list_tickets(db, who, {}, 0, 100)
        assert ticket["id"] not in [r["id"] for r in rows]
    assert [r["id"] for r in care.list_tickets(db, p2, {}, 0, 100)[0]] == []
    # The MVNO sees both of its tickets; its agent outside P1's team may not work them.
    assert care.get_ticket(db, cw.actor("careAgent"), shenzhen["id"])
    with raises("not_your_team", 403):
        care.update_ticket(db, cw.actor("careAgent"), shenzhen["id"], status="inProgress")
    with raises("not_your_team", 403):  # P1's agent who is in no team
        care.update_ticket(db, cw.actor("p1Agent2"), shenzhen["id"], status="inProgress")
    # M2's administrator sees nothing of M1's.
    with raises("not_found", 404):
        care.get_ticket(db, cw.actor("mvno2Admin"), shenzhen["id"])
    # When P1's team stops serving the brand, its tickets leave its view too.
    care_teams.delete_route(db, cw.actor("mvnoAdmin"), cw.route["gd"])
    care_teams.update_team(
        db,
        cw.actor("mvnoAdmin"),
        cw.team["p1"],
        name=None,
        areas=[AreaIn(None, "450000")],  # every M1 brand, but in Guangxi
    )
    with raises("not_found", 404):
        care.get_ticket(db, p1, shenzhen["id"])


def test_outlets_and_subscribers_see_their_own_tickets(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    by_outlet = cw.ticket(db, msisdn)
    by_agent = cw.ticket(db, msisdn, actor=cw.actor("careAgent"))
    assert by_agent["channel"] == "agent"
    outlet = cw.actor("outletClerk")
    assert [r["id"] for r in care.list_tickets(db, outlet, {}, 0, 10)[0]] == [by_outlet["id"]]
    with raises("not_found", 404):
        care.get_ticket(db, outlet, by_agent["id"])
    # The holder, with an account of their own, sees both: they are about their line.
    holder = holder_actor(db, cw.w.op, msisdn)
    assert {r["id"] for r in care.list_tickets(db, holder, {}, 0, 10)[0]} == {
        by_outlet["id"],
        by_agent["id"],
    }
    opened = care.open_ticket(db, holder, TicketRequest(msisdn, "infoQuery", "minor", "余额多少"))
    assert opened["channel"] == "selfCare"


# --- the state machine --------------------------------------------------------------------------


def test_status_moves_notes_and_history(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    ticket = cw.ticket(db, msisdn)
    agent, outlet = cw.actor("p1Agent"), cw.actor("outletClerk")
    with raises("illegal_status_change", 409):
        care.update_ticket(db, agent, ticket["id"], status="resolved")
    assert care.get_ticket(db, agent, ticket["id"])["status"] == "acknowledged"
    with raises("care_desk_only", 403):
        care.update_ticket(db, outlet, ticket["id"], status="inProgress")
    with raises("reason_required", 400):
        care.update_ticket(db, agent, ticket["id"], status="rejected")
    worked = care.update_ticket(db, agent, ticket["id"], status="inProgress", notes=["已联系客户"])
    assert worked["first_response_at"] is not None
    care.update_ticket(db, agent, ticket["id"], status="pending", reason="等客户重启手机")
    # The customer answers through the outlet: the ticket is worked again.
    answered = care.update_ticket(db, outlet, ticket["id"], notes=["重启后仍无信号"])
    assert answered["status"] == "inProgress"
    care.update_ticket(db, agent, ticket["id"], status="resolved", reason="基站已修复")
    reopened = care.update_ticket(db, outlet, ticket["id"], status="inProgress")
    assert reopened["resolved_at"] is None
    care.update_ticket(db, agent, ticket["id"], status="resolved", reason="换卡后正常")
    closed = care.update_ticket(db, outlet, ticket["id"], status="closed")
    assert closed["closed_at"] is not None
    statuses = [e["status"] for e in closed["events"] if e["kind"] == "status"]
    assert statuses == [
        "acknowledged",
        "inProgress",
        "pending",
        "inProgress",
        "resolved",
        "inProgress",
        "resolved",
        "closed",
    ]
    assert note_texts(closed) == ["已联系客户", "重启后仍无信号"]
    with raises("illegal_status_change", 409):
        care.update_ticket(db, agent, ticket["id"], status="inProgress")
    with raises("ticket_closed", 409):
        care.update_ticket(db, outlet, ticket["id"], notes=["还在吗"])
    with raises("care_desk_only", 403):
        care.update_ticket(db, outlet, cw.ticket(db, msisdn)["id"], priority="critical")


# --- SLA clocks, breaches and escalation ---------------------------------------------------


def test_a_breached_ticket_escalates_once_to_the_mvnos_team(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    start = clock.now()
    with clock.frozen(start):
        ticket = cw.ticket(db, msisdn, "rechargeNotReceived")
        calm = cw.ticket(db, msisdn, "infoQuery")
    assert ticket["priority"] == "high"  # missing money is high whatever the severity
    assert ticket["sla_due_at"] == start + timedelta(hours=4)
    with clock.frozen(start + timedelta(hours=3, minutes=59)):
        assert care.escalate_breaches(db) == {"breached": 0}
    with clock.frozen(start + timedelta(hours=4, minutes=1)):
        assert care.escalate_breaches(db) == {"breached": 1}
        assert care.escalate_breaches(db) == {"breached": 0}  # once
    mvno = cw.actor("mvnoAdmin")
    escalated = care.get_ticket(db, mvno, ticket["id"])
    assert (escalated["team_id"], escalated["first_team_id"]) == (cw.team["main"], cw.team["p1"])
    assert escalated["breached"] is True
    assert [e["kind"] for e in escalated["events"]][-1] == "escalated"
    assert care.get_ticket(db, mvno, calm["id"])["breached"] is False
    breaches, total = care.list_breaches(db, mvno, {}, 0, 10)
    assert total == 1
    assert (breaches[0]["ticket_id"], breaches[0]["team_id"]) == (ticket["id"], cw.team["p1"])
    assert breaches[0]["escalated_to_team_id"] == cw.team["main"]
    # P1 sees the breach of its team, no longer the ticket; P2 sees neither.
    assert care.list_breaches(db, cw.actor("partnerAdmin"), {}, 0, 10)[1] == 1
    with raises("not_found", 404):
        care.get_ticket(db, cw.actor("p1Agent"), ticket["id"])
    assert care.list_breaches(db, cw.actor("p2Agent"), {}, 0, 10)[1] == 0
    # The MVNO's agent in the main team now works it.
    care.update_ticket(db, cw.actor("careAgent"), ticket["id"], status="inProgress")


def test_the_sla_clock_stops_while_waiting_for_the_customer(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    start = clock.now()
    agent, outlet = cw.actor("p1Agent"), cw.actor("outletClerk")
    with clock.frozen(start):
        ticket = cw.ticket(db, msisdn, "infoQuery")  # medium: 24 hours
    with clock.frozen(start + timedelta(hours=1)):
        care.update_ticket(db, agent, ticket["id"], status="inProgress")
        care.update_ticket(db, agent, ticket["id"], status="pending", reason="等客户回复")
    with clock.frozen(start + timedelta(hours=30)):
        assert care.escalate_breaches(db) == {"breached": 0}  # paused for 29 hours so far
        resumed = care.update_ticket(db, outlet, ticket["id"], notes=["客户回复了"])
    assert resumed["status"] == "inProgress"
    assert resumed["sla_due_at"] == start + timedelta(hours=24 + 29)
    with clock.frozen(start + timedelta(hours=52)):
        assert care.escalate_breaches(db) == {"breached": 0}
    with clock.frozen(start + timedelta(hours=54)):
        assert care.escalate_breaches(db) == {"breached": 1}


def test_a_higher_priority_shortens_the_deadline(db: Database, cw: CareWorld) -> None:
    ticket = cw.ticket(db, cw.line(db), "complaint")
    raised = care.update_ticket(db, cw.actor("p1Agent"), ticket["id"], priority="critical")
    assert raised["sla_due_at"] == ticket["created_at"] + timedelta(hours=8)
    assert raised["status"] == "acknowledged"
    assert raised["first_response_at"] is not None


# --- self-care by SMS code ------------------------------------------------------------------


def test_self_care_ticket_with_an_sms_code(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    sms = FakeSmsGateway(per_number_interval_s=0)
    start = clock.now()
    request = TicketRequest(msisdn, "faultyCard", "major", "手机提示无SIM卡")
    with clock.frozen(start):
        with raises("verification_required", 422):  # no code asked for yet
            care.open_self_care(db, request, "123456")
        sent = care_verify.request_code(db, msisdn, sms=sms)
        code = sms.last_code(msisdn)
        assert code is not None
        assert "m1-brand" in sms.messages(msisdn)[0].text
        wrong = "000000" if code != "000000" else "111111"
        with raises("verification_failed", 422):
            care.open_self_care(db, request, wrong)
        ticket = care.open_self_care(db, request, code)
    assert sent["expires_at"] == start + timedelta(minutes=5)
    assert ticket["channel"] == "selfCare"
    assert ticket["priority"] == "high"
    assert ticket["opened_by"] == "selfCare"
    with raises("verification_required", 422):  # a code is used once
        care.open_self_care(db, request, code)
    assert count(db, t.trouble_ticket) == 1
    # The line's holder sees it when they log in.
    assert care.get_ticket(db, holder_actor(db, cw.w.op, msisdn), ticket["id"])


def test_codes_are_rate_limited_expire_and_lock(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    sms = FakeSmsGateway(per_number_interval_s=0)
    request = TicketRequest(msisdn, "infoQuery", "minor", "查话费")
    start = clock.now()
    with clock.frozen(start):
        care_verify.request_code(db, msisdn, sms=sms)
        with raises("verification_rate_limited", 429):
            care_verify.request_code(db, msisdn, sms=sms)
    with clock.frozen(start + timedelta(minutes=6)):
        code = sms.last_code(msisdn)
        assert code is not None
        with raises("verification_expired", 422):
            care.open_self_care(db, request, code)
        care_verify.request_code(db, msisdn, sms=sms)
        code = sms.last_code(msisdn)
        wrong = "000000" if code != "000000" else "111111"
        for left in (4, 3, 2, 1):
            with raises("verification_failed", 422):
                care.open_self_care(db, request, wrong)
            with db.read() as conn:
                attempts = (
                    conn.execute(
                        select(t.care_verification.c.attempts).order_by(
                            t.care_verification.c.created_at.desc()
                        )
                    )
                    .scalars()
                    .first()
                )
            assert attempts == 5 - left
        with raises("verification_failed", 422):
            care.open_self_care(db, request, wrong)  # the fifth: now locked
        with raises("verification_locked", 429):
            care.open_self_care(db, request, code or "")  # even the right code
    # Five codes an hour at most.
    for minute in (8, 10, 12):
        with clock.frozen(start + timedelta(minutes=minute)):
            care_verify.request_code(db, msisdn, sms=sms)
    with clock.frozen(start + timedelta(minutes=14)), raises("verification_rate_limited", 429):
        care_verify.request_code(db, msisdn, sms=sms)
    with clock.frozen(start + timedelta(minutes=61)):
        care_verify.request_code(db, msisdn, sms=sms)
    assert count(db, t.trouble_ticket) == 0


def test_a_refused_message_does_not_count(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    sms = FakeSmsGateway()
    sms.available = False
    with raises("sms_unavailable", 503):
        care_verify.request_code(db, msisdn, sms=sms)
    sms.available = True
    care_verify.request_code(db, msisdn, sms=sms)  # not rate-limited by the failed one
    with raises("sms_flow_controlled", 503):  # the provider's own per-number limit
        sms.send(msisdn, "again")
    with raises("unknown_number", 404):  # codes go to connected brands' lines only
        care_verify.request_code(db, cw.sw.nw.number(cw.sw.nw.m1_blocks[1], 7777), sms=sms)


# --- actions from a ticket -----------------------------------------------------------------


def _ledger_credits(db: Database) -> int:
    return count(db, t.ledger_transfer, code=TransferCode.CARE_CREDIT.value)


def test_a_tickets_actions_never_reach_the_next_holder_of_its_number(
    db: Database, cw: CareWorld
) -> None:
    """A ticket acts on the line it was opened for. After that line is cancelled and its
    number sold to someone else, its actions (here reportLost) are refused, line_not_live,
    and the new holder's line is untouched: they acted on whoever held the number now."""
    admin = cw.actor("mvnoAdmin")
    msisdn = cw.line(db)
    ticket = cw.ticket(db, msisdn, "complaint", who="mvnoAdmin")
    number_supply.update_policy(db, admin, None, {"quarantine_days": 0})
    subscriber_orders.run_task(
        db, admin, msisdn, "cancel", holder=None, reason=None, idempotency_key="cancel"
    )
    cw.sw.settle(db)
    number_lifecycle.sweep(db)  # the quarantine (of no days) ends: the number is for sale
    cw.sw.sale(db, seq=999, number=msisdn, key="resale")
    cw.sw.settle(db)
    for action, given in (
        ("reportLost", ActionInput(reason="丢失")),
        ("addService", ActionInput(offering_id=cw.sw.cw.offer["pack"])),
    ):
        with pytest.raises(DomainError) as refused:
            care_actions.act(db, admin, ticket["id"], action, given, idempotency_key=action)
        assert refused.value.code == "line_not_live"
    with db.read() as conn:
        states = conn.execute(
            unscoped(
                select(t.subscription.c.state)
                .where(t.subscription.c.msisdn == msisdn)
                .order_by(t.subscription.c.created_at),
                "test",
            )
        ).scalars().all()  # fmt: skip
    assert states == ["cancelled", "active"]


def test_a_credit_is_posted_once_per_key(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    ticket = cw.ticket(db, msisdn, "rechargeNotReceived", actor=cw.actor("careAgent"))
    agent = cw.actor("careAgent")
    # It was routed to P1's team: let it escalate to the MVNO's own desk (careAgent's).
    ticket = _to_main_team(db, cw, ticket)
    before = subscriber_orders.summary(db, agent, msisdn)["balance"].available
    given = ActionInput(amount_fen=5_000, reason="充值未到账，补款")
    first = care_actions.act(db, agent, ticket["id"], "credit", given, idempotency_key="c-1")
    again = care_actions.act(db, agent, ticket["id"], "credit", given, idempotency_key="c-1")
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert first["transferId"] == again["transferId"]
    assert _ledger_credits(db) == 1
    after = subscriber_orders.summary(db, agent, msisdn)["balance"].available
    assert after == before + 5_000
    with raises("idempotency_key_reused", 422):
        care_actions.act(
            db,
            agent,
            ticket["id"],
            "credit",
            ActionInput(amount_fen=1, reason="x"),
            idempotency_key="c-1",
        )
    # An agent's credits on one ticket are capped; the MVNO's administrator is not.
    care_actions.act(
        db,
        agent,
        ticket["id"],
        "credit",
        ActionInput(amount_fen=10_000, reason="补偿"),
        idempotency_key="c-2",
    )
    with raises("credit_limit_exceeded", 422):
        care_actions.act(
            db,
            agent,
            ticket["id"],
            "credit",
            ActionInput(amount_fen=10_000, reason="再补偿"),
            idempotency_key="c-3",
        )
    care_actions.act(
        db,
        cw.actor("mvnoAdmin"),
        ticket["id"],
        "credit",
        ActionInput(amount_fen=10_000, reason="主管批准"),
        idempotency_key="c-3",
    )
    assert _ledger_credits(db) == 3
    linked = care.get_ticket(db, agent, ticket["id"])
    actions = [e for e in linked["events"] if e["kind"] == "action"]
    assert [a["data"]["amountFen"] for a in actions] == [5_000, 10_000, 10_000]
    assert linked["status"] == "inProgress"
    with db.read() as conn:
        from openmvne.services import ledger

        assert not ledger.audit_ledger(conn)


def _to_main_team(db: Database, cw: CareWorld, ticket: dict[str, Any]) -> dict[str, Any]:
    """Escalate the ticket by letting its deadline pass."""
    with clock.frozen(ticket["sla_due_at"] + timedelta(seconds=1)):
        care.escalate_breaches(db)
    return care.get_ticket(db, cw.actor("careAgent"), ticket["id"])


def test_a_credit_submitted_twice_at_once_posts_once(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    ticket = _to_main_team(db, cw, cw.ticket(db, msisdn, "rechargeNotReceived"))
    agent = cw.actor("careAgent")
    results: list[Any] = []

    def submit() -> None:
        try:
            results.append(
                care_actions.act(
                    db,
                    agent,
                    ticket["id"],
                    "credit",
                    ActionInput(amount_fen=3_000, reason="补款"),
                    idempotency_key="same",
                )
            )
        except DomainError as exc:  # the loser may be told it is in flight
            results.append(exc.code)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _ledger_credits(db) == 1
    done = [r for r in results if isinstance(r, dict)]
    assert done
    assert {r["transferId"] for r in done} == {done[0]["transferId"]}
    assert all(r == "request_in_flight" for r in results if not isinstance(r, dict))


def test_line_actions_from_a_ticket_happen_once_and_are_linked(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    ticket = cw.ticket(db, msisdn, "serviceChange")
    agent = cw.actor("p1Agent")  # a partner's agent: line operations, not money
    add = ActionInput(offering_id=cw.sw.cw.offer["pack"])
    first = care_actions.act(db, agent, ticket["id"], "addService", add, idempotency_key="a-1")
    again = care_actions.act(db, agent, ticket["id"], "addService", add, idempotency_key="a-1")
    assert first["orderId"] == again["orderId"]
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert count(db, t.product_order, kind="addService") == 1
    assert count(db, t.subscription_service, state="active") == 1
    with raises("mvno_desk_only", 403):
        care_actions.act(
            db,
            agent,
            ticket["id"],
            "credit",
            ActionInput(amount_fen=100, reason="x"),
            idempotency_key="a-2",
        )
    with raises("idempotency_key_required", 400):
        care_actions.act(db, agent, ticket["id"], "reportLost", ActionInput(), idempotency_key=None)
    with raises("unknown_action", 404):
        care_actions.act(db, agent, ticket["id"], "cancelLine", ActionInput(), idempotency_key="x")
    lost = care_actions.act(
        db, agent, ticket["id"], "reportLost", ActionInput(), idempotency_key="l-1"
    )
    care_actions.act(db, agent, ticket["id"], "reportLost", ActionInput(), idempotency_key="l-1")
    assert count(db, t.product_order, kind="reportLost") == 1
    with db.read() as conn:
        state = conn.execute(
            unscoped(select(t.subscription.c.state).where(t.subscription.c.msisdn == msisdn), "t")
        ).scalar_one()
    assert state == "lost"
    linked = care.get_ticket(db, agent, ticket["id"])
    orders = [e["data"]["orderId"] for e in linked["events"] if e["kind"] == "action"]
    assert orders == [first["orderId"], lost["orderId"]]
    assert linked["status"] == "inProgress"


def test_sim_replacement_from_a_ticket(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    ticket = _to_main_team(db, cw, cw.ticket(db, msisdn, "simReplacement"))
    batch = sims.import_batch(
        db,
        cw.w.op,
        mvno_id=cw.w.org["m1"],
        host_id=cw.w.org["host"],
        name="care-stock",
        lines=sims.read_lines(card_file(range(3000, 3002))),
    )
    assert batch["card_count"] == 2
    from openmvne.domain.sims import make_iccid

    new_card = make_iccid("898601", 3000)
    agent = cw.actor("careAgent")
    with raises("identity_mismatch", 422):
        care_actions.act(
            db,
            agent,
            ticket["id"],
            "replaceSim",
            ActionInput(iccid=new_card, holder=person(999)),
            idempotency_key="r-0",
        )
    given = ActionInput(iccid=new_card, holder=person(cw.holder[msisdn]))
    first = care_actions.act(db, agent, ticket["id"], "replaceSim", given, idempotency_key="r-1")
    again = care_actions.act(db, agent, ticket["id"], "replaceSim", given, idempotency_key="r-1")
    assert first["orderId"] == again["orderId"]
    assert count(db, t.product_order, kind="replaceSim") == 1
    with db.read() as conn:
        line = (
            conn.execute(
                unscoped(select(t.subscription).where(t.subscription.c.msisdn == msisdn), "t")
            )
            .mappings()
            .one()
        )
    assert line["iccid"] == new_card
    # Partners' agents do not hand out the MVNO's cards.
    p1_ticket = cw.ticket(db, msisdn, "simReplacement")
    with raises("mvno_desk_only", 403):
        care_actions.act(
            db, cw.actor("p1Agent"), p1_ticket["id"], "replaceSim", given, idempotency_key="r-2"
        )


def test_trace_a_recharge_from_a_ticket(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    money.recharge(
        db,
        cw.actor("outletClerk"),
        msisdn=msisdn,
        amount_fen=3_000,
        channel_order_number="O1-0001",
        idempotency_key="rc-1",
    )
    ticket = cw.ticket(db, msisdn, "rechargeNotReceived")
    traced = care_actions.act(
        db, cw.actor("p1Agent"), ticket["id"], "traceRecharge", ActionInput(), idempotency_key=None
    )
    assert [(r["amountFen"], r["outlet"], r["status"]) for r in traced["recharges"]] == [
        (3_000, "深圳人民路手机卖场", "completed")
    ]
    linked = care.get_ticket(db, cw.actor("p1Agent"), ticket["id"])
    assert [e["data"].get("found") for e in linked["events"] if e["kind"] == "action"] == [1]
    resolved = care.update_ticket(
        db, cw.actor("p1Agent"), ticket["id"], status="resolved", reason="已到账"
    )
    with raises("ticket_not_open", 409):
        care_actions.act(
            db,
            cw.actor("p1Agent"),
            resolved["id"],
            "traceRecharge",
            ActionInput(),
            idempotency_key=None,
        )


# --- reports -----------------------------------------------------------------------------------


def test_monthly_reports_per_team_and_brand(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    start = clock.now().replace(microsecond=0)
    agent = cw.actor("p1Agent")
    with clock.frozen(start):
        fast = cw.ticket(db, msisdn, "infoQuery")
        slow = cw.ticket(db, msisdn, "rechargeNotReceived")
        cw.ticket(db, msisdn, "infoQuery")
    with clock.frozen(start + timedelta(minutes=10)):
        care.update_ticket(db, agent, fast["id"], status="inProgress")
    with clock.frozen(start + timedelta(hours=1)):
        care.update_ticket(db, agent, fast["id"], status="resolved", reason="已告知")
    with clock.frozen(start + timedelta(hours=5)):
        care.escalate_breaches(db)
    month = local_date(start).strftime("%Y-%m")
    teams = care_reports.by_team(db, cw.actor("mvnoAdmin"), month)
    assert [r["team_id"] for r in teams] == [cw.team["p1"]]
    p1 = teams[0]
    assert p1["byType"] == {"infoQuery": 2, "rechargeNotReceived": 1}
    assert p1["medianFirstResponseS"] == 600
    assert p1["medianResolutionS"] == 3600
    assert (p1["slaMet"], p1["slaBreached"], p1["slaCompliancePct"]) == (1, 1, 50.0)
    brands = care_reports.by_brand(db, cw.actor("mvnoAdmin"), month)
    assert brands[0]["brand_name"] == "m1-brand"
    assert brands[0]["top_problems"] == [("infoQuery", 2), ("rechargeNotReceived", 1)]
    assert care.get_ticket(db, cw.actor("mvnoAdmin"), slow["id"])["breached"] is True
    with raises("role_required", 403):
        care_reports.by_team(db, cw.actor("partnerAdmin"), month)
    with raises("bad_month", 400):
        care_reports.by_team(db, cw.actor("mvnoAdmin"), "2016-13")


# --- the public lookup: what to do next -----------------------------------------------------------


def test_lookup_tells_where_to_get_care_and_recharge(db: Database, cw: CareWorld) -> None:
    msisdn = cw.line(db)
    found = number_lookup.lookup(db, msisdn)
    # O1 (M1's) and R (M2's) are Shenzhen outlets: any outlet recharges any brand.
    assert [o["name"] for o in found["outlets"]] == ["深圳中山路手机卖场", "深圳人民路手机卖场"]
    assert all(o["region_code"].startswith("4403") for o in found["outlets"])
    assert found["hotline"] == "4000"
    nothing = number_lookup.lookup(db, "17099990000")
    assert nothing["outlets"] == []
