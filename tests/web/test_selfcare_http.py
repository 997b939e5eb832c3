"""Subscriber self-care and the public lookup's "what next" over plain HTTP, on every
backend: log-in by number and SMS code (wrong code, used code, lock-out, rate limit), own
lines only (a foreign number is 404), voucher and gateway recharge, tickets, the SIM
replacement request, and the lookup's service channels and recharge outlets."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from openmvne import clock, ids
from openmvne import money as yuan
from openmvne.api.ratelimit import TokenBucket
from openmvne.db import tables as t
from openmvne.db.scoping import unscoped
from openmvne.domain.care import Severity, TicketStatus, TicketType
from openmvne.services import catalog, money, sms_fake, vouchers
from openmvne.web import i18n, selfcare
from tests.conftest import Backend
from tests.web.portal_world import PortalWorld, Visitor, build_portal_world, field_error

KEY = re.compile(r'name="key" value="([^"]+)"')
CHANNELS = [
    {"type": "wechat", "value": "m1-brand-kefu"},
    {"type": "app", "value": "https://app.m1.example/"},
]


def build_selfcare_world(backend: Backend) -> PortalWorld:
    """The portal world, with the brand's website and service channels set."""
    world = build_portal_world(backend)
    sms_fake.gateway().reset()  # the fake gateway's per-number limit outlives a test
    catalog.update_brand(
        world.db,
        world.w.op,
        _brand_of(world),
        {"website": "https://m1.example/", "service_channels": CHANNELS},
    )
    return world


def _brand_of(world: PortalWorld) -> uuid.UUID:
    sub = t.subscription
    stmt = unscoped(select(sub.c.brand_id).where(sub.c.msisdn == world.msisdn), "test setup")
    with world.db.read() as conn:
        return conn.execute(stmt).scalar_one()  # type: ignore[no-any-return]


@pytest.fixture
def world(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> PortalWorld:
    fresh_limits(monkeypatch)
    return build_selfcare_world(backend)


def fresh_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test comes from 127.0.0.1: each starts with the per-address buckets full (the
    same limits, new state), as a new visitor would."""
    for name in ("code_limiter", "login_limiter"):
        limiter = getattr(selfcare, name)
        monkeypatch.setattr(selfcare, name, TokenBucket(limiter.rate, limiter.burst))


def line_fen(world: PortalWorld, msisdn: str) -> int:
    fen: int = money.balance_of(world.db, world.w.op, msisdn)["balanceFen"]
    return fen


def ask_code(v: Visitor, msisdn: str) -> httpx.Response:
    return v.submit("/login/sms", "/login/sms/code", {"msisdn": msisdn, "next": "/home"})


def enter_code(v: Visitor, msisdn: str, code: str) -> httpx.Response:
    page = f"/login/sms?msisdn={msisdn}"
    return v.submit(page, "/login/sms", {"msisdn": msisdn, "code": code, "next": "/home"})


def sms_login(world: PortalWorld, msisdn: str) -> Visitor:
    v = Visitor(world.base_url)
    sent = ask_code(v, msisdn)
    assert sent.status_code == 200, sent.text
    code = sms_fake.gateway().last_code(msisdn)
    assert code is not None
    landed = enter_code(v, msisdn, code)
    assert landed.status_code == 303, landed.text
    return v


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_subscriber_logs_in_by_sms_code_once(world: PortalWorld) -> None:
    with Visitor(world.base_url) as v:
        login_page = v.get("/login")
        assert 'href="/login/sms?next=' in login_page.text
        empty = ask_code(v, "")
        assert field_error(empty.text, "msisdn") == "Fill this in."
        unknown = ask_code(v, "17000000001")
        assert unknown.status_code == 404
        assert field_error(unknown.text, "msisdn") == (
            "This number does not belong to a connected brand."
        )
        sent = ask_code(v, world.msisdn)
        assert sent.status_code == 200
        assert "A code was sent by SMS to" in sent.text
        assert 'autocomplete="one-time-code"' in sent.text
        code = sms_fake.gateway().last_code(world.msisdn)
        assert code is not None
        # The number gets a new code at most once a minute: said by the field.
        again = ask_code(v, world.msisdn)
        assert again.status_code == 429
        assert "wait" in (field_error(again.text, "msisdn") or "")
        bad = enter_code(v, world.msisdn, wrong(code))
        assert bad.status_code == 422
        assert field_error(bad.text, "code") == "The code is wrong: 4 tries left."
        assert v.get("/me").status_code == 303  # still not logged in
        right = enter_code(v, world.msisdn, code)
        assert right.status_code == 303
        assert right.headers["location"] == "/me"
        me = v.get("/me")
        assert me.status_code == 200
        assert f'href="/me/line/{world.msisdn}"' in me.text
        # A user for the holder was made, without a password: the SMS code is its key.
        users = t.user_account
        with world.db.read() as conn:
            made = conn.execute(
                select(users.c.username, users.c.password_hash).where(
                    users.c.username.like("sms-ind_%")
                )
            ).all()
        assert len(made) == 1
        assert made[0].password_hash is None
    with Visitor(world.base_url) as other:
        # The same code a second time is refused: it was used.
        reused = enter_code(other, world.msisdn, code)
        assert reused.status_code == 422
        assert field_error(reused.text, "code") == (
            "This code was already used, or none was sent: ask for a new one."
        )
        assert other.get("/me").status_code == 303
    # A second SMS log-in (a minute later) finds the same user, not a new one.
    sms_fake.gateway().reset()
    with clock.frozen(clock.now() + timedelta(minutes=2)):
        second = sms_login(world, world.msisdn)
        assert second.get("/me").status_code == 200
        second.http.close()
    with world.db.read() as conn:
        count = conn.execute(select(users.c.id).where(users.c.username.like("sms-ind_%"))).all()
    assert len(count) == 1


def test_too_many_wrong_codes_lock_the_code(world: PortalWorld) -> None:
    with Visitor(world.base_url) as v:
        assert ask_code(v, world.other_msisdn).status_code == 200
        code = sms_fake.gateway().last_code(world.other_msisdn)
        assert code is not None
        for left in (4, 3, 2, 1):
            bad = enter_code(v, world.other_msisdn, wrong(code))
            assert field_error(bad.text, "code") == f"The code is wrong: {left} tries left."
        fifth = enter_code(v, world.other_msisdn, wrong(code))
        assert field_error(fifth.text, "code") == "The code is wrong: 0 tries left."
        locked = enter_code(v, world.other_msisdn, code)  # right, but too late
        assert locked.status_code == 422
        assert field_error(locked.text, "code") == (
            "Too many wrong codes: this code is locked. Ask for a new one."
        )
        assert v.get("/me").status_code == 303
        malformed = enter_code(v, world.other_msisdn, "12ab")
        assert field_error(malformed.text, "code") == "The code has 6 digits."


def test_a_subscriber_sees_only_own_lines(world: PortalWorld) -> None:
    v = sms_login(world, world.msisdn)
    with v:
        own = v.get(f"/me/line/{world.msisdn}")
        assert own.status_code == 200
        assert "Allowances left this month" in own.text
        balance = yuan.format_fen(line_fen(world, world.msisdn))
        assert f'<p class="figure balance">¥{balance}</p>' in own.text
        # Another holder's line of the same brand, and a nonsense number: both 404.
        assert v.get(f"/me/line/{world.other_msisdn}").status_code == 404
        assert v.get("/me/line/12345").status_code == 404
        foreign_pay = v.submit(
            f"/me/line/{world.msisdn}",
            f"/me/line/{world.other_msisdn}/pay",
            {"amount": "10", "key": "k-foreign"},
        )
        assert foreign_pay.status_code == 404
        # Tickets: the number list offers only own lines; a foreign number is refused.
        tickets = v.get("/me/tickets")
        assert f'<option value="{world.msisdn}"' in tickets.text
        assert world.other_msisdn not in tickets.text
        refused = v.submit(
            "/me/tickets",
            "/me/tickets",
            {
                "msisdn": world.other_msisdn,
                "ticketType": "complaint",
                "severity": "minor",
                "description": "not mine",
            },
        )
        assert refused.status_code == 422
        assert field_error(refused.text, "msisdn") == (
            "This number does not belong to a connected brand."
        )


def _sold_vouchers(world: PortalWorld, count: int, face_fen: int) -> list[dict[str, str]]:
    op, m1 = world.w.op, world.w.org["m1"]
    batch = vouchers.create_batch(
        world.db,
        op,
        face_value_fen=face_fen,
        count=count,
        expires_on=clock.now().date() + timedelta(days=365),
        mvno_id=m1,
    )
    vouchers.distribute(world.db, op, batch["id"], world.w.org["o1"])
    vouchers.sell(world.db, op, batch["id"], idempotency_key=f"sell-{batch['id']}")
    printed: list[dict[str, str]] = batch["vouchers"]
    return printed


def test_a_voucher_credits_the_line_once(world: PortalWorld) -> None:
    (voucher,) = _sold_vouchers(world, 1, 5000)
    before = line_fen(world, world.msisdn)
    v = sms_login(world, world.msisdn)
    with v:
        page = v.get(f"/me/line/{world.msisdn}")
        keys = KEY.findall(page.text)
        pin_key = keys[1]  # pay, voucher, SIM
        action = f"/me/line/{world.msisdn}/voucher"
        short = v.submit(page.request.url.path, action, {"pin": "1234", "key": pin_key})
        assert short.status_code == 422
        assert field_error(short.text, "pin") == "A PIN has 16 digits."
        pin = " ".join(voucher["pin"][i : i + 4] for i in range(0, 16, 4))  # as printed
        done = v.submit(page.request.url.path, action, {"pin": pin, "key": pin_key})
        assert done.status_code == 200
        assert "¥50.00 was added to your balance." in done.text
        assert line_fen(world, world.msisdn) == before + 5000
        # The same form again (a reload): the first answer, no second credit.
        replay = v.submit(page.request.url.path, action, {"pin": voucher["pin"], "key": pin_key})
        assert "nothing was added twice" in replay.text
        # A new form with the used PIN: refused by the field.
        used = v.submit(
            page.request.url.path, action, {"pin": voucher["pin"], "key": "another-key"}
        )
        assert used.status_code == 422
        assert field_error(used.text, "pin") == (
            "This PIN cannot be redeemed: it is wrong, used, blocked or not sold yet."
        )
        assert line_fen(world, world.msisdn) == before + 5000


def test_wrong_pins_are_rate_limited(world: PortalWorld) -> None:
    (voucher,) = _sold_vouchers(world, 1, 2000)
    before = line_fen(world, world.msisdn)
    v = sms_login(world, world.msisdn)
    with v:
        action = f"/me/line/{world.msisdn}/voucher"
        for n in range(5):
            bad = v.submit(action.rsplit("/", 1)[0], action, {"pin": f"{n:016d}", "key": f"w{n}"})
            assert bad.status_code == 422
        limited = v.submit(
            action.rsplit("/", 1)[0], action, {"pin": voucher["pin"], "key": "right"}
        )
        assert field_error(limited.text, "pin") == (
            "Too many wrong PINs: wait ten minutes and try again."
        )
    assert line_fen(world, world.msisdn) == before  # the right PIN, refused while limited


def test_a_gateway_recharge_is_pending_until_the_signed_callback(world: PortalWorld) -> None:
    before = line_fen(world, world.msisdn)
    v = sms_login(world, world.msisdn)
    with v:
        line = f"/me/line/{world.msisdn}"
        bad = v.submit(line, f"{line}/pay", {"amount": "0", "key": "k0"})
        assert field_error(bad.text, "amount") == (
            "Enter an amount in yuan above zero, with at most two decimals."
        )
        page = v.get(line)
        pay_key = KEY.findall(page.text)[0]
        sent = v.submit(line, f"{line}/pay", {"amount": "30", "key": pay_key})
        assert sent.status_code == 303
        target = urlsplit(sent.headers["location"])
        assert target.path.startswith("/fake-gateway/pay/")
        query = parse_qs(target.query)
        assert query["amountFen"] == ["3000"]
        back = query["returnUrl"][0]
        assert back.startswith(f"{line}/payments/")
        pending = v.get(back)
        assert 'data-status="pending"' in pending.text
        assert "Waiting for the payment gateway" in pending.text
        # The payer confirms on the gateway's page; it links back to the portal.
        paid = v.http.post(sent.headers["location"], data={"amountFen": "3000", "outcome": "paid"})
        assert f'href="{back}"' in paid.text
        deadline = time.monotonic() + 10
        while 'data-status="paid"' not in (shown := v.get(back)).text:
            assert time.monotonic() < deadline, shown.text
            time.sleep(0.1)
        assert "Payment received: ¥30.00 was added to your balance." in shown.text
        assert line_fen(world, world.msisdn) == before + 3000
        time.sleep(0.5)  # the duplicate and the stale 'failed' callbacks change nothing
        assert line_fen(world, world.msisdn) == before + 3000
        # Another holder cannot read this order, even under their own line's address.
    v2 = sms_login(world, world.other_msisdn)
    with v2:
        order = back.rsplit("/", 1)[1]
        assert v2.get(f"/me/line/{world.other_msisdn}/payments/{order}").status_code == 404


def test_a_ticket_opened_appears_in_the_list_with_its_history(world: PortalWorld) -> None:
    v = sms_login(world, world.msisdn)
    with v:
        listing = v.get(f"/me/tickets?msisdn={world.msisdn}")
        assert "No tickets yet." in listing.text
        missing = v.submit(
            "/me/tickets",
            "/me/tickets",
            {"msisdn": world.msisdn, "ticketType": "complaint", "severity": "minor"},
        )
        assert field_error(missing.text, "description") == "Fill this in."
        too_long = v.submit(
            "/me/tickets",
            "/me/tickets",
            {
                "msisdn": world.msisdn,
                "ticketType": "complaint",
                "severity": "minor",
                "description": "话" * 2001,
            },
        )
        assert too_long.status_code == 422
        too_long_error = field_error(too_long.text, "description")
        assert too_long_error == "Too long: at most 2000 characters."
        opened = v.submit(
            "/me/tickets",
            "/me/tickets",
            {
                "msisdn": world.msisdn,
                "ticketType": "rechargeNotReceived",
                "severity": "major",
                "name": "充值未到账",
                "description": "11月27日充值50元未到账",
            },
        )
        assert opened.status_code == 303
        detail = v.get(opened.headers["location"])
        assert "Your ticket was opened" in detail.text
        assert '<dd class="status">Received</dd>' in detail.text
        assert "Passed to the service desk" in detail.text
        listing = v.get("/me/tickets")
        assert "充值未到账" in listing.text
        assert "Recharge not received" in listing.text
        noted = v.submit(opened.headers["location"], opened.headers["location"], {"note": "还没到"})
        assert noted.status_code == 303
        assert '<q class="note">还没到</q>' in v.get(opened.headers["location"]).text
        # The SIM replacement request is a ticket of its own type.
        line = f"/me/line/{world.msisdn}"
        sim_key = KEY.findall(v.get(line).text)[2]
        wordy = v.submit(line, f"{line}/sim", {"description": "话" * 2000, "key": "wordy"})
        assert wordy.status_code == 422  # the words put before it make it too long
        assert field_error(wordy.text, "description") == "Too long: at most 2000 characters."
        assert 'name="lost"' in v.get(line).text  # an active line may be barred at once
        sim = v.submit(
            line, f"{line}/sim", {"description": "手机丢了", "lost": "1", "key": sim_key}
        )
        assert sim.status_code == 303
        sim_page = v.get(sim.headers["location"])
        assert '<dd class="status">Received</dd>' in sim_page.text
        assert "SIM replacement" in sim_page.text
        assert "bring your ID" in sim_page.text
        # 挂失: the line is barred at once, before the desk replaces the card.
        assert 'data-state="lost"' in v.get(line).text
    tt = t.trouble_ticket
    with world.db.read() as conn:
        rows = conn.execute(
            unscoped(select(tt.c.ticket_type, tt.c.channel, tt.c.msisdn), "test")
        ).all()
    assert sorted((r.ticket_type, r.channel, r.msisdn) for r in rows) == [
        ("rechargeNotReceived", "selfCare", world.msisdn),
        ("simReplacement", "selfCare", world.msisdn),
    ]
    # Another holder sees none of them.
    v2 = sms_login(world, world.other_msisdn)
    with v2:
        assert "No tickets yet." in v2.get("/me/tickets").text
        assert v2.get(opened.headers["location"]).status_code == 404


def test_the_lookup_shows_channels_outlets_and_the_way_to_a_ticket(world: PortalWorld) -> None:
    with Visitor(world.base_url) as v:
        page = v.get("/lookup", params={"msisdn": world.msisdn})
        assert page.status_code == 200
        assert '<dd class="website"><a href="https://m1.example/"' in page.text
        assert '<dt>WeChat</dt>\n    <dd class="service-channel">m1-brand-kefu</dd>' in page.text
        assert 'href="https://app.m1.example/"' in page.text
        outlets = re.findall(r'<span class="outlet-name">([^<]+)</span>', page.text)
        assert outlets, page.text
        o = t.organization
        with world.db.read() as conn:
            o1 = conn.execute(
                unscoped(select(o.c.name).where(o.c.id == world.w.org["o1"]), "test")
            ).scalar_one()
        assert o1 in outlets
        assert f"/login/sms?msisdn={world.msisdn}&amp;next=%2Fme%2Ftickets" in page.text
    with Visitor(world.base_url, "zh-CN") as v:
        page = v.get("/lookup", params={"msisdn": world.msisdn})
        assert "在哪里充值" in page.text
        assert "<dt>微信</dt>" in page.text


@pytest.mark.parametrize(
    ("prefix", "values"),
    [
        ("self.ticket_type.", [k.value for k in TicketType]),
        ("self.ticket_status.", [s.value for s in TicketStatus]),
        ("self.severity.", [s.value for s in Severity]),
        ("self.pay.status.", ["pending", "paid", "failed"]),
        ("self.move.", ["closed", "inProgress"]),
        ("self.usage.", ["voice", "sms", "data"]),
        ("self.unit.", ["min", "sms", "mb"]),
    ],
)
def test_every_name_shown_by_self_care_is_in_both_catalogues(
    prefix: str, values: list[str]
) -> None:
    for lang in i18n.SUPPORTED:
        assert {prefix + v for v in values} <= set(i18n.catalogue(lang)), lang


def test_a_subscriber_opens_a_pack_once_and_closes_it(world: PortalWorld) -> None:
    assert world.sw is not None
    pack = ids.to_public("product_offering", world.sw.cw.offer["pack"])
    before = line_fen(world, world.msisdn)
    v = sms_login(world, world.msisdn)
    with v:
        page = v.get(f"/me/line/{world.msisdn}")
        row = re.search(rf'<tr data-offering="{pack}" data-active="no">.*?</tr>', page.text, re.S)
        assert row is not None  # the MVNO's pack, offered, not on the line
        key = re.search(r'name="key" value="([^"]+)"', row.group(0)).group(1)  # type: ignore[union-attr]
        action = f"/me/line/{world.msisdn}/services"
        form = {"offering": pack, "action": "add", "key": key}
        opened = v.submit(page.request.url.path, action, form)
        assert opened.status_code == 200, opened.text
        assert f'data-offering="{pack}" data-active="yes"' in opened.text
        assert line_fen(world, world.msisdn) == before - 2000  # the pack's price, once
        again = v.submit(page.request.url.path, action, form)  # a resent form: replayed
        assert again.status_code == 200
        assert line_fen(world, world.msisdn) == before - 2000
        other = v.submit(page.request.url.path, f"/me/line/{world.other_msisdn}/services", form)
        assert other.status_code == 404  # another holder's line
        closed = v.submit(
            page.request.url.path, action, {"offering": pack, "action": "remove", "key": "k2"}
        )
        assert f'data-offering="{pack}" data-active="no"' in closed.text
        unknown = v.submit(
            page.request.url.path, action, {"offering": "nope", "action": "add", "key": "k3"}
        )
        assert unknown.status_code == 422
        assert 'id="f-service-error"' in unknown.text


def test_a_services_form_with_an_unknown_action_changes_nothing(world: PortalWorld) -> None:
    """Only "add" and "remove": any other action (a forged or garbled form) is a 400 page,
    not a closing of the pack."""
    assert world.sw is not None
    pack = ids.to_public("product_offering", world.sw.cw.offer["pack"])
    v = sms_login(world, world.msisdn)
    with v:
        page = v.get(f"/me/line/{world.msisdn}")
        action = f"/me/line/{world.msisdn}/services"
        form = {"offering": pack, "action": "add", "key": "odd-add"}
        opened = v.submit(page.request.url.path, action, form)
        assert opened.status_code == 200, opened.text
        assert f'data-offering="{pack}" data-active="yes"' in opened.text
        after_opening = line_fen(world, world.msisdn)
        for odd in ("open", "", "ADD"):
            form = {"offering": pack, "action": odd, "key": f"odd-{odd}"}
            refused = v.submit(page.request.url.path, action, form)
            assert refused.status_code == 400, (odd, refused.text)
            assert "Unknown action." in refused.text
        still = v.get(f"/me/line/{world.msisdn}")
        assert f'data-offering="{pack}" data-active="yes"' in still.text
        assert line_fen(world, world.msisdn) == after_opening
