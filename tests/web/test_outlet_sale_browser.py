"""The outlet's sale and ticket in a real browser (Debian's headless Chromium, Playwright),
on SQLite: the whole sale of a pretty number, in English and in Chinese, with a screenshot of
each step; the line turns active on the order page by itself once the network opens it (htmx
polling); the outlet opens a ticket."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from openmvne.domain.identity import mask_id
from tests.subscribers_world import resident_id
from tests.web.browser import Opener, log_in, pages
from tests.web.portal_world import PortalWorld
from tests.web.sale_world import PRETTY_PLAN, SaleWorld, build_sale_world
from tests.web.shots import shoot

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
pytestmark = pytest.mark.browser


@pytest.fixture
def world(portal: PortalWorld) -> SaleWorld:
    return build_sale_world(portal)


@pytest.fixture
def open_page(chromium: Any, world: SaleWorld) -> Iterator[Opener]:
    yield from pages(chromium, world.portal.base_url, viewport={"width": 1000, "height": 900})


@dataclass(frozen=True)
class Words:
    """What the clerk reads and clicks, per language."""

    locale: str
    sell: str
    title: str
    search: str
    reserve: str
    next: str
    minutes_left: str
    not_in_stock: str
    pretty_too_small: str
    sold: str
    pending: str
    active: str
    resident_id: str


ENGLISH = Words(
    locale="en-US",
    sell="Sell a card: number, card, real name, plan",
    title="Sell a card",
    search="Search",
    reserve="Reserve",
    next="Continue",
    minutes_left=r"\((30|29) min left\)",
    not_in_stock="This card is not in your outlet's stock.",
    pretty_too_small="This number needs a plan of at least ¥99.00 a month.",
    sold="Sold ",
    pending="Awaiting activation",
    active="Active",
    resident_id="Resident ID",
)
CHINESE = Words(
    locale="zh-CN",
    sell="开卡销售：选号、写卡、实名、选套餐",
    title="开卡销售",
    search="搜索",
    reserve="预占",
    next="下一步",
    minutes_left=r"（还剩 (30|29) 分钟）",
    not_in_stock="该卡不在本网点库存中。",
    pretty_too_small="该号码需选择每月不低于 ¥99.00 的套餐。",
    sold="已售出 ",
    pending="待激活",
    active="正常",
    resident_id="居民身份证",
)


def spaced(msisdn: str) -> str:
    return f"{msisdn[:3]} {msisdn[3:7]} {msisdn[7:]}"


@pytest.mark.parametrize("words", [ENGLISH, CHINESE], ids=["en", "zh-CN"])
def test_the_clerk_sells_a_pretty_number_step_by_step(
    world: SaleWorld, open_page: Opener, words: Words
) -> None:
    portal = world.portal
    assert portal.sw is not None
    iccid = portal.sw.card()
    id_number = resident_id(41 if words is ENGLISH else 42)
    before = world.float_fen()
    page = open_page(locale=words.locale)
    log_in(page, portal.user("clerk"))
    page.get_by_role("link", name=words.sell).click()
    expect(page.locator("h1")).to_have_text(words.title)

    page.fill("#f-pattern", "*8888")
    page.get_by_role("button", name=words.search, exact=True).click()
    rows = page.locator("table.numbers tbody tr")
    expect(rows.first).to_be_visible()
    msisdn = rows.first.get_attribute("data-msisdn")
    assert msisdn is not None
    assert msisdn.endswith("8888")
    price = world.one_off_fen(msisdn)
    expect(rows.first.locator(".grade")).to_have_attribute("data-grade", "A")
    expect(rows.first.locator(".price")).to_have_attribute("data-fen", str(price))
    shoot(page, "outlet-sale-search")
    rows.first.get_by_role("button").click()

    # The reservation's clock, then the card: a wrong one first.
    expect(page.locator(".held .msisdn")).to_have_text(spaced(msisdn))
    expect(page.locator(".held .minutes-left")).to_have_text(re.compile(words.minutes_left))
    assert world.number_state(msisdn) == "reserved"
    page.fill("#f-iccid", portal.sw.r_cards[0])
    page.get_by_role("button", name=words.next).click()
    expect(page.locator("#f-iccid-error")).to_have_text(words.not_in_stock)
    shoot(page, "outlet-sale-card")
    page.fill("#f-iccid", iccid)
    page.get_by_role("button", name=words.next).click()

    # The holder's identity, read by the card reader.
    expect(page.locator("#f-id_number")).to_be_visible()
    page.select_option("#f-evidence", "reader")
    page.fill("#f-evidence_ref", "R-0041")
    page.select_option("#f-id_type", "residentId")
    page.fill("#f-id_number", id_number)
    page.fill("#f-family_name", "王")
    page.fill("#f-given_name", "小明")
    page.fill("#f-id_expires", "2036-05-01")
    shoot(page, "outlet-sale-identity")
    page.get_by_role("button", name=words.next).click()

    # The plan: the plain 59-yuan plan cannot carry a grade-A number.
    plain = page.locator("label.choice.unavailable", has_text="59元 3GB")
    expect(plain).to_contain_text(words.pretty_too_small)
    page.locator("label.choice", has_text=PRETTY_PLAN).click()
    shoot(page, "outlet-sale-offer")
    page.get_by_role("button", name=words.next).click()

    due = price + 9900
    expect(page.locator(".summary .to-pay")).to_have_attribute("data-fen", str(due))
    expect(page.locator(".summary .id-masked")).to_have_text(
        f"{words.resident_id} {mask_id(id_number)}"
    )
    expect(page.locator(".summary .offer")).to_have_text(PRETTY_PLAN)
    assert id_number not in page.content()
    shoot(page, "outlet-sale-confirm")
    page.locator("#sale-step button.primary").click()

    expect(page.locator(".success")).to_have_text(words.sold + spaced(msisdn))
    expect(page.locator(".line-state")).to_have_text(words.pending)
    assert world.float_fen() == before - due
    assert world.card_state(iccid) == "sold"
    assert world.number_state(msisdn) == "assigned"
    shoot(page, "outlet-sale-done")
    portal.sw.settle(portal.db)  # the network opens the line; the page polls and shows it
    expect(page.locator(".line-state")).to_have_text(words.active)
    expect(page.locator(".order-state")).to_have_attribute("data-state", "completed")
    shoot(page, "outlet-sale-active")


def test_the_outlet_opens_a_ticket(world: SaleWorld, open_page: Opener) -> None:
    portal = world.portal
    page = open_page()
    log_in(page, portal.user("clerk"))
    page.get_by_role("link", name="Open a ticket for a customer").click()
    expect(page.locator("h1")).to_have_text("Open a ticket for a customer")
    page.fill("#f-msisdn", portal.msisdn)
    page.get_by_role("button", name="Open the ticket").click()
    expect(page.locator("#f-description-error")).to_have_text("Fill this in.")
    expect(page.locator("#f-ticket_type-error")).to_have_text("Fill this in.")
    page.select_option("#f-ticket_type", "rechargeNotReceived")
    page.fill("#f-description", "11月27日在本店充值50元，未到账")
    page.get_by_role("button", name="Open the ticket").click()
    expect(page.locator(".ticket-id")).to_have_text(re.compile(r"^tkt_[0-9A-Z]{26}$"))
    expect(page.locator(".ticket-status")).to_have_text("Received")
    expect(page.locator(".ticket-type")).to_have_text("Recharge not received")
    expect(page.locator("#ticket-mine tbody tr")).to_have_count(1)
    shoot(page, "outlet-ticket")


def test_the_sale_fits_a_phone(world: SaleWorld, open_page: Opener) -> None:
    page = open_page(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True)
    log_in(page, world.portal.user("clerk"))
    fits = "document.scrollingElement.scrollWidth <= window.innerWidth"
    page.goto("/outlet/sale?pattern=*8888")
    expect(page.locator("table.numbers tbody tr").first).to_be_visible()
    assert page.evaluate(fits)
    page.locator("table.numbers tbody tr").first.get_by_role("button").click()
    expect(page.locator("#f-iccid")).to_be_visible()
    assert page.evaluate(fits)
    shoot(page, "outlet-sale-phone")
