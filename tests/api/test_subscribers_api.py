"""Subscribers over HTTP: the sale as a TMF622 order, TMF637 products, TMF629 customers, the
line summary, tasks, the audited unmasked read, and tenancy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from openmvne import clock, ids
from openmvne.db import tables as t
from openmvne.db.scoping import unscoped
from openmvne.network.simulator import SimulatedHostNetwork
from openmvne.services import number_lifecycle, provisioning
from tests.api.test_conventions import assert_problem
from tests.conftest import Backend
from tests.subscribers_world import SubscribersWorld, build_subscribers, resident_id
from tests.world import auth_header

ORDER = "/tmf-api/productOrderingManagement/v4/productOrder"
PRODUCT = "/tmf-api/productInventory/v4/product"
CUSTOMER = "/tmf-api/customerManagement/v4/customer"
V1 = "/openmvne/v1"


@pytest.fixture
def sw(backend: Backend) -> SubscribersWorld:
    backend.serve()
    assert backend.app is not None
    # The server lives across tests, the database is emptied between them: so must the
    # network's memory of open lines be.
    backend.app.state.network = SimulatedHostNetwork(seed=7)
    return build_subscribers(backend.db, backend.app.state.network)


def identification(number: str, **extra: Any) -> dict[str, Any]:
    return {
        "identificationType": "residentId",
        "identificationId": number,
        "validFor": {"endDateTime": "2035-01-01T00:00:00Z"},
        **extra,
    }


def sale_body(
    sw: SubscribersWorld, msisdn: str, iccid: str, reservation: str, id_number: str
) -> dict[str, Any]:
    return {
        "@type": "ProductOrder",
        "externalId": f"o1-{msisdn}",
        "productOrderItem": [
            {
                "id": "1",
                "action": "add",
                "productOffering": {"id": ids.to_public("product_offering", sw.cw.offer["plan"])},
                "product": {
                    "productCharacteristic": [
                        {"name": "msisdn", "value": msisdn},
                        {"name": "iccid", "value": iccid},
                        {"name": "reservationId", "value": reservation},
                    ]
                },
            }
        ],
        "relatedParty": [
            {
                "role": "customer",
                "@referredType": "Individual",
                "givenName": "伟",
                "familyName": "张",
                "individualIdentification": [identification(id_number)],
            }
        ],
        "realNameEvidence": {"source": "reader", "reference": "R-1", "photoReference": "P-1"},
        "prepaymentFen": 10_000,
    }


def reserve(backend: Backend, sw: SubscribersWorld) -> tuple[str, str]:
    msisdn = sw.free_number()
    reservation = number_lifecycle.reserve(backend.db, sw.w.actor["outletClerk"], [msisdn])
    return msisdn, ids.to_public("number_reservation", reservation["id"])


def sell(
    http: httpx.Client, backend: Backend, sw: SubscribersWorld, id_number: str, key: str
) -> tuple[str, httpx.Response]:
    msisdn, reservation = reserve(backend, sw)
    body = sale_body(sw, msisdn, sw.card(), reservation, id_number)
    response = http.post(
        ORDER, json=body, headers={**auth_header(sw.w, "outletClerk"), "Idempotency-Key": key}
    )
    return msisdn, response


def drain(backend: Backend) -> None:
    assert backend.app is not None
    provisioning.drain(backend.db, backend.app.state.network)


def state_of(backend: Backend, msisdn: str, iccid: str) -> tuple[Any, Any, Any]:
    with backend.db.read() as conn:
        number = conn.execute(
            unscoped(select(t.number.c.state).where(t.number.c.msisdn == msisdn), "test")
        ).scalar()
        card = conn.execute(
            unscoped(
                select(t.sim_card.c.state, t.sim_card.c.holder_party_id, t.sim_card.c.msisdn).where(
                    t.sim_card.c.iccid == iccid
                ),
                "test",
            )
        ).one()
    return number, tuple(card), None


def test_sale_order_to_active_line(
    http: httpx.Client, backend: Backend, sw: SubscribersWorld
) -> None:
    id_number = resident_id(11)
    msisdn, response = sell(http, backend, sw, id_number, "sale-1")
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["@type"] == "ProductOrder"
    assert order["state"] == "inProgress"
    assert response.headers["Location"] == order["href"]
    assert response.headers["Idempotent-Replayed"] == "false"
    assert order["identification"]["maskedId"] == id_number[:4] + "*" * 10 + id_number[-4:]
    assert id_number not in response.text

    # The same key with another request (another card) is refused; nothing is sold twice.
    reused = http.post(
        ORDER,
        json=sale_body(
            sw, msisdn, sw.card(), ids.to_public("number_reservation", ids.new_id()), id_number
        ),
        headers={**auth_header(sw.w, "outletClerk"), "Idempotency-Key": "sale-1"},
    )
    assert_problem(reused, 422, "idempotency_key_reused")
    drain(backend)

    done = http.get(f"{ORDER}/{order['id']}", headers=auth_header(sw.w, "outletClerk")).json()
    assert done["state"] == "completed"
    assert done["completionDate"]
    product_href = done["productOrderItem"][0]["product"]["href"]
    product = http.get(product_href, headers=auth_header(sw.w, "mvnoAdmin")).json()
    assert product["status"] == "active"
    assert product["lineState"] == "active"
    assert product["name"] == msisdn

    summary = http.get(f"{V1}/subscribers/{msisdn}", headers=auth_header(sw.w, "outletClerk"))
    assert summary.status_code == 200, summary.text
    view = summary.json()
    assert view["state"] == "active"
    assert view["balanceFen"] == 10_000 - 5_900
    assert view["holder"]["maskedName"] == "张*"
    assert view["holder"]["maskedId"].count("*") == 10
    assert view["network"] == {"level": "open", "inSync": True}

    customers = http.get(CUSTOMER, headers=auth_header(sw.w, "mvnoAdmin"))
    assert customers.headers["X-Total-Count"] == "1"
    assert id_number not in customers.text
    # The other MVNO sees none of it.
    other = auth_header(sw.w, "mvno2Admin")
    assert http.get(product_href, headers=other).status_code == 404
    assert http.get(f"{V1}/subscribers/{msisdn}", headers=other).status_code == 404
    assert http.get(PRODUCT, headers=other).headers["X-Total-Count"] == "0"
    assert http.get(f"{ORDER}/{order['id']}", headers=other).status_code == 404


def test_same_key_replays_the_order(
    http: httpx.Client, backend: Backend, sw: SubscribersWorld
) -> None:
    msisdn, reservation = reserve(backend, sw)
    body = sale_body(sw, msisdn, sw.card(), reservation, resident_id(12))
    headers = {**auth_header(sw.w, "outletClerk"), "Idempotency-Key": "sale-2"}
    first = http.post(ORDER, json=body, headers=headers)
    second = http.post(ORDER, json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.json()["id"] == second.json()["id"]
    orders = http.get(ORDER, headers=auth_header(sw.w, "outletClerk"))
    assert orders.headers["X-Total-Count"] == "1"


@pytest.mark.parametrize(
    ("id_number", "status", "code"),
    [
        ("440305800101001", 400, "id_first_generation"),
        ("4403051980023000", 400, "id_format"),
        (resident_id(1, birth="19800230"), 400, "id_birth_date"),
        (resident_id(1)[:-1] + ("0" if resident_id(1)[-1] != "0" else "1"), 400, "id_checksum"),
    ],
)
def test_bad_ids_change_nothing(
    http: httpx.Client,
    backend: Backend,
    sw: SubscribersWorld,
    id_number: str,
    status: int,
    code: str,
) -> None:
    msisdn, reservation = reserve(backend, sw)
    iccid = sw.card()
    before = state_of(backend, msisdn, iccid)
    response = http.post(
        ORDER,
        json=sale_body(sw, msisdn, iccid, reservation, id_number),
        headers={**auth_header(sw.w, "outletClerk"), "Idempotency-Key": f"bad-{id_number}"},
    )
    assert_problem(response, status, code)
    assert state_of(backend, msisdn, iccid) == before
    assert id_number not in response.text


def test_sixth_card_refused(http: httpx.Client, backend: Backend, sw: SubscribersWorld) -> None:
    id_number = resident_id(21)
    for n in range(5):
        _, response = sell(http, backend, sw, id_number, f"five-{n}")
        assert response.status_code == 201, response.text
    msisdn, reservation = reserve(backend, sw)
    iccid = sw.card()
    before = state_of(backend, msisdn, iccid)
    response = http.post(
        ORDER,
        json=sale_body(sw, msisdn, iccid, reservation, id_number),
        headers={**auth_header(sw.w, "outletClerk"), "Idempotency-Key": "sixth"},
    )
    assert_problem(response, 422, "id_card_limit")
    assert state_of(backend, msisdn, iccid) == before


def test_card_and_number_must_be_the_outlets(
    http: httpx.Client, backend: Backend, sw: SubscribersWorld
) -> None:
    headers = {**auth_header(sw.w, "outletClerk"), "Idempotency-Key": "other-card"}
    msisdn, reservation = reserve(backend, sw)
    foreign = sw.r_cards[0]  # M2's outlet holds it
    response = http.post(
        ORDER, json=sale_body(sw, msisdn, foreign, reservation, resident_id(31)), headers=headers
    )
    assert_problem(response, 404, "card_not_held")
    # A number this sale did not reserve.
    other = sw.free_number()
    response = http.post(
        ORDER,
        json=sale_body(sw, other, sw.card(), reservation, resident_id(31)),
        headers={**headers, "Idempotency-Key": "not-reserved"},
    )
    assert_problem(response, 409, "reservation_not_holding")
    # No key, no sale.
    response = http.post(
        ORDER,
        json=sale_body(sw, msisdn, sw.card(), reservation, resident_id(31)),
        headers=auth_header(sw.w, "outletClerk"),
    )
    assert_problem(response, 400, "idempotency_key_required")


def task(
    http: httpx.Client,
    sw: SubscribersWorld,
    msisdn: str,
    name: str,
    who: str,
    key: str,
    **body: Any,
) -> httpx.Response:
    return http.post(
        f"{V1}/subscribers/{msisdn}/tasks/{name}",
        json=body,
        headers={**auth_header(sw.w, who), "Idempotency-Key": key},
    )


def test_tasks_suspend_resume_replace_cancel(
    http: httpx.Client, backend: Backend, sw: SubscribersWorld
) -> None:
    id_number = resident_id(41)
    msisdn, response = sell(http, backend, sw, id_number, "sale-41")
    assert response.status_code == 201
    drain(backend)
    clerk = auth_header(sw.w, "outletClerk")

    suspended = task(http, sw, msisdn, "suspend", "outletClerk", "t1", reason="travelling")
    assert suspended.status_code == 201, suspended.text
    assert suspended.json()["state"] == "inProgress"  # the network must bar the line first
    drain(backend)
    assert http.get(suspended.headers["Location"], headers=clerk).json()["state"] == "completed"
    assert http.get(f"{V1}/subscribers/{msisdn}", headers=clerk).json()["state"] == "suspended"
    assert_problem(
        task(http, sw, msisdn, "suspend", "outletClerk", "t2"), 409, "line_state_conflict"
    )
    assert task(http, sw, msisdn, "resume", "outletClerk", "t3").status_code == 201
    drain(backend)

    holder = {
        "identification": identification(id_number),
        "evidence": {"source": "reader", "reference": "R-2"},
    }
    wrong = {**holder, "identification": identification(resident_id(42))}
    new_card = sw.card()
    assert_problem(
        task(http, sw, msisdn, "replaceSim", "outletClerk", "t4", iccid=new_card, **wrong),
        422,
        "identity_mismatch",
    )
    replaced = task(http, sw, msisdn, "replaceSim", "outletClerk", "t5", iccid=new_card, **holder)
    assert replaced.status_code == 201, replaced.text
    drain(backend)
    view = http.get(f"{V1}/subscribers/{msisdn}", headers=clerk).json()
    assert view["sim"]["iccid"] == new_card
    assert view["state"] == "active"

    # Operator barring is the MVNO's: an outlet may not order it.
    assert_problem(task(http, sw, msisdn, "operatorBar", "outletClerk", "t6"), 403, "role_required")
    assert_problem(task(http, sw, msisdn, "hibernate", "outletClerk", "t7"), 404, "unknown_task")

    cancelled = task(http, sw, msisdn, "cancel", "outletClerk", "t8", **holder)
    assert cancelled.status_code == 201, cancelled.text
    drain(backend)
    product = http.get(f"{PRODUCT}?msisdn={msisdn}", headers=auth_header(sw.w, "mvnoAdmin")).json()[
        0
    ]
    assert product["status"] == "terminated"
    with backend.db.read() as conn:
        number_state = conn.execute(
            unscoped(select(t.number.c.state).where(t.number.c.msisdn == msisdn), "test")
        ).scalar()
    assert number_state == "quarantined"


def test_unmasked_id_is_the_mvnos_and_audited(
    http: httpx.Client, backend: Backend, sw: SubscribersWorld
) -> None:
    id_number = resident_id(51)
    msisdn, response = sell(http, backend, sw, id_number, "sale-51")
    assert response.status_code == 201
    url = f"{V1}/subscribers/{msisdn}/identity"
    assert_problem(http.get(url, headers=auth_header(sw.w, "outletClerk")), 403, "role_required")
    revealed = http.get(url, headers=auth_header(sw.w, "mvnoAdmin"))
    assert revealed.status_code == 200
    assert revealed.json()["idNumber"] == id_number
    with backend.db.read() as conn:
        events = conn.execute(
            unscoped(
                select(
                    t.audit_event.c.action, t.audit_event.c.data, t.audit_event.c.actor_username
                ),
                "test",
            )
        ).all()
    reads = [e for e in events if e.action == "identity.revealed"]
    assert len(reads) == 1
    assert reads[0].actor_username == "mvnoAdmin"
    assert all(id_number not in str(e.data) for e in events)


def test_a_lines_card_moves_only_through_the_line(
    http: httpx.Client, backend: Backend, sw: SubscribersWorld
) -> None:
    msisdn, response = sell(http, backend, sw, resident_id(71), "sale-71")
    assert response.status_code == 201
    drain(backend)
    iccid = http.get(f"{V1}/subscribers/{msisdn}", headers=auth_header(sw.w, "mvnoAdmin")).json()[
        "sim"
    ]["iccid"]
    patched = http.patch(
        f"{V1}/simCards/{iccid}",
        json={"state": "reportedLost"},
        headers={**auth_header(sw.w, "mvnoAdmin"), "Content-Type": "application/merge-patch+json"},
    )
    assert_problem(patched, 409, "card_in_service")


def test_an_id_expiring_today_in_beijing_sells_whatever_the_offset_it_is_sent_in(
    http: httpx.Client, backend: Backend, sw: SubscribersWorld
) -> None:
    """An ID card's expiry is a date in Beijing. Sent as the instant 16:30 UTC on the 28th
    (00:30 on the 29th in Beijing), it expires on the 29th: on the 29th the sale goes
    through. It was taken as the 28th, the date in UTC, and refused as expired."""
    with clock.frozen(datetime(2026, 11, 29, 4, tzinfo=UTC)):  # noon in Beijing
        msisdn, reservation = reserve(backend, sw)
        body = sale_body(sw, msisdn, sw.card(), reservation, resident_id(71))
        holder = body["relatedParty"][0]["individualIdentification"][0]
        holder["validFor"] = {"endDateTime": "2026-11-28T16:30:00Z"}
        sold = http.post(
            ORDER, json=body, headers={**auth_header(sw.w, "outletClerk"), "Idempotency-Key": "x"}
        )
        assert sold.status_code == 201, sold.text
        holder["validFor"] = {"endDateTime": "2026-11-28T15:30:00Z"}  # 23:30 on the 28th
        msisdn, reservation = reserve(backend, sw)
        body["productOrderItem"][0]["product"]["productCharacteristic"] = [
            {"name": "msisdn", "value": msisdn},
            {"name": "iccid", "value": sw.card()},
            {"name": "reservationId", "value": reservation},
        ]
        body["externalId"] = f"o1-{msisdn}"
        expired = http.post(
            ORDER, json=body, headers={**auth_header(sw.w, "outletClerk"), "Idempotency-Key": "y"}
        )
        assert_problem(expired, 400, "id_expired")


def test_an_outlet_cannot_sell_as_another_outlet(
    http: httpx.Client, backend: Backend, sw: SubscribersWorld
) -> None:
    """The order's channel names the selling outlet: another outlet's (or a made-up) id is not
    found, never replaced by the clerk's own; the clerk's own id works as none does."""
    msisdn, reservation = reserve(backend, sw)
    iccid = sw.card()
    body = sale_body(sw, msisdn, iccid, reservation, resident_id(901))
    clerk = {**auth_header(sw.w, "outletClerk"), "Idempotency-Key": "as-o2"}
    for other in (sw.w.org["o2"], uuid.uuid4()):
        named = {**body, "channel": [{"id": ids.to_public("organization", other)}]}
        problem = assert_problem(http.post(ORDER, json=named, headers=clerk), 404, "not_found")
        assert problem["field"] == "outletId"
    assert state_of(backend, msisdn, iccid)[0] == "reserved"
    own = {**body, "channel": [{"id": ids.to_public("organization", sw.w.org["o1"])}]}
    sold = http.post(ORDER, json=own, headers={**clerk, "Idempotency-Key": "as-o1"})
    assert sold.status_code == 201, sold.text
