"""After the sale: lifecycle tasks (suspend, resume, report lost, cancel, barring orders),
SIM replacement, add-on services, and the reads (line summary, orders, products, customers).

Each task is a product order. It changes the line at once and completes when the network has
confirmed every command it caused (at once, when it caused none).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert, select, update

from openmvne import clock, ids, secrets_box
from openmvne.db import audit
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.listing import page
from openmvne.db.scoping import scoped, unscoped
from openmvne.domain import identity
from openmvne.domain import settlement as settlement_rules
from openmvne.domain.access import Actor, Scope, ScopeKind
from openmvne.domain.catalog import OfferKind
from openmvne.domain.ledger import AccountKind, TransferCode
from openmvne.domain.numbers import parse_msisdn
from openmvne.domain.parties import Role
from openmvne.domain.sims import CardState, check_card_move
from openmvne.domain.subscribers import Event, LineState, card_region_allows, local_date
from openmvne.errors import Forbidden, NotFound, RuleViolation
from openmvne.network.provisioning import Command
from openmvne.services import idempotency, ledger, lifecycle, outbox
from openmvne.services.common import Filter, as_public_id, get_one, list_page
from openmvne.services.subscriber_sale import Identity, checked_identity, fingerprint

sub = t.subscription
po = t.product_order
pc = t.provisioning_command
LIVE = [s.value for s in LineState if s not in (LineState.CANCELLED, LineState.FAILED)]
CUSTOMER_SIDE = (
    Role.PLATFORM_ADMIN,
    Role.MVNO_ADMIN,
    Role.CARE_AGENT,
    Role.PARTNER_ADMIN,
    Role.OUTLET_CLERK,
    Role.SUBSCRIBER,
)
OPERATOR_SIDE = (Role.PLATFORM_ADMIN, Role.MVNO_ADMIN)

# task name → (event, who may order it, whether the holder's ID must be shown again)
TASKS: dict[str, tuple[Event, tuple[Role, ...], bool]] = {
    "suspend": (Event.SUSPEND, CUSTOMER_SIDE, False),
    "resume": (Event.RESUME, CUSTOMER_SIDE, False),
    "reportLost": (Event.REPORT_LOST, CUSTOMER_SIDE, False),
    "found": (Event.FOUND, CUSTOMER_SIDE, True),
    "cancel": (Event.CANCEL, CUSTOMER_SIDE, True),
    "operatorBar": (Event.OPERATOR_BAR, OPERATOR_SIDE, False),
    "operatorClear": (Event.OPERATOR_CLEAR, OPERATOR_SIDE, False),
    "realNameMissing": (Event.REAL_NAME_MISSING, OPERATOR_SIDE, False),
    "realNameRegistered": (Event.REGISTERED, OPERATOR_SIDE, False),
    "overLimit": (Event.OVER_LIMIT, OPERATOR_SIDE, False),
    "limitResolved": (Event.LIMIT_RESOLVED, OPERATOR_SIDE, False),
}
ORDER_FILTERS: dict[str, Filter] = {
    "state": (po.c.state, str),
    "kind": (po.c.kind, str),
    "msisdn": (po.c.msisdn, str),
}
PRODUCT_FILTERS: dict[str, Filter] = {
    "status": (sub.c.state, str),
    "msisdn": (sub.c.msisdn, str),
    "customerId": (sub.c.individual_id, as_public_id("individual")),
}


def _line(
    conn: Connection,
    actor: Actor,
    msisdn: str,
    *,
    verified_at_outlet: bool = False,
    line_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The caller's live line with this number, read under its lock. An outlet that checked
    the holder's ID may serve any line of an MVNO it is an approved channel of. `line_id`:
    the line the caller means (a care ticket's), refused if the number's live line is
    another now (cancelled and sold again)."""
    m = parse_msisdn(msisdn)
    stmt = select(sub.c.id).where(sub.c.msisdn == m.national, sub.c.state.in_(LIVE))
    found = conn.execute(scoped(stmt, sub, actor.scope)).scalar()
    if found is None and verified_at_outlet and actor.scope.kind is ScopeKind.OUTLET:
        found = conn.execute(
            unscoped(
                stmt.where(
                    sub.c.mvno_id.in_(
                        select(t.channel_authorisation.c.mvno_id).where(
                            t.channel_authorisation.c.party_id == actor.party_id,
                            t.channel_authorisation.c.status == "approved",
                        )
                    )
                ),
                "an outlet of the brand serves a holder who shows their ID",
            )
        ).scalar()
    if found is None:
        raise NotFound(
            f"{m.national} is not one of your lines", code="unknown_line", field="msisdn"
        )
    if line_id is not None and found != line_id:
        raise RuleViolation(
            f"{m.national} is another line's now", code="line_not_live", field="msisdn"
        )
    return lifecycle.locked_line(conn, found)


def verify_holder(conn: Connection, line: Mapping[str, Any], person: Identity) -> None:
    """The ID shown must be the one the line was registered with (domain.md §5, 补卡)."""
    checked = checked_identity(person, local_date(clock.now()))
    if fingerprint(checked) != line["id_fingerprint"]:
        raise RuleViolation(
            "the ID shown is not the line holder's",
            code="identity_mismatch",
            field="identification",
        )


def new_order(
    conn: Connection, actor: Actor, line: Mapping[str, Any], kind: str, request: dict[str, Any]
) -> uuid.UUID:
    order_id, now = ids.new_id(), clock.now()
    conn.execute(
        insert(po).values(
            id=order_id,
            mvno_id=line["mvno_id"],
            subscription_id=line["id"],
            msisdn=line["msisdn"],
            kind=kind,
            state="inProgress",
            party_id=actor.party_id,
            username=actor.username,
            external_id=None,
            request=request,
            failure_reason=None,
            created_at=now,
            updated_at=now,
            completed_at=None,
        )
    )
    return order_id


def settle_if_done(conn: Connection, order_id: uuid.UUID) -> None:
    """An order that caused no network command is complete at once."""
    waiting = conn.execute(
        unscoped(select(pc.c.id).where(pc.c.order_id == order_id).limit(1), "the order's commands")
    ).first()
    if waiting is None:
        now = clock.now()
        conn.execute(
            update(po)
            .where(po.c.id == order_id)
            .values(state="completed", updated_at=now, completed_at=now)
        )


def run_task(
    db: Database,
    actor: Actor,
    msisdn: str,
    task: str,
    *,
    holder: Identity | None,
    reason: str | None,
    idempotency_key: str | None,
    line_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    if task not in TASKS:
        raise NotFound(f"no task '{task}'", code="unknown_task", field="task")
    event, roles, needs_id = TASKS[task]
    actor.require(*roles, action=task)
    if needs_id and holder is None and not actor.has(Role.SUBSCRIBER, Role.MVNO_ADMIN):
        raise RuleViolation(
            f"{task} needs the holder's ID", code="identity_required", field="identification"
        )

    def effect(conn: Connection) -> dict[str, Any]:
        line = _line(conn, actor, msisdn, verified_at_outlet=holder is not None, line_id=line_id)
        if holder is not None:
            verify_holder(conn, line, holder)
        order_id = new_order(conn, actor, line, task, {"reason": reason})
        lifecycle.apply_event(conn, actor, line, event, order_id=order_id)
        settle_if_done(conn, order_id)
        return {"orderId": ids.to_public("product_order", order_id)}

    request = {"msisdn": msisdn, "task": task, "reason": reason, "holder": holder is not None}
    return idempotency.run_once(db, actor, idempotency_key, f"line.{task}", request, effect)


def replace_sim(
    db: Database,
    actor: Actor,
    msisdn: str,
    *,
    iccid: str,
    holder: Identity,
    idempotency_key: str | None,
    line_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """补卡: the holder's ID re-verified, a new card from the seller's stock, the old card
    invalid at once, the number unchanged; the network swaps the SIM."""
    actor.require(Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, Role.OUTLET_CLERK, action="replace a SIM")

    def effect(conn: Connection) -> dict[str, Any]:
        line = _line(conn, actor, msisdn, verified_at_outlet=True, line_id=line_id)
        verify_holder(conn, line, holder)
        state = LineState(line["state"])
        if state is LineState.PENDING:
            raise RuleViolation(
                "the line is not open yet", code="line_state_conflict", field="state"
            )
        card = _replacement_card(conn, actor, line, iccid)
        old = lifecycle.card_of(conn, line["sim_id"])
        order_id = new_order(
            conn, actor, line, "replaceSim", {"oldIccid": old["iccid"], "newIccid": card["iccid"]}
        )
        now = clock.now()
        # The old card dies now, before anything else can use it.
        check_card_move(CardState(old["state"]), CardState.REPLACED, old["iccid"])
        conn.execute(
            update(t.sim_card)
            .where(t.sim_card.c.id == old["id"])
            .values(state=CardState.REPLACED.value, msisdn=None, updated_at=now)
        )
        conn.execute(
            update(t.sim_card)
            .where(t.sim_card.c.id == card["id"])
            .values(state=CardState.SOLD.value, msisdn=line["msisdn"], updated_at=now)
        )
        conn.execute(
            update(sub)
            .where(sub.c.id == line["id"])
            .values(sim_id=card["id"], iccid=card["iccid"], updated_at=now)
        )
        line = {**line, "sim_id": card["id"], "iccid": card["iccid"]}
        outbox.enqueue(
            conn,
            line,
            Command.CHANGE_SIM,
            host_network=lifecycle.host_network(conn, line["host_id"]),
            order_id=order_id,
            imsi=card["imsi"],
            iccid=card["iccid"],
        )
        if state in (LineState.ACTIVE, LineState.LOST):
            lifecycle.apply_event(conn, actor, line, Event.SIM_REPLACED, order_id=order_id)
        audit.record(
            conn,
            actor,
            "line.sim_replaced",
            "subscription",
            line["id"],
            mvno_id=line["mvno_id"],
            data={"msisdn": line["msisdn"], "old": old["iccid"], "new": card["iccid"]},
        )
        return {"orderId": ids.to_public("product_order", order_id)}

    request = {"msisdn": msisdn, "iccid": iccid}
    return idempotency.run_once(db, actor, idempotency_key, "line.replaceSim", request, effect)


def _replacement_card(
    conn: Connection, actor: Actor, line: Mapping[str, Any], iccid: str
) -> dict[str, Any]:
    c = t.sim_card
    holder = actor.party_id if actor.scope.kind is ScopeKind.OUTLET else line["mvno_id"]
    stmt = select(c).where(c.c.iccid == iccid.strip().upper())
    if conn.dialect.name == "postgresql":  # until the commit: no second line takes the card
        stmt = stmt.with_for_update()
    row = conn.execute(unscoped(stmt, "stock check")).mappings().first()
    if row is None or row["holder_party_id"] != holder or row["mvno_id"] != line["mvno_id"]:
        raise NotFound("that card is not in your stock", code="card_not_held", field="iccid")
    check_card_move(CardState(row["state"]), CardState.SOLD, row["iccid"])
    host = conn.execute(
        unscoped(select(t.sim_batch.c.host_id).where(t.sim_batch.c.id == row["batch_id"]), "host")
    ).scalar()
    if host != line["host_id"]:
        raise RuleViolation(
            "the card is for another host network", code="card_of_another_host", field="iccid"
        )
    if not card_region_allows(row["region_code"], line["region_code"]):
        raise RuleViolation(
            f"the card works only in region {row['region_code']}",
            code="card_of_another_region",
            field="iccid",
        )
    if row["msisdn"] is not None:
        raise RuleViolation(
            f"the card is pre-bound to {row['msisdn']}",
            code="card_bound_to_another_number",
            field="iccid",
        )
    return dict(row)


def _grant_pack(
    conn: Connection, line_id: uuid.UUID, period: str, addon: Mapping[str, Any]
) -> None:
    """A period already rated holds its allowances (fixed at its first rating): a pack bought
    during it adds its own there and then. (A period not rated yet counts the pack when it
    is: usage_terms.)"""
    up = t.usage_period
    conn.execute(
        update(up)
        .where(up.c.subscription_id == line_id, up.c.period == period)
        .values(
            voice_allow_s=up.c.voice_allow_s + addon["voice_min"] * 60,
            sms_allow=up.c.sms_allow + addon["sms"],
            data_allow_kb=up.c.data_allow_kb + addon["data_mb"] * 1024,
        )
    )


def services_for(db: Database, actor: Actor, msisdn: str) -> list[dict[str, Any]]:
    """The add-on services the line's MVNO offers (active ones), each with whether this
    line has it now: what a holder may open or close (change_service)."""
    ss, offering = t.subscription_service, t.product_offering
    with db.read() as conn:
        m = parse_msisdn(msisdn)
        stmt = select(sub.c.id, sub.c.mvno_id).where(
            sub.c.msisdn == m.national, sub.c.state.in_(LIVE)
        )
        line = conn.execute(scoped(stmt, sub, actor.scope)).first()
        if line is None:
            raise NotFound(
                f"{m.national} is not one of your lines", code="unknown_line", field="msisdn"
            )
        addons = conn.execute(
            unscoped(
                select(offering)
                .where(
                    offering.c.mvno_id == line.mvno_id,
                    offering.c.kind == OfferKind.ADDON.value,
                    offering.c.status == "active",
                    offering.c.design_id.is_(None),
                )
                .order_by(offering.c.monthly_fee_fen, offering.c.name),
                "the line's MVNO's add-ons",
            )
        ).mappings()
        rows = [dict(a) for a in addons]
        active = set(
            conn.execute(
                unscoped(
                    select(ss.c.offering_id).where(
                        ss.c.subscription_id == line.id,
                        ss.c.state == "active",
                        ss.c.ended_at.is_(None) | (ss.c.ended_at > clock.now()),
                    ),
                    "the line's services",
                )
            ).scalars()
        )
    return [{**a, "active": a["id"] in active} for a in rows]


def change_service(
    db: Database,
    actor: Actor,
    msisdn: str,
    *,
    offering_id: uuid.UUID,
    add: bool,
    idempotency_key: str | None,
    line_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Open (paying the add-on's price from the balance) or close an add-on service."""
    actor.require(*CUSTOMER_SIDE, action="change a line's services")
    ss = t.subscription_service
    offering = t.product_offering

    def effect(conn: Connection) -> dict[str, Any]:
        line = _line(conn, actor, msisdn, line_id=line_id)
        if LineState(line["state"]) is not LineState.ACTIVE:
            raise RuleViolation(
                "services change on active lines only", code="line_state_conflict", field="state"
            )
        addon = (
            conn.execute(
                unscoped(
                    select(offering).where(
                        offering.c.id == offering_id,
                        offering.c.mvno_id == line["mvno_id"],
                        offering.c.kind == OfferKind.ADDON.value,
                    ),
                    "the line's MVNO's add-ons",
                )
            )
            .mappings()
            .first()
        )
        if addon is None:
            raise NotFound("no such add-on for this line", code="unknown_addon", field="offeringId")
        now = clock.now()
        current = conn.execute(
            unscoped(
                select(ss.c.id).where(
                    ss.c.subscription_id == line["id"],
                    ss.c.offering_id == offering_id,
                    ss.c.state == "active",
                    ss.c.ended_at.is_(None) | (ss.c.ended_at > now),
                ),
                "the line's services",
            )
        ).scalar()
        kind = "addService" if add else "removeService"
        order_id = new_order(conn, actor, line, kind, {"offeringId": str(offering_id)})
        if add:
            if addon["status"] != "active":
                raise RuleViolation("that add-on is retired", code="offer_retired")
            if current is not None:
                raise RuleViolation(
                    "the line already has this service", code="service_active", field="offeringId"
                )
            price = addon["monthly_fee_fen"]
            if price:
                ledger.transfer(
                    conn,
                    lifecycle.prepaid(conn, line),
                    ledger.account(conn, AccountKind.MVNO_REVENUE, mvno_id=line["mvno_id"]),
                    price,
                    TransferCode.FEE,
                    reference=f"addon:{order_id}",
                    mvno_id=line["mvno_id"],
                )
            period = settlement_rules.month_of(now)
            conn.execute(
                insert(ss).values(
                    id=ids.new_id(),
                    subscription_id=line["id"],
                    mvno_id=line["mvno_id"],
                    offering_id=offering_id,
                    state="active",
                    order_id=order_id,
                    started_at=now,
                    # A pack is bought for this month: it ends when the month does.
                    ended_at=settlement_rules.month_bounds(period)[1],
                )
            )
            _grant_pack(conn, line["id"], period, dict(addon))
        else:
            if current is None:
                raise RuleViolation("the line does not have this service", code="service_inactive")
            conn.execute(update(ss).where(ss.c.id == current).values(state="closed", ended_at=now))
        settle_if_done(conn, order_id)
        audit.record(
            conn,
            actor,
            f"line.{kind}",
            "subscription",
            line["id"],
            mvno_id=line["mvno_id"],
            data={"msisdn": line["msisdn"], "offering": str(offering_id)},
        )
        return {"orderId": ids.to_public("product_order", order_id)}

    request = {"msisdn": msisdn, "offering": str(offering_id), "add": add}
    return idempotency.run_once(db, actor, idempotency_key, "line.service", request, effect)


# --- reads ----------------------------------------------------------------------------------


def get_order(db: Database, scope: Scope, order_id: uuid.UUID) -> dict[str, Any]:
    return get_one(db, scope, po, order_id, what="product order")


def list_orders(
    db: Database, scope: Scope, filters: Mapping[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    return list_page(
        db, scope, po, filters, ORDER_FILTERS, order_by=[po.c.id.desc()], offset=offset, limit=limit
    )


def get_product(db: Database, scope: Scope, line_id: uuid.UUID) -> dict[str, Any]:
    return get_one(db, scope, sub, line_id, what="product")


def list_products(
    db: Database, scope: Scope, filters: Mapping[str, str], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    return list_page(
        db, scope, sub, filters, PRODUCT_FILTERS, order_by=[sub.c.id], offset=offset, limit=limit
    )


def list_customers(
    db: Database, scope: Scope, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """TMF629 customers: the individuals who hold (or held) a line of the MVNO."""
    i = t.individual
    stmt = scoped(select(i), i, scope).where(i.c.id_fingerprint.is_not(None))
    with db.read() as conn:
        return page(conn, stmt, order_by=[i.c.id], offset=offset, limit=limit)


def get_customer(db: Database, scope: Scope, individual_id: uuid.UUID) -> dict[str, Any]:
    row = get_one(db, scope, t.individual, individual_id, what="customer")
    if row["id_fingerprint"] is None:
        raise NotFound("no customer with that id")
    return row


def summary(db: Database, actor: Actor, msisdn: str) -> dict[str, Any]:
    """Number and card info for the holder, the seller, the MVNO or its care agents."""
    m = parse_msisdn(msisdn)
    with db.read() as conn:
        row = (
            conn.execute(
                scoped(
                    select(sub).where(sub.c.msisdn == m.national).order_by(sub.c.id.desc()),
                    sub,
                    actor.scope,
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"{m.national} is not one of your lines", code="unknown_line")
        line = dict(row)
        person = (
            conn.execute(
                unscoped(
                    select(t.individual).where(t.individual.c.id == line["individual_id"]),
                    "the line's holder, masked",
                )
            )
            .mappings()
            .one()
        )
        offer = (
            conn.execute(
                unscoped(
                    select(t.product_offering).where(
                        t.product_offering.c.id == line["offering_id"]
                    ),
                    "the line's offer",
                )
            )
            .mappings()
            .one()
        )
        brand = (
            conn.execute(
                unscoped(select(t.brand).where(t.brand.c.id == line["brand_id"]), "public brand")
            )
            .mappings()
            .first()
        )
        balance = ledger.balance(lifecycle.prepaid_view(conn, line))
        ss = t.subscription_service
        services = (
            conn.execute(
                unscoped(
                    select(t.product_offering.c.name, ss.c.started_at)
                    .join(t.product_offering, t.product_offering.c.id == ss.c.offering_id)
                    .where(ss.c.subscription_id == line["id"], ss.c.state == "active"),
                    "the line's services",
                )
            )
            .mappings()
            .all()
        )
    return {
        "line": line,
        "holder": {
            "maskedName": identity.mask_name(person["family_name"] + person["given_name"]),
            "idType": person["id_type"],
            "maskedId": person["id_masked"],
        },
        "offer": dict(offer),
        "brand": dict(brand) if brand else None,
        "balance": balance,
        "services": [dict(s) for s in services],
    }


def reveal_id(db: Database, actor: Actor, msisdn: str) -> dict[str, Any]:
    """The holder's full ID number, for the MVNO only; every read is audited."""
    actor.require(Role.MVNO_ADMIN, Role.PLATFORM_ADMIN, action="read an unmasked ID")
    if actor.scope.kind not in (ScopeKind.MVNO, ScopeKind.PLATFORM):
        raise Forbidden("only the MVNO reads unmasked IDs", code="role_required")
    m = parse_msisdn(msisdn)
    with db.write() as conn:
        line = (
            conn.execute(
                scoped(
                    select(sub).where(sub.c.msisdn == m.national).order_by(sub.c.id.desc()),
                    sub,
                    actor.scope,
                )
            )
            .mappings()
            .first()
        )
        if line is None:
            raise NotFound(f"{m.national} is not one of your lines", code="unknown_line")
        person = (
            conn.execute(
                unscoped(
                    select(t.individual).where(t.individual.c.id == line["individual_id"]),
                    "the MVNO's own customer",
                )
            )
            .mappings()
            .one()
        )
        number = secrets_box.unseal(person["id_sealed"], b"id-number").decode()
        audit.record(
            conn,
            actor,
            "identity.revealed",
            "individual",
            person["id"],
            mvno_id=line["mvno_id"],
            data={"msisdn": m.national, "id": person["id_masked"]},
        )
    return {"msisdn": m.national, "idType": person["id_type"], "idNumber": number}
