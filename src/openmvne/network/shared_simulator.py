"""The simulated host network with one memory shared by every process on the machine.

`SimulatedHostNetwork` keeps its lines in the process that made it, so a line opened by the
web server's outbox sender is unknown to `mvne provisioning send` or the demo seeder. A real
host network is one system with one memory; this simulator keeps its whole state — lines,
every transaction's verdict, the ack queue, the counts, the random stream — in a SQLite file
that all processes open. Every `submit` and `poll_acks` is one `BEGIN IMMEDIATE`
transaction (WAL mode, a busy timeout), so processes and threads can share the file. Each
thread gets a connection of its own (sqlite3 connections are not for sharing), kept open:
closing the last connection to a WAL file checkpoints and syncs it, which on a disk costs
ten times the call itself.

The rules and the failure draws are `simulator`'s (`refusal`, `line_after`, `draw`), so the
semantics are exactly those of `SimulatedHostNetwork`. The seeded PRNG's state is kept in
the file too, one stream per seed: processes using the same seed continue one sequence of
draws instead of each replaying the first draws of the seed. A fresh file, a seed and the
same sequence of submissions (however they are split between processes) replay a run.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from openmvne import clock
from openmvne.network.provisioning import (
    Ack,
    Command,
    HostNetwork,
    HostProvisioning,
    ProvisioningRequest,
    ProvisioningTimeout,
    ProvisioningUnavailable,
)
from openmvne.network.simulator import (
    SIMULATED_REJECTION,
    Draws,
    LineState,
    LineStatus,
    check_settings,
    draw,
    line_after,
    refusal,
)

__all__ = ["BUSY_TIMEOUT_S", "SharedSimulatedHostNetwork"]

BUSY_TIMEOUT_S = 5.0  # how long a call waits for another process's transaction to finish

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_SCHEMA = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS counters (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    submissions INTEGER NOT NULL,  -- submit calls, whatever came of them
    refs INTEGER NOT NULL,         -- network references handed out
    seq INTEGER NOT NULL           -- orders acks that become ready at the same instant
);
INSERT OR IGNORE INTO counters (id, submissions, refs, seq) VALUES (1, 0, 0, 0);
CREATE TABLE IF NOT EXISTS rng (
    seed TEXT PRIMARY KEY,
    state TEXT NOT NULL            -- random.Random.getstate(), as JSON
);
CREATE TABLE IF NOT EXISTS lines (
    msisdn TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    status TEXT NOT NULL,
    imsi TEXT,                     -- NULL once closed: a closed line holds no card
    iccid TEXT
);
CREATE INDEX IF NOT EXISTS lines_imsi ON lines (imsi);
CREATE TABLE IF NOT EXISTS transactions (  -- every processed transaction's final ack
    txn TEXT PRIMARY KEY,
    ok INTEGER NOT NULL,
    reason TEXT,
    network_ref TEXT
);
CREATE TABLE IF NOT EXISTS pending (       -- acks queued, not yet delivered
    txn TEXT PRIMARY KEY REFERENCES transactions (txn),
    ready_at INTEGER NOT NULL,             -- microseconds since the Unix epoch
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_ready ON pending (ready_at, seq);
CREATE TABLE IF NOT EXISTS applied (       -- applications per (msisdn, command)
    msisdn TEXT NOT NULL,
    command TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (msisdn, command)
);
COMMIT;
"""


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND


def _use_wal(db: sqlite3.Connection) -> None:
    """Put the file in WAL mode (persistent: it stays set in the file).

    Switching needs the file to itself and SQLite reports a busy file at once here, without
    waiting on the busy timeout, so instances racing to create the file retry for as long.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.005)
        else:
            return


class _Connection(sqlite3.Connection):
    """A connection that remembers its process and can be weakly referenced."""

    pid: int


# A child made by fork() must not close the connections it inherits: SQLite's lock
# bookkeeping is per process, so closing them there can upset the parent's locks
# (sqlite.org/howtocorrupt.html, 2.6). Freeing the parent's other threads after the fork
# would close them, so they are all held, unused, for the child's lifetime.
_every_connection: weakref.WeakSet[_Connection] = weakref.WeakSet()
_every_connection_lock = threading.Lock()
_held_across_fork: list[_Connection] = []


def _hold_before_fork() -> None:
    with _every_connection_lock:
        _held_across_fork.extend(_every_connection)


def _release_in_parent() -> None:
    _held_across_fork.clear()


def _forget_in_child() -> None:
    _every_connection.clear()  # still referenced by _held_across_fork: never closed here


os.register_at_fork(
    before=_hold_before_fork,
    after_in_parent=_release_in_parent,
    after_in_child=_forget_in_child,
)


def _one(db: sqlite3.Connection, sql: str, params: Sequence[object] = ()) -> Any:
    """The first row or None; reads every row so no statement is left open."""
    rows = db.execute(sql, params).fetchall()
    return rows[0] if rows else None


class SharedSimulatedHostNetwork(HostProvisioning):
    """`SimulatedHostNetwork`'s behaviour, its state in a SQLite file shared by processes.

    The file and its parent directory are created on first use. Instances on the same file
    are one network: they see each other's lines, deduplicate each other's transaction ids
    and share one ack queue (an ack is delivered once, to whichever instance polls first).
    """

    def __init__(
        self,
        path: str | Path,
        seed: int = 0,
        timeout_rate: float = 0.0,
        lost_response_rate: float = 0.0,
        unavailable_rate: float = 0.0,
        reject_rate: float = 0.0,
        ack_delay: timedelta = timedelta(0),
    ) -> None:
        check_settings(
            timeout_rate=timeout_rate,
            lost_response_rate=lost_response_rate,
            unavailable_rate=unavailable_rate,
            reject_rate=reject_rate,
            ack_delay=ack_delay,
        )
        self.path = Path(path)
        self.seed = seed
        self.timeout_rate = timeout_rate
        self.lost_response_rate = lost_response_rate
        self.unavailable_rate = unavailable_rate
        self.reject_rate = reject_rate
        self.ack_delay = ack_delay
        self._ready = False  # the file has its schema (checked once per instance)
        self._lock = threading.Lock()
        self._local = threading.local()  # this thread's connection
        self._generation = 0  # bumped by close(): threads' connections are stale
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()

    # -- the interface -----------------------------------------------------------------

    def submit(self, request: ProvisioningRequest) -> None:
        with self._transaction() as db:
            error = self._submit(db, request)
        if error is not None:  # raised after the commit: what happened is recorded
            raise error

    def poll_acks(self) -> list[Ack]:
        with self._transaction() as db:
            now = _micros(clock.now())
            rows = db.execute(
                "SELECT t.txn, t.ok, t.reason, t.network_ref"
                " FROM pending AS p JOIN transactions AS t ON t.txn = p.txn"
                " WHERE p.ready_at <= ? ORDER BY p.ready_at, p.seq, p.txn",
                (now,),
            ).fetchall()
            db.execute("DELETE FROM pending WHERE ready_at <= ?", (now,))
        return [
            Ack(txn, ok=bool(ok), reason=reason, network_ref=ref) for txn, ok, reason, ref in rows
        ]

    # -- inspection for tests ----------------------------------------------------------

    def line(self, msisdn: str) -> LineState | None:
        """The line's state, or None if the network never had the number."""
        with self._connection() as db:
            return self._line(db, msisdn)

    @property
    def applied(self) -> Counter[tuple[str, Command]]:
        """Applications per (msisdn, command), read from the file (a fresh Counter)."""
        with self._connection() as db:
            rows = db.execute("SELECT msisdn, command, count FROM applied").fetchall()
        return Counter({(msisdn, Command(command)): count for msisdn, command, count in rows})

    @property
    def submissions(self) -> int:
        """Submit calls made to the network by every instance, whatever came of them."""
        with self._connection() as db:
            return int(_one(db, "SELECT submissions FROM counters")[0])

    def pending_count(self) -> int:
        """Acks queued and not yet delivered (ready or not)."""
        with self._connection() as db:
            return int(_one(db, "SELECT count(*) FROM pending")[0])

    def close(self) -> None:
        """Close this process's connections to the file (call it while no other thread is
        using the instance). The instance stays usable: a later call connects again."""
        with self._lock:
            self._generation += 1
            mine = [db for db in self._connections if db.pid == os.getpid()]
            self._connections.clear()
        for db in mine:
            db.close()

    # -- internals (called inside a write transaction) ---------------------------------

    def _submit(self, db: sqlite3.Connection, request: ProvisioningRequest) -> Exception | None:
        """The submit itself; returns the exception to raise once it is committed."""
        db.execute("UPDATE counters SET submissions = submissions + 1")
        draws = self._draw(db)
        if draws.unavailable < self.unavailable_rate:
            return ProvisioningUnavailable("host network busy (simulated)")
        if draws.timeout < self.timeout_rate:
            return ProvisioningTimeout("no response from host network (simulated)")
        txn = request.transaction_id
        if _one(db, "SELECT 1 FROM transactions WHERE txn = ?", (txn,)):
            # a retry: never apply twice; make the original verdict deliverable again
            if not _one(db, "SELECT 1 FROM pending WHERE txn = ?", (txn,)):
                self._queue(db, txn)
        else:
            self._process(db, request, rejected_at_random=draws.reject < self.reject_rate)
        if draws.lost < self.lost_response_rate:
            return ProvisioningTimeout("response lost after processing (simulated)")
        return None

    def _draw(self, db: sqlite3.Connection) -> Draws:
        """The next four draws of this seed's stream, which continues in the file."""
        key = str(self.seed)
        row = _one(db, "SELECT state FROM rng WHERE seed = ?", (key,))
        # Reproducible simulation, not security: a seeded PRNG is the point.
        rng = random.Random()  # noqa: S311
        if row is None:
            rng.seed(self.seed)
        else:
            version, internal, gauss_next = json.loads(row[0])
            rng.setstate((version, tuple(internal), gauss_next))
        draws = draw(rng)
        db.execute(
            "INSERT INTO rng (seed, state) VALUES (?, ?)"
            " ON CONFLICT (seed) DO UPDATE SET state = excluded.state",
            (key, json.dumps(rng.getstate())),
        )
        return draws

    def _process(
        self, db: sqlite3.Connection, request: ProvisioningRequest, *, rejected_at_random: bool
    ) -> None:
        """Decide on a new transaction, apply it if accepted, and queue its ack."""
        line = self._line(db, request.msisdn)
        owner = None
        if request.imsi:
            found = _one(
                db,
                "SELECT msisdn FROM lines WHERE imsi = ? AND status != 'closed'",
                (request.imsi,),
            )
            owner = None if found is None else str(found[0])
        problem = refusal(request, line, owner)
        if problem is None and rejected_at_random:
            problem = SIMULATED_REJECTION
        if problem is None:
            self._apply(db, request, line_after(request, line))
            db.execute("UPDATE counters SET refs = refs + 1")
            refs = _one(db, "SELECT refs FROM counters")[0]
            ack = Ack(request.transaction_id, ok=True, network_ref=f"{request.host}-{refs:08d}")
        else:
            ack = Ack(request.transaction_id, ok=False, reason=problem)
        db.execute(
            "INSERT INTO transactions (txn, ok, reason, network_ref) VALUES (?, ?, ?, ?)",
            (ack.transaction_id, int(ack.ok), ack.reason, ack.network_ref),
        )
        self._queue(db, request.transaction_id)

    def _apply(self, db: sqlite3.Connection, request: ProvisioningRequest, new: LineState) -> None:
        db.execute(
            "INSERT INTO lines (msisdn, host, status, imsi, iccid) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (msisdn) DO UPDATE SET host = excluded.host,"
            " status = excluded.status, imsi = excluded.imsi, iccid = excluded.iccid",
            (request.msisdn, str(new["host"]), new["status"], new["imsi"], new["iccid"]),
        )
        db.execute(
            "INSERT INTO applied (msisdn, command, count) VALUES (?, ?, 1)"
            " ON CONFLICT (msisdn, command) DO UPDATE SET count = count + 1",
            (request.msisdn, str(request.command)),
        )

    def _queue(self, db: sqlite3.Connection, transaction_id: str) -> None:
        db.execute("UPDATE counters SET seq = seq + 1")
        seq = _one(db, "SELECT seq FROM counters")[0]
        ready_at = _micros(clock.now() + self.ack_delay)
        db.execute(
            "INSERT INTO pending (txn, ready_at, seq) VALUES (?, ?, ?)",
            (transaction_id, ready_at, seq),
        )

    @staticmethod
    def _line(db: sqlite3.Connection, msisdn: str) -> LineState | None:
        row = _one(db, "SELECT host, status, imsi, iccid FROM lines WHERE msisdn = ?", (msisdn,))
        if row is None:
            return None
        host, status, imsi, iccid = row
        return LineState(
            host=HostNetwork(host), status=cast(LineStatus, status), imsi=imsi, iccid=iccid
        )

    # -- the file ----------------------------------------------------------------------

    def _open(self) -> _Connection:
        # isolation_level=None: no implicit transactions, each call says BEGIN itself.
        # check_same_thread=False only so close() can close every thread's connection;
        # each connection is otherwise used by the thread that opened it alone.
        db = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_S,
            isolation_level=None,
            check_same_thread=False,
            factory=_Connection,
        )
        try:
            db.pid = os.getpid()
            db.execute("PRAGMA synchronous = NORMAL")  # WAL: safe against a crashed process
            if not self._ready:
                with self._lock:
                    if not self._ready:
                        _use_wal(db)
                        db.executescript(_SCHEMA)
                        self._ready = True
        except BaseException:
            db.close()
            raise
        return db

    def _db(self) -> _Connection:
        """This thread's connection, opened on its first call (again after a fork)."""
        key = (os.getpid(), self._generation)
        if getattr(self._local, "key", None) != key:
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._open()
            with self._lock:
                self._connections.add(db)
            with _every_connection_lock:
                _every_connection.add(db)
            self._local.db, self._local.key = db, key
        return cast(_Connection, self._local.db)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, for reads (each statement sees the latest commit)."""
        yield self._db()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE takes the file's write lock up front."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            try:
                if db.in_transaction:
                    db.execute("ROLLBACK")
            except sqlite3.Error:  # a connection that cannot roll back is not reused
                self._local.key = None
                db.close()
            raise
