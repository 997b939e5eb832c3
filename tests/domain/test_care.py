"""Care rules without a database: priorities and SLA clocks, the ticket state machine,
routing (most specific wins), self-care code limits, redaction, and the monthly figures."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmvne.domain.care import (
    AGENT_CREDIT_LIMIT_FEN,
    FINAL,
    MOVES,
    REQUESTER_MOVES,
    Area,
    Priority,
    Route,
    Severity,
    TicketAction,
    TicketFacts,
    TicketStatus,
    TicketType,
    check_action,
    check_credit,
    check_move,
    choose_route,
    default_priority,
    figures,
    redact,
    region_covers,
    send_wait,
    sla_deadline,
    top_problems,
)
from openmvne.domain.identity import ric_check_char
from openmvne.domain.parties import OrgKind, Role
from openmvne.domain.settlement import check_month, month_bounds
from openmvne.errors import Conflict, Forbidden, InvalidInput, RuleViolation

T0 = datetime(2016, 11, 27, 2, 0, tzinfo=UTC)
BRAND, OTHER = uuid.uuid4(), uuid.uuid4()


def test_priority_follows_severity_with_a_floor_for_money_and_dead_cards() -> None:
    assert default_priority(TicketType.INFO_QUERY, Severity.MINOR) is Priority.MEDIUM
    assert default_priority(TicketType.COMPLAINT, Severity.CRITICAL) is Priority.CRITICAL
    assert default_priority(TicketType.RECHARGE_NOT_RECEIVED, Severity.MINOR) is Priority.HIGH
    assert default_priority(TicketType.FAULTY_CARD, Severity.MINOR) is Priority.HIGH
    assert default_priority(TicketType.FAULTY_CARD, Severity.CRITICAL) is Priority.CRITICAL


def test_sla_deadlines_per_type_and_priority_and_the_pending_pause() -> None:
    assert sla_deadline(TicketType.INFO_QUERY, Priority.MEDIUM, T0) == T0 + timedelta(hours=24)
    assert sla_deadline(TicketType.SIM_REPLACEMENT, Priority.MEDIUM, T0) == T0 + timedelta(hours=48)
    assert sla_deadline(TicketType.RECHARGE_NOT_RECEIVED, Priority.HIGH, T0) == T0 + timedelta(
        hours=4
    )
    paused = sla_deadline(TicketType.INFO_QUERY, Priority.MEDIUM, T0, timedelta(hours=5))
    assert paused == T0 + timedelta(hours=29)
    # Every type has every priority, and a higher priority is never slower.
    order = [Priority.LOW, Priority.MEDIUM, Priority.HIGH, Priority.CRITICAL]
    for kind in TicketType:
        hours = [sla_deadline(kind, p, T0) for p in order]
        assert hours == sorted(hours, reverse=True)


def test_the_state_machine() -> None:
    s = TicketStatus
    legal = {(a, b) for a, targets in MOVES.items() for b in targets}
    assert (s.ACKNOWLEDGED, s.IN_PROGRESS) in legal
    assert (s.IN_PROGRESS, s.PENDING) in legal
    assert (s.PENDING, s.IN_PROGRESS) in legal
    assert (s.RESOLVED, s.CLOSED) in legal
    assert (s.ACKNOWLEDGED, s.RESOLVED) not in legal
    for final in FINAL:
        assert MOVES[final] == frozenset()
    for a in s:
        for b in s:
            if (a, b) in legal:
                check_move(a, b, care=True)
            else:
                with pytest.raises(Conflict) as refused:
                    check_move(a, b, care=True)
                assert refused.value.code == "illegal_status_change"
            if (a, b) in legal and (a, b) not in REQUESTER_MOVES:
                with pytest.raises(Forbidden):
                    check_move(a, b, care=False)
    assert legal >= REQUESTER_MOVES


def test_regions_contain_their_parts() -> None:
    assert region_covers(None, "440300")
    assert region_covers("440000", "440300")
    assert region_covers("440000", "440305")
    assert region_covers("440300", "440305")
    assert region_covers("440300", "440300")
    assert not region_covers("440300", "440000")  # a city does not cover its province
    assert not region_covers("440300", "440400")
    assert not region_covers("330000", "440300")
    assert not region_covers("440000", None)
    assert Area(None, None).covers(BRAND, "110000")
    assert Area(BRAND, "440000").covers(BRAND, "440300")
    assert not Area(BRAND, "440000").covers(OTHER, "440300")
    assert not Area(BRAND, "440000").covers(None, "440300")  # "any brand" needs every brand


def _route(brand: uuid.UUID | None, region: str | None, kind: TicketType | None) -> Route:
    return Route(uuid.uuid4(), uuid.uuid4(), brand, region, kind)


def test_the_most_specific_route_wins() -> None:
    anywhere = _route(None, None, None)
    brand_province = _route(BRAND, "440000", None)
    brand_city = _route(BRAND, "440300", None)
    recharge_city = _route(BRAND, "440300", TicketType.RECHARGE_NOT_RECEIVED)
    other_brand = _route(OTHER, "440300", None)
    routes = [anywhere, brand_province, brand_city, recharge_city, other_brand]
    assert choose_route(routes, BRAND, "440305", TicketType.RECHARGE_NOT_RECEIVED) is recharge_city
    assert choose_route(routes, BRAND, "440305", TicketType.COMPLAINT) is brand_city
    assert choose_route(routes, BRAND, "440100", TicketType.COMPLAINT) is brand_province
    assert choose_route(routes, BRAND, "330100", TicketType.COMPLAINT) is anywhere
    assert choose_route(routes[1:], BRAND, "330100", TicketType.COMPLAINT) is None  # fallback
    # Among equals, the first given (the older rule) stays.
    twin = _route(BRAND, "440000", None)
    assert choose_route([brand_province, twin], BRAND, "440300", TicketType.OTHER) is brand_province
    assert brand_province.key() == f"{BRAND}|440000|*"


REGIONS = st.sampled_from(["440000", "440300", "440305", "330000", "330100", None])
KINDS = st.sampled_from([*TicketType, None])
BRANDS = st.sampled_from([BRAND, OTHER, None])


@given(
    st.lists(st.tuples(BRANDS, REGIONS, KINDS), max_size=8),
    st.sampled_from([BRAND, OTHER]),
    st.sampled_from(["440305", "440300", "330100"]),
    st.sampled_from(list(TicketType)),
)
def test_a_chosen_route_matches_and_none_that_matches_is_more_specific(
    rules: list[tuple[uuid.UUID | None, str | None, TicketType | None]],
    brand: uuid.UUID,
    region: str,
    kind: TicketType,
) -> None:
    routes = [_route(*r) for r in rules]
    chosen = choose_route(routes, brand, region, kind)
    matching = [r for r in routes if r.matches(brand, region, kind)]
    if chosen is None:
        assert matching == []
    else:
        assert chosen.matches(brand, region, kind)
        assert all(r.specificity() <= chosen.specificity() for r in matching)


def test_actions_need_the_right_side_of_the_desk() -> None:
    agent = frozenset({Role.CARE_AGENT})
    check_action(TicketAction.REPORT_LOST, OrgKind.PARTNER, agent)
    check_action(TicketAction.CREDIT, OrgKind.MVNO, agent)
    with pytest.raises(Forbidden) as refused:
        check_action(TicketAction.CREDIT, OrgKind.PARTNER, agent)
    assert refused.value.code == "mvno_desk_only"
    with pytest.raises(Forbidden):
        check_action(TicketAction.REPLACE_SIM, OrgKind.PARTNER, agent)
    with pytest.raises(Forbidden):
        check_action(TicketAction.REPORT_LOST, OrgKind.OUTLET, frozenset({Role.OUTLET_CLERK}))
    check_credit(0, AGENT_CREDIT_LIMIT_FEN, agent)
    with pytest.raises(RuleViolation):
        check_credit(1, AGENT_CREDIT_LIMIT_FEN, agent)
    check_credit(10**6, 10**6, frozenset({Role.MVNO_ADMIN}))


def test_codes_wait_a_minute_and_five_an_hour() -> None:
    assert send_wait([], T0) is None
    assert send_wait([T0 - timedelta(seconds=20)], T0) == timedelta(seconds=40)
    assert send_wait([T0 - timedelta(seconds=61)], T0) is None
    five = [T0 - timedelta(minutes=m) for m in (50, 40, 30, 20, 10)]
    assert send_wait(five, T0) == timedelta(minutes=10)
    assert send_wait(five[1:], T0) is None
    assert send_wait([T0 - timedelta(hours=2)] * 9, T0) is None


def test_id_numbers_are_masked_in_free_text_and_nothing_else() -> None:
    first17 = "44030519800101001"
    ric = first17 + ric_check_char(first17)
    text = f"证件{ric}，号码17100002037，卡号89860100000000010009，旧证440305800101001。"
    masked = redact(text)
    assert masked is not None
    assert ric not in masked
    assert f"{ric[:4]}**********{ric[-4:]}" in masked
    assert "440305800101001" not in masked
    assert "17100002037" in masked
    assert "89860100000000010009" in masked
    assert redact(None) is None


def test_months_are_business_months() -> None:
    """Care's reports count in settlement's months (one parser, one set of bounds)."""
    start, end = month_bounds(check_month("2016-11"))
    assert start == datetime(2016, 10, 31, 16, 0, tzinfo=UTC)
    assert end == datetime(2016, 11, 30, 16, 0, tzinfo=UTC)
    assert month_bounds(check_month("2016-12"))[1] == datetime(2016, 12, 31, 16, 0, tzinfo=UTC)
    for bad in ("2016-13", "2016-1", "Nov", "9999-12"):
        with pytest.raises(InvalidInput):
            check_month(bad)


def test_figures_and_top_problems() -> None:
    def facts(kind: str, response_s: int | None, resolve_s: int | None, *, late: bool) -> Any:
        created = T0
        return TicketFacts(
            kind,
            created,
            created + timedelta(seconds=response_s) if response_s is not None else None,
            created + timedelta(seconds=resolve_s) if resolve_s is not None else None,
            created + timedelta(hours=4),
            late,
        )

    result = figures(
        [
            facts("infoQuery", 60, 600, late=False),
            facts("infoQuery", 120, None, late=False),  # open, in time: not judged
            facts("rechargeNotReceived", 300, 20_000, late=True),
            facts("complaint", None, None, late=True),
        ]
    )
    assert result["tickets"] == 4
    assert result["byType"] == {"complaint": 1, "infoQuery": 2, "rechargeNotReceived": 1}
    assert result["medianFirstResponseS"] == 120
    assert result["medianResolutionS"] == 10_300
    assert (result["slaMet"], result["slaBreached"], result["slaCompliancePct"]) == (1, 2, 33.3)
    assert figures([])["slaCompliancePct"] is None
    assert top_problems(["a", "b", "b", "c", "c"], 2) == [("b", 2), ("c", 2)]
