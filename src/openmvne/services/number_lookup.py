"""Which brand is this number? Public: host network, MVNO, brand, hotline, in service or
not, home region; and what to do next: the brand's service channels and the outlets of the
home region where it can be recharged (any approved outlet of any connected MVNO recharges
any brand). Never anything about the subscriber."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.care import region_prefix
from openmvne.domain.numbers import HOST_NAMES, NumberState, host_of, parse_msisdn
from openmvne.domain.parties import OrgKind, PartyStatus

blk = t.number_block
o = t.organization

WHY = "the public brand lookup: operator facts only, no subscriber data"
MAX_OUTLETS = 20


def _outlets(conn: Connection, region_code: str | None) -> list[dict[str, Any]]:
    """Outlets located in the home region with an approved authorisation of any MVNO. The
    organisation has no street address: its name and region are what we show."""
    if region_code is None:
        return []
    ca = t.channel_authorisation
    stmt = (
        select(o.c.name, o.c.region_code)
        .where(
            o.c.kind == OrgKind.OUTLET.value,
            o.c.status == PartyStatus.ACTIVE.value,
            o.c.region_code.startswith(region_prefix(region_code)),
            o.c.id.in_(select(ca.c.party_id).where(ca.c.status == "approved")),
        )
        .order_by(o.c.name)
        .limit(MAX_OUTLETS)
    )
    return [dict(r) for r in conn.execute(unscoped(stmt, WHY)).mappings()]


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
        "website": None,
        "service_channels": [],
        "outlets": [],
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
                    select(
                        t.brand.c.name,
                        t.brand.c.hotline,
                        t.brand.c.website,
                        t.brand.c.service_channels,
                    ).where(t.brand.c.id == block.brand_id),
                    WHY,
                )
            ).first()
            if brand is not None:
                result["brand_name"], result["hotline"] = brand.name, brand.hotline
                result["website"] = brand.website
                result["service_channels"] = list(brand.service_channels or [])
        if block.mvno_id is not None:
            result["outlets"] = _outlets(conn, block.region_code)
        state = conn.execute(
            unscoped(select(t.number.c.state).where(t.number.c.msisdn == m.national), WHY)
        ).scalar()
        result["in_service"] = state == NumberState.IN_USE.value
    return result
