"""Online charging for the host network (Gy CCR-I/U/T, Nchf create/update/release).

A session reserves units before use: first from the line's allowance for the period (less
what other open sessions hold), then from its balance as a ledger hold. Each update or the
termination reports the units used: they are charged by the same rules as batch rating
(domain/rating.py: increments, allowance first, the period's running total rounded once),
the hold is posted for what was used and the rest released. A session the network forgets
expires after its validity and its reservation is released exactly once. Every request is
idempotent on (session id, request number).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from openmvne import clock, ids
from openmvne.db import locks
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.access import Actor, ScopeKind
from openmvne.domain.ledger import AccountKind, TransferCode
from openmvne.domain.parties import Role
from openmvne.domain.rating import SCALE, Terms, billed_units, is_free, per_unit, to_fen
from openmvne.domain.subscribers import LineState, local_date
from openmvne.errors import Conflict, InvalidInput, NotFound, RuleViolation
from openmvne.services import ledger, lifecycle, usage_terms
from openmvne.services.usage import _costs, _Posting

cs = t.charging_session
cr = t.charging_request
WHY = "online charging acts on the line the network names"
VALIDITY = timedelta(seconds=300)
SUCCESS = 2001
CREDIT_LIMIT_REACHED = 4012
END_USER_SERVICE_DENIED = 4010
CHARGERS = (Role.PLATFORM_ADMIN, Role.HOST_ADMIN)


def _unit_price(kind: str, terms: Terms) -> int:
    return per_unit(kind, terms.voice_rate, terms.sms_rate, terms.data_rate)


def _unit_cost(kind: str, terms: Terms) -> int:
    return per_unit(kind, terms.w_voice, terms.w_sms, terms.w_data)


def _to_network(kind: str, billed: int) -> int:
    return billed * 1024 if kind == "data" else billed


def _check(kind: str, units: int, field: str) -> None:
    if kind not in ("voice", "sms", "data"):
        raise InvalidInput(
            "serviceType is voice, sms or data", code="bad_type", field="serviceType"
        )
    if isinstance(units, bool) or not isinstance(units, int) or not 0 <= units <= 10**12:
        raise InvalidInput(f"{field} is a whole number >= 0", code="bad_units", field=field)


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _replayed(
    conn: Connection, session_id: uuid.UUID, number: int, digest: str
) -> dict[str, Any] | None:
    row = conn.execute(
        select(cr.c.request_sha256, cr.c.response).where(
            cr.c.session_id == session_id, cr.c.request_number == number
        )
    ).first()
    if row is None:
        return None
    if row.request_sha256 != digest:
        raise RuleViolation(
            "this request number was used for another request",
            code="request_number_reused",
            field="requestNumber",
        )
    return {**row.response, "replayed": True}


def _remember(
    conn: Connection, session_id: uuid.UUID, number: int, digest: str, response: dict[str, Any]
) -> dict[str, Any]:
    try:
        conn.execute(
            insert(cr).values(
                session_id=session_id,
                request_number=number,
                request_sha256=digest,
                response=response,
            )
        )
    except IntegrityError as exc:  # the same request raced itself: the other one answered
        raise Conflict("this request is being answered; retry", code="request_in_flight") from exc
    return {**response, "replayed": False}


def _line(conn: Connection, actor: Actor, msisdn: str) -> usage_terms.Line:
    lines, _ = usage_terms.lines_for(conn, [msisdn])
    line = lines.get(msisdn)
    if line is None or (actor.scope.kind is ScopeKind.HOST and line.host_id != actor.party_id):
        raise NotFound(
            f"{msisdn} is not a line on your network", code="unknown_line", field="msisdn"
        )
    return line


def _terms(conn: Connection, line: usage_terms.Line, period: str) -> usage_terms.LineTerms:
    return usage_terms.terms_for(conn, {line.msisdn: line}, [(line.msisdn, period)])[
        (line.msisdn, period)
    ]


def _reserved(
    conn: Connection, line_id: uuid.UUID, kind: str, period: str, besides: uuid.UUID | None
) -> int:
    stmt = select(func.coalesce(func.sum(cs.c.allowance_units), 0)).where(
        cs.c.subscription_id == line_id,
        cs.c.type == kind,
        cs.c.period == period,
        cs.c.state == "open",
    )
    if besides is not None:
        stmt = stmt.where(cs.c.id != besides)
    return int(conn.execute(unscoped(stmt, WHY)).scalar_one())


def _grant(
    conn: Connection,
    line: usage_terms.Line,
    lt: usage_terms.LineTerms,
    kind: str,
    direction: str,
    requested: int,
    session_id: uuid.UUID | None,
) -> tuple[int, int, uuid.UUID | None, int]:
    """(allowance units, money units, hold id, result code) for a request of network units."""
    terms = lt.terms
    wanted = billed_units(kind, requested, terms)
    free = is_free(kind, direction, terms)
    if free or wanted == 0:
        return 0, wanted, None, SUCCESS
    allowance, used = {
        "voice": (terms.voice_allow_s, terms.voice_used_s),
        "sms": (terms.sms_allow, terms.sms_used),
        "data": (terms.data_allow_kb, terms.data_used_kb),
    }[kind]
    left = max(0, allowance - used - _reserved(conn, line.id, kind, lt.period, session_id))
    from_allowance = min(wanted, left)
    rest = wanted - from_allowance
    price = _unit_price(kind, terms)
    hold_id = None
    from_money = 0
    if rest and price == 0:
        from_money = rest
    elif rest:
        account = lifecycle.prepaid(conn, {"mvno_id": line.mvno_id, "msisdn": line.msisdn})
        available = ledger.balance(account).available
        step = (
            terms.voice_incr_s if kind == "voice" else terms.data_incr_kb if kind == "data" else 1
        )
        affordable = (available * SCALE // price) // step * step
        from_money = min(rest, affordable)
        if from_money:
            hold_fen = -(-from_money * price // SCALE)
            hold_id = ledger.transfer(
                conn,
                account,
                ledger.account(conn, AccountKind.MVNO_REVENUE, mvno_id=line.mvno_id),
                hold_fen,
                TransferCode.HOLD,
                reference=f"ocs:{session_id}",
                mvno_id=line.mvno_id,
                pending=True,
                expires_at=clock.now() + VALIDITY + timedelta(seconds=60),
            )
    code = SUCCESS if from_allowance + from_money else CREDIT_LIMIT_REACHED
    return from_allowance, from_money, hold_id, code


def _commit(
    conn: Connection,
    session: dict[str, Any],
    line: usage_terms.Line,
    used: int,
) -> int:
    """Charge the units used of the current grant; release the rest. Returns fen charged."""
    kind = session["type"]
    lt = _terms(conn, line, session["period"])
    terms = lt.terms
    granted = session["allowance_units"] + session["money_units"]
    used_b = min(billed_units(kind, used, terms), granted)
    from_allowance = min(used_b, session["allowance_units"])
    from_money = used_b - from_allowance
    price = _unit_price(kind, terms)
    exact = from_money * price
    up = t.usage_period
    row = lt.existing
    before = row["charge_exact"] if row else 0
    after = before + exact
    due = to_fen(after) - to_fen(before)
    column = {"voice": "voice_used_s", "sms": "sms_used", "data": "data_used_kb"}[kind]
    costly = kind == "data" or session["direction"] == "mo"
    wholesale = used_b * _unit_cost(kind, terms) if costly else 0
    now = clock.now()
    if row is None:
        values = {
            "subscription_id": line.id, "period": session["period"], "mvno_id": line.mvno_id,
            "msisdn": line.msisdn, "voice_allow_s": lt.allowances[0], "sms_allow": lt.allowances[1],
            "data_allow_kb": lt.allowances[2], "rollover_kb": lt.allowances[3], "voice_used_s": 0,
            "sms_used": 0, "data_used_kb": 0, "data_over_kb": 0, "records": 1,
            "charge_exact": after, "charged_fen": to_fen(after), "unpaid_fen": 0,
            "wholesale_exact": wholesale, "updated_at": now,
        }  # fmt: skip
        values[column] = used_b
        if kind == "data":
            values["data_over_kb"] = from_money
        conn.execute(insert(up).values(**values))
    else:
        conn.execute(
            update(up)
            .where(up.c.subscription_id == line.id, up.c.period == session["period"])
            .values(
                {
                    column: getattr(up.c, column) + used_b,
                    "data_over_kb": up.c.data_over_kb + (from_money if kind == "data" else 0),
                    "records": up.c.records + 1,
                    "charge_exact": after,
                    "charged_fen": to_fen(after),
                    "wholesale_exact": up.c.wholesale_exact + wholesale,
                    "updated_at": now,
                }
            )
        )
    posted = 0
    hold_id = session["hold_id"]
    if hold_id is not None:
        hold = conn.execute(
            unscoped(
                select(t.ledger_transfer.c.amount_fen).where(t.ledger_transfer.c.id == hold_id), WHY
            )
        ).scalar_one()
        if due > 0:
            posted = min(due, hold)
            ledger.resolve_hold(conn, hold_id, TransferCode.POST, posted)
        else:
            ledger.resolve_hold(conn, hold_id, TransferCode.VOID)
    if due > posted:  # rounding carried a fen past the hold: charge it, or owe it
        account = lifecycle.prepaid(conn, {"mvno_id": line.mvno_id, "msisdn": line.msisdn})
        extra = min(due - posted, ledger.balance(account).available)
        if extra:
            ledger.transfer(
                conn, account, ledger.account(conn, AccountKind.MVNO_REVENUE, mvno_id=line.mvno_id),
                extra, TransferCode.USAGE, reference=f"ocs:{session['id']}", mvno_id=line.mvno_id,
            )  # fmt: skip
            posted += extra
        if due > posted:
            conn.execute(
                update(t.subscription)
                .where(t.subscription.c.id == line.id)
                .values(debt_fen=t.subscription.c.debt_fen + (due - posted))
            )
    if wholesale:
        posting = _Posting()
        posting.costs[(line.mvno_id, line.host_id, session["period"])] += wholesale
        _costs(conn, posting, f"ocs:{session['id']}")
        ledger.post_many(conn, posting.moves)
    conn.execute(
        update(cs).where(cs.c.id == session["id"]).values(used_units=cs.c.used_units + used_b)
    )
    return posted


def _answer(
    session_key: str, number: int, code: int, kind: str, allowance: int, money: int
) -> dict[str, Any]:
    return {
        "sessionId": session_key,
        "requestNumber": number,
        "resultCode": code,
        "grantedUnits": _to_network(kind, allowance + money) if code == SUCCESS else 0,
        "unit": {"voice": "second", "sms": "message", "data": "byte"}[kind],
        "validitySeconds": int(VALIDITY.total_seconds()),
    }


def initial(
    db: Database,
    actor: Actor,
    *,
    session_key: str,
    msisdn: str,
    kind: str,
    requested: int,
    direction: str = "mo",
) -> dict[str, Any]:
    """CCR-Initial: open a session and reserve units."""
    actor.require(*CHARGERS, action="charge online")
    _check(kind, requested, "requestedUnits")
    if not session_key or len(session_key) > 128:
        raise InvalidInput("sessionId is 1-128 characters", code="required", field="sessionId")
    if direction not in ("mo", "mt"):
        raise InvalidInput("direction is mo or mt", code="bad_direction", field="direction")
    digest = _digest({"m": msisdn, "k": kind, "r": requested, "d": direction})
    with db.write() as conn:
        existing = (
            conn.execute(unscoped(select(cs).where(cs.c.session_key == session_key), WHY))
            .mappings()
            .first()
        )
        if existing is not None:
            replay = _replayed(conn, existing["id"], 0, digest)
            if replay is None:
                raise Conflict(
                    "this session is open already", code="session_exists", field="sessionId"
                )
            return replay
        line = _line(conn, actor, msisdn)
        locks.lock(conn, f"line:{line.id}")
        session_id = ids.new_id()
        period = local_date(clock.now()).strftime("%Y-%m")
        if LineState(line.state) not in (LineState.ACTIVE,) and not (
            LineState(line.state) is LineState.NON_REAL_NAME and direction == "mt"
        ):
            code, allowance, money, hold = END_USER_SERVICE_DENIED, 0, 0, None
        else:
            lt = _terms(conn, line, period)
            allowance, money, hold, code = _grant(conn, line, lt, kind, direction, requested, None)
        now = clock.now()
        conn.execute(
            insert(cs).values(
                id=session_id, session_key=session_key, subscription_id=line.id,
                mvno_id=line.mvno_id, host_id=line.host_id, msisdn=msisdn, period=period,
                type=kind, direction=direction,
                state="open" if code == SUCCESS else "closed", allowance_units=allowance,
                money_units=money, hold_id=hold, used_units=0, last_request=0,
                expires_at=now + VALIDITY, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        if code == CREDIT_LIMIT_REACHED:
            lifecycle.exhausted(conn, lifecycle.SYSTEM, line.id)
        return _remember(
            conn, session_id, 0, digest, _answer(session_key, 0, code, kind, allowance, money)
        )


def _open_session(conn: Connection, actor: Actor, session_key: str) -> dict[str, Any]:
    row = (
        conn.execute(unscoped(select(cs).where(cs.c.session_key == session_key), WHY))
        .mappings()
        .first()
    )
    if row is None or (actor.scope.kind is ScopeKind.HOST and row["host_id"] != actor.party_id):
        raise NotFound("no such charging session", code="unknown_session", field="sessionId")
    return dict(row)


def update_session(
    db: Database, actor: Actor, *, session_key: str, number: int, used: int, requested: int
) -> dict[str, Any]:
    """CCR-Update: charge what was used of the last grant, reserve more."""
    return _step(db, actor, session_key, number, used, requested, final=False)


def terminate(
    db: Database, actor: Actor, *, session_key: str, number: int, used: int
) -> dict[str, Any]:
    """CCR-Terminate: charge what was used, release the rest, close the session."""
    return _step(db, actor, session_key, number, used, 0, final=True)


def _step(
    db: Database,
    actor: Actor,
    session_key: str,
    number: int,
    used: int,
    requested: int,
    *,
    final: bool,
) -> dict[str, Any]:
    actor.require(*CHARGERS, action="charge online")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise InvalidInput(
            "requestNumber counts up from 1", code="bad_request_number", field="requestNumber"
        )
    digest = _digest({"u": used, "r": requested, "f": final})
    with db.write() as conn:
        head = _open_session(conn, actor, session_key)
        _check(head["type"], used, "usedUnits")
        _check(head["type"], requested, "requestedUnits")
        replay = _replayed(conn, head["id"], number, digest)
        if replay is not None:
            return replay
        locks.lock(conn, f"line:{head['subscription_id']}")
        session = dict(
            conn.execute(unscoped(select(cs).where(cs.c.id == head["id"]), WHY)).mappings().one()
        )
        if session["state"] != "open":
            raise Conflict(
                f"the session is {session['state']}", code="session_closed", field="sessionId"
            )
        if number != session["last_request"] + 1:
            raise Conflict(
                f"expected request number {session['last_request'] + 1}",
                code="request_out_of_order",
                field="requestNumber",
            )
        lines, _ = usage_terms.lines_for(conn, [session["msisdn"]])
        line = lines.get(session["msisdn"]) or _line_by_id(conn, session["subscription_id"])
        _commit(conn, session, line, used)
        kind = session["type"]
        allowance = money = 0
        hold = None
        code = SUCCESS
        if not final:
            lt = _terms(conn, line, session["period"])
            allowance, money, hold, code = _grant(
                conn, line, lt, kind, session["direction"], requested, session["id"]
            )
            if code == CREDIT_LIMIT_REACHED:
                lifecycle.exhausted(conn, lifecycle.SYSTEM, line.id)
        now = clock.now()
        conn.execute(
            update(cs)
            .where(cs.c.id == session["id"])
            .values(
                state="closed" if final or code != SUCCESS else "open",
                allowance_units=allowance, money_units=money, hold_id=hold, last_request=number,
                expires_at=now + VALIDITY, updated_at=now,
            )
        )  # fmt: skip
        return _remember(
            conn, session["id"], number, digest,
            _answer(session_key, number, code, kind, allowance, money),
        )  # fmt: skip


def _line_by_id(conn: Connection, line_id: uuid.UUID) -> usage_terms.Line:
    sub = t.subscription
    r = conn.execute(
        unscoped(
            select(
                sub.c.id, sub.c.msisdn, sub.c.mvno_id, sub.c.host_id, sub.c.offering_id, sub.c.state
            ).where(sub.c.id == line_id),
            WHY,
        )
    ).one()
    return usage_terms.Line(r.id, r.msisdn, r.mvno_id, r.host_id, r.offering_id, r.state)


def expire(db: Database) -> int:
    """Sessions the network forgot: their reservations are released, exactly once."""
    with db.read() as conn:
        due = list(
            conn.execute(
                unscoped(
                    select(cs.c.id).where(cs.c.state == "open", cs.c.expires_at <= clock.now()),
                    "the sweeper works for every tenant",
                )
            ).scalars()
        )
    expired = 0
    for session_id in due:
        with db.write() as conn:
            done = conn.execute(
                update(cs)
                .where(cs.c.id == session_id, cs.c.state == "open", cs.c.expires_at <= clock.now())
                .values(state="expired", updated_at=clock.now())
                .returning(cs.c.hold_id)
            ).first()
            if done is None:
                continue  # answered or expired by someone else a moment ago
            if done.hold_id is not None:
                # The ledger's own sweeper may have expired the hold first.
                with contextlib.suppress(Conflict, NotFound):
                    ledger.resolve_hold(conn, done.hold_id, TransferCode.EXPIRE)
            expired += 1
    return expired


def get_session(db: Database, actor: Actor, session_key: str) -> dict[str, Any]:
    actor.require(*CHARGERS, Role.MVNO_ADMIN, action="read charging sessions")
    with db.read() as conn:
        row = (
            _open_session(conn, actor, session_key)
            if actor.scope.kind is not ScopeKind.MVNO
            else None
        )
        if row is None:
            found = (
                conn.execute(unscoped(select(cs).where(cs.c.session_key == session_key), WHY))
                .mappings()
                .first()
            )
            if found is None or found["mvno_id"] != actor.party_id:
                raise NotFound("no such charging session", code="unknown_session")
            row = dict(found)
    return row
