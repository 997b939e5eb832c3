"""The demo world is reproducible: the same seed gives the same business."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from openmvne import clock
from openmvne.config import get_settings
from openmvne.db import migrate
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.demo import seed, simulate
from openmvne.network import wiring
from openmvne.network.simulator import SimulatedHostNetwork
from openmvne.services import money

AT = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def world(tmp: Path, seed_value: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    url = f"sqlite:///{tmp / 'demo.db'}"
    migrate.upgrade(url)
    db = Database(url)
    monkeypatch.setattr(get_settings(), "usage_dir", str(tmp / "usage"))
    with clock.frozen(AT):
        built = seed.seed(
            db, seed_value, network=SimulatedHostNetwork(), per_outlet=2, history_days=6
        )
    with db.read() as conn:
        sub = t.subscription
        lines = sorted(
            (r.msisdn, r.state, r.iccid, r.debt_fen)
            for r in conn.execute(
                unscoped(select(sub.c.msisdn, sub.c.state, sub.c.iccid, sub.c.debt_fen), "test")
            )
        )
    db.dispose()
    return {"lines": lines, "usage": built.usage, "states": dict(built.lines)}


def test_same_seed_same_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    first = world(tmp_path / "a", 7, monkeypatch)
    second = world(tmp_path / "b", 7, monkeypatch)
    assert first == second
    assert len(first["lines"]) == 96  # 2 lines at each of 8 outlets of 6 MVNOs
    assert first["usage"]["rated"] > 0
    other = world(tmp_path / "c", 8, monkeypatch)
    assert other["lines"] != first["lines"]


def test_the_simulation_sells_opens_tickets_and_keeps_the_books(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    migrate.upgrade(url)
    db = Database(url)
    monkeypatch.setattr(get_settings(), "usage_dir", str(tmp_path / "usage"))
    # One host network for the seed and the simulation, as in `make run` (a file both open).
    monkeypatch.setattr(get_settings(), "network_state_path", str(tmp_path / "network.sqlite"))
    network = wiring.from_settings(get_settings())
    with clock.frozen(AT):
        built = seed.seed(db, 3, network=network, per_outlet=2, history_days=22)
    assert built.tickets > 0  # the desks have work from the start
    assert built.settled == ["2026-10"]  # the history began on 29 October: October is closed
    with db.read() as conn:
        runs = conn.execute(unscoped(select(t.settlement_run.c.status), "test")).scalars().all()
    assert sorted(set(runs)) == ["closed"]
    assert len(runs) == 6  # one per MVNO
    tt, sub = t.trouble_ticket, t.subscription
    with db.read() as conn:
        lines_before = conn.execute(unscoped(select(sub.c.id), "test")).all()
        teams = conn.execute(unscoped(select(tt.c.team_id).distinct(), "test")).scalars().all()
    assert len(teams) >= 2  # tickets routed to the partner's team and to the MVNOs' desks
    with clock.frozen(AT):
        done = simulate.simulate(db, 3, seed=3)
    with db.read() as conn:
        lines_after = conn.execute(unscoped(select(sub.c.id), "test")).all()
        statuses = set(conn.execute(unscoped(select(tt.c.status), "test")).scalars())
    assert done["linesSold"] > 0
    assert len(lines_after) - len(lines_before) == done["linesSold"]
    assert done["ticketsOpened"] > 0
    assert done["records"] > 0
    assert {"inProgress", "resolved"} & statuses
    assert money.check(db) == []  # Σ = 0 and every cached balance equals its transfers
    db.dispose()
