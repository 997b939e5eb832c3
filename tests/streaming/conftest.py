"""The usage stream's tests: a real NATS server (CI starts one on 127.0.0.1:4222; without it
these tests skip), a stream of their own per test (deleted after), real databases."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pytest
from sqlalchemy import select

from openmvne import clock
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.services import subscriber_orders, usage_generate
from openmvne.streaming import layout
from tests.subscribers_world import SubscribersWorld, build_subscribers

NATS_URL = os.environ.get("OPENMVNE_NATS_URL", layout.DEFAULT_URL)


def nats_reachable(url: str) -> bool:
    first = urlparse(url.split(",")[0].strip())
    try:
        with socket.create_connection((first.hostname or "127.0.0.1", first.port or 4222), 1):
            return True
    except OSError:
        return False


@pytest.fixture
def nats_url() -> str:
    if not nats_reachable(NATS_URL):
        pytest.skip(f"no NATS server at {NATS_URL} (.ci/run starts one)")
    return NATS_URL


@pytest.fixture
def stream(nats_url: str) -> Iterator[layout.Layout]:
    """A stream of this test's own, so parallel and repeated runs never meet; deleted after."""
    mine = layout.Layout(stream=f"TEST_{os.getpid()}_{uuid.uuid4().hex[:10]}")
    yield mine
    asyncio.run(layout.delete_stream(nats_url, mine))


def usage_month() -> datetime:
    """Midnight (Beijing) of last month's first day: usage in it is all in the past, in one
    billing period, for processes that run on the real clock."""
    beijing = datetime.now(UTC) + timedelta(hours=8)
    this_month = beijing.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    return last_month - timedelta(hours=8)


def build_lines(db: Database, count: int = 12) -> tuple[SubscribersWorld, list[str]]:
    """`count` lines opened at the start of last month: every third on the plan (allowances),
    the others pay-as-you-go with little money (some run out and go into arrears)."""
    with clock.frozen(usage_month() + timedelta(hours=1)):
        world = build_subscribers(db, o1_card_count=count)
        lines = []
        for i in range(count):
            if i % 3 == 0:
                msisdn, _ = world.sale(db, seq=i + 1, offer="plan", prepayment_fen=10_000)
            else:
                msisdn, _ = world.sale(db, seq=i + 1, offer="payg", prepayment_fen=500 * i)
            lines.append(msisdn)
        world.settle(db)
    return world, lines


def usage_for(lines: list[str], *, per_day: float = 100.0, days: int = 20) -> pa.Table:
    first = (usage_month() + timedelta(hours=8)).date()
    return usage_generate.generate(
        lines, days=days, start=date(first.year, first.month, 2), seed=3, per_day=per_day
    )


def outcome(db: Database, world: SubscribersWorld, lines: list[str]) -> dict[str, Any]:
    """Everything rating decides, by line: the period rows, the line's state and debt, its
    balance; and the MVNO's wholesale cost."""
    up, sub, uc = t.usage_period, t.subscription, t.usage_cost
    with db.read() as conn:
        periods = {
            (r["msisdn"], r["period"]): {
                k: r[k]
                for k in (
                    "voice_allow_s",
                    "sms_allow",
                    "data_allow_kb",
                    "rollover_kb",
                    "voice_used_s",
                    "sms_used",
                    "data_used_kb",
                    "data_over_kb",
                    "records",
                    "charge_exact",
                    "charged_fen",
                    "unpaid_fen",
                    "wholesale_exact",
                )
            }
            for r in conn.execute(unscoped(select(up), "test")).mappings()
        }
        states = {
            r.msisdn: (r.state, r.debt_fen)
            for r in conn.execute(
                unscoped(select(sub.c.msisdn, sub.c.state, sub.c.debt_fen), "test")
            )
        }
        costs = sorted(
            (r.period, int(r.wholesale_exact), int(r.wholesale_fen))
            for r in conn.execute(
                unscoped(select(uc.c.period, uc.c.wholesale_exact, uc.c.wholesale_fen), "test")
            )
        )
    admin = world.w.actor["mvnoAdmin"]
    balances = {m: subscriber_orders.summary(db, admin, m)["balance"].available for m in lines}
    return {"periods": periods, "states": states, "balances": balances, "costs": costs}
