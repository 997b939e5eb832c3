"""Money use cases: outlet floats, recharge of any connected brand's number at any outlet,
charges and holds on prepaid balances, and the ledger check."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from openmvne import clock, ids
from openmvne.db import audit
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.listing import page
from openmvne.db.scoping import scoped, unscoped
from openmvne.domain.access import Actor, ScopeKind
from openmvne.domain.catalog import tier_kept_bp
from openmvne.domain.channels import AuthorisationStatus
from openmvne.domain.identity import mask_name
from openmvne.domain.ledger import AccountKind, TransferCode, check_amount
from openmvne.domain.numbers import NumberState, parse_msisdn
from openmvne.domain.parties import OrgKind, Role
from openmvne.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleViolation
from openmvne.services import channels, cost_chain, idempotency, ledger, lifecycle
from openmvne.services.common import Filter, apply_filters, as_public_id, fetch_visible

o = t.organization
ca = t.channel_authorisation
ro = t.recharge_order
WHY = "cross-brand recharge: any outlet may learn a number's brand and credit it"
# The top tier's rate is what the MVNO pays in all; each tier keeps its rate less its child's.
TRANSFER_FILTERS: dict[str, Filter] = {
    "code": (t.ledger_transfer.c.code, str),
    "mvnoId": (t.ledger_transfer.c.mvno_id, as_public_id("organization")),
}


def _outlet(conn: Connection, actor: Actor, outlet_id: uuid.UUID | None) -> dict[str, Any]:
    if actor.scope.kind is ScopeKind.OUTLET:
        actor.require(Role.OUTLET_CLERK, action="recharge")
        outlet_id = actor.party_id
    elif actor.has(Role.PLATFORM_ADMIN):
        if outlet_id is None:
            raise InvalidInput("name the outlet (outletId)", code="required", field="outletId")
    else:
        raise Forbidden("recharges are made at outlets", code="role_required")
    if actor.scope.kind is ScopeKind.OUTLET:  # the caller's own party: no scope to apply
        row = dict(
            conn.execute(
                unscoped(select(o).where(o.c.id == outlet_id), "the caller's own organisation")
            )
            .mappings()
            .one()
        )
    else:
        row = fetch_visible(conn, o, actor.scope, outlet_id, what="outlet", field="outletId")
    if row["kind"] != OrgKind.OUTLET.value:
        raise InvalidInput("outletId must name an outlet", code="not_an_outlet", field="outletId")
    return row


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
        outlet = _outlet(conn, actor, outlet_id)
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


def _line(conn: Connection, msisdn: str) -> dict[str, Any]:
    """The number's MVNO and brand, and that the line is in service."""
    m = parse_msisdn(msisdn)
    block = conn.execute(
        unscoped(
            select(t.number_block.c.mvno_id, t.number_block.c.brand_id).where(
                t.number_block.c.prefix == m.block_prefix
            ),
            WHY,
        )
    ).first()
    if block is None or block.mvno_id is None:
        raise NotFound(
            f"{m.national} is not a connected brand's number", code="unknown_number", field="msisdn"
        )
    state = conn.execute(
        unscoped(select(t.number.c.state).where(t.number.c.msisdn == m.national), WHY)
    ).scalar()
    if state != NumberState.IN_USE.value:
        raise RuleViolation(
            f"{m.national} is not a line in service", code="line_not_in_service", field="msisdn"
        )
    brand = conn.execute(
        unscoped(select(t.brand.c.name).where(t.brand.c.id == block.brand_id), WHY)
    ).scalar()
    return {"msisdn": m.national, "mvno_id": block.mvno_id, "brand": brand}


def _commissions(
    conn: Connection, outlet_id: uuid.UUID, mvno_id: uuid.UUID, amount_fen: int
) -> list[tuple[uuid.UUID, int]]:
    """Recharge commission to the outlet's chain in this MVNO's tree: each tier keeps its
    rate less its child's. An outlet outside the tree earns the outlet rate alone."""
    rates: dict[str, int] = cost_chain.scheme(conn, mvno_id)["recharge_bp"]
    edge = conn.execute(
        unscoped(
            select(ca.c.path).where(
                ca.c.party_id == outlet_id,
                ca.c.mvno_id == mvno_id,
                ca.c.status == AuthorisationStatus.APPROVED.value,
            ),
            WHY,
        )
    ).scalar()
    if edge is None:
        share = amount_fen * rates.get("outlet", 0) // 10_000
        return [(outlet_id, share)] if share else []
    chain = channels.chain_of(conn, edge)
    kept = tier_kept_bp(rates, [level for _, level in chain])
    paid = []
    for (party, _), bp in zip(chain, kept, strict=True):
        share = amount_fen * bp // 10_000
        if share:
            paid.append((party, share))
    return paid


def recharge(
    db: Database,
    actor: Actor,
    *,
    msisdn: str,
    amount_fen: int,
    channel_order_number: str,
    idempotency_key: str | None,
    outlet_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Top up any connected brand's number from the outlet's float, instantly. Idempotent on
    the key, and on (outlet, channel order number)."""
    check_amount(amount_fen)
    if not channel_order_number or len(channel_order_number) > 64:
        raise InvalidInput(
            "give the channel's order number (1-64 characters)",
            code="required",
            field="channelOrderNumber",
        )
    request = {
        "msisdn": msisdn,
        "amount": amount_fen,
        "order": channel_order_number,
        "outlet": str(outlet_id),
    }

    def effect(conn: Connection) -> dict[str, Any]:
        outlet = _outlet(conn, actor, outlet_id)
        digest = idempotency.request_hash("recharge", request)
        earlier = (
            conn.execute(
                unscoped(
                    select(ro).where(
                        ro.c.outlet_id == outlet["id"],
                        ro.c.channel_order_number == channel_order_number,
                    ),
                    "the outlet's own orders",
                )
            )
            .mappings()
            .first()
        )
        if earlier is not None:
            if earlier["request_sha256"] != digest:
                raise RuleViolation(
                    "this channel order number was used for another recharge",
                    code="order_number_reused",
                    field="channelOrderNumber",
                )
            return dict(earlier["result"])
        line = _line(conn, msisdn)
        mvno = line["mvno_id"]
        float_account = ledger.account(conn, AccountKind.OUTLET_FLOAT, owner_id=outlet["id"])
        due = ledger.account(conn, AccountKind.CLEARING_DUE_MVNO, owner_id=mvno)
        claim = ledger.account(conn, AccountKind.CLEARING_FROM_PLATFORM, mvno_id=mvno)
        prepaid = ledger.account(
            conn, AccountKind.SUBSCRIBER_PREPAID, mvno_id=mvno, msisdn=line["msisdn"]
        )
        reference = f"{outlet['id']}:{channel_order_number}"
        first = ledger.transfer(
            conn,
            float_account,
            due,
            amount_fen,
            TransferCode.RECHARGE_CLEARING,
            reference=reference,
            mvno_id=mvno,
            party_id=outlet["id"],
        )
        ledger.transfer(
            conn,
            claim,
            prepaid,
            amount_fen,
            TransferCode.RECHARGE,
            reference=reference,
            mvno_id=mvno,
            party_id=outlet["id"],
        )
        revenue = ledger.account(conn, AccountKind.MVNO_REVENUE, mvno_id=mvno)
        for party, share in _commissions(conn, outlet["id"], mvno, amount_fen):
            earned = ledger.account(
                conn, AccountKind.CHANNEL_COMMISSION, mvno_id=mvno, owner_id=party
            )
            ledger.transfer(
                conn,
                revenue,
                earned,
                share,
                TransferCode.COMMISSION,
                reference=reference,
                mvno_id=mvno,
                party_id=party,
            )
        lifecycle.after_credit(conn, actor, mvno, line["msisdn"])
        now = clock.now()
        order_id = ids.new_id()
        result = {
            "rechargeId": str(order_id),
            "transferId": str(first),
            "msisdn": line["msisdn"],
            "amountFen": amount_fen,
            "brand": line["brand"],
            "mvnoId": str(mvno),
            "outletId": str(outlet["id"]),
            "channelOrderNumber": channel_order_number,
            "status": "completed",
            "completedAt": now.isoformat(),
        }
        try:
            conn.execute(
                insert(ro).values(
                    id=order_id,
                    outlet_id=outlet["id"],
                    channel_order_number=channel_order_number,
                    msisdn=line["msisdn"],
                    mvno_id=mvno,
                    amount_fen=amount_fen,
                    request_sha256=digest,
                    result=result,
                    created_at=now,
                )
            )
        except IntegrityError as exc:  # the same order, under another key, got there first
            raise Conflict(
                "this order is being processed; retry to get its result",
                code="request_in_flight",
                field="channelOrderNumber",
            ) from exc
        audit.record(
            conn,
            actor,
            "recharge.completed",
            "ledger_transfer",
            first,
            mvno_id=mvno,
            data={"msisdn": line["msisdn"], "amountFen": amount_fen},
        )
        return result

    return idempotency.run_once(db, actor, idempotency_key, "recharge", request, effect)


def preview(db: Database, actor: Actor, msisdn: str) -> dict[str, Any]:
    """What an outlet sees before confirming a recharge: the brand and the holder's masked
    name, nothing more."""
    actor.require(Role.OUTLET_CLERK, Role.PLATFORM_ADMIN, action="recharge")
    with db.read() as conn:
        line = _line(conn, msisdn)
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
    from datetime import datetime
    from zoneinfo import ZoneInfo

    try:
        start_local = datetime.strptime(month, "%Y-%m").replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    except ValueError as exc:
        raise InvalidInput("month is YYYY-MM", code="bad_month", field="month") from exc
    year, mon = start_local.year + start_local.month // 12, start_local.month % 12 + 1
    end_local = start_local.replace(year=year, month=mon)
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


def list_accounts(
    db: Database, actor: Actor, kinds: list[str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    la = t.ledger_account
    stmt = scoped(select(la).where(la.c.kind.in_(kinds)), la, actor.scope)
    with db.read() as conn:
        return page(conn, stmt, order_by=[la.c.id], offset=offset, limit=limit)
