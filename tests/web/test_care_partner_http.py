"""The care agent's and the partner's pages over plain HTTP (forms without JavaScript), on
every backend: the queue is the agent's teams' only, another tenant's ticket is 404, an action
from a ticket changes the line, a resolution is recorded; the partner sees its subtree, moves
cards down, and a package below cost is refused with its breakdown, nothing saved."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from openmvne import clock, ids
from openmvne.db import tables as t
from openmvne.db.scoping import unscoped
from openmvne.domain.care import Priority, TicketAction, TicketStatus, TicketType
from openmvne.domain.catalog import DesignStatus
from openmvne.domain.channels import ChannelLevel
from openmvne.domain.identity import EvidenceSource
from openmvne.domain.subscribers import local_date
from openmvne.errors import DomainError
from openmvne.services import care, catalog, money
from openmvne.web import i18n
from tests.conftest import Backend
from tests.subscribers_world import resident_id
from tests.web.care_partner_world import HOLDER, CareWorld, build_care_world
from tests.web.portal_world import Visitor, field_error
from tests.world import grant

KEY = re.compile(
    r'action="/care/tickets/[^/]+/actions/replaceSim".*?name="key" value="([^"]+)"', re.S
)

DESIGN_KEY = re.compile(r'action="/partner/designs" .*?name="key" value="([^"]+)"', re.S)


def design_key(v: Visitor) -> str:
    """The key of a freshly drawn designer form (one per drawing)."""
    found = DESIGN_KEY.search(v.get("/partner").text)
    assert found, "no key on the designer form"
    return found.group(1)


FORM_ERROR = '<p class="form-error" role="alert">{}</p>'


@pytest.fixture
def cw(backend: Backend) -> CareWorld:
    return build_care_world(backend)


def ticket_ids(html: str) -> set[str]:
    return set(re.findall(r'data-ticket="(tkt_[^"]+)"', html))


def line_iccid(cw: CareWorld) -> str:
    sub = t.subscription
    stmt = unscoped(select(sub.c.iccid).where(sub.c.msisdn == cw.portal.msisdn), "test check")
    with cw.portal.db.read() as conn:
        return str(conn.execute(stmt).scalar_one())


def card_state(cw: CareWorld, iccid: str) -> tuple[str, uuid.UUID | None]:
    c = t.sim_card
    stmt = unscoped(select(c.c.state, c.c.holder_party_id).where(c.c.iccid == iccid), "test")
    with cw.portal.db.read() as conn:
        row = conn.execute(stmt).one()
    return row.state, row.holder_party_id


def test_the_queue_is_the_agents_teams_and_a_foreign_ticket_is_404(cw: CareWorld) -> None:
    site = cw.portal
    with site.visitor("agent") as v:
        queue = v.get("/care")
        assert queue.status_code == 200
        assert ticket_ids(queue.text) == {cw.public("a")}  # not team B's, not P1's
        assert "星河客服一组" in queue.text
        assert v.get(f"/care/tickets/{cw.public('a')}").status_code == 200
        # M1's agent sees team B's ticket (same MVNO) but may not work it: refused on the form
        other = v.submit(
            f"/care/tickets/{cw.public('b')}",
            f"/care/tickets/{cw.public('b')}/status",
            {"status": "inProgress", "note": ""},
        )
        assert other.status_code == 403
        assert FORM_ERROR.format("The ticket is with a team you are not in.") in other.text
        assert care.get_ticket(site.db, site.w.op, cw.ticket["b"])["status"] == "acknowledged"
        assert v.get("/care/tickets/tkt_nonsense").status_code == 404
    with site.visitor("p1agent") as v:
        queue = v.get("/care")
        assert ticket_ids(queue.text) == {cw.public("p1")}
        for foreign in ("a", "b"):  # M1's own teams' tickets are not the partner's business
            assert v.get(f"/care/tickets/{cw.public(foreign)}").status_code == 404
        assert v.get(f"/care/tickets/{cw.public('p1')}").status_code == 200
    with site.visitor("m2agent") as v:
        assert ticket_ids(v.get("/care").text) == set()
        assert v.get(f"/care/tickets/{cw.public('a')}").status_code == 404
        forged = v.submit("/care", f"/care/tickets/{cw.public('a')}/status", {"status": "closed"})
        assert forged.status_code == 404
    with site.visitor("clerk") as v:  # not a care agent: the page is refused
        assert v.get("/care").status_code == 403
    with site.visitor("partner") as v:  # P1's administrator: its own team's queue
        assert v.get("/care/tickets/x").status_code == 404
        home = v.get("/home")
        assert home.headers["location"] == "/partner"  # still lands on the partner's page
        assert ticket_ids(v.get("/care").text) == {cw.public("p1")}
        assert v.get(f"/care/tickets/{cw.public('a')}").status_code == 404


def test_a_sim_replacement_from_the_ticket_changes_the_lines_card(cw: CareWorld) -> None:
    site = cw.portal
    before = line_iccid(cw)
    new = cw.m1_cards[0]
    page = f"/care/tickets/{cw.public('a')}"
    action = f"{page}/actions/replaceSim"
    with site.visitor("agent") as v:
        shown = v.get(page).text
        assert before in shown
        assert HOLDER.number not in shown  # the ID is masked
        wrong = v.submit(
            page,
            action,
            {"key": "k1", "iccid": new, "idType": "residentId", "evidence": "reader",
             "idNumber": resident_id(5), "expiresOn": "2035-01-01"},
        )  # fmt: skip
        assert wrong.status_code == 422
        assert field_error(wrong.text, "idNumber") == (
            "This is not the ID the line was registered with."
        )
        assert line_iccid(cw) == before
        key = KEY.search(v.get(page).text)
        assert key
        form = {
            "key": key.group(1),
            "iccid": new,
            "idType": "residentId",
            "idNumber": HOLDER.number,
            "expiresOn": "2035-01-01",
            "evidence": "reader",
        }
        done = v.submit(page, action, form)
        assert done.status_code == 200, done.text
        assert 'id="done"' in done.text
        assert line_iccid(cw) == new
        assert card_state(cw, before)[0] == "replaced"
        assert f'<dd class="iccid">{new}</dd>' in done.text
        assert 'data-kind="action"' in done.text
        # the same form again: the first answer, no second replacement
        again = v.submit(page, action, form)
        assert again.status_code == 200
        assert line_iccid(cw) == new
        events = care.get_ticket(site.db, site.w.op, cw.ticket["a"])["events"]
        assert [e["text"] for e in events if e["kind"] == "action"] == ["replaceSim"]
        # resolving needs a note; with one, the state and the note are recorded
        bare = v.submit(page, f"{page}/status", {"status": "resolved", "note": ""})
        assert bare.status_code == 422
        assert field_error(bare.text, "note") == "Say what was done: a resolution needs a note."
        resolved = v.submit(
            page, f"{page}/status", {"status": "resolved", "note": "已补新卡，旧卡作废"}
        )
        assert resolved.status_code == 200
        ticket = care.get_ticket(site.db, site.w.op, cw.ticket["a"])
        assert ticket["status"] == "resolved"
        assert ticket["status_reason"] == "已补新卡，旧卡作废"
        assert ticket["resolved_at"] is not None
        assert 'data-status="resolved"' in resolved.text


def test_a_partners_agent_has_no_sim_replacement_and_a_credit_is_the_mvnos(
    cw: CareWorld,
) -> None:
    site = cw.portal
    page = f"/care/tickets/{cw.public('p1')}"
    with site.visitor("p1agent") as v:
        shown = v.get(page).text
        assert "actions/replaceSim" not in shown
        assert "actions/credit" not in shown
        forged = v.submit(
            page, f"{page}/actions/credit", {"key": "x1", "creditAmount": "10", "creditReason": "x"}
        )
        assert forged.status_code == 403
        assert FORM_ERROR.format("Only the MVNO&#39;s own care desk does this.") in forged.text
        traced = v.submit(page, f"{page}/actions/traceRecharge", {})
        assert traced.status_code == 200
        assert "Recharges found: 0" in traced.text
        assert care.get_ticket(site.db, site.w.op, cw.ticket["p1"])["status"] == "inProgress"


def test_the_partner_sees_its_subtree_and_moves_cards_down(cw: CareWorld) -> None:
    site, w = cw.portal, cw.portal.w
    # A recharge at O1 pays commissions up the chain (O1, P1, N): the partner's statement
    # shows its subtree's (P1's and O1's), never its parent's.
    money.recharge(
        site.db, w.actor["outletClerk"], msisdn=site.msisdn, amount_fen=10_000,
        channel_order_number="W-care-1", idempotency_key="care-partner-1",
    )  # fmt: skip
    month = f"{local_date(clock.now()):%Y-%m}"
    owed = {
        r["party_id"]: r["amount_fen"] for r in money.commission_statement(site.db, w.op, month)
    }
    assert owed[w.org["p1"]] > 0
    with site.visitor("partner") as v:
        home = v.get("/partner")
        table = re.search(
            rf'<table class="commissions" data-month="{month}">(.*?)</table>', home.text, re.S
        )
        assert table, home.text
        assert "广东鸿运" in table.group(1)
        assert f"¥{owed[w.org['p1']] // 100}.{owed[w.org['p1']] % 100:02d}" in table.group(1)
        assert "华通卡业" not in table.group(1)
        assert home.status_code == 200
        shown = set(re.findall(r'data-channel="(chn_[^"]+)"', home.text))
        assert shown == {
            ids.to_public("channel_authorisation", w.auth[k]) for k in ("a_p1", "a_o1")
        }  # not its parent N, its sibling P2 or M2's channels
        assert "浙江鸿运" not in home.text
        assert "粤通代理" not in home.text
        o1 = ids.to_public("channel_authorisation", w.auth["a_o1"])
        moving = cw.p1_cards[:4]
        foreign = v.submit(
            "/partner", "/partner/transfer", {"toId": o1, "iccids": cw.m1_cards[0]}
        )  # an M1 card P1 does not hold: refused, nothing moves
        assert foreign.status_code == 409
        assert field_error(foreign.text, "iccids") == (
            "Some of those cards are not in stock with you; nothing was moved."
        )
        assert card_state(cw, cw.m1_cards[0])[1] == w.org["m1"]
        p2 = ids.to_public("channel_authorisation", w.auth["a_o2"])
        elsewhere = v.submit("/partner", "/partner/transfer", {"toId": p2, "iccids": moving[0]})
        assert field_error(elsewhere.text, "toId") == "Choose one of your sub-channels."
        done = v.submit(
            "/partner",
            "/partner/transfer",
            {"toId": o1, "first": moving[0], "last": moving[-1]},
        )
        assert done.status_code == 200, done.text
        assert "Moved 4 cards to 深圳人民路手机卖场." in done.text
        for iccid in moving:
            assert card_state(cw, iccid) == ("inStock", w.org["o1"])
        assert card_state(cw, cw.p1_cards[4]) == ("inStock", w.org["p1"])
        assert re.search(r'data-holder="own" data-state="inStock"><td>[^<]+</td><td>[^<]+</td>'
                         r'<td class="num">6</td>', done.text)  # fmt: skip


def plan_and_pack(cw: CareWorld) -> tuple[str, str]:
    assert cw.portal.sw is not None
    offer = cw.portal.sw.cw.offer
    return (
        ids.to_public("product_offering", offer["plan"]),
        ids.to_public("product_offering", offer["pack"]),
    )


def test_a_package_below_cost_is_refused_with_the_breakdown_then_saved_and_submitted(
    cw: CareWorld,
) -> None:
    site = cw.portal
    plan, pack = plan_and_pack(cw)
    design = {"designName": "鸿运 10GB", "base": plan, "addon": pack}
    with site.visitor("partner") as v:
        design["key"] = design_key(v)
        live = v.http.post(
            "/partner/designs/check",
            data={"csrf": v.token("/partner"), **design, "price": "5"},
            headers={"HX-Request": "true"},
        )
        assert live.status_code == 200
        assert "<html" not in live.text
        assert 'class="cost inverted"' in live.text
        floor_fen = int(re.search(r'data-floor-fen="(\d+)"', live.text).group(1))  # type: ignore[union-attr]
        cost_fen = int(re.search(r'data-cost-fen="(\d+)"', live.text).group(1))  # type: ignore[union-attr]
        assert cost_fen > 500
        low = v.submit("/partner", "/partner/designs", {**design, "price": "5"})
        assert low.status_code == 422
        error = field_error(low.text, "price")
        assert error is not None
        assert error.startswith("¥5.00 is below the cost chain of ¥")
        assert "Wholesale data, 4096 MB" in low.text
        assert "MVNO margin" in low.text
        assert 'value="鸿运 10GB"' in low.text  # the form keeps what was typed
        assert catalog.list_designs(site.db, site.w.op.scope, {}, 0, 10)[1] == 0
        # the floor the page shows is exact: a fen below is refused, the floor is accepted
        below = f"{(floor_fen - 1) // 100}.{(floor_fen - 1) % 100:02d}"
        at = f"{floor_fen // 100}.{floor_fen % 100:02d}"
        assert (
            v.submit("/partner", "/partner/designs", {**design, "price": below}).status_code == 422
        )
        fair = v.submit("/partner", "/partner/designs", {**design, "price": at})
        assert fair.status_code == 200, fair.text
        assert "is saved and submitted for the MVNO&#39;s approval" in fair.text
    rows, total = catalog.list_designs(site.db, site.w.op.scope, {}, 0, 10)
    assert total == 1
    assert rows[0]["status"] == "submitted"
    assert rows[0]["price_fen"] == floor_fen
    assert 'data-status="submitted"' in fair.text


def test_a_partner_of_two_mvnos_designs_under_the_chosen_plans_mvno(cw: CareWorld) -> None:
    site = cw.portal
    w = site.w
    grant(site.db, w.op, w.org["m2"], w.org["p1"], ChannelLevel.NATIONAL, None, None)
    plan, pack = plan_and_pack(cw)
    design = {"designName": "双品牌", "base": plan, "addon": pack, "price": "300"}
    with site.visitor("partner") as v:
        page = v.get("/partner")
        design["key"] = design_key(v)
        assert "·" in page.text  # each plan says whose brand it is
        done = v.submit("/partner", "/partner/designs", design)
        assert done.status_code == 200, done.text
    [row], _ = catalog.list_designs(site.db, w.op.scope, {}, 0, 10)
    assert row["designer_id"] == w.auth["a_p1"]  # P1's channel in M1, whose plan it is
    assert row["mvno_id"] == w.org["m1"]


def test_a_design_form_sent_twice_makes_one_package_and_a_refused_one_no_draft(
    cw: CareWorld,
) -> None:
    """Saved and submitted together, once per drawn form: a double click (the same form
    twice) is one pending package; a submit refused leaves no draft behind."""
    site = cw.portal
    plan, pack = plan_and_pack(cw)
    design = {"designName": "一次就好", "base": plan, "addon": pack, "price": "300"}
    with site.visitor("partner") as v:
        design["key"] = design_key(v)
        first = v.submit("/partner", "/partner/designs", design)
        assert first.status_code == 200, first.text
        again = v.submit("/partner", "/partner/designs", design)
        assert again.status_code == 200, again.text
        assert "is saved and submitted for the MVNO&#39;s approval" in again.text
        rows, total = catalog.list_designs(site.db, site.w.op.scope, {}, 0, 10)
        assert total == 1
        assert rows[0]["status"] == "submitted"
        # The same form with other values is refused (not a second package either).
        reused = v.submit("/partner", "/partner/designs", {**design, "price": "301"})
        assert reused.status_code == 422
        assert "already used for another package" in reused.text
        # No key (a form from before the page was reloaded): refused, nothing saved.
        keyless = {k: v for k, v in design.items() if k != "key"}
        assert v.submit("/partner", "/partner/designs", keyless).status_code == 422
        assert catalog.list_designs(site.db, site.w.op.scope, {}, 0, 10)[1] == 1
    # A submit refused (below the cost chain, checked when submitting) leaves no draft
    # behind: the create and the submit are one transaction.
    base = ids.from_public("product_offering", plan)
    assert base is not None
    with pytest.raises(DomainError) as refused:
        catalog.submit_new_design(
            site.db,
            site.w.actor["partnerAdmin"],
            name="半途",
            base_offering_id=base,
            addon_ids=[],
            price_fen=5,
            idempotency_key="half",
        )
    assert refused.value.code == "price_below_cost"
    assert catalog.list_designs(site.db, site.w.op.scope, {}, 0, 10)[1] == 1


@pytest.mark.parametrize(
    ("prefix", "values"),
    [
        ("care.type.", [k.value for k in TicketType]),
        ("care.status.", [s.value for s in TicketStatus]),
        ("care.filter.", ["open", "all", *(s.value for s in TicketStatus)]),
        ("care.priority.", [p.value for p in Priority]),
        ("care.action.", [a.value for a in TicketAction]),
        ("care.evidence.", [e.value for e in EvidenceSource]),
        ("care.event.", ["status", "action", "priority", "escalated", "note"]),
        ("partner.design.", [d.value for d in DesignStatus]),
        ("level.", [lv.value for lv in ChannelLevel]),
    ],
)
def test_every_state_these_pages_show_has_a_name_in_both_languages(
    prefix: str, values: list[str]
) -> None:
    for lang in ("en", "zh-CN"):
        assert {prefix + v for v in values} <= set(i18n.catalogue(lang))
