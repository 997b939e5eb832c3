"""Monthly settlement from the ledger and rated usage: wholesale bill, commissions (validity
check, revenue share, clawback), margin; reruns identical; a closed month refuses changes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from openmvne import clock
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.ledger import TransferCode
from openmvne.errors import DomainError
from openmvne.services import (
    catalog,
    cost_chain,
    ledger,
    settlement,
    subscriber_orders,
    usage,
)
from tests.services.test_usage import write_csv
from tests.subscribers_world import SubscribersWorld, build_subscribers

SOLD = datetime(2026, 7, 10, 4, 0, tzinfo=UTC)
MONTHS = ["2026-07", "2026-08", "2026-09", "2026-10"]


def in_month(month: str, day: int = 20) -> datetime:
    return datetime(int(month[:4]), int(month[5:]), day, 4, 0, tzinfo=UTC)


def calls(msisdn: str, month: str, first_seq: int, minutes: int) -> list[list[Any]]:
    start = in_month(month, 15)
    return [
        [
            "44-MSC",
            first_seq + i,
            msisdn,
            "voice",
            (start + timedelta(minutes=3 * i)).isoformat(),
            60,
            "mo",
            "44",
        ]
        for i in range(minutes)
    ]


@pytest.fixture
def history(db: Database, tmp_path: Path) -> tuple[SubscribersWorld, list[str], Path]:
    """Three pay-as-you-go lines sold on 10 July; A talks 12 minutes a month (valid), B one
    minute (not valid), C is cancelled in October."""
    with clock.frozen(SOLD):
        sw = build_subscribers(db)
        lines = [sw.sale(db, seq=n, offer="payg", prepayment_fen=20_000)[0] for n in (1, 2, 3)]
        sw.settle(db)
    lake = tmp_path / "lake"
    seq = 0
    for month in MONTHS:
        rows = []
        for msisdn, minutes in zip(lines, (12, 1, 12), strict=True):
            rows += calls(msisdn, month, seq, minutes)
            seq += 100
        with clock.frozen(in_month(month, 25)):
            usage.rate_files(db, [write_csv(tmp_path / f"{month}.csv", rows)], lake=lake)
    with clock.frozen(in_month("2026-10", 26)):
        subscriber_orders.run_task(
            db,
            sw.w.op,
            lines[2],
            "realNameMissing",
            holder=None,
            reason="audit",
            idempotency_key="c",
        )
    return sw, lines, lake


def transfers(db: Database, code: TransferCode, like: str) -> int:
    lt = t.ledger_transfer
    with db.read() as conn:
        total = conn.execute(
            unscoped(
                select(func.coalesce(func.sum(lt.c.amount_fen), 0)).where(
                    lt.c.code == code.value, lt.c.reference.like(like)
                ),
                "test",
            )
        ).scalar_one()
    return int(total)


def test_october_settles_from_the_ledger_and_usage(
    db: Database, history: tuple[SubscribersWorld, list[str], Path]
) -> None:
    sw, lines, lake = history
    with clock.frozen(datetime(2026, 11, 3, tzinfo=UTC)):
        [run] = settlement.settle(db, sw.w.op, "2026-10", mvno_id=sw.w.org["m1"])
        [again] = settlement.settle(db, sw.w.op, "2026-10", mvno_id=sw.w.org["m1"])
    assert again["digest"] == run["digest"]
    assert again["documents"] == run["documents"]
    docs = run["documents"]
    [bill] = docs["wholesaleBills"]
    # The bill's usage equals the wholesale cost the rating posted for October, to the fen.
    assert bill["usageFen"] == transfers(db, TransferCode.WHOLESALE, "%:2026-10")
    voice = next(i for i in bill["items"] if i["service"] == "voice")
    assert voice["quantity"] == 25 * 60  # 12 + 1 + 12 originating minutes
    # Per-number fee: three lines at 100 fen.
    assert bill["numberFeeFen"] == 300
    kinds = {(i["kind"], i["line"]) for s in docs["commissionStatements"] for i in s["items"]}
    assert ("activation", lines[0]) in kinds  # valid in July, August, September
    assert ("activation", lines[1]) not in kinds  # one minute a month is not enough
    assert ("activation", lines[2]) in kinds
    assert ("revenueShare", lines[0]) in kinds
    assert docs["margin"]["byOffer"][0]["offer"] == "随心打"

    with clock.frozen(datetime(2026, 11, 3, tzinfo=UTC)):
        [closed] = settlement.settle(db, sw.w.op, "2026-10", mvno_id=sw.w.org["m1"], close=True)
        assert closed["status"] == "closed"
        # Each item is one transfer of its size (a clawback runs the other way).
        owed = sum(
            abs(i["amountFen"])
            for s in docs["commissionStatements"]
            for i in s["items"]
            if not i["posted"]
        )
        assert transfers(db, TransferCode.COMMISSION, "settle:%:2026-10:%") == owed
        [still] = settlement.settle(db, sw.w.op, "2026-10", mvno_id=sw.w.org["m1"], close=True)
        assert transfers(db, TransferCode.COMMISSION, "settle:%:2026-10:%") == owed
        assert still["documents"] == closed["documents"]
        with pytest.raises(DomainError) as refused:
            usage.rerate(db, "2026-10", lake=lake)
        assert refused.value.code == "month_closed"
        late = usage.rate_files(
            db,
            [write_csv(lake.parent / "late.csv", calls(lines[0], "2026-10", 9_000, 2))],
            lake=lake,
        )
        # Late records of the closed October go to November's bill, as adjustments.
        assert (late.rated, late.late, late.rejected) == (2, 2, 0)
        assert late.wholesale_fen > 0
        [again] = settlement.settle(db, sw.w.op, "2026-10", mvno_id=sw.w.org["m1"], close=True)
        assert again["documents"] == closed["documents"]  # October did not change
        [november] = settlement.settle(db, sw.w.op, "2026-11", mvno_id=sw.w.org["m1"])
    [bill] = november["documents"]["wholesaleBills"]
    assert bill["usageFen"] == transfers(db, TransferCode.WHOLESALE, "%:2026-11") > 0
    voice = next(i for i in bill["items"] if i["service"] == "voice")
    assert voice["quantity"] == 2 * 60  # the two late minutes
    october = docs["wholesaleBills"][0]
    # October's wholesale movements are what its closed bill says: usage and number fees.
    assert transfers(db, TransferCode.WHOLESALE, "%:2026-10") == (
        october["usageFen"] + october["numberFeeFen"]
    )
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)


def test_clawback_in_the_month_of_the_loss(
    db: Database, history: tuple[SubscribersWorld, list[str], Path]
) -> None:
    sw, lines, _ = history
    # Closing October pays the July cohort's activations; A cancelled in November gives its back.
    with clock.frozen(datetime(2026, 11, 3, tzinfo=UTC)):
        settlement.settle(db, sw.w.op, "2026-10", mvno_id=sw.w.org["m1"], close=True)
    paid = transfers(db, TransferCode.COMMISSION, "settle:activation:2026-10:%")
    assert paid > 0
    with clock.frozen(datetime(2026, 11, 10, tzinfo=UTC)):
        subscriber_orders.run_task(
            db, sw.w.actor["mvnoAdmin"], lines[0], "cancel", holder=None, reason="moving",
            idempotency_key="x",
        )  # fmt: skip
    with clock.frozen(datetime(2026, 12, 2, tzinfo=UTC)):
        [run] = settlement.settle(db, sw.w.op, "2026-11", mvno_id=sw.w.org["m1"])
    clawed = [
        i
        for s in run["documents"]["commissionStatements"]
        for i in s["items"]
        if i["kind"] == "clawback"
    ]
    assert {i["line"] for i in clawed} == {lines[0]}
    assert sum(i["amountFen"] for i in clawed) < 0


def test_only_operators_and_the_mvno_settle(
    db: Database, history: tuple[SubscribersWorld, list[str], Path]
) -> None:
    sw, _, _ = history
    with clock.frozen(datetime(2026, 11, 3, tzinfo=UTC)):
        for who in ("partnerAdmin", "outletClerk"):
            with pytest.raises(DomainError) as refused:
                settlement.settle(db, sw.w.actor[who], "2026-10")
            assert refused.value.code == "role_required"
        runs = settlement.settle(db, sw.w.actor["mvnoAdmin"], "2026-10")
        assert [r["mvno_id"] for r in runs] == [sw.w.org["m1"]]
        with pytest.raises(DomainError) as early:
            settlement.settle(db, sw.w.op, "2026-11", close=True)
        assert early.value.code == "month_not_over"


def activation_paid(run: dict[str, Any], msisdn: str) -> dict[str, int]:
    """What each party's statement gives for the line's activation, by party."""
    return {
        s["party"]: i["amountFen"]
        for s in run["documents"]["commissionStatements"]
        for i in s["items"]
        if i["kind"] == "activation" and i["line"] == msisdn
    }


def test_activation_commission_follows_the_mvnos_own_scheme(
    db: Database, history: tuple[SubscribersWorld, list[str], Path]
) -> None:
    sw, lines, _ = history
    m1 = sw.w.org["m1"]
    with clock.frozen(datetime(2026, 11, 3, tzinfo=UTC)):
        [default] = settlement.settle(db, sw.w.op, "2026-10", mvno_id=m1)
        catalog.set_scheme(
            db, sw.w.op, m1, {"national": 1000}, 1500,
            activation_fen={"national": 5000, "province": 4000, "outlet": 2500},
        )  # fmt: skip
        [own] = settlement.settle(db, sw.w.op, "2026-10", mvno_id=m1)
    before, after = activation_paid(default, lines[0]), activation_paid(own, lines[0])
    assert sum(before.values()) == 3000  # the default: 30 yuan a valid line, split down the tree
    assert sum(after.values()) == 5000  # the MVNO's own: 50 yuan
    # Each tier keeps its amount less its child's: the outlet its 25 yuan.
    assert sorted(after.values())[-1] == 2500
    assert own["digest"] != default["digest"]


def test_a_scheme_amount_out_of_range_is_refused_and_nothing_changes(
    db: Database, history: tuple[SubscribersWorld, list[str], Path]
) -> None:
    sw, _, _ = history
    m1 = sw.w.org["m1"]
    for bad, field in (
        ({"outlet": -1}, "activationFen.outlet"),
        ({"outlet": 100_001}, "activationFen.outlet"),
        ({"shop": 10}, "activationFen.shop"),
    ):
        with pytest.raises(DomainError) as refused:
            catalog.set_scheme(db, sw.w.op, m1, {"national": 1000}, 1500, activation_fen=bad)
        assert refused.value.field == field
    with db.read() as conn:
        assert cost_chain.scheme(conn, m1)["activation_fen"]["outlet"] == 1500


def test_a_line_lost_in_its_payout_month_keeps_no_activation_commission(
    db: Database, history: tuple[SubscribersWorld, list[str], Path]
) -> None:
    """C is barred for missing real-name registration in October, the month its activation
    commission is paid: October gives it back at once (November, where the loss is not,
    would never claw it back), so its channels keep nothing for it."""
    sw, lines, _ = history
    m1 = sw.w.org["m1"]
    with clock.frozen(datetime(2026, 11, 3, tzinfo=UTC)):
        [october] = settlement.settle(db, sw.w.op, "2026-10", mvno_id=m1, close=True)
    with clock.frozen(datetime(2026, 12, 3, tzinfo=UTC)):
        settlement.settle(db, sw.w.op, "2026-11", mvno_id=m1, close=True)
    items = [i for s in october["documents"]["commissionStatements"] for i in s["items"]]
    paid = sum(i["amountFen"] for i in items if i["kind"] == "activation" and i["line"] == lines[2])
    clawed = [i for i in items if i["kind"] == "clawback"]
    assert paid == 3000
    assert {i["line"] for i in clawed} == {lines[2]}
    assert sum(i["amountFen"] for i in clawed) == -paid
    with db.read() as conn:
        line_c = conn.execute(
            unscoped(select(t.subscription.c.id).where(t.subscription.c.msisdn == lines[2]), "t")
        ).scalar_one()
    given = transfers(db, TransferCode.COMMISSION, f"settle:activation:%:{line_c}")
    taken = transfers(db, TransferCode.COMMISSION, f"settle:clawback:%:{line_c}")
    assert given == taken == 3000
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)


def test_what_online_charging_takes_is_spend(db: Database) -> None:
    """A call charged online posts its hold (code `post`) from the line's balance: that is
    the line's usage as much as a rated record's, for the revenue share and the margin."""
    from openmvne.services import charging

    now = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
    with clock.frozen(now - timedelta(days=3)):
        sw = build_subscribers(db)
        line, _ = sw.sale(db, seq=1, offer="payg", prepayment_fen=1_000)
        sw.settle(db)
    m1 = sw.w.org["m1"]

    def revenue() -> tuple[int, int]:
        [run] = settlement.settle(db, sw.w.op, "2026-11", mvno_id=m1)
        docs = run["documents"]
        share = sum(
            i["amountFen"]
            for s in docs["commissionStatements"]
            for i in s["items"]
            if i["kind"] == "revenueShare"
        )
        return sum(m["revenueFen"] for m in docs["margin"]["byOffer"]), share

    with clock.frozen(now):
        before, share_before = revenue()
        network = sw.w.actor["hostAdmin"]
        charging.initial(db, network, session_key="s1", msisdn=line, kind="voice", requested=600)
        charging.terminate(db, network, session_key="s1", number=1, used=600)  # 10 minutes
        after, share_after = revenue()
    assert after - before == 100  # ten minutes at 0.10 CNY
    assert share_after - share_before == 10  # the chain's 10 % of it


def recycled_in_july(db: Database, tmp_path: Path) -> tuple[list[str], dict[str, Any]]:
    """With no quarantine, a number has two lines in July: the first talks 5 minutes and is
    cancelled on the 7th, the second, sold on the 10th, talks 3. The two lines' ids (oldest
    first) and July's settlement."""
    from openmvne.services import money, number_lifecycle, number_supply

    lake = tmp_path / "lake"
    with clock.frozen(in_month("2026-07", 5)):
        sw = build_subscribers(db)
        number_supply.update_policy(db, sw.w.op, sw.w.org["m1"], {"quarantine_days": 0})
        line, _ = sw.sale(db, seq=1, offer="payg", prepayment_fen=1_000)
        sw.settle(db)
    first = [
        [*row[:4], in_month("2026-07", 6).isoformat(), *row[5:]]
        for row in calls(line, "2026-07", 0, 5)
    ]
    with clock.frozen(in_month("2026-07", 7)):
        usage.rate_files(db, [write_csv(tmp_path / "a.csv", first)], lake=lake)
        subscriber_orders.run_task(
            db,
            sw.w.actor["mvnoAdmin"],
            line,
            "cancel",
            holder=None,
            reason="t",
            idempotency_key="c",
        )
        sw.settle(db)
    with clock.frozen(in_month("2026-07", 10)):
        number_lifecycle.sweep(db)
        money.pay_float(
            db, sw.w.op, outlet_id=sw.w.org["o1"], amount_fen=10_000, idempotency_key="float-b"
        )
        sw.sale(db, seq=2, number=line, offer="payg", prepayment_fen=1_000, key="resale")
        sw.settle(db)
    second = write_csv(tmp_path / "b.csv", calls(line, "2026-07", 100, 3))
    with clock.frozen(in_month("2026-07", 25)):
        usage.rate_files(db, [second], lake=lake)
    with clock.frozen(datetime(2026, 8, 3, tzinfo=UTC)):
        [run] = settlement.settle(db, sw.w.op, "2026-07", mvno_id=sw.w.org["m1"])
    sub = t.subscription
    with db.read() as conn:
        ids_ = conn.execute(
            unscoped(select(sub.c.id).where(sub.c.msisdn == line).order_by(sub.c.created_at), "t")
        ).scalars()
        return [str(i) for i in ids_], run["documents"]


def test_a_number_recycled_within_the_month_is_billed_once(db: Database, tmp_path: Path) -> None:
    """The wholesale bill counts each record once, for the line that held the number when it
    was made (it counted every record once per line, and the rounding line took back the
    double)."""
    _, docs = recycled_in_july(db, tmp_path)
    [bill] = docs["wholesaleBills"]
    assert bill["usageFen"] == transfers(db, TransferCode.WHOLESALE, "%:2026-07")
    voice = next(i for i in bill["items"] if i["service"] == "voice")
    assert voice["quantity"] == (5 + 3) * 60
    assert [i for i in bill["items"] if i["service"] == "rounding"] == []


def test_a_number_recycled_within_the_month_shares_each_lines_own_spend(
    db: Database, tmp_path: Path
) -> None:
    """The prepaid account is the number's: each line's revenue share is of what was spent
    while it held the number (both lines were paid a share of both holders' spend)."""
    (old, new), docs = recycled_in_july(db, tmp_path)
    share: dict[str, int] = {old: 0, new: 0}
    for statement in docs["commissionStatements"]:
        for item in statement["items"]:
            if item["kind"] == "revenueShare":
                share[item["lineId"]] += item["amountFen"]
    # The outlet's chain keeps 2 % + 4 % + 4 % of 50 fen (5 minutes) and of 30 fen (3).
    assert share == {old: 1 + 2 + 2, new: 0 + 1 + 1}
    [offer] = docs["margin"]["byOffer"]
    assert (offer["revenueFen"], offer["commissionFen"]) == (80, 7)


def test_one_mvnos_closed_month_leaves_another_mvnos_usage_rerateable(
    db: Database, tmp_path: Path
) -> None:
    """M1 closed October; M2's tariff was entered wrong. Rerating October reprices M2's
    lines only: M1's records, charges, ledger and documents stay as its closed month has
    them, and its records are still read from October's new files."""
    from tests.care_world import CareWorld

    with clock.frozen(in_month("2026-10", 10)):
        sw = build_subscribers(db)
        one, _ = sw.sale(db, seq=1, offer="payg", prepayment_fen=20_000)
        sw.settle(db)
        two = CareWorld(sw).m2_line(db)
    m1, m2 = sw.w.org["m1"], sw.w.org["m2"]
    lake = tmp_path / "lake"
    rows = calls(one, "2026-10", 0, 12) + calls(two, "2026-10", 100, 5)
    with clock.frozen(in_month("2026-10", 25)):
        usage.rate_files(db, [write_csv(tmp_path / "october.csv", rows)], lake=lake)
    admin = {m1: sw.w.actor["mvnoAdmin"], m2: sw.w.actor["mvno2Admin"]}

    def state(mvno: uuid.UUID, msisdn: str) -> dict[str, Any]:
        lt, up = t.ledger_transfer, t.usage_period
        with db.read() as conn:
            moved = conn.execute(
                unscoped(select(lt).where(lt.c.mvno_id == mvno).order_by(lt.c.id), "test")
            ).all()
            period = (
                conn.execute(unscoped(select(up).where(up.c.msisdn == msisdn), "test"))
                .mappings()
                .all()
            )
            costs = (
                conn.execute(
                    unscoped(select(t.usage_cost).where(t.usage_cost.c.mvno_id == mvno), "test")
                )
                .mappings()
                .all()
            )
            bills = settlement._documents(conn, mvno, "2026-10")[0]["wholesaleBills"]
        return {
            "transfers": [tuple(r) for r in moved],
            "period": [dict(r) for r in period],
            "costs": [dict(r) for r in costs],
            "bills": bills,
            "records": usage.rated_records(db, admin[mvno].scope, msisdn, "2026-10"),
            "daily": usage.daily(db, admin[mvno].scope, msisdn, "2026-10"),
            "balance": subscriber_orders.summary(db, admin[mvno], msisdn)["balance"].available,
        }

    with clock.frozen(datetime(2026, 11, 3, tzinfo=UTC)):
        [closed] = settlement.settle(db, sw.w.op, "2026-10", mvno_id=m1, close=True)
        before = {m1: state(m1, one), m2: state(m2, two)}
        assert len(before[m1]["records"]) == 12
        assert before[m1]["bills"] == closed["documents"]["wholesaleBills"]
        # M2's voice rate should have been 0.08 CNY a minute, not 0.10.
        catalog.correct_rates(
            db, sw.w.op, sw.cw.offer["m2plan"], voice_rate=8_000_000, sms_rate=10_000_000,
            data_rate=10_000_000, reason="typo in the tariff sheet",
        )  # fmt: skip
        fixed = usage.rerate(db, "2026-10", lake=lake)
        assert (fixed.lines, fixed.rated) == (1, 5)
        after = {m1: state(m1, one), m2: state(m2, two)}
        assert after[m1] == before[m1]  # the closed month: nothing of M1 changed
        assert after[m2]["balance"] == before[m2]["balance"] + 5 * 2  # 2 fen back a minute
        assert all(r["charge_exact"] == 60 * 8_000_000 * 1024 for r in after[m2]["records"])
        [still] = settlement.settle(db, sw.w.op, "2026-10", mvno_id=m1, close=True)
        assert still["documents"] == closed["documents"]
        again = usage.rerate(db, "2026-10", lake=lake)
        assert again.batch_id is None
        assert {m1: state(m1, one), m2: state(m2, two)} == after
        # Once M2 closes October too, the month cannot be rerated at all.
        settlement.settle(db, sw.w.op, "2026-10", mvno_id=m2, close=True)
        with pytest.raises(DomainError) as refused:
            usage.rerate(db, "2026-10", lake=lake)
        assert refused.value.code == "month_closed"
    with db.read() as conn:
        assert not ledger.audit_ledger(conn)
