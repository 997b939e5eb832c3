"""The care agent's and the partner's pages in a real browser (Debian's headless Chromium,
driven by Playwright), on SQLite, in English and Chinese: the package designer's live cost
check (htmx on change) refusing a price below cost and accepting a fair one, and an agent
replacing a SIM from a ticket and resolving it. Screenshots of each page (tests/web/shots.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from openmvne import ids
from openmvne.db import tables as t
from openmvne.db.scoping import unscoped
from openmvne.services import care, catalog
from tests.conftest import Backend
from tests.web.browser import Opener, log_in, pages
from tests.web.care_partner_world import HOLDER, CareWorld, build_care_world
from tests.web.shots import shoot

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
pytestmark = pytest.mark.browser

LOCALES = {"en": "en-US", "zh-CN": "zh-CN"}
TEXT = {
    "en": {
        "below": "Below cost: the MVNO would lose money on every line.",
        "ok": "The price covers the cost chain.",
        "refused": "¥5.00 is below the cost chain of ¥",
        "saved": "is saved and submitted for the MVNO's approval.",
        "submitted": "Awaiting the MVNO's approval",
        "replaced": "Done: Replace the SIM.",
        "resolved": "Resolved",
        "resolve_note": "New card issued, the old one no longer works.",
    },
    "zh-CN": {
        "below": "低于成本：虚商每售出一张卡都会亏损。",
        "ok": "价格覆盖成本链。",
        "refused": "¥5.00 低于成本链 ¥",
        "saved": "已保存并提交虚商审批。",
        "submitted": "待虚商审批",
        "replaced": "已完成：补换卡。",
        "resolved": "已解决",
        "resolve_note": "已补新卡，旧卡作废。",
    },
}


@pytest.fixture
def cw(backend: Backend) -> CareWorld:
    return build_care_world(backend)


@pytest.fixture
def open_page(chromium: Any, cw: CareWorld) -> Iterator[Opener]:
    yield from pages(chromium, cw.portal.base_url)


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_partners_package_refused_below_cost_then_accepted(
    cw: CareWorld, open_page: Opener, lang: str
) -> None:
    words = TEXT[lang]
    page = open_page(locale=LOCALES[lang])
    log_in(page, "partner")
    expect(page).to_have_url(f"{cw.portal.base_url}/partner")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("#channels tr.own")).to_have_count(1)
    shoot(page, "partner-home")

    assert cw.portal.sw is not None
    offer = cw.portal.sw.cw.offer
    page.fill("#f-designName", "鸿运 10GB")
    page.select_option("#f-base", ids.to_public("product_offering", offer["plan"]))
    page.check("input[name=addon] >> nth=0")
    page.fill("#f-price", "5")
    page.locator("#f-price").blur()
    # The live check (htmx on change): the breakdown and the verdict, without a reload.
    expect(page.locator("#cost .verdict")).to_have_text(words["below"])
    expect(page.locator("#f-price-error")).to_contain_text(words["refused"])
    expect(page.locator("#cost .breakdown tr")).not_to_have_count(0)
    floor_fen = int(page.locator("#cost .cost").get_attribute("data-floor-fen"))
    assert floor_fen > 500
    shoot(page, "partner-designer-live-below-cost")

    page.locator("#design-form button[type=submit]").click()
    expect(page.locator("#f-price-error")).to_contain_text(words["refused"])
    expect(page.locator("#cost .verdict")).to_have_text(words["below"])
    expect(page.locator("#f-designName")).to_have_value("鸿运 10GB")  # kept
    assert catalog.list_designs(cw.portal.db, cw.portal.w.op.scope, {}, 0, 10)[1] == 0
    shoot(page, "partner-designer-refused")

    page.fill("#f-price", yuan(floor_fen))
    page.locator("#f-price").blur()
    expect(page.locator("#cost .verdict")).to_have_text(words["ok"])
    expect(page.locator("#f-price-error")).to_have_count(0)  # the refusal went with the price
    shoot(page, "partner-designer-live-fair")
    page.locator("#design-form button[type=submit]").click()
    expect(page.locator("#done")).to_contain_text(words["saved"])
    row = page.locator("table.designs tr[data-status=submitted]")
    expect(row).to_have_count(1)
    expect(row.locator(".status")).to_have_text(words["submitted"])
    shoot(page, "partner-designer-submitted")
    rows, _ = catalog.list_designs(cw.portal.db, cw.portal.w.op.scope, {}, 0, 10)
    assert [(r["status"], r["price_fen"], r["base_offering_id"]) for r in rows] == [
        ("submitted", floor_fen, offer["plan"])
    ]


def line_iccid(cw: CareWorld) -> str:
    sub = t.subscription
    stmt = unscoped(select(sub.c.iccid).where(sub.c.msisdn == cw.portal.msisdn), "test check")
    with cw.portal.db.read() as conn:
        return str(conn.execute(stmt).scalar_one())


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_care_agent_resolving_a_ticket_with_a_sim_replacement(
    cw: CareWorld, open_page: Opener, lang: str
) -> None:
    words = TEXT[lang]
    new = cw.m1_cards[1]
    page = open_page(locale=LOCALES[lang])
    log_in(page, "agent")
    expect(page).to_have_url(f"{cw.portal.base_url}/care")
    rows = page.locator("table.tickets tbody tr")
    expect(rows).to_have_count(1)  # team A's ticket only
    shoot(page, "care-queue")

    rows.locator("a").click()
    expect(page.locator(".ticket .status")).to_have_attribute("data-status", "acknowledged")
    expect(page.locator(".summary .masked-id")).not_to_contain_text(HOLDER.number)
    shoot(page, "care-ticket")

    page.fill("#f-iccid", new)
    page.fill("#f-idNumber", HOLDER.number)
    page.fill("#f-expiresOn", "2035-01-01")
    page.locator("#replace-sim button[type=submit]").click()
    expect(page.locator("#done")).to_contain_text(words["replaced"])
    expect(page.locator(".summary .iccid")).to_have_text(new)
    expect(page.locator(".ticket .status")).to_have_attribute("data-status", "inProgress")
    assert line_iccid(cw) == new
    shoot(page, "care-ticket-sim-replaced")

    page.select_option("#f-status", "resolved")
    page.fill("#f-note", words["resolve_note"])
    page.locator("#work button[type=submit]").click()
    expect(page.locator(".ticket .status")).to_have_text(words["resolved"])
    expect(page.locator(".ticket .reason")).to_have_text(words["resolve_note"])
    shoot(page, "care-ticket-resolved")
    ticket = care.get_ticket(cw.portal.db, cw.portal.w.op, cw.ticket["a"])
    assert (ticket["status"], ticket["status_reason"]) == ("resolved", words["resolve_note"])

    page.goto("/care")
    expect(page.locator("table.tickets tbody tr")).to_have_count(0)  # the queue shows open ones
    page.goto("/care?state=resolved")
    expect(page.locator("table.tickets tbody tr")).to_have_count(1)
    shoot(page, "care-queue-resolved")
