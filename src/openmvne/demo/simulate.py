"""`mvne demo simulate --days N`: the demo business lives on, one day at a time, on a clock
that runs ahead: the day's usage rated, new lines sold at outlets from the cards on their
shelves, recharges at outlets of every brand, tickets opened at outlets and worked by the
desks (breaches escalated), the lifecycle step (fees, arrears timers), the outbox sent, and
each month settled when it ends."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from openmvne import clock
from openmvne.config import get_settings
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.demo import care as demo_care
from openmvne.demo import subscribers as demo_subscribers
from openmvne.domain import settlement as rules
from openmvne.domain.parties import OrgKind
from openmvne.domain.subscribers import LineState, local_date
from openmvne.errors import DomainError
from openmvne.network import wiring
from openmvne.services import (
    care,
    charging,
    lifecycle,
    money,
    provisioning,
    settlement,
    usage,
    usage_generate,
    users,
)

SALES_PER_MVNO_PER_DAY = 3


def _recharged_today(db: Database, rng: random.Random) -> list[str]:
    """Who tops up today: one in 25 of the lines in service, and a third of those barred
    for arrears (people recharge when their phone stops working)."""
    active = demo_subscribers.lines_in(db, LineState.ACTIVE)
    barred = demo_subscribers.lines_in(
        db, LineState.ARREARS_OUT_BARRED, LineState.ARREARS_BOTH_BARRED
    )
    return rng.sample(active, len(active) // 25) + rng.sample(barred, len(barred) // 3)


def _outlets(db: Database) -> list[uuid.UUID]:
    o = t.organization
    with db.read() as conn:
        return list(
            conn.execute(
                unscoped(
                    select(o.c.id).where(o.c.kind == OrgKind.OUTLET.value).order_by(o.c.id), "demo"
                )
            ).scalars()
        )


def simulate(
    db: Database, days: int, *, seed: int = 2016, progress: Callable[[int], None] | None = None
) -> Counter[str]:
    rng = random.Random(seed)
    op = users.operator(db)
    network = wiring.from_settings(get_settings())
    lake = Path(get_settings().usage_dir)
    outlets = _outlets(db)
    start = clock.now()
    done: Counter[str] = Counter()
    for day in range(1, days + 1):
        at = start + timedelta(days=day)
        with clock.frozen(at):
            yesterday = local_date(at) - timedelta(days=1)
            lines = demo_subscribers.lines_in(db, LineState.ACTIVE)
            if lines:
                table = usage_generate.generate(
                    lines, days=1, start=yesterday, seed=seed * 1000 + day,
                    seq_base=(day + 1) * 10_000_000,
                )  # fmt: skip
                rated = usage.rate_table(db, table, lake=lake, source=f"simulated {yesterday}")
                done["records"] += rated.rated
                done["chargedFen"] += rated.charged_fen
            for n, line in enumerate(_recharged_today(db, rng)):
                try:
                    money.recharge(
                        db, op, msisdn=line, amount_fen=rng.choice([3000, 5000, 10_000]),
                        channel_order_number=f"sim-{day}-{n}",
                        idempotency_key=f"sim-{seed}-{day}-{n}", outlet_id=rng.choice(outlets),
                    )  # fmt: skip
                    done["recharges"] += 1
                except DomainError:
                    done["rechargesRefused"] += 1
            sales = demo_subscribers.sell_more(db, op, rng, SALES_PER_MVNO_PER_DAY, f"d{day}")
            done.update({f"lines{k.capitalize()}": v for k, v in sales.items()})
            done["ticketsOpened"] += demo_care.open_tickets(
                db, outlets, rng, max(1, len(lines) // 250), f"sim-{seed}-{day}"
            )
            done.update(demo_care.work_tickets(db, rng, share=0.5))
            done["ticketsEscalated"] += care.escalate_breaches(db)["breached"]
            ticked = lifecycle.tick(db)
            done["timersExpired"] += ticked["timersExpired"]
            done["feesCharged"] += ticked["feesCharged"]
            charging.expire(db)
            provisioning.drain(db, network)
            this_month = rules.month_of(at)
            if rules.month_of(at - timedelta(days=1)) != this_month:
                ended = rules.add_months(this_month, -1)
                settlement.settle(db, op, ended, close=True)
                done["monthsSettled"] += 1
        if progress is not None:
            progress(1)
    return done
