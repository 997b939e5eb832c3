"""The MVNO staff pages over plain HTTP, on every backend: the dashboard's charts and tables,
numbers and blocks, channel decisions, package approvals with the cost chain and its guard,
wholesale price lists, the care SLA report; and tenancy (another MVNO's admin gets 404 on
M1's objects and never sees its rows)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from openmvne import clock
from openmvne.domain.care import TicketType
from openmvne.domain.catalog import DesignStatus, OfferKind, PriceModel
from openmvne.domain.channels import Transition
from openmvne.domain.parties import Role
from openmvne.domain.subscribers import BUSINESS_TZ
from openmvne.money import format_fen
from openmvne.services import care, catalog, reports
from openmvne.web import i18n, mvno_catalog
from openmvne.web.i18n import Translator
from tests.web.mvno_world import DESIGN_NAME, MvnoWorld, build_mvno_world
from tests.web.portal_world import PortalWorld

BAR = re.compile(r'<rect class="bar" data-label="([^"]*)" data-value="([^"]*)"')
SERIES_BAR = re.compile(
    r'<rect class="bar" data-label="([^"]*)" data-value="([^"]*)" data-series="([^"]*)"'
)


def section(html: str, section_id: str) -> str:
    """The HTML of `<section … id="section_id">` up to its end."""
    start = html.index(f'id="{section_id}"')
    return html[start : html.index("</section>", start)]


def bars(html: str) -> list[tuple[str, str]]:
    return BAR.findall(html)


@pytest.fixture
def mw(portal: PortalWorld) -> MvnoWorld:
    return build_mvno_world(portal)


# --- the dashboard ---------------------------------------------------------------------------


def test_dashboard_draws_the_mvnos_own_figures(mw: MvnoWorld) -> None:
    with mw.portal.visitor("mvno") as v:
        home = v.get("/mvno")
        assert 'href="/mvno/dashboard"' in home.text
        page = v.get("/mvno/dashboard")
    assert page.status_code == 200
    html = page.text
    states = section(html, "states")
    assert bars(states) == [("Active", "2")]  # two lines sold, both active
    assert '<td class="num total">2</td>' in states
    sales = section(html, "sales")
    by_province = SERIES_BAR.findall(sales)
    assert ("广东省", "2", "Activations") in by_province
    assert ("广东省", "1", "Recharges") in by_province
    assert ("广东省", "50") in bars(sales)  # ¥50.00 recharged, drawn in yuan
    assert '<td class="num" data-fen="5000">¥50.00</td>' in sales
    assert f'data-label="{mw.month}" data-value="2"' in sales  # the month's activations
    today = clock.now().astimezone(BUSINESS_TZ).date().isoformat()
    assert f'<tr data-day="{today}"><th scope="row">{today}</th><td class="num">2</td>' in sales
    assert f'data-label="{today[5:]}" data-value="1"' in sales  # the day's recharge
    util = section(html, "utilisation")
    usage = reports.number_utilisation(mw.portal.db, mw.portal.w.actor["mvnoAdmin"].scope)
    assert [u["inUse"] for u in usage] == [2]
    assert bars(util) == [("171", str(usage[0]["utilisationPct"]))]
    margin = section(html, "margin")
    assert "59元 3GB" in margin
    assert mw.month in margin
    assert {s for _, _, s in SERIES_BAR.findall(margin)} == {
        "Revenue",
        "Wholesale cost",
        "Commissions",
        "Margin",
    }
    assert "<svg" in section(html, "states")
    assert "<title" in states


def test_dashboard_of_another_mvno_never_shows_m1(mw: MvnoWorld) -> None:
    with mw.portal.visitor("mvno2") as v:
        html = v.get("/mvno/dashboard").text
    assert bars(section(html, "states")) == []
    assert "59元 3GB" not in html
    assert "广东省" not in section(html, "sales")
    assert "No settlement has been run yet" in html


def test_dashboard_for_the_platform_names_each_mvno(mw: MvnoWorld) -> None:
    with mw.portal.visitor("padmin") as v:
        html = v.get("/mvno/dashboard").text
    util = [label for label, _ in bars(section(html, "utilisation"))]
    assert "星河移动 171" in util
    assert any(label.startswith("青桐通信") for label in util)
    assert "星河移动 · 59元 3GB" in section(html, "margin")


def test_pages_need_an_mvno_role(mw: MvnoWorld) -> None:
    with mw.portal.visitor("clerk") as v:
        for path in ("/mvno/dashboard", "/mvno/channels", "/mvno/catalog", "/mvno/care"):
            assert v.get(path).status_code == 403, path
    with mw.portal.visitor() as anonymous:
        assert anonymous.get("/mvno/numbers").status_code == 303


# --- numbers ---------------------------------------------------------------------------------


def test_numbers_page_shows_own_blocks_and_rights(mw: MvnoWorld) -> None:
    prefix = mw.portal.msisdn[:7]
    with mw.portal.visitor("mvno") as v:
        html = v.get("/mvno/numbers").text
        found = v.get("/mvno/numbers", params={"pattern": prefix + "*"}).text
        bad = v.get("/mvno/numbers", params={"pattern": "12x"})
    assert "Use digits, ? and a * at the start or the end" in bad.text
    blocks = section(html, "blocks")
    row = blocks[blocks.index(f'data-prefix="{prefix}"') :]
    assert re.search(r'<td class="num taken">([0-9]+)</td>', row).group(1) == "2"  # type: ignore[union-attr]
    assert "广东鸿运" in section(html, "rights")  # P1 holds the sale right of the block
    numbers = re.findall(r'<td class="msisdn">([0-9 ]+)</td>', section(found, "search"))
    assert numbers
    assert all(n.replace(" ", "").startswith(prefix) for n in numbers)
    assert bad.status_code == 200
    assert 'id="f-pattern-error"' in bad.text
    with mw.portal.visitor("mvno2") as v:
        other = v.get("/mvno/numbers").text
    assert f'data-prefix="{prefix}"' not in other
    assert "广东鸿运" not in other


# --- channels --------------------------------------------------------------------------------


def test_channel_decisions_change_state(mw: MvnoWorld) -> None:
    o1 = mw.portal.w.auth["a_o1"]
    o1_id = mw.public("channel_authorisation", o1)
    pending_id = mw.public("channel_authorisation", mw.pending)
    with mw.portal.visitor("mvno") as v:
        listed = v.get("/mvno/channels").text
        assert "深圳东门手机店" in listed
        assert f'id="{pending_id}" data-status="pending"' in listed
        done = v.submit("/mvno/channels", f"/mvno/channels/{pending_id}", {"action": "approve"})
        assert done.status_code == 303
        assert done.headers["location"].endswith("done=approve")
        assert mw.channel_status(mw.pending) == "approved"
        suspended = v.submit("/mvno/channels", f"/mvno/channels/{o1_id}", {"action": "suspend"})
        assert suspended.status_code == 303
        assert mw.channel_status(o1) == "suspended"
        page = v.get(suspended.headers["location"]).text
        assert "The channel is suspended." in page
        assert f'id="{o1_id}" data-status="suspended"' in page
        v.submit("/mvno/channels", f"/mvno/channels/{o1_id}", {"action": "reinstate"})
        assert mw.channel_status(o1) == "approved"
        v.submit(
            "/mvno/channels",
            f"/mvno/channels/{pending_id}",
            {"action": "blacklist", "reason": "卖假卡"},
        )
        assert mw.channel_status(mw.pending) == "blacklisted"


def test_refused_channel_decisions_show_why_and_change_nothing(mw: MvnoWorld) -> None:
    o1 = mw.portal.w.auth["a_o1"]
    o1_id = mw.public("channel_authorisation", o1)
    with mw.portal.visitor("mvno") as v:
        wrong = v.submit("/mvno/channels", f"/mvno/channels/{o1_id}", {"action": "reinstate"})
        assert wrong.status_code == 409
        assert f'<p class="field-error" id="err-{o1_id}">' in wrong.text
        assert "not possible in the object" in wrong.text
        no_reason = v.submit("/mvno/channels", f"/mvno/channels/{o1_id}", {"action": "blacklist"})
        assert no_reason.status_code == 400
        assert f'aria-describedby="err-{o1_id}"' in no_reason.text  # next to the reason field
        assert "Give a reason." in no_reason.text
        unknown = v.submit("/mvno/channels", f"/mvno/channels/{o1_id}", {"action": "destroy"})
        assert unknown.status_code == 400
        assert "Unknown action." in unknown.text
        forged = v.http.post(f"/mvno/channels/{o1_id}", data={"action": "suspend"})
        assert forged.status_code == 403  # no CSRF token
    assert mw.channel_status(o1) == "approved"


def test_a_reason_longer_than_its_column_is_refused_next_to_it(mw: MvnoWorld) -> None:
    """The API takes at most 500 characters; the pages took any length, which PostgreSQL
    refused to store (a 500 page)."""
    o1 = mw.portal.w.auth["a_o1"]
    o1_id = mw.public("channel_authorisation", o1)
    design_id = mw.public("package_design", mw.design)
    long = "卖假卡" * 200
    with mw.portal.visitor("mvno") as v:
        suspend = {"action": "suspend", "reason": long}
        refused = v.submit("/mvno/channels", f"/mvno/channels/{o1_id}", suspend)
        assert refused.status_code == 400
        assert f'aria-describedby="err-{o1_id}"' in refused.text  # next to the reason field
        assert "A reason has at most 500 characters." in refused.text
        reject = {"task": "reject", "reason": long}
        refused = v.submit("/mvno/catalog", f"/mvno/catalog/designs/{design_id}", reject)
        assert refused.status_code == 400
        assert "A reason has at most 500 characters." in refused.text
        done = v.submit(
            "/mvno/channels", f"/mvno/channels/{o1_id}", {**suspend, "reason": long[:500]}
        )
        assert done.status_code == 303
    with mw.portal.visitor("mvno2") as v:  # someone else's channel: still not found
        refused = v.submit("/mvno/channels", f"/mvno/channels/{o1_id}", suspend)
        assert refused.status_code == 404
        refused = v.submit("/mvno/catalog", f"/mvno/catalog/designs/{design_id}", reject)
        assert refused.status_code == 404
    assert mw.channel_status(o1) == "suspended"
    assert mw.design_status() == "submitted"


def test_another_mvno_gets_404_on_m1_channels(mw: MvnoWorld) -> None:
    o1 = mw.portal.w.auth["a_o1"]
    o1_id = mw.public("channel_authorisation", o1)
    with mw.portal.visitor("mvno2") as v:
        listed = v.get("/mvno/channels").text
        assert "深圳人民路手机卖场" not in listed
        assert "深圳中山路手机卖场" in listed
        for action in ("suspend", "destroy"):
            refused = v.submit("/mvno/channels", f"/mvno/channels/{o1_id}", {"action": action})
            assert refused.status_code == 404
        junk = v.submit("/mvno/channels", "/mvno/channels/pkg_0000", {"action": "suspend"})
        assert junk.status_code == 404
    assert mw.channel_status(o1) == "approved"


# --- catalog and package approvals ------------------------------------------------------------


def test_the_design_shows_its_cost_chain(mw: MvnoWorld) -> None:
    chain = catalog.design_cost(mw.portal.db, mw.portal.w.op.scope, mw.design)
    design_id = mw.public("package_design", mw.design)
    with mw.portal.visitor("mvno") as v:
        html = v.get("/mvno/catalog").text
    card = html[html.index(f'<article class="design" id="{design_id}"') :]
    card = card[: card.index("</article>")]
    assert DESIGN_NAME in card
    assert "广东鸿运" in card
    for line in chain.lines:
        assert f'data-micro="{line.micro}"' in card
    assert "Wholesale data, 4096 MB" in card  # 3 GB plan + 1 GB pack
    assert "MVNO margin" in card
    assert "National channel commission" in card
    assert f'<td class="num cost" data-fen="{chain.cost_fen}">' in card
    assert f'<td class="num margin" data-fen="{chain.margin_fen}">' in card
    assert "59元 3GB" in section(html, "offers")
    with mw.portal.visitor("mvno", language="zh-CN") as v:
        zh = v.get("/mvno/catalog").text
    assert "批发流量 4096 MB" in zh
    assert "虚拟运营商毛利" in zh


def test_approving_a_design_publishes_it(mw: MvnoWorld) -> None:
    design_id = mw.public("package_design", mw.design)
    with mw.portal.visitor("mvno") as v:
        done = v.submit("/mvno/catalog", f"/mvno/catalog/designs/{design_id}", {"task": "approve"})
        assert done.status_code == 303
        page = v.get(done.headers["location"]).text
    assert "approved and on sale" in page
    row = catalog.get_design(mw.portal.db, mw.portal.w.op.scope, mw.design)
    assert row["status"] == DesignStatus.PUBLISHED
    offer = catalog.get_offer(mw.portal.db, mw.portal.w.op.scope, row["offering_id"])
    assert offer["name"] == DESIGN_NAME
    assert offer["monthly_fee_fen"] == 9900
    assert f'<tr id="{design_id}" data-status="published">' in section(page, "decided")


def test_the_guard_holds_when_the_cost_rose(mw: MvnoWorld) -> None:
    """The MVNO raised its margin after the partner submitted: approving is refused with the
    cost chain shown, and nothing changes."""
    db, w = mw.portal.db, mw.portal.w
    catalog.set_scheme(db, w.actor["mvnoAdmin"], None, {}, mvno_margin_bp=9000)
    design_id = mw.public("package_design", mw.design)
    cost = catalog.design_cost(db, w.op.scope, mw.design).cost_fen
    assert cost > 9900
    with mw.portal.visitor("mvno") as v:
        refused = v.submit(
            "/mvno/catalog", f"/mvno/catalog/designs/{design_id}", {"task": "approve"}
        )
    assert refused.status_code == 422
    assert "below the cost chain" in refused.text
    assert f"Its cost chain is now {format_fen(cost)} yuan." in refused.text
    assert '<p class="form-error inverted">' in refused.text
    assert mw.design_status() == "submitted"
    listed, _ = catalog.list_offers(db, w.op.scope, {"name": DESIGN_NAME}, 0, 10)
    assert listed == []


def test_reject_needs_a_reason(mw: MvnoWorld) -> None:
    design_id = mw.public("package_design", mw.design)
    action = f"/mvno/catalog/designs/{design_id}"
    with mw.portal.visitor("mvno") as v:
        bare = v.submit("/mvno/catalog", action, {"task": "reject"})
        assert bare.status_code == 400
        assert "Give a reason." in bare.text
        assert mw.design_status() == "submitted"
        odd = v.submit("/mvno/catalog", action, {"task": "submit"})
        assert odd.status_code == 400
        assert mw.design_status() == "submitted"
        done = v.submit("/mvno/catalog", action, {"task": "reject", "reason": "价格过高"})
        assert done.status_code == 303
    row = catalog.get_design(mw.portal.db, mw.portal.w.op.scope, mw.design)
    assert row["status"] == "rejected"
    assert row["reason"] == "价格过高"


def test_another_mvno_gets_404_on_m1_designs(mw: MvnoWorld) -> None:
    design_id = mw.public("package_design", mw.design)
    with mw.portal.visitor("mvno2") as v:
        assert DESIGN_NAME not in v.get("/mvno/catalog").text
        for task in ("approve", "bogus"):
            refused = v.submit(
                "/mvno/catalog", f"/mvno/catalog/designs/{design_id}", {"task": task}
            )
            assert refused.status_code == 404
    assert mw.design_status() == "submitted"


def test_a_partner_cannot_use_the_approval_page(mw: MvnoWorld) -> None:
    mw.portal.accounts["p1"] = (mw.portal.w.org["p1"], Role.PARTNER_ADMIN)
    with mw.portal.visitor("p1") as v:
        assert v.get("/mvno/catalog").status_code == 403
    assert mw.design_status() == "submitted"


# --- wholesale price lists ---------------------------------------------------------------------


def _m1_list(mw: MvnoWorld) -> dict[str, Any]:
    lists, _ = catalog.list_price_lists(mw.portal.db, mw.portal.w.op.scope, 0, 10)
    return next(pl for pl in lists if pl["mvno_id"] == mw.portal.w.org["m1"])


def test_price_lists_are_read_only_and_scoped(mw: MvnoWorld) -> None:
    m1_list = _m1_list(mw)
    list_id = mw.public("wholesale_price_list", m1_list["id"])
    with mw.portal.visitor("mvno") as v:
        html = v.get("/mvno/price-lists").text
        detail = v.get(f"/mvno/price-lists/{list_id}")
    assert f'data-list="{list_id}"' in section(html, "lists")
    assert "<form" not in section(html, "lists")
    reminders = section(html, "reminders")
    assert f'data-list="{list_id}"' in reminders
    assert "overdue" in reminders
    assert detail.status_code == 200
    assert '<dd class="data">1.2</dd>' in detail.text  # 1.2 fen per MB
    with mw.portal.visitor("mvno2") as v:
        assert f'data-list="{list_id}"' not in v.get("/mvno/price-lists").text
        assert v.get(f"/mvno/price-lists/{list_id}").status_code == 404


# --- care SLA report -----------------------------------------------------------------------------


def test_care_report_per_team_and_brand(mw: MvnoWorld) -> None:
    resolved = mw.ticket()
    desk = mw.portal.w.actor["mvnoAdmin"]
    care.update_ticket(mw.portal.db, desk, resolved, status="inProgress")
    care.update_ticket(mw.portal.db, desk, resolved, status="resolved", reason="已补充值")
    mw.ticket("complaint")
    with mw.portal.visitor("mvno") as v:
        html = v.get("/mvno/care", params={"month": mw.month}).text
        bad = v.get("/mvno/care", params={"month": "2026-13"})
        before = v.get("/mvno/care", params={"month": "2015-01"}).text
    teams = section(html, "teams")
    assert '<td class="num tickets">2</td>' in teams
    assert bars(teams)[0][1] == "100"  # one judged ticket, resolved in time
    assert "Recharge not received" in teams
    assert "m1-brand" in section(html, "brands")
    assert bad.status_code == 422
    assert 'id="f-month-error"' in bad.text
    assert "No tickets this month." in before
    with mw.portal.visitor("mvno2") as v:
        other = v.get("/mvno/care", params={"month": mw.month}).text
    assert "m1-brand" not in other
    assert '<td class="num tickets">' not in other


# --- the words of these pages ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "values"),
    [
        ("mvnoadmin.design.", [s.value for s in DesignStatus]),
        ("mvnoadmin.channels.action.", [m.value for m in Transition]),
        ("mvnoadmin.channels.done.", [m.value for m in Transition]),
        ("mvnoadmin.catalog.task.", list(mvno_catalog.TASKS)),
        ("mvnoadmin.catalog.done.", list(mvno_catalog.TASKS)),
        ("mvnoadmin.kind.", [k.value for k in OfferKind]),
        ("mvnoadmin.ticket.", [k.value for k in TicketType]),
        ("mvnoadmin.prices.model.", [m.value for m in PriceModel]),
        ("mvnoadmin.alert.", ["open", "resolved"]),
        ("mvnoadmin.run.", ["open", "closed"]),
        ("mvnoadmin.right.", ["active", "revoked"]),
    ],
)
def test_every_value_shown_has_words_in_both_languages(prefix: str, values: list[str]) -> None:
    for lang in ("en", "zh-CN"):
        assert {prefix + v for v in values} <= set(i18n.catalogue(lang)), lang


def test_every_cost_line_has_words() -> None:
    labels = [
        "wholesale voice 100 min",
        "wholesale SMS 0",
        "wholesale data 4096 MB",
        "per-number fee",
        "host package U59",
        "MVNO margin",
        "channel commissions (top tier)",
        "national channel commission",
        "prefecture channel commission",
    ]
    zh = Translator("zh-CN")
    shown = [mvno_catalog.cost_label(zh, label) for label in labels]
    assert shown == [
        "批发语音 100 分钟",
        "批发短信 0 条",
        "批发流量 4096 MB",
        "号码占用费",
        "基础运营商套餐 U59",
        "虚拟运营商毛利",
        "渠道佣金（最高档）",
        "全国渠道佣金",
        "地市级渠道佣金",
    ]
    assert mvno_catalog.cost_label(zh, "something new") == "something new"


def test_a_design_that_cannot_be_published_stays_approved_and_says_why(mw: MvnoWorld) -> None:
    """Approving is two service calls (approve, then publish): when publishing is refused
    (an offer of that name exists), the design stays approved, with a Publish button."""
    db, w = mw.portal.db, mw.portal.w
    assert mw.portal.sw is not None
    offers = mw.portal.sw.cw.offer
    clash = catalog.create_design(
        db,
        w.actor["partnerAdmin"],
        name="59元 3GB",
        base_offering_id=offers["plan"],
        addon_ids=[],
        price_fen=8000,
    )
    catalog.decide_design(db, w.actor["partnerAdmin"], clash["id"], "submit")
    clash_id = mw.public("package_design", clash["id"])
    with mw.portal.visitor("mvno") as v:
        refused = v.submit(
            "/mvno/catalog", f"/mvno/catalog/designs/{clash_id}", {"task": "approve"}
        )
    assert refused.status_code == 409
    assert "An offer with this name already exists." in refused.text
    card = refused.text[
        refused.text.index(f'<article class="design has-problem" id="{clash_id}"') :
    ]
    assert 'data-status="approved"' in card[:200]
    assert 'name="task" value="publish"' in card[: card.index("</article>")]
    assert catalog.get_design(db, w.op.scope, clash["id"])["status"] == "approved"
