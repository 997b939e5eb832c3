"""Number supply: segments (host), block allocation (host → MVNO), sale rights (MVNO →
channels), and the MVNO's number policy and pretty-number rules."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from openmvne import clock, ids
from openmvne.db import audit, locks
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.listing import page
from openmvne.db.scoping import scoped, unscoped
from openmvne.domain import pretty, regions
from openmvne.domain.access import Actor, Scope, ScopeKind
from openmvne.domain.channels import AuthorisationStatus
from openmvne.domain.numbers import (
    BLOCK_SIZE,
    HostNetwork,
    NumberRange,
    NumberState,
    block_prefixes,
    check_segment_prefix,
    prefixes_overlap,
    segment_size,
    utilisation_allows,
)
from openmvne.domain.parties import OrgKind, Role
from openmvne.errors import Conflict, InvalidInput, NotFound, RuleViolation
from openmvne.services.common import (
    Filter,
    apply_filters,
    as_bool,
    as_public_id,
    fetch_visible,
    get_one,
    list_page,
    one_of,
    tenant_named,
)
from openmvne.services.number_common import EMPTY, forget_policy, policy_row

seg = t.number_segment
blk = t.number_block
req = t.number_allocation_request
sr = t.sale_right
o = t.organization
ca = t.channel_authorisation

BLOCK_FILTERS: dict[str, Filter] = {
    "segmentId": (blk.c.segment_id, as_public_id("number_segment")),
    "mvnoId": (blk.c.mvno_id, as_public_id("organization")),
    "regionCode": (blk.c.region_code, str),
    "prefix": (blk.c.prefix, str),
}
REQUEST_FILTERS: dict[str, Filter] = {
    "status": (req.c.status, one_of(("pending", "granted", "refused"))),
    "mvnoId": (req.c.mvno_id, as_public_id("organization")),
    "segmentId": (req.c.segment_id, as_public_id("number_segment")),
}
SALE_RIGHT_FILTERS: dict[str, Filter] = {
    "status": (sr.c.status, one_of(("active", "revoked"))),
    "holderId": (sr.c.holder_id, as_public_id("channel_authorisation")),
    "mvnoId": (sr.c.mvno_id, as_public_id("organization")),
}


# --- segments ---------------------------------------------------------------------------


def register_segment(
    db: Database, actor: Actor, prefix: str, host_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """A host network registers a resale segment; its 10,000-number blocks are created with
    it (one small row each; numbers themselves get no rows)."""
    actor.require(Role.PLATFORM_ADMIN, Role.HOST_ADMIN, action="register a number segment")
    host_id = tenant_named(actor, host_id, ScopeKind.HOST, what="host network", field="hostId")
    if host_id is None:
        raise InvalidInput("name the host network (hostId)", code="required", field="hostId")
    with db.write() as conn:
        host = fetch_visible(conn, o, actor.scope, host_id, what="host network", field="hostId")
        if host["kind"] != OrgKind.HOST_NETWORK.value or host["network_code"] is None:
            raise InvalidInput(
                "hostId must name a host network with its networkCode",
                code="not_a_host_network",
                field="hostId",
            )
        check_segment_prefix(prefix, HostNetwork(host["network_code"]))
        locks.lock(conn, "number-segments")
        for (existing,) in conn.execute(select(seg.c.prefix)):
            if prefixes_overlap(existing, prefix):
                raise Conflict(
                    f"segment {existing} is already registered and overlaps {prefix}",
                    code="segment_exists",
                    field="prefix",
                )
        segment_id = ids.new_id()
        now = clock.now()
        conn.execute(
            insert(seg).values(id=segment_id, prefix=prefix, host_id=host_id, created_at=now)
        )
        rows = [
            {
                "id": ids.new_id(),
                "prefix": p,
                "first_number": int(p) * BLOCK_SIZE,
                "segment_id": segment_id,
                "mvno_id": None,
                "brand_id": None,
                "region_code": None,
                "allocated_at": None,
                "taken": EMPTY,
                "taken_count": 0,
            }
            for p in block_prefixes(prefix)
        ]
        for start in range(0, len(rows), 5000):
            conn.execute(insert(blk), rows[start : start + 5000])
        audit.record(
            conn,
            actor,
            "segment.registered",
            "number_segment",
            segment_id,
            data={"prefix": prefix, "blocks": len(rows)},
        )
        return segment_dict(conn, segment_id)


def segment_dict(conn: Connection, segment_id: uuid.UUID) -> dict[str, Any]:
    row = conn.execute(select(seg).where(seg.c.id == segment_id)).mappings().first()
    if row is None:
        raise NotFound("no number segment with that id")
    counts = conn.execute(
        unscoped(
            select(func.count(), func.count(blk.c.mvno_id)).where(blk.c.segment_id == segment_id),
            "segment totals are public",
        )
    ).one()
    return {
        **row,
        "size": segment_size(row["prefix"]),
        "blocks": counts[0],
        "allocated_blocks": counts[1],
    }


def list_segments(db: Database) -> list[dict[str, Any]]:
    """Segments are public reference data: which host network runs which prefix."""
    with db.read() as conn:
        ids_ = conn.execute(select(seg.c.id).order_by(seg.c.prefix)).scalars().all()
        return [segment_dict(conn, s) for s in ids_]


def segment_by_prefix(db: Database, prefix: str) -> dict[str, Any]:
    with db.read() as conn:
        found = conn.execute(select(seg.c.id).where(seg.c.prefix == prefix)).scalar()
        if found is None:
            raise NotFound(f"no segment {prefix} is registered", field="segment")
        return segment_dict(conn, found)


def get_segment(db: Database, segment_id: uuid.UUID) -> dict[str, Any]:
    with db.read() as conn:
        return segment_dict(conn, segment_id)


# --- blocks and allocation ----------------------------------------------------------------


def list_blocks(
    db: Database, scope: Scope, filters: Mapping[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    filters = dict(filters)
    allocated = filters.pop("allocated", None)
    stmt = apply_filters(scoped(select(blk), blk, scope), filters, BLOCK_FILTERS)
    if allocated is not None:
        stmt = stmt.where(
            blk.c.mvno_id.is_not(None) if as_bool(allocated) else blk.c.mvno_id.is_(None)
        )
    with db.read() as conn:
        return page(conn, stmt, order_by=[blk.c.first_number], offset=offset, limit=limit)


def get_block(db: Database, scope: Scope, prefix: str) -> dict[str, Any]:
    with db.read() as conn:
        row = (
            conn.execute(scoped(select(blk).where(blk.c.prefix == prefix), blk, scope))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"no number block {prefix}")
    return dict(row)


def set_block_region(db: Database, actor: Actor, prefix: str, region_code: str) -> dict[str, Any]:
    """The host network sets a block's home region (归属地): an HLR setting that is the host's."""
    actor.require(Role.PLATFORM_ADMIN, Role.HOST_ADMIN, action="set a block's home region")
    regions.require_current(region_code)
    with db.write() as conn:
        row = (
            conn.execute(scoped(select(blk).where(blk.c.prefix == prefix), blk, actor.scope))
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"no number block {prefix}", field="prefix")
        conn.execute(update(blk).where(blk.c.id == row["id"]).values(region_code=region_code))
        audit.record(
            conn,
            actor,
            "block.region_set",
            "number_block",
            row["id"],
            mvno_id=row["mvno_id"],
            data={"region": region_code},
        )
        return {**row, "region_code": region_code}


def utilisation(conn: Connection, mvno_id: uuid.UUID) -> tuple[int, int]:
    """(numbers in use, numbers allocated) for an MVNO."""
    n = t.number
    in_use = conn.execute(
        unscoped(
            select(func.count()).where(n.c.mvno_id == mvno_id, n.c.state == NumberState.IN_USE),
            "utilisation counts",
        )
    ).scalar_one()
    blocks = conn.execute(
        unscoped(select(func.count()).where(blk.c.mvno_id == mvno_id), "utilisation counts")
    ).scalar_one()
    return in_use, blocks * BLOCK_SIZE


def request_blocks(
    db: Database,
    actor: Actor,
    *,
    segment_id: uuid.UUID,
    block_count: int,
    region_code: str | None,
    mvno_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """An MVNO asks its host network for more blocks."""
    actor.require(Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, action="request number blocks")
    mvno_id = tenant_named(actor, mvno_id, ScopeKind.MVNO, what="MVNO", field="mvnoId")
    if mvno_id is None:
        raise InvalidInput("name the MVNO (mvnoId)", code="required", field="mvnoId")
    if not 1 <= block_count <= 10_000:
        raise InvalidInput("blockCount is 1..10000", code="bad_count", field="blockCount")
    if region_code is not None:
        regions.require_current(region_code)
    with db.write() as conn:
        mvno = fetch_visible(conn, o, actor.scope, mvno_id, what="MVNO", field="mvnoId")
        if mvno["kind"] != OrgKind.MVNO.value:
            raise InvalidInput("mvnoId must name an MVNO", code="not_an_mvno", field="mvnoId")
        segment_dict(conn, segment_id)
        request_id = ids.new_id()
        conn.execute(
            insert(req).values(
                id=request_id,
                mvno_id=mvno_id,
                segment_id=segment_id,
                block_count=block_count,
                region_code=region_code,
                status="pending",
                reason=None,
                granted_prefixes=[],
                created_at=clock.now(),
                decided_at=None,
            )
        )
        audit.record(
            conn,
            actor,
            "blocks.requested",
            "number_allocation_request",
            request_id,
            mvno_id=mvno_id,
            data={"count": block_count},
        )
        return fetch_visible(conn, req, actor.scope, request_id, what="allocation request")


def decide_request(
    db: Database, actor: Actor, request_id: uuid.UUID, *, grant: bool, reason: str | None = None
) -> dict[str, Any]:
    """The host grants (allocating free blocks of the segment) or refuses a request. A grant
    needs the MVNO's utilisation at or above its threshold (the first allocation is exempt)."""
    with db.write() as conn:
        # Locked: a second decision at the same time waits, then finds this one's.
        row = fetch_visible(
            conn, req, actor.scope, request_id, what="allocation request", for_update=True
        )
        actor.require(Role.PLATFORM_ADMIN, Role.HOST_ADMIN, action="decide on a block request")
        if row["status"] != "pending":
            raise Conflict(f"the request is already {row['status']}", code="already_decided")
        now = clock.now()
        if not grant:
            if not reason:
                raise InvalidInput(
                    "say why the request is refused", code="required", field="reason"
                )
            conn.execute(
                update(req)
                .where(req.c.id == request_id)
                .values(status="refused", reason=reason, decided_at=now)
            )
            audit.record(
                conn,
                actor,
                "blocks.refused",
                "number_allocation_request",
                request_id,
                mvno_id=row["mvno_id"],
                data={"reason": reason},
            )
            return fetch_visible(conn, req, actor.scope, request_id, what="allocation request")
        prefixes = _allocate(
            conn, actor, row["mvno_id"], row["segment_id"], row["block_count"], row["region_code"]
        )
        conn.execute(
            update(req)
            .where(req.c.id == request_id)
            .values(status="granted", decided_at=now, granted_prefixes=prefixes)
        )
        audit.record(
            conn,
            actor,
            "blocks.granted",
            "number_allocation_request",
            request_id,
            mvno_id=row["mvno_id"],
            data={"count": len(prefixes), "first": prefixes[0], "last": prefixes[-1]},
        )
        return fetch_visible(conn, req, actor.scope, request_id, what="allocation request")


def _allocate(
    conn: Connection,
    actor: Actor,
    mvno_id: uuid.UUID,
    segment_id: uuid.UUID,
    count: int,
    region_code: str | None,
) -> list[str]:
    locks.lock(conn, f"allocation:{segment_id}", f"mvno-blocks:{mvno_id}")
    threshold = policy_row(conn, mvno_id)["utilisation_threshold_pct"]
    in_use, allocated = utilisation(conn, mvno_id)
    if not utilisation_allows(in_use, allocated, threshold):
        pct = in_use * 100 / allocated
        raise RuleViolation(
            f"utilisation is {pct:.1f}% ({in_use} in use of {allocated}); more blocks need "
            f"{threshold}%",
            code="utilisation_below_threshold",
            field="blockCount",
        )
    free = conn.execute(
        unscoped(
            select(blk.c.id, blk.c.prefix)
            .where(blk.c.segment_id == segment_id, blk.c.mvno_id.is_(None))
            .order_by(blk.c.first_number)
            .limit(count),
            "free blocks belong to the host",
        )
    ).all()
    if len(free) < count:
        raise RuleViolation(
            f"the segment has {len(free)} free blocks, {count} asked",
            code="segment_exhausted",
            field="blockCount",
        )
    brand = conn.execute(
        unscoped(
            select(t.brand.c.id)
            .where(t.brand.c.mvno_id == mvno_id)
            .order_by(t.brand.c.created_at)
            .limit(1),
            "default brand",
        )
    ).scalar()
    now = clock.now()
    chosen = [r.id for r in free]
    for start in range(0, len(chosen), 500):
        conn.execute(
            update(blk)
            .where(blk.c.id.in_(chosen[start : start + 500]))
            .values(mvno_id=mvno_id, brand_id=brand, region_code=region_code, allocated_at=now)
        )
    return [r.prefix for r in free]


def allocate_now(
    db: Database,
    actor: Actor,
    *,
    mvno_id: uuid.UUID,
    segment_id: uuid.UUID,
    block_count: int,
    region_code: str | None,
) -> dict[str, Any]:
    """Request and grant at once (the platform operator's shortcut, used by the CLI)."""
    row = request_blocks(
        db,
        actor,
        segment_id=segment_id,
        block_count=block_count,
        region_code=region_code,
        mvno_id=mvno_id,
    )
    return decide_request(db, actor, row["id"], grant=True)


def list_requests(
    db: Database, scope: Scope, filters: Mapping[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    return list_page(
        db, scope, req, filters, REQUEST_FILTERS, order_by=[req.c.id], offset=offset, limit=limit
    )


def get_request(db: Database, scope: Scope, request_id: uuid.UUID) -> dict[str, Any]:
    return get_one(db, scope, req, request_id, what="allocation request")


# --- sale rights ----------------------------------------------------------------------------


def grant_sale_right(
    db: Database, actor: Actor, *, holder_id: uuid.UUID, numbers: NumberRange
) -> dict[str, Any]:
    """The MVNO lets a channel of its tree sell a range of its numbers. Ownership stays."""
    with db.write() as conn:
        holder = fetch_visible(conn, ca, actor.scope, holder_id, what="channel", field="holderId")
        actor.require(Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, action="grant sale rights")
        if holder["status"] != AuthorisationStatus.APPROVED.value:
            raise RuleViolation(
                "sale rights go to approved channels only",
                code="channel_not_approved",
                field="holderId",
            )
        mvno_id = holder["mvno_id"]
        locks.lock(conn, f"sale-rights:{mvno_id}")
        owned = conn.execute(
            unscoped(
                select(func.count()).where(
                    blk.c.mvno_id == mvno_id,
                    blk.c.first_number.in_(list(numbers.block_values())),
                ),
                "ownership check",
            )
        ).scalar_one()
        if owned != len(numbers.block_values()):
            raise RuleViolation(
                "the range runs outside the MVNO's own blocks",
                code="range_not_owned",
                field="firstNumber",
            )
        clash = conn.execute(
            unscoped(
                select(sr.c.first_number, sr.c.last_number)
                .where(
                    sr.c.mvno_id == mvno_id,
                    sr.c.status == "active",
                    and_(sr.c.first_number <= numbers.last, sr.c.last_number >= numbers.first),
                )
                .limit(1),
                "ranges never overlap",
            )
        ).first()
        if clash is not None:
            raise Conflict(
                f"overlaps the range {clash[0]}-{clash[1]} already granted",
                code="range_overlaps",
                field="firstNumber",
            )
        right_id = ids.new_id()
        conn.execute(
            insert(sr).values(
                id=right_id,
                mvno_id=mvno_id,
                holder_id=holder_id,
                first_number=numbers.first,
                last_number=numbers.last,
                status="active",
                created_at=clock.now(),
                revoked_at=None,
            )
        )
        audit.record(
            conn,
            actor,
            "sale_right.granted",
            "sale_right",
            right_id,
            mvno_id=mvno_id,
            data={"first": numbers.first, "last": numbers.last},
        )
        return fetch_visible(conn, sr, actor.scope, right_id, what="sale right")


def revoke_sale_right(db: Database, actor: Actor, right_id: uuid.UUID) -> dict[str, Any]:
    """Take sale rights back: the numbers return to the MVNO's own pool. Numbers already
    reserved or sold keep their state."""
    with db.write() as conn:
        row = fetch_visible(conn, sr, actor.scope, right_id, what="sale right")
        actor.require(Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, action="take back sale rights")
        if row["status"] != "active":
            raise Conflict("these sale rights were already taken back", code="already_revoked")
        conn.execute(
            update(sr).where(sr.c.id == right_id).values(status="revoked", revoked_at=clock.now())
        )
        audit.record(
            conn, actor, "sale_right.revoked", "sale_right", right_id, mvno_id=row["mvno_id"]
        )
        return fetch_visible(conn, sr, actor.scope, right_id, what="sale right")


def list_sale_rights(
    db: Database, scope: Scope, filters: Mapping[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    return list_page(
        db,
        scope,
        sr,
        filters,
        SALE_RIGHT_FILTERS,
        order_by=[sr.c.first_number],
        offset=offset,
        limit=limit,
    )


def get_sale_right(db: Database, scope: Scope, right_id: uuid.UUID) -> dict[str, Any]:
    return get_one(db, scope, sr, right_id, what="sale right")


# --- policy and pretty-number rules --------------------------------------------------------


def _policy_mvno(actor: Actor, mvno_id: uuid.UUID | None) -> uuid.UUID:
    mvno_id = tenant_named(actor, mvno_id, ScopeKind.MVNO, what="MVNO", field="mvnoId")
    if mvno_id is None:
        raise InvalidInput("name the MVNO (mvnoId)", code="required", field="mvnoId")
    return mvno_id


def get_policy(db: Database, actor: Actor, mvno_id: uuid.UUID | None) -> dict[str, Any]:
    mvno_id = _policy_mvno(actor, mvno_id)
    with db.write() as conn:  # may create the defaults on first use
        fetch_visible(conn, o, actor.scope, mvno_id, what="MVNO", field="mvnoId")
        row = policy_row(conn, mvno_id)
        row["rules"] = pretty.to_json(pretty.from_json(row["pretty_rules"]))
        return row


def update_policy(
    db: Database, actor: Actor, mvno_id: uuid.UUID | None, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """The MVNO sets quarantine days, reservation minutes and its pretty-number rules; the
    utilisation threshold is the host's (or the platform's) to set."""
    mvno_id = _policy_mvno(actor, mvno_id)
    values: dict[str, Any] = {}
    for key, low, high in (
        ("quarantine_days", 0, 3650),
        ("reservation_minutes", 1, 1440),
        ("utilisation_threshold_pct", 0, 100),
    ):
        if key in changes:
            value = changes[key]
            if not isinstance(value, int) or not low <= value <= high:
                raise InvalidInput(f"{key} is {low}..{high}", code="out_of_range", field=key)
            values[key] = value
    if "rules" in changes:
        values["pretty_rules"] = pretty.to_json(pretty.validate(changes["rules"]))
    with db.write() as conn:
        fetch_visible(conn, o, actor.scope, mvno_id, what="MVNO", field="mvnoId")
        if "utilisation_threshold_pct" in values:
            actor.require(
                Role.PLATFORM_ADMIN, Role.HOST_ADMIN, action="set the utilisation threshold"
            )
        if set(values) - {"utilisation_threshold_pct"}:
            actor.require(Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, action="change number policy")
        policy_row(conn, mvno_id)
        p = t.number_policy
        conn.execute(
            update(p).where(p.c.mvno_id == mvno_id).values(**values, updated_at=clock.now())
        )
        forget_policy(mvno_id)
        audit.record(
            conn,
            actor,
            "number_policy.updated",
            "number_policy",
            mvno_id,
            mvno_id=mvno_id,
            data={"fields": sorted(values)},
        )
    return get_policy(db, actor, mvno_id)
