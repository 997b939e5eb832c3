"""Which brand is this number? Public: host network, MVNO, brand, hotline, in service or
not, home region. Never anything about the subscriber."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.numbers import HOST_NAMES, NumberState, host_of, parse_msisdn

blk = t.number_block
o = t.organization

WHY = "the public brand lookup: operator facts only, no subscriber data"


def lookup(db: Database, msisdn: str) -> dict[str, Any]:
    m = parse_msisdn(msisdn)
    host = host_of(m.national)
    assert host is not None  # parse_msisdn accepts resale numbers only
    result: dict[str, Any] = {
        "msisdn": m.national,
        "e164": m.e164,
        "host_network": host.value,
        "host_network_name": HOST_NAMES[host],
        "registered": False,
        "mvno_name": None,
        "brand_name": None,
        "hotline": None,
        "region_code": None,
        "in_service": False,
    }
    with db.read() as conn:
        block = conn.execute(
            unscoped(
                select(blk.c.mvno_id, blk.c.brand_id, blk.c.region_code).where(
                    blk.c.prefix == m.block_prefix
                ),
                WHY,
            )
        ).first()
        if block is None:
            return result
        result["registered"] = True
        result["region_code"] = block.region_code
        if block.mvno_id is not None:
            result["mvno_name"] = conn.execute(
                unscoped(select(o.c.name).where(o.c.id == block.mvno_id), WHY)
            ).scalar()
        if block.brand_id is not None:
            brand = conn.execute(
                unscoped(
                    select(t.brand.c.name, t.brand.c.hotline).where(t.brand.c.id == block.brand_id),
                    WHY,
                )
            ).first()
            if brand is not None:
                result["brand_name"], result["hotline"] = brand.name, brand.hotline
        state = conn.execute(
            unscoped(select(t.number.c.state).where(t.number.c.msisdn == m.national), WHY)
        ).scalar()
        result["in_service"] = state == NumberState.IN_USE.value
    return result
