"""Two simultaneous exclusive grants for one seat yield exactly one.

The seat is guarded twice: the service locks the (MVNO, level, region) seat and checks it
(advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite), and a partial unique index
refuses a second holder whatever the code does. The last test switches the lock off to
show the race is real and that the index still catches it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import IntegrityError

from openmvne.db import locks
from openmvne.db.engine import Database
from openmvne.domain.channels import ChannelLevel, Transition
from openmvne.domain.parties import OrgKind, PartnerType
from openmvne.errors import Conflict
from openmvne.services import channels, parties, users
from tests.conftest import Backend

ROUNDS = 12


def _pending_rivals(db: Database, round_no: int) -> tuple[uuid.UUID, uuid.UUID]:
    """Two pending exclusive requests for one seat (a pending request holds no seat)."""
    op = users.operator(db)
    mvno = parties.create_organisation(db, op, kind=OrgKind.MVNO, name=f"虚商{round_no}")["id"]
    requests = []
    for side in ("甲", "乙"):
        party = parties.create_organisation(
            db,
            op,
            kind=OrgKind.PARTNER,
            name=f"代理{round_no}{side}",
            partner_type=PartnerType.PROVINCIAL_CONTRACTOR,
        )["id"]
        requests.append(
            channels.request_authorisation(
                db,
                op,
                mvno_id=mvno,
                party_id=party,
                level=ChannelLevel.PROVINCE,
                region_code="440000",
                exclusive=True,
            )["id"]
        )
    return requests[0], requests[1]


def _race(db: Database, a: uuid.UUID, b: uuid.UUID) -> tuple[list[uuid.UUID], list[Exception]]:
    op = users.operator(db)
    barrier = threading.Barrier(2)
    won: list[uuid.UUID] = []
    lost: list[Exception] = []

    def approve(auth_id: uuid.UUID) -> None:
        barrier.wait()
        try:
            channels.decide(db, op, auth_id, Transition.APPROVE)
            won.append(auth_id)
        except Exception as exc:  # the test inspects whatever was raised
            lost.append(exc)

    threads = [threading.Thread(target=approve, args=(x,)) for x in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return won, lost


def test_two_simultaneous_exclusive_grants_yield_exactly_one(backend: Backend) -> None:
    for round_no in range(ROUNDS):
        a, b = _pending_rivals(backend.db, round_no)
        won, lost = _race(backend.db, a, b)
        assert len(won) == 1, (round_no, won, lost)
        assert len(lost) == 1
        assert isinstance(lost[0], Conflict)
        assert lost[0].code == "exclusive_seat_taken"


@pytest.fixture
def lock_off() -> Iterator[None]:
    locks.enabled = False
    try:
        yield
    finally:
        locks.enabled = True


def test_without_the_lock_the_race_is_real_and_the_index_catches_it(
    backend: Backend, lock_off: None
) -> None:
    if backend.name != "postgres":
        pytest.skip("on SQLite the write transaction itself is the lock; it cannot be off")
    caught_by_index = 0
    for round_no in range(ROUNDS):
        a, b = _pending_rivals(backend.db, round_no)
        won, lost = _race(backend.db, a, b)
        assert len(won) == 1, (round_no, won, lost)
        assert isinstance(lost[0], Conflict)
        if isinstance(lost[0].__cause__, IntegrityError):
            caught_by_index += 1  # both passed the check: only the index stopped the second
    assert caught_by_index > 0, "the race never happened without the lock"
