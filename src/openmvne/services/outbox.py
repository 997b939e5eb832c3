"""The provisioning outbox: network commands written in the same transaction as the business
change that needs them, and sent (and retried) later by services/provisioning.py."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, insert

from openmvne import clock, ids
from openmvne.db import tables as t
from openmvne.domain.subscribers import NetworkLevel
from openmvne.network.provisioning import Command

pc = t.provisioning_command

PENDING = "pending"
SENT = "sent"
ACKNOWLEDGED = "acknowledged"
REJECTED = "rejected"
FAILED = "failed"
OPEN_STATES = (PENDING, SENT)


def command_for(before: NetworkLevel, after: NetworkLevel) -> Command | None:
    """The one command that takes the network from `before` to `after` (None: nothing to do)."""
    if before is after:
        return None
    match after:
        case NetworkLevel.OPEN:
            reopen = before in (NetworkLevel.NONE, NetworkLevel.CLOSED)
            return Command.OPEN_LINE if reopen else Command.RESTORE
        case NetworkLevel.OUT_BARRED:
            return Command.BAR_OUTGOING
        case NetworkLevel.BOTH_BARRED:
            return Command.BAR_BOTH
        case NetworkLevel.CLOSED:
            return Command.CLOSE
        case NetworkLevel.NONE:
            return None


def level_after(command: Command) -> NetworkLevel | None:
    """The line's network level once `command` is acknowledged (changeSim keeps it)."""
    return {
        Command.OPEN_LINE: NetworkLevel.OPEN,
        Command.RESTORE: NetworkLevel.OPEN,
        Command.BAR_OUTGOING: NetworkLevel.OUT_BARRED,
        Command.BAR_BOTH: NetworkLevel.BOTH_BARRED,
        Command.CLOSE: NetworkLevel.CLOSED,
    }.get(command)


def enqueue(
    conn: Connection,
    line: dict[str, Any],
    command: Command,
    *,
    host_network: str,
    order_id: uuid.UUID | None,
    imsi: str | None = None,
    iccid: str | None = None,
) -> uuid.UUID:
    now = clock.now()
    command_id = ids.new_id()
    conn.execute(
        insert(pc).values(
            id=command_id,
            mvno_id=line["mvno_id"],
            order_id=order_id,
            subscription_id=line["id"],
            msisdn=line["msisdn"],
            host_network=host_network,
            command=command.value,
            imsi=imsi,
            iccid=iccid,
            state=PENDING,
            attempts=0,
            next_attempt_at=now,
            network_ref=None,
            last_error=None,
            created_at=now,
            updated_at=now,
        )
    )
    return command_id
