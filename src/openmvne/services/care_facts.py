"""What care needs to know about a number: its MVNO, brand and home region (its block's),
and its line."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, select

from openmvne.db import tables as t
from openmvne.db.scoping import unscoped
from openmvne.domain.numbers import parse_msisdn
from openmvne.domain.subscribers import FINAL, LineState
from openmvne.errors import NotFound

WHY = "care finds the number's operator and line before any scope is decided"


@dataclass(frozen=True)
class BlockFacts:
    msisdn: str
    mvno_id: uuid.UUID
    brand_id: uuid.UUID | None
    brand_name: str | None
    region_code: str | None


@dataclass(frozen=True)
class NumberFacts(BlockFacts):
    subscription_id: uuid.UUID
    individual_id: uuid.UUID
    line_state: LineState


def _unknown(msisdn: str) -> NotFound:
    return NotFound(
        f"{msisdn} is not a line of a connected brand", code="unknown_number", field="msisdn"
    )


def block_facts(conn: Connection, msisdn: str) -> BlockFacts:
    """The number's MVNO, brand and home region; 404 unknown_number if no MVNO has it."""
    m = parse_msisdn(msisdn)
    blk = t.number_block
    block = conn.execute(
        unscoped(
            select(blk.c.mvno_id, blk.c.brand_id, blk.c.region_code).where(
                blk.c.prefix == m.block_prefix
            ),
            WHY,
        )
    ).first()
    if block is None or block.mvno_id is None:
        raise _unknown(m.national)
    brand = None
    if block.brand_id is not None:
        brand = conn.execute(
            unscoped(select(t.brand.c.name).where(t.brand.c.id == block.brand_id), WHY)
        ).scalar()
    return BlockFacts(m.national, block.mvno_id, block.brand_id, brand, block.region_code)


def number_facts(conn: Connection, msisdn: str, *, live: bool = False) -> NumberFacts:
    """The block's facts and the number's latest line (a live one if `live`); 404
    unknown_number when it is no connected brand's line."""
    block = block_facts(conn, msisdn)
    sub = t.subscription
    line = conn.execute(
        unscoped(
            select(sub.c.id, sub.c.individual_id, sub.c.state, sub.c.mvno_id)
            .where(sub.c.msisdn == block.msisdn)
            .order_by(sub.c.id.desc())
            .limit(1),
            WHY,
        )
    ).first()
    if line is None or line.mvno_id != block.mvno_id or (live and LineState(line.state) in FINAL):
        raise _unknown(block.msisdn)
    return NumberFacts(
        block.msisdn,
        block.mvno_id,
        block.brand_id,
        block.brand_name,
        block.region_code,
        line.id,
        line.individual_id,
        LineState(line.state),
    )
