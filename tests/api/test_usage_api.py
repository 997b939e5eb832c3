"""Usage over HTTP: TMF635 rated usage, the consumption report, rating batches, scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from openmvne import clock
from openmvne.errors import InvalidInput
from openmvne.network.simulator import SimulatedHostNetwork
from openmvne.services import provisioning, usage
from tests.conftest import Backend
from tests.services.test_usage import calls, write_csv
from tests.subscribers_world import SubscribersWorld, build_subscribers
from tests.tmf_conformance import assert_tmf
from tests.world import auth_header

NOW = datetime.now(UTC)
PERIOD = (NOW + timedelta(hours=8)).strftime("%Y-%m")


@pytest.fixture
def sw(backend: Backend) -> SubscribersWorld:
    backend.serve()
    assert backend.app is not None
    backend.app.state.network = SimulatedHostNetwork(seed=7)
    return build_subscribers(backend.db, backend.app.state.network)


def test_rated_usage_and_consumption(
    http: httpx.Client, backend: Backend, sw: SubscribersWorld, tmp_path: Path
) -> None:
    assert backend.app is not None
    with clock.frozen(NOW - timedelta(days=1)):
        msisdn, _ = sw.sale(backend.db, seq=81, offer="plan")
        provisioning.drain(backend.db, backend.app.state.network)
    rows = [
        [*row[:4], (NOW - timedelta(minutes=90 - i)).isoformat(), *row[5:]]
        for i, row in enumerate(calls(msisdn, 0, 3, seconds=125))
    ]
    with clock.frozen(NOW):
        done = usage.rate_files(
            backend.db, [write_csv(tmp_path / "u.csv", rows)], lake=tmp_path / "lake"
        )
    assert done.rated == 3
    url = f"/tmf-api/usageManagement/v4/usage?msisdn={msisdn}&period={PERIOD}"
    listed = http.get(url, headers=auth_header(sw.w, "mvnoAdmin"))
    assert listed.status_code == 200, listed.text
    items = listed.json()
    assert [i["@type"] for i in items] == ["Usage"] * 3
    assert_tmf("Usage", items)
    assert items[0]["ratedProductUsage"][0]["units"] == 180  # 125 s in started minutes
    assert items[0]["ratedProductUsage"][0]["inAllowance"] == 180  # the plan has 100 minutes
    # Integers in the JSON too ("180", never "180.0"), whichever way the record was rated.
    rating = items[0]["ratedProductUsage"][0]
    numbers = [rating[k] for k in ("units", "inAllowance", "overage")]
    assert [type(n) for n in [*numbers, rating["taxIncludedRatingAmount"]["value"]]] == [int] * 4
    for outsider in ("mvno2Admin", "partnerAdmin", "outletClerk"):
        assert http.get(url, headers=auth_header(sw.w, outsider)).status_code == 404

    report = http.get(
        f"/openmvne/v1/usageConsumption/{msisdn}?period={PERIOD}",
        headers=auth_header(sw.w, "mvnoAdmin"),
    ).json()
    voice = next(b for b in report["bucket"] if b["type"] == "voice")
    assert voice == {
        "type": "voice", "unit": "second", "period": PERIOD, "allowance": 6000,
        "used": 540, "remaining": 5460, "rollover": 0,
    }  # fmt: skip
    assert sum(d["records"] for d in report["daily"]) == 3
    batches = http.get("/openmvne/v1/ratingBatches", headers=auth_header(sw.w, "platformAdmin"))
    assert batches.headers["X-Total-Count"] == "1"
    assert (
        http.get("/openmvne/v1/ratingBatches", headers=auth_header(sw.w, "mvnoAdmin")).status_code
        == 403
    )


def test_online_charging_over_http(
    http: httpx.Client, backend: Backend, sw: SubscribersWorld
) -> None:
    assert backend.app is not None
    msisdn, _ = sw.sale(backend.db, seq=82, offer="payg", prepayment_fen=1_000)
    provisioning.drain(backend.db, backend.app.state.network)
    network = auth_header(sw.w, "hostAdmin")
    start = {"sessionId": "gy-1", "msisdn": msisdn, "serviceType": "voice", "requestedUnits": 120}
    opened = http.post("/openmvne/v1/chargingSessions", json=start, headers=network)
    assert opened.status_code == 201, opened.text
    assert opened.json()["grantedUnits"] == 120
    assert opened.headers["Idempotent-Replayed"] == "false"
    again = http.post("/openmvne/v1/chargingSessions", json=start, headers=network)
    assert again.headers["Idempotent-Replayed"] == "true"
    ended = http.post(
        "/openmvne/v1/chargingSessions/gy-1/terminate",
        json={"requestNumber": 1, "usedUnits": 61},
        headers=network,
    )
    assert ended.status_code == 200, ended.text
    state = http.get("/openmvne/v1/chargingSessions/gy-1", headers=network).json()
    assert state["state"] == "closed"
    assert state["usedUnits"] == 120
    outlet = http.post("/openmvne/v1/chargingSessions", json={**start, "sessionId": "gy-2"},
                       headers=auth_header(sw.w, "outletClerk"))  # fmt: skip
    assert outlet.status_code == 403


def test_a_period_that_is_no_month_is_refused_not_a_server_error(
    http: httpx.Client, backend: Backend, sw: SubscribersWorld, tmp_path: Path
) -> None:
    """`\\d{4}-\\d{2}` lets the month 13 and the year 9999 through: the consumption report
    answered them with a 500 (no first day to read allowances from), TMF635 with an empty
    list, and a rerating of 2026-13 said it had nothing to change."""
    assert backend.app is not None
    with clock.frozen(NOW - timedelta(days=1)):
        msisdn, _ = sw.sale(backend.db, seq=83, offer="plan")
        provisioning.drain(backend.db, backend.app.state.network)
    mvno = auth_header(sw.w, "mvnoAdmin")
    for period in ("2026-13", "2026-00", "9999-12", "0000-01"):
        for url in (
            f"/openmvne/v1/usageConsumption/{msisdn}?period={period}",
            f"/tmf-api/usageManagement/v4/usage?msisdn={msisdn}&period={period}",
        ):
            answer = http.get(url, headers=mvno)
            assert answer.status_code == 400, (url, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["code"] == "bad_period"
    with pytest.raises(InvalidInput) as refused:
        usage.rerate(backend.db, "2026-13", lake=tmp_path / "lake")
    assert refused.value.code == "bad_period"
