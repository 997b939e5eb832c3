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
from openmvne.demo import seed
from openmvne.network.simulator import SimulatedHostNetwork

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
