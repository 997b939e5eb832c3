"""The life of a number: in stock (no row) → reserved → assigned → in use → quarantined →
in stock; or withheld by the MVNO. Every move keeps the block's bitmap in step with the rows,
under the block's lock, and writes an audit event."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from openmvne import clock, ids
from openmvne.db import audit, locks
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.listing import page
from openmvne.db.scoping import scoped, unscoped
from openmvne.domain.access import Actor, Scope
from openmvne.domain.numbers import Msisdn, NumberState, check_move, parse_msisdn
from openmvne.domain.parties import Role
from openmvne.errors import Conflict, Forbidden, InvalidInput, NotFound
from openmvne.services.common import (
    Filter,
    apply_filters,
    as_public_id,
    fetch_visible,
    get_one,
    list_page,
    one_of,
)
from openmvne.services.number_common import load_bitmap, may_sell, policy, rules, store_taken

n = t.number
blk = t.number_block
rsv = t.number_reservation
MAX_PER_RESERVATION = 20
SELLERS = (Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, Role.PARTNER_ADMIN, Role.OUTLET_CLERK)

RESERVATION_FILTERS: dict[str, Filter] = {
    "status": (rsv.c.status, one_of(("active", "used", "released", "expired"))),
    "mvnoId": (rsv.c.mvno_id, as_public_id("organization")),
    "partyId": (rsv.c.party_id, as_public_id("organization")),
}
NUMBER_FILTERS: dict[str, Filter] = {
    "numberState": (n.c.state, lambda v: NumberState(v).value),
    "mvnoId": (n.c.mvno_id, as_public_id("organization")),
}


# Hot-path statements, built once (reservations must run well over 1,000 a second).
_BLOCKS = unscoped(
    select(blk).where(blk.c.prefix.in_(bindparam("prefixes", expanding=True))),
    "who may sell is checked number by number",
)
_ROWS = unscoped(
    select(n).where(n.c.msisdn.in_(bindparam("msisdns", expanding=True))),
    "state of numbers under lock",
)
_INSERT_RESERVATION = insert(rsv)
_INSERT_NUMBERS = insert(n)


def _blocks(conn: Connection, numbers: Iterable[Msisdn]) -> dict[str, dict[str, Any]]:
    """Lock the blocks of these numbers (sorted, so writers never deadlock) and read them."""
    prefixes = sorted({m.block_prefix for m in numbers})
    locks.lock(conn, *(f"number-block:{p}" for p in prefixes))
    rows = conn.execute(_BLOCKS, {"prefixes": prefixes}).mappings().all()
    return {r["prefix"]: dict(r) for r in rows}


def _blocks_with_reservation(
    conn: Connection, number: Msisdn, reservation_id: uuid.UUID
) -> dict[str, dict[str, Any]]:
    """Lock the blocks of this number and of every number the reservation still holds, in one
    sorted call. Assigning the number ends the reservation, which frees its other numbers
    under their blocks' locks: taken after the number's own, in another order than a
    release's or another sale's, two such transactions deadlocked. A reservation only ever
    loses numbers, so what it holds under the locks is within what was locked."""
    held = [Msisdn(x) for x in _held(conn, reservation_id)]
    return _blocks(conn, [number, *held])


def _rows(conn: Connection, numbers: Iterable[Msisdn]) -> dict[str, dict[str, Any]]:
    rows = conn.execute(_ROWS, {"msisdns": [m.national for m in numbers]}).mappings().all()
    return {r["msisdn"]: dict(r) for r in rows}


def _mark(
    conn: Connection,
    blocks: Mapping[str, dict[str, Any]],
    add: Iterable[Msisdn] = (),
    remove: Iterable[Msisdn] = (),
) -> None:
    """Apply taken/freed offsets to each block's bitmap (the caller holds the locks)."""
    changes: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for m in add:
        changes[m.block_prefix][0].append(m.offset)
    for m in remove:
        changes[m.block_prefix][1].append(m.offset)
    for prefix, (added, removed) in changes.items():
        block = blocks[prefix]
        bitmap = load_bitmap(block["taken"])
        bitmap.update(added)
        for offset in removed:
            bitmap.discard(offset)
        store_taken(conn, block["id"], bitmap)


def _insert_fresh(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert rows for numbers that were in stock. The unique number index is the backstop:
    a writer that skipped the block lock loses here, as a conflict, not a server error."""
    try:
        conn.execute(_INSERT_NUMBERS, rows)
    except IntegrityError as exc:
        raise Conflict(
            "a number was taken a moment ago", code="number_taken", field="msisdns"
        ) from exc


def reserve(
    db: Database, actor: Actor, msisdns: list[str], *, want: int | None = None
) -> dict[str, Any]:
    """Reserve these numbers for a sale (all or nothing). With `want`, take the first `want`
    of them that are still free (the numbers came from a search that may be a moment old).
    An expired reservation holds nothing: its numbers are free to take."""
    actor.require(*SELLERS, action="reserve numbers")
    if not msisdns:
        raise InvalidInput("name at least one number", code="required", field="msisdns")
    if len(msisdns) > MAX_PER_RESERVATION * (3 if want else 1):
        raise InvalidInput(
            f"at most {MAX_PER_RESERVATION} numbers per reservation",
            code="too_many",
            field="msisdns",
        )
    parsed = [parse_msisdn(m, field=f"msisdns.{i}") for i, m in enumerate(msisdns)]
    if len(set(parsed)) != len(parsed):
        raise InvalidInput("a number is listed twice", code="duplicate", field="msisdns")
    with db.write() as conn:
        blocks = _blocks(conn, parsed)
        for i, m in enumerate(parsed):
            block = blocks.get(m.block_prefix)
            if block is None or not may_sell(conn, actor, block, m.value):
                raise NotFound(
                    f"{m.national} is not among the numbers you may sell",
                    code="number_not_sellable",
                    field=f"msisdns.{i}",
                )
        mvnos = {blocks[m.block_prefix]["mvno_id"] for m in parsed}
        if len(mvnos) != 1:
            raise InvalidInput(
                "one reservation holds numbers of one MVNO", code="mixed_mvnos", field="msisdns"
            )
        mvno_id = mvnos.pop()
        now = clock.now()
        existing = _rows(conn, parsed)
        free: list[Msisdn] = []
        for m in parsed:
            row = existing.get(m.national)
            expired = (
                row is not None
                and row["state"] == NumberState.RESERVED
                and row["state_until"] <= now
            )
            if row is None or expired:
                free.append(m)
            elif want is None:
                raise Conflict(
                    f"{m.national} is already {row['state']}", code="number_taken", field="msisdns"
                )
        if want is not None:
            if len(free) < want:
                raise Conflict(
                    f"only {len(free)} of the numbers are still free",
                    code="not_enough_numbers",
                    field="count",
                )
            free = free[:want]
        expires_at = now + timedelta(minutes=policy(conn, mvno_id).reservation_minutes)
        reservation_id = ids.new_id()
        reservation = {
            "id": reservation_id,
            "mvno_id": mvno_id,
            "party_id": actor.party_id,
            "user_id": actor.user_id,
            "numbers": [m.national for m in free],
            "status": "active",
            "created_at": now,
            "expires_at": expires_at,
            "ended_at": None,
        }
        conn.execute(_INSERT_RESERVATION, reservation)
        fresh = [m for m in free if m.national not in existing]
        if fresh:
            _insert_fresh(
                conn,
                [
                    {
                        "id": ids.new_id(),
                        "msisdn": m.national,
                        "block_id": blocks[m.block_prefix]["id"],
                        "mvno_id": mvno_id,
                        "state": NumberState.RESERVED.value,
                        "reservation_id": reservation_id,
                        "holder_party_id": actor.party_id,
                        "state_until": expires_at,
                        "sale_ref": None,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for m in fresh
                ],
            )
        taken_over = [m.national for m in free if m.national in existing]
        if taken_over:
            conn.execute(
                update(n)
                .where(n.c.msisdn.in_(taken_over))
                .values(
                    reservation_id=reservation_id,
                    holder_party_id=actor.party_id,
                    state_until=expires_at,
                    updated_at=now,
                )
            )
        _mark(conn, blocks, add=fresh)
        audit.record(
            conn,
            actor,
            "numbers.reserved",
            "number_reservation",
            reservation_id,
            mvno_id=mvno_id,
            data={"numbers": [m.national for m in free]},
        )
        return reservation


def release(db: Database, actor: Actor, reservation_id: uuid.UUID) -> dict[str, Any]:
    """Give reserved numbers back before the clock runs out: the reserver or an admin."""
    with db.write() as conn:
        row = fetch_visible(conn, rsv, actor.scope, reservation_id, what="reservation")
        if row["party_id"] != actor.party_id and not actor.has(
            Role.PLATFORM_ADMIN, Role.MVNO_ADMIN
        ):
            raise Forbidden(
                "only whoever reserved the numbers, or an admin, may release them",
                code="not_the_reserver",
            )
        if row["status"] != "active" or _end(conn, row, "released") is None:
            raise Conflict("the reservation has ended (used or expired)", code="reservation_ended")
        audit.record(
            conn,
            actor,
            "numbers.released",
            "number_reservation",
            reservation_id,
            mvno_id=row["mvno_id"],
        )
        return fetch_visible(conn, rsv, actor.scope, reservation_id, what="reservation")


def _held(conn: Connection, reservation_id: uuid.UUID) -> list[str]:
    return list(
        conn.execute(
            unscoped(
                select(n.c.msisdn).where(
                    n.c.reservation_id == reservation_id, n.c.state == NumberState.RESERVED.value
                ),
                "a reservation's own numbers",
            )
        )
        .scalars()
        .all()
    )


def _end(conn: Connection, reservation: Mapping[str, Any], status: str) -> int | None:
    """Free the numbers still held by this reservation and close it; how many were freed, or
    None if it had ended meanwhile (a sale used it, the sweeper expired it)."""
    held = _held(conn, reservation["id"])
    # A sale assigns a number under its block's lock: read again under the same locks, or a
    # number sold since the first read would be freed (its row deleted) under its line.
    blocks = _blocks(conn, [Msisdn(x) for x in held]) if held else {}
    now_status = conn.execute(
        unscoped(select(rsv.c.status).where(rsv.c.id == reservation["id"]), "the reservation")
    ).scalar_one()
    if now_status != "active":
        return None
    held = _held(conn, reservation["id"])
    numbers = [Msisdn(x) for x in held]
    if numbers:
        conn.execute(
            delete(n).where(
                n.c.msisdn.in_(held),
                n.c.reservation_id == reservation["id"],
                n.c.state == NumberState.RESERVED.value,
            )
        )
        _mark(conn, blocks, remove=numbers)
    conn.execute(
        update(rsv).where(rsv.c.id == reservation["id"]).values(status=status, ended_at=clock.now())
    )
    return len(numbers)


def get_reservation(db: Database, scope: Scope, reservation_id: uuid.UUID) -> dict[str, Any]:
    return get_one(db, scope, rsv, reservation_id, what="reservation")


def list_reservations(
    db: Database, scope: Scope, filters: Mapping[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    return list_page(
        db,
        scope,
        rsv,
        filters,
        RESERVATION_FILTERS,
        order_by=[rsv.c.id],
        offset=offset,
        limit=limit,
    )


def _one(conn: Connection, msisdn: str) -> tuple[Msisdn, dict[str, Any], dict[str, Any] | None]:
    m = parse_msisdn(msisdn)
    blocks = _blocks(conn, [m])
    block = blocks.get(m.block_prefix)
    if block is None or block["mvno_id"] is None:
        raise NotFound(f"{m.national} is not in any MVNO's inventory", field="msisdn")
    return m, block, _rows(conn, [m]).get(m.national)


def _require_owner(actor: Actor, block: Mapping[str, Any], m: Msisdn) -> None:
    if actor.has(Role.PLATFORM_ADMIN):
        return
    if not (actor.has(Role.MVNO_ADMIN) and block["mvno_id"] == actor.party_id):
        raise NotFound(f"{m.national} is not in your inventory", field="msisdn")


def withhold(db: Database, actor: Actor, msisdn: str) -> None:
    """The MVNO keeps a number in stock back from sale."""
    with db.write() as conn:
        m, block, row = _one(conn, msisdn)
        _require_owner(actor, block, m)
        check_move(row["state"] if row else None, NumberState.WITHHELD, m.national)
        now = clock.now()
        conn.execute(
            insert(n).values(
                id=ids.new_id(),
                msisdn=m.national,
                block_id=block["id"],
                mvno_id=block["mvno_id"],
                state=NumberState.WITHHELD.value,
                reservation_id=None,
                holder_party_id=None,
                state_until=None,
                sale_ref=None,
                created_at=now,
                updated_at=now,
            )
        )
        _mark(conn, {m.block_prefix: block}, add=[m])
        audit.record(
            conn,
            actor,
            "number.withheld",
            "number",
            block["id"],
            mvno_id=block["mvno_id"],
            data={"msisdn": m.national},
        )


def unwithhold(db: Database, actor: Actor, msisdn: str) -> None:
    with db.write() as conn:
        m, block, row = _one(conn, msisdn)
        _require_owner(actor, block, m)
        current = row["state"] if row else None
        if current != NumberState.WITHHELD:
            raise Conflict(
                f"{m.national} is not withheld", code="number_state_conflict", field="msisdn"
            )
        conn.execute(delete(n).where(n.c.msisdn == m.national))
        _mark(conn, {m.block_prefix: block}, remove=[m])
        audit.record(
            conn,
            actor,
            "number.released_to_stock",
            "number",
            block["id"],
            mvno_id=block["mvno_id"],
            data={"msisdn": m.national},
        )


def assign(
    db: Database, actor: Actor, reservation_id: uuid.UUID, msisdn: str, sale_ref: str
) -> None:
    """Bind a reserved number to a sale; the reservation's other numbers go back to stock."""
    with db.write() as conn:
        reservation = fetch_visible(conn, rsv, actor.scope, reservation_id, what="reservation")
        _blocks_with_reservation(conn, parse_msisdn(msisdn), reservation_id)
        m, block, row = _one(conn, msisdn)
        now = clock.now()
        if (
            row is None
            or row["reservation_id"] != reservation_id
            or row["state"] != NumberState.RESERVED
            or row["state_until"] <= now
        ):
            raise Conflict(
                f"{m.national} is not held by this reservation (or it expired)",
                code="reservation_not_holding",
                field="msisdn",
            )
        check_move(NumberState.RESERVED, NumberState.ASSIGNED, m.national)
        conn.execute(
            update(n)
            .where(n.c.msisdn == m.national)
            .values(
                state=NumberState.ASSIGNED.value,
                state_until=None,
                sale_ref=sale_ref,
                updated_at=now,
            )
        )
        _end(conn, reservation, "used")
        audit.record(
            conn,
            actor,
            "number.assigned",
            "number",
            row["id"],
            mvno_id=block["mvno_id"],
            data={"msisdn": m.national, "sale": sale_ref},
        )


def _advance(db: Database, actor: Actor, msisdn: str, target: NumberState, action: str) -> None:
    with db.write() as conn:
        m, block, row = _one(conn, msisdn)
        _require_owner(actor, block, m)
        current = row["state"] if row else None
        check_move(current, target, m.national)
        assert row is not None  # check_move refuses every move out of stock but withholding
        now = clock.now()
        until = None
        if target is NumberState.QUARANTINED:
            until = now + timedelta(days=policy(conn, block["mvno_id"]).quarantine_days)
        conn.execute(
            update(n)
            .where(n.c.msisdn == m.national)
            .values(state=target.value, state_until=until, updated_at=now)
        )
        audit.record(
            conn,
            actor,
            action,
            "number",
            row["id"],
            mvno_id=block["mvno_id"],
            data={"msisdn": m.national},
        )


def activate(db: Database, actor: Actor, msisdn: str) -> None:
    """The line is open on the network: the number is in use."""
    _advance(db, actor, msisdn, NumberState.IN_USE, "number.activated")


def cancel(db: Database, actor: Actor, msisdn: str) -> None:
    """The line is cancelled: the number rests in quarantine (the MVNO's days) first."""
    _advance(db, actor, msisdn, NumberState.QUARANTINED, "number.quarantined")


def sweep(db: Database) -> dict[str, int]:
    """Release expired reservations and end finished quarantines. Correctness does not wait
    for this (an expired reservation is free to take); it keeps search results fresh."""
    now = clock.now()
    expired = 0
    with db.read() as conn:
        due = (
            conn.execute(
                unscoped(
                    select(rsv)
                    .where(rsv.c.status == "active", rsv.c.expires_at <= now)
                    .limit(1000),
                    "the sweeper works for every tenant",
                )
            )
            .mappings()
            .all()
        )
    for reservation in due:
        with db.write() as conn:
            expired += _end(conn, dict(reservation), "expired") or 0
    with db.read() as conn:
        done = (
            conn.execute(
                unscoped(
                    select(n.c.msisdn)
                    .where(n.c.state == NumberState.QUARANTINED.value, n.c.state_until <= now)
                    .limit(10_000),
                    "the sweeper works for every tenant",
                )
            )
            .scalars()
            .all()
        )
    back = [Msisdn(x) for x in done]
    if back:
        with db.write() as conn:
            blocks = _blocks(conn, back)
            conn.execute(
                delete(n).where(n.c.msisdn.in_(done), n.c.state == NumberState.QUARANTINED.value)
            )
            _mark(conn, blocks, remove=back)
    return {"expiredReservations": len(due), "freedNumbers": expired, "quarantineEnded": len(back)}


def list_numbers(
    db: Database, scope: Scope, filters: Mapping[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """Numbers that have a state of their own (numbers in stock have no row)."""
    stmt = apply_filters(scoped(select(n), n, scope), filters, NUMBER_FILTERS)
    with db.read() as conn:
        return page(conn, stmt, order_by=[n.c.msisdn], offset=offset, limit=limit)


def describe(db: Database, actor: Actor, msisdn: str) -> dict[str, Any]:
    """One number as its owner or a channel that may sell it sees it (idle numbers too)."""
    m = parse_msisdn(msisdn)
    with db.read() as conn:
        block = (
            conn.execute(
                unscoped(
                    select(blk).where(blk.c.prefix == m.block_prefix), "visibility decided below"
                )
            )
            .mappings()
            .first()
        )
        row = (
            conn.execute(scoped(select(n).where(n.c.msisdn == m.national), n, actor.scope))
            .mappings()
            .first()
        )
        visible = (
            block is not None
            and block["mvno_id"] is not None
            and (row is not None or may_sell(conn, actor, dict(block), m.value))
        )
        if not visible or block is None:
            raise NotFound(f"{m.national} is not in your inventory", field="msisdn")
        if (
            row is None
            and conn.execute(
                unscoped(select(n.c.id).where(n.c.msisdn == m.national), "someone else's state")
            ).first()
            is not None
        ):
            raise NotFound(f"{m.national} is not in your inventory", field="msisdn")
        grade, price = rules(conn, block["mvno_id"]).price(m.national)
    return {
        "msisdn": m.national,
        "state": row["state"] if row else None,
        "state_until": row["state_until"] if row else None,
        "mvno_id": block["mvno_id"],
        "block_prefix": block["prefix"],
        "region_code": block["region_code"],
        "grade": grade,
        "one_off_fen": price.one_off_fen,
        "min_monthly_fen": price.min_monthly_fen,
        "min_months": price.min_months,
        "updated_at": row["updated_at"] if row else None,
    }


# --- inside a sale's transaction (services/subscribers.py) ------------------------------------


def bind_to_sale(
    conn: Connection,
    *,
    seller_id: uuid.UUID,
    msisdn: Msisdn,
    reservation_id: uuid.UUID | None,
    sale_ref: str,
) -> None:
    """The number becomes assigned to a sale: the one this seller's reservation holds, or
    (a pre-bound card brings its number, no reservation) one still in stock."""
    blocks = (
        _blocks(conn, [msisdn])
        if reservation_id is None
        else _blocks_with_reservation(conn, msisdn, reservation_id)
    )
    row = _rows(conn, [msisdn]).get(msisdn.national)
    now = clock.now()
    if reservation_id is not None:
        if (
            row is None
            or row["reservation_id"] != reservation_id
            or row["state"] != NumberState.RESERVED
            or row["state_until"] <= now
            or row["holder_party_id"] != seller_id
        ):
            raise Conflict(
                f"{msisdn.national} is not held by this reservation (or it expired)",
                code="reservation_not_holding",
                field="reservationId",
            )
        check_move(NumberState.RESERVED, NumberState.ASSIGNED, msisdn.national)
        conn.execute(
            update(n)
            .where(n.c.msisdn == msisdn.national)
            .values(state=NumberState.ASSIGNED.value, state_until=None, sale_ref=sale_ref)
            .values(updated_at=now)
        )
        reservation = (
            conn.execute(
                unscoped(select(rsv).where(rsv.c.id == reservation_id), "the sale's reservation")
            )
            .mappings()
            .one()
        )
        _end(conn, dict(reservation), "used")
        return
    expired = row is not None and row["state"] == NumberState.RESERVED and row["state_until"] <= now
    if row is not None and not expired:
        raise Conflict(
            f"{msisdn.national} is {row['state']}; reserve it first",
            code="number_taken",
            field="msisdn",
        )
    check_move(None, NumberState.RESERVED, msisdn.national)
    check_move(NumberState.RESERVED, NumberState.ASSIGNED, msisdn.national)
    if row is not None:
        conn.execute(delete(n).where(n.c.msisdn == msisdn.national))
    block = blocks[msisdn.block_prefix]
    _insert_fresh(
        conn,
        [
            {
                "id": ids.new_id(),
                "msisdn": msisdn.national,
                "block_id": block["id"],
                "mvno_id": block["mvno_id"],
                "state": NumberState.ASSIGNED.value,
                "reservation_id": None,
                "holder_party_id": seller_id,
                "state_until": None,
                "sale_ref": sale_ref,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    if row is None:
        _mark(conn, blocks, add=[msisdn])


def move_sold(conn: Connection, msisdn: Msisdn, target: NumberState | None) -> None:
    """A sold number's next step: in use when the network opened the line, back to stock when
    the sale was undone, quarantined (for the MVNO's days) when the line was cancelled."""
    blocks = _blocks(conn, [msisdn])
    row = _rows(conn, [msisdn]).get(msisdn.national)
    current = row["state"] if row else None
    check_move(current, target, msisdn.national)
    if target is None:
        conn.execute(delete(n).where(n.c.msisdn == msisdn.national))
        _mark(conn, blocks, remove=[msisdn])
        return
    now = clock.now()
    until = None
    if target is NumberState.QUARANTINED:
        mvno_id = blocks[msisdn.block_prefix]["mvno_id"]
        until = now + timedelta(days=policy(conn, mvno_id).quarantine_days)
    conn.execute(
        update(n)
        .where(n.c.msisdn == msisdn.national)
        .values(state=target.value, state_until=until, updated_at=now)
    )
