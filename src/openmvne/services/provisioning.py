"""Sending the outbox to the host network, and what an acknowledgement means for the line
and its order.

A command is sent with its own id as the network's transaction id, so a retry after a
timeout (when we cannot know whether the network applied it) is harmless: the network
answers the retry without applying it twice. Commands of one line go out one at a time, in
order. Unanswered commands are sent again after `ack_timeout`; after `max_attempts` sends
without an answer the command fails, and so does its order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, func, select, update

from openmvne import clock
from openmvne.db import audit
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.numbers import HostNetwork, NumberState, parse_msisdn
from openmvne.domain.sims import CardKind, CardState
from openmvne.domain.subscribers import (
    Event,
    LineState,
    NetworkLevel,
    first_of_next_month,
    local_date,
    network_level,
)
from openmvne.network.provisioning import (
    Ack,
    Command,
    HostProvisioning,
    ProvisioningRequest,
    ProvisioningTimeout,
    ProvisioningUnavailable,
)
from openmvne.services import lifecycle, number_lifecycle, outbox, subscriber_sale
from openmvne.services.lifecycle import SYSTEM

pc = t.provisioning_command
po = t.product_order
sub = t.subscription
WHY = "the outbox works for every tenant"
ACK_TIMEOUT = timedelta(seconds=30)
MAX_ATTEMPTS = 10


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** max(attempts - 1, 0), 60))


def _due(db: Database, limit: int) -> list[dict[str, Any]]:
    """The oldest open command of each line, when it is due."""
    with db.read() as conn:
        rows = (
            conn.execute(
                unscoped(
                    select(pc)
                    .where(pc.c.state.in_(outbox.OPEN_STATES))
                    .order_by(pc.c.id)
                    .limit(limit * 5),
                    WHY,
                )
            )
            .mappings()
            .all()
        )
    heads: dict[uuid.UUID, dict[str, Any]] = {}
    for row in rows:
        heads.setdefault(row["subscription_id"], dict(row))
    now = clock.now()
    return [r for r in heads.values() if r["next_attempt_at"] <= now][:limit]


def _send(db: Database, network: HostProvisioning, command: dict[str, Any]) -> str:
    request = ProvisioningRequest(
        transaction_id=str(command["id"]),
        host=HostNetwork(command["host_network"]),
        command=Command(command["command"]),
        msisdn=command["msisdn"],
        imsi=command["imsi"],
        iccid=command["iccid"],
    )
    try:
        network.submit(request)
        outcome, error = "sent", None
    except ProvisioningTimeout:
        outcome, error = "timeout", "no answer from the network"
    except ProvisioningUnavailable:
        outcome, error = "unavailable", "the network refused to take the command (busy)"
    now = clock.now()
    attempts = command["attempts"] + 1
    with db.write() as conn:
        values: dict[str, Any] = {"attempts": attempts, "updated_at": now, "last_error": error}
        if outcome == "sent":
            values.update(state=outbox.SENT, next_attempt_at=now + ACK_TIMEOUT)
        else:
            values.update(next_attempt_at=now + _backoff(attempts))
        done = conn.execute(
            update(pc)
            .where(pc.c.id == command["id"], pc.c.state.in_(outbox.OPEN_STATES))
            .where(pc.c.attempts == command["attempts"])  # another sender got there first
            .values(**values)
        )
        if done.rowcount == 1 and outcome != "sent" and attempts >= MAX_ATTEMPTS:
            _close(conn, command["id"], ok=False, reason=f"{error} after {attempts} attempts")
    return outcome


def record_acks(db: Database, acks: Iterable[Ack]) -> int:
    recorded = 0
    for ack in acks:
        try:
            command_id = uuid.UUID(ack.transaction_id)
        except ValueError:
            continue  # not one of ours
        with db.write() as conn:
            recorded += _close(
                conn, command_id, ok=ack.ok, reason=ack.reason, network_ref=ack.network_ref
            )
    return recorded


def dispatch(db: Database, network: HostProvisioning, *, limit: int = 200) -> dict[str, int]:
    """One round: record the answers that arrived, send what is due, record again."""
    acked = record_acks(db, network.poll_acks())
    outcomes = [_send(db, network, command) for command in _due(db, limit)]
    acked += record_acks(db, network.poll_acks())
    return {
        "sent": outcomes.count("sent"),
        "timeouts": outcomes.count("timeout") + outcomes.count("unavailable"),
        "acknowledged": acked,
    }


def drain(db: Database, network: HostProvisioning, *, rounds: int = 50) -> None:
    """Dispatch until nothing is left that is due now (tests, the CLI's tick)."""
    for _ in range(rounds):
        result = dispatch(db, network)
        if not any(result.values()):
            return


def _close(
    conn: Connection,
    command_id: uuid.UUID,
    *,
    ok: bool,
    reason: str | None,
    network_ref: str | None = None,
) -> int:
    """Record the network's verdict on a command, once, and act on it."""
    head = conn.execute(unscoped(select(pc).where(pc.c.id == command_id), WHY)).mappings().first()
    if head is None:
        return 0
    line = lifecycle.locked_line(conn, head["subscription_id"])
    command = dict(
        conn.execute(unscoped(select(pc).where(pc.c.id == command_id), WHY)).mappings().one()
    )
    if command["state"] not in outbox.OPEN_STATES:
        if ok and command["state"] == outbox.FAILED and command["network_ref"] is None:
            return _applied_after_all(conn, line, command, network_ref)
        return 0  # already closed (a duplicate ack, or a second dispatcher)
    if ok:
        state = outbox.ACKNOWLEDGED
    elif command["attempts"] >= MAX_ATTEMPTS and reason and "attempts" in reason:
        state = outbox.FAILED
    else:
        state = outbox.REJECTED
    now = clock.now()
    conn.execute(
        update(pc)
        .where(pc.c.id == command_id)
        .values(state=state, network_ref=network_ref, last_error=reason, updated_at=now)
    )
    kind = Command(command["command"])
    if ok:
        level = outbox.level_after(kind)
        if level is not None:
            line["network_level"] = level.value
        if kind is Command.CHANGE_SIM:
            card = lifecycle.card_of(conn, line["sim_id"])
            if card["state"] == CardState.SOLD.value:
                lifecycle.move_card(conn, line["sim_id"], CardState.ACTIVE)
    open_left = conn.execute(
        unscoped(
            select(func.count())
            .select_from(pc)
            .where(pc.c.subscription_id == line["id"], pc.c.state.in_(outbox.OPEN_STATES)),
            WHY,
        )
    ).scalar_one()
    in_sync = ok and open_left == 0
    conn.execute(
        update(sub)
        .where(sub.c.id == line["id"])
        .values(network_level=line["network_level"], network_in_sync=in_sync, updated_at=now)
    )
    if command["order_id"] is not None:
        _order_news(conn, line, command, ok=ok, reason=reason)
    return 1


def _applied_after_all(
    conn: Connection, line: dict[str, Any], command: dict[str, Any], network_ref: str | None
) -> int:
    """The network carried out a command the platform had given up on: the answer to the
    last attempt was lost and came back later. What failed stays failed (the order, and a
    sale's undoing: the customer was told, the money went back), but the network's view is
    recorded and, when it is not what the line's state needs, one command puts it right. A
    line the platform does not have (a failed sale) must not stay open on the network: nobody
    would pay for it, and its number could never be opened for a new buyer."""
    now = clock.now()
    conn.execute(
        update(pc)
        .where(pc.c.id == command["id"])
        .values(
            network_ref=network_ref or "applied-late",
            last_error=f"{command['last_error']}; applied by the network after all",
            updated_at=now,
        )
    )
    kind = Command(command["command"])
    level = outbox.level_after(kind) or NetworkLevel(line["network_level"])
    if kind is Command.CHANGE_SIM:
        card = lifecycle.card_of(conn, line["sim_id"])
        if card["state"] == CardState.SOLD.value:
            lifecycle.move_card(conn, line["sim_id"], CardState.ACTIVE)
    open_left = conn.execute(
        unscoped(
            select(func.count())
            .select_from(pc)
            .where(pc.c.subscription_id == line["id"], pc.c.state.in_(outbox.OPEN_STATES)),
            WHY,
        )
    ).scalar_one()
    fix = None
    if open_left == 0:  # else the commands still to come decide where the line ends
        wanted = network_level(LineState(line["state"]))
        if wanted is NetworkLevel.NONE and level is not NetworkLevel.NONE:
            wanted = NetworkLevel.CLOSED
        fix = outbox.command_for(level, wanted)
    if fix is not None:
        imsi = iccid = None
        if fix is Command.OPEN_LINE:
            card = lifecycle.card_of(conn, line["sim_id"])
            imsi, iccid = card["imsi"], card["iccid"]
        outbox.enqueue(
            conn,
            line,
            fix,
            host_network=lifecycle.host_network(conn, line["host_id"]),
            order_id=None,
            imsi=imsi,
            iccid=iccid,
        )
    conn.execute(
        update(sub)
        .where(sub.c.id == line["id"])
        .values(
            network_level=level.value,
            network_in_sync=open_left == 0 and fix is None,
            updated_at=now,
        )
    )
    audit.record(
        conn,
        SYSTEM,
        "line.network_applied_late",
        "subscription",
        line["id"],
        mvno_id=line["mvno_id"],
        data={"msisdn": line["msisdn"], "command": kind.value, "fix": fix and fix.value},
    )
    return 1


def _order_news(
    conn: Connection, line: dict[str, Any], command: dict[str, Any], *, ok: bool, reason: str | None
) -> None:
    order = dict(
        conn.execute(unscoped(select(po).where(po.c.id == command["order_id"]), WHY))
        .mappings()
        .one()
    )
    if order["state"] != "inProgress":
        return
    if order["kind"] == "sale":
        if ok:
            _activated(conn, line)
        else:
            _sale_undone(conn, line, order["id"])
    if not ok:
        finish_order(conn, order["id"], "failed", reason or "refused by the network")
        return
    still_open = conn.execute(
        unscoped(
            select(func.count())
            .select_from(pc)
            .where(pc.c.order_id == order["id"], pc.c.state.in_(outbox.OPEN_STATES)),
            WHY,
        )
    ).scalar_one()
    if still_open == 0:
        finish_order(conn, order["id"], "completed", None)


def finish_order(conn: Connection, order_id: uuid.UUID, state: str, reason: str | None) -> None:
    now = clock.now()
    conn.execute(
        update(po)
        .where(po.c.id == order_id, po.c.state == "inProgress")
        .values(state=state, failure_reason=reason, updated_at=now, completed_at=now)
    )


def _activated(conn: Connection, line: dict[str, Any]) -> None:
    """The network opened the line: the number is in use, the card active, fees run."""
    moved = lifecycle.apply_event(conn, SYSTEM, line, Event.ACTIVATED, provision=False)
    number_lifecycle.move_sold(conn, parse_msisdn(line["msisdn"]), NumberState.IN_USE)
    lifecycle.move_card(conn, line["sim_id"], CardState.ACTIVE)
    now = clock.now()
    conn.execute(
        update(sub)
        .where(sub.c.id == line["id"])
        .values(
            activated_at=now,
            # The first month was paid at the sale.
            next_fee_on=first_of_next_month(local_date(now)),
            network_in_sync=network_level(LineState(moved["state"])).value == line["network_level"],
        )
    )


def _sale_undone(conn: Connection, line: dict[str, Any], order_id: uuid.UUID) -> None:
    """The network refused the line: the number goes back to stock, the card back to the
    outlet's shelf, the money back to the outlet's float. Nothing of the sale remains."""
    lifecycle.apply_event(conn, SYSTEM, line, Event.ACTIVATION_FAILED, provision=False)
    number_lifecycle.move_sold(conn, parse_msisdn(line["msisdn"]), None)
    card = lifecycle.card_of(conn, line["sim_id"])
    # A pre-bound card keeps its factory number; a blank card is blank again.
    keeps_number = card["kind"] == CardKind.PREBOUND.value
    lifecycle.move_card(
        conn, line["sim_id"], CardState.IN_STOCK, msisdn=card["msisdn"] if keeps_number else None
    )
    subscriber_sale.undo_money(conn, order_id)
    audit.record(
        conn,
        SYSTEM,
        "line.sale_undone",
        "subscription",
        line["id"],
        mvno_id=line["mvno_id"],
        data={"msisdn": line["msisdn"]},
    )
