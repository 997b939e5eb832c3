"""Card batches and stock against real databases."""

from __future__ import annotations

import csv
import io
import logging
import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.sims import make_iccid
from openmvne.errors import Conflict, DomainError, Forbidden, NotFound
from openmvne.services import sims
from tests.conftest import Backend
from tests.numbers_world import NumbersWorld, build_numbers

KI = secrets.token_hex(16)


def factory(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(sims.COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue()


def blank(serial: int, issuer: str = "898601", mnc: str = "01") -> list[str]:
    return [make_iccid(issuer, serial), f"460{mnc}{serial:010d}", KI, KI, "blank", "", ""]


def import_cards(db: Database, nw: NumbersWorld, rows: list[list[str]], **kw: object) -> dict:
    return sims.import_batch(
        db,
        nw.w.op,
        mvno_id=nw.w.org["m1"],
        host_id=nw.w.org["host"],
        name="batch",
        lines=sims.read_lines(factory(rows)),
        **kw,
    )


def count_cards(db: Database) -> int:
    with db.read() as conn:
        return conn.execute(
            unscoped(select(func.count()).select_from(t.sim_card), "test")
        ).scalar_one()


@pytest.fixture
def nw(db: Database) -> NumbersWorld:
    return build_numbers(db)


def test_import_all_or_nothing_with_every_bad_line(nw: NumbersWorld, db: Database) -> None:
    rows = [blank(1), blank(2)]
    rows.append([make_iccid("898601", 3)[:-1] + "0", "460010000000003", KI, "", "blank", "", ""])
    rows.append(blank(4, issuer="898603", mnc="03"))  # Telecom's card in a Unicom batch
    rows.append(blank(1))  # duplicate of line 2
    rows.append(
        [
            make_iccid("898601", 6),
            "460010000000006",
            KI,
            "",
            "prebound",
            f"{nw.m2_blocks[0]}0001",
            "",
        ]
    )  # another MVNO's number
    rows.append([make_iccid("898601", 7), "460010000000007", "xyz", "", "blank", "", ""])
    with pytest.raises(DomainError) as caught:
        import_cards(db, nw, rows)
    rejects = {r["line"]: " ".join(r["problems"]) for r in caught.value.details["rejects"]}
    assert set(rejects) == {4, 5, 6, 7, 8}
    assert "check digit" in rejects[4]
    assert "not unicom's" in rejects[5]
    assert "repeats line 2" in rejects[6]
    assert "not this MVNO's" in rejects[7]
    assert "Ki" in rejects[8]
    assert count_cards(db) == 0
    partial = import_cards(db, nw, rows, skip_invalid=True)
    assert partial["card_count"] == 2
    assert len(partial["rejects"]) == 5
    again = import_cards(db, nw, [blank(1)], skip_invalid=True)
    assert "already on file" in again["rejects"][0]["problems"][0]


def test_prebound_cards_carry_the_mvnos_number(nw: NumbersWorld, db: Database) -> None:
    number = f"{nw.m1_blocks[0]}0042"
    row = [make_iccid("898601", 9), "460010000000009", KI, "", "prebound", number, "440300"]
    import_cards(db, nw, [row])
    card = sims.get_card(db, nw.w.op.scope, row[0])
    assert card["msisdn"] == number
    assert card["ki_enc"] != bytes.fromhex(KI)


def test_ki_never_leaves(nw: NumbersWorld, db: Database, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    import_cards(db, nw, [blank(11)])
    card = sims.get_card(db, nw.w.op.scope, make_iccid("898601", 11))
    from openmvne.api.presenters import sim_resource

    shown = repr(sim_resource(card, "http://x"))
    assert KI not in shown.lower()
    assert "ki" not in {k.lower() for k in sim_resource(card, "http://x")}
    assert KI not in caplog.text.lower()


def _stock(nw: NumbersWorld, db: Database, n: int) -> list[str]:
    import_cards(db, nw, [blank(100 + i) for i in range(n)])
    return [make_iccid("898601", 100 + i) for i in range(n)]


def test_transfers_follow_the_tree(nw: NumbersWorld, db: Database) -> None:
    w = nw.w
    cards = _stock(nw, db, 6)
    mvno = w.actor["mvnoAdmin"]
    sims.transfer(db, mvno, mvno_id=None, to_auth_id=w.auth["a_n"], iccids=cards)
    with pytest.raises(Forbidden):  # the MVNO to a grandchild: not along the tree
        sims.transfer(db, mvno, mvno_id=None, to_auth_id=w.auth["a_p1"], iccids=cards[:1])
    national = w.actor["nationalAdmin"]
    sims.transfer(db, national, mvno_id=None, to_auth_id=w.auth["a_p1"], iccids=cards[:4])
    partner = w.actor["partnerAdmin"]
    sims.transfer(db, partner, mvno_id=None, to_auth_id=w.auth["a_o1"], iccids=cards[:2])
    with pytest.raises(Conflict):  # P1 no longer holds those two
        sims.transfer(db, partner, mvno_id=None, to_auth_id=w.auth["a_o1"], iccids=cards[:3])
    sims.transfer(
        db, w.actor["outletClerk"], mvno_id=None, to_auth_id=w.auth["a_p1"], iccids=cards[:1]
    )  # back up to the parent
    with pytest.raises(NotFound):  # another MVNO's channel
        sims.transfer(db, partner, mvno_id=None, to_auth_id=w.auth["b_r"], iccids=cards[2:3])
    stock = {(r["holder_party_id"], r["state"]): r["count"] for r in sims.stock(db, w.op.scope)}
    assert stock == {
        (w.org["n"], "inStock"): 2,
        (w.org["p1"], "inStock"): 3,
        (w.org["o1"], "inStock"): 1,
    }


def test_no_stock_for_a_suspended_channel(nw: NumbersWorld, db: Database) -> None:
    from openmvne.domain.channels import Transition
    from openmvne.services import channels

    w = nw.w
    cards = _stock(nw, db, 2)
    channels.decide(db, w.op, w.auth["a_n"], Transition.SUSPEND)
    with pytest.raises(Conflict) as caught:
        sims.transfer(
            db, w.actor["mvnoAdmin"], mvno_id=None, to_auth_id=w.auth["a_n"], iccids=cards
        )
    assert caught.value.code == "channel_not_approved"


def test_concurrent_overlapping_transfers_leave_each_card_at_one_holder(backend: Backend) -> None:
    db = backend.db
    nw = build_numbers(db)
    cards = _stock(nw, db, 40)
    mvno = nw.w.actor["mvnoAdmin"]
    sims.transfer(db, mvno, mvno_id=None, to_auth_id=nw.w.auth["a_n"], iccids=cards)
    national = nw.w.actor["nationalAdmin"]

    def move(args: tuple[str, list[str]]) -> str:
        target, subset = args
        try:
            sims.transfer(db, national, mvno_id=None, to_auth_id=nw.w.auth[target], iccids=subset)
            return "ok"
        except Conflict:
            return "refused"

    jobs = [
        ("a_p1", cards[:30]),
        ("a_p2", cards[10:40]),
        ("a_p1", cards[20:40]),
        ("a_p2", cards[:20]),
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(move, jobs))
    assert "ok" in outcomes
    with db.read() as conn:
        holders = conn.execute(
            unscoped(
                select(t.sim_card.c.holder_party_id, func.count()).group_by(
                    t.sim_card.c.holder_party_id
                ),
                "t",
            )
        ).all()
    assert sum(n for _, n in holders) == 40


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["down_n", "down_p1", "down_o1", "up_o1", "up_p1"]),
            st.lists(st.integers(0, 9), min_size=1, max_size=5, unique=True),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_a_card_is_always_at_exactly_one_holder(backend: Backend, moves: list) -> None:
    if backend.name != "sqlite":
        pytest.skip("the property is backend-independent; SQLite keeps it fast")
    backend.clean()
    db = backend.db
    nw = build_numbers(db)
    w = nw.w
    cards = _stock(nw, db, 10)
    who = {
        "down_n": ("mvnoAdmin", "a_n"),
        "down_p1": ("nationalAdmin", "a_p1"),
        "down_o1": ("partnerAdmin", "a_o1"),
        "up_o1": ("outletClerk", "a_p1"),
        "up_p1": ("partnerAdmin", "a_n"),
    }
    model = dict.fromkeys(cards, w.org["m1"])
    holder_of_actor = {
        "mvnoAdmin": w.org["m1"],
        "nationalAdmin": w.org["n"],
        "partnerAdmin": w.org["p1"],
        "outletClerk": w.org["o1"],
    }
    target_party = {"a_n": w.org["n"], "a_p1": w.org["p1"], "a_o1": w.org["o1"]}
    for move, picks in moves:
        actor, target = who[move]
        subset = [cards[i] for i in picks]
        try:
            sims.transfer(
                db, w.actor[actor], mvno_id=None, to_auth_id=w.auth[target], iccids=subset
            )
        except Conflict:
            assert any(model[c] != holder_of_actor[actor] for c in subset)
            continue
        assert all(model[c] == holder_of_actor[actor] for c in subset)
        for c in subset:
            model[c] = target_party[target]
    for iccid, holder in model.items():
        assert sims.get_card(db, w.op.scope, iccid)["holder_party_id"] == holder
