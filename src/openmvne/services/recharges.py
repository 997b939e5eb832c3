"""Recharge of any connected brand's number at any outlet, in batches.

Every recharge of an MVNO's lines moves money through the same few accounts (its clearing
accounts and its revenue, for commissions). Committed one by one, recharges would queue on
those rows and on the commit. Instead concurrent recharges share one transaction (a group
commit, `db/combiner.py`): the batch reads what it needs with one query per kind of row,
checks each recharge in order against the balances (each still succeeds or fails alone, with
its own error), writes with one statement per table whatever the batch size, and locks the
accounts it touches, in one statement, only to add to their balances before the commit (see
`_Batch`). Nobody is answered before the commit.

Idempotency is that of architecture.md §3, per recharge: the key and the order number
(outlet, channel order number) are claimed in the batch's transaction with the effect.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Connection, bindparam, exists, select
from sqlalchemy.exc import IntegrityError

from openmvne import clock, ids
from openmvne.db import tables as t
from openmvne.db.bulk import insert_rows
from openmvne.db.bulk_read import rows_where_pairs
from openmvne.db.combiner import (
    AsyncCombiner,
    Combiner,
    Raced,
    insert_claiming,
    run_retrying,
)
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.access import Actor, ScopeKind
from openmvne.domain.catalog import tier_kept_bp
from openmvne.domain.channels import AuthorisationStatus
from openmvne.domain.ledger import (
    AccountKind,
    TransferCode,
    TransferStatus,
    check_amount,
    check_can_debit,
)
from openmvne.domain.numbers import NumberState, parse_msisdn
from openmvne.domain.parties import OrgKind, Role
from openmvne.domain.subscribers import ARREARS
from openmvne.errors import (
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    RuleViolation,
)
from openmvne.logs import request_id_var
from openmvne.services import channels, cost_chain, idempotency, ledger, lifecycle
from openmvne.services.common import fetch_visible, tenant_named

o = t.organization
ca = t.channel_authorisation
ro = t.recharge_order
la = t.ledger_account
ik = t.idempotency_key
WHY = "cross-brand recharge: any outlet may learn a number's brand and credit it"
nb, n, sub = t.number_block, t.number, t.subscription

# The batch's reads, built once (docs/architecture.md: statements on hot paths).
_OWN_OUTLET = unscoped(select(o).where(o.c.id == bindparam("id")), "the caller's own organisation")
_LINES = unscoped(
    select(
        n.c.msisdn,
        n.c.state,
        nb.c.mvno_id,
        t.brand.c.name,
        # Barred for arrears: a recharge that covers the debt restores it (_restore_lines).
        exists()
        .where(
            sub.c.msisdn == n.c.msisdn,
            sub.c.mvno_id == nb.c.mvno_id,
            sub.c.state.in_([s.value for s in ARREARS]),
        )
        .label("in_arrears"),
    )
    .join(nb, nb.c.id == n.c.block_id)
    .outerjoin(t.brand, t.brand.c.id == nb.c.brand_id)
    .where(n.c.msisdn.in_(bindparam("msisdns", expanding=True))),
    WHY,
)
_BLOCKS = unscoped(
    select(nb.c.prefix, nb.c.mvno_id).where(nb.c.prefix.in_(bindparam("prefixes", expanding=True))),
    WHY,
)
_EDGE = unscoped(
    select(ca.c.path).where(
        ca.c.party_id == bindparam("outlet"),
        ca.c.mvno_id == bindparam("mvno"),
        ca.c.status == AuthorisationStatus.APPROVED.value,
    ),
    WHY,
)


# --- lookups shared with the other money use cases ------------------------------------------


def outlet_for(conn: Connection, actor: Actor, outlet_id: uuid.UUID | None) -> dict[str, Any]:
    """The outlet a recharge or float payment is for: the clerk's own (another outlet's id
    is not found), or the one an operator names."""
    if actor.scope.kind is ScopeKind.OUTLET:
        actor.require(Role.OUTLET_CLERK, action="recharge")
        tenant_named(actor, outlet_id, ScopeKind.OUTLET, what="outlet", field="outletId")
        outlet_id = actor.party_id
    elif actor.has(Role.PLATFORM_ADMIN):
        if outlet_id is None:
            raise InvalidInput("name the outlet (outletId)", code="required", field="outletId")
    else:
        raise Forbidden("recharges are made at outlets", code="role_required")
    if actor.scope.kind is ScopeKind.OUTLET:  # the caller's own party: no scope to apply
        row = dict(conn.execute(_OWN_OUTLET, {"id": outlet_id}).mappings().one())
    else:
        row = fetch_visible(conn, o, actor.scope, outlet_id, what="outlet", field="outletId")
    if row["kind"] != OrgKind.OUTLET.value:
        raise InvalidInput("outletId must name an outlet", code="not_an_outlet", field="outletId")
    return row


def lines(conn: Connection, msisdns: Iterable[str]) -> dict[str, dict[str, Any] | DomainError]:
    """For each number as given: its MVNO, brand and whether it is barred for arrears, if it
    is a line in service; otherwise why not. One query for numbers that exist, one more only
    for those that do not."""
    parsed: dict[str, Any] = {}
    found: dict[str, dict[str, Any] | DomainError] = {}
    for text in msisdns:
        try:
            parsed[text] = parse_msisdn(text)
        except DomainError as exc:
            found[text] = exc
    if not parsed:
        return found
    nationals = sorted({m.national for m in parsed.values()})
    known = {row.msisdn: row for row in conn.execute(_LINES, {"msisdns": nationals})}
    missing = sorted({m.block_prefix for m in parsed.values() if m.national not in known})
    blocks = dict(conn.execute(_BLOCKS, {"prefixes": missing}).all()) if missing else {}
    for text, m in parsed.items():
        row = known.get(m.national)
        mvno = row.mvno_id if row is not None else blocks.get(m.block_prefix)
        if mvno is None:
            found[text] = NotFound(
                f"{m.national} is not a connected brand's number",
                code="unknown_number",
                field="msisdn",
            )
        elif row is None or row.state != NumberState.IN_USE.value:
            found[text] = RuleViolation(
                f"{m.national} is not a line in service",
                code="line_not_in_service",
                field="msisdn",
            )
        else:
            found[text] = {
                "msisdn": m.national,
                "mvno_id": mvno,
                "brand": row.name,
                "in_arrears": bool(row.in_arrears),
            }
    return found


def commission_split(
    conn: Connection, outlet_id: uuid.UUID, mvno_id: uuid.UUID
) -> list[tuple[uuid.UUID, int]]:
    """Recharge commission rates (basis points) down the outlet's chain in this MVNO's tree:
    each tier keeps its rate less its child's. An outlet outside the tree earns the outlet
    rate alone."""
    rates: dict[str, int] = cost_chain.scheme(conn, mvno_id)["recharge_bp"]
    edge = conn.execute(_EDGE, {"outlet": outlet_id, "mvno": mvno_id}).scalar()
    if edge is None:
        return [(outlet_id, rates.get("outlet", 0))]
    chain = channels.chain_of(conn, edge)
    kept = tier_kept_bp(rates, [level for _, level in chain])
    return [(party, bp) for (party, _), bp in zip(chain, kept, strict=True)]


# --- the request and its batch ------------------------------------------------------------


@dataclass(frozen=True)
class Recharge:
    """One recharge as asked, checked for what needs no data."""

    actor: Actor
    msisdn: str
    amount_fen: int
    channel_order_number: str
    idempotency_key: str
    outlet_id: uuid.UUID | None
    digest: str
    request_id: str | None

    @property
    def caller_key(self) -> tuple[str, str]:
        return idempotency.caller_of(self.actor), self.idempotency_key


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
    ask = _asked(actor, msisdn, amount_fen, channel_order_number, idempotency_key, outlet_id)
    return _desk(db).submit(ask)


async def recharge_async(
    db: Database,
    actor: Actor,
    *,
    msisdn: str,
    amount_fen: int,
    channel_order_number: str,
    idempotency_key: str | None,
    outlet_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """`recharge` for an async endpoint: queued on the event loop, batched the same way."""
    ask = _asked(actor, msisdn, amount_fen, channel_order_number, idempotency_key, outlet_id)
    return await _async_desk(db).submit(ask)


def _asked(
    actor: Actor,
    msisdn: str,
    amount_fen: int,
    channel_order_number: str,
    idempotency_key: str | None,
    outlet_id: uuid.UUID | None,
) -> Recharge:
    """The recharge as asked, once what needs no data is checked."""
    check_amount(amount_fen)
    if not channel_order_number:
        raise InvalidInput(
            "give the channel's order number", code="required", field="channelOrderNumber"
        )
    if len(channel_order_number) > 64:
        raise InvalidInput(
            "a channel order number has at most 64 characters",
            code="too_long",
            field="channelOrderNumber",
            maxLength=64,
        )
    key = idempotency.checked_key(idempotency_key)
    request = {
        "msisdn": msisdn,
        "amount": amount_fen,
        "order": channel_order_number,
        "outlet": str(outlet_id),
    }
    return Recharge(
        actor,
        msisdn,
        amount_fen,
        channel_order_number,
        key,
        outlet_id,
        idempotency.request_hash("recharge", request),
        request_id_var.get(),
    )


def _desk(db: Database) -> Combiner[Recharge, dict[str, Any]]:
    desk: Combiner[Recharge, dict[str, Any]] | None = db.combiners.get("recharge")
    if desk is None:  # two threads may both make one: setdefault keeps the first
        desk = db.combiners.setdefault("recharge", Combiner(lambda asks: run_batch(db, asks)))
    return desk


def _async_desk(db: Database) -> AsyncCombiner[Recharge, dict[str, Any]]:
    """One per database and event loop (a test client may start a loop of its own)."""
    desk: AsyncCombiner[Recharge, dict[str, Any]] | None = db.combiners.get("recharge-async")
    if desk is None or desk.loop is not asyncio.get_running_loop():
        # One batch at a time per process. Two under way at once (one reading while the
        # other commits) queued on the same float's lock and shared the process's one core
        # between two half-size batches: with 2 server processes on PostgreSQL, 1,380-1,460
        # recharges/s (p99 71-80 ms) against 1,680-1,800 (p99 54-57 ms) one at a time.
        desk = AsyncCombiner(lambda asks: run_batch(db, asks))
        db.combiners["recharge-async"] = desk
    return desk


def run_batch(db: Database, asks: Sequence[Recharge]) -> list[dict[str, Any] | BaseException]:
    # The first try locks the accounts last; a batch run again (it raced) locks them first.
    tries = itertools.count()
    return run_retrying(db, lambda conn: _Batch(conn, asks, lock_first=next(tries) > 0).run())


@dataclass
class _Plan:
    """What a recharge will do if its outlet's float covers it."""

    outlet: dict[str, Any]
    line: dict[str, Any]
    moves: list[tuple[str, str, int, TransferCode, uuid.UUID]]  # debit, credit, fen, code, party
    result: dict[str, Any] = field(default_factory=dict)


class _Batch:
    """One transaction for many recharges.

    Every recharge of an outlet debits the same float account, so batches (of this process
    and of others) queue on its row lock. The lock is therefore taken last, by the balance
    update just before the commit: the batch decides against balances read without a lock,
    writes its rows, then locks and adds to the balances. The accounts' CHECKs refuse an
    overdraft: if another batch spent the float in between, the batch is run again from
    the start (`lock_first`), locking the accounts before it reads them."""

    def __init__(self, conn: Connection, asks: Sequence[Recharge], *, lock_first: bool) -> None:
        self.conn = conn
        self.asks = asks
        self.lock_first = lock_first
        self.now = clock.now()
        self.outcomes: list[dict[str, Any] | BaseException | None] = [None] * len(asks)
        self.wanted: dict[str, tuple[AccountKind, uuid.UUID | None, uuid.UUID | None, str | None]]
        self.wanted = {}

    def run(self) -> list[dict[str, Any] | BaseException]:
        conn, asks = self.conn, self.asks
        outlets = self._outlets()
        found_lines = lines(conn, {a.msisdn for a in asks})
        plans = self._plans(outlets, found_lines)
        accounts = self._accounts()
        # With `lock_first`, after the locks: a batch of another process that held them has
        # committed, and these reads (each sees the latest commits on PostgreSQL) see its keys
        # and orders. Without: one committed since is found by the unique keys (Raced).
        stored_keys = self._stored_keys()
        stored_orders = self._stored_orders(outlets)
        available = {
            key: row["credits_posted"] - row["debits_posted"] - row["debits_pending"]
            for key, row in accounts.items()
        }
        new_keys: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        new_orders: dict[tuple[uuid.UUID, str], tuple[str, dict[str, Any]]] = {}
        done: list[tuple[Recharge, _Plan]] = []
        for i, ask in enumerate(asks):
            try:
                self.outcomes[i] = self._decide(
                    ask,
                    outlets,
                    plans.get(i),
                    stored_keys,
                    stored_orders,
                    new_keys,
                    new_orders,
                    accounts,
                    available,
                    done,
                )
            except DomainError as exc:
                self.outcomes[i] = exc
        self._write(new_keys, new_orders, done, accounts)
        return [o if o is not None else RuntimeError("unanswered") for o in self.outcomes]

    # reads -------------------------------------------------------------------------------

    def _stored_keys(self) -> dict[tuple[str, str], Any]:
        pairs = {a.caller_key for a in self.asks}
        return self._stored(ik.c.caller, ik.c.key, pairs, why="the callers' own keys")

    def _outlets(self) -> dict[tuple[Actor, uuid.UUID | None], dict[str, Any] | DomainError]:
        found: dict[tuple[Actor, uuid.UUID | None], dict[str, Any] | DomainError] = {}
        for ask in self.asks:
            key = (ask.actor, ask.outlet_id)
            if key not in found:
                try:
                    found[key] = outlet_for(self.conn, ask.actor, ask.outlet_id)
                except DomainError as exc:
                    found[key] = exc
        return found

    def _stored_orders(
        self, outlets: dict[tuple[Actor, uuid.UUID | None], dict[str, Any] | DomainError]
    ) -> dict[tuple[uuid.UUID, str], Any]:
        pairs = set()
        for ask in self.asks:
            outlet = outlets[(ask.actor, ask.outlet_id)]
            if isinstance(outlet, dict):
                pairs.add((outlet["id"], ask.channel_order_number))
        return self._stored(
            ro.c.outlet_id, ro.c.channel_order_number, pairs, why="the outlets' own orders"
        )

    def _stored(
        self, first: Column[Any], second: Column[Any], pairs: set[Any], *, why: str
    ) -> dict[tuple[Any, Any], dict[str, Any]]:
        """Claims stored under the (first, second) unique key (idempotency keys, order
        numbers), as `idempotency.replay` reads them."""
        table = first.table
        rows = rows_where_pairs(
            self.conn,
            [first, second, table.c.request_sha256, table.c.result],
            first,
            second,
            pairs,
            why=why,
        )
        return {(a, b): {"request_sha256": sha, "result": result} for a, b, sha, result in rows}

    def _plans(
        self,
        outlets: dict[tuple[Actor, uuid.UUID | None], dict[str, Any] | DomainError],
        found_lines: dict[str, dict[str, Any] | DomainError],
    ) -> dict[int, _Plan | DomainError]:
        """Each recharge's transfers, by account natural key (or why it cannot be made)."""
        splits: dict[tuple[uuid.UUID, uuid.UUID], list[tuple[uuid.UUID, int]]] = {}
        plans: dict[int, _Plan | DomainError] = {}
        key = self._account
        for i, ask in enumerate(self.asks):
            outlet = outlets[(ask.actor, ask.outlet_id)]
            line = found_lines[ask.msisdn]
            if isinstance(outlet, DomainError):
                plans[i] = outlet
                continue
            if isinstance(line, DomainError):
                plans[i] = line
                continue
            mvno = line["mvno_id"]
            if (outlet["id"], mvno) not in splits:
                splits[(outlet["id"], mvno)] = commission_split(self.conn, outlet["id"], mvno)
            float_account = key(AccountKind.OUTLET_FLOAT, None, outlet["id"], None)
            due = key(AccountKind.CLEARING_DUE_MVNO, None, mvno, None)
            claim = key(AccountKind.CLEARING_FROM_PLATFORM, mvno, None, None)
            prepaid = key(AccountKind.SUBSCRIBER_PREPAID, mvno, None, line["msisdn"])
            revenue = key(AccountKind.MVNO_REVENUE, mvno, None, None)
            moves = [
                (float_account, due, ask.amount_fen, TransferCode.RECHARGE_CLEARING, outlet["id"]),
                (claim, prepaid, ask.amount_fen, TransferCode.RECHARGE, outlet["id"]),
            ]
            for party, bp in splits[(outlet["id"], mvno)]:
                share = ask.amount_fen * bp // 10_000
                if share:
                    earned = key(AccountKind.CHANNEL_COMMISSION, mvno, party, None)
                    moves.append((revenue, earned, share, TransferCode.COMMISSION, party))
            plans[i] = _Plan(outlet, line, moves)
        return plans

    def _account(
        self,
        kind: AccountKind,
        mvno_id: uuid.UUID | None,
        owner_id: uuid.UUID | None,
        msisdn: str | None,
    ) -> str:
        """An account a recharge moves, by natural key (opened with the batch's locks)."""
        key = ledger.natural_key(kind, mvno_id, owner_id, msisdn)
        self.wanted[key] = (kind, mvno_id, owner_id, msisdn)
        return key

    def _accounts(self) -> dict[str, dict[str, Any]]:
        """Every account the batch may move, opened if new, by natural key; with
        `lock_first`, locked in one order (id) so two batches cannot deadlock on them."""
        wanted = self.wanted
        if not wanted:
            return {}
        found = ledger.accounts_by_key(self.conn, wanted, lock=self.lock_first)
        for key, (kind, mvno, owner, msisdn) in wanted.items():
            if key not in found:  # a holder's first money: open its account
                ledger.open_account(self.conn, kind, mvno, owner, msisdn)
        if len(found) < len(wanted):
            missing = [key for key in wanted if key not in found]
            found.update(ledger.accounts_by_key(self.conn, missing, lock=self.lock_first))
        return found

    # one recharge --------------------------------------------------------------------------

    def _decide(
        self,
        ask: Recharge,
        outlets: dict[tuple[Actor, uuid.UUID | None], dict[str, Any] | DomainError],
        plan: _Plan | DomainError | None,
        stored_keys: dict[tuple[str, str], Any],
        stored_orders: dict[tuple[uuid.UUID, str], Any],
        new_keys: dict[tuple[str, str], tuple[str, dict[str, Any]]],
        new_orders: dict[tuple[uuid.UUID, str], tuple[str, dict[str, Any]]],
        accounts: dict[str, dict[str, Any]],
        available: dict[str, int],
        done: list[tuple[Recharge, _Plan]],
    ) -> dict[str, Any]:
        """In the order a single recharge checks: key, outlet, order number, line, float."""
        if ask.caller_key in stored_keys:
            return idempotency.replay(stored_keys[ask.caller_key], ask.digest)
        if ask.caller_key in new_keys:  # the same key earlier in this batch
            digest, result = new_keys[ask.caller_key]
            return idempotency.replay({"request_sha256": digest, "result": result}, ask.digest)
        outlet = outlets[(ask.actor, ask.outlet_id)]
        if isinstance(outlet, DomainError):
            raise outlet
        order = (outlet["id"], ask.channel_order_number)
        earlier = stored_orders.get(order)
        if earlier is None and order in new_orders:
            digest, result = new_orders[order]
            earlier = {"request_sha256": digest, "result": result}
        if earlier is not None:
            if earlier["request_sha256"] != ask.digest:
                raise RuleViolation(
                    "this channel order number was used for another recharge",
                    code="order_number_reused",
                    field="channelOrderNumber",
                )
            result = dict(earlier["result"])
            new_keys[ask.caller_key] = (ask.digest, result)
            return {**result, "replayed": False}
        assert plan is not None
        if isinstance(plan, DomainError):
            raise plan
        needs: dict[str, int] = {}
        for debit, _, fen, _, _ in plan.moves:
            needs[debit] = needs.get(debit, 0) + fen
        for key, fen in needs.items():
            row = accounts[key]
            if row["no_overdraft"] and available[key] < fen:
                check_can_debit(AccountKind(row["kind"]), ledger.balance(row), fen)
                raise RuleViolation("not enough money", code="insufficient_funds")
        for key, fen in needs.items():
            available[key] -= fen
        order_id = ids.new_id()
        plan.result = {
            "rechargeId": str(order_id),
            "transferId": str(ids.new_id()),  # the first transfer's id: float to clearing
            "msisdn": plan.line["msisdn"],
            "amountFen": ask.amount_fen,
            "brand": plan.line["brand"],
            "mvnoId": str(plan.line["mvno_id"]),
            "outletId": str(outlet["id"]),
            "channelOrderNumber": ask.channel_order_number,
            "status": "completed",
            "completedAt": self.now.isoformat(),
        }
        new_keys[ask.caller_key] = (ask.digest, plan.result)
        new_orders[order] = (ask.digest, plan.result)
        done.append((ask, plan))
        return {**plan.result, "replayed": False}

    # writes --------------------------------------------------------------------------------

    def _write(
        self,
        new_keys: dict[tuple[str, str], tuple[str, dict[str, Any]]],
        new_orders: dict[tuple[uuid.UUID, str], tuple[str, dict[str, Any]]],
        done: list[tuple[Recharge, _Plan]],
        accounts: dict[str, dict[str, Any]],
    ) -> None:
        conn = self.conn
        if new_keys:
            insert_claiming(
                self.conn,
                ik,
                [
                    {
                        "id": ids.new_id(),
                        "caller": caller,
                        "key": key,
                        "operation": "recharge",
                        "request_sha256": digest,
                        "result": result,
                        "created_at": self.now,
                    }
                    for (caller, key), (digest, result) in new_keys.items()
                ],
            )
        if not done:
            return
        insert_claiming(
            self.conn,
            ro,
            [
                {
                    "id": uuid.UUID(plan.result["rechargeId"]),
                    "outlet_id": plan.outlet["id"],
                    "channel_order_number": ask.channel_order_number,
                    "msisdn": plan.line["msisdn"],
                    "mvno_id": plan.line["mvno_id"],
                    "amount_fen": ask.amount_fen,
                    "request_sha256": ask.digest,
                    "result": plan.result,
                    "created_at": self.now,
                }
                for ask, plan in done
            ],
        )
        transfers = []
        debits: dict[uuid.UUID, int] = {}
        credits: dict[uuid.UUID, int] = {}
        for ask, plan in done:
            # The outlet's public id (30 characters), not its UUID (36): with the longest
            # order number (64) the reference still fits its column (100).
            outlet = ids.to_public("organization", plan.outlet["id"])
            reference = f"{outlet}:{ask.channel_order_number}"
            for n, (debit, credit, fen, code, party) in enumerate(plan.moves):
                debit_id, credit_id = accounts[debit]["id"], accounts[credit]["id"]
                debits[debit_id] = debits.get(debit_id, 0) + fen
                credits[credit_id] = credits.get(credit_id, 0) + fen
                transfers.append(
                    {
                        "id": uuid.UUID(plan.result["transferId"]) if n == 0 else ids.new_id(),
                        "debit_account_id": debit_id,
                        "credit_account_id": credit_id,
                        "amount_fen": fen,
                        "code": code.value,
                        "reference": reference,
                        "status": TransferStatus.POSTED.value,
                        "pending_id": None,
                        "expires_at": None,
                        "mvno_id": plan.line["mvno_id"],
                        "party_id": party,
                        "created_at": self.now,
                    }
                )
        insert_rows(
            conn,
            t.audit_event,
            [
                {
                    "id": ids.new_id(),
                    "at": self.now,
                    "actor_user_id": ask.actor.user_id,
                    "actor_username": ask.actor.username,
                    "actor_party_id": ask.actor.party_id,
                    "action": "recharge.completed",
                    "object_type": "ledger_transfer",
                    "object_id": uuid.UUID(plan.result["transferId"]),
                    "mvno_id": plan.line["mvno_id"],
                    "data": {"msisdn": plan.line["msisdn"], "amountFen": ask.amount_fen},
                    "request_id": ask.request_id,
                }
                for ask, plan in done
            ],
        )
        changes = {
            a: [debits.get(a, 0), credits.get(a, 0), 0, 0] for a in debits.keys() | credits.keys()
        }
        # The lines' prepaid accounts first, then the rest in id order (bump): the order of
        # rating and online charging, which hold a line's account from early in their batch
        # and take an MVNO's only at its end. By id alone an MVNO revenue account opened
        # before the line's comes first, and a batch holding it while it waits for the
        # line's would deadlock with them.
        kinds = {row["id"]: row["kind"] for row in accounts.values()}
        prepaid = AccountKind.SUBSCRIBER_PREPAID.value
        try:
            # The accounts' locks, held from here to the commit; the lines' first.
            ledger.bump(conn, changes, first=[a for a in changes if kinds[a] == prepaid])
        except IntegrityError as exc:  # an account's CHECK: its money went since we read it
            if self.lock_first:
                raise
            raise Raced from exc
        # After the locks: a transfer's foreign keys share-lock its accounts, which would
        # hold up another batch's locking (and it ours: a deadlock) had they come first.
        insert_rows(conn, t.ledger_transfer, transfers)
        self._restore_lines(done)

    def _restore_lines(self, done: list[tuple[Recharge, _Plan]]) -> None:
        """A line barred for arrears whose debt the recharge covers is active again at once
        (`lines` read which are barred, in this transaction)."""
        barred = {
            (plan.line["mvno_id"], plan.line["msisdn"]): ask
            for ask, plan in done
            if plan.line["in_arrears"]
        }
        for (mvno, msisdn), ask in barred.items():
            lifecycle.after_credit(self.conn, ask.actor, mvno, msisdn)
