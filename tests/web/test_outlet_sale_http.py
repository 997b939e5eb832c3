"""The outlet's sale flow and ticket over plain HTTP (forms without JavaScript), on every
backend: a whole sale through the forms moves the number, the card and the float and makes
a line; a double confirm sells once; a wrong card, a bad ID or a number no longer reserved is
shown next to its field and changes nothing; another outlet, or another MVNO's clerk, gets a
404 for this outlet's reservation and order; the outlet opens a ticket."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest

from openmvne import ids
from openmvne.domain.care import Severity, TicketStatus, TicketType
from openmvne.domain.identity import EvidenceSource, mask_id
from openmvne.services import care, number_lifecycle
from openmvne.web import i18n
from tests.subscribers_world import resident_id
from tests.web.portal_world import PortalWorld, Visitor, field_error
from tests.web.sale_world import (
    PRETTY_PLAN,
    RESERVATION,
    SaleWorld,
    build_sale_world,
    draft_of,
    key_of,
)

PAGE = "/outlet/sale"


@pytest.fixture
def world(portal: PortalWorld) -> SaleWorld:
    return build_sale_world(portal)


def error_at(html: str, name: str) -> str | None:
    """The error under field `name`, as the visitor reads it."""
    found = field_error(html, name)
    return unescape(found) if found is not None else None


def person_form(id_number: str, **changes: str) -> dict[str, str]:
    return {
        "evidence": "reader",
        "evidence_ref": "R-2026-77",
        "id_type": "residentId",
        "id_number": id_number,
        "family_name": "王",
        "given_name": "小明",
        "id_expires": "2036-05-01",
        **changes,
    }


def reserve(v: Visitor, msisdn: str) -> str:
    """Reserve through the page; returns the reservation's public id."""
    answer = v.submit(PAGE, f"{PAGE}/reserve", {"msisdn": msisdn})
    assert answer.status_code == 303, answer.text
    found = RESERVATION.fullmatch(answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


def step(v: Visitor, rsv: str, name: str, previous: str, data: dict[str, str]) -> httpx.Response:
    """Post one step's form with the draft the previous page carried."""
    return v.submit(PAGE, f"{PAGE}/{rsv}/{name}", {"draft": draft_of(previous), **data})


def to_summary(
    v: Visitor, rsv: str, iccid: str, id_number: str, offer: str, prepayment: str = ""
) -> httpx.Response:
    start = v.get(f"{PAGE}/{rsv}")
    assert start.status_code == 200
    card = step(v, rsv, "card", start.text, {"iccid": iccid})
    assert 'id="f-id_number"' in card.text, card.text
    who = step(v, rsv, "identity", card.text, person_form(id_number))
    assert 'name="offer"' in who.text, who.text
    summary = step(v, rsv, "offer", who.text, {"offer": offer, "prepayment": prepayment})
    assert summary.status_code == 200, summary.text
    return summary


def confirm(v: Visitor, rsv: str, summary: str) -> httpx.Response:
    return v.submit(
        PAGE, f"{PAGE}/{rsv}/confirm", {"draft": draft_of(summary), "key": key_of(summary)}
    )


def offer_id(world: SaleWorld, key: str | None = None) -> str:
    assert world.portal.sw is not None
    value = world.pretty_plan if key is None else world.portal.sw.cw.offer[key]
    return ids.to_public("product_offering", value)


def test_a_pretty_number_is_sold_through_the_forms(world: SaleWorld) -> None:
    portal = world.portal
    assert portal.sw is not None
    iccid, id_number = portal.sw.card(), resident_id(31)
    before = world.float_fen()
    with portal.visitor("clerk") as v:
        home = v.get("/outlet").text
        assert 'href="/outlet/sale"' in home
        assert 'href="/outlet/ticket"' in home
        found = v.get(PAGE, params={"pattern": "*8888", "exclude": "", "grade": ""})
        assert found.status_code == 200
        rows = re.findall(r'<tr data-msisdn="(\d{11})">', found.text)
        assert rows
        assert all(n.endswith("8888") for n in rows)
        msisdn = rows[0]
        price = world.one_off_fen(msisdn)
        assert price > 0  # grade A: a number fee
        assert re.search(
            rf'<tr data-msisdn="{msisdn}">.*?data-grade="A">A<.*?data-fen="{price}"',
            found.text,
            re.S,
        )
        rsv = reserve(v, msisdn)
        assert world.number_state(msisdn) == "reserved"
        start = v.get(f"{PAGE}/{rsv}").text
        assert f'data-fen="{price}"' in start
        assert re.search(r'class="minutes-left"[^>]*>\((?:30|29) min left\)<', start)
        assert re.search(r'<time datetime="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d</time>', start)
        assert '<script src="/static/sale-countdown.js" defer></script>' in start
        assert v.get("/static/sale-countdown.js").status_code == 200  # 'self': CSP allows it
        card = step(v, rsv, "card", start, {"iccid": iccid.lower()})
        who = step(v, rsv, "identity", card.text, person_form(id_number))
        # The plain 59-yuan plan cannot carry a grade-A number: offered, but not selectable.
        assert re.search(r'value="pof_[^"]+" disabled', who.text)
        summary = step(v, rsv, "offer", who.text, {"offer": offer_id(world), "prepayment": ""})
        due = price + 9900
        assert f'<dd class="to-pay" data-fen="{due}">' in summary.text
        assert f'<dd class="number-fee" data-fen="{price}">' in summary.text
        assert f"{mask_id(id_number)}</dd>" in summary.text
        assert id_number not in summary.text  # not even in a hidden field
        assert PRETTY_PLAN in summary.text
        done = confirm(v, rsv, summary.text)
        assert done.status_code == 303
        order_page = v.get(done.headers["location"])
        assert order_page.status_code == 200
        assert f"Sold {msisdn[:3]} {msisdn[3:7]} {msisdn[7:]}" in order_page.text
        assert 'class="line-state" data-state="pendingActivation"' in order_page.text
        assert 'hx-trigger="every 3s"' in order_page.text
        assert id_number not in order_page.text
        assert world.float_fen() == before - due
        assert world.number_state(msisdn) == "assigned"
        assert world.card_state(iccid) == "sold"
        (line,) = world.lines_of(msisdn)
        assert line["iccid"] == iccid
        assert line["state"] == "pendingActivation"
        portal.sw.settle(portal.db)  # the network acknowledges the opening
        active = v.get(done.headers["location"]).text
        assert 'class="line-state" data-state="active"' in active
        assert 'class="order-state" data-state="completed"' in active
        assert "every 3s" not in active
        assert world.number_state(msisdn) == "inUse"
        # The reservation is used: its page says so and offers no form.
        used = v.get(f"{PAGE}/{rsv}").text
        assert "This number was sold with this reservation." in used
        assert 'name="draft"' not in used


def test_a_double_confirm_sells_once(world: SaleWorld) -> None:
    portal = world.portal
    assert portal.sw is not None
    msisdn, iccid = portal.sw.free_number(), portal.sw.card()
    before = world.float_fen()
    with portal.visitor("clerk") as v:
        rsv = reserve(v, msisdn)
        summary = to_summary(v, rsv, iccid, resident_id(32), offer_id(world, "plan"), "100")
        assert '<dd class="to-pay" data-fen="10000">' in summary.text
        assert '<dd class="opening" data-fen="4100">' in summary.text  # 100 - 59
        first = confirm(v, rsv, summary.text)
        second = confirm(v, rsv, summary.text)  # the same form again: a double click
        assert first.status_code == second.status_code == 303
        assert second.headers["location"] == first.headers["location"] + "?replayed=1"
        assert "nothing was sold or charged twice" in v.get(second.headers["location"]).text
    assert world.float_fen() == before - 10_000
    assert len(world.lines_of(msisdn)) == 1


def test_the_summary_goes_back_to_a_step_and_keeps_the_id_unseen(world: SaleWorld) -> None:
    portal = world.portal
    assert portal.sw is not None
    msisdn, iccid, id_number = portal.sw.free_number(), portal.sw.card(), resident_id(35)
    with portal.visitor("clerk") as v:
        rsv = reserve(v, msisdn)
        summary = to_summary(v, rsv, iccid, id_number, offer_id(world, "plan"))
        back = step(v, rsv, "change", summary.text, {"to": "identity"})
        assert back.status_code == 200
        assert f"Given: {mask_id(id_number)}. Leave empty to keep it." in back.text
        assert id_number not in back.text
        assert 'value="小明"' in back.text  # the rest is filled in again
        renamed = step(
            v,
            rsv,
            "identity",
            back.text,
            person_form("", given_name="小亮", evidence="onlineCheck"),
        )
        # Straight back to the summary: card and offer were given already.
        assert '<dd class="holder">王 小亮</dd>' in renamed.text
        assert "Online check (R-2026-77)" in renamed.text
        assert f"{mask_id(id_number)}</dd>" in renamed.text
        done = confirm(v, rsv, renamed.text)
        assert done.status_code == 303
    (line,) = world.lines_of(msisdn)
    assert line["evidence"]["source"] == "onlineCheck"


def test_refusals_are_shown_next_to_their_field_and_change_nothing(world: SaleWorld) -> None:
    portal = world.portal
    assert portal.sw is not None
    msisdn, iccid = portal.sw.free_number(), portal.sw.card()
    before = world.float_fen()
    with portal.visitor("clerk") as v:
        bad_search = v.get(PAGE, params={"pattern": "*88*8"})
        assert bad_search.status_code == 422
        assert error_at(bad_search.text, "pattern") is not None
        rsv = reserve(v, msisdn)
        start = v.get(f"{PAGE}/{rsv}").text
        # Another MVNO's card (on R's shelf), and no card at all.
        for wrong in (portal.sw.r_cards[0], "89860100000000099999"):
            refused = step(v, rsv, "card", start, {"iccid": wrong})
            assert refused.status_code == 422
            assert error_at(refused.text, "iccid") == ("This card is not in your outlet's stock.")
        card = step(v, rsv, "card", start, {"iccid": iccid})
        good_id = resident_id(33)
        bad_id = good_id[:-1] + ("0" if good_id[-1] != "0" else "1")
        refused = step(v, rsv, "identity", card.text, person_form(bad_id))
        assert refused.status_code == 422
        assert error_at(refused.text, "id_number") == (
            "The ID number's check character is wrong: read it again."
        )
        assert bad_id not in refused.text  # never written back into the page
        assert error_at(refused.text, "family_name") is None
        typed = step(v, rsv, "identity", card.text, person_form(good_id, evidence="manualForTest"))
        assert error_at(typed.text, "evidence") == (
            "IDs come from the card reader or the online check; typing them in is for test "
            "systems only."
        )
        missing = step(v, rsv, "identity", card.text, person_form(good_id, given_name=""))
        assert error_at(missing.text, "given_name") == "Fill this in."
        long = step(v, rsv, "identity", card.text, person_form(good_id, given_name="明" * 3000))
        assert long.status_code == 422
        assert error_at(long.text, "given_name") == "At most 100 characters."
        who = step(v, rsv, "identity", card.text, person_form(good_id))
        short = step(
            v, rsv, "offer", who.text, {"offer": offer_id(world, "plan"), "prepayment": "10"}
        )
        assert error_at(short.text, "prepayment") == (
            "The customer pays at least ¥59.00 (number fee and first month)."
        )
        # An absurd prepayment (above the ledger's per-transfer limit) is refused here, not
        # first at the confirm after the summary.
        huge = step(
            v, rsv, "offer", who.text, {"offer": offer_id(world, "plan"), "prepayment": "2000000"}
        )
        assert huge.status_code == 422
        assert error_at(huge.text, "prepayment") == (
            "Enter an amount in yuan above zero, with at most two decimals."
        )
        assert 'name="offer"' in huge.text  # still the offer step, no summary
        addon = step(v, rsv, "offer", who.text, {"offer": offer_id(world, "pack")})
        assert error_at(addon.text, "offer") == "Your outlet may not sell this plan."
        summary = step(v, rsv, "offer", who.text, {"offer": offer_id(world, "plan")})
        # A tampered draft is refused, not trusted.
        forged = v.submit(
            PAGE,
            f"{PAGE}/{rsv}/confirm",
            {"draft": draft_of(summary.text)[:-4] + "AAAA", "key": "k"},
        )
        assert error_at(forged.text, "iccid") is None
        assert "This form is out of date: start the steps again." in forged.text
        # The number is no longer reserved (released from another tab): the sale is refused.
        rsv_id = ids.from_public("number_reservation", rsv)
        assert rsv_id is not None
        number_lifecycle.release(portal.db, portal.w.actor["outletClerk"], rsv_id)
        late = confirm(v, rsv, summary.text)
        assert late.status_code == 409
        assert "The number is no longer reserved for this sale" in late.text
        # A number someone else holds cannot be reserved: said next to the number field.
        number_lifecycle.reserve(portal.db, portal.w.actor["partnerAdmin"], [msisdn])
        taken = v.submit(PAGE, f"{PAGE}/reserve", {"msisdn": msisdn})
        assert taken.status_code == 422
        assert error_at(taken.text, "msisdn") == "This number has just been taken. Choose another."
        foreign = v.submit(PAGE, f"{PAGE}/reserve", {"msisdn": "17199990000"})
        assert error_at(foreign.text, "msisdn") == (
            "This number is not among the numbers you may sell."
        )
    assert world.float_fen() == before
    assert world.card_state(iccid) == "inStock"
    assert world.lines_of(msisdn) == []
    assert world.number_state(msisdn) == "reserved"  # the partner's reservation, untouched


def test_another_outlet_cannot_see_or_confirm_this_outlets_sale(world: SaleWorld) -> None:
    portal = world.portal
    assert portal.sw is not None
    msisdn, iccid = portal.sw.free_number(), portal.sw.card()
    before = world.float_fen()
    with portal.visitor("clerk") as v:
        rsv = reserve(v, msisdn)
        summary = to_summary(v, rsv, iccid, resident_id(34), offer_id(world, "plan"))
        form = {"draft": draft_of(summary.text), "key": key_of(summary.text)}
        for other in ("clerk_o2", "clerk_r"):
            with portal.visitor(other) as stranger:
                assert stranger.get(f"{PAGE}/{rsv}").status_code == 404
                refused = stranger.submit(PAGE, f"{PAGE}/{rsv}/confirm", form)
                assert refused.status_code == 404
                released = stranger.submit(PAGE, f"{PAGE}/{rsv}/release", {})
                assert released.status_code == 404
                assert msisdn not in stranger.get(PAGE).text  # not among its open sales
        assert world.number_state(msisdn) == "reserved"
        assert world.float_fen() == before
        done = confirm(v, rsv, summary.text)
        assert done.status_code == 303
        order = done.headers["location"]
    for other in ("clerk_o2", "clerk_r"):
        with portal.visitor(other) as stranger:
            assert stranger.get(order).status_code == 404
    with portal.visitor("mvno") as admin:
        assert admin.get(f"{PAGE}/{rsv}").status_code == 403  # not an MVNO's page
    assert world.float_fen() == before - 5900


def test_the_outlet_opens_a_ticket_for_a_customer(world: SaleWorld) -> None:
    portal = world.portal
    with portal.visitor("clerk") as v:
        form = v.get("/outlet/ticket").text
        key = key_of(form)
        empty = v.submit("/outlet/ticket", "/outlet/ticket", {"key": key, "msisdn": portal.msisdn})
        assert empty.status_code == 422
        assert error_at(empty.text, "description") == "Fill this in."
        assert error_at(empty.text, "ticket_type") == "Fill this in."
        unknown = v.submit(
            "/outlet/ticket",
            "/outlet/ticket",
            {
                "key": key,
                "msisdn": "17199990000",
                "ticket_type": "infoQuery",
                "severity": "minor",
                "description": "客户询问号码归属",
            },
        )
        assert error_at(unknown.text, "msisdn") == (
            "This number is not a line of a connected brand."
        )
        data = {
            "key": key,
            "msisdn": portal.msisdn,
            "ticket_type": "rechargeNotReceived",
            "severity": "major",
            "description": "11月27日在本店充值50元，未到账",
        }
        opened = v.submit("/outlet/ticket", "/outlet/ticket", data)
        assert opened.status_code == 200
        found = re.search(r'<dd class="ticket-id">(tkt_[0-9A-Z]+)</dd>', opened.text)
        assert found, opened.text
        assert '<dd class="ticket-status" data-status="acknowledged">Received</dd>' in opened.text
        again = v.submit("/outlet/ticket", "/outlet/ticket", data)  # a double click
        assert found.group(1) in again.text
        assert "no second one was made" in again.text
    tickets, total = care.list_tickets(portal.db, portal.w.op, {}, 0, 10)
    assert total == 1
    assert ids.to_public("trouble_ticket", tickets[0]["id"]) == found.group(1)
    assert tickets[0]["channel"] == "outlet"
    assert tickets[0]["ticket_type"] == "rechargeNotReceived"
    with portal.visitor("clerk_r") as other:  # another outlet does not see it
        assert found.group(1) not in other.get("/outlet/ticket").text


@pytest.mark.parametrize(
    ("prefix", "values"),
    [
        ("sale.step.", ["number", "card", "identity", "offer", "confirm"]),
        ("sale.grade.", ["S", "A", "B", "C", "D", "N"]),
        ("sale.ended.", ["expired", "released", "used"]),
        # Every refusal of the card step (subscriber_sale._card), in the clerk's words.
        (
            "sale.error.",
            [
                "card_not_held",
                "card_state_conflict",
                "card_of_another_mvno",
                "card_of_another_host",
                "card_of_another_region",
                "card_bound_to_another_number",
                "number_bound_to_another_card",
            ],
        ),
        ("sale.order_state.", ["inProgress", "completed", "failed"]),
        ("sale.evidence.", [e.value for e in EvidenceSource]),
        ("outletticket.type.", [k.value for k in TicketType]),
        ("outletticket.severity.", [s.value for s in Severity]),
        ("outletticket.status.", [s.value for s in TicketStatus]),
    ],
)
def test_every_name_these_pages_look_up_at_run_time_exists(prefix: str, values: list[str]) -> None:
    for lang in i18n.SUPPORTED:
        assert {prefix + v for v in values} <= set(i18n.catalogue(lang)), lang
