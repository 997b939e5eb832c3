"""Self-care and the public lookup in a real browser (Debian's headless Chromium, driven by
Playwright), on SQLite: a subscriber logs in by SMS code and recharges through the payment
gateway's page (the balance goes up once its signed callback lands, the page asking again by
itself meanwhile), follows a ticket, and anyone looks a number up in English and Chinese."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from openmvne import clock
from openmvne.domain.subscribers import BUSINESS_TZ
from openmvne.services import money, sms_fake, usage, usage_generate
from tests.conftest import Backend
from tests.web.browser import Opener, pages
from tests.web.portal_world import PortalWorld
from tests.web.shots import shoot
from tests.web.test_selfcare_http import build_selfcare_world, fresh_limits

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
pytestmark = pytest.mark.browser


@pytest.fixture
def world(backend: Backend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> PortalWorld:
    """The self-care world with its lines sold on the month's first day, and their usage
    since the second day rated, so the usage chart has days to draw."""
    fresh_limits(monkeypatch)
    now = clock.now().astimezone(BUSINESS_TZ)
    first = datetime(now.year, now.month, 1, 1, 0, tzinfo=BUSINESS_TZ)
    with clock.frozen(first):
        built = build_selfcare_world(backend)
    days = now.day - 2  # whole days from the 2nd to yesterday
    if days > 0:
        table = usage_generate.generate(
            [built.msisdn], days=days, start=(first + timedelta(days=1)).date(), seed=3
        )
        usage.rate_table(built.db, table, lake=tmp_path / "lake", source="browser test")
    return built


@pytest.fixture
def open_page(chromium: Any, world: PortalWorld) -> Iterator[Opener]:
    yield from pages(chromium, world.base_url)


def balance_fen(world: PortalWorld) -> int:
    fen: int = money.balance_of(world.db, world.w.op, world.msisdn)["balanceFen"]
    return fen


def sms_log_in(page: Any, msisdn: str) -> None:
    page.goto("/login")
    page.get_by_role("link", name=re.compile("code sent by SMS|短信验证码")).click()
    page.fill("#f-msisdn", msisdn)
    shoot(page, "selfcare-sms-number")
    page.locator("main button[type=submit]").first.click()
    expect(page.locator("#f-code")).to_be_visible()
    code = sms_fake.gateway().last_code(msisdn)
    assert code is not None
    page.fill("#f-code", f"{(int(code) + 1) % 1_000_000:06d}")
    page.locator("form.sms-code button[type=submit]").click()
    expect(page.locator("#f-code-error")).to_have_text(re.compile("4"))
    shoot(page, "selfcare-sms-code-wrong")
    page.fill("#f-code", code)
    page.locator("form.sms-code button[type=submit]").click()


def test_a_subscriber_recharge(world: PortalWorld, open_page: Opener) -> None:
    before = balance_fen(world)
    page = open_page()
    sms_log_in(page, world.msisdn)
    expect(page).to_have_url(f"{world.base_url}/me")
    shoot(page, "selfcare-my-lines")
    page.locator("a.self-care").first.click()
    expect(page).to_have_url(f"{world.base_url}/me/line/{world.msisdn}")
    expect(page.locator("table.buckets tr[data-type=data]")).to_be_visible()
    if clock.now().astimezone(BUSINESS_TZ).day > 2:
        expect(page.locator("svg.bars rect.bar").first).to_be_visible()
    shoot(page, "selfcare-line")
    # An amount the gateway cannot take is said by the field, before any redirect.
    page.fill("#f-amount", "-5")
    page.get_by_role("button", name="Go to payment").click()
    expect(page.locator("#f-amount-error")).to_contain_text("Enter an amount in yuan")
    page.fill("#f-amount", "50")
    page.get_by_role("button", name="Go to payment").click()
    expect(page).to_have_url(re.compile(r"/fake-gateway/pay/"))
    shoot(page, "selfcare-gateway")
    page.get_by_role("button", name=re.compile("Pay")).click()
    page.locator("#back").click()
    expect(page).to_have_url(re.compile(rf"/me/line/{world.msisdn}/payments/"))
    # Pending until the signed callback lands; the block asks again by itself (htmx).
    expect(page.locator("#payment")).to_have_attribute("data-status", "paid")
    expect(page.locator("#payment .success")).to_contain_text("¥50.00 was added")
    shoot(page, "selfcare-paid")
    assert balance_fen(world) == before + 5000
    page.get_by_role("link", name=re.compile("Back to")).click()
    expect(page.locator(".figure.balance")).to_have_text(
        f"¥{(before + 5000) // 100}.{(before + 5000) % 100:02d}"
    )
    # A ticket about the line, followed on its page.
    page.get_by_role("link", name="Tickets for this line").click()
    page.select_option("#f-ticketType", "rechargeNotReceived")
    page.fill("#f-description", "Paid 20 yuan at a kiosk on the 27th; nothing arrived.")
    shoot(page, "selfcare-tickets")
    page.get_by_role("button", name="Open the ticket").click()
    expect(page.locator(".ticket .status")).to_have_text("Received")
    page.fill("#f-note", "The kiosk's receipt number is 8841.")
    page.get_by_role("button", name="Send the note").click()
    expect(page.locator("q.note")).to_have_text("The kiosk's receipt number is 8841.")
    shoot(page, "selfcare-ticket")
    page.get_by_role("link", name="My tickets", exact=True).click()
    expect(page.locator("table.tickets tbody tr")).to_have_count(1)


def test_the_public_lookup(world: PortalWorld, open_page: Opener) -> None:
    for locale, where, channel in (
        ("en-US", "Where to recharge", "WeChat"),
        ("zh-CN", "在哪里充值", "微信"),
    ):
        page = open_page(locale=locale)
        page.goto("/lookup")
        page.fill("#f-msisdn", world.msisdn)
        page.locator("#lookup button[type=submit]").click()
        expect(page.locator(".result .brand")).to_have_text("m1-brand")
        expect(page.locator(".lookup-more")).to_contain_text(where)
        expect(page.locator(".lookup-more .channels")).to_contain_text(channel)
        expect(page.locator(".lookup-more .website a")).to_have_attribute(
            "href", "https://m1.example/"
        )
        expect(page.locator(".outlets li").first).to_be_visible()
        shoot(page, "lookup-next-steps")
        # The way to a ticket: log in by a code sent to the number, then the ticket form.
        page.locator("a.open-ticket").click()
        expect(page.locator("#f-msisdn")).to_have_value(world.msisdn)
        if locale == "en-US":
            sms_fake.gateway().reset()
            page.locator("main button[type=submit]").first.click()
            code = sms_fake.gateway().last_code(world.msisdn)
            assert code is not None
            page.fill("#f-code", code)
            page.locator("form.sms-code button[type=submit]").click()
            expect(page).to_have_url(re.compile(r"/me/tickets\?msisdn="))
            expect(page.locator("#f-msisdn")).to_have_value(world.msisdn)
