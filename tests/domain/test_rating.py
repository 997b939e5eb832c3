"""The rating rules, on hand-computed cases (the reference rater is the specification)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from openmvne.domain.rating import (
    SCALE,
    Record,
    Terms,
    billed_units,
    period_of,
    rate_reference,
    to_fen,
)

T0 = datetime(2016, 3, 10, 2, 0, tzinfo=UTC)
LINE = "17100000001"
TEN_FEN = 10 * 1_000_000  # 0.10 CNY per minute / SMS / MB, in µfen


def rec(seq: int, kind: str, quantity: int, direction: str = "mo", minutes: int = 0) -> Record:
    return Record(
        "n1", seq, LINE, kind, T0 + timedelta(minutes=minutes or seq), quantity, direction
    )


def payg(**changes: object) -> Terms:
    values: dict[str, object] = {"voice_rate": TEN_FEN, "sms_rate": TEN_FEN, "data_rate": TEN_FEN}
    values.update(changes)
    return Terms(**values)  # type: ignore[arg-type]


def fen(records: list[Record], terms: Terms) -> int:
    rated = rate_reference(records, {(LINE, "2016-03"): terms})
    return to_fen(sum(r.charge_exact for r in rated))


def test_voice_is_charged_per_started_minute() -> None:
    assert fen([rec(1, "voice", 1)], payg()) == 10
    assert fen([rec(1, "voice", 60)], payg()) == 10
    assert fen([rec(1, "voice", 61)], payg()) == 20
    # 6-second increments: 61 s is 66 s, 1.1 minutes: 11 fen exactly.
    assert fen([rec(1, "voice", 61)], payg(voice_incr_s=6)) == 11
    assert fen([rec(1, "voice", 0)], payg()) == 0


def test_data_per_started_kb_and_rates_per_mb_stay_exact() -> None:
    assert billed_units("data", 1, payg()) == 1
    assert billed_units("data", 1025, payg()) == 2
    # 1 MB at 10 fen/MB: 10 fen; 1 KB: 10/1024 fen, exact, rounded only in the total.
    assert fen([rec(1, "data", 1024 * 1024)], payg()) == 10
    rated = rate_reference([rec(1, "data", 1024)], {(LINE, "2016-03"): payg()})
    assert rated[0].charge_exact * 1024 == 10 * SCALE


def test_rounding_happens_once_on_the_total() -> None:
    # 100 records of 1 KB each: 100 × 10/1024 fen = 0.977 fen → 1 fen, not 100 × 0 or 100 × 1.
    records = [rec(i, "data", 1000) for i in range(100)]
    assert fen(records, payg()) == 1


def test_allowance_first_then_overage() -> None:
    terms = payg(voice_allow_s=120)
    rated = rate_reference([rec(1, "voice", 100), rec(2, "voice", 100)], {(LINE, "2016-03"): terms})
    assert [(r.units, r.in_allowance, r.overage) for r in rated] == [(120, 120, 0), (120, 0, 120)]
    assert to_fen(sum(r.charge_exact for r in rated)) == 20
    # Allowance already used by earlier batches counts.
    assert fen([rec(1, "voice", 100)], payg(voice_allow_s=120, voice_used_s=60)) == 10


def test_terminating_calls_free_when_the_offer_says_so_and_sms_always() -> None:
    assert fen([rec(1, "voice", 600, "mt")], payg()) == 0
    assert fen([rec(1, "voice", 600, "mt")], payg(term_voice_free=False)) == 100
    assert fen([rec(1, "sms", 1, "mt")], payg(term_voice_free=False)) == 0
    assert fen([rec(1, "sms", 3, "mo")], payg()) == 30


def test_no_charge_while_barred_for_missing_real_name() -> None:
    records = [rec(1, "voice", 600), rec(2, "sms", 1), rec(3, "data", 10**7)]
    barred = payg(no_charge_spans=((T0, None),), w_data=1)  # barred since T0, still
    rated = rate_reference(records, {(LINE, "2016-03"): barred})
    assert sum(r.charge_exact for r in rated) == 0
    assert all(r.in_allowance == 0 for r in rated)
    assert sum(r.wholesale_exact for r in rated) > 0  # the MVNO still pays the host


def test_only_use_inside_a_real_name_barring_is_free() -> None:
    """By each record's start time: barred from minute 2 until minute 4 (when it was
    registered) frees the calls at minutes 2 and 3, not the one before nor the one at the
    moment the barring ended; the allowance goes to the charged calls only."""
    records = [rec(i, "voice", 60) for i in (1, 2, 3, 4)]
    span = (T0 + timedelta(minutes=2), T0 + timedelta(minutes=4))
    terms = {(LINE, "2016-03"): payg(no_charge_spans=(span,), voice_allow_s=60)}
    rated = rate_reference(records, terms)
    assert [(r.units, r.in_allowance, r.billed_overage) for r in rated] == [
        (60, 60, 0), (0, 0, 0), (0, 0, 0), (60, 0, 60),
    ]  # fmt: skip
    assert to_fen(sum(r.charge_exact for r in rated)) == 10


def test_data_cap_stops_charging() -> None:
    cap = payg(cap_kb=1024)  # 1 MB of chargeable overage a month
    assert fen([rec(1, "data", 5 * 1024 * 1024)], cap) == 10
    assert fen([rec(1, "data", 512 * 1024), rec(2, "data", 5 * 1024 * 1024)], cap) == 10
    assert fen([rec(1, "data", 5 * 1024 * 1024)], payg(cap_kb=1024, data_over_kb=1024)) == 0


def test_order_in_time_decides_which_record_is_in_the_allowance() -> None:
    late = rec(1, "voice", 60, minutes=30)
    early = rec(2, "voice", 120, minutes=5)
    rated = {
        r.record.seq: r
        for r in rate_reference([late, early], {(LINE, "2016-03"): payg(voice_allow_s=120)})
    }
    assert rated[2].in_allowance == 120
    assert rated[1].in_allowance == 0


def test_billing_period_is_beijing_time() -> None:
    assert period_of(datetime(2016, 3, 31, 16, 0, tzinfo=UTC)) == "2016-04"
    assert period_of(datetime(2016, 3, 31, 15, 59, tzinfo=UTC)) == "2016-03"


def test_wholesale_cost_on_originating_calls_sms_and_all_data() -> None:
    terms = payg(w_voice=6_000_000, w_sms=4_000_000, w_data=1_200_000)
    rated = rate_reference(
        [rec(1, "voice", 60, "mo"), rec(2, "voice", 60, "mt"), rec(3, "sms", 1, "mt")],
        {(LINE, "2016-03"): terms},
    )
    assert [to_fen(r.wholesale_exact) for r in rated] == [6, 0, 0]
