"""Money use cases: outlet floats, recharge of any connected brand's number at any outlet,
charges and holds on prepaid balances, and the ledger check."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from openmvne import clock
from openmvne.db import audit
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.listing import page
from openmvne.db.scoping import scoped, unscoped
from openmvne.domain.access import Actor
from openmvne.domain.identity import mask_name
from openmvne.domain.ledger import AccountKind, TransferCode, check_amount
from openmvne.domain.numbers import parse_msisdn
from openmvne.domain.parties import Role
from openmvne.domain.settlement import check_month, month_bounds
from openmvne.errors import Conflict, DomainError, InvalidInput, NotFound
from openmvne.services import idempotency, ledger, recharges
from openmvne.services.common import Filter, apply_filters, as_public_id, one_of

o = t.organization
ro = t.recharge_order
WHY = "cross-brand recharge: any outlet may learn a number's brand and credit it"
# The top tier's rate is what the MVNO pays in all; each tier keeps its rate less its child's.
TRANSFER_FILTERS: dict[str, Filter] = {
    "code": (t.ledger_transfer.c.code, one_of(TransferCode)),
    "mvnoId": (t.ledger_transfer.c.mvno_id, as_public_id("organization")),
}


def pay_float(
    db: Database,
    actor: Actor,
    *,
    outlet_id: uuid.UUID,
    amount_fen: int,
    idempotency_key: str | None,
    reference: str | None = None,
) -> dict[str, Any]:
    """Record an outlet's payment of float (cash or bank transfer received)."""
    actor.require(Role.PLATFORM_ADMIN, action="record a float payment")
    check_amount(amount_fen)

    def effect(conn: Connection) -> dict[str, Any]:
        outlet = recharges.outlet_for(conn, actor, outlet_id)
        cash = ledger.account(conn, AccountKind.CASH)
        float_account = ledger.account(conn, AccountKind.OUTLET_FLOAT, owner_id=outlet["id"])
        transfer_id = ledger.transfer(
            conn,
            cash,
            float_account,
            amount_fen,
            TransferCode.FLOAT_PAYMENT,
            reference=reference,
            party_id=outlet["id"],
        )
        audit.record(
            conn,
            actor,
            "float.paid",
            "ledger_transfer",
            transfer_id,
            data={"amountFen": amount_fen},
        )
        return {
            "transferId": str(transfer_id),
            "outletId": str(outlet["id"]),
            "amountFen": amount_fen,
        }

    return idempotency.run_once(
        db,
        actor,
        idempotency_key,
        "pay_float",
        {"outlet": str(outlet_id), "amount": amount_fen, "reference": reference},
        effect,
    )


recharge = recharges.recharge  # batched: services/recharges.py


def preview(db: Database, actor: Actor, msisdn: str) -> dict[str, Any]:
    """What an outlet sees before confirming a recharge: the brand and the holder's masked
    name, nothing more."""
    actor.require(Role.OUTLET_CLERK, Role.PLATFORM_ADMIN, action="recharge")
    with db.read() as conn:
        line = recharges.lines(conn, [msisdn])[msisdn]
        if isinstance(line, DomainError):
            raise line
        mvno = conn.execute(
            unscoped(select(o.c.name).where(o.c.id == line["mvno_id"]), WHY)
        ).scalar()
        holder = conn.execute(
            unscoped(
                select(t.individual.c.family_name, t.individual.c.given_name)
                .join(t.subscription, t.subscription.c.individual_id == t.individual.c.id)
                .where(
                    t.subscription.c.msisdn == line["msisdn"],
                    t.subscription.c.state.notin_(["cancelled", "failed"]),
                ),
                WHY,
            )
        ).first()
    masked = mask_name(holder.family_name + holder.given_name) if holder else None
    return {"msisdn": line["msisdn"], "brand": line["brand"], "mvno": mvno, "maskedName": masked}


def _prepaid(conn: Connection, actor: Actor, msisdn: str) -> dict[str, Any]:
    m = parse_msisdn(msisdn)
    block = conn.execute(
        unscoped(
            select(t.number_block.c.mvno_id).where(t.number_block.c.prefix == m.block_prefix),
            "owner check below",
        )
    ).scalar()
    if block is None or not (actor.has(Role.PLATFORM_ADMIN) or block == actor.party_id):
        raise NotFound(f"{m.national} is not one of your lines", field="msisdn")
    return ledger.account(conn, AccountKind.SUBSCRIBER_PREPAID, mvno_id=block, msisdn=m.national)


def charge(
    db: Database,
    actor: Actor,
    *,
    msisdn: str,
    amount_fen: int,
    reason: str,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """Charge a prepaid balance (fees, usage): refused whole when the balance is short."""
    actor.require(Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, action="charge a balance")
    check_amount(amount_fen)

    def effect(conn: Connection) -> dict[str, Any]:
        prepaid = _prepaid(conn, actor, msisdn)
        revenue = ledger.account(conn, AccountKind.MVNO_REVENUE, mvno_id=prepaid["mvno_id"])
        transfer_id = ledger.transfer(
            conn,
            prepaid,
            revenue,
            amount_fen,
            TransferCode.CHARGE,
            reference=reason[:100],
            mvno_id=prepaid["mvno_id"],
        )
        return {"transferId": str(transfer_id), "amountFen": amount_fen}

    return idempotency.run_once(
        db,
        actor,
        idempotency_key,
        "charge",
        {"msisdn": msisdn, "amount": amount_fen, "reason": reason},
        effect,
    )


def hold(
    db: Database,
    actor: Actor,
    *,
    msisdn: str,
    amount_fen: int,
    seconds: int,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """Reserve part of a balance (online charging); posted, voided or expired later."""
    actor.require(Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, action="hold a balance")
    check_amount(amount_fen)
    if not 1 <= seconds <= 86_400:
        raise InvalidInput("a hold lasts 1..86400 seconds", code="bad_duration", field="seconds")

    def effect(conn: Connection) -> dict[str, Any]:
        prepaid = _prepaid(conn, actor, msisdn)
        revenue = ledger.account(conn, AccountKind.MVNO_REVENUE, mvno_id=prepaid["mvno_id"])
        hold_id = ledger.transfer(
            conn,
            prepaid,
            revenue,
            amount_fen,
            TransferCode.HOLD,
            mvno_id=prepaid["mvno_id"],
            pending=True,
            expires_at=clock.now() + timedelta(seconds=seconds),
        )
        return {"holdId": str(hold_id), "amountFen": amount_fen}

    return idempotency.run_once(
        db,
        actor,
        idempotency_key,
        "hold",
        {"msisdn": msisdn, "amount": amount_fen, "seconds": seconds},
        effect,
    )


def resolve(
    db: Database,
    actor: Actor,
    hold_id: uuid.UUID,
    *,
    post_fen: int | None,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """Post `post_fen` of a hold (the rest is released), or void it when post_fen is None."""
    actor.require(Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, action="settle a hold")

    def effect(conn: Connection) -> dict[str, Any]:
        row = conn.execute(
            scoped(
                select(t.ledger_transfer).where(t.ledger_transfer.c.id == hold_id),
                t.ledger_transfer,
                actor.scope,
            )
        ).first()
        if row is None:
            raise NotFound("no hold with that id", field="holdId")
        code = TransferCode.VOID if post_fen is None else TransferCode.POST
        done = ledger.resolve_hold(conn, hold_id, code, post_fen or 0)
        return {"transferId": str(done), "holdId": str(hold_id), "postedFen": post_fen or 0}

    return idempotency.run_once(
        db, actor, idempotency_key, "resolve", {"hold": str(hold_id), "post": post_fen}, effect
    )


def expire_holds(db: Database) -> int:
    """Expire holds past their time (the sweeper)."""
    lt = t.ledger_transfer
    resolved = select(lt.c.pending_id).where(lt.c.pending_id.is_not(None))
    with db.read() as conn:
        due = (
            conn.execute(
                unscoped(
                    select(lt.c.id).where(
                        lt.c.status == "pending",
                        lt.c.expires_at <= clock.now(),
                        lt.c.id.not_in(resolved),
                    ),
                    "the sweeper works for every tenant",
                )
            )
            .scalars()
            .all()
        )
    expired = 0
    for hold_id in due:
        try:
            with db.write() as conn:
                ledger.resolve_hold(conn, hold_id, TransferCode.EXPIRE)
            expired += 1
        except (Conflict, NotFound):
            continue  # posted or voided a moment ago: nothing left to expire
    return expired


def balance_of(db: Database, actor: Actor, msisdn: str) -> dict[str, Any]:
    with db.read() as conn:
        m = parse_msisdn(msisdn)
        row = (
            conn.execute(
                scoped(
                    select(t.ledger_account).where(
                        t.ledger_account.c.kind == AccountKind.SUBSCRIBER_PREPAID.value,
                        t.ledger_account.c.msisdn == m.national,
                    ),
                    t.ledger_account,
                    actor.scope,
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"no balance for {m.national} in your scope", field="msisdn")
        b = ledger.balance(dict(row))
        return {
            "msisdn": m.national,
            "balanceFen": b.posted,
            "availableFen": b.available,
            "heldFen": b.debits_pending,
            "mvnoId": row["mvno_id"],
        }


def float_of(db: Database, actor: Actor, outlet_id: uuid.UUID | None) -> dict[str, Any]:
    with db.read() as conn:
        outlet = outlet_id or actor.party_id
        row = (
            conn.execute(
                scoped(
                    select(t.ledger_account).where(
                        t.ledger_account.c.kind == AccountKind.OUTLET_FLOAT.value,
                        t.ledger_account.c.owner_id == outlet,
                    ),
                    t.ledger_account,
                    actor.scope,
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound("no float for that outlet in your scope", field="outletId")
        b = ledger.balance(dict(row))
        return {"outletId": outlet, "balanceFen": b.posted, "availableFen": b.available}


def list_transfers(
    db: Database, actor: Actor, filters: dict[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    lt = t.ledger_transfer
    stmt = apply_filters(scoped(select(lt), lt, actor.scope), filters, TRANSFER_FILTERS)
    with db.read() as conn:
        return page(conn, stmt, order_by=[lt.c.id], offset=offset, limit=limit)


def check(db: Database) -> list[str]:
    with db.read() as conn:
        return ledger.audit_ledger(conn)


def commission_statement(db: Database, actor: Actor, month: str) -> list[dict[str, Any]]:
    """Commissions earned per channel in a month (Asia/Shanghai calendar), per MVNO, from
    the ledger: what each channel is owed. Recharge commission today; activation and
    revenue-share commissions join with [subscribers] and [usage]."""
    start_local, end_local = month_bounds(check_month(month))
    lt = t.ledger_transfer
    la = t.ledger_account
    stmt = scoped(
        select(la.c.owner_id, lt.c.mvno_id, func.count(), func.sum(lt.c.amount_fen))
        .select_from(lt.join(la, la.c.id == lt.c.credit_account_id))
        .where(
            lt.c.code == TransferCode.COMMISSION.value,
            lt.c.created_at >= start_local,
            lt.c.created_at < end_local,
        )
        .group_by(la.c.owner_id, lt.c.mvno_id),
        lt,
        actor.scope,
    )
    with db.read() as conn:
        return [
            {"party_id": owner, "mvno_id": mvno, "entries": n, "amount_fen": int(total)}
            for owner, mvno, n, total in conn.execute(stmt)
        ]


def _named(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The accounts with the names of their MVNO and owner (`mvno_name`, `owner_name`)."""
    parties = {r[k] for r in rows for k in ("mvno_id", "owner_id")} - {None}
    org = t.organization
    names: dict[Any, str] = {}
    if parties:
        found = conn.execute(
            unscoped(
                select(org.c.id, org.c.name).where(org.c.id.in_(parties)),
                "the names of the parties of accounts the caller may see",
            )
        )
        names = {row.id: row.name for row in found}
    return [
        {**r, "mvno_name": names.get(r["mvno_id"]), "owner_name": names.get(r["owner_id"])}
        for r in rows
    ]


def get_account(
    db: Database, actor: Actor, kinds: list[str], account_id: uuid.UUID
) -> dict[str, Any]:
    """One account of these kinds that the caller may see (TMF666); any other is absent."""
    la = t.ledger_account
    stmt = scoped(select(la).where(la.c.id == account_id, la.c.kind.in_(kinds)), la, actor.scope)
    with db.read() as conn:
        row = conn.execute(stmt).mappings().first()
        if row is None:
            raise NotFound("no such account")
        return _named(conn, [dict(row)])[0]


def list_accounts(
    db: Database, actor: Actor, kinds: list[str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    la = t.ledger_account
    stmt = scoped(select(la).where(la.c.kind.in_(kinds)), la, actor.scope)
    with db.read() as conn:
        rows, total = page(conn, stmt, order_by=[la.c.id], offset=offset, limit=limit)
        return _named(conn, rows), total
