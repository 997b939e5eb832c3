"""Numbers on top of tests/world.py: segment 171 on the host; M1 owns three blocks in
Shenzhen (the first granted to P1, the third to P2, the second kept), M2 owns one."""

from __future__ import annotations

from dataclasses import dataclass

from openmvne.db.engine import Database
from openmvne.domain.numbers import BLOCK_SIZE, NumberRange
from openmvne.services import number_supply
from tests.world import World, build


@dataclass
class NumbersWorld:
    w: World
    m1_blocks: list[str]
    m2_blocks: list[str]

    def number(self, block: str, offset: int) -> str:
        return f"{block}{offset:04d}"


def block_range(prefix: str) -> NumberRange:
    first = int(prefix) * BLOCK_SIZE
    return NumberRange(first, first + BLOCK_SIZE - 1)


def build_numbers(db: Database) -> NumbersWorld:
    w = build(db)
    op = w.op
    segment = number_supply.register_segment(db, op, "171", w.org["host"])
    m1 = number_supply.allocate_now(
        db, op, mvno_id=w.org["m1"], segment_id=segment["id"], block_count=3, region_code="440300"
    )["granted_prefixes"]
    number_supply.update_policy(db, op, w.org["m2"], {"utilisation_threshold_pct": 0})
    m2 = number_supply.allocate_now(
        db, op, mvno_id=w.org["m2"], segment_id=segment["id"], block_count=1, region_code="440300"
    )["granted_prefixes"]
    number_supply.grant_sale_right(db, op, holder_id=w.auth["a_p1"], numbers=block_range(m1[0]))
    number_supply.grant_sale_right(db, op, holder_id=w.auth["a_p2"], numbers=block_range(m1[2]))
    return NumbersWorld(w, m1, m2)
