"""Moving lines through their lifecycle, inside the caller's transaction, and the time-driven
step (`tick`) that moves lines whose timers expired and charges recurring fees.

Every move re-reads the line under its lock and checks the move against the pure state
machine (domain/subscribers.py); a move that changes what the network must do with the line
writes one provisioning command to the outbox. So `tick` is safe to run twice, or in two
processes at once: the second finds nothing left to do.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from openmvne import clock
from openmvne.db import audit, locks
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.access import Actor
from openmvne.domain.ledger import AccountKind, TransferCode
from openmvne.domain.numbers import NumberState, parse_msisdn
from openmvne.domain.parties import OrgKind, Role
from openmvne.domain.sims import CardState, check_card_move
from openmvne.domain.subscribers import (
    ARREARS,
    Event,
    LifecyclePolicy,
    LineState,
    first_of_next_month,
    local_date,
    monthly_fee,
    network_level,
    next_state,
    remembers_previous,
)
from openmvne.ids import new_id
from openmvne.network.provisioning import Command
from openmvne.services import ledger, number_lifecycle, outbox

sub = t.subscription
WHY = "the line's own records, under its lock"
SYSTEM = Actor(
    user_id=None,
    username="lifecycle",
    party_id=uuid.UUID(int=0),
    party_kind=OrgKind.PLATFORM,
    roles=frozenset({Role.PLATFORM_ADMIN}),
)


def policy(conn: Connection, mvno_id: uuid.UUID) -> LifecyclePolicy:
    row = (
        conn.execute(
            unscoped(
                select(t.lifecycle_policy).where(t.lifecycle_policy.c.mvno_id == mvno_id),
                "the line's MVNO's timers",
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return LifecyclePolicy()
    return LifecyclePolicy(
        row["out_to_both_days"],
        row["both_to_pre_cancel_days"],
        row["pre_cancel_to_cancel_days"],
        row["keep_fee_fen"],
    )


def locked_line(conn: Connection, line_id: uuid.UUID) -> dict[str, Any]:
    """The line, read after taking its lock: what every move decides on."""
    locks.lock(conn, f"line:{line_id}")
    return dict(
        conn.execute(unscoped(select(sub).where(sub.c.id == line_id), WHY)).mappings().one()
    )


def host_network(conn: Connection, host_id: uuid.UUID) -> str:
    o = t.organization
    code = conn.execute(
        unscoped(select(o.c.network_code).where(o.c.id == host_id), "host networks are public")
    ).scalar()
    return str(code)


def card_of(conn: Connection, sim_id: uuid.UUID) -> dict[str, Any]:
    c = t.sim_card
    return dict(conn.execute(unscoped(select(c).where(c.c.id == sim_id), WHY)).mappings().one())


def move_card(conn: Connection, sim_id: uuid.UUID, target: CardState, **values: Any) -> None:
    card = card_of(conn, sim_id)
    check_card_move(CardState(card["state"]), target, card["iccid"])
    conn.execute(
        update(t.sim_card)
        .where(t.sim_card.c.id == sim_id)
        .values(state=target.value, updated_at=clock.now(), **values)
    )


def prepaid(conn: Connection, line: dict[str, Any]) -> dict[str, Any]:
    return ledger.account(
        conn, AccountKind.SUBSCRIBER_PREPAID, mvno_id=line["mvno_id"], msisdn=line["msisdn"]
    )


def prepaid_view(conn: Connection, line: dict[str, Any]) -> dict[str, Any]:
    """The line's balance for reading: a line that never had money shows zeros."""
    la = t.ledger_account
    key = ledger.natural_key(AccountKind.SUBSCRIBER_PREPAID, line["mvno_id"], None, line["msisdn"])
    row = conn.execute(unscoped(select(la).where(la.c.natural_key == key), WHY)).mappings().first()
    if row is None:
        return {"debits_posted": 0, "credits_posted": 0, "debits_pending": 0, "credits_pending": 0}
    return dict(row)


def available(account: dict[str, Any]) -> int:
    return ledger.balance(account).available


def apply_event(
    conn: Connection,
    actor: Actor,
    line: dict[str, Any],
    event: Event,
    *,
    order_id: uuid.UUID | None = None,
    provision: bool = True,
) -> dict[str, Any]:
    """Move `line` (read under its lock) by `event`; returns the updated line."""
    state = LineState(line["state"])
    previous = LineState(line["previous_state"]) if line["previous_state"] else None
    target = next_state(state, event, previous)
    now = clock.now()
    timer = policy(conn, line["mvno_id"]).timer(target)
    values: dict[str, Any] = {
        "state": target.value,
        "state_since": now,
        "state_until": now + timer if timer is not None else None,
        "updated_at": now,
    }
    if remembers_previous(event):
        values["previous_state"] = state.value
    elif state is LineState.OPERATOR_BARRED:
        values["previous_state"] = None
    if target is LineState.CANCELLED:
        _cancel_effects(conn, actor, line, values)
    elif event in (Event.REPORT_LOST, Event.FOUND):
        _lost_or_found_card(conn, line, event)
    conn.execute(update(sub).where(sub.c.id == line["id"]).values(**values))
    _keep_barring(conn, line["id"], state, target, now)
    moved = {**line, **values}
    command = outbox.command_for(network_level(state), network_level(target))
    if provision and command is not None:
        imsi = iccid = None
        if command is Command.OPEN_LINE:
            card = card_of(conn, line["sim_id"])
            imsi, iccid = card["imsi"], card["iccid"]
        outbox.enqueue(
            conn,
            moved,
            command,
            host_network=host_network(conn, line["host_id"]),
            order_id=order_id,
            imsi=imsi,
            iccid=iccid,
        )
        conn.execute(update(sub).where(sub.c.id == line["id"]).values(network_in_sync=False))
    audit.record(
        conn,
        actor,
        f"line.{event.value}",
        "subscription",
        line["id"],
        mvno_id=line["mvno_id"],
        data={"msisdn": line["msisdn"], "from": state.value, "to": target.value},
    )
    if event is Event.OPERATOR_CLEAR and target in ARREARS:
        # Back in arrears after an operator barring: money that arrived during the barring
        # found no arrears to end (after_credit looks at arrears only), so a debt the balance
        # now covers restores the line here, at once, instead of letting the arrears timers
        # cancel a line that has paid.
        return _restore_if_covered(conn, actor, moved, order_id=order_id)
    return moved


def _keep_barring(
    conn: Connection, line_id: uuid.UUID, state: LineState, target: LineState, now: datetime
) -> None:
    """Keep when the line is barred for missing real-name registration: rating charges
    nothing for use in such a span, by the use's time."""
    rnb = t.real_name_barring
    if target is LineState.NON_REAL_NAME and state is not LineState.NON_REAL_NAME:
        conn.execute(
            insert(rnb).values(id=new_id(), subscription_id=line_id, since=now, until=None)
        )
    elif state is LineState.NON_REAL_NAME and target is not LineState.NON_REAL_NAME:
        conn.execute(
            update(rnb)
            .where(rnb.c.subscription_id == line_id, rnb.c.until.is_(None))
            .values(until=now)
        )


def _lost_or_found_card(conn: Connection, line: dict[str, Any], event: Event) -> None:
    """The card follows its line: reported lost with it, in use again when found. (A card
    not yet confirmed by the network, or already replaced, is left as it is.)"""
    card = card_of(conn, line["sim_id"])
    if event is Event.REPORT_LOST and card["state"] == CardState.ACTIVE.value:
        move_card(conn, line["sim_id"], CardState.LOST)
    elif event is Event.FOUND and card["state"] == CardState.LOST.value:
        move_card(conn, line["sim_id"], CardState.ACTIVE)


def _cancel_effects(
    conn: Connection, actor: Actor, line: dict[str, Any], values: dict[str, Any]
) -> None:
    """Cancellation: the balance is owed back to the holder, the number rests in quarantine,
    the card is retired, add-on services end."""
    account = prepaid(conn, line)
    left = available(account)
    if left > 0:
        ledger.transfer(
            conn,
            account,
            ledger.account(conn, AccountKind.REFUND_DUE, mvno_id=line["mvno_id"]),
            left,
            TransferCode.REFUND,
            reference=f"cancel:{line['id']}",
            mvno_id=line["mvno_id"],
        )
    number_lifecycle.move_sold(conn, parse_msisdn(line["msisdn"]), NumberState.QUARANTINED)
    card = card_of(conn, line["sim_id"])
    if card["state"] == CardState.SOLD.value:
        # A replacement card the network has not confirmed yet: the holder has it in hand,
        # so it dies with the line (and a late changeSim ack must not bring it to life).
        move_card(conn, line["sim_id"], CardState.ACTIVE)
        card["state"] = CardState.ACTIVE.value
    if card["state"] in (CardState.ACTIVE.value, CardState.LOST.value):
        # The card lets go of the number: after its quarantine the number is sold again,
        # with another card, and a number belongs to one card at a time (unique msisdn).
        move_card(conn, line["sim_id"], CardState.CLOSED, msisdn=None)
    ss = t.subscription_service
    conn.execute(
        update(ss)
        .where(ss.c.subscription_id == line["id"], ss.c.state == "active")
        .values(state="closed", ended_at=clock.now())
    )
    values["ended_at"] = clock.now()
    audit.record(
        conn,
        actor,
        "line.refunded",
        "subscription",
        line["id"],
        mvno_id=line["mvno_id"],
        data={"msisdn": line["msisdn"], "refundFen": left},
    )


def after_credit(conn: Connection, actor: Actor, mvno_id: uuid.UUID, msisdn: str) -> None:
    """Money arrived on a line (recharge, voucher, payment): a line barred for arrears whose
    debt is now covered is restored at once."""
    found = conn.execute(
        unscoped(
            select(sub.c.id).where(
                sub.c.mvno_id == mvno_id,
                sub.c.msisdn == msisdn,
                sub.c.state.in_([s.value for s in ARREARS]),
            ),
            "the credited line",
        )
    ).scalar()
    if found is None:
        return
    _restore_if_covered(conn, actor, locked_line(conn, found))


def _restore_if_covered(
    conn: Connection,
    actor: Actor,
    line: dict[str, Any],
    *,
    order_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """A line in arrears whose balance covers its debt pays it and is active again."""
    if LineState(line["state"]) not in ARREARS:
        return line
    account = prepaid(conn, line)
    if available(account) <= line["debt_fen"]:
        return line  # still short: a balance of zero after paying the debt is not a live line
    if line["debt_fen"]:
        ledger.transfer(
            conn,
            account,
            ledger.account(conn, AccountKind.MVNO_REVENUE, mvno_id=line["mvno_id"]),
            line["debt_fen"],
            TransferCode.FEE,
            reference=f"debt:{line['id']}",
            mvno_id=line["mvno_id"],
        )
        conn.execute(update(sub).where(sub.c.id == line["id"]).values(debt_fen=0))
        line = {**line, "debt_fen": 0}
    return apply_event(conn, actor, line, Event.DEBT_COVERED, order_id=order_id)


def exhausted(conn: Connection, actor: Actor, line_id: uuid.UUID) -> None:
    """The balance ran out (usage rating, [usage]): an active line goes into arrears."""
    line = locked_line(conn, line_id)
    if LineState(line["state"]) in (LineState.ACTIVE, LineState.SUSPENDED):
        apply_event(conn, actor, line, Event.BALANCE_EXHAUSTED)


# --- the time-driven step -------------------------------------------------------------------


def _due_timers(db: Database, limit: int) -> list[uuid.UUID]:
    with db.read() as conn:
        return list(
            conn.execute(
                unscoped(
                    select(sub.c.id)
                    .where(
                        sub.c.state.in_([s.value for s in ARREARS]),
                        sub.c.state_until <= clock.now(),
                    )
                    .limit(limit),
                    "the lifecycle step works for every tenant",
                )
            )
            .scalars()
            .all()
        )


def _due_fees(db: Database, today: date, limit: int) -> list[uuid.UUID]:
    with db.read() as conn:
        return list(
            conn.execute(
                unscoped(
                    select(sub.c.id)
                    .where(sub.c.next_fee_on <= today, sub.c.state.notin_(["cancelled", "failed"]))
                    .limit(limit),
                    "the lifecycle step works for every tenant",
                )
            )
            .scalars()
            .all()
        )


def _expire_timer(db: Database, line_id: uuid.UUID) -> bool:
    with db.write() as conn:
        line = locked_line(conn, line_id)
        until = line["state_until"]
        if LineState(line["state"]) not in ARREARS or until is None or until > clock.now():
            return False  # someone else moved it first
        apply_event(conn, SYSTEM, line, Event.TIMER)
        return True


def _charge_fee(db: Database, line_id: uuid.UUID, today: date) -> bool:
    """Charge the month's recurring fee, once: the due date moves in the same transaction."""
    with db.write() as conn:
        line = locked_line(conn, line_id)
        due = line["next_fee_on"]
        if due is None or due > today or line["state"] in ("cancelled", "failed"):
            return False
        state = LineState(line["state"])
        plan_fee = conn.execute(
            unscoped(
                select(t.product_offering.c.monthly_fee_fen).where(
                    t.product_offering.c.id == line["offering_id"]
                ),
                "the line's own offer",
            )
        ).scalar_one()
        fee = monthly_fee(state, plan_fee, policy(conn, line["mvno_id"]))
        conn.execute(
            update(sub)
            .where(sub.c.id == line_id)
            .values(next_fee_on=first_of_next_month(due), updated_at=clock.now())
        )
        if fee == 0:
            return True
        account = prepaid(conn, line)
        if available(account) >= fee:
            ledger.transfer(
                conn,
                account,
                ledger.account(conn, AccountKind.MVNO_REVENUE, mvno_id=line["mvno_id"]),
                fee,
                TransferCode.FEE,
                reference=f"fee:{due.isoformat()[:7]}:{line_id}",
                mvno_id=line["mvno_id"],
            )
            return True
        # Not enough: the fee becomes a debt and the line goes into arrears.
        conn.execute(update(sub).where(sub.c.id == line_id).values(debt_fen=line["debt_fen"] + fee))
        line["debt_fen"] += fee
        apply_event(conn, SYSTEM, line, Event.BALANCE_EXHAUSTED)
        return True


def tick(db: Database, *, limit: int = 10_000) -> dict[str, int]:
    """Move every line whose timer expired and charge the fees that fell due."""
    moved = sum(_expire_timer(db, line_id) for line_id in _due_timers(db, limit))
    today = local_date(clock.now())
    charged = sum(_charge_fee(db, line_id, today) for line_id in _due_fees(db, today, limit))
    swept = number_lifecycle.sweep(db)
    return {"timersExpired": moved, "feesCharged": charged, **swept}
