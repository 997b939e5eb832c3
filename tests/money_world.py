"""Money on top of tests/numbers_world.py: one line in service for M1 and one for M2, and
outlet O1 (M1's tree) with a float of 100 yuan."""

from __future__ import annotations

from dataclasses import dataclass

from openmvne.db.engine import Database
from openmvne.services import money
from openmvne.services import number_lifecycle as life
from tests.numbers_world import NumbersWorld, build_numbers


@dataclass
class MoneyWorld:
    nw: NumbersWorld
    line1: str
    line2: str


def open_line(db: Database, nw: NumbersWorld, number: str) -> str:
    op = nw.w.op
    reservation = life.reserve(db, op, [number])
    life.assign(db, op, reservation["id"], number, f"sale-{number}")
    life.activate(db, op, number)
    return number


def build_money(db: Database) -> MoneyWorld:
    nw = build_numbers(db)
    line1 = open_line(db, nw, nw.number(nw.m1_blocks[0], 1))
    line2 = open_line(db, nw, nw.number(nw.m2_blocks[0], 1))
    money.pay_float(
        db, nw.w.op, outlet_id=nw.w.org["o1"], amount_fen=10_000, idempotency_key="float-o1"
    )
    return MoneyWorld(nw, line1, line2)
