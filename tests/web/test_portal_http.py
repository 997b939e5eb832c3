"""The portal over plain HTTP (forms without JavaScript), on every backend: log-in and
log-out, session expiry, CSRF, languages, the public lookup, the outlet's recharge, the MVNO's
and the subscriber's homes, and tenancy."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from openmvne import clock
from openmvne.services import money
from openmvne.web.session import COOKIE
from tests.conftest import Backend
from tests.subscribers_world import resident_id
from tests.web.portal_world import PortalWorld, Site, Visitor, field_error

KEY = re.compile(r'name="key" value="([^"]+)"')
ORDER = re.compile(r'name="channelOrderNumber" type="text" value="([^"]+)"')
BAD_AMOUNT = "Enter an amount in yuan above zero, with at most two decimals."


def float_fen(portal: PortalWorld) -> int:
    fen: int = money.float_of(portal.db, portal.w.op, portal.w.org["o1"])["balanceFen"]
    return fen


def line_fen(portal: PortalWorld, msisdn: str) -> int:
    fen: int = money.balance_of(portal.db, portal.w.op, msisdn)["balanceFen"]
    return fen


def spaced(msisdn: str) -> str:
    return f"{msisdn[:3]} {msisdn[3:7]} {msisdn[7:]}"


def confirm_form(preview_html: str, msisdn: str, amount_fen: int) -> dict[str, str]:
    key, order = KEY.search(preview_html), ORDER.search(preview_html)
    assert key, preview_html
    assert order, preview_html
    return {
        "msisdn": msisdn,
        "amountFen": str(amount_fen),
        "key": key.group(1),
        "channelOrderNumber": order.group(1),
    }


def test_public_lookup_needs_no_login(portal: PortalWorld) -> None:
    with portal.visitor() as v:
        page = v.get("/lookup", params={"msisdn": portal.msisdn})
        assert page.status_code == 200
        assert '<dd class="brand">m1-brand</dd>' in page.text
        assert '<dd class="mvno">星河移动</dd>' in page.text
        assert '<dd class="hotline">4000</dd>' in page.text
        assert '<dd class="region">广东省深圳市</dd>' in page.text
        # htmx asks for the lookup block alone
        partial = v.get("/lookup", params={"msisdn": portal.msisdn}, headers={"HX-Request": "true"})
        assert "m1-brand" in partial.text
        assert "<html" not in partial.text
        wrong = v.get("/lookup", params={"msisdn": "12345"})
        assert wrong.status_code == 422
        assert field_error(wrong.text, "msisdn") == "Enter an 11-digit mobile number."
        assert 'aria-invalid="true"' in wrong.text


def test_log_in_lands_on_the_roles_home_and_log_out_leaves(login_world: Site) -> None:
    with login_world.visitor() as v:
        wrong = v.login(login_world.user("clerk"), "not-the-password")
        assert wrong.status_code == 422
        assert field_error(wrong.text, "password") == "Wrong username or password."
        assert 'value="clerk"' in wrong.text  # the username stays filled in
        empty = v.login("", "")
        assert field_error(empty.text, "username") == "Fill this in."
        assert field_error(empty.text, "password") == "Fill this in."
        right = v.login("clerk")
        assert right.status_code == 303
        assert right.headers["location"] == "/outlet"
        cookie = right.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert v.get("/outlet").status_code == 200
        assert v.get("/login").headers["location"] == "/home"  # already in
        assert v.get("/home").headers["location"] == "/outlet"
        out = v.submit("/outlet", "/logout", {})
        assert out.status_code == 303
        assert out.headers["location"] == "/login?bye=1"
        assert "You have logged out." in v.get("/login?bye=1").text
        assert v.get("/outlet").status_code == 303
    with login_world.visitor("mvno") as v:
        assert v.get("/home").headers["location"] == "/mvno"
        assert 'href="/mvno"' in v.get("/mvno").text
        assert v.get("/outlet").status_code == 403  # not an MVNO's page


def test_pages_need_a_log_in_and_a_role_that_may_open_them(login_world: Site) -> None:
    with login_world.visitor() as v:
        away = v.get("/outlet")
        assert away.status_code == 303
        assert away.headers["location"] == "/login?next=%2Foutlet"
        back = v.login(login_world.user("mvno"), next="/mvno")
        assert back.headers["location"] == "/mvno"
    with login_world.visitor() as v:  # never to another site after log-in
        evil = v.login(login_world.user("clerk"), next="//evil.example/x")
        assert evil.headers["location"] == "/outlet"
        # ... and a clerk reaches only the outlet's pages, and sees links to no others.
        refused = v.get("/mvno")
        assert refused.status_code == 403
        assert "Your role may not open this page." in refused.text
        assert v.get("/me").status_code == 403
        assert 'href="/mvno"' not in v.get("/outlet").text


def test_a_post_without_the_csrf_token_is_refused(login_world: Site) -> None:
    with login_world.visitor() as v:
        refused = v.http.post(
            "/login", data={"username": login_world.user("clerk"), "password": "x" * 12}
        )
        assert refused.status_code == 403
        assert '<h1 id="error-h">Not allowed</h1>' in refused.text
        assert "security token" in refused.text
        v.login("clerk")
        sent = {"msisdn": "17100000001", "amountFen": "5000", "key": "k-1"}
        for token in ({"csrf": "forged"}, {}):
            refused = v.http.post("/outlet/recharge/confirm", data={**sent, **token})
            assert refused.status_code == 403
        assert v.http.post("/logout").status_code == 403
        assert v.get("/outlet").status_code == 200  # still logged in


def test_a_nul_character_in_a_form_or_query_is_refused(login_world: Site) -> None:
    """No field takes a NUL, and PostgreSQL cannot store or compare text holding one: the
    log-in and a ticket's description were 500s there."""
    with login_world.visitor() as v:
        refused = v.login("clerk\x00", "x" * 12)
        assert refused.status_code == 400
        assert "(NUL)" in refused.text
        assert v.login(login_world.user("clerk")).status_code == 303
        ticket = {"msisdn": "17100000001", "ticket_type": "complaint", "severity": "minor"}
        refused = v.submit("/outlet/ticket", "/outlet/ticket", {**ticket, "description": "a\x00b"})
        assert refused.status_code == 400
        assert "(NUL)" in refused.text
        assert v.get("/outlet/ticket", params={"msisdn": "\x00"}).status_code == 400
        assert v.get("/outlet").status_code == 200  # still logged in


def test_a_session_ends_when_idle_and_its_cookie_is_signed(
    login_world: Site, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    with login_world.visitor("clerk") as v:
        start = clock.now()
        with clock.frozen(start + timedelta(minutes=29)):
            assert v.get("/outlet").status_code == 200  # seen again: the idle time restarts
        with clock.frozen(start + timedelta(minutes=58)):
            assert v.get("/outlet").status_code == 200
        with clock.frozen(start + timedelta(minutes=58 + 31)):
            ended = v.get("/outlet")
        assert ended.status_code == 303
        assert parse_qs(urlsplit(ended.headers["location"]).query) == {
            "next": ["/outlet"],
            "expired": ["1"],
        }
        notice = v.get(ended.headers["location"]).text
        assert "Your session ended after 30 minutes without activity" in notice
        assert v.get("/outlet").status_code == 303  # and it stays ended
    assert backend.app is not None
    monkeypatch.setattr(backend.app.state.settings, "portal_idle_timeout_s", 60)
    with login_world.visitor("clerk") as v:
        value = v.http.cookies[COOKIE]
        with clock.frozen(clock.now() + timedelta(seconds=90)):
            assert v.get("/outlet").status_code == 303
        # A cookie is believed only with its signature.
        v.http.cookies.set(COOKIE, value[:-2] + ("BB" if value.endswith("AA") else "AA"))
        assert v.get("/outlet").status_code == 303
        v.http.cookies.set(COOKIE, value)
        assert v.get("/outlet").status_code == 200


def test_language_follows_the_browser_until_chosen(login_world: Site) -> None:
    clerk = login_world.user("clerk")
    with login_world.visitor(language="zh-CN,zh;q=0.9,en;q=0.8") as v:
        page = v.get("/login").text
        assert '<html lang="zh-CN">' in page
        assert "用户名" in page
        chosen = v.submit("/login", "/lang", {"lang": "en", "next": "/login"})
        assert chosen.headers["location"] == "/login"
        assert "Username" in v.get("/login").text  # the cookie wins over Accept-Language
        assert field_error(v.login(clerk, "not-it").text, "password") == (
            "Wrong username or password."
        )
    with login_world.visitor(language="en-GB,en;q=0.9") as v:
        assert "Username" in v.get("/login").text
        assert v.submit("/login", "/lang", {"lang": "zh-CN", "next": "/login"}).status_code == 303
        assert field_error(v.login(clerk, "not-it").text, "password") == "用户名或密码错误。"
    with login_world.visitor(language="fr;q=1, de;q=0.5") as v:
        assert '<html lang="zh-CN">' in v.get("/login").text  # neither: Chinese


def test_outlet_home_and_recharge_in_two_steps(portal: PortalWorld) -> None:
    before_float, before_line = float_fen(portal), line_fen(portal, portal.msisdn)
    with portal.visitor("clerk") as v:
        home = v.get("/outlet").text
        assert f'data-fen="{before_float}"' in home
        # 20 cards came to O1; two were sold with the lines.
        assert re.search(r'data-state="inStock"><td>In stock</td><td class="num">18<', home)
        for amount in ("5.001", "-5", "0", "fifty"):
            bad = v.submit(
                "/outlet", "/outlet/recharge/preview", {"msisdn": portal.msisdn, "amount": amount}
            )
            assert bad.status_code == 422
            assert field_error(bad.text, "amount") == BAD_AMOUNT
            assert field_error(bad.text, "msisdn") is None
        unknown = v.submit(
            "/outlet", "/outlet/recharge/preview", {"msisdn": "17199990000", "amount": "50"}
        )
        assert field_error(unknown.text, "msisdn") == (
            "This number does not belong to a connected brand."
        )
        preview = v.submit(
            "/outlet", "/outlet/recharge/preview", {"msisdn": portal.msisdn, "amount": "50"}
        )
        assert preview.status_code == 200
        assert '<dd class="brand">m1-brand</dd>' in preview.text
        assert '<dd class="holder">张*</dd>' in preview.text
        assert "张伟" not in preview.text
        form = confirm_form(preview.text, portal.msisdn, 5000)
        done = v.submit("/outlet", "/outlet/recharge/confirm", form)
        assert done.status_code == 200
        assert f"Recharged ¥50.00 to {spaced(portal.msisdn)}" in done.text
        assert f'data-fen="{before_float - 5000}"' in done.text
        again = v.submit("/outlet", "/outlet/recharge/confirm", form)  # a double click
        assert "nothing was charged twice" in again.text
        # A new form (a new key) with the same order number is another recharge: refused.
        second = v.submit(
            "/outlet", "/outlet/recharge/preview", {"msisdn": portal.msisdn, "amount": "20"}
        )
        reused = {**confirm_form(second.text, portal.msisdn, 2000), "channelOrderNumber": ""}
        reused["channelOrderNumber"] = form["channelOrderNumber"]
        refused = v.submit("/outlet", "/outlet/recharge/confirm", reused)
        assert refused.status_code == 422
        assert field_error(refused.text, "channelOrderNumber") == (
            "This channel order number was used for another recharge."
        )
        tampered = v.submit("/outlet", "/outlet/recharge/confirm", {**reused, "amountFen": "-1"})
        assert field_error(tampered.text, "amount") == BAD_AMOUNT
    assert float_fen(portal) == before_float - 5000
    assert line_fen(portal, portal.msisdn) == before_line + 5000


def test_outlet_recharge_answers_htmx_with_the_section_alone(portal: PortalWorld) -> None:
    before = float_fen(portal)
    hx = {"HX-Request": "true"}
    with portal.visitor("clerk") as v:
        token = v.token("/outlet")
        preview = v.http.post(
            "/outlet/recharge/preview",
            data={"csrf": token, "msisdn": portal.msisdn, "amount": "10"},
            headers=hx,
        )
        assert "<html" not in preview.text
        assert "张*" in preview.text
        done = v.http.post(
            "/outlet/recharge/confirm",
            data={"csrf": token, **confirm_form(preview.text, portal.msisdn, 1000)},
            headers=hx,
        )
        assert 'hx-swap-oob="true"' in done.text  # the float card follows the money
        assert f'data-fen="{before - 1000}"' in done.text
        v.submit("/outlet", "/logout", {})
        ended = v.http.post("/outlet/recharge/preview", data={"csrf": v.token()}, headers=hx)
        assert ended.headers["HX-Redirect"] == "/login?next=%2Foutlet"


def test_mvno_home_counts_lines_by_state_and_lists_its_channels(portal: PortalWorld) -> None:
    with portal.visitor("mvno") as v:
        page = v.get("/mvno").text
        assert re.search(r'data-state="active"><td>Active</td><td class="num">2<', page)
        assert "深圳人民路手机卖场" in page  # its outlet O1
        assert "华通卡业" in page  # its national contractor
        assert "深圳中山路手机卖场" not in page  # M2's outlet
    with portal.visitor("mvno2") as v:
        page = v.get("/mvno").text
        assert "No lines yet." in page
        assert "深圳中山路手机卖场" in page
        assert "深圳人民路手机卖场" not in page


def test_a_subscriber_sees_only_their_own_line(portal: PortalWorld) -> None:
    mine, theirs = spaced(portal.msisdn), spaced(portal.other_msisdn)
    with portal.visitor("holder") as v:
        assert v.get("/home").headers["location"] == "/me"
        page = v.get("/me").text
        assert mine in page
        assert theirs not in page
        assert "张*" in page
        assert resident_id(1) not in page  # the ID number only ever masked
        assert resident_id(1)[:4] + "*" * 10 + resident_id(1)[-4:] in page
        assert v.get("/outlet").status_code == 403
        assert v.get("/mvno").status_code == 403
    with portal.visitor("holder2") as v:
        page = v.get("/me").text
        assert theirs in page
        assert mine not in page
        assert "李*" in page


def test_every_visitor_gets_a_session_and_pages_are_locked_down(backend: Backend) -> None:
    with Visitor(backend.serve()) as v:
        first = v.get("/")
        assert COOKIE in first.cookies
        assert 'name="csrf"' in first.text
        page = v.get("/login")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        assert '<script src="/static/htmx.min.js"' in page.text
        assert "://" not in re.sub(r'href="[^"]*"', "", page.text)  # nothing from elsewhere
        htmx = v.get("/static/htmx.min.js")
        assert htmx.status_code == 200
        assert 'version:"2.' in htmx.text
        assert v.get("/static/portal.css").status_code == 200
