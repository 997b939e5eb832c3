"""Actions from a ticket, each linked to it in its history: the subscriber operations
(SIM replacement, open or close a service, report lost) through services/subscriber_orders,
and the money ones (trace a recharge, credit or refund the line through the ledger).

Every effect takes an idempotency key: the same key on the same ticket gives the first
answer and no second effect. The subscriber operations run as the agent acting for the
ticket's MVNO (the care checks — the ticket is visible, the agent is in its team, the
action is theirs to take — are made here first), under a key derived from the ticket and
the caller's key; the link to the ticket is then written once per key.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from openmvne import clock, ids
from openmvne.db import audit
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.access import Actor
from openmvne.domain.care import (
    TicketAction,
    TicketStatus,
    check_action,
    check_credit,
    check_open,
    redact,
)
from openmvne.domain.ledger import AccountKind, TransferCode, check_amount
from openmvne.domain.parties import OrgKind, Role
from openmvne.errors import InvalidInput, NotFound, RuleViolation
from openmvne.services import care, idempotency, ledger, lifecycle
from openmvne.services import subscriber_orders as orders
from openmvne.services.care_facts import NumberFacts, number_facts
from openmvne.services.common import fetch_visible
from openmvne.services.subscriber_sale import Identity

ev = t.ticket_event
tt = t.trouble_ticket
TRACE_DAYS = 30  # how far back a trace looks by default


@dataclass(frozen=True)
class ActionInput:
    reason: str | None = None
    iccid: str | None = None  # replaceSim: the new card, from the MVNO's own stock
    holder: Identity | None = None  # replaceSim: the holder's ID, checked against the record
    offering_id: uuid.UUID | None = None  # addService / removeService
    amount_fen: int | None = None  # credit
    since: datetime | None = None  # traceRecharge
    until: datetime | None = None


def _action(name: str) -> TicketAction:
    try:
        return TicketAction(name)
    except ValueError:
        raise NotFound(
            f"no ticket action '{name}'", code="unknown_action", field="action"
        ) from None


def _digest(actor: Actor, key: str) -> str:
    return hashlib.sha256(f"{idempotency.caller_of(actor)}\0{key}".encode()).hexdigest()


def act(
    db: Database,
    actor: Actor,
    ticket_id: uuid.UUID,
    name: str,
    given: ActionInput,
    *,
    idempotency_key: str | None,
) -> dict[str, Any]:
    action = _action(name)
    with db.read() as conn:
        ticket = fetch_visible(
            conn, t.trouble_ticket, actor.scope, ticket_id, what="trouble ticket"
        )
        check_action(action, actor.party_kind, actor.roles)
        care.may_work(conn, actor, ticket)
        check_open(TicketStatus(ticket["status"]), action.value)
    if action is TicketAction.TRACE_RECHARGE:
        return _trace(db, actor, ticket, given)
    key = idempotency.checked_key(idempotency_key)
    if action is TicketAction.CREDIT:
        return _credit(db, actor, ticket, given, key)
    return _line_action(db, actor, ticket, action, given, key)


def _for_mvno(actor: Actor, mvno_id: uuid.UUID, role: Role) -> Actor:
    """The agent acting for the ticket's MVNO on its line, with the one role the operation
    asks for; the care checks were made on the ticket. Audit rows keep the agent's user."""
    return Actor(
        user_id=actor.user_id,
        username=actor.username,
        party_id=mvno_id,
        party_kind=OrgKind.MVNO,
        roles=frozenset({role}),
    )


def _require_the_tickets_line(facts: NumberFacts, ticket: dict[str, Any]) -> None:
    """A ticket acts on the line it was opened for, never on a later holder of its number
    (cancelled, quarantined, sold again): the number's live line must be the ticket's."""
    if facts.mvno_id != ticket["mvno_id"] or facts.subscription_id != ticket["subscription_id"]:
        raise RuleViolation(
            "the ticket's line is no longer live", code="line_not_live", field="msisdn"
        )


def _line_action(
    db: Database,
    actor: Actor,
    ticket: dict[str, Any],
    action: TicketAction,
    given: ActionInput,
    key: str,
) -> dict[str, Any]:
    msisdn, mvno = ticket["msisdn"], ticket["mvno_id"]
    derived = f"care:{ticket['id']}:{_digest(actor, key)[:40]}"
    # The ticket's own line, checked under the line's lock: never the number's next holder.
    line_id = ticket["subscription_id"]
    if action is TicketAction.REPLACE_SIM:
        if given.iccid is None or given.holder is None:
            raise InvalidInput(
                "replaceSim needs the new card (iccid) and the holder's identification",
                code="required",
                field="iccid" if given.iccid is None else "identification",
            )
        # Replacing a card takes one from the MVNO's stock: the MVNO administrator's right.
        result = orders.replace_sim(
            db,
            _for_mvno(actor, mvno, Role.MVNO_ADMIN),
            msisdn,
            iccid=given.iccid,
            holder=given.holder,
            idempotency_key=derived,
            line_id=line_id,
        )
    elif action in (TicketAction.ADD_SERVICE, TicketAction.REMOVE_SERVICE):
        if given.offering_id is None:
            raise InvalidInput("name the add-on (offeringId)", code="required", field="offeringId")
        result = orders.change_service(
            db,
            _for_mvno(actor, mvno, Role.CARE_AGENT),
            msisdn,
            offering_id=given.offering_id,
            add=action is TicketAction.ADD_SERVICE,
            idempotency_key=derived,
            line_id=line_id,
        )
    else:
        result = orders.run_task(
            db,
            _for_mvno(actor, mvno, Role.CARE_AGENT),
            msisdn,
            "reportLost",
            holder=None,
            reason=redact(given.reason),
            idempotency_key=derived,
            line_id=line_id,
        )
    event_id, linked = _link(db, actor, ticket["id"], action, key, {"orderId": result["orderId"]})
    return {
        "action": action.value,
        "ticketId": ticket["id"],
        "eventId": event_id,
        "orderId": result["orderId"],
        "replayed": bool(result.get("replayed")) or not linked,
    }


def _link(
    db: Database,
    actor: Actor,
    ticket_id: uuid.UUID,
    action: TicketAction,
    key: str,
    data: dict[str, Any],
) -> tuple[uuid.UUID, bool]:
    """Record the action on the ticket once per key: (event id, whether written now)."""
    digest = _digest(actor, key)
    with db.write() as conn:
        ticket = care.locked_ticket(conn, actor, ticket_id)
        found = conn.execute(
            unscoped(
                select(ev.c.id).where(ev.c.ticket_id == ticket_id, ev.c.action_key == digest),
                "the ticket's own history",
            )
        ).scalar()
        if found is not None:
            return found, False
        event_id = _record(conn, actor, ticket, action, digest, data)
        return event_id, True


def _record(
    conn: Connection,
    actor: Actor,
    ticket: dict[str, Any],
    action: TicketAction,
    action_key: str | None,
    data: dict[str, Any],
) -> uuid.UUID:
    now = clock.now()
    care.care_touch(conn, actor, ticket, now, f"action {action.value}")
    event_id = care.add_event(
        conn,
        ticket["id"],
        actor,
        "action",
        text=action.value,
        data=data,
        action_key=action_key,
        at=now,
    )
    care.save(conn, ticket, now)
    audit.record(
        conn,
        actor,
        f"ticket.{action.value}",
        "trouble_ticket",
        ticket["id"],
        mvno_id=ticket["mvno_id"],
        data={k: v for k, v in data.items() if k != "recharges"},
    )
    return event_id


def _credit(
    db: Database, actor: Actor, ticket: dict[str, Any], given: ActionInput, key: str
) -> dict[str, Any]:
    """A refund (e.g. a recharge that never arrived) or a goodwill credit to the line's
    balance, from the MVNO's revenue, as one ledger transfer linked to the ticket."""
    amount = check_amount(given.amount_fen)
    reason = redact((given.reason or "").strip())
    if not reason:
        raise InvalidInput("say why the line is credited", code="required", field="reason")
    reference = f"ticket:{ids.to_public('trouble_ticket', ticket['id'])}"
    lt = t.ledger_transfer

    def effect(conn: Connection) -> dict[str, Any]:
        current = care.locked_ticket(conn, actor, ticket["id"])
        check_open(TicketStatus(current["status"]), "credit")
        facts = number_facts(conn, current["msisdn"], live=True)
        _require_the_tickets_line(facts, current)
        already = conn.execute(
            unscoped(
                select(func.coalesce(func.sum(lt.c.amount_fen), 0)).where(
                    lt.c.code == TransferCode.CARE_CREDIT.value, lt.c.reference == reference
                ),
                "what this ticket credited before",
            )
        ).scalar_one()
        check_credit(int(already), amount, actor.roles)
        transfer_id = ledger.transfer(
            conn,
            ledger.account(conn, AccountKind.MVNO_REVENUE, mvno_id=facts.mvno_id),
            ledger.account(
                conn, AccountKind.SUBSCRIBER_PREPAID, mvno_id=facts.mvno_id, msisdn=facts.msisdn
            ),
            amount,
            TransferCode.CARE_CREDIT,
            reference=reference,
            mvno_id=facts.mvno_id,
        )
        lifecycle.after_credit(conn, actor, facts.mvno_id, facts.msisdn)
        data = {"transferId": str(transfer_id), "amountFen": amount, "reason": reason}
        event_id = _record(conn, actor, current, TicketAction.CREDIT, _digest(actor, key), data)
        return {
            "action": TicketAction.CREDIT.value,
            "ticketId": str(ticket["id"]),
            "eventId": str(event_id),
            "transferId": str(transfer_id),
            "amountFen": amount,
        }

    request = {"ticket": str(ticket["id"]), "amount": amount, "reason": reason}
    derived = f"care:{ticket['id']}:{_digest(actor, key)[:40]}"
    result = idempotency.run_once(db, actor, derived, "care.credit", request, effect)
    return {
        **result,
        "ticketId": uuid.UUID(result["ticketId"]),
        "eventId": uuid.UUID(result["eventId"]),
    }


def _trace(
    db: Database, actor: Actor, ticket: dict[str, Any], given: ActionInput
) -> dict[str, Any]:
    """The number's recharges (at outlets and online) in a window, noted on the ticket."""
    now = clock.now()
    until = given.until or now
    since = given.since or ticket["created_at"] - timedelta(days=TRACE_DAYS)
    if since >= until:
        raise InvalidInput("since must be before until", code="bad_window", field="since")
    ro, po, o = t.recharge_order, t.payment_order, t.organization
    why = "care traces the ticket's own number's recharges"
    found: list[dict[str, Any]] = []
    with db.read() as conn:
        for r in conn.execute(
            unscoped(
                select(ro, o.c.name.label("outlet_name"))
                .join(o, o.c.id == ro.c.outlet_id)
                .where(
                    ro.c.msisdn == ticket["msisdn"],
                    ro.c.mvno_id == ticket["mvno_id"],
                    ro.c.created_at >= since,
                    ro.c.created_at < until,
                ),
                why,
            )
        ).mappings():
            found.append(
                {
                    "id": str(r["id"]),
                    "channel": "outlet",
                    "outlet": r["outlet_name"],
                    "channelOrderNumber": r["channel_order_number"],
                    "amountFen": r["amount_fen"],
                    "status": r["result"].get("status", "completed"),
                    "at": r["created_at"],
                }
            )
        for p in conn.execute(
            unscoped(
                select(po).where(
                    po.c.msisdn == ticket["msisdn"],
                    po.c.mvno_id == ticket["mvno_id"],
                    po.c.created_at >= since,
                    po.c.created_at < until,
                ),
                why,
            )
        ).mappings():
            found.append(
                {
                    "id": str(p["id"]),
                    "channel": "online",
                    "outlet": None,
                    "channelOrderNumber": p["gateway_txn_id"],
                    "amountFen": p["amount_fen"],
                    "status": p["status"],
                    "at": p["created_at"],
                }
            )
    found.sort(key=lambda r: r["at"])
    with db.write() as conn:
        current = care.locked_ticket(conn, actor, ticket["id"])
        data = {
            "since": since.isoformat(),
            "until": until.isoformat(),
            "found": len(found),
            "recharges": [{**r, "at": r["at"].isoformat()} for r in found],
        }
        event_id = _record(conn, actor, current, TicketAction.TRACE_RECHARGE, None, data)
    return {
        "action": TicketAction.TRACE_RECHARGE.value,
        "ticketId": ticket["id"],
        "eventId": event_id,
        "since": since,
        "until": until,
        "recharges": found,
        "replayed": False,
    }
