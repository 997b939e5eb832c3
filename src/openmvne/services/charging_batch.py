"""Online charging requests answered in batches (`charging.py` queues them).

The requests that arrive while a batch commits form the next one (`db/combiner.py`). A batch
reads what it needs with one query per kind of row (sessions, their requests, lines, terms,
open reservations, holds, prepaid accounts), locks the lines and their prepaid accounts in
one order, then answers each request in arrival order against state kept in memory, so a
request sees what the ones before it in the batch did to its line (allowance used and
reserved, balance held and charged). It writes with one statement per table and commits;
nobody is answered before the commit.

Each request succeeds or fails alone: a handler checks everything that can refuse before it
changes anything. The rules are those of one request at a time (domain/rating.py: increments,
allowance first, the period's running total rounded once); a batch of one is the same code.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from openmvne import ids
from openmvne.db import locks
from openmvne.db import tables as t
from openmvne.db.combiner import Raced, insert_claiming
from openmvne.db.scoping import unscoped
from openmvne.domain.access import Actor, ScopeKind
from openmvne.domain.ledger import AccountKind, TransferCode, TransferStatus
from openmvne.domain.rating import (
    SCALE,
    Terms,
    billed_overage,
    billed_units,
    is_free,
    per_unit,
    to_fen,
)
from openmvne.domain.subscribers import LineState, local_date
from openmvne.errors import Conflict, DomainError, InvalidInput, NotFound, RuleViolation
from openmvne.services import ledger, lifecycle, usage_terms
from openmvne.services.usage import wholesale_costs

cs = t.charging_session
cr = t.charging_request
la = t.ledger_account
lt = t.ledger_transfer
WHY = "online charging acts on the lines the network names"

# The batch's reads, built once (docs/architecture.md: statements on hot paths).
_SESSIONS = unscoped(select(cs).where(cs.c.session_key.in_(bindparam("keys", expanding=True))), WHY)
_REQUESTS = select(cr.c.session_id, cr.c.request_number, cr.c.request_sha256, cr.c.response).where(
    cr.c.session_id.in_(bindparam("ids", expanding=True))
)
_RESERVED = unscoped(
    select(cs.c.id, cs.c.subscription_id, cs.c.type, cs.c.period, cs.c.allowance_units).where(
        cs.c.subscription_id.in_(bindparam("lines", expanding=True)), cs.c.state == "open"
    ),
    WHY,
)
_HOLDS = unscoped(select(lt).where(lt.c.id.in_(bindparam("ids", expanding=True))), WHY)
_RESOLVED = unscoped(
    select(lt.c.pending_id).where(lt.c.pending_id.in_(bindparam("ids", expanding=True))), WHY
)
VALIDITY = timedelta(seconds=300)
HOLD_GRACE = timedelta(seconds=60)  # the ledger keeps a hold a little longer than its session
SUCCESS = 2001
CREDIT_LIMIT_REACHED = 4012
END_USER_SERVICE_DENIED = 4010
USED_COLUMN = {"voice": "voice_used_s", "sms": "sms_used", "data": "data_used_kb"}
ADDED = ("voice_used_s", "sms_used", "data_used_kb", "data_over_kb", "records", "wholesale_exact")
ALLOWANCE_COLUMN = {"voice": "voice_allow_s", "sms": "sms_allow", "data": "data_allow_kb"}


@dataclass(frozen=True)
class Ask:
    """One request as the network sent it, checked as far as no data is needed.
    `number` 0 is the initial request; `final` the termination."""

    actor: Actor
    session_key: str
    number: int
    digest: str
    msisdn: str = ""
    kind: str = ""
    direction: str = "mo"
    requested: int = 0
    used: int = 0
    final: bool = False


def check_units(kind: str, units: int, field_name: str) -> None:
    if kind not in ("voice", "sms", "data"):
        raise InvalidInput(
            "serviceType is voice, sms or data", code="bad_type", field="serviceType"
        )
    if isinstance(units, bool) or not isinstance(units, int) or not 0 <= units <= 10**12:
        raise InvalidInput(
            f"{field_name} is a whole number >= 0", code="bad_units", field=field_name
        )


def _answer(ask: Ask, kind: str, code: int, allowance: int, money: int) -> dict[str, Any]:
    granted = allowance + money if code == SUCCESS else 0
    return {
        "sessionId": ask.session_key,
        "requestNumber": ask.number,
        "resultCode": code,
        "grantedUnits": granted * 1024 if kind == "data" else granted,
        "unit": {"voice": "second", "sms": "message", "data": "byte"}[kind],
        "validitySeconds": int(VALIDITY.total_seconds()),
    }


@dataclass
class _Usage:
    """A line's billing period as the batch leaves it (the usage_period row)."""

    terms: Terms  # as read, before the batch
    allowances: tuple[int, int, int, int]
    row: dict[str, Any]
    exists: bool
    touched: bool = False
    # What the batch added, written as increments (a rating batch may add to the row too).
    added: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ADDED, 0))

    def add(self, column: str, amount: int) -> None:
        self.row[column] += amount
        self.added[column] += amount

    def now(self) -> Terms:
        r = self.row
        return replace(
            self.terms,
            voice_used_s=r["voice_used_s"],
            sms_used=r["sms_used"],
            data_used_kb=r["data_used_kb"],
            data_over_kb=r["data_over_kb"],
        )


@dataclass
class _Hold:
    row: dict[str, Any]
    resolved: bool


class LinesSeen:
    """The line each session and each number was on when this process's batches last read
    them: on PostgreSQL, the lines a batch locks before its one read (`_read_under_locks`).
    Only a guess, checked by that read: a session never changes line, but a number does
    (cancelled, recycled), and another process may open a session this one has not seen.
    Forgets everything at LIMIT entries, and then reads first again for a while."""

    LIMIT = 50_000  # entries of each kind: 27 MB in all with 40-character session ids

    def __init__(self) -> None:
        self.session_on: dict[str, tuple[uuid.UUID, str]] = {}  # key -> (line, number)
        self.number_on: dict[str, uuid.UUID | None] = {}  # None: no live line

    def lines(self, asks: list[Ask]) -> set[uuid.UUID] | None:
        """The lines the batch's requests are expected on; None if one was never seen."""
        expected: set[uuid.UUID] = set()
        for ask in asks:
            session = self.session_on.get(ask.session_key)
            if session is None and ask.number != 0:
                return None
            numbers = [ask.msisdn] if ask.number == 0 else []
            if session is not None:
                expected.add(session[0])
                numbers.append(session[1])
            for msisdn in numbers:
                if msisdn not in self.number_on:
                    return None
                line_id = self.number_on[msisdn]
                if line_id is not None:
                    expected.add(line_id)
        return expected

    def remember_sessions(self, sessions: Iterable[dict[str, Any]]) -> None:
        if len(self.session_on) > self.LIMIT:
            self.session_on.clear()
        for s in sessions:
            self.session_on[s["session_key"]] = (s["subscription_id"], s["msisdn"])

    def remember_numbers(self, lines: dict[str, uuid.UUID | None]) -> None:
        if len(self.number_on) > self.LIMIT:
            self.number_on.clear()
        self.number_on.update(lines)


@dataclass
class Batch:
    conn: Connection
    asks: list[Ask]
    now: datetime
    seen: LinesSeen  # the process's, shared by its batches (charging.run_batch)
    batch_id: uuid.UUID = field(default_factory=ids.new_id)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    lines: dict[uuid.UUID, usage_terms.Line] = field(default_factory=dict)
    line_of: dict[str, uuid.UUID] = field(default_factory=dict)  # msisdn -> live line
    usage: dict[tuple[uuid.UUID, str], _Usage] = field(default_factory=dict)
    # Open reservations on each line's allowances: (line, type, period) -> {session: units}.
    reserved: dict[tuple[uuid.UUID, str, str], dict[uuid.UUID, int]] = field(default_factory=dict)
    requests: dict[tuple[uuid.UUID, int], tuple[str, dict[str, Any]]] = field(default_factory=dict)
    holds: dict[uuid.UUID, _Hold] = field(default_factory=dict)
    prepaid: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)  # by line
    revenue: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)  # by MVNO
    by_id: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    bumps: dict[uuid.UUID, list[int]] = field(default_factory=dict)
    new_sessions: list[dict[str, Any]] = field(default_factory=list)
    changed_sessions: set[str] = field(default_factory=set)
    new_requests: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    debts: dict[uuid.UUID, int] = field(default_factory=dict)
    # Exact wholesale cost per (MVNO, host, period), posted once per batch.
    costs: dict[tuple[uuid.UUID, uuid.UUID, str], int] = field(
        default_factory=lambda: defaultdict(int)
    )

    @property
    def period(self) -> str:
        return local_date(self.now).strftime("%Y-%m")

    # reading ------------------------------------------------------------------------------

    def run(self) -> list[dict[str, Any] | BaseException]:
        postgres = self.conn.dialect.name == "postgresql"
        if postgres:
            self._read_under_locks()
        else:  # the write transaction is the lock
            self._read_sessions()
            self._read_lines()
        # The lines' accounts before their usage: a rating batch holds them until it commits
        # the usage rows it rewrote (services/usage.py), so the terms read next are its own.
        self._lock_accounts()
        self._read_requests()
        self._read_terms()
        self._read_reserved()
        self._read_holds()
        outcomes: list[dict[str, Any] | BaseException] = []
        for ask in self.asks:
            try:
                outcomes.append(self._initial(ask) if ask.number == 0 else self._step(ask))
            except DomainError as exc:  # this request alone: nothing of it was changed
                outcomes.append(exc)
        self._write()
        if postgres:
            self.seen.remember_sessions(self.new_sessions)
        return outcomes

    def _read_under_locks(self) -> None:
        """The sessions and lines, read once the lines are locked: what another process did
        to them (its batch, a lifecycle change) has committed. The lines to lock are those
        the requests were on when this process last saw them; a batch with a request never
        seen reads first to learn them. If the read under the locks finds a line not
        locked (a session opened meanwhile by another process, a number on a new line), the
        batch runs again, knowing it now."""
        expected = self.seen.lines(self.asks)
        if expected is None:
            self._read_sessions()
            self._read_lines()
            expected = set(self.lines)
            self.lines, self.line_of = {}, {}
        locks.lock(self.conn, *(f"line:{line_id}" for line_id in expected))
        self._read_sessions()
        numbers = self._read_lines()
        self.seen.remember_sessions(self.sessions.values())
        self.seen.remember_numbers({m: self.line_of.get(m) for m in numbers})
        if not set(self.lines) <= expected:
            raise Raced

    def _read_sessions(self) -> None:
        keys = sorted({a.session_key for a in self.asks})
        rows = self.conn.execute(_SESSIONS, {"keys": keys})
        self.sessions = {r["session_key"]: dict(r) for r in rows.mappings()}

    def _read_lines(self) -> set[str]:
        """The live line of each number the batch names; the numbers."""
        wanted = {a.msisdn for a in self.asks if a.number == 0}
        wanted |= {s["msisdn"] for s in self.sessions.values()}
        found, _ = usage_terms.lines_for(self.conn, sorted(wanted))
        for msisdn, line in found.items():
            self.lines[line.id] = line
            self.line_of[msisdn] = line.id
        # A session's line that no longer holds its number (cancelled, number recycled).
        missing = sorted({s["subscription_id"] for s in self.sessions.values()} - set(self.lines))
        if missing:
            sub = t.subscription
            rows = self.conn.execute(
                unscoped(
                    select(
                        sub.c.id, sub.c.msisdn, sub.c.mvno_id, sub.c.host_id, sub.c.offering_id,
                        sub.c.state,
                    ).where(sub.c.id.in_(missing)),
                    WHY,
                )
            )  # fmt: skip
            for r in rows:
                self.lines[r.id] = usage_terms.Line(
                    r.id, r.msisdn, r.mvno_id, r.host_id, r.offering_id, r.state
                )
        return wanted

    def _read_requests(self) -> None:
        session_ids = sorted(s["id"] for s in self.sessions.values())
        if not session_ids:
            return
        rows = self.conn.execute(_REQUESTS, {"ids": session_ids})
        self.requests = {
            (r.session_id, r.request_number): (r.request_sha256, r.response) for r in rows
        }

    def _read_terms(self) -> None:
        """Terms of every line for the current period and for its sessions' periods. Two lines
        may share a number (one recycled since its session opened): they are read apart."""
        periods: dict[uuid.UUID, set[str]] = {line_id: {self.period} for line_id in self.lines}
        for s in self.sessions.values():
            periods[s["subscription_id"]].add(s["period"])
        groups: list[dict[str, usage_terms.Line]] = []
        for line in self.lines.values():
            group = next((g for g in groups if line.msisdn not in g), None)
            if group is None:
                groups.append(group := {})
            group[line.msisdn] = line
        for group in groups:
            pairs = [(m, p) for m, line in group.items() for p in sorted(periods[line.id])]
            for (msisdn, period), found in usage_terms.terms_for(self.conn, group, pairs).items():
                line = group[msisdn]
                row = dict(found.existing) if found.existing else _empty_period(line, period, found)
                self.usage[(line.id, period)] = _Usage(
                    found.terms, found.allowances, row, exists=found.existing is not None
                )

    def _read_reserved(self) -> None:
        rows = self.conn.execute(_RESERVED, {"lines": sorted(self.lines)})
        for r in rows:
            self.reserved.setdefault((r.subscription_id, r.type, r.period), {})[r.id] = (
                r.allowance_units
            )

    def _read_holds(self) -> None:
        hold_ids = sorted(s["hold_id"] for s in self.sessions.values() if s["hold_id"])
        if not hold_ids:
            return
        rows = self.conn.execute(_HOLDS, {"ids": hold_ids})
        found = {r["id"]: dict(r) for r in rows.mappings()}
        resolved = set(self.conn.execute(_RESOLVED, {"ids": hold_ids}).scalars())
        self.holds = {i: _Hold(row, i in resolved) for i, row in found.items()}

    def _lock_accounts(self) -> None:
        """The lines' prepaid accounts, opened if new, locked in id order; the MVNOs' revenue
        accounts read (they are only credited: their rows are locked by the final update)."""
        keys = {
            ledger.natural_key(AccountKind.SUBSCRIBER_PREPAID, line.mvno_id, None, line.msisdn): (
                line.id
            )
            for line in self.lines.values()
        }
        rows = ledger.accounts_by_key(self.conn, keys, lock=True)
        for key, line_id in keys.items():
            if key not in rows:
                line = self.lines[line_id]
                ledger.open_account(
                    self.conn, AccountKind.SUBSCRIBER_PREPAID, line.mvno_id, None, line.msisdn
                )
        if len(rows) < len(keys):
            missing = [k for k in keys if k not in rows]
            rows.update(ledger.accounts_by_key(self.conn, missing, lock=True))
        self.prepaid = {line_id: rows[key] for key, line_id in keys.items()}
        mvnos = {line.mvno_id for line in self.lines.values()}
        self.revenue = {
            m: ledger.account(self.conn, AccountKind.MVNO_REVENUE, mvno_id=m) for m in mvnos
        }
        self.by_id = {a["id"]: a for a in (*self.prepaid.values(), *self.revenue.values())}

    # one request --------------------------------------------------------------------------

    def _replayed(self, session_id: uuid.UUID, ask: Ask) -> dict[str, Any] | None:
        stored = self.requests.get((session_id, ask.number))
        if stored is None:
            return None
        if stored[0] != ask.digest:
            raise RuleViolation(
                "this request number was used for another request",
                code="request_number_reused",
                field="requestNumber",
            )
        return {**stored[1], "replayed": True}

    def _remember(
        self,
        session_id: uuid.UUID,
        ask: Ask,
        response: dict[str, Any],
        record: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Keep the answer for replays, and what an update or termination charged as a
        rated usage record (RECORD_COLUMNS; none on an initial request)."""
        self.requests[(session_id, ask.number)] = (ask.digest, response)
        self.new_requests.append(
            {
                "session_id": session_id,
                "request_number": ask.number,
                "request_sha256": ask.digest,
                "response": response,
                **(record or dict.fromkeys(RECORD_COLUMNS)),
            }
        )
        return {**response, "replayed": False}

    def _initial(self, ask: Ask) -> dict[str, Any]:
        """CCR-Initial: open a session and reserve units."""
        existing = self.sessions.get(ask.session_key)
        if existing is not None:
            # Another network's session is never replayed to this one, nor told apart from
            # this one's by its answer: the id is taken, that is all it learns.
            foreign = (
                ask.actor.scope.kind is ScopeKind.HOST and existing["host_id"] != ask.actor.party_id
            )
            replay = None if foreign else self._replayed(existing["id"], ask)
            if replay is None:
                raise Conflict(
                    "this session is open already", code="session_exists", field="sessionId"
                )
            return replay
        line_id = self.line_of.get(ask.msisdn)
        line = self.lines[line_id] if line_id else None
        if line is None or (
            ask.actor.scope.kind is ScopeKind.HOST and line.host_id != ask.actor.party_id
        ):
            raise NotFound(
                f"{ask.msisdn} is not a line on your network", code="unknown_line", field="msisdn"
            )
        # Checked: from here on the request takes effect.
        session_id = ids.new_id()
        state = LineState(line.state)
        if state is not LineState.ACTIVE and not (
            state is LineState.NON_REAL_NAME and ask.direction == "mt"
        ):
            code, allowance, money, hold = END_USER_SERVICE_DENIED, 0, 0, None
        else:
            allowance, money, hold, code = self._grant(
                line, self.period, ask.kind, ask.direction, ask.requested, session_id
            )
        session = {
            "id": session_id, "session_key": ask.session_key, "subscription_id": line.id,
            "mvno_id": line.mvno_id, "host_id": line.host_id, "msisdn": line.msisdn,
            "period": self.period, "type": ask.kind, "direction": ask.direction,
            "state": "open" if code == SUCCESS else "closed", "allowance_units": allowance,
            "money_units": money, "hold_id": hold, "used_units": 0, "last_request": 0,
            "expires_at": self.now + VALIDITY, "created_at": self.now, "updated_at": self.now,
        }  # fmt: skip
        self.sessions[ask.session_key] = session
        self.new_sessions.append(session)
        self._reserve(session)
        if code == CREDIT_LIMIT_REACHED:
            self._exhausted(line)
        return self._remember(session_id, ask, _answer(ask, ask.kind, code, allowance, money))

    def _step(self, ask: Ask) -> dict[str, Any]:
        """CCR-Update and CCR-Terminate: charge what was used of the last grant, release the
        rest; an update reserves again."""
        session = self.sessions.get(ask.session_key)
        if session is None or (
            ask.actor.scope.kind is ScopeKind.HOST and session["host_id"] != ask.actor.party_id
        ):
            raise NotFound("no such charging session", code="unknown_session", field="sessionId")
        kind = session["type"]
        check_units(kind, ask.used, "usedUnits")
        check_units(kind, ask.requested, "requestedUnits")
        replay = self._replayed(session["id"], ask)
        if replay is not None:
            return replay
        if session["state"] != "open":
            raise Conflict(
                f"the session is {session['state']}", code="session_closed", field="sessionId"
            )
        if ask.number != session["last_request"] + 1:
            raise Conflict(
                f"expected request number {session['last_request'] + 1}",
                code="request_out_of_order",
                field="requestNumber",
            )
        hold = self.holds.get(session["hold_id"]) if session["hold_id"] else None
        if session["hold_id"] and (hold is None or hold.resolved):
            # The ledger's sweeper expired it: the session outlived its reservation.
            raise Conflict("the hold is already resolved", code="hold_resolved", field="holdId")
        # Checked: from here on the request takes effect.
        line = self.lines[session["subscription_id"]]
        record = {
            "used_since": session["updated_at"],
            **self._commit(session, line, ask.used, hold),
        }
        allowance = money = 0
        new_hold = None
        code = SUCCESS
        if not ask.final:
            allowance, money, new_hold, code = self._grant(
                line, session["period"], kind, session["direction"], ask.requested, session["id"]
            )
            if code == CREDIT_LIMIT_REACHED:
                self._exhausted(line)
        session.update(
            state="closed" if ask.final or code != SUCCESS else "open",
            allowance_units=allowance, money_units=money, hold_id=new_hold,
            last_request=ask.number, expires_at=self.now + VALIDITY, updated_at=self.now,
        )  # fmt: skip
        self._reserve(session)
        self.changed_sessions.add(ask.session_key)
        answer = _answer(ask, kind, code, allowance, money)
        return self._remember(session["id"], ask, answer, record)

    def _reserve(self, session: dict[str, Any]) -> None:
        key = (session["subscription_id"], session["type"], session["period"])
        held = self.reserved.setdefault(key, {})
        if session["state"] == "open":
            held[session["id"]] = session["allowance_units"]
        else:
            held.pop(session["id"], None)

    def _grant(
        self,
        line: usage_terms.Line,
        period: str,
        kind: str,
        direction: str,
        requested: int,
        session_id: uuid.UUID,
    ) -> tuple[int, int, uuid.UUID | None, int]:
        """(allowance units, money units, hold id, result code) for a request of network
        units: from the allowance less what other open sessions hold, then from the balance
        as a ledger hold."""
        terms = self.usage[(line.id, period)].now()
        wanted = billed_units(kind, requested, terms)
        if is_free(kind, direction, terms, self.now) or wanted == 0:
            return 0, wanted, None, SUCCESS
        allowance = getattr(terms, ALLOWANCE_COLUMN[kind])
        used = getattr(terms, USED_COLUMN[kind])
        others = sum(
            units
            for sid, units in self.reserved.get((line.id, kind, period), {}).items()
            if sid != session_id
        )
        from_allowance = min(wanted, max(0, allowance - used - others))
        rest = wanted - from_allowance
        # Data past the offer's cap costs nothing: granted without money, once what comes
        # before it is paid for.
        chargeable = billed_overage(kind, rest, terms)
        price = per_unit(kind, terms.voice_rate, terms.sms_rate, terms.data_rate)
        hold_id = None
        from_money = 0
        if chargeable and price == 0:
            from_money = chargeable
        elif chargeable:
            account = self.prepaid[line.id]
            step = {"voice": terms.voice_incr_s, "data": terms.data_incr_kb}.get(kind, 1)
            affordable = (ledger.balance(account).available * SCALE // price) // step * step
            from_money = min(chargeable, affordable)
            if from_money:
                hold_id = self._move(
                    account, self.revenue[line.mvno_id], -(-from_money * price // SCALE),
                    TransferCode.HOLD, f"ocs:{session_id}", line.mvno_id, pending=True,
                )  # fmt: skip
        if from_money == chargeable:
            from_money = rest
        code = SUCCESS if from_allowance + from_money else CREDIT_LIMIT_REACHED
        return from_allowance, from_money, hold_id, code

    def _commit(
        self, session: dict[str, Any], line: usage_terms.Line, used: int, hold: _Hold | None
    ) -> dict[str, int]:
        """Charge the units used of the current grant; post the hold for them and release
        the rest. Returns the use as a rated record: the quantity charged for, in the
        network's units (the use, or the grant when the network reports more than it was
        granted), and its rating as domain/rating.py's Rated has it."""
        kind = session["type"]
        usage = self.usage[(line.id, session["period"])]
        terms = usage.now()
        granted = session["allowance_units"] + session["money_units"]
        billed = billed_units(kind, used, terms)
        used_b = min(billed, granted)
        # A grant of data is in KB; the network counts bytes.
        quantity = used if billed <= granted else granted * (1024 if kind == "data" else 1)
        # Free use (a terminating call or SMS, a line barred for missing real-name) is counted
        # but uses no allowance and costs nothing, as in rating (domain/rating.py), which
        # decides by the record's start: this use began at the session's last answer.
        units = 0 if is_free(kind, session["direction"], terms, session["updated_at"]) else used_b
        from_money = units - min(units, session["allowance_units"])
        price = per_unit(kind, terms.voice_rate, terms.sms_rate, terms.data_rate)
        billed_over = billed_overage(kind, from_money, terms)
        row = usage.row
        before = row["charge_exact"]
        after = before + billed_over * price
        due = to_fen(after) - to_fen(before)
        costly = kind == "data" or session["direction"] == "mo"
        unit_cost = per_unit(kind, terms.w_voice, terms.w_sms, terms.w_data)
        wholesale = used_b * unit_cost if costly else 0
        usage.add(USED_COLUMN[kind], units)
        if kind == "data":
            usage.add("data_over_kb", from_money)
        usage.add("records", 1)
        usage.add("wholesale_exact", wholesale)
        row["charge_exact"] = after
        row["charged_fen"] = to_fen(after)
        row["updated_at"] = self.now
        usage.touched = True
        posted = 0
        if hold is not None:
            if due > 0:
                posted = min(due, hold.row["amount_fen"])
                self._resolve(hold, TransferCode.POST, posted)
            else:
                self._resolve(hold, TransferCode.VOID, 0)
        if due > posted:  # rounding carried a fen past the hold: charge it, or owe it
            account = self.prepaid[line.id]
            extra = min(due - posted, ledger.balance(account).available)
            if extra:
                self._move(
                    account, self.revenue[line.mvno_id], extra, TransferCode.USAGE,
                    f"ocs:{session['id']}", line.mvno_id,
                )  # fmt: skip
                posted += extra
            if due > posted:
                self.debts[line.id] = self.debts.get(line.id, 0) + due - posted
        if wholesale:
            self.costs[(line.mvno_id, line.host_id, session["period"])] += wholesale
        session["used_units"] += used_b
        return {
            "used_quantity": quantity, "units": units, "in_allowance": units - from_money,
            "billed_overage": billed_over, "charge_exact": billed_over * price,
            "wholesale_exact": wholesale,
        }  # fmt: skip

    def _exhausted(self, line: usage_terms.Line) -> None:
        """The balance ran out: the line goes into arrears now, and later requests of the
        batch see it so."""
        lifecycle.exhausted(self.conn, lifecycle.SYSTEM, line.id)
        sub = t.subscription
        state = self.conn.execute(
            unscoped(select(sub.c.state).where(sub.c.id == line.id), WHY)
        ).scalar_one()
        self.lines[line.id] = replace(line, state=state)

    # money, in memory until the batch writes -------------------------------------------------

    def _bump(self, account: dict[str, Any], column: int, name: str, amount: int) -> None:
        account[name] += amount
        self.bumps.setdefault(account["id"], [0, 0, 0, 0])[column] += amount

    def _move(
        self,
        debit: dict[str, Any],
        credit: dict[str, Any],
        amount: int,
        code: TransferCode,
        reference: str,
        mvno_id: uuid.UUID,
        *,
        pending: bool = False,
    ) -> uuid.UUID:
        """A transfer the caller sized to what the debit account holds."""
        transfer_id = ids.new_id()
        row = {
            "id": transfer_id, "debit_account_id": debit["id"], "credit_account_id": credit["id"],
            "amount_fen": amount, "code": code.value, "reference": reference,
            "status": (TransferStatus.PENDING if pending else TransferStatus.POSTED).value,
            "pending_id": None, "expires_at": self.now + VALIDITY + HOLD_GRACE if pending else None,
            "mvno_id": mvno_id, "party_id": None, "created_at": self.now,
        }  # fmt: skip
        self.transfers.append(row)
        if pending:
            self._bump(debit, 2, "debits_pending", amount)
            self._bump(credit, 3, "credits_pending", amount)
            self.holds[transfer_id] = _Hold(row, resolved=False)
        else:
            self._bump(debit, 0, "debits_posted", amount)
            self._bump(credit, 1, "credits_posted", amount)
        return transfer_id

    def _resolve(self, hold: _Hold, code: TransferCode, post_fen: int) -> None:
        """Post part of a hold or void it: its resolution transfer, unique per hold."""
        h = hold.row
        amount = h["amount_fen"]
        self.transfers.append(
            {
                "id": ids.new_id(), "debit_account_id": h["debit_account_id"],
                "credit_account_id": h["credit_account_id"],
                "amount_fen": post_fen if code is TransferCode.POST else amount,
                "code": code.value, "reference": h["reference"],
                "status": ledger.RESOLUTION_STATUS[code].value, "pending_id": h["id"],
                "expires_at": None, "mvno_id": h["mvno_id"], "party_id": h["party_id"],
                "created_at": self.now,
            }
        )  # fmt: skip
        hold.resolved = True
        # A hold moves money from a line's prepaid account to its MVNO's revenue.
        debit, credit = self.by_id[h["debit_account_id"]], self.by_id[h["credit_account_id"]]
        self._bump(debit, 2, "debits_pending", -amount)
        self._bump(credit, 3, "credits_pending", -amount)
        if code is TransferCode.POST:
            self._bump(debit, 0, "debits_posted", post_fen)
            self._bump(credit, 1, "credits_posted", post_fen)

    # writing ------------------------------------------------------------------------------

    def _write(self) -> None:
        conn = self.conn
        insert_claiming(conn, cs, self.new_sessions)  # the session key is unique
        created = {s["id"] for s in self.new_sessions}  # inserted as they ended up
        changed = [self.sessions[k] for k in sorted(self.changed_sessions)]
        changed = [s for s in changed if s["id"] not in created]
        if changed:
            # Only the bound names: a column name among the parameters would be SET too.
            conn.execute(
                _UPDATE_SESSION,
                [{"sid": s["id"], **{k: s[k] for k in SESSION_CHANGES}} for s in changed],
            )
        # A hold's resolution is unique per hold: the ledger's sweeper may have beaten us.
        insert_claiming(conn, lt, self.transfers)
        ledger.bump(conn, self.bumps)
        insert_claiming(conn, cr, self.new_requests)
        touched = sorted(
            ((k, u) for k, u in self.usage.items() if u.touched),
            key=lambda item: (item[0][0].int, item[0][1]),  # by line and period: lock order
        )
        # A rating batch may have opened the period meanwhile: then this batch runs again.
        insert_claiming(conn, t.usage_period, [u.row for _, u in touched if not u.exists])
        updates = [
            {**u.added, "charge_exact": u.row["charge_exact"], "charged_fen": u.row["charged_fen"],
             "updated_at": self.now, "sid": k[0], "p": k[1]}
            for k, u in touched if u.exists
        ]  # fmt: skip
        if updates:
            conn.execute(_UPDATE_PERIOD, updates)
        if self.debts:
            sub = t.subscription
            conn.execute(
                update(sub)
                .where(sub.c.id == bindparam("sid"))
                .values(debt_fen=sub.c.debt_fen + bindparam("owed")),
                [{"sid": k, "owed": v} for k, v in sorted(self.debts.items())],
            )
        if self.costs:
            moves, _ = wholesale_costs(conn, self.costs, f"ocs:{self.batch_id}")
            ledger.post_many(conn, moves)


def _empty_period(
    line: usage_terms.Line, period: str, terms: usage_terms.LineTerms
) -> dict[str, Any]:
    allow = terms.allowances
    return {
        "subscription_id": line.id, "period": period, "mvno_id": line.mvno_id,
        "msisdn": line.msisdn, "voice_allow_s": allow[0], "sms_allow": allow[1],
        "data_allow_kb": allow[2], "rollover_kb": allow[3], "voice_used_s": 0, "sms_used": 0,
        "data_used_kb": 0, "data_over_kb": 0, "records": 0, "charge_exact": 0,
        "charged_fen": 0, "unpaid_fen": 0, "wholesale_exact": 0, "updated_at": None,
    }  # fmt: skip


# A charging request's usage record (charging_request): NULL on an initial request.
RECORD_COLUMNS = (
    "used_since", "used_quantity", "units", "in_allowance", "billed_overage", "charge_exact",
    "wholesale_exact",
)  # fmt: skip
SESSION_CHANGES = (
    "state", "allowance_units", "money_units", "hold_id", "used_units", "last_request",
    "expires_at", "updated_at",
)  # fmt: skip
_UPDATE_SESSION = (
    update(cs)
    .where(cs.c.id == bindparam("sid"))
    .values({name: bindparam(name) for name in SESSION_CHANGES})
)
up = t.usage_period
_UPDATE_PERIOD = (
    update(up)
    .where(up.c.subscription_id == bindparam("sid"), up.c.period == bindparam("p"))
    .values(
        {name: up.c[name] + bindparam(name) for name in ADDED}
        | {
            "charge_exact": bindparam("charge_exact"),
            "charged_fen": bindparam("charged_fen"),
            "updated_at": bindparam("updated_at"),
        }
    )
)
