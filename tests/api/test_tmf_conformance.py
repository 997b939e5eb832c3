"""Every TM Forum resource the API answers, as the platform and as an MVNO see it, is a valid
resource of the TM Forum's official v4 schema (tests/tmf_conformance.py): each list's items,
each item at its own href, and a top-up as its POST answers it. Bills and rated usage are
checked where their worlds are built (test_settlement_api, test_usage_api)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from openmvne.api.app import create_app
from openmvne.config import Settings
from tests.conftest import BACKENDS, Backend
from tests.tenancy_world import TenancyWorld, served_tenancy
from tests.tmf_conformance import assert_tmf

# Each TM Forum list of the API and the resource its items are.
RESOURCES = {
    "/tmf-api/party/v4/organization": "Organization",
    "/tmf-api/party/v4/individual": "Individual",
    "/tmf-api/partyRoleManagement/v4/partyRole": "PartyRole",
    "/tmf-api/resourceInventoryManagement/v4/resource": "Resource",
    "/tmf-api/productCatalogManagement/v4/productOffering": "ProductOffering",
    "/tmf-api/productCatalogManagement/v4/productSpecification": "ProductSpecification",
    "/tmf-api/productCatalogManagement/v4/productOfferingPrice": "ProductOfferingPrice",
    "/tmf-api/productCatalogManagement/v4/category": "Category",
    "/tmf-api/productCatalogManagement/v4/catalog": "Catalog",
    "/tmf-api/productOrderingManagement/v4/productOrder": "ProductOrder",
    "/tmf-api/productInventory/v4/product": "Product",
    "/tmf-api/customerManagement/v4/customer": "Customer",
    "/tmf-api/troubleTicket/v4/troubleTicket": "TroubleTicket",
    "/tmf-api/accountManagement/v4/billingAccount": "BillingAccount",
    "/tmf-api/accountManagement/v4/partyAccount": "PartyAccount",
    "/tmf-api/prepayBalanceManagement/v4/bucket": "Bucket",
    "/tmf-api/customerBillManagement/v4/customerBill": "CustomerBill",
    "/tmf-api/usageManagement/v4/usage": "Usage",
    "/tmf-api/customerBillManagement/v4/appliedCustomerBillingRate": "AppliedCustomerBillingRate",
}
# Lists whose items this world has none of: checked in their own areas' tests.
ELSEWHERE = {
    "/tmf-api/customerBillManagement/v4/customerBill",
    "/tmf-api/usageManagement/v4/usage",
    "/tmf-api/customerBillManagement/v4/appliedCustomerBillingRate",
}
# Lists of one line's resources: they name the line.
BY_LINE = {"/tmf-api/prepayBalanceManagement/v4/bucket"}


def test_every_tm_forum_list_is_known_here() -> None:
    """A new TM Forum list must be added above, with the resource its items are."""
    paths = create_app(Settings(database_url="sqlite://")).openapi()["paths"]
    lists = {p for p, ops in paths.items() if p.startswith("/tmf-api/") and "{" not in p}
    assert lists - {"/tmf-api/prepayBalanceManagement/v4/topupBalance"} == set(RESOURCES)


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, backends: dict[str, Backend]
) -> Iterator[tuple[TenancyWorld, httpx.Client]]:
    with served_tenancy(backends[request.param]) as served:
        yield served


@pytest.mark.parametrize("path", sorted(set(RESOURCES) - ELSEWHERE))
@pytest.mark.parametrize("who", ["platformAdmin", "mvnoAdmin"])
def test_tm_forum_resources_follow_the_official_schema(
    world: tuple[TenancyWorld, httpx.Client], path: str, who: str
) -> None:
    tw, client = world
    params = {"msisdn": tw.of("P1", "msisdn")[0]} if path in BY_LINE else {"limit": 100}
    listed = client.get(path, headers=tw.headers(who), params=params)
    assert listed.status_code == 200, listed.text
    assert_tmf(RESOURCES[path], listed.json())
    for item in listed.json()[:10]:
        if "href" in item:
            one = client.get(item["href"], headers=tw.headers(who))
            assert one.status_code == 200, (item["href"], one.text)
            assert_tmf(RESOURCES[path], one.json())


def test_a_top_up_follows_the_official_schema(world: tuple[TenancyWorld, httpx.Client]) -> None:
    tw, client = world
    msisdn = tw.of("P1", "msisdn")[0]
    made = client.post(
        "/tmf-api/prepayBalanceManagement/v4/topupBalance",
        headers=tw.headers("outletClerk", f"conformance-{msisdn}"),
        json={"msisdn": msisdn, "amountFen": 700, "channelOrderNumber": f"conf-{msisdn}"},
    )
    assert made.status_code == 201, made.text
    assert_tmf("TopupBalance", made.json())
    assert_tmf(
        "TopupBalance", client.get(made.headers["Location"], headers=tw.headers("mvnoAdmin")).json()
    )
