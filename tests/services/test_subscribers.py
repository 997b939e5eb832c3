"""Selling lines and running their lifecycle, against real databases and the simulated
host network."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from openmvne import clock, ids
from openmvne.config import Settings
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.channels import ChannelLevel
from openmvne.domain.ledger import AccountKind
from openmvne.domain.sims import make_iccid
from openmvne.domain.subscribers import BUSINESS_TZ, first_of_next_month, local_date
from openmvne.errors import DomainError
from openmvne.network.provisioning import Command
from openmvne.services import (
    ledger,
    lifecycle,
    money,
    number_lifecycle,
    sims,
    subscriber_orders,
    subscriber_sale,
)
from openmvne.services.subscriber_sale import SaleRequest, checked_identity, fingerprint, sell
from tests.batches import cut_in
from tests.subscribers_world import (
    KI,
    SubscribersWorld,
    Timeline,
    build_subscribers,
    china_mobile_cards_at_o1,
    person,
    resident_id,
)
from tests.world import grant


@pytest.fixture
def sw(db: Database) -> SubscribersWorld:
    return build_subscribers(db)


def one(db: Database, table: Any, **where: Any) -> dict[str, Any]:
    with db.read() as conn:
        stmt = select(table).where(*(table.c[k] == v for k, v in where.items()))
        return dict(conn.execute(unscoped(stmt, "test")).mappings().one())


def line_of(db: Database, msisdn: str) -> dict[str, Any]:
    with db.read() as conn:
        stmt = (
            select(t.subscription)
            .where(t.subscription.c.msisdn == msisdn)
            .order_by(t.subscription.c.id.desc())
        )
        return dict(conn.execute(unscoped(stmt, "test")).mappings().first() or {})


def order(db: Database, result: dict[str, str]) -> dict[str, Any]:
    return one(db, t.product_order, id=ids.from_public("product_order", result["orderId"]))


def float_of(db: Database, sw: SubscribersWorld, outlet: str = "o1") -> int:
    return int(money.float_of(db, sw.w.op, sw.w.org[outlet])["availableFen"])


def test_sale_completes_when_the_network_opens_the_line(db: Database, sw: SubscribersWorld) -> None:
    before = float_of(db, sw)
    msisdn, result = sw.sale(db, prepayment_fen=10_000)
    placed = order(db, result)
    assert placed["state"] == "inProgress"
    assert line_of(db, msisdn)["state"] == "pendingActivation"
    assert one(db, t.number, msisdn=msisdn)["state"] == "assigned"
    sw.settle(db)
    assert order(db, result)["state"] == "completed"
    line = line_of(db, msisdn)
    assert line["state"] == "active"
    assert line["network_level"] == "open"
    assert line["network_in_sync"] is True
    assert one(db, t.number, msisdn=msisdn)["state"] == "inUse"
    assert one(db, t.sim_card, iccid=line["iccid"])["state"] == "active"
    assert sw.network.line(msisdn)["status"] == "open"  # type: ignore[index]
    # The customer paid 100 yuan: 59 for the first month, the rest is the balance.
    assert float_of(db, sw) == before - 10_000
    view = subscriber_orders.summary(db, sw.w.actor["mvnoAdmin"], msisdn)
    assert view["balance"].available == 10_000 - 5_900
    assert view["holder"]["maskedId"].startswith("4403")
    assert "*" in view["holder"]["maskedId"]
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)


# --- bad input leaves the number and the card exactly as they were ---------------------------


def snapshot(db: Database, sw: SubscribersWorld, msisdn: str, iccid: str) -> dict[str, Any]:
    """Everything a refused sale must leave alone: the number's row (None: in stock), the
    card's row, the outlet's float, the line and order counts."""
    with db.read() as conn:
        number = conn.execute(
            unscoped(select(t.number).where(t.number.c.msisdn == msisdn), "test")
        ).mappings()
        card = conn.execute(
            unscoped(select(t.sim_card).where(t.sim_card.c.iccid == iccid), "test")
        ).mappings()
        counts = {
            table.name: conn.execute(
                unscoped(select(func.count()).select_from(table), "test")
            ).scalar_one()
            for table in (
                t.subscription,
                t.product_order,
                t.ledger_transfer,
                t.provisioning_command,
            )
        }
        return {
            "number": dict(number.first() or {}),
            "card": dict(card.one()),
            "o1": float_of(db, sw, "o1"),
            "r": float_of(db, sw, "r"),
            **counts,
        }


def refused_sale(
    db: Database,
    sw: SubscribersWorld,
    code: str,
    *,
    reserve: bool = True,
    msisdn: str | None = None,
    **changes: Any,
) -> None:
    """Reserve a fresh number at O1 (unless told not to), change one thing in an otherwise
    valid sale, and check it is refused with `code` and leaves everything as it was."""
    clerk = sw.w.actor["outletClerk"]
    number = msisdn or sw.free_number()
    reservation = number_lifecycle.reserve(db, clerk, [number])["id"] if reserve else None
    request = SaleRequest(
        msisdn=number,
        iccid=sw.o1_cards[0],
        offering_id=sw.cw.offer["plan"],
        identity=person(1),
        prepayment_fen=10_000,
        reservation_id=reservation,
    )
    request = replace(request, **changes)
    before = snapshot(db, sw, number, request.iccid)
    with pytest.raises(DomainError) as refused:
        sell(db, clerk, request, f"refused-{number}-{code}")
    assert refused.value.code == code, refused.value
    assert snapshot(db, sw, number, request.iccid) == before


def test_bad_id_numbers_are_refused_and_change_nothing(db: Database, sw: SubscribersWorld) -> None:
    refused_sale(db, sw, "id_first_generation", identity=person(1, number="440305800101001"))
    feb_30 = resident_id(1, birth="19800230")
    refused_sale(db, sw, "id_birth_date", identity=person(1, number=feb_30))
    refused_sale(db, sw, "id_checksum", identity=person(1, number=resident_id(1)[:-1] + "0"))
    refused_sale(db, sw, "id_expired", identity=person(1, expires_on=date(2001, 1, 1)))


def test_manual_evidence_only_in_test_mode(
    db: Database, sw: SubscribersWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    typed_in = person(1, evidence_source="manualForTest")
    monkeypatch.setattr(subscriber_sale, "get_settings", lambda: Settings(test_mode=False))
    refused_sale(db, sw, "manual_entry_forbidden", identity=typed_in)
    refused_sale(db, sw, "evidence_source_unknown", identity=person(1, evidence_source="photo"))
    monkeypatch.setattr(subscriber_sale, "get_settings", lambda: Settings(test_mode=True))
    sw.sale(db, holder=typed_in)  # the control: the same request passes in test mode


def test_a_sixth_card_for_one_id_is_refused(db: Database, sw: SubscribersWorld) -> None:
    for _ in range(5):
        sw.sale(db, seq=50)
    refused_sale(db, sw, "id_card_limit", identity=person(50))
    sw.settle(db)  # opened lines count the same as pending ones
    refused_sale(db, sw, "id_card_limit", identity=person(50))
    # A cancelled line frees its place.
    msisdn = line_numbers(db, person_seq=50)[0]
    subscriber_orders.run_task(
        db,
        sw.w.actor["outletClerk"],
        msisdn,
        "cancel",
        holder=person(50),
        reason="moving abroad",
        idempotency_key=f"cancel-{msisdn}",
    )
    sw.sale(db, seq=50)


def line_numbers(db: Database, *, person_seq: int) -> list[str]:
    checked = checked_identity(person(person_seq), local_date(clock.now()))
    with db.read() as conn:
        stmt = select(t.subscription.c.msisdn).where(
            t.subscription.c.id_fingerprint == fingerprint(checked)
        )
        return list(conn.execute(unscoped(stmt, "test")).scalars())


def test_numbers_not_held_by_this_sale_are_refused(db: Database, sw: SubscribersWorld) -> None:
    clerk, partner = sw.w.actor["outletClerk"], sw.w.actor["partnerAdmin"]
    mine = number_lifecycle.reserve(db, clerk, [sw.free_number()])["id"]
    # Reserved by someone else (P1), named with O1's reservation of another number.
    theirs = sw.free_number()
    number_lifecycle.reserve(db, partner, [theirs])
    refused_sale(
        db, sw, "reservation_not_holding", reserve=False, msisdn=theirs, reservation_id=mine
    )
    # Reserved by someone else, named with their reservation.
    other = sw.free_number()
    held = number_lifecycle.reserve(db, partner, [other])["id"]
    refused_sale(
        db, sw, "reservation_not_holding", reserve=False, msisdn=other, reservation_id=held
    )
    # Not reserved at all: with another number's reservation, and with none.
    refused_sale(db, sw, "reservation_not_holding", reserve=False, reservation_id=mine)
    refused_sale(db, sw, "required", reserve=False)


def test_cards_offers_and_money_that_do_not_fit_are_refused(
    db: Database, sw: SubscribersWorld
) -> None:
    refused_sale(db, sw, "card_not_held", iccid=sw.r_cards[0])  # M2's outlet R's card
    mobile = china_mobile_cards_at_o1(db, sw)[0]
    refused_sale(db, sw, "card_of_another_host", iccid=mobile)
    refused_sale(db, sw, "not_a_plan", offering_id=sw.cw.offer["pack"])
    # O1 sells for M1 only: M2's plan is not among its offers at all...
    refused_sale(db, sw, "offer_not_sellable", offering_id=sw.cw.offer["m2plan"])
    # ...and once O1 is an M2 outlet too, the plan is visible but not for an M1 number.
    grant(
        db,
        sw.w.op,
        sw.w.org["m2"],
        sw.w.org["o1"],
        ChannelLevel.OUTLET,
        "440300",
        sw.w.auth["b_q"],
    )
    refused_sale(db, sw, "offer_of_another_mvno", offering_id=sw.cw.offer["m2plan"])
    refused_sale(db, sw, "prepayment_too_small", prepayment_fen=5_899)
    refused_sale(db, sw, "bad_amount", prepayment_fen=0)


def test_a_blacklisted_id_is_refused(db: Database, sw: SubscribersWorld) -> None:
    sw.sale(db, seq=60)
    with db.write() as conn:
        individual = conn.execute(
            unscoped(
                select(t.subscription.c.individual_id).where(
                    t.subscription.c.msisdn == line_numbers(db, person_seq=60)[0]
                ),
                "test",
            )
        ).scalar_one()
        conn.execute(
            insert(t.blacklist_entry).values(
                id=ids.new_id(),
                mvno_id=sw.w.org["m1"],
                organization_id=None,
                individual_id=individual,
                reason="fake registration",
                created_at=clock.now(),
            )
        )
    refused_sale(db, sw, "id_blacklisted", identity=person(60))
    sw.sale(db, seq=61)  # the control: another ID still buys


# --- after the sale ------------------------------------------------------------------------


KEYS = itertools.count()


def task(
    db: Database,
    sw: SubscribersWorld,
    msisdn: str,
    name: str,
    *,
    who: str = "outletClerk",
    **kw: Any,
) -> dict[str, Any]:
    return subscriber_orders.run_task(
        db,
        sw.w.actor[who],
        msisdn,
        name,
        holder=kw.get("holder"),
        reason=kw.get("reason"),
        idempotency_key=f"task-{name}-{msisdn}-{next(KEYS)}",
    )


def fee_transfers(db: Database, msisdn: str) -> list[dict[str, Any]]:
    la, lt = t.ledger_account, t.ledger_transfer
    with db.read() as conn:
        stmt = (
            select(lt)
            .join(la, la.c.id == lt.c.debit_account_id)
            .where(la.c.msisdn == msisdn, la.c.kind == "subscriberPrepaid", lt.c.code == "fee")
            .order_by(lt.c.created_at)
        )
        return [dict(r) for r in conn.execute(unscoped(stmt, "test")).mappings()]


def balance(db: Database, sw: SubscribersWorld, msisdn: str) -> int:
    view = subscriber_orders.summary(db, sw.w.actor["mvnoAdmin"], msisdn)
    return int(view["balance"].available)


def network_status(sw: SubscribersWorld, msisdn: str) -> str | None:
    line = sw.network.line(msisdn)
    return None if line is None else line["status"]


@pytest.fixture
def timeline() -> Iterator[Timeline]:
    """Time stands still at 10:00 in Beijing on the 10th of next month (ahead of the world's
    records, away from month ends), until moved."""
    month = first_of_next_month(local_date(clock.now()))
    start = datetime(month.year, month.month, 10, 10, tzinfo=BUSINESS_TZ).astimezone(UTC)
    line = Timeline(start)
    yield line
    line.close()


def next_month(timeline: Timeline, hour: int = 9) -> None:
    """Move to the first of next month, `hour` o'clock in Beijing."""
    day = first_of_next_month(local_date(timeline.now))
    at = datetime(day.year, day.month, day.day, hour, tzinfo=BUSINESS_TZ).astimezone(UTC)
    timeline.advance(at - timeline.now)


def test_sim_replacement_reverifies_the_holder_and_swaps_the_card(
    db: Database, sw: SubscribersWorld
) -> None:
    msisdn, _ = sw.sale(db, seq=3)
    sw.settle(db)
    old = line_of(db, msisdn)
    old_card = one(db, t.sim_card, id=old["sim_id"])
    number_before = one(db, t.number, msisdn=msisdn)
    new_iccid = sw.card()
    clerk = sw.w.actor["outletClerk"]
    with pytest.raises(DomainError) as wrong:
        subscriber_orders.replace_sim(
            db, clerk, msisdn, iccid=new_iccid, holder=person(4), idempotency_key="swap-wrong"
        )
    assert wrong.value.code == "identity_mismatch"
    assert one(db, t.sim_card, iccid=new_iccid)["state"] == "inStock"
    assert one(db, t.sim_card, id=old["sim_id"])["state"] == "active"
    result = subscriber_orders.replace_sim(
        db, clerk, msisdn, iccid=new_iccid, holder=person(3), idempotency_key="swap"
    )
    # The old card is dead at once, before the network hears of it.
    assert one(db, t.sim_card, id=old["sim_id"])["state"] == "replaced"
    assert one(db, t.sim_card, id=old["sim_id"])["msisdn"] is None
    assert order(db, result)["state"] == "inProgress"
    line = line_of(db, msisdn)
    assert line["id"] == old["id"]
    assert line["msisdn"] == msisdn
    assert line["iccid"] == new_iccid
    assert line["state"] == "active"
    assert one(db, t.number, msisdn=msisdn) == number_before
    sw.settle(db)
    new_card = one(db, t.sim_card, iccid=new_iccid)
    assert new_card["state"] == "active"
    assert new_card["msisdn"] == msisdn
    seen = sw.network.line(msisdn)
    assert seen is not None
    assert (seen["imsi"], seen["iccid"], seen["status"]) == (new_card["imsi"], new_iccid, "open")
    assert seen["imsi"] != old_card["imsi"]
    assert order(db, result)["state"] == "completed"
    assert line_of(db, msisdn)["network_in_sync"] is True


def test_a_lost_card_is_replaced_and_the_line_reopens(db: Database, sw: SubscribersWorld) -> None:
    msisdn, _ = sw.sale(db, seq=5)
    sw.settle(db)
    lost_card = line_of(db, msisdn)["sim_id"]
    task(db, sw, msisdn, "reportLost")
    sw.settle(db)
    assert line_of(db, msisdn)["state"] == "lost"
    assert one(db, t.sim_card, id=lost_card)["state"] == "reportedLost"  # the card goes with it
    assert network_status(sw, msisdn) == "bothBarred"
    subscriber_orders.replace_sim(
        db,
        sw.w.actor["outletClerk"],
        msisdn,
        iccid=sw.card(),
        holder=person(5),
        idempotency_key="s",
    )
    assert line_of(db, msisdn)["state"] == "active"
    sw.settle(db)
    assert network_status(sw, msisdn) == "open"
    assert line_of(db, msisdn)["network_in_sync"] is True
    assert one(db, t.sim_card, id=lost_card)["state"] == "replaced"


def test_a_card_found_again_is_back_in_use(db: Database, sw: SubscribersWorld) -> None:
    msisdn, _ = sw.sale(db, seq=7)
    sw.settle(db)
    card = line_of(db, msisdn)["sim_id"]
    task(db, sw, msisdn, "reportLost")
    assert one(db, t.sim_card, id=card)["state"] == "reportedLost"
    task(db, sw, msisdn, "found", who="mvnoAdmin")
    sw.settle(db)
    assert line_of(db, msisdn)["state"] == "active"
    assert one(db, t.sim_card, id=card)["state"] == "active"
    assert network_status(sw, msisdn) == "open"


def test_suspend_and_resume_through_tasks(db: Database, sw: SubscribersWorld) -> None:
    msisdn, _ = sw.sale(db, seq=6)
    sw.settle(db)
    suspended = task(db, sw, msisdn, "suspend", reason="travelling")
    assert line_of(db, msisdn)["state"] == "suspended"
    assert order(db, suspended)["state"] == "inProgress"  # until the network bars it
    sw.settle(db)
    assert order(db, suspended)["state"] == "completed"
    assert network_status(sw, msisdn) == "bothBarred"
    with pytest.raises(DomainError) as twice:
        task(db, sw, msisdn, "suspend")
    assert twice.value.code == "line_state_conflict"
    resumed = task(db, sw, msisdn, "resume")
    assert line_of(db, msisdn)["state"] == "active"
    sw.settle(db)
    assert order(db, resumed)["state"] == "completed"
    assert network_status(sw, msisdn) == "open"
    assert sw.network.applied[(msisdn, Command.BAR_BOTH)] == 1
    assert sw.network.applied[(msisdn, Command.RESTORE)] == 1


def test_tick_charges_the_keep_fee_of_a_suspended_line_once_a_month(
    db: Database, sw: SubscribersWorld, timeline: Timeline
) -> None:
    msisdn, _ = sw.sale(db, seq=7)
    sw.settle(db)
    task(db, sw, msisdn, "suspend")
    sw.settle(db)
    before = balance(db, sw, msisdn)
    lifecycle.tick(db)
    assert fee_transfers(db, msisdn) == []  # nothing falls due inside the paid month
    next_month(timeline)
    lifecycle.tick(db)
    lifecycle.tick(db)  # twice: still one fee
    fees = fee_transfers(db, msisdn)
    assert [f["amount_fen"] for f in fees] == [500]
    assert balance(db, sw, msisdn) == before - 500
    assert line_of(db, msisdn)["state"] == "suspended"
    next_month(timeline)
    lifecycle.tick(db)
    assert [f["amount_fen"] for f in fee_transfers(db, msisdn)] == [500, 500]
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)


def test_arrears_bar_the_line_and_a_recharge_that_covers_the_debt_restores_it(
    db: Database, sw: SubscribersWorld, timeline: Timeline
) -> None:
    msisdn, _ = sw.sale(db, seq=8, prepayment_fen=10_000)
    sw.settle(db)
    assert balance(db, sw, msisdn) == 4_100  # the plan's 59 yuan a month cannot be paid
    next_month(timeline)
    lifecycle.tick(db)
    line = line_of(db, msisdn)
    assert (line["state"], line["debt_fen"]) == ("arrearsOutBarred", 5_900)
    assert fee_transfers(db, msisdn) == []
    sw.settle(db)
    assert network_status(sw, msisdn) == "outBarred"
    lifecycle.tick(db)  # N1 = 0 days: both ways at the next step
    assert line_of(db, msisdn)["state"] == "arrearsBothBarred"
    sw.settle(db)
    assert network_status(sw, msisdn) == "bothBarred"
    clerk = sw.w.actor["outletClerk"]

    def recharge(amount: int, ref: str) -> None:
        money.recharge(
            db,
            clerk,
            msisdn=msisdn,
            amount_fen=amount,
            channel_order_number=ref,
            idempotency_key=ref,
        )

    recharge(1_800, "r1")  # 5,900 on the balance: the debt exactly, nothing to live on
    assert line_of(db, msisdn)["state"] == "arrearsBothBarred"
    recharge(1_000, "r2")  # 6,900 covers the 5,900 owed
    line = line_of(db, msisdn)
    assert (line["state"], line["debt_fen"]) == ("active", 0)  # at once, without a tick
    assert balance(db, sw, msisdn) == 1_000
    assert [f["amount_fen"] for f in fee_transfers(db, msisdn)] == [5_900]
    sw.settle(db)
    assert network_status(sw, msisdn) == "open"
    assert line_of(db, msisdn)["network_in_sync"] is True
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)


def test_cancel_refunds_the_balance_and_the_number_returns_after_quarantine(
    db: Database, sw: SubscribersWorld, timeline: Timeline
) -> None:
    msisdn, _ = sw.sale(db, seq=9)
    sw.settle(db)
    first = line_of(db, msisdn)
    with pytest.raises(DomainError) as no_id:
        task(db, sw, msisdn, "cancel")
    assert no_id.value.code == "identity_required"
    task(db, sw, msisdn, "cancel", holder=person(9))
    line = line_of(db, msisdn)
    assert line["state"] == "cancelled"
    assert balance(db, sw, msisdn) == 0
    with db.read() as conn:
        refund = ledger.balance(
            ledger.account(conn, AccountKind.REFUND_DUE, mvno_id=sw.w.org["m1"])
        )
    assert refund.posted == 4_100
    assert one(db, t.number, msisdn=msisdn)["state"] == "quarantined"
    assert one(db, t.sim_card, id=first["sim_id"])["state"] == "closed"
    sw.settle(db)
    assert network_status(sw, msisdn) == "closed"
    timeline.advance(timedelta(days=89))
    lifecycle.tick(db)
    assert one(db, t.number, msisdn=msisdn)["state"] == "quarantined"
    timeline.advance(timedelta(days=1))
    lifecycle.tick(db)
    with db.read() as conn:
        assert (
            conn.execute(
                unscoped(select(t.number).where(t.number.c.msisdn == msisdn), "test")
            ).first()
            is None
        )
    # Back in stock: it sells again, to someone else, with another card.
    again, result = sw.sale(db, seq=10, number=msisdn, key="resale")
    sw.settle(db)
    assert order(db, result)["state"] == "completed"
    assert line_of(db, again)["state"] == "active"
    assert network_status(sw, msisdn) == "open"
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)


def test_the_full_id_number_never_leaves_its_seal(db: Database, sw: SubscribersWorld) -> None:
    holder = person(11)
    msisdn, _ = sw.sale(db, seq=11)
    sw.settle(db)
    subscriber_orders.replace_sim(
        db, sw.w.actor["outletClerk"], msisdn, iccid=sw.card(), holder=holder, idempotency_key="x"
    )
    task(db, sw, msisdn, "suspend")
    task(db, sw, msisdn, "resume")
    task(db, sw, msisdn, "reportLost")
    task(db, sw, msisdn, "found", holder=holder)
    view = subscriber_orders.summary(db, sw.w.actor["mvnoAdmin"], msisdn)
    task(db, sw, msisdn, "cancel", holder=holder)
    sw.settle(db)
    number = holder.number
    with db.read() as conn:
        events = [
            json.dumps(d, ensure_ascii=False)
            for d in conn.execute(unscoped(select(t.audit_event.c.data), "test")).scalars()
        ]
        requests = [
            json.dumps(r, ensure_ascii=False)
            for r in conn.execute(unscoped(select(t.product_order.c.request), "test")).scalars()
        ]
        person_row = dict(
            conn.execute(
                unscoped(select(t.individual).where(t.individual.c.id_masked.is_not(None)), "test")
            )
            .mappings()
            .one()
        )
    assert events
    assert requests
    assert not [e for e in events if number in e]
    assert not [r for r in requests if number in r]
    assert number not in repr(view)
    assert view["holder"]["maskedId"] == person_row["id_masked"]
    assert view["holder"]["maskedId"] == number[:4] + "*" * 10 + number[-4:]
    assert any(person_row["id_masked"] in e for e in events)  # the mask is what gets logged
    assert number.encode() not in person_row["id_sealed"]


def test_clearing_an_operator_barring_restores_a_line_whose_debt_was_paid_meanwhile(
    db: Database, sw: SubscribersWorld, timeline: Timeline
) -> None:
    msisdn, _ = sw.sale(db, seq=12)
    sw.settle(db)
    next_month(timeline)
    lifecycle.tick(db)
    assert (line_of(db, msisdn)["state"], line_of(db, msisdn)["debt_fen"]) == (
        "arrearsOutBarred",
        5_900,
    )
    task(db, sw, msisdn, "operatorBar", who="mvnoAdmin", reason="fraud check")
    money.recharge(
        db,
        sw.w.actor["outletClerk"],
        msisdn=msisdn,
        amount_fen=3_000,
        channel_order_number="while-barred",
        idempotency_key="while-barred",
    )
    assert line_of(db, msisdn)["state"] == "operatorBarred"  # the regulator's bar holds
    task(db, sw, msisdn, "operatorClear", who="mvnoAdmin")
    # Back to arrears, whose debt the balance now covers: active at once, debt paid.
    line = line_of(db, msisdn)
    assert (line["state"], line["debt_fen"]) == ("active", 0)
    assert balance(db, sw, msisdn) == 4_100 + 3_000 - 5_900
    sw.settle(db)
    assert network_status(sw, msisdn) == "open"
    # Without the payment the line would have sat in arrears and been cancelled by the timers.
    timeline.advance(timedelta(days=95))
    lifecycle.tick(db)
    assert line_of(db, msisdn)["state"] != "cancelled"
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)


def test_cancelling_during_a_sim_replacement_retires_the_new_card(
    db: Database, sw: SubscribersWorld
) -> None:
    msisdn, _ = sw.sale(db, seq=13)
    sw.settle(db)
    new_iccid = sw.card()
    subscriber_orders.replace_sim(
        db,
        sw.w.actor["outletClerk"],
        msisdn,
        iccid=new_iccid,
        holder=person(13),
        idempotency_key="n",
    )
    assert one(db, t.sim_card, iccid=new_iccid)["state"] == "sold"  # not confirmed yet
    task(db, sw, msisdn, "cancel", holder=person(13))
    card = one(db, t.sim_card, iccid=new_iccid)
    assert (card["state"], card["msisdn"]) == ("closed", None)
    sw.settle(db)  # the changeSim ack arrives after the cancel: the card stays closed
    card = one(db, t.sim_card, iccid=new_iccid)
    assert (card["state"], card["msisdn"]) == ("closed", None)
    assert network_status(sw, msisdn) == "closed"


def test_no_fee_while_barred_for_missing_real_name(
    db: Database, sw: SubscribersWorld, timeline: Timeline
) -> None:
    msisdn, _ = sw.sale(db, seq=14)
    sw.settle(db)
    money.recharge(
        db,
        sw.w.actor["outletClerk"],
        msisdn=msisdn,
        amount_fen=20_000,
        channel_order_number="enough",
        idempotency_key="enough",
    )
    task(db, sw, msisdn, "realNameMissing", who="mvnoAdmin", reason="registration audit")
    sw.settle(db)
    assert network_status(sw, msisdn) == "bothBarred"
    for _ in range(2):  # two month starts pass while barred: nothing is charged
        next_month(timeline)
        lifecycle.tick(db)
        lifecycle.tick(db)
    assert fee_transfers(db, msisdn) == []
    line = line_of(db, msisdn)
    assert (line["state"], line["debt_fen"]) == ("nonRealNameBarred", 0)
    task(db, sw, msisdn, "realNameRegistered", who="mvnoAdmin")
    next_month(timeline)
    lifecycle.tick(db)
    assert [f["amount_fen"] for f in fee_transfers(db, msisdn)] == [5_900]  # active again
    assert balance(db, sw, msisdn) == 4_100 + 20_000 - 5_900


def test_one_card_sold_twice_at_once_goes_to_one_line(db: Database, sw: SubscribersWorld) -> None:
    """Two outlets' clerks (here one, twice) sell the same blank card with two numbers at
    the same moment: the second sale waits for the first's lock on the card, then finds it
    sold. Unlocked, both sales wrote the card, and two lines shared it."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers take turns: no two sales are ever in flight at once")
    card = sw.card()
    first, second = sw.free_number(), sw.free_number()
    clerk = sw.w.actor["outletClerk"]
    held = number_lifecycle.reserve(db, clerk, [second])["id"]  # before: reserving waits too
    request = SaleRequest(
        msisdn=second, iccid=card, offering_id=sw.cw.offer["plan"], identity=person(61),
        prepayment_fen=10_000, reservation_id=held,
    )  # fmt: skip
    # The second sale starts as the first is about to write the card.
    _, refused = cut_in(
        db,
        "UPDATE sim_card",
        lambda: sw.sale(db, seq=60, number=first, iccid=card),
        lambda: sell(db, clerk, request, "second"),
    )
    assert isinstance(refused, DomainError), refused
    with db.read() as conn:
        holders = conn.execute(
            unscoped(select(t.subscription.c.msisdn).where(t.subscription.c.iccid == card), "test")
        ).scalars().all()  # fmt: skip
    assert holders == [first]


def test_a_reservation_released_while_its_number_is_sold_keeps_the_sale(
    db: Database, sw: SubscribersWorld
) -> None:
    """An admin releases a reservation while a clerk sells its number. The release read the
    number as reserved; it waits for the sale's lock on the number's block, then finds the
    reservation used, and refuses. Unchecked, it deleted the sold number's row."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers take turns: no release runs inside a sale")
    clerk, admin = sw.w.actor["outletClerk"], sw.w.actor["mvnoAdmin"]
    number = sw.free_number()
    held = number_lifecycle.reserve(db, clerk, [number])["id"]
    request = SaleRequest(
        msisdn=number, iccid=sw.card(), offering_id=sw.cw.offer["plan"], identity=person(62),
        prepayment_fen=10_000, reservation_id=held,
    )  # fmt: skip
    # The release starts as the sale is about to assign the number.
    _, released = cut_in(
        db,
        "UPDATE number SET",
        lambda: sell(db, clerk, request, "sale"),
        lambda: number_lifecycle.release(db, admin, held),
    )
    assert isinstance(released, DomainError), released
    assert released.code == "reservation_ended"
    with db.read() as conn:
        row = conn.execute(
            unscoped(select(t.number.c.state).where(t.number.c.msisdn == number), "test")
        ).scalar()
    assert row == "assigned"
    assert number_lifecycle.get_reservation(db, admin.scope, held)["status"] == "used"


def test_a_number_on_a_pre_bound_card_is_not_sold_with_a_blank_one(
    db: Database, sw: SubscribersWorld
) -> None:
    """A pre-bound card carries its number; selling that number with a blank card is refused,
    number_bound_to_another_card, and nothing changes (it was a 500: one number, two cards)."""
    number = sw.free_number()
    prebound = [make_iccid("898601", 7000), "460010000007000", KI, KI, "prebound", number, ""]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([sims.COLUMNS, prebound])
    sims.import_batch(
        db, sw.w.op, mvno_id=sw.w.org["m1"], host_id=sw.w.org["host"], name="pb",
        lines=sims.read_lines(buffer.getvalue()),
    )  # fmt: skip
    blank_card = sw.card()
    with pytest.raises(DomainError) as refused:
        sw.sale(db, seq=63, number=number, iccid=blank_card)
    assert refused.value.code == "number_bound_to_another_card"
    with db.read() as conn:
        state = conn.execute(
            unscoped(select(t.sim_card.c.state).where(t.sim_card.c.iccid == blank_card), "t")
        ).scalar()
    assert state == "inStock"
