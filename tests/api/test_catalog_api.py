"""The catalog over HTTP: TMF620 shapes, price lists, the inversion guard, partner packages,
alerts, tenancy."""

from __future__ import annotations

import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openmvne import ids
from openmvne.domain.access import Actor
from openmvne.domain.catalog import UnitRates
from openmvne.domain.channels import ChannelLevel
from openmvne.domain.numbers import HostNetwork
from openmvne.domain.parties import OrgKind
from openmvne.errors import DomainError
from openmvne.services import catalog, parties
from tests.api.test_conventions import assert_problem
from tests.catalog_world import POOL, TEN_FEN, CatalogWorld, build_catalog, price_list
from tests.conftest import Backend
from tests.world import auth_header, grant

TMF = "/tmf-api/productCatalogManagement/v4"
V1 = "/openmvne/v1"


@pytest.fixture
def cw(backend: Backend) -> CatalogWorld:
    return build_catalog(backend.db)


def pub(cw: CatalogWorld, key: str) -> str:
    return ids.to_public("product_offering", cw.offer[key])


def offer_body(cw: CatalogWorld, **change: object) -> dict:
    body = {
        "name": "新套餐",
        "offerType": "plan",
        "brandId": ids.to_public("brand", cw.brand["m1"]),
        "hostId": ids.to_public("organization", cw.w.org["host"]),
        "monthlyFeeFen": 3900,
        "allowance": {"voiceMinutes": 50, "dataMb": 1024},
        "rates": {"voiceRateFen": "10", "smsRateFen": "10", "dataRateFen": "10"},
    }
    body.update(change)
    return body


def test_tmf620_offering_specification_price(http: httpx.Client, cw: CatalogWorld) -> None:
    mvno = auth_header(cw.w, "mvnoAdmin")
    created = http.post(f"{TMF}/productOffering", headers=mvno, json=offer_body(cw))
    assert created.status_code == 201, created.text
    offering = created.json()
    assert offering["@type"] == "ProductOffering"
    assert offering["allowance"] == {"voiceMinutes": 50, "sms": 0, "dataMb": 1024}
    assert offering["rates"]["dataRateFen"] == "10"
    spec = http.get(offering["productSpecification"]["href"], headers=mvno).json()
    assert spec["@type"] == "ProductSpecification"
    data = next(c for c in spec["productSpecCharacteristic"] if c["name"] == "dataMb")
    assert data["productSpecCharacteristicValue"][0] == {"value": 1024, "unitOfMeasure": "MB"}
    recurring = http.get(offering["productOfferingPrice"][0]["href"], headers=mvno).json()
    assert recurring["price"] == {"unit": "fen", "value": 3900}
    assert recurring["recurringChargePeriodType"] == "month"
    listed = http.get(f"{TMF}/productOffering", headers=mvno, params={"offerType": "addon"})
    assert {o["name"] for o in listed.json()} == {"1GB 加油包", "内部包"}
    catalogs = http.get(f"{TMF}/catalog", headers=mvno).json()
    assert len(catalogs) == 1
    # Its href is a resource (it was a 404); another MVNO's catalog is not found.
    assert http.get(catalogs[0]["href"], headers=mvno).json() == catalogs[0]
    assert_problem(
        http.get(catalogs[0]["href"], headers=auth_header(cw.w, "mvno2Admin")), 404, "not_found"
    )
    host = ids.to_public("catalog", cw.w.org["host"])  # an organisation, not an MVNO
    assert_problem(
        http.get(f"{TMF}/catalog/{host}", headers=auth_header(cw.w, "platformAdmin")),
        404,
        "not_found",
    )
    # Lists that filter on nothing say so (they ignored what they were given).
    for path in (f"{TMF}/catalog", "/openmvne/v1/brands", "/openmvne/v1/wholesalePriceLists"):
        assert_problem(
            http.get(path, headers=mvno, params={"colour": "red"}), 400, "unknown_filter"
        )
    assert (
        http.get(
            "/openmvne/v1/inversionAlerts", headers=mvno, params={"status": "open"}
        ).status_code
        == 200
    )
    assert len(http.get(f"{TMF}/category").json()) == 5


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"monthlyFeeFen": 39.5}, 400, "invalid_request", "monthlyFeeFen"),
        ({"monthlyFeeFen": -1}, 400, "invalid_request", "monthlyFeeFen"),
        ({"monthlyFeeFen": "3900"}, 400, "invalid_request", "monthlyFeeFen"),
        (
            {"rates": {"voiceRateFen": "0.0000001", "smsRateFen": "1", "dataRateFen": "1"}},
            400,
            "bad_rate",
            "rates.voiceRateFen",
        ),
        ({"monthlyFeeFen": 1000}, 422, "price_below_cost", "priceFen"),
        (
            {"rates": {"voiceRateFen": "10", "smsRateFen": "10", "dataRateFen": "1"}},
            422,
            "rate_below_wholesale",
            "dataRateFen",
        ),
        ({"name": "59元 3GB"}, 409, "name_taken", "name"),
        # Past what the columns hold: refused, not a 500.
        ({"dataCapMb": 10**20}, 400, "bad_quantity", "dataCapMb"),
        ({"dataIncrementKb": 10**12}, 400, "bad_quantity", "dataIncrementKb"),
        ({"termMonths": 10**12}, 400, "bad_quantity", "termMonths"),
        ({"validityDays": 10**12}, 400, "bad_quantity", "validityDays"),
    ],
)
def test_bad_offers_write_nothing(
    http: httpx.Client, cw: CatalogWorld, change: dict, status: int, code: str, field: str
) -> None:
    mvno = auth_header(cw.w, "mvnoAdmin")
    before = http.get(f"{TMF}/productOffering", headers=mvno).headers["X-Total-Count"]
    problem = assert_problem(
        http.post(f"{TMF}/productOffering", headers=mvno, json=offer_body(cw, **change)),
        status,
        code,
    )
    assert problem["field"] == field
    if code == "price_below_cost":
        assert problem["costFen"] > 1000
        assert {line["label"] for line in problem["breakdown"]} >= {"per-number fee"}
    assert http.get(f"{TMF}/productOffering", headers=mvno).headers["X-Total-Count"] == before


def test_price_lists_overlap_and_average(http: httpx.Client, cw: CatalogWorld) -> None:
    host = auth_header(cw.w, "hostAdmin")
    m1 = ids.to_public("organization", cw.w.org["m1"])
    body = {
        "mvnoId": m1,
        "model": "pool",
        "validFrom": "2016-06-01",
        "rates": {"voiceRateFen": "6", "smsRateFen": "4", "dataRateFen": "1.2"},
    }
    assert_problem(
        http.post(f"{V1}/wholesalePriceLists", headers=host, json=body), 409, "validity_overlaps"
    )
    above = {**body, "validFrom": "2017-01-01", "rates": {**body["rates"], "dataRateFen": "8"}}
    # The M1 list from 2016 is open-ended, so end it first is not possible: overlap wins.
    assert_problem(
        http.post(f"{V1}/wholesalePriceLists", headers=host, json=above), 409, "validity_overlaps"
    )
    m2 = ids.to_public("organization", cw.w.org["m2"])
    assert (
        http.get(f"{V1}/wholesalePriceLists", headers=auth_header(cw.w, "mvno2Admin")).headers[
            "X-Total-Count"
        ]
        == "1"
    )
    assert http.get(f"{V1}/wholesalePriceLists", headers=host).headers["X-Total-Count"] == "2"
    assert_problem(
        http.post(
            f"{V1}/wholesalePriceLists",
            headers=auth_header(cw.w, "mvnoAdmin"),
            json={**body, "mvnoId": m2},
        ),
        403,
        "role_required",
    )
    reminders = http.get(f"{V1}/wholesalePriceLists/reviewReminders", headers=host).json()
    assert {r["reviewDueOn"] for r in reminders} == {"2016-04-20"}  # overdue: shown


def test_pool_price_above_the_host_average_is_refused(http: httpx.Client, cw: CatalogWorld) -> None:
    host = auth_header(cw.w, "hostAdmin")
    current = http.get(f"{V1}/wholesalePriceLists", headers=host).json()[0]
    ended = http.patch(current["href"], headers=host, json={"validTo": "2016-12-31"})
    assert ended.json()["validTo"] == "2016-12-31"
    body = {
        "mvnoId": current["mvnoId"],
        "model": "pool",
        "validFrom": "2017-01-01",
        "rates": {"voiceRateFen": "6", "smsRateFen": "4", "dataRateFen": "7.9"},
    }
    problem = assert_problem(
        http.post(f"{V1}/wholesalePriceLists", headers=host, json=body),
        422,
        "pool_price_not_below_average",
    )
    assert problem["field"] == "dataRateFen"
    body["rates"]["dataRateFen"] = "7.8"
    assert http.post(f"{V1}/wholesalePriceLists", headers=host, json=body).status_code == 201


def test_partner_designs_mvno_decides(http: httpx.Client, cw: CatalogWorld) -> None:
    w = cw.w
    partner = auth_header(w, "partnerAdmin")
    body = {
        "name": "广东青春卡",
        "baseOfferingId": pub(cw, "plan"),
        "addonIds": [pub(cw, "pack")],
        "priceFen": 6000,
    }
    assert_problem(
        http.post(
            f"{V1}/packageDesigns", headers=partner, json={**body, "addonIds": [pub(cw, "private")]}
        ),
        404,
        "not_found",
    )
    assert_problem(
        http.post(
            f"{V1}/packageDesigns",
            headers=partner,
            json={**body, "baseOfferingId": pub(cw, "m2plan")},
        ),
        404,
        "not_found",
    )
    draft = http.post(f"{V1}/packageDesigns", headers=partner, json=body)
    assert draft.status_code == 201, draft.text
    href = draft.json()["href"]
    assert http.get(href, headers=auth_header(w, "mvnoAdmin")).status_code == 404  # a draft
    cost = http.get(f"{href}/costChain", headers=partner).json()
    assert cost["inverted"] is True
    refused = assert_problem(http.post(f"{href}/submit", headers=partner), 422, "price_below_cost")
    assert refused["costFen"] == cost["costFen"]
    labels = [line["label"] for line in refused["breakdown"]]
    assert "MVNO margin" in labels
    assert "national channel commission" in labels  # the contractor above P1 keeps its share
    raised = http.patch(href, headers=partner, json={"priceFen": cost["costFen"] + 800})
    assert raised.status_code == 200, raised.text
    assert http.post(f"{href}/submit", headers=partner).json()["status"] == "submitted"
    assert_problem(http.post(f"{href}/approve", headers=partner), 403, "role_required")
    assert_problem(
        http.post(f"{href}/approve", headers=auth_header(w, "mvno2Admin")), 404, "not_found"
    )
    mvno = auth_header(w, "mvnoAdmin")
    assert http.post(f"{href}/approve", headers=mvno).json()["status"] == "approved"
    published = http.post(f"{href}/publish", headers=mvno).json()
    assert published["status"] == "published"
    offering = published["offeringId"]
    # Sold under the MVNO's brand, by the designer's tree only.
    for who, status in (
        ("partnerAdmin", 200),
        ("outletClerk", 200),
        ("mvnoAdmin", 200),
        ("nationalAdmin", 404),
        ("mvno2Admin", 404),
    ):
        got = http.get(f"{TMF}/productOffering/{offering}", headers=auth_header(w, who))
        assert got.status_code == status, who
    sold = http.get(f"{TMF}/productOffering/{offering}", headers=mvno).json()
    assert sold["isBundle"] is True
    assert sold["allowance"]["dataMb"] == 4096


def test_channels_see_only_what_their_mvnos_share(http: httpx.Client, cw: CatalogWorld) -> None:
    w = cw.w
    names = {
        o["name"]
        for o in http.get(f"{TMF}/productOffering", headers=auth_header(w, "outletClerk")).json()
    }
    assert names == {"59元 3GB", "1GB 加油包", "随心打"}
    assert (
        http.get(
            f"{TMF}/productOffering/{pub(cw, 'private')}", headers=auth_header(w, "partnerAdmin")
        ).status_code
        == 404
    )
    assert (
        http.get(
            f"{TMF}/productOffering/{pub(cw, 'm2plan')}", headers=auth_header(w, "partnerAdmin")
        ).status_code
        == 404
    )
    assert http.get(f"{TMF}/productOffering", headers=auth_header(w, "hostAdmin")).json() == []


def test_raising_wholesale_prices_raises_alerts(http: httpx.Client, cw: CatalogWorld) -> None:
    w = cw.w
    mvno = auth_header(w, "mvnoAdmin")
    m1 = ids.to_public("organization", w.org["m1"])
    assert http.get(f"{V1}/inversionAlerts", headers=mvno).json() == []
    changed = http.put(
        f"{V1}/commissionSchemes/{m1}",
        headers=mvno,
        json={"revenueShareBp": {"national": 4000, "province": 3000}, "mvnoMarginBp": 1500},
    )
    assert changed.status_code == 200, changed.text
    alerts = http.get(f"{V1}/inversionAlerts", headers=mvno, params={"status": "open"}).json()
    # 40 % to the channels: the plan and the shared pack fall below cost; the pack kept
    # from channels pays no commission and stays above it.
    assert {a["offeringId"] for a in alerts} == {pub(cw, "plan"), pub(cw, "pack")}
    assert alerts[0]["costFen"] > alerts[0]["priceFen"]
    assert http.get(f"{V1}/inversionAlerts", headers=auth_header(w, "mvno2Admin")).json() == []
    # A status no alert can have is refused, not answered with an empty list.
    bogus = http.get(f"{V1}/inversionAlerts", headers=mvno, params={"status": "closed"})
    assert assert_problem(bogus, 400, "bad_filter_value")["field"] == "status"
    http.put(
        f"{V1}/commissionSchemes/{m1}",
        headers=mvno,
        json={"revenueShareBp": {"national": 1000}, "mvnoMarginBp": 1500},
    )
    resolved = http.get(f"{V1}/inversionAlerts", headers=mvno).json()
    assert [a["status"] for a in resolved] == ["resolved", "resolved"]


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    prices=st.lists(st.integers(0, 12_000), min_size=1, max_size=4),
    data_rate=st.integers(1_000_000, 2_500_000),
)
def test_accepted_packages_cover_their_cost_and_alerts_are_exact(
    backend: Backend, prices: list[int], data_rate: int
) -> None:
    """Whatever prices partners ask, every accepted package is at or above its cost chain;
    raising the wholesale data price opens alerts for exactly those now below cost."""
    if backend.name != "sqlite":
        pytest.skip("the property is backend-independent; SQLite keeps it fast")

    backend.clean()
    db = backend.db
    cw = build_catalog(db)
    partner: Actor = cw.w.actor["partnerAdmin"]
    published = {}
    for i, price in enumerate(prices):
        design = catalog.create_design(
            db,
            partner,
            name=f"包{i}",
            base_offering_id=cw.offer["plan"],
            addon_ids=[cw.offer["pack"]],
            price_fen=price,
        )
        try:
            catalog.decide_design(db, partner, design["id"], "submit")
        except DomainError as exc:
            refusal = (exc.code, exc.details.get("costFen", 0))
            assert refusal[0] == "price_below_cost"
            assert price < refusal[1]
            continue
        catalog.decide_design(db, cw.w.op, design["id"], "approve")
        row = catalog.decide_design(db, cw.w.op, design["id"], "publish")
        chain = catalog.design_cost(db, cw.w.op.scope, design["id"])
        assert price >= chain.cost_fen
        published[row["offering_id"]] = design["id"]
    # A new list from today with a dearer data rate (the old one ends the day before).
    from datetime import timedelta

    from openmvne import clock

    today = clock.now().date()
    lists, _ = catalog.list_price_lists(db, cw.w.op.scope, 0, 10)
    old = next(pl for pl in lists if pl["mvno_id"] == cw.w.org["m1"])
    catalog.end_price_list(db, cw.w.op, old["id"], today - timedelta(days=1))
    if True:
        price_list(db, cw, "m1", UnitRates(POOL.voice, POOL.sms, data_rate), today)
        below = {
            o for o, d in published.items() if catalog.design_cost(db, cw.w.op.scope, d).inverted
        }
        plan_inverted = catalog.offer_cost(db, cw.w.op.scope, cw.offer["plan"])[1].inverted
    alerts, _ = catalog.list_alerts(db, cw.w.op.scope, "open", 0, 100)
    expected = below | ({cw.offer["plan"]} if plan_inverted else set())
    expected |= {
        cw.offer[k]
        for k in ("pack", "private", "payg")
        if catalog.offer_cost(db, cw.w.op.scope, cw.offer[k])[1].inverted
    }
    assert {a["offering_id"] for a in alerts} == expected


def test_commission_scheme_with_recharge_and_activation_amounts(
    http: httpx.Client, cw: CatalogWorld
) -> None:
    w = cw.w
    mvno = auth_header(w, "mvnoAdmin")
    m1 = ids.to_public("organization", w.org["m1"])
    url = f"{V1}/commissionSchemes/{m1}"
    defaults = http.get(url, headers=mvno).json()
    assert defaults["activationFen"]["outlet"] == 1500  # the platform's default
    body = {
        "revenueShareBp": {"national": 1000},
        "mvnoMarginBp": 1500,
        "rechargeBp": {"outlet": 200},
        "activationFen": {"national": 4000, "outlet": 2000},
    }
    assert http.put(url, headers=mvno, json=body).status_code == 200
    got = http.get(url, headers=mvno).json()
    assert got["rechargeBp"] == {"outlet": 200}
    assert got["activationFen"] == {"national": 4000, "outlet": 2000}
    bad = http.put(url, headers=mvno, json={**body, "activationFen": {"outlet": 1.5}})
    assert bad.status_code == 400  # a fraction of a fen
    assert bad.headers["content-type"].startswith("application/problem+json")
    over = http.put(url, headers=mvno, json={**body, "activationFen": {"outlet": 10**6}})
    assert over.status_code == 400
    assert over.json()["code"] == "bad_share"
    assert http.get(url, headers=mvno).json()["activationFen"] == {"national": 4000, "outlet": 2000}
    other = http.put(url, headers=auth_header(w, "mvno2Admin"), json=body)
    assert other.status_code == 404


def test_only_admins_read_a_commission_scheme(http: httpx.Client, cw: CatalogWorld) -> None:
    """The scheme holds every level's revenue share and the MVNO's margin: its MVNO's and the
    platform's admins read it; anyone else who can see the MVNO is refused (a channel learns
    what it must cover from its package's cost chain), and another MVNO's is not found."""
    w = cw.w
    url = f"{V1}/commissionSchemes/{ids.to_public('organization', w.org['m1'])}"
    for who in ("mvnoAdmin", "platformAdmin"):
        assert http.get(url, headers=auth_header(w, who)).json()["mvnoMarginBp"] == 1500
    for who in ("subscriber", "outletClerk", "careAgent", "partnerAdmin", "nationalAdmin"):
        assert_problem(http.get(url, headers=auth_header(w, who)), 403, "role_required")
    assert_problem(http.get(url, headers=auth_header(w, "mvno2Admin")), 404, "not_found")


def test_a_partner_of_two_mvnos_designs_under_the_plans_mvno(
    http: httpx.Client, cw: CatalogWorld, backend: Backend
) -> None:
    """Without a designerId, a partner authorised by two MVNOs designs under its channel in
    the base plan's MVNO; naming the other channel still refuses the plan."""
    w = cw.w
    second = grant(backend.db, w.op, w.org["m2"], w.org["p1"], ChannelLevel.NATIONAL, None, None)
    partner = auth_header(w, "partnerAdmin")
    body = {"name": "双品牌卡", "baseOfferingId": pub(cw, "plan"), "addonIds": [], "priceFen": 9000}
    made = http.post(f"{V1}/packageDesigns", headers=partner, json=body)
    assert made.status_code == 201, made.text
    assert made.json()["mvnoId"] == ids.to_public("organization", w.org["m1"])
    assert made.json()["designerId"] == ids.to_public("channel_authorisation", w.auth["a_p1"])
    named = {**body, "designerId": ids.to_public("channel_authorisation", second)}
    assert_problem(http.post(f"{V1}/packageDesigns", headers=partner, json=named), 404, "not_found")
    unknown = {**body, "baseOfferingId": ids.to_public("product_offering", ids.new_id())}
    refused = assert_problem(
        http.post(f"{V1}/packageDesigns", headers=partner, json=unknown), 400, "designer_required"
    )
    assert refused["field"] == "designerId"


def test_an_approved_package_below_its_cost_after_a_price_rise_is_not_published(
    http: httpx.Client, cw: CatalogWorld, backend: Backend
) -> None:
    """Wholesale data gets dearer between the approval and the publication: publishing
    would put an inverted package on sale, so it is refused with the breakdown."""
    from datetime import timedelta

    from openmvne import clock

    w = cw.w
    partner, mvno = auth_header(w, "partnerAdmin"), auth_header(w, "mvnoAdmin")
    body = {"name": "春季卡", "baseOfferingId": pub(cw, "plan"), "addonIds": [], "priceFen": 6000}
    href = http.post(f"{V1}/packageDesigns", headers=partner, json=body).json()["href"]
    assert http.post(f"{href}/submit", headers=partner).status_code == 200
    assert http.post(f"{href}/approve", headers=mvno).status_code == 200
    today = clock.now().date()
    lists, _ = catalog.list_price_lists(backend.db, w.op.scope, 0, 10)
    old = next(pl for pl in lists if pl["mvno_id"] == w.org["m1"])
    catalog.end_price_list(backend.db, w.op, old["id"], today - timedelta(days=1))
    price_list(backend.db, cw, "m1", UnitRates(POOL.voice, POOL.sms, 2_000_000), today)
    refused = assert_problem(http.post(f"{href}/publish", headers=mvno), 422, "price_below_cost")
    assert refused["costFen"] > 6000
    assert http.get(href, headers=mvno).json()["status"] == "approved"
    names = {o["name"] for o in http.get(f"{TMF}/productOffering", headers=mvno).json()}
    assert "春季卡" not in names


def test_a_dearer_list_set_to_start_tomorrow_is_judged_today(
    http: httpx.Client, cw: CatalogWorld, backend: Backend
) -> None:
    """Nothing re-checks prices on the day a list comes into force: a dearer list announced
    for tomorrow opens its alerts now, and an offer below tomorrow's cost is refused today."""
    from datetime import timedelta

    from openmvne import clock
    from openmvne.domain.subscribers import local_date

    w = cw.w
    mvno = auth_header(w, "mvnoAdmin")
    today = local_date(clock.now())  # the Beijing day
    lists, _ = catalog.list_price_lists(backend.db, w.op.scope, 0, 10)
    old = next(pl for pl in lists if pl["mvno_id"] == w.org["m1"])
    catalog.end_price_list(backend.db, w.op, old["id"], today)
    price_list(
        backend.db,
        cw,
        "m1",
        UnitRates(POOL.voice, POOL.sms, 2_000_000),
        today + timedelta(days=1),
    )
    alerts = http.get(f"{V1}/inversionAlerts", headers=mvno, params={"status": "open"}).json()
    assert pub(cw, "plan") in {a["offeringId"] for a in alerts}  # 3 GB at 2 fen/MB > 59 yuan
    # 2,500 MB: 36 yuan of cost today, 56 from tomorrow.
    body = offer_body(cw, monthlyFeeFen=5000, allowance={"dataMb": 2500})
    refused = assert_problem(
        http.post(f"{TMF}/productOffering", headers=mvno, json=body), 422, "price_below_cost"
    )
    assert refused["costFen"] > 5000
    assert (
        http.post(
            f"{TMF}/productOffering", headers=mvno, json={**body, "monthlyFeeFen": 6000}
        ).status_code
        == 201
    )


def test_a_dearer_rate_than_an_offers_overage_rate_opens_an_alert(
    http: httpx.Client, cw: CatalogWorld, backend: Backend
) -> None:
    """A per-unit retail rate is part of what must cover the cost: a new list whose data rate
    is above an offer's overage rate opens an alert, though its allowance stays covered; an
    offer priced below a list set to start later is refused."""
    from datetime import timedelta

    from openmvne import clock
    from openmvne.domain.catalog import OfferKind
    from openmvne.domain.subscribers import local_date

    w, db = cw.w, backend.db
    mvno = auth_header(w, "mvnoAdmin")
    cheap = catalog.create_offer(
        db,
        w.op,
        brand_id=cw.brand["m1"],
        host_id=w.org["host"],
        kind=OfferKind.PLAN,
        name="30元 100MB",
        terms={"monthly_fee_fen": 3000, "data_mb": 100, **TEN_FEN, "data_rate": 2_000_000},
    )
    today = local_date(clock.now())
    lists, _ = catalog.list_price_lists(db, w.op.scope, 0, 10)
    old = next(pl for pl in lists if pl["mvno_id"] == w.org["m1"])
    catalog.end_price_list(db, w.op, old["id"], today)
    price_list(db, cw, "m1", UnitRates(POOL.voice, POOL.sms, 3_000_000), today + timedelta(1))
    assert not catalog.offer_cost(db, w.op.scope, cheap["id"])[1].inverted
    alerts = http.get(f"{V1}/inversionAlerts", headers=mvno, params={"status": "open"}).json()
    alert = next(a for a in alerts if a["offeringId"] == pub(cw, "plan"))  # 3 GB at 3 fen
    cheap_alert = next(
        a for a in alerts if a["offeringId"] == ids.to_public("product_offering", cheap["id"])
    )
    assert "data rate" in cheap_alert["cause"]
    assert "data rate" not in alert["cause"]
    # 1,024 MB at 2 fen against 3 fen.
    assert (cheap_alert["priceFen"], cheap_alert["costFen"]) == (2048, 3072)
    body = offer_body(
        cw,
        allowance={"dataMb": 100},
        rates={"voiceRateFen": "10", "smsRateFen": "10", "dataRateFen": "2.5"},
    )
    refused = http.post(f"{TMF}/productOffering", headers=mvno, json=body)
    assert assert_problem(refused, 422, "rate_below_wholesale")["field"] == "dataRateFen"
    # The tariff corrected to cover the coming rate: its alert is resolved at once.
    catalog.correct_rates(
        db, w.op, cheap["id"], voice_rate=10_000_000, sms_rate=10_000_000, data_rate=3_000_000,
        reason="the overage must cover the new list",
    )  # fmt: skip
    alerts = http.get(f"{V1}/inversionAlerts", headers=mvno, params={"status": "open"}).json()
    assert cheap_alert["id"] not in {a["id"] for a in alerts}
    assert alert["id"] in {a["id"] for a in alerts}


def test_correcting_rates_keeps_the_offer_above_its_cost_chain(
    cw: CatalogWorld, backend: Backend
) -> None:
    """A corrected tariff is judged as a new offer is: pay-as-you-go rates equal to the
    wholesale rates cover each unit but not the reference month's per-number fee and
    commission, so the correction is refused and the offer keeps its rates."""
    db, op, payg = backend.db, cw.w.op, cw.offer["payg"]
    with pytest.raises(DomainError) as refused:
        catalog.correct_rates(
            db, op, payg, voice_rate=POOL.voice, sms_rate=POOL.sms, data_rate=POOL.data,
            reason="matched to the wholesale sheet",
        )  # fmt: skip
    assert refused.value.code == "price_below_cost"
    assert catalog.offer_cost(db, op.scope, payg)[0]["voice_rate"] == TEN_FEN["voice_rate"]
    catalog.correct_rates(
        db, op, payg, voice_rate=8_000_000, sms_rate=10_000_000, data_rate=10_000_000,
        reason="0.10 CNY a minute should have been 0.08",
    )  # fmt: skip
    assert not catalog.offer_cost(db, op.scope, payg)[1].inverted


def test_wholesale_days_past_the_calendar_are_refused(http: httpx.Client, cw: CatalogWorld) -> None:
    """A list from year 9999 has no review date a year later, and a host's results published
    in 9999 none a month later: both are refused, not a 500."""
    host = auth_header(cw.w, "hostAdmin")
    current = http.get(f"{V1}/wholesalePriceLists", headers=host).json()[0]
    assert http.patch(current["href"], headers=host, json={"validTo": "2016-12-31"}).is_success
    body = {
        "mvnoId": current["mvnoId"],
        "model": "pool",
        "validFrom": "9999-06-01",
        "rates": {"voiceRateFen": "6", "smsRateFen": "4", "dataRateFen": "1.2"},
    }
    problem = assert_problem(
        http.post(f"{V1}/wholesalePriceLists", headers=host, json=body), 400, "bad_date"
    )
    assert problem["field"] == "validFrom"
    average = {
        "year": 2016,
        "resultsPublishedOn": "9999-12-25",
        "rates": {"voiceRateFen": "9", "smsRateFen": "6", "dataRateFen": "7.9"},
    }
    problem = assert_problem(
        http.post(f"{V1}/hostAveragePrices", headers=host, json=average), 400, "bad_date"
    )
    assert problem["field"] == "resultsPublishedOn"
    later = {**body, "validFrom": "2017-01-01"}
    assert http.post(f"{V1}/wholesalePriceLists", headers=host, json=later).status_code == 201


def test_a_host_cannot_set_prices_for_another_host(
    http: httpx.Client, cw: CatalogWorld, backend: Backend
) -> None:
    """hostId names whose prices these are: another host network's (or a made-up) id is not
    found, never replaced by the caller's own; its own id works as none does."""
    telecom = parties.create_organisation(
        backend.db,
        cw.w.op,
        kind=OrgKind.HOST_NETWORK,
        name="中国电信",
        network_code=HostNetwork.TELECOM,
    )["id"]
    host = auth_header(cw.w, "hostAdmin")
    rates = {"voiceRateFen": "9", "smsRateFen": "5", "dataRateFen": "9"}
    price_list = {
        "mvnoId": ids.to_public("organization", cw.w.org["m1"]),
        "model": "pool",
        "validFrom": "2031-01-01",
        "rates": rates,
    }
    for other in (telecom, uuid.uuid4()):
        named = ids.to_public("organization", other)
        average = {"hostId": named, "year": 2031, "rates": rates}
        for path, body in (("hostAveragePrices", average), ("wholesalePriceLists", price_list)):
            problem = assert_problem(
                http.post(f"{V1}/{path}", headers=host, json={**body, "hostId": named}),
                404,
                "not_found",
            )
            assert problem["field"] == "hostId"
    own = ids.to_public("organization", cw.w.org["host"])
    made = http.post(
        f"{V1}/hostAveragePrices", headers=host, json={"hostId": own, "year": 2031, "rates": rates}
    )
    assert made.status_code == 201, made.text
