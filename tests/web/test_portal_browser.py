"""The portal in a real browser (Debian's headless Chromium, driven by Playwright), on SQLite:
what only a browser shows: htmx swaps, the language switch, a phone-sized screen, and the
same pages with JavaScript off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from openmvne.services import money
from tests.web.browser import Opener, log_in, pages
from tests.web.portal_world import PortalWorld

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
pytestmark = pytest.mark.browser


@pytest.fixture
def open_page(chromium: Any, portal: PortalWorld) -> Iterator[Opener]:
    yield from pages(chromium, portal.base_url)


def float_fen(portal: PortalWorld) -> int:
    fen: int = money.float_of(portal.db, portal.w.op, portal.w.org["o1"])["balanceFen"]
    return fen


def test_a_clerk_logs_in_recharges_a_number_and_logs_out(
    portal: PortalWorld, open_page: Opener
) -> None:
    before_float = float_fen(portal)
    before_line = money.balance_of(portal.db, portal.w.op, portal.msisdn)["balanceFen"]
    page = open_page()
    log_in(page, portal.user("clerk"), "wrong-password")
    expect(page.locator("#f-password-error")).to_have_text("Wrong username or password.")
    expect(page.locator("#f-password")).to_have_attribute("aria-invalid", "true")
    log_in(page, "clerk")
    expect(page).to_have_url(f"{portal.base_url}/outlet")
    expect(page.locator("#float .figure")).to_have_attribute("data-fen", str(before_float))

    page.fill("#f-msisdn", portal.msisdn)
    page.fill("#f-amount", "50.001")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#f-amount-error")).to_have_text(
        "Enter an amount in yuan above zero, with at most two decimals."
    )
    expect(page).to_have_url(f"{portal.base_url}/outlet")  # htmx swapped the section in place
    assert money.float_of(portal.db, portal.w.op, portal.w.org["o1"])["balanceFen"] == (
        before_float
    )

    page.fill("#f-amount", "50")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".preview .brand")).to_have_text("m1-brand")
    expect(page.locator(".preview .holder")).to_have_text("张*")
    page.get_by_role("button", name="Confirm recharge").click()
    expect(page.locator("#recharge .success")).to_contain_text("Recharged ¥50.00")
    # The float card changed with the money (an out-of-band swap), without a reload.
    expect(page.locator("#float .figure")).to_have_attribute("data-fen", str(before_float - 5000))
    assert float_fen(portal) == before_float - 5000
    after_line = money.balance_of(portal.db, portal.w.op, portal.msisdn)["balanceFen"]
    assert after_line == before_line + 5000

    page.goto("/mvno")  # not a clerk's page
    expect(page.locator("h1")).to_have_text("Not allowed")
    page.goto("/outlet")
    page.get_by_role("button", name="Log out").click()
    expect(page.locator(".notice")).to_have_text("You have logged out.")
    page.goto("/outlet")
    expect(page).to_have_url(f"{portal.base_url}/login?next=%2Foutlet")


def test_the_language_follows_the_browser_then_the_choice_sticks(
    portal: PortalWorld, open_page: Opener
) -> None:
    page = open_page(locale="zh-CN")
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("登录")
    page.get_by_role("button", name="English").click()
    expect(page).to_have_url(f"{portal.base_url}/login")
    expect(page.locator("h1")).to_have_text("Log in")
    page.goto("/lookup")
    expect(page.locator("h1")).to_have_text("Which brand is this number?")
    second = page.context.new_page()  # a new tab of the same browser remembers it
    second.goto("/")
    expect(second.locator("html")).to_have_attribute("lang", "en")
    second.get_by_role("button", name="中文").click()
    expect(second.locator("#lookup-h")).to_have_text("号码归属查询")


def test_anyone_looks_up_a_numbers_brand(portal: PortalWorld, open_page: Opener) -> None:
    page = open_page()
    page.goto("/")
    page.fill("#f-msisdn", portal.msisdn)
    page.get_by_role("button", name="Look up").click()
    expect(page.locator(".result .brand")).to_have_text("m1-brand")
    expect(page.locator(".result .mvno")).to_have_text("星河移动")
    expect(page.locator(".result .hotline")).to_have_text("4000")
    expect(page.locator(".result .region")).to_have_text("广东省深圳市")
    # On the lookup page the form swaps its block (htmx) and keeps the address shareable.
    page.fill("#f-msisdn", "1234")
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("#f-msisdn-error")).to_have_text("Enter an 11-digit mobile number.")
    expect(page).to_have_url(f"{portal.base_url}/lookup?msisdn=1234")


def test_the_outlet_home_fits_a_phone(portal: PortalWorld, open_page: Opener) -> None:
    page = open_page(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True)
    log_in(page, portal.user("clerk"))
    expect(page).to_have_url(f"{portal.base_url}/outlet")
    fits = "document.scrollingElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(fits)
    page.fill("#f-msisdn", portal.msisdn)
    page.fill("#f-amount", "30")
    page.get_by_role("button", name="下一步").click()
    expect(page.locator(".preview .holder")).to_have_text("张*")
    assert page.evaluate(fits)
    for path in ("/", "/lookup?msisdn=" + portal.msisdn):
        page.goto(path)
        assert page.evaluate(fits), path


def test_every_step_works_as_plain_forms_without_javascript(
    portal: PortalWorld, open_page: Opener
) -> None:
    before = float_fen(portal)
    page = open_page(java_script_enabled=False)
    log_in(page, portal.user("clerk"))
    page.fill("#f-msisdn", portal.msisdn)
    page.fill("#f-amount", "12.30")
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(f"{portal.base_url}/outlet/recharge/preview")
    expect(page.locator(".preview .holder")).to_have_text("张*")
    page.get_by_role("button", name="Confirm recharge").click()
    expect(page.locator("#recharge .success")).to_contain_text("Recharged ¥12.30")
    expect(page.locator("#float .figure")).to_have_attribute("data-fen", str(before - 1230))
