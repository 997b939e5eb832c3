"""The ledger engine: accounts and transfers, inside the caller's transaction.

Balances move with single conditional UPDATEs (`... WHERE available >= amount`), so two
concurrent debits can never both spend the same fen, on SQLite or PostgreSQL, and a CHECK
constraint on the account refuses an overdraft even if this code were wrong. Transfers are
only ever inserted; database triggers refuse any update or delete.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from operator import attrgetter
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from openmvne import clock, ids
from openmvne.db import bulk
from openmvne.db import tables as t
from openmvne.db.scoping import unscoped
from openmvne.db.upsert import insert_ignore
from openmvne.domain.ledger import (
    NO_OVERDRAFT,
    AccountKind,
    Balance,
    TransferCode,
    TransferStatus,
    check_amount,
    check_can_debit,
    check_post_amount,
)
from openmvne.errors import Conflict, NotFound

la = t.ledger_account
lt = t.ledger_transfer
WHY = "the ledger engine works below the tenancy layer; callers scope what they show"

_FIND = unscoped(select(la).where(la.c.natural_key == bindparam("key")), WHY)
# Lines' prepaid accounts first, then by id: the lock order (docs/money.md).
_BY_KEYS = unscoped(
    select(la)
    .where(la.c.natural_key.in_(bindparam("keys", expanding=True)))
    .order_by(la.c.kind != AccountKind.SUBSCRIBER_PREPAID.value, la.c.id),
    WHY,
)
_BY_KEYS_LOCKED = _BY_KEYS.with_for_update()
_INSERT_TRANSFER = insert(lt)
_CREDIT_POSTED = (
    update(la)
    .where(la.c.id == bindparam("account"))
    .values(credits_posted=la.c.credits_posted + bindparam("amount"))
)
_CREDIT_PENDING = (
    update(la)
    .where(la.c.id == bindparam("account"))
    .values(credits_pending=la.c.credits_pending + bindparam("amount"))
)
# The spend check and the spend are one statement: no window for a second spender.
_DEBIT_POSTED = (
    update(la)
    .where(
        la.c.id == bindparam("account"),
        ~la.c.no_overdraft
        | (la.c.credits_posted - la.c.debits_posted - la.c.debits_pending >= bindparam("amount")),
    )
    .values(debits_posted=la.c.debits_posted + bindparam("amount"))
)
_DEBIT_PENDING = (
    update(la)
    .where(
        la.c.id == bindparam("account"),
        ~la.c.no_overdraft
        | (la.c.credits_posted - la.c.debits_posted - la.c.debits_pending >= bindparam("amount")),
    )
    .values(debits_pending=la.c.debits_pending + bindparam("amount"))
)


def natural_key(
    kind: AccountKind, mvno_id: uuid.UUID | None, owner_id: uuid.UUID | None, msisdn: str | None
) -> str:
    return _holder(kind, mvno_id, owner_id) + (msisdn or "-")


def _holder(kind: AccountKind, mvno_id: uuid.UUID | None, owner_id: uuid.UUID | None) -> str:
    """A natural key up to its number."""
    return f"{kind.value}:{mvno_id or '-'}:{owner_id or '-'}:"


def natural_keys(
    kind: AccountKind, holders: Iterable[tuple[uuid.UUID | None, uuid.UUID | None, str | None]]
) -> list[str]:
    """`natural_key` of many holders (rating: every line's prepaid account), the part before
    the number formatted once per (MVNO, owner) rather than once per holder."""
    heads: dict[tuple[uuid.UUID | None, uuid.UUID | None], str] = {}
    out = []
    for mvno_id, owner_id, msisdn in holders:
        head = heads.get((mvno_id, owner_id))
        if head is None:
            head = heads[(mvno_id, owner_id)] = _holder(kind, mvno_id, owner_id)
        out.append(head + (msisdn or "-"))
    return out


def account(
    conn: Connection,
    kind: AccountKind,
    *,
    mvno_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
    msisdn: str | None = None,
) -> dict[str, Any]:
    """The account for this holder, opened on first use."""
    key = natural_key(kind, mvno_id, owner_id, msisdn)
    row = conn.execute(_FIND, {"key": key}).mappings().first()
    if row is not None:
        return dict(row)
    open_account(conn, kind, mvno_id, owner_id, msisdn)
    return dict(conn.execute(_FIND, {"key": key}).mappings().one())


def accounts_by_key(
    conn: Connection, keys: Iterable[str], *, lock: bool
) -> dict[str, dict[str, Any]]:
    """The open accounts among these natural keys, by key; with `lock`, locked in the lock
    order (lines' prepaid accounts first, then by id)."""
    wanted = sorted(keys)
    if not wanted:
        return {}
    rows = conn.execute(_BY_KEYS_LOCKED if lock else _BY_KEYS, {"keys": wanted}).mappings()
    return {r["natural_key"]: dict(r) for r in rows}


def open_account(
    conn: Connection,
    kind: AccountKind,
    mvno_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    msisdn: str | None,
) -> None:
    """Open the holder's account unless it is open: two first payments to one holder may
    race to open it, and one does. Read the row afterwards either way."""
    insert_ignore(
        conn,
        la,
        {
            "id": ids.new_id(),
            "kind": kind.value,
            "mvno_id": mvno_id,
            "owner_id": owner_id,
            "msisdn": msisdn,
            "natural_key": natural_key(kind, mvno_id, owner_id, msisdn),
            "no_overdraft": kind in NO_OVERDRAFT,
            "debits_posted": 0,
            "credits_posted": 0,
            "debits_pending": 0,
            "credits_pending": 0,
            "created_at": clock.now(),
        },
        ["natural_key"],
    )


def balance(row: dict[str, Any]) -> Balance:
    return Balance(
        row["debits_posted"], row["credits_posted"], row["debits_pending"], row["credits_pending"]
    )


def _fresh(conn: Connection, account_id: uuid.UUID) -> dict[str, Any]:
    row = conn.execute(unscoped(select(la).where(la.c.id == account_id), WHY)).mappings().one()
    return dict(row)


def transfer(
    conn: Connection,
    debit: dict[str, Any],
    credit: dict[str, Any],
    amount_fen: int,
    code: TransferCode,
    *,
    reference: str | None = None,
    mvno_id: uuid.UUID | None = None,
    party_id: uuid.UUID | None = None,
    pending: bool = False,
    expires_at: datetime | None = None,
    transfer_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Post (or hold) one transfer. Refused whole when the debit account would overdraw."""
    check_amount(amount_fen)
    prepaid = AccountKind.SUBSCRIBER_PREPAID.value
    if credit["kind"] == prepaid:
        # The lock order (docs/money.md): lines' prepaid accounts before any other. Debiting
        # first would lock an MVNO's account (a care credit's revenue) before the line's.
        lock_accounts(conn, [a["id"] for a in (debit, credit) if a["kind"] == prepaid])
    first = _DEBIT_PENDING if pending else _DEBIT_POSTED
    second = _CREDIT_PENDING if pending else _CREDIT_POSTED
    done = conn.execute(first, {"account": debit["id"], "amount": amount_fen})
    if done.rowcount != 1:
        check_can_debit(AccountKind(debit["kind"]), balance(_fresh(conn, debit["id"])), amount_fen)
        raise Conflict("the balance changed; retry", code="balance_changed")
    conn.execute(second, {"account": credit["id"], "amount": amount_fen})
    transfer_id = transfer_id or ids.new_id()
    conn.execute(
        _INSERT_TRANSFER,
        {
            "id": transfer_id,
            "debit_account_id": debit["id"],
            "credit_account_id": credit["id"],
            "amount_fen": amount_fen,
            "code": code.value,
            "reference": reference,
            "status": (TransferStatus.PENDING if pending else TransferStatus.POSTED).value,
            "pending_id": None,
            "expires_at": expires_at,
            "mvno_id": mvno_id,
            "party_id": party_id,
            "created_at": clock.now(),
        },
    )
    return transfer_id


class Move(NamedTuple):
    """One transfer of a bulk posting (`post_many`). A named tuple: a rating batch makes one
    per line, and a tuple is made several times faster than a frozen dataclass."""

    debit_id: uuid.UUID
    credit_id: uuid.UUID
    amount_fen: int
    code: TransferCode
    reference: str | None
    mvno_id: uuid.UUID | None


_BUMP = (
    "UPDATE ledger_account SET debits_posted = debits_posted + ?, "
    "credits_posted = credits_posted + ?, debits_pending = debits_pending + ?, "
    "credits_pending = credits_pending + ? WHERE id = ?"
)
# PostgreSQL: the rows locked in id order first (the lock order, as one UPDATE a row at a
# time in id order would), then one UPDATE for them all: 50,000 single-row UPDATEs cost
# seconds, even pipelined. Arrays in binary (`%b`): no quoting pass over every element.
_LOCK_PG = "SELECT 1 FROM ledger_account WHERE id = ANY(%b) ORDER BY id FOR UPDATE"
# The same with some accounts first: rows are locked in the order the sort emits them.
_LOCK_FIRST_PG = (
    "SELECT 1 FROM ledger_account WHERE id = ANY(%b) ORDER BY id <> ALL(%b), id FOR UPDATE"
)
_BUMP_PG = (
    "UPDATE ledger_account a SET debits_posted = a.debits_posted + v.dp, "
    "credits_posted = a.credits_posted + v.cp, debits_pending = a.debits_pending + v.dq, "
    "credits_pending = a.credits_pending + v.cq "
    "FROM unnest(%b::uuid[], %b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[]) "
    "AS v(id, dp, cp, dq, cq) WHERE a.id = v.id"
)


def lock_accounts(conn: Connection, account_ids: Iterable[uuid.UUID]) -> None:
    """Lock accounts' rows now, in id order, on PostgreSQL (on SQLite the write transaction
    is the lock already). For a batch that must hold some accounts before it takes the rest:
    subscribers' prepaid accounts come before an MVNO's (docs/money.md, lock order)."""
    wanted = sorted(set(account_ids), key=attrgetter("int"))
    if wanted and conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_LOCK_PG, (wanted,))


def bump(
    conn: Connection, changes: dict[uuid.UUID, list[int]], *, first: Iterable[uuid.UUID] = ()
) -> None:
    """Add to many accounts' cached balances at once, locking them in id order, those named
    `first` (lines' prepaid accounts not yet locked) before the rest: the lock order,
    docs/money.md. A caller that moves lines' prepaid accounts has locked those already or
    names them. [debits posted, credits posted, debits pending, credits pending] per account.
    For batches that wrote the transfers themselves; the CHECKs on each account still refuse
    an overdraft. Driver statements, not Core: a rating batch bumps one account per line."""
    if not changes:
        return
    accounts = sorted(changes, key=attrgetter("int"))
    if conn.dialect.name == "postgresql":
        early = list(first)
        if early:
            conn.exec_driver_sql(_LOCK_FIRST_PG, (accounts, early))
        else:
            conn.exec_driver_sql(_LOCK_PG, (accounts,))
        columns = [[changes[a][i] for a in accounts] for i in range(4)]
        conn.exec_driver_sql(_BUMP_PG, (accounts, *columns))
        return
    to_id = bulk.to_driver(conn, la.c.id)
    conn.exec_driver_sql(_BUMP, [(*changes[a], to_id(a)) for a in accounts])


def post_many(conn: Connection, moves: list[Move]) -> int:
    """Post many transfers at once (usage rating: one per line and batch). The caller has
    locked the debited accounts and sized every debit to what they hold; the CHECK on each
    account still refuses an overdraft, failing the whole batch rather than a fen of it."""
    moves = [m for m in moves if m.amount_fen]
    for move in moves:
        check_amount(move.amount_fen)
    if not moves:
        return 0
    now = clock.now()
    changes: dict[uuid.UUID, list[int]] = {}
    for move in moves:
        changes.setdefault(move.debit_id, [0, 0, 0, 0])[0] += move.amount_fen
        changes.setdefault(move.credit_id, [0, 0, 0, 0])[1] += move.amount_fen
    bump(conn, changes)
    bulk.insert_rows(
        conn,
        lt,
        [
            {
                "id": ids.new_id(),
                "debit_account_id": m.debit_id,
                "credit_account_id": m.credit_id,
                "amount_fen": m.amount_fen,
                "code": m.code.value,
                "reference": m.reference,
                "status": TransferStatus.POSTED.value,
                "pending_id": None,
                "expires_at": None,
                "mvno_id": m.mvno_id,
                "party_id": None,
                "created_at": now,
            }
            for m in moves
        ],
    )
    return len(moves)


RESOLUTION_STATUS = {
    TransferCode.POST: TransferStatus.POSTED,
    TransferCode.VOID: TransferStatus.VOIDED,
    TransferCode.EXPIRE: TransferStatus.EXPIRED,
}


def resolve_hold(
    conn: Connection, hold_id: uuid.UUID, code: TransferCode, post_fen: int = 0
) -> uuid.UUID:
    """Post part or all of a hold, void it, or expire it: exactly once (the unique
    pending_id refuses a second resolution, however it races)."""
    hold = conn.execute(unscoped(select(lt).where(lt.c.id == hold_id), WHY)).mappings().first()
    if hold is None or hold["status"] != TransferStatus.PENDING:
        raise NotFound("no hold with that id", field="holdId")
    if code is TransferCode.POST:
        check_post_amount(hold["amount_fen"], post_fen)
    amount = hold["amount_fen"]
    resolution = ids.new_id()
    try:
        conn.execute(
            _INSERT_TRANSFER,
            {
                "id": resolution,
                "debit_account_id": hold["debit_account_id"],
                "credit_account_id": hold["credit_account_id"],
                "amount_fen": post_fen if code is TransferCode.POST else amount,
                "code": code.value,
                "reference": hold["reference"],
                "status": RESOLUTION_STATUS[code].value,
                "pending_id": hold_id,
                "expires_at": None,
                "mvno_id": hold["mvno_id"],
                "party_id": hold["party_id"],
                "created_at": clock.now(),
            },
        )
    except IntegrityError as exc:
        raise Conflict(
            "the hold is already resolved", code="hold_resolved", field="holdId"
        ) from exc
    conn.execute(
        update(la)
        .where(la.c.id == hold["debit_account_id"])
        .values(
            debits_pending=la.c.debits_pending - amount,
            debits_posted=la.c.debits_posted + (post_fen if code is TransferCode.POST else 0),
        )
    )
    conn.execute(
        update(la)
        .where(la.c.id == hold["credit_account_id"])
        .values(
            credits_pending=la.c.credits_pending - amount,
            credits_posted=la.c.credits_posted + (post_fen if code is TransferCode.POST else 0),
        )
    )
    return resolution


def audit_ledger(conn: Connection) -> list[str]:
    """Every difference between cached balances and the transfers, and Σ ≠ 0 (empty: none)."""
    problems = []
    posted_debits = dict(
        conn.execute(
            unscoped(
                select(lt.c.debit_account_id, func.sum(lt.c.amount_fen))
                .where(lt.c.status == TransferStatus.POSTED.value)
                .group_by(lt.c.debit_account_id),
                WHY,
            )
        ).all()
    )
    posted_credits = dict(
        conn.execute(
            unscoped(
                select(lt.c.credit_account_id, func.sum(lt.c.amount_fen))
                .where(lt.c.status == TransferStatus.POSTED.value)
                .group_by(lt.c.credit_account_id),
                WHY,
            )
        ).all()
    )
    resolved = select(lt.c.pending_id).where(lt.c.pending_id.is_not(None))
    open_holds = unscoped(
        select(lt).where(lt.c.status == TransferStatus.PENDING.value, lt.c.id.not_in(resolved)), WHY
    )
    pending_debits: dict[Any, int] = {}
    pending_credits: dict[Any, int] = {}
    for hold in conn.execute(open_holds).mappings():
        pending_debits[hold["debit_account_id"]] = (
            pending_debits.get(hold["debit_account_id"], 0) + hold["amount_fen"]
        )
        pending_credits[hold["credit_account_id"]] = (
            pending_credits.get(hold["credit_account_id"], 0) + hold["amount_fen"]
        )
    total = 0
    for row in conn.execute(unscoped(select(la), WHY)).mappings():
        expected = (
            int(posted_debits.get(row["id"], 0)),
            int(posted_credits.get(row["id"], 0)),
            pending_debits.get(row["id"], 0),
            pending_credits.get(row["id"], 0),
        )
        cached = (
            row["debits_posted"],
            row["credits_posted"],
            row["debits_pending"],
            row["credits_pending"],
        )
        if expected != cached:
            problems.append(
                f"account {row['natural_key']}: cached {cached}, transfers say {expected}"
            )
        total += row["credits_posted"] - row["debits_posted"]
        if (
            row["no_overdraft"]
            and row["debits_posted"] + row["debits_pending"] > row["credits_posted"]
        ):
            problems.append(f"account {row['natural_key']} is overdrawn")
    if total != 0:
        problems.append(f"the balances sum to {total} fen, not 0")
    return problems
