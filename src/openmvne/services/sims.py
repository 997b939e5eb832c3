"""SIM cards: factory batches, stock transfers along the channel tree, card states."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from openmvne import clock, ids, secrets_box
from openmvne.db import audit
from openmvne.db import tables as t
from openmvne.db.bulk import insert_rows
from openmvne.db.engine import Database
from openmvne.db.scoping import scoped, unscoped
from openmvne.domain import regions
from openmvne.domain.access import Actor, Scope, ScopeKind
from openmvne.domain.channels import AuthorisationStatus
from openmvne.domain.numbers import HostNetwork, host_of, parse_msisdn
from openmvne.domain.parties import OrgKind, Role
from openmvne.domain.sims import (
    CardKind,
    CardLine,
    CardState,
    check_card_move,
    check_set_by_hand,
    host_problems,
    iccid_problem,
    imsi_problem,
    secret_problem,
)
from openmvne.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from openmvne.services.common import (
    Filter,
    as_public_id,
    fetch_visible,
    get_one,
    list_page,
    tenant_named,
)

card = t.sim_card
batch = t.sim_batch
st = t.stock_transfer
ca = t.channel_authorisation
COLUMNS = ["iccid", "imsi", "ki", "opc", "kind", "msisdn", "region"]
CHUNK = 5000
TRANSFER_CHUNK = 25_000  # fewer, larger conditional UPDATEs: the move is bound by row work
# Who handles stock: moves it down the tree and marks it faulty or destroyed.
STOCK_HANDLERS = (Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, Role.PARTNER_ADMIN, Role.OUTLET_CLERK)
CARD_FILTERS: dict[str, Filter] = {
    "state": (card.c.state, lambda v: CardState(v).value),
    "batchId": (card.c.batch_id, as_public_id("sim_batch")),
    "holderId": (card.c.holder_party_id, as_public_id("organization")),
    "kind": (card.c.kind, lambda v: CardKind(v).value),
}


class ImportRefused(DomainError):
    status = 422
    title = "The card file has bad lines"
    default_code = "bad_card_file"


def read_lines(text: str) -> list[CardLine]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header] != COLUMNS:
        raise InvalidInput(
            "the first line must be: " + ",".join(COLUMNS),
            code="bad_card_file_header",
            field="file",
        )
    lines = []
    for number, row in enumerate(reader, start=2):
        cells = [c.strip() for c in row] + [""] * (len(COLUMNS) - len(row))
        lines.append(CardLine(number, cells[0].upper(), *cells[1:7]))
    return lines


def _problems(line: CardLine, host: HostNetwork) -> list[str]:
    problems = [
        p
        for p in (
            iccid_problem(line.iccid),
            imsi_problem(line.imsi),
            secret_problem(line.ki, "Ki"),
            secret_problem(line.opc, "OPc") if line.opc else None,
        )
        if p
    ]
    if line.kind not in (CardKind.PREBOUND, CardKind.BLANK):
        problems.append("kind is prebound or blank")
    elif (line.kind == CardKind.PREBOUND) != bool(line.msisdn):
        problems.append("a prebound card has a number and a blank card has none")
    if line.region and regions.lookup(line.region) is None:
        problems.append(f"unknown region {line.region}")
    if not problems:
        problems.extend(host_problems(line, host))
    return problems


def import_batch(
    db: Database,
    actor: Actor,
    *,
    mvno_id: uuid.UUID | None,
    host_id: uuid.UUID,
    name: str,
    lines: list[CardLine],
    skip_invalid: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Import a card factory file. All or nothing (every bad line reported), unless
    `skip_invalid`: then the good lines are imported and the rejects returned."""
    actor.require(Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, action="import cards")
    mvno_id = tenant_named(actor, mvno_id, ScopeKind.MVNO, what="MVNO", field="mvnoId")
    if mvno_id is None:
        raise InvalidInput("name the MVNO (mvnoId)", code="required", field="mvnoId")
    if not lines:
        raise InvalidInput("the file holds no cards", code="empty_file", field="file")
    with db.read() as conn:
        host = (
            conn.execute(
                unscoped(
                    select(t.organization).where(t.organization.c.id == host_id),
                    "host networks are public",
                )
            )
            .mappings()
            .first()
        )
        if host is None or host["kind"] != OrgKind.HOST_NETWORK.value:
            raise NotFound("no host network with that id", field="hostId")
        network = HostNetwork(host["network_code"])
        rejects = _validate(conn, mvno_id, network, lines)
    if rejects and not skip_invalid:
        raise ImportRefused(
            f"{len(rejects)} of {len(lines)} lines are bad; nothing imported",
            field="file",
            rejects=rejects[:1000],
            rejectCount=len(rejects),
        )
    bad = {r["line"] for r in rejects}
    good = [line for line in lines if line.line_no not in bad]
    batch_id = ids.new_id()
    now = clock.now()
    with db.write() as conn:
        org = fetch_visible(conn, t.organization, actor.scope, mvno_id, what="MVNO", field="mvnoId")
        if org["kind"] != OrgKind.MVNO.value:  # cards are an MVNO's stock
            raise InvalidInput("mvnoId must name an MVNO", code="not_an_mvno", field="mvnoId")
        conn.execute(
            insert(batch).values(
                id=batch_id,
                mvno_id=mvno_id,
                host_id=host_id,
                name=name,
                card_count=len(good),
                created_at=now,
            )
        )
        for start in range(0, len(good), CHUNK):
            rows = [
                {
                    "id": ids.new_id(),
                    "iccid": line.iccid,
                    "imsi": line.imsi,
                    "ki_enc": secrets_box.seal(bytes.fromhex(line.ki), line.iccid.encode()),
                    "opc_enc": secrets_box.seal(bytes.fromhex(line.opc), line.iccid.encode())
                    if line.opc
                    else None,
                    "kind": line.kind,
                    "msisdn": parse_msisdn(line.msisdn).national if line.msisdn else None,
                    "region_code": line.region or None,
                    "state": CardState.IN_STOCK.value,
                    "mvno_id": mvno_id,
                    "batch_id": batch_id,
                    "holder_party_id": mvno_id,
                    "holder_auth_id": None,
                    "updated_at": now,
                }
                for line in good[start : start + CHUNK]
            ]
            insert_rows(conn, card, rows)
            if progress:
                progress(len(rows))
        audit.record(
            conn,
            actor,
            "sims.imported",
            "sim_batch",
            batch_id,
            mvno_id=mvno_id,
            data={"cards": len(good), "rejected": len(rejects)},
        )
    return {
        "id": batch_id,
        "mvno_id": mvno_id,
        "host_id": host_id,
        "name": name,
        "card_count": len(good),
        "created_at": now,
        "rejects": rejects,
    }


def _validate(
    conn: Connection, mvno_id: uuid.UUID, network: HostNetwork, lines: list[CardLine]
) -> list[dict[str, Any]]:
    rejects: dict[int, list[str]] = {}
    seen: dict[str, int] = {}
    for line in lines:
        problems = _problems(line, network)
        for value in (line.iccid, line.imsi, line.msisdn):
            if value and value in seen:
                problems.append(f"{value} repeats line {seen[value]}")
            elif value:
                seen[value] = line.line_no
        if problems:
            rejects[line.line_no] = problems
    _check_numbers(conn, mvno_id, network, lines, rejects)
    _check_existing(conn, lines, rejects)
    return [{"line": n, "problems": p} for n, p in sorted(rejects.items())]


def _check_numbers(
    conn: Connection,
    mvno_id: uuid.UUID,
    network: HostNetwork,
    lines: list[CardLine],
    rejects: dict[int, list[str]],
) -> None:
    """A pre-bound card's number must be the MVNO's own and run on the batch's host."""
    prebound = [line for line in lines if line.msisdn and line.line_no not in rejects]
    owners: dict[str, Any] = {}
    prefixes = sorted({line.msisdn[:7] for line in prebound if len(line.msisdn) == 11})
    for start in range(0, len(prefixes), CHUNK):
        owners.update(
            conn.execute(
                unscoped(
                    select(t.number_block.c.prefix, t.number_block.c.mvno_id).where(
                        t.number_block.c.prefix.in_(prefixes[start : start + CHUNK])
                    ),
                    "a card may only carry the MVNO's own number",
                )
            ).all()
        )
    for line in prebound:
        try:
            number = parse_msisdn(line.msisdn)
        except DomainError as exc:
            rejects.setdefault(line.line_no, []).append(exc.message)
            continue
        if owners.get(number.block_prefix) != mvno_id:
            rejects.setdefault(line.line_no, []).append(f"{number.national} is not this MVNO's")
        elif host_of(number.national) is not network:
            rejects.setdefault(line.line_no, []).append(
                f"{number.national} is not on {network.value}'s network"
            )


def _check_existing(conn: Connection, lines: list[CardLine], rejects: dict[int, list[str]]) -> None:
    for column in ("iccid", "imsi", "msisdn"):
        values = {getattr(line, column): line.line_no for line in lines if getattr(line, column)}
        keys = sorted(values)
        for start in range(0, len(keys), CHUNK):
            found = (
                conn.execute(
                    unscoped(
                        select(getattr(card.c, column)).where(
                            getattr(card.c, column).in_(keys[start : start + CHUNK])
                        ),
                        "uniqueness is platform-wide",
                    )
                )
                .scalars()
                .all()
            )
            for value in found:
                rejects.setdefault(values[value], []).append(f"{value} is already on file")


# --- stock ------------------------------------------------------------------------------------


def _edge(conn: Connection, auth_id: uuid.UUID) -> dict[str, Any]:
    row = (
        conn.execute(unscoped(select(ca).where(ca.c.id == auth_id), "the tree's edges"))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("no such channel", field="toId")
    return dict(row)


def transfer(
    db: Database,
    actor: Actor,
    *,
    mvno_id: uuid.UUID | None,
    to_auth_id: uuid.UUID | None,
    iccids: Iterable[str] = (),
    ranges: Iterable[tuple[str, str]] = (),
    from_auth_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Move in-stock cards from their holder to a child channel, or back up to the parent
    (`to_auth_id` None: back to the MVNO). All named cards move, or none."""
    wanted = sorted({i.strip().upper() for i in iccids})
    spans = list(ranges)
    if not wanted and not spans:
        raise InvalidInput("name the cards: iccids or ranges", code="required", field="iccids")
    with db.write() as conn:
        sender_party, sender_edge, mvno = _sender(conn, actor, mvno_id, from_auth_id)
        if to_auth_id is None:
            receiver_party, receiver_edge = mvno, None
        else:
            # The receiving edge must be in the MVNO's tree; a sender's own children and its
            # parent may lie outside what the sender may list, so look in the MVNO's scope.
            receiver_edge = fetch_visible(
                conn, ca, Scope(ScopeKind.MVNO, mvno), to_auth_id, what="channel", field="toId"
            )
            if sender_edge is not None and receiver_edge["id"] != sender_edge["parent_id"]:
                # Its parent aside, a channel names only edges it may see: another's (a
                # sibling's, say) is as absent to it as one that does not exist.
                fetch_visible(conn, ca, actor.scope, to_auth_id, what="channel", field="toId")
            receiver_party = receiver_edge["party_id"]
        _check_route(sender_edge, receiver_edge, mvno)
        moving = sorted(set(wanted) | set(_in_ranges(conn, mvno, sender_party, spans)))
        if not moving:
            raise Conflict(
                "none of those cards is in stock with the sender",
                code="cards_not_held",
                field="iccids",
            )
        now = clock.now()
        moved = 0
        for start in range(0, len(moving), TRANSFER_CHUNK):
            # Move only what the sender holds in stock: the check and the move are one
            # statement, so overlapping transfers cannot both take a card.
            done = conn.execute(
                update(card)
                .where(
                    card.c.iccid.in_(moving[start : start + TRANSFER_CHUNK]),
                    card.c.mvno_id == mvno,
                    card.c.holder_party_id == sender_party,
                    card.c.state == CardState.IN_STOCK.value,
                )
                .values(
                    holder_party_id=receiver_party,
                    holder_auth_id=receiver_edge["id"] if receiver_edge else None,
                    updated_at=now,
                )
            )
            moved += done.rowcount
        if moved != len(moving):  # some were not the sender's to move: all or nothing
            missing = _not_held(conn, moving, receiver_party)
            raise Conflict(
                f"{len(missing)} cards are not in stock with the sender, e.g. "
                f"{missing[0] if missing else '?'}; nothing was transferred",
                code="cards_not_held",
                field="iccids",
                notHeld=missing[:100],
            )
        transfer_id = ids.new_id()
        record = {
            "id": transfer_id,
            "mvno_id": mvno,
            "from_party_id": sender_party,
            "to_party_id": receiver_party,
            "to_auth_id": receiver_edge["id"] if receiver_edge else None,
            "card_count": moved,
            "iccids": moving,
            "by_user": actor.username,
            "created_at": now,
        }
        conn.execute(insert(st).values(**record))
        audit.record(
            conn,
            actor,
            "sims.transferred",
            "stock_transfer",
            transfer_id,
            mvno_id=mvno,
            data={"cards": moved},
        )
        return record


def _sender(
    conn: Connection, actor: Actor, mvno_id: uuid.UUID | None, from_auth_id: uuid.UUID | None
) -> tuple[uuid.UUID, dict[str, Any] | None, uuid.UUID]:
    if actor.scope.kind in (ScopeKind.PLATFORM, ScopeKind.MVNO) and from_auth_id is None:
        actor.require(Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, action="transfer cards")
        mvno = tenant_named(actor, mvno_id, ScopeKind.MVNO, what="MVNO", field="mvnoId")
        if mvno is None:
            raise InvalidInput("name the MVNO (mvnoId)", code="required", field="mvnoId")
        return mvno, None, mvno
    if actor.scope.kind in (ScopeKind.CHANNEL, ScopeKind.OUTLET):
        actor.require(Role.PARTNER_ADMIN, Role.OUTLET_CLERK, action="transfer cards")
    else:
        actor.require(Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, action="transfer cards")
    stmt = select(ca).where(ca.c.status == AuthorisationStatus.APPROVED.value)
    if from_auth_id is not None:
        stmt = stmt.where(ca.c.id == from_auth_id)
    else:
        stmt = stmt.where(ca.c.party_id == actor.party_id)
        if mvno_id is not None:
            stmt = stmt.where(ca.c.mvno_id == mvno_id)
    edges = conn.execute(scoped(stmt, ca, actor.scope)).mappings().all()
    if actor.scope.kind not in (ScopeKind.PLATFORM, ScopeKind.MVNO):
        edges = [e for e in edges if e["party_id"] == actor.party_id]
    if len(edges) != 1:
        raise InvalidInput(
            "name the MVNO or your channel (fromId) the cards leave from",
            code="sender_ambiguous",
            field="fromId",
        )
    edge = dict(edges[0])
    return edge["party_id"], edge, edge["mvno_id"]


def _check_route(
    sender: dict[str, Any] | None, receiver: dict[str, Any] | None, mvno: uuid.UUID
) -> None:
    """Down to a child or up to the parent, between approved channels of one MVNO."""
    if receiver is not None:
        if receiver["mvno_id"] != mvno:
            raise NotFound("no such channel in this MVNO's tree", field="toId")
        if receiver["status"] != AuthorisationStatus.APPROVED.value:
            raise Conflict(
                f"the receiving channel is {receiver['status']}",
                code="channel_not_approved",
                field="toId",
            )
    down = receiver is not None and receiver["parent_id"] == (sender["id"] if sender else None)
    up = sender is not None and sender["parent_id"] == (receiver["id"] if receiver else None)
    if not (down or up):
        raise Forbidden(
            "stock moves to a child channel or back to the parent only",
            code="not_along_the_tree",
            field="toId",
        )


def _in_ranges(
    conn: Connection, mvno: uuid.UUID, holder: uuid.UUID, spans: list[tuple[str, str]]
) -> list[str]:
    found: list[str] = []
    for first, last in spans:
        if len(first) != len(last) or first > last:
            raise InvalidInput(
                "a range runs from a first to a last ICCID of one length",
                code="bad_range",
                field="ranges",
            )
        found.extend(
            conn.execute(
                unscoped(
                    select(card.c.iccid).where(
                        card.c.iccid >= first.upper(),
                        card.c.iccid <= last.upper(),
                        card.c.mvno_id == mvno,
                        card.c.holder_party_id == holder,
                        card.c.state == CardState.IN_STOCK.value,
                    ),
                    "the sender's own stock",
                )
            ).scalars()
        )
    return found


def _not_held(conn: Connection, iccids: list[str], moved_to: uuid.UUID) -> list[str]:
    """After a refused move (rolled back by the caller): which cards were not the sender's."""
    moved: set[str] = set()
    for start in range(0, len(iccids), CHUNK):
        moved.update(
            conn.execute(
                unscoped(
                    select(card.c.iccid).where(
                        card.c.iccid.in_(iccids[start : start + CHUNK]),
                        card.c.holder_party_id == moved_to,
                    ),
                    "explaining a refusal",
                )
            ).scalars()
        )
    return [i for i in iccids if i not in moved]


def stock(db: Database, scope: Scope) -> list[dict[str, Any]]:
    """Cards per holder and state, within the caller's scope."""
    stmt = scoped(
        select(card.c.holder_party_id, card.c.state, func.count()).group_by(
            card.c.holder_party_id, card.c.state
        ),
        card,
        scope,
    )
    with db.read() as conn:
        return [{"holder_party_id": h, "state": s, "count": n} for h, s, n in conn.execute(stmt)]


def change_state(db: Database, actor: Actor, iccid: str, target: CardState) -> dict[str, Any]:
    # Marking stock faulty or destroyed is stock handling, like moving it: not care's.
    actor.require(*STOCK_HANDLERS, action="mark a card")
    with db.write() as conn:
        stmt = scoped(select(card).where(card.c.iccid == iccid.upper()), card, actor.scope)
        if conn.dialect.name == "postgresql":  # a sale of the card waits, or this does
            stmt = stmt.with_for_update(of=card)
        row = conn.execute(stmt).mappings().first()
        if row is None:
            raise NotFound("no such card", field="iccid")
        line = conn.execute(
            unscoped(
                select(t.subscription.c.msisdn).where(
                    t.subscription.c.sim_id == row["id"],
                    t.subscription.c.state.notin_(["cancelled", "failed"]),
                ),
                "is the card a live line's?",
            )
        ).scalar()
        if line is not None:
            raise Conflict(
                f"the card is line {line}'s: use the line's tasks (reportLost, replaceSim)",
                code="card_in_service",
                field="iccid",
            )
        check_set_by_hand(target)
        check_card_move(CardState(row["state"]), target, row["iccid"])
        conn.execute(
            update(card)
            .where(card.c.id == row["id"])
            .values(state=target.value, updated_at=clock.now())
        )
        audit.record(
            conn,
            actor,
            f"sim.{target.value}",
            "sim_card",
            row["id"],
            mvno_id=row["mvno_id"],
            data={"iccid": row["iccid"]},
        )
        return {**row, "state": target.value}


def list_cards(
    db: Database, scope: Scope, filters: Mapping[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    return list_page(
        db, scope, card, filters, CARD_FILTERS, order_by=[card.c.iccid], offset=offset, limit=limit
    )


def get_card(db: Database, scope: Scope, iccid: str) -> dict[str, Any]:
    with db.read() as conn:
        row = (
            conn.execute(scoped(select(card).where(card.c.iccid == iccid.upper()), card, scope))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound("no such card")
    return dict(row)


def cards_of(
    db: Database,
    scope: Scope,
    *,
    batch_id: uuid.UUID | None = None,
    iccids: list[str] | None = None,
    limit: int = 5000,
) -> list[dict[str, Any]]:
    stmt = scoped(select(card), card, scope)
    if batch_id is not None:
        stmt = stmt.where(card.c.batch_id == batch_id)
    if iccids is not None:
        stmt = stmt.where(card.c.iccid.in_(bindparam("i", iccids[:limit], expanding=True)))
    with db.read() as conn:
        return [dict(r) for r in conn.execute(stmt.order_by(card.c.iccid).limit(limit)).mappings()]


def get_batch(db: Database, scope: Scope, batch_id: uuid.UUID) -> dict[str, Any]:
    return get_one(db, scope, batch, batch_id, what="card batch")


def get_transfer(db: Database, scope: Scope, transfer_id: uuid.UUID) -> dict[str, Any]:
    return get_one(db, scope, st, transfer_id, what="stock transfer")


def latest_transfers(db: Database, scope: Scope, limit: int = 20) -> list[dict[str, Any]]:
    """The latest stock transfers the caller may see (into or out of its subtree), newest
    first."""
    st = t.stock_transfer
    stmt = scoped(
        select(st).order_by(st.c.created_at.desc(), st.c.id.desc()).limit(limit), st, scope
    )
    with db.read() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]
