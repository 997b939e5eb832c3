"""Number services against real databases: supply, sale rights, lifecycle, expiry, search,
lookup; plus Hypothesis runs of random operations checking the inventory invariants."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from openmvne import clock
from openmvne.db import locks
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.numbers import NumberRange
from openmvne.domain.patterns import compile_pattern
from openmvne.errors import Conflict, DomainError, NotFound
from openmvne.services import number_lifecycle as life
from openmvne.services import number_lookup, number_search, number_supply
from openmvne.services.number_common import load_bitmap
from tests.batches import cut_in
from tests.numbers_world import NumbersWorld, block_range, build_numbers


@pytest.fixture
def nw(db: Database) -> NumbersWorld:
    return build_numbers(db)


def _count(db: Database, table: t.Table) -> int:  # type: ignore[name-defined]
    with db.read() as conn:
        return conn.execute(unscoped(select(func.count()).select_from(table), "test")).scalar_one()


def assert_inventory_consistent(db: Database) -> None:
    """Every block's bitmap is exactly the set of its numbers that have a row."""
    with db.read() as conn:
        blocks = conn.execute(unscoped(select(t.number_block), "test")).mappings().all()
        rows = conn.execute(unscoped(select(t.number.c.msisdn, t.number.c.block_id), "test")).all()
    by_block: dict[object, set[int]] = {}
    for msisdn, block_id in rows:
        by_block.setdefault(block_id, set()).add(int(msisdn[7:]))
    for block in blocks:
        taken = set(load_bitmap(block["taken"]))
        assert taken == by_block.get(block["id"], set()), block["prefix"]
        assert block["taken_count"] == len(taken)


def test_a_segment_writes_blocks_not_numbers(nw: NumbersWorld, db: Database) -> None:
    assert _count(db, t.number_block) == 10_000
    assert _count(db, t.number) == 0
    with pytest.raises(Conflict) as caught:
        number_supply.register_segment(db, nw.w.op, "171", nw.w.org["host"])
    assert caught.value.code == "segment_exists"
    with pytest.raises(DomainError) as wrong:
        number_supply.register_segment(db, nw.w.op, "1700", nw.w.org["host"])  # Telecom's
    assert wrong.value.code == "wrong_host_network"
    assert _count(db, t.number_block) == 10_000


def test_utilisation_threshold_gates_more_blocks(nw: NumbersWorld, db: Database) -> None:
    op, m1 = nw.w.op, nw.w.org["m1"]
    segment = number_supply.segment_by_prefix(db, "171")
    with pytest.raises(DomainError) as caught:
        number_supply.allocate_now(
            db, op, mvno_id=m1, segment_id=segment["id"], block_count=1, region_code=None
        )
    assert caught.value.code == "utilisation_below_threshold"
    pending = number_supply.list_requests(db, op.scope, {"status": "pending"}, 0, 10)[0]
    assert len(pending) == 1  # the request stays pending; only the grant was refused
    number_supply.update_policy(db, op, m1, {"utilisation_threshold_pct": 0})
    granted = number_supply.decide_request(db, op, pending[0]["id"], grant=True)
    assert len(granted["granted_prefixes"]) == 1
    assert granted["granted_prefixes"][0] not in nw.m1_blocks + nw.m2_blocks


def test_a_block_request_granted_twice_at_once_is_granted_once(
    nw: NumbersWorld, db: Database
) -> None:
    """Two hosts' admins (here one, twice) grant the same request at the same moment: the
    second decision waits for the first's lock on the request, then finds it granted. It
    read the request as pending, and allocated the blocks a second time."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers take turns: no two decisions are ever in flight at once")
    op, m2 = nw.w.op, nw.w.org["m2"]
    segment = number_supply.segment_by_prefix(db, "171")
    number_supply.update_policy(db, op, m2, {"utilisation_threshold_pct": 0})
    request = number_supply.request_blocks(
        db, op, segment_id=segment["id"], block_count=2, region_code=None, mvno_id=m2
    )
    first, second = cut_in(
        db,
        "UPDATE number_allocation_request",
        lambda: number_supply.decide_request(db, op, request["id"], grant=True),
        lambda: number_supply.decide_request(db, op, request["id"], grant=True),
    )
    assert isinstance(second, DomainError), second
    assert second.code == "already_decided"
    with db.read() as conn:
        blocks = conn.execute(
            unscoped(select(t.number_block.c.prefix).where(t.number_block.c.mvno_id == m2), "t")
        ).scalars().all()  # fmt: skip
    assert sorted(blocks) == sorted(nw.m2_blocks + first["granted_prefixes"])


def test_sale_rights_stay_inside_own_blocks_and_never_overlap(
    nw: NumbersWorld, db: Database
) -> None:
    op, w = nw.w.op, nw.w
    with pytest.raises(DomainError) as outside:
        number_supply.grant_sale_right(
            db, op, holder_id=w.auth["a_o1"], numbers=block_range(nw.m2_blocks[0])
        )
    assert outside.value.code == "range_not_owned"
    first = int(nw.m1_blocks[0]) * 10_000
    with pytest.raises(Conflict) as overlap:
        number_supply.grant_sale_right(
            db, op, holder_id=w.auth["a_o1"], numbers=NumberRange(first + 10, first + 20)
        )
    assert overlap.value.code == "range_overlaps"
    rights, _ = number_supply.list_sale_rights(db, op.scope, {}, 0, 10)
    mine = next(r for r in rights if r["first_number"] == first)
    number_supply.revoke_sale_right(db, op, mine["id"])
    number_supply.grant_sale_right(
        db, op, holder_id=w.auth["a_o1"], numbers=NumberRange(first + 10, first + 20)
    )


def test_channels_sell_only_what_is_granted_to_them_or_above(
    nw: NumbersWorld, db: Database
) -> None:
    w = nw.w
    granted_to_p1 = nw.number(nw.m1_blocks[0], 1)
    kept_by_m1 = nw.number(nw.m1_blocks[1], 1)
    granted_to_p2 = nw.number(nw.m1_blocks[2], 1)
    outlet = w.actor["outletClerk"]  # O1, under P1
    reservation = life.reserve(db, outlet, [granted_to_p1])
    assert reservation["numbers"] == [granted_to_p1]
    for foreign in (kept_by_m1, granted_to_p2, nw.number(nw.m2_blocks[0], 1)):
        with pytest.raises(NotFound):
            life.reserve(db, outlet, [foreign])
    life.reserve(db, w.actor["mvnoAdmin"], [kept_by_m1])  # the owner sells anything it owns
    with pytest.raises(NotFound):
        life.reserve(db, w.actor["mvno2Admin"], [granted_to_p2])


def test_reserving_a_held_number_is_a_conflict_and_writes_nothing(
    nw: NumbersWorld, db: Database
) -> None:
    w = nw.w
    number = nw.number(nw.m1_blocks[0], 7)
    life.reserve(db, w.actor["outletClerk"], [number])
    before = (_count(db, t.number), _count(db, t.number_reservation))
    with pytest.raises(Conflict) as caught:
        life.reserve(db, w.actor["partnerAdmin"], [nw.number(nw.m1_blocks[0], 8), number])
    assert caught.value.code == "number_taken"
    assert (_count(db, t.number), _count(db, t.number_reservation)) == before
    assert_inventory_consistent(db)


def test_expiry_needs_no_sweeper(nw: NumbersWorld, db: Database) -> None:
    w = nw.w
    number = nw.number(nw.m1_blocks[0], 42)
    first = life.reserve(db, w.actor["outletClerk"], [number])
    with pytest.raises(Conflict):
        life.reserve(db, w.actor["partnerAdmin"], [number])
    later = clock.now() + timedelta(minutes=31)
    with clock.frozen(later):
        second = life.reserve(db, w.actor["partnerAdmin"], [number])  # no sweep ran
        assert second["numbers"] == [number]
        with pytest.raises(Conflict):
            life.assign(db, w.actor["outletClerk"], first["id"], number, "sale-1")
        with pytest.raises(Conflict):  # the first reserver cannot take it back either
            life.reserve(db, w.actor["outletClerk"], [number])
    assert_inventory_consistent(db)


def test_only_the_reserver_or_an_admin_releases(nw: NumbersWorld, db: Database) -> None:
    w = nw.w
    number = nw.number(nw.m1_blocks[0], 9)
    reservation = life.reserve(db, w.actor["outletClerk"], [number])
    with pytest.raises(DomainError) as caught:
        life.release(db, w.actor["partnerAdmin"], reservation["id"])
    assert caught.value.code == "not_the_reserver"
    released = life.release(db, w.actor["mvnoAdmin"], reservation["id"])
    assert released["status"] == "released"
    assert _count(db, t.number) == 0
    assert_inventory_consistent(db)


def test_a_sale_and_a_release_of_one_reservation_over_two_blocks_do_not_deadlock(
    nw: NumbersWorld, db: Database
) -> None:
    """A reservation holds numbers in two blocks; the number sold is in the block whose lock
    sorts last. A release starts as the sale assigns it: the release takes both blocks' locks
    in sorted order and waits for the sale's. The sale used to lock its own number's block
    first and the other's only when freeing it: each waited for the other, and PostgreSQL
    aborted one as a deadlock. Now the sale takes both at once; the release waits, then
    finds the reservation used."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers take turns: no release runs inside a sale")
    admin = nw.w.actor["mvnoAdmin"]
    last, other = sorted(
        [nw.number(nw.m1_blocks[0], 300), nw.number(nw.m1_blocks[1], 300)],
        key=lambda m: locks.lock_key(f"number-block:{m[:7]}"),
        reverse=True,
    )
    reservation = life.reserve(db, admin, [last, other])["id"]
    sold, released = cut_in(
        db,
        "UPDATE number SET",
        lambda: life.assign(db, admin, reservation, last, "order-1"),
        lambda: life.release(db, admin, reservation),
    )
    assert sold is None, sold
    assert isinstance(released, DomainError), released
    assert released.code == "reservation_ended"
    with db.read() as conn:
        rows = conn.execute(unscoped(select(t.number.c.msisdn, t.number.c.state), "t")).all()
    assert [tuple(r) for r in rows] == [(last, "assigned")]
    assert_inventory_consistent(db)


def test_full_life_of_a_number(nw: NumbersWorld, db: Database) -> None:
    w = nw.w
    numbers = [nw.number(nw.m1_blocks[0], i) for i in (100, 101, 102)]
    reservation = life.reserve(db, w.actor["outletClerk"], numbers)
    life.assign(db, w.actor["outletClerk"], reservation["id"], numbers[0], "order-1")
    # The other two went back to stock with the sale.
    assert _count(db, t.number) == 1
    life.activate(db, w.actor["mvnoAdmin"], numbers[0])
    assert number_lookup.lookup(db, numbers[0])["in_service"] is True
    life.cancel(db, w.actor["mvnoAdmin"], numbers[0])
    assert number_lookup.lookup(db, numbers[0])["in_service"] is False
    assert life.sweep(db)["quarantineEnded"] == 0
    with clock.frozen(clock.now() + timedelta(days=91)):
        assert life.sweep(db)["quarantineEnded"] == 1
    assert _count(db, t.number) == 0
    assert_inventory_consistent(db)


def test_withhold_and_release(nw: NumbersWorld, db: Database) -> None:
    w = nw.w
    number = nw.number(nw.m1_blocks[1], 8888)
    life.withhold(db, w.actor["mvnoAdmin"], number)
    with pytest.raises(Conflict):
        life.reserve(db, w.actor["mvnoAdmin"], [number])
    with pytest.raises(NotFound):
        life.unwithhold(db, w.actor["mvno2Admin"], number)
    life.unwithhold(db, w.actor["mvnoAdmin"], number)
    life.reserve(db, w.actor["mvnoAdmin"], [number])
    assert_inventory_consistent(db)


def test_search_stays_in_scope_matches_and_spreads(nw: NumbersWorld, db: Database) -> None:
    w = nw.w
    query = number_search.SearchQuery(compile_pattern("*88", "4"), limit=40, seed=1)
    found = number_search.search(db, w.actor["outletClerk"], query)
    assert len(found) == 40
    assert all(i["msisdn"].startswith(nw.m1_blocks[0]) for i in found)
    assert all(i["msisdn"].endswith("88") and "4" not in i["msisdn"] for i in found)
    assert len({i["msisdn"] for i in found}) == 40
    owner = number_search.search(
        db, w.actor["mvnoAdmin"], number_search.SearchQuery(compile_pattern("*8888"), limit=20)
    )
    assert sorted(i["msisdn"][:7] for i in owner) == sorted(nw.m1_blocks)  # one per block
    assert number_search.search(db, w.actor["mvno2Admin"], query)  # its own block
    firsts = {
        number_search.search(
            db,
            w.actor["mvnoAdmin"],
            number_search.SearchQuery(compile_pattern("*"), limit=1, seed=s),
        )[0]["msisdn"]
        for s in range(8)
    }
    assert len(firsts) > 4  # sampled, not always the lowest number


def test_search_skips_taken_numbers_and_filters_by_grade(nw: NumbersWorld, db: Database) -> None:
    w = nw.w
    taken = nw.number(nw.m1_blocks[0], 8888)
    life.reserve(db, w.actor["mvnoAdmin"], [taken])
    found = number_search.search(
        db, w.actor["mvnoAdmin"], number_search.SearchQuery(compile_pattern("*8888"), limit=10)
    )
    assert taken not in {i["msisdn"] for i in found}
    assert len(found) == 2
    grade_a = number_search.search(
        db,
        w.actor["mvnoAdmin"],
        number_search.SearchQuery(compile_pattern("*"), grade="A", limit=15, seed=3),
    )
    assert len(grade_a) == 15
    assert all(len(set(i["msisdn"][-4:])) == 1 for i in grade_a)
    cheap = number_search.search(
        db,
        w.actor["mvnoAdmin"],
        number_search.SearchQuery(compile_pattern("*"), max_price_fen=0, limit=10),
    )
    assert all(i["one_off_fen"] == 0 for i in cheap)


def test_lookup_shows_the_brand_and_nothing_about_the_subscriber(
    nw: NumbersWorld, db: Database
) -> None:
    number = nw.number(nw.m1_blocks[0], 5)
    info = number_lookup.lookup(db, number)
    assert info["mvno_name"] == "星河移动"
    assert info["host_network_name"] == "China Unicom"
    assert set(info) == {
        "msisdn",
        "e164",
        "host_network",
        "host_network_name",
        "registered",
        "mvno_name",
        "brand_name",
        "hotline",
        "region_code",
        "in_service",
        # What to do next (docs/care.md): the brand's channels and the region's outlets.
        "website",
        "service_channels",
        "outlets",
    }
    unallocated = number_lookup.lookup(db, "17199990000")
    assert unallocated["registered"] is True
    assert unallocated["mvno_name"] is None
    elsewhere = number_lookup.lookup(db, "17001234567")
    assert (elsewhere["registered"], elsewhere["host_network"]) == (False, "telecom")


# --- Hypothesis: random operations keep the inventory consistent --------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "reserve",
                "release",
                "withhold",
                "unwithhold",
                "assign",
                "activate",
                "cancel",
                "expire",
            ]
        ),
        st.integers(min_value=0, max_value=5),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_random_operations_keep_every_number_in_exactly_one_state(
    backend, ops: list[tuple[str, int]]
) -> None:
    if backend.name != "sqlite":
        pytest.skip("the property is backend-independent; SQLite keeps it fast")
    backend.clean()
    db = backend.db
    nw = build_numbers(db)
    admin = nw.w.actor["mvnoAdmin"]
    numbers = [nw.number(nw.m1_blocks[i % 2], 100 + i) for i in range(6)]
    reservations: dict[str, object] = {}
    offset = timedelta()
    for op, i in ops:
        number = numbers[i]
        with clock.frozen(clock.now() + offset):
            try:
                if op == "reserve":
                    reservations[number] = life.reserve(db, admin, [number])["id"]
                elif op == "release" and number in reservations:
                    life.release(db, admin, reservations[number])  # type: ignore[arg-type]
                elif op == "withhold":
                    life.withhold(db, admin, number)
                elif op == "unwithhold":
                    life.unwithhold(db, admin, number)
                elif op == "assign" and number in reservations:
                    life.assign(db, admin, reservations[number], number, "s")  # type: ignore[arg-type]
                elif op == "activate":
                    life.activate(db, admin, number)
                elif op == "cancel":
                    life.cancel(db, admin, number)
                elif op == "expire":
                    offset += timedelta(days=100)
                    with clock.frozen(clock.now() + offset):
                        life.sweep(db)
            except (Conflict, NotFound):
                pass  # refused moves must leave everything as it was
        assert_inventory_consistent(db)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.integers(0, 29_999), st.integers(0, 12_000)), min_size=1, max_size=12))
def test_accepted_grants_never_overlap(backend, spans: list[tuple[int, int]]) -> None:
    if backend.name != "sqlite":
        pytest.skip("the property is backend-independent; SQLite keeps it fast")
    backend.clean()
    db = backend.db
    nw = build_numbers(db)
    for right in number_supply.list_sale_rights(db, nw.w.op.scope, {}, 0, 10)[0]:
        number_supply.revoke_sale_right(db, nw.w.op, right["id"])
    base = int(nw.m1_blocks[0]) * 10_000
    accepted: list[NumberRange] = []
    for start, length in spans:
        wanted = NumberRange(base + start, base + start + length)
        try:
            number_supply.grant_sale_right(db, nw.w.op, holder_id=nw.w.auth["a_p1"], numbers=wanted)
            accepted.append(wanted)
        except DomainError as exc:
            code = exc.code
            assert code in ("range_overlaps", "range_not_owned")
            inside = wanted.last < base + 30_000
            overlapping = any(wanted.overlaps(a) for a in accepted)
            assert overlapping or not inside
    for i, a in enumerate(accepted):
        assert a.last < base + 30_000
        assert all(not a.overlaps(b) for b in accepted[i + 1 :])


def test_an_allocation_beyond_the_segment_is_refused(nw: NumbersWorld, db: Database) -> None:
    op = nw.w.op
    small = number_supply.register_segment(db, op, "1709", nw.w.org["host"])
    number_supply.update_policy(db, op, nw.w.org["m2"], {"utilisation_threshold_pct": 0})
    with pytest.raises(DomainError) as caught:
        number_supply.allocate_now(
            db,
            op,
            mvno_id=nw.w.org["m2"],
            segment_id=small["id"],
            block_count=1001,
            region_code=None,
        )
    assert caught.value.code == "segment_exhausted"
    with db.read() as conn:
        owned = conn.execute(
            unscoped(
                select(func.count()).where(
                    t.number_block.c.segment_id == small["id"],
                    t.number_block.c.mvno_id.is_not(None),
                ),
                "test",
            )
        ).scalar_one()
    assert owned == 0
