"""Online charging: reserve, update, terminate, expiry, idempotence, exhaustion."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, event, func, select, update

from openmvne import clock
from openmvne.db import locks
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.catalog import OfferKind
from openmvne.domain.ledger import AccountKind, TransferCode
from openmvne.domain.numbers import HostNetwork
from openmvne.domain.parties import OrgKind, Role
from openmvne.domain.rating import SCALE
from openmvne.errors import Conflict, DomainError, NotFound
from openmvne.services import (
    catalog,
    charging,
    ledger,
    lifecycle,
    money,
    parties,
    subscriber_orders,
    usage,
    users,
)
from openmvne.services.charging_batch import Ask, LinesSeen
from tests.batches import race
from tests.subscribers_world import SubscribersWorld, build_subscribers
from tests.usage_files import write_csv

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


@pytest.fixture
def sw(db: Database) -> SubscribersWorld:
    with clock.frozen(NOW - timedelta(days=3)):
        world = build_subscribers(db)
        world.payg, _ = world.sale(db, seq=1, offer="payg", prepayment_fen=1_000)  # type: ignore[attr-defined]
        world.plan, _ = world.sale(db, seq=2, offer="plan", prepayment_fen=10_000)  # type: ignore[attr-defined]
        world.settle(db)
    return world


def view(db: Database, sw: SubscribersWorld, msisdn: str) -> dict[str, Any]:
    return subscriber_orders.summary(db, sw.w.actor["mvnoAdmin"], msisdn)


def available(db: Database, sw: SubscribersWorld, msisdn: str) -> int:
    return int(view(db, sw, msisdn)["balance"].available)


def _postgres_only(db: Database) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("locks between transactions are PostgreSQL's; SQLite writers take turns")


def _lock_account(conn: Connection, account_id: uuid.UUID, *, nowait: bool = False) -> None:
    """As a batch in flight holds it; `nowait`: fail at once if someone else does."""
    la = t.ledger_account
    conn.execute(
        unscoped(
            select(la.c.id).where(la.c.id == account_id).with_for_update(nowait=nowait), "test"
        )
    )


def _waiting(work: Callable[[], Any], results: list[Any]) -> threading.Thread:
    """`work` on a thread of its own (its result into `results`), still waiting for a lock
    a second later."""
    thread = threading.Thread(target=lambda: results.append(work()))
    thread.start()
    thread.join(1.0)
    assert thread.is_alive()  # waiting for the line
    return thread


def test_reserve_use_and_release_on_balance(db: Database, sw: SubscribersWorld) -> None:
    network = sw.w.actor["hostAdmin"]
    line = sw.payg  # type: ignore[attr-defined]
    with clock.frozen(NOW):
        opened = charging.initial(
            db, network, session_key="s1", msisdn=line, kind="voice", requested=300
        )
        assert opened["resultCode"] == charging.SUCCESS
        assert opened["grantedUnits"] == 300
        # Five minutes at 0.10 CNY are held: 50 fen.
        assert available(db, sw, line) == 1_000 - 50
        again = charging.initial(
            db, network, session_key="s1", msisdn=line, kind="voice", requested=300
        )
        assert again["replayed"] is True
        assert available(db, sw, line) == 1_000 - 50
        more = charging.update_session(
            db, network, session_key="s1", number=1, used=125, requested=120
        )
        # 125 s used: three started minutes, 30 fen; two more minutes held.
        assert more["grantedUnits"] == 120
        assert available(db, sw, line) == 1_000 - 30 - 20
        with pytest.raises(Conflict) as err:
            charging.update_session(db, network, session_key="s1", number=3, used=0, requested=0)
        assert err.value.code == "request_out_of_order"
        ended = charging.terminate(db, network, session_key="s1", number=2, used=59)
        assert ended["resultCode"] == charging.SUCCESS
        assert available(db, sw, line) == 1_000 - 40
        assert charging.terminate(db, network, session_key="s1", number=2, used=59)["replayed"]
        with pytest.raises(DomainError) as reused:
            charging.terminate(db, network, session_key="s1", number=2, used=60)
        assert reused.value.code == "request_number_reused"
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)


def test_allowance_first_then_money(db: Database, sw: SubscribersWorld) -> None:
    network = sw.w.actor["hostAdmin"]
    line = sw.plan  # type: ignore[attr-defined]
    before = available(db, sw, line)
    with clock.frozen(NOW):
        # The plan has 100 minutes: 6,000 s come from the allowance, the rest from money.
        opened = charging.initial(
            db, network, session_key="p1", msisdn=line, kind="voice", requested=6_060
        )
        assert opened["grantedUnits"] == 6_060
        assert available(db, sw, line) == before - 10
        # A second session sees the allowance already reserved by the first.
        second = charging.initial(
            db, network, session_key="p2", msisdn=line, kind="voice", requested=60
        )
        assert second["grantedUnits"] == 60
        assert available(db, sw, line) == before - 20
        charging.terminate(db, network, session_key="p1", number=1, used=6_000)
        charging.terminate(db, network, session_key="p2", number=1, used=60)
    # The allowance covered p1 wholly; p2 found none left: one minute charged.
    assert available(db, sw, line) == before - 10


def test_exhaustion_refuses_and_bars_the_line(db: Database, sw: SubscribersWorld) -> None:
    network = sw.w.actor["hostAdmin"]
    line = sw.payg  # type: ignore[attr-defined]
    with clock.frozen(NOW):
        big = charging.initial(
            db, network, session_key="x1", msisdn=line, kind="voice", requested=10**6
        )
        # 1,000 fen buys 100 minutes, no more.
        assert big["grantedUnits"] == 6_000
        charging.terminate(db, network, session_key="x1", number=1, used=6_000)
        assert available(db, sw, line) == 0
        refused = charging.initial(
            db, network, session_key="x2", msisdn=line, kind="voice", requested=60
        )
    assert refused["resultCode"] == charging.CREDIT_LIMIT_REACHED
    assert refused["grantedUnits"] == 0
    assert view(db, sw, line)["line"]["state"] == "arrearsOutBarred"
    with clock.frozen(NOW):
        barred = charging.initial(
            db, network, session_key="x3", msisdn=line, kind="voice", requested=60
        )
    assert barred["resultCode"] == charging.END_USER_SERVICE_DENIED


def test_forgotten_sessions_expire_once(db: Database, sw: SubscribersWorld) -> None:
    network = sw.w.actor["hostAdmin"]
    line = sw.payg  # type: ignore[attr-defined]
    with clock.frozen(NOW):
        charging.initial(
            db, network, session_key="e1", msisdn=line, kind="data", requested=10 * 2**20
        )
    assert available(db, sw, line) == 1_000 - 100
    with clock.frozen(NOW + timedelta(minutes=4)):
        assert charging.expire(db) == 0
    with clock.frozen(NOW + timedelta(minutes=6)):
        assert charging.expire(db) == 1
        assert charging.expire(db) == 0
        with pytest.raises(Conflict):
            charging.terminate(db, network, session_key="e1", number=1, used=100)
    assert available(db, sw, line) == 1_000
    with db.read() as conn:
        state = conn.execute(unscoped(select(t.charging_session.c.state), "test")).scalar()
        assert state == "expired"
        assert not ledger.audit_ledger(conn)


def test_expiry_waits_for_a_batch_that_holds_the_line(db: Database, sw: SubscribersWorld) -> None:
    """A charging batch reads its sessions under the lines' locks and writes its answers
    later: the sweeper must not expire a session in between (the batch would then write over
    the expiry). On SQLite the write transaction is the lock already."""
    _postgres_only(db)
    network = sw.w.actor["hostAdmin"]
    with clock.frozen(NOW):
        charging.initial(
            db,
            network,
            session_key="w1",
            msisdn=sw.payg,
            kind="data",
            requested=2**20,  # type: ignore[attr-defined]
        )
    cs = t.charging_session
    result: list[int] = []
    with clock.frozen(NOW + timedelta(minutes=6)):
        with db.write() as conn:
            session_id, line_id = conn.execute(
                unscoped(select(cs.c.id, cs.c.subscription_id), "test")
            ).one()
            locks.lock(conn, f"line:{line_id}")  # as a batch in flight holds it
            sweeper = _waiting(lambda: charging.expire(db), result)
            conn.execute(  # the batch's answer: the network closed the session in time
                update(cs).where(cs.c.id == session_id).values(state="closed")
            )
        sweeper.join(10)
    assert result == [0]
    with db.read() as conn:
        assert conn.execute(unscoped(select(cs.c.state), "test")).scalar() == "closed"


def test_only_the_lines_network_charges_it(db: Database, sw: SubscribersWorld) -> None:
    line = sw.payg  # type: ignore[attr-defined]
    with clock.frozen(NOW):
        with pytest.raises(DomainError) as outlet:
            charging.initial(
                db, sw.w.actor["outletClerk"], session_key="o", msisdn=line, kind="sms", requested=1
            )
        assert outlet.value.code == "role_required"
        with pytest.raises(NotFound):
            charging.initial(
                db, sw.w.actor["hostAdmin"], session_key="n", msisdn="17199999999", kind="sms",
                requested=1,
            )  # fmt: skip


def test_another_networks_session_id_is_taken_and_nothing_more(
    db: Database, sw: SubscribersWorld
) -> None:
    """Session ids are one namespace. A second host network that sends a session id the
    first one opened learns only that it is taken: never the first one's stored answer (a
    replay), nor, by a different refusal, whether its request matched the first one's."""
    op = sw.w.op
    mobile = parties.create_organisation(
        db, op, kind=OrgKind.HOST_NETWORK, name="中国移动", network_code=HostNetwork.MOBILE
    )["id"]
    users.add_user(
        db, op, username="mobileAdmin", party_id=mobile, roles=frozenset({Role.HOST_ADMIN}),
        password=None,
    )  # fmt: skip
    other = users.actor_from_token(db, users.create_token(db, op, "mobileAdmin"))
    line = sw.payg  # type: ignore[attr-defined]
    ask = {"session_key": "s-1", "msisdn": line, "kind": "voice", "requested": 300}
    with clock.frozen(NOW):
        opened = charging.initial(db, sw.w.actor["hostAdmin"], **ask)
        assert opened["resultCode"] == charging.SUCCESS
        refusals = []
        for request in (ask, {**ask, "requested": 60}, {**ask, "msisdn": "13800000000"}):
            with pytest.raises(DomainError) as refused:
                charging.initial(db, other, **request)
            refusals.append((type(refused.value).__name__, refused.value.code))
        assert refusals == [("Conflict", "session_exists")] * 3
        with pytest.raises(NotFound):
            charging.terminate(db, other, session_key="s-1", number=1, used=10)
        # The first network's session is untouched: its own retry replays, it closes.
        assert charging.initial(db, sw.w.actor["hostAdmin"], **ask)["replayed"] is True
        closed = charging.terminate(
            db, sw.w.actor["hostAdmin"], session_key="s-1", number=1, used=10
        )
        assert closed["replayed"] is False


def _script(payg: str, plan: str, p: str, network: Any) -> list[Any]:
    """Requests on two lines, in order: shared allowance, replays, refusals, exhaustion."""
    i, s = charging.initial_ask, charging.step_ask
    return [
        i(network, f"{p}1", payg, "voice", 300, "mo"),
        i(network, f"{p}1", payg, "voice", 300, "mo"),  # a retry: replayed
        i(network, f"{p}2", plan, "voice", 6_060, "mo"),
        i(network, f"{p}3", plan, "voice", 60, "mo"),  # sees p2's reservation
        i(network, f"{p}1", payg, "voice", 60, "mo"),  # the same id, another body
        i(network, f"{p}4", "17000000009", "voice", 60, "mo"),  # no such line
        s(network, f"{p}1", 1, 125, 120, final=False),
        s(network, f"{p}1", 3, 0, 0, final=False),  # out of order
        s(network, f"{p}2", 1, 6_000, 0, final=True),
        s(network, f"{p}3", 1, 60, 0, final=True),
        s(network, f"{p}1", 2, 59, 0, final=True),
        s(network, f"{p}1", 2, 59, 0, final=True),  # replayed
        i(network, f"{p}5", payg, "voice", 10**6, "mo"),  # what the balance affords
        s(network, f"{p}5", 1, 10**6, 0, final=True),
        i(network, f"{p}6", payg, "voice", 60, "mo"),  # nothing left: refused, barred
        i(network, f"{p}7", payg, "voice", 60, "mo"),  # barred: denied
        s(network, f"{p}6", 1, 0, 0, final=True),  # closed when refused
        i(network, f"{p}8", plan, "data", 5_000_000, "mo"),
        s(network, f"{p}8", 1, 2_000_000, 1_000_000, final=False),
        s(network, f"{p}8", 2, 700_000, 0, final=True),
        i(network, f"{p}9", plan, "voice", 120, "mt"),  # incoming: free on this offer
        s(network, f"{p}9", 1, 120, 0, final=True),
    ]


def _outcome(result: Any, prefix: str) -> Any:
    if isinstance(result, DomainError):
        return (type(result).__name__, result.code)
    return {**result, "sessionId": result["sessionId"].removeprefix(prefix)}


def _period(db: Database, msisdn: str) -> tuple[Any, ...]:
    up = t.usage_period
    with db.read() as conn:
        row = conn.execute(
            unscoped(select(up).where(up.c.msisdn == msisdn), "test")
        ).mappings().one()  # fmt: skip
    return tuple(v for k, v in row.items() if k not in ("subscription_id", "msisdn", "mvno_id"))


def test_a_batch_answers_as_its_requests_would_one_by_one(db: Database) -> None:
    """The same requests on twin lines: all in one batch, and each in a batch of its own.
    Every answer, balance, period total and line state is the same."""
    with clock.frozen(NOW - timedelta(days=3)):
        world = build_subscribers(db)
        lines = [
            world.sale(db, seq=n, offer=offer, prepayment_fen=fen)[0]
            for n, offer, fen in ((1, "payg", 1_000), (2, "plan", 10_000),
                                  (3, "payg", 1_000), (4, "plan", 10_000))
        ]  # fmt: skip
        world.settle(db)
    network = world.w.actor["hostAdmin"]
    with clock.frozen(NOW):
        together = charging.run_batch(db, _script(lines[0], lines[1], "a", network))
        alone = [
            charging.run_batch(db, [ask])[0] for ask in _script(lines[2], lines[3], "b", network)
        ]
    assert [_outcome(r, "a") for r in together] == [_outcome(r, "b") for r in alone]
    # The script does reach what it means to (a check on the script, not the batch).
    answers = [_outcome(r, "a") for r in together]
    assert answers[1]["replayed"]
    assert answers[11]["replayed"]
    assert [answers[k] for k in (4, 5, 7, 16)] == [
        ("RuleViolation", "request_number_reused"),
        ("NotFound", "unknown_line"),
        ("Conflict", "request_out_of_order"),
        ("Conflict", "session_closed"),
    ]
    assert [answers[k]["resultCode"] for k in (14, 15)] == [
        charging.CREDIT_LIMIT_REACHED,
        charging.END_USER_SERVICE_DENIED,
    ]
    for batched, single in ((lines[0], lines[2]), (lines[1], lines[3])):
        assert view(db, world, batched)["balance"] == view(db, world, single)["balance"]
        assert view(db, world, batched)["line"]["state"] == view(db, world, single)["line"]["state"]
        assert _period(db, batched) == _period(db, single)
    assert view(db, world, lines[0])["line"]["state"] == "arrearsOutBarred"
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)


def test_batches_of_two_processes_race_for_the_same_sessions(
    db: Database, sw: SubscribersWorld
) -> None:
    """Two engines (as two server processes) run batches of the same requests at once, in
    opposite orders: each session opens once and ends once; both get the same answers."""
    network = sw.w.actor["hostAdmin"]
    line = sw.plan  # type: ignore[attr-defined]
    before = available(db, sw, line)
    other = Database(db.url)

    keys = [f"race-{n}" for n in range(30)]
    with clock.frozen(NOW):
        opened = race(
            charging.run_batch,
            db,
            other,
            [charging.initial_ask(network, k, line, "voice", 300, "mo") for k in keys],
        )
        ended = race(
            charging.run_batch,
            db,
            other,
            [charging.step_ask(network, k, 1, 250, 0, final=True) for k in keys],
        )
    other.dispose()
    for a, b in (opened, ended):
        assert all(isinstance(x, dict) for x in a + b), [
            x for x in a + b if isinstance(x, Exception)
        ]
        assert [{**x, "replayed": None} for x in a] == [{**x, "replayed": None} for x in b]
        replayed = sorted(x["replayed"] for x in a + b)
        assert replayed == [False] * 30 + [True] * 30
    # 30 calls of 250 s, 5 started minutes each: 150 minutes, 100 from the plan's allowance,
    # 50 at 0.10 CNY.
    assert available(db, sw, line) == before - 500
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)
        sessions = conn.execute(
            unscoped(select(t.charging_session.c.state), "test")
        ).scalars().all()  # fmt: skip
    assert sessions == ["closed"] * 30


def _reads_under_locks(db: Database, run: Callable[[], Any]) -> list[str]:
    """The line locks and session reads `run`'s batches send, in order."""
    sent: list[str] = []

    def look(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "pg_advisory_xact_lock" in statement:
            sent.append("lock")
        elif "FROM charging_session" in statement and "session_key" in statement:
            sent.append("sessions")

    event.listen(db.engine, "before_cursor_execute", look)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", look)
    return sent


def test_a_batch_on_lines_it_has_seen_locks_them_and_reads_once(
    db: Database, sw: SubscribersWorld
) -> None:
    """On PostgreSQL a batch reads its sessions under its lines' locks. Lines this process's
    batches have seen are locked first and read once; a request never seen is read first
    to learn its line, then again under the lock."""
    _postgres_only(db)
    db.combiners.pop("charging-lines", None)  # as a process that has seen nothing yet
    network = sw.w.actor["hostAdmin"]
    plan = sw.plan  # type: ignore[attr-defined]

    def start(key: str) -> Any:
        return charging.initial(
            db, network, session_key=key, msisdn=plan, kind="voice", requested=60
        )

    with clock.frozen(NOW):
        assert _reads_under_locks(db, lambda: start("seen-1")) == ["sessions", "lock", "sessions"]
        assert _reads_under_locks(
            db, lambda: charging.terminate(db, network, session_key="seen-1", number=1, used=30)
        ) == ["lock", "sessions"]
        assert _reads_under_locks(db, lambda: start("seen-2")) == ["lock", "sessions"]
        ended = charging.terminate(db, network, session_key="seen-2", number=1, used=30)
    assert ended["resultCode"] == charging.SUCCESS


def test_a_session_another_process_opened_on_a_line_this_one_did_not_lock(
    db: Database, sw: SubscribersWorld
) -> None:
    """Another process opened session "dup" on one line; this process, which knows the
    other line's number only, gets an initial request for "dup" on that other number. Its
    read under the lock finds the session on a line it did not lock: it runs the batch again,
    locking both, and answers from the session as it is."""
    _postgres_only(db)
    db.combiners.pop("charging-lines", None)  # as a process that has seen nothing yet
    network = sw.w.actor["hostAdmin"]
    plan, payg = sw.plan, sw.payg  # type: ignore[attr-defined]
    other = Database(db.url)
    with clock.frozen(NOW):
        charging.run_batch(db, [charging.initial_ask(network, "mine", plan, "voice", 60, "mo")])
        charging.run_batch(other, [charging.initial_ask(network, "dup", payg, "voice", 60, "mo")])
        [answer] = charging.run_batch(
            db, [charging.initial_ask(network, "dup", plan, "voice", 60, "mo")]
        )
        [again] = charging.run_batch(
            db, [charging.initial_ask(network, "dup", payg, "voice", 60, "mo")]
        )
    other.dispose()
    assert isinstance(answer, DomainError)
    assert answer.code == "request_number_reused"
    assert isinstance(again, dict)
    assert again["replayed"] is True
    assert again["resultCode"] == charging.SUCCESS


def test_lines_seen_expects_the_lines_it_was_told_and_knows_when_it_does_not_know() -> None:
    seen = LinesSeen()
    line, other_line = uuid.uuid4(), uuid.uuid4()
    start = Ask(lifecycle.SYSTEM, "k", 0, "", msisdn="17012345678", kind="voice")
    end = Ask(lifecycle.SYSTEM, "k", 1, "", final=True)
    assert seen.lines([start]) is None  # a number never seen
    seen.remember_numbers({"17012345678": line, "17087654321": None})
    assert seen.lines([start]) == {line}
    assert seen.lines([end]) is None  # a session never seen
    seen.remember_sessions(
        [{"session_key": "k", "subscription_id": other_line, "msisdn": "17087654321"}]
    )
    # The session's line, and its number's live line (none: the number left the line).
    assert seen.lines([end]) == {other_line}
    assert seen.lines([start, end]) == {line, other_line}


def test_lines_seen_stays_bounded() -> None:
    """Past LIMIT entries it forgets what it knew (batches then read first again) rather
    than grow with every session a process has answered."""
    seen = LinesSeen()
    seen.LIMIT = 3
    for n in range(5):
        line = uuid.uuid4()
        seen.remember_sessions([{"session_key": f"k{n}", "subscription_id": line, "msisdn": "m"}])
        seen.remember_numbers({f"m{n}": line})
        assert len(seen.session_on) <= 4
        assert len(seen.number_on) <= 4
    assert "k0" not in seen.session_on
    assert "m0" not in seen.number_on
    assert "k4" in seen.session_on


# Online charging adds to a line's usage row as it answers; batch rating writes the row's new
# totals. Each must read the row only once the other's batch on that line has committed: both
# take the line's prepaid account first (on SQLite the write transaction is the lock).


def _one_call(path: Path, msisdn: str, seconds: int) -> Path:
    start = (NOW - timedelta(hours=1)).isoformat()
    return write_csv(path, [["44-MSC", 1, msisdn, "voice", start, seconds, "mo", "44"]])


def _prepaid_account(db: Database, msisdn: str) -> dict[str, Any]:
    la = t.ledger_account
    with db.read() as conn:
        row = conn.execute(
            unscoped(
                select(la).where(
                    la.c.kind == AccountKind.SUBSCRIBER_PREPAID.value, la.c.msisdn == msisdn
                ),
                "test",
            )
        )
        return dict(row.mappings().one())


def _voice_used(db: Database, msisdn: str) -> int:
    up = t.usage_period
    with db.read() as conn:
        used = conn.execute(
            unscoped(select(up.c.voice_used_s).where(up.c.msisdn == msisdn), "test")
        ).scalar_one()
    return int(used)


def test_rating_adds_to_what_a_charging_batch_in_flight_commits(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    _postgres_only(db)
    network = sw.w.actor["hostAdmin"]
    line = sw.payg  # type: ignore[attr-defined]
    up = t.usage_period
    rated: list[usage.BatchResult] = []
    with clock.frozen(NOW):
        charging.initial(db, network, session_key="r1", msisdn=line, kind="voice", requested=60)
        charging.terminate(db, network, session_key="r1", number=1, used=60)
        assert _voice_used(db, line) == 60
        calls = _one_call(tmp_path / "calls.csv", line, 120)
        with db.write() as conn:
            # As a charging batch in flight: the line's account locked, its usage added to.
            _lock_account(conn, _prepaid_account(db, line)["id"])
            conn.execute(
                unscoped(
                    update(up)
                    .where(up.c.msisdn == line)
                    .values(voice_used_s=up.c.voice_used_s + 600),
                    "test",
                )
            )
            rater = _waiting(lambda: usage.rate_files(db, [calls], lake=tmp_path / "lake"), rated)
        rater.join(30)
    assert rated[0].rated == 1
    assert _voice_used(db, line) == 60 + 600 + 120


def test_charging_grants_what_a_rating_batch_in_flight_leaves_of_the_allowance(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    _postgres_only(db)
    network = sw.w.actor["hostAdmin"]
    line = sw.plan  # type: ignore[attr-defined]  # 100 minutes a month
    asked: list[threading.Thread] = []
    answers: list[dict[str, Any]] = []

    def while_rating_commits() -> None:
        asked.append(
            _waiting(
                lambda: charging.initial(
                    db, network, session_key="c1", msisdn=line, kind="voice", requested=120
                ),
                answers,
            )
        )

    with clock.frozen(NOW):
        before = available(db, sw, line)
        calls = _one_call(tmp_path / "calls.csv", line, 99 * 60)
        usage.rate_files(db, [calls], lake=tmp_path / "lake", after_compute=while_rating_commits)
        asked[0].join(30)
    assert answers[0]["grantedUnits"] == 120
    # The rating left one minute of the allowance: the other minute is held from the balance.
    assert available(db, sw, line) == before - 10
    assert _voice_used(db, line) == 99 * 60


def _transfers(db: Database) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                unscoped(select(func.count()).select_from(t.ledger_transfer), "test")
            ).scalar_one()
        )


def _period_row(db: Database, msisdn: str) -> dict[str, Any]:
    up = t.usage_period
    with db.read() as conn:
        return dict(
            conn.execute(unscoped(select(up).where(up.c.msisdn == msisdn), "test")).mappings().one()
        )


def test_a_free_terminating_call_is_counted_but_charges_nothing_and_uses_no_allowance(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    """Incoming calls are free on both offers (as rating has them): online charging granted
    such a call without a hold, then charged it at the end (20 fen on each line, the plan's
    minutes unused) and counted it in the period's voice use. A rerating agrees with what it
    leaves."""
    network = sw.w.actor["hostAdmin"]
    payg, plan = sw.payg, sw.plan  # type: ignore[attr-defined]
    with clock.frozen(NOW):
        before = {line: available(db, sw, line) for line in (payg, plan)}
        for key, line in (("m1", payg), ("m2", plan)):
            charging.initial(
                db, network, session_key=key, msisdn=line, kind="voice", requested=120,
                direction="mt",
            )  # fmt: skip
            charging.terminate(db, network, session_key=key, number=1, used=120)
        assert {line: available(db, sw, line) for line in (payg, plan)} == before
        for line in (payg, plan):
            row = _period_row(db, line)
            assert (row["voice_used_s"], row["records"], row["charge_exact"]) == (0, 1, 0)
            assert row["wholesale_exact"] == 0  # the host charges the caller's side
        assert usage.rerate(db, "2026-11", lake=tmp_path / "lake").batch_id is None


def test_incoming_calls_the_offer_charges_are_free_while_barred_for_missing_real_name(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    """On an offer that charges incoming calls (20 fen for 2 minutes), a line barred for
    missing real-name registration may still receive calls (its outgoing ones are refused),
    free. As in rating, a call is free by when it began, whatever the line is when it ends:
    one begun while barred and ended after the registration is free, one begun while
    registered and ended in a second barring is charged. A rerating agrees with all."""
    network = sw.w.actor["hostAdmin"]
    sw.cw.offer["paid_in"] = catalog.create_offer(
        db, sw.w.op, brand_id=sw.cw.brand["m1"], host_id=sw.w.org["host"],
        kind=OfferKind.PAYG, name="来电收费", terms={"voice_rate": 10_000_000,
        "sms_rate": 10_000_000, "data_rate": 10_000_000, "terminating_voice_free": False},
    )["id"]  # fmt: skip
    with clock.frozen(NOW - timedelta(days=3)):
        line, _ = sw.sale(db, seq=3, offer="paid_in", prepayment_fen=1_000)
        sw.settle(db)
    start = NOW - timedelta(hours=2)

    def at(minute: int) -> Any:
        return clock.frozen(start + timedelta(minutes=minute))

    def begin(key: str, minute: int, direction: str = "mt") -> int:
        with at(minute):
            return int(
                charging.initial(
                    db, network, session_key=key, msisdn=line, kind="voice", requested=120,
                    direction=direction,
                )["resultCode"]
            )  # fmt: skip

    def end(key: str, minute: int) -> None:
        with at(minute):
            charging.terminate(db, network, session_key=key, number=1, used=120)

    def task(name: str, minute: int) -> None:
        with at(minute):
            subscriber_orders.run_task(
                db,
                sw.w.op,
                line,
                name,
                holder=None,
                reason="audit",
                idempotency_key=f"{name}-{minute}",
            )

    task("realNameMissing", 0)
    assert begin("out", 1, "mo") == charging.END_USER_SERVICE_DENIED
    assert begin("in-barred", 2) == charging.SUCCESS
    end("in-barred", 2)
    assert begin("begun-barred", 3) == charging.SUCCESS
    assert available(db, sw, line) == 1_000
    task("realNameRegistered", 10)
    assert begin("in-registered", 11) == charging.SUCCESS
    end("in-registered", 11)
    end("begun-barred", 12)
    assert available(db, sw, line) == 1_000 - 20
    assert begin("begun-registered", 13) == charging.SUCCESS
    task("realNameMissing", 14)
    end("begun-registered", 15)
    assert available(db, sw, line) == 1_000 - 40
    with clock.frozen(NOW):
        assert usage.rerate(db, "2026-11", lake=tmp_path / "lake").batch_id is None
    assert available(db, sw, line) == 1_000 - 40


def test_rerating_a_period_rates_its_online_charged_usage_with_its_records(
    db: Database, sw: SubscribersWorld, tmp_path: Path
) -> None:
    """Each update and termination is kept as a usage record: a rerating rates it with the
    period's rated records, so with the tariff unchanged nothing moves, with a corrected
    tariff the online usage is repriced too, and twice changes nothing."""
    network = sw.w.actor["hostAdmin"]
    line = sw.payg  # type: ignore[attr-defined]  # 0.10 CNY a started minute, no allowance
    lake = tmp_path / "lake"
    with clock.frozen(NOW):
        charging.initial(db, network, session_key="o1", msisdn=line, kind="voice", requested=120)
        charging.terminate(db, network, session_key="o1", number=1, used=120)
        charging.initial(db, network, session_key="o2", msisdn=line, kind="voice", requested=300)
        charging.update_session(
            db, network, session_key="o2", number=1, used=90, requested=300
        )  # 2 started minutes
        charging.terminate(db, network, session_key="o2", number=2, used=30)  # 1 more
        usage.rate_files(db, [_one_call(tmp_path / "calls.csv", line, 60)], lake=lake)
        # Six started minutes at 0.10 CNY: five online (three records), one rated.
        assert available(db, sw, line) == 1_000 - 60
        before, transfers = _period_row(db, line), _transfers(db)
        assert (before["voice_used_s"], before["records"]) == (360, 4)

        unchanged = usage.rerate(db, "2026-11", lake=lake)
        assert unchanged.batch_id is None
        assert available(db, sw, line) == 1_000 - 60
        assert _period_row(db, line) == before
        assert _transfers(db) == transfers

        catalog.correct_rates(
            db, sw.w.op, sw.cw.offer["payg"], voice_rate=8_000_000, sms_rate=10_000_000,
            data_rate=10_000_000, reason="0.10 CNY a minute should have been 0.08",
        )  # fmt: skip
        fixed = usage.rerate(db, "2026-11", lake=lake)
        assert fixed.rated == 4  # the file's record and the three online ones
        assert available(db, sw, line) == 1_000 - 48
        after = _period_row(db, line)
        assert (after["voice_used_s"], after["records"], after["charged_fen"]) == (360, 4, 48)
        assert after["wholesale_exact"] == before["wholesale_exact"]

        # Online usage after the rerating is counted once by the next one: not in the lake.
        # The network reports 90 s of a 60 s grant: the grant is what was charged and kept.
        charging.initial(db, network, session_key="o3", msisdn=line, kind="voice", requested=60)
        charging.terminate(db, network, session_key="o3", number=1, used=90)
        assert available(db, sw, line) == 1_000 - 56
        transfers = _transfers(db)
        again = usage.rerate(db, "2026-11", lake=lake)
        assert again.batch_id is None
        assert _transfers(db) == transfers
        with db.read() as conn:
            assert not ledger.audit_ledger(conn)
    assert available(db, sw, line) == 1_000 - 56
    # The line's rated usage shows the online records with the file's, rated at the
    # corrected rate: those before the rerating rated again, o3 charged at it.
    scope = sw.w.actor["mvnoAdmin"].scope
    rated = usage.rated_records(db, scope, line, "2026-11")
    assert [(r["node_id"], r["seq"], r["units"]) for r in rated] == [
        ("44-MSC", 1, 60),
        ("online:o1", 1, 120),
        ("online:o2", 1, 120),
        ("online:o2", 2, 60),
        ("online:o3", 1, 60),
    ]
    assert [r["quantity"] for r in rated[1:]] == [120, 90, 30, 60]  # o3: its grant
    assert all(r["charge_exact"] == r["units"] * 8_000_000 * 1024 for r in rated)
    assert usage.daily(db, scope, line, "2026-11") == [
        {"day": "2026-11-20", "type": "voice", "records": 5, "units": 420, "overage": 420,
         "chargeMicroFen": 420 * 8_000_000 // 60},
    ]  # fmt: skip


def test_a_recharge_waiting_for_a_line_rating_holds_holds_none_of_the_mvnos_accounts(
    db: Database, sw: SubscribersWorld
) -> None:
    """Rating and online charging hold a line's prepaid account from early in their batch and
    lock the MVNO's revenue account later. A recharge batch takes the line's account before
    the MVNO's too: had it taken them by id alone (the revenue account, older, first), it
    would hold the revenue account while it waits for the line's, and the rating batch's
    next lock would close the circle."""
    _postgres_only(db)
    with clock.frozen(NOW - timedelta(days=3)):
        line, _ = sw.sale(db, seq=3, offer="payg", prepayment_fen=1_000)
        sw.settle(db)
    prepaid = _prepaid_account(db, line)
    with db.read() as conn:
        revenue = ledger.account(conn, AccountKind.MVNO_REVENUE, mvno_id=prepaid["mvno_id"])
    assert revenue["id"].int < prepaid["id"].int  # the order that used to deadlock
    done: list[dict[str, Any]] = []
    with clock.frozen(NOW):
        with db.write() as conn:
            _lock_account(conn, prepaid["id"])  # as a rating batch in flight, early
            recharge = _waiting(
                lambda: money.recharge(
                    db,
                    sw.w.actor["outletClerk"],
                    msisdn=line,
                    amount_fen=500,
                    channel_order_number="lock-order-1",
                    idempotency_key="lock-order-1",
                ),
                done,
            )
            # The rating batch's next lock: free, the waiting recharge holds none of it.
            _lock_account(conn, revenue["id"], nowait=True)
        recharge.join(30)
    assert done[0]["replayed"] is False
    assert available(db, sw, line) == 1_000 + 500
    assert money.check(db) == []


def test_a_transfer_to_a_line_takes_the_lines_account_before_the_mvnos(
    db: Database, sw: SubscribersWorld
) -> None:
    """The same order for a single transfer that credits a line from an MVNO's account (a
    care agent's credit): it waits for the line's account before it debits the revenue."""
    _postgres_only(db)
    line = sw.payg  # type: ignore[attr-defined]
    prepaid = _prepaid_account(db, line)
    with db.read() as conn:
        revenue = ledger.account(conn, AccountKind.MVNO_REVENUE, mvno_id=prepaid["mvno_id"])

    def credit() -> uuid.UUID:
        with db.write() as conn:
            return ledger.transfer(
                conn, revenue, prepaid, 300, TransferCode.CARE_CREDIT, reference="t"
            )

    credited: list[uuid.UUID] = []
    with db.write() as conn:
        _lock_account(conn, prepaid["id"])
        crediting = _waiting(credit, credited)
        _lock_account(conn, revenue["id"], nowait=True)
    crediting.join(30)
    assert len(credited) == 1
    assert available(db, sw, line) == 1_000 + 300
    assert money.check(db) == []


def test_two_batches_that_add_to_one_wholesale_total_at_once_both_count(
    db: Database, sw: SubscribersWorld
) -> None:
    """Two batches cost usage of one MVNO, host and period at once, neither having moved
    money of the line's (usage within allowances). The second waits for the first's total
    instead of adding to the one before it: before, the total kept only the later batch's
    cost."""
    _postgres_only(db)
    mvno, host = sw.w.org["m1"], sw.w.org["host"]
    key = (mvno, host, "2026-03")
    tenth = SCALE // 10  # a tenth of a fen, exactly
    with db.write() as conn:  # the period's first cost: 0.4 fen
        usage.wholesale_costs(conn, {key: 4 * tenth}, "first")
    results: list[Any] = []

    def second() -> Any:
        with db.write() as conn:
            return usage.wholesale_costs(conn, {key: 9 * tenth}, "second")

    with db.write() as conn:
        usage.wholesale_costs(conn, {key: 8 * tenth}, "held")  # in flight: not committed yet
        waiting = _waiting(second, results)
    waiting.join(10)
    uc = t.usage_cost
    with db.read() as conn:
        row = conn.execute(unscoped(select(uc).where(uc.c.mvno_id == mvno), "test")).one()
    assert row.wholesale_exact == (4 + 8 + 9) * tenth  # before: 13 tenths, the held 8 lost
    _, fen = results[0]
    # Rounded once on the total: 1.2 fen before the second batch, 2.1 after: 1 fen more.
    assert fen == 1
    assert row.wholesale_fen == 2


def test_charging_that_moves_no_money_takes_the_mvnos_revenue_before_the_cost_total(
    db: Database, sw: SubscribersWorld
) -> None:
    """A call within the allowance moves none of the line's money, yet costs the MVNO
    wholesale, paid from its revenue account once the cost total (usage_cost) is locked. A
    rating batch holds the revenue account and takes the cost total next: the charging batch
    waits for the revenue account first, holding no cost total (before: it held the total
    while it waited, and the rating batch's next lock closed the circle)."""
    _postgres_only(db)
    network = sw.w.actor["hostAdmin"]
    line = sw.plan  # type: ignore[attr-defined]
    with clock.frozen(NOW):  # the period's cost total exists, then a second call is open
        charging.initial(db, network, session_key="c1", msisdn=line, kind="voice", requested=60)
        charging.terminate(db, network, session_key="c1", number=1, used=60)
        charging.initial(db, network, session_key="c2", msisdn=line, kind="voice", requested=60)
    prepaid = _prepaid_account(db, line)
    before = available(db, sw, line)
    with db.read() as conn:
        revenue = ledger.account(conn, AccountKind.MVNO_REVENUE, mvno_id=prepaid["mvno_id"])
    uc = t.usage_cost
    ended: list[dict[str, Any]] = []
    with clock.frozen(NOW):
        with db.write() as conn:
            _lock_account(conn, revenue["id"])  # as a rating batch posting its totals
            ending = _waiting(
                lambda: charging.terminate(db, network, session_key="c2", number=1, used=60),
                ended,
            )
            # The rating batch's next lock: free, the waiting charging batch holds none of it.
            conn.execute(
                unscoped(
                    select(uc.c.period)
                    .where(uc.c.mvno_id == prepaid["mvno_id"])
                    .with_for_update(nowait=True),
                    "test",
                )
            ).all()
        ending.join(30)
    assert ended[0]["resultCode"] == charging.SUCCESS
    assert available(db, sw, line) == before  # the allowance paid for the minute
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)


SESSION = st.tuples(
    st.sampled_from(["payg", "plan", "capped"]),
    st.sampled_from(["voice", "sms", "data"]),
    st.sampled_from(["mo", "mo", "mt"]),
    st.integers(0, 3),  # of the kind's scale: up to 3 calls of minutes, SMS, or MB
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=3),
)
SCALE_OF = {"voice": 150, "sms": 1, "data": 700_000}  # a unit of the strategy, in the kind's
_months = iter(range(1, 1000))


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sessions=st.lists(SESSION, min_size=1, max_size=6))
def test_sessions_one_at_a_time_leave_what_rating_their_records_gives(
    db: Database, sw: SubscribersWorld, tmp_path: Path, sessions: list[Any]
) -> None:
    """Online charging and rating apply one set of rules (domain/rating.py). Sessions one
    after another (no two open at once, where grants from the allowance depend on
    reservations) leave the period's totals exactly as rating their records gives: a
    rerating with the tariff unchanged finds nothing to change. Allowances, increments,
    free terminating use, a data cap, an empty balance and barring all come into it."""
    network = sw.w.actor["hostAdmin"]
    if "capped" not in sw.cw.offer:
        sw.cw.offer["capped"] = catalog.create_offer(
            db, sw.w.op, brand_id=sw.cw.brand["m1"], host_id=sw.w.org["host"],
            kind=OfferKind.PLAN, name="封顶", terms={"voice_rate": 10_000_000,
            "sms_rate": 10_000_000, "data_rate": 10_240_000, "monthly_fee_fen": 1000,
            "data_mb": 1, "voice_min": 3, "data_cap_mb": 2},
        )["id"]  # fmt: skip
        with clock.frozen(NOW - timedelta(days=3)):
            sw.capped, _ = sw.sale(db, seq=3, offer="capped", prepayment_fen=2_000)  # type: ignore[attr-defined]
            sw.settle(db)
    line = {"payg": sw.payg, "plan": sw.plan, "capped": sw.capped}  # type: ignore[attr-defined]
    month = next(_months)  # a period of its own for each example
    at = datetime(2026 + (10 + month) // 12, (10 + month) % 12 + 1, 15, 4, tzinfo=UTC)
    period = at.strftime("%Y-%m")
    with clock.frozen(at):
        for n, (who, kind, direction, first, steps) in enumerate(sessions):
            key, unit = f"p{month}-{n}", SCALE_OF[kind]
            opened = charging.initial(
                db, network, session_key=key, msisdn=line[who], kind=kind,
                requested=first * unit, direction=direction,
            )  # fmt: skip
            if opened["resultCode"] != charging.SUCCESS:
                continue
            for number, (used, more) in enumerate(steps, start=1):
                final = number == len(steps)
                charging.run_batch(
                    db,
                    [
                        charging.step_ask(
                            network, key, number, used * unit, more * unit, final=final
                        )
                    ],
                )
        rows = {who: _period_rows(db, line[who], period) for who in line}
        transfers = _transfers(db)
        again = usage.rerate(db, period, lake=tmp_path / "lake")
        if again.batch_id is not None:  # say what differed
            after = {who: _period_rows(db, line[who], period) for who in line}
            changed = {
                who: {k: (v, after[who][k]) for k, v in row.items() if after[who][k] != v}  # type: ignore[index]
                for who, row in rows.items()
                if row != after[who]
            }
            assert not changed, changed  # {line: {column: (online, rated)}}
        assert again.batch_id is None
        assert _transfers(db) == transfers
        with db.read() as conn:
            assert not ledger.audit_ledger(conn)


def _period_rows(db: Database, msisdn: str, period: str) -> dict[str, Any] | None:
    up = t.usage_period
    with db.read() as conn:
        row = (
            conn.execute(
                unscoped(select(up).where(up.c.msisdn == msisdn, up.c.period == period), "test")
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


def test_a_session_id_too_long_is_too_long_not_missing(sw: SubscribersWorld) -> None:
    network = sw.w.actor["hostAdmin"]
    with pytest.raises(DomainError) as missing:
        charging.initial_ask(network, "", "17000000001", "voice", 60, "mo")
    assert (missing.value.code, missing.value.field) == ("required", "sessionId")
    with pytest.raises(DomainError) as long:
        charging.initial_ask(network, "s" * 129, "17000000001", "voice", 60, "mo")
    assert (long.value.code, long.value.field) == ("too_long", "sessionId")
    assert long.value.details == {"maxLength": 128}
