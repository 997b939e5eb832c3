"""The MVNO staff pages in a real browser (Debian's headless Chromium, Playwright), on SQLite:
an MVNO approval of a partner's package in English and in Chinese, the dashboard's SVG charts
as drawn, a channel decision, and a screenshot of every page (tests/web/shots.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from openmvne.services import catalog
from tests.web.browser import Opener, log_in, pages
from tests.web.mvno_world import DESIGN_NAME, PENDING_SHOP, MvnoWorld, build_mvno_world
from tests.web.portal_world import PortalWorld
from tests.web.shots import shoot

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
pytestmark = pytest.mark.browser


@pytest.fixture
def mw(portal: PortalWorld) -> MvnoWorld:
    return build_mvno_world(portal)


@pytest.fixture
def open_page(chromium: Any, mw: MvnoWorld) -> Iterator[Opener]:
    yield from pages(chromium, mw.portal.base_url)


WORDS = {
    "en-US": {"approve": "Approve and publish", "done": "approved and on sale", "sale": "On sale"},
    "zh-CN": {"approve": "批准并上架", "done": "套餐已批准", "sale": "已上架"},
}


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_an_mvno_approval(mw: MvnoWorld, open_page: Opener, locale: str) -> None:
    words = WORDS[locale]
    design_id = mw.public("package_design", mw.design)
    page = open_page(locale=locale)
    log_in(page, mw.portal.user("mvno"))
    page.goto("/mvno/catalog")
    card = page.locator(f"article#{design_id}")
    expect(card.locator("h3")).to_contain_text(DESIGN_NAME)
    chain = catalog.design_cost(mw.portal.db, mw.portal.w.op.scope, mw.design)
    expect(card.locator("table.chain tbody tr")).to_have_count(len(chain.lines))
    expect(card.locator("td.cost")).to_have_attribute("data-fen", str(chain.cost_fen))
    shoot(page, "mvno-catalog")
    card.get_by_role("button", name=words["approve"]).click()
    expect(page.locator("p.success")).to_contain_text(words["done"])
    expect(page.locator(f"tr#{design_id} td.status")).to_have_text(words["sale"])
    assert mw.design_status() == "published"
    shoot(page, "mvno-catalog-approved")


def test_the_dashboard_draws_its_charts(mw: MvnoWorld, open_page: Opener) -> None:
    page = open_page()
    log_in(page, mw.portal.user("mvno"))
    page.goto("/mvno")
    page.get_by_role("link", name="Dashboard").first.click()
    expect(page).to_have_url(f"{mw.portal.base_url}/mvno/dashboard")
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(7)  # states, province, amount, day, month, utilisation, margin
    active = page.locator('#states rect.bar[data-label="Active"]')
    expect(active).to_have_attribute("data-value", "2")
    box = active.bounding_box()
    assert box is not None
    assert box["width"] > 50  # drawn, and long: the only state
    expect(page.locator("#sales svg.chart-line")).to_have_count(2)  # by day and by month
    expect(page.locator("#sales circle.point")).to_have_count(4)  # one day, one month, 2 series
    shoot(page, "mvno-dashboard")
    phone = open_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    log_in(phone, "mvno")
    phone.goto("/mvno/dashboard")
    frame = phone.locator("#states .chart-box").bounding_box()
    chart = phone.locator("#states svg.chart").bounding_box()
    assert frame is not None
    assert chart is not None
    assert frame["width"] <= 390  # the page does not grow wider than the phone: the chart
    assert chart["width"] >= 400  # keeps readable text and scrolls sideways in its frame
    shoot(phone, "mvno-dashboard-phone")


def test_channel_decision_in_the_browser(mw: MvnoWorld, open_page: Opener) -> None:
    pending_id = mw.public("channel_authorisation", mw.pending)
    page = open_page(locale="zh-CN")
    log_in(page, mw.portal.user("mvno"))
    page.goto("/mvno/channels")
    row = page.locator(f"tr#{pending_id}")
    expect(row).to_contain_text(PENDING_SHOP)
    row.get_by_role("button", name="列入黑名单").click()  # no reason given: refused
    expect(page.locator(f"#err-{pending_id}")).to_have_text("请填写原因。")
    assert mw.channel_status(mw.pending) == "pending"
    shoot(page, "mvno-channels-refused")
    page.locator(f"tr#{pending_id}").get_by_role("button", name="批准").click()
    expect(page.locator("p.success")).to_contain_text("渠道已批准")
    expect(page.locator(f"tr#{pending_id}")).to_have_attribute("data-status", "approved")
    assert mw.channel_status(mw.pending) == "approved"
    shoot(page, "mvno-channels")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_every_staff_page_opens(mw: MvnoWorld, open_page: Opener, locale: str) -> None:
    page = open_page(locale=locale)
    log_in(page, mw.portal.user("mvno"))
    page.goto(f"/mvno/numbers?pattern={mw.portal.msisdn[:7]}*")
    expect(page.locator("#blocks tbody tr").first).to_be_visible()
    expect(page.locator("#search td.msisdn").first).to_be_visible()
    shoot(page, "mvno-numbers")
    page.goto("/mvno/price-lists")
    expect(page.locator("#reminders li").first).to_be_visible()
    shoot(page, "mvno-price-lists")
    page.locator("#lists tbody a").first.click()
    expect(page.locator("dl.price-list")).to_be_visible()
    shoot(page, "mvno-price-list")
    mw.ticket()
    mw.ticket("complaint")
    page.goto(f"/mvno/care?month={mw.month}")
    expect(page.locator("#teams td.tickets")).to_have_text("2")
    expect(page.locator("#teams svg.chart")).to_have_count(2)
    shoot(page, "mvno-care")
    page.goto("/mvno/dashboard")
    expect(page.locator("svg.chart").first).to_be_visible()
    shoot(page, "mvno-dashboard")
