"""Channel rules through the API: MVNO-only approval, exclusivity, blacklist, placement,
and that a refused request writes nothing (not even an audit event)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from openmvne import ids
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from tests.api.test_conventions import assert_problem
from tests.conftest import Backend
from tests.world import World, auth_header, build

CHANNELS = "/openmvne/v1/channelAuthorisations"
ORGS = "/tmf-api/party/v4/organization"


@pytest.fixture
def world(backend: Backend) -> World:
    return build(backend.db)


def _pub_org(w: World, key: str) -> str:
    return ids.to_public("organization", w.org[key])


def _pub_auth(w: World, key: str) -> str:
    return ids.to_public("channel_authorisation", w.auth[key])


def _counts(db: Database) -> tuple[int, int, int]:
    with db.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(unscoped(select(func.count()).select_from(table), "test")).scalar_one()
            for table in (t.channel_authorisation, t.audit_event, t.blacklist_entry)
        )


def _new_outlet(http: httpx.Client, w: World, who: str, name: str, region: str) -> str:
    response = http.post(
        ORGS,
        headers=auth_header(w, who),
        json={"name": name, "organizationType": "outlet", "regionCode": region},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_partner_requests_mvno_approves(http: httpx.Client, world: World) -> None:
    w = world
    outlet = _new_outlet(http, w, "partnerAdmin", "广州天河卖场", "440100")
    response = http.post(
        CHANNELS,
        headers=auth_header(w, "partnerAdmin"),
        json={
            "partyId": outlet,
            "level": "outlet",
            "regionCode": "440100",
            "parentId": _pub_auth(w, "a_p1"),
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "pending"
    assert created["mvnoId"] == _pub_org(w, "m1")  # taken from the parent
    assert created["depth"] == 3
    assert "plaqueNumber" not in created  # none yet: attributes without a value are left out
    # The parent's wish is not enough: the partner cannot approve its own request.
    refused = http.post(f"{created['href']}/approve", headers=auth_header(w, "partnerAdmin"))
    assert_problem(refused, 403, "role_required")
    approved = http.post(f"{created['href']}/approve", headers=auth_header(w, "mvnoAdmin"))
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["plaqueNumber"].startswith("SQ")
    # The other MVNO does not even see it.
    assert_problem(
        http.post(f"{created['href']}/suspend", headers=auth_header(w, "mvno2Admin")),
        404,
        "not_found",
    )


def test_partner_cannot_attach_under_a_foreign_or_sibling_channel(
    http: httpx.Client, world: World
) -> None:
    w = world
    outlet = _new_outlet(http, w, "partnerAdmin", "杭州西湖卖场", "330100")
    response = http.post(
        CHANNELS,
        headers=auth_header(w, "partnerAdmin"),
        json={
            "partyId": outlet,
            "level": "outlet",
            "regionCode": "330100",
            "parentId": _pub_auth(w, "a_p2"),
        },
    )
    body = assert_problem(response, 404, "not_found")
    assert body["field"] == "parentId"
    missing_parent = http.post(
        CHANNELS,
        headers=auth_header(w, "partnerAdmin"),
        json={
            "partyId": outlet,
            "level": "outlet",
            "regionCode": "330100",
            "mvnoId": _pub_org(w, "m1"),
        },
    )
    assert_problem(missing_parent, 400, "parent_required")


def test_exclusive_seat_is_held_once(http: httpx.Client, world: World, db: Database) -> None:
    w = world
    rival = http.post(
        ORGS,
        headers=auth_header(w, "mvnoAdmin"),
        json={
            "name": "广东二号代理",
            "organizationType": "partner",
            "partnerType": "provincialContractor",
        },
    ).json()["id"]
    body = {
        "partyId": rival,
        "level": "province",
        "regionCode": "440000",
        "exclusive": True,
        "parentId": _pub_auth(w, "a_n"),
    }
    before = _counts(db)
    taken = http.post(CHANNELS, headers=auth_header(w, "mvnoAdmin"), json=body)
    assert_problem(taken, 409, "exclusive_seat_taken")
    assert _counts(db) == before
    # Non-exclusive in the same region is fine, and a pending exclusive request elsewhere too.
    shared = http.post(
        CHANNELS, headers=auth_header(w, "mvnoAdmin"), json={**body, "exclusive": False}
    )
    assert shared.status_code == 201
    # Another MVNO's seat for the same region is a different seat.
    other = http.post(
        CHANNELS,
        headers=auth_header(w, "mvno2Admin"),
        json={**body, "parentId": None, "partyId": rival, "regionCode": "330000"},
    )
    assert other.status_code == 201, other.text


def test_seat_frees_when_holder_is_blacklisted(http: httpx.Client, world: World) -> None:
    w = world
    rival = http.post(
        ORGS,
        headers=auth_header(w, "mvnoAdmin"),
        json={
            "name": "浙江二号代理",
            "organizationType": "partner",
            "partnerType": "provincialContractor",
        },
    ).json()["id"]
    holder = f"{CHANNELS}/{_pub_auth(w, 'a_p2')}"
    suspended = http.post(
        f"{holder}/suspend", headers=auth_header(w, "mvnoAdmin"), json={"reason": "audit"}
    )
    assert suspended.json()["status"] == "suspended"
    body = {
        "partyId": rival,
        "level": "province",
        "regionCode": "330000",
        "exclusive": True,
        "parentId": _pub_auth(w, "a_n"),
    }
    assert_problem(
        http.post(CHANNELS, headers=auth_header(w, "mvnoAdmin"), json=body),
        409,
        "exclusive_seat_taken",
    )  # a suspended holder keeps its seat
    no_reason = http.post(f"{holder}/blacklist", headers=auth_header(w, "mvnoAdmin"))
    assert_problem(no_reason, 400, "required")
    black = http.post(
        f"{holder}/blacklist",
        headers=auth_header(w, "mvnoAdmin"),
        json={"reason": "养卡 (commission farming)"},
    )
    assert black.json()["status"] == "blacklisted"
    assert http.post(CHANNELS, headers=auth_header(w, "mvnoAdmin"), json=body).status_code == 201


def test_blacklisted_party_cannot_be_authorised_again(
    http: httpx.Client, world: World, db: Database
) -> None:
    w = world
    url = f"{CHANNELS}/{_pub_auth(w, 'a_o2')}"
    http.post(f"{url}/blacklist", headers=auth_header(w, "mvnoAdmin"), json={"reason": "虚假登记"})
    again = {
        "partyId": _pub_org(w, "o2"),
        "level": "outlet",
        "regionCode": "330100",
        "parentId": _pub_auth(w, "a_p2"),
    }
    before = _counts(db)
    refused = http.post(CHANNELS, headers=auth_header(w, "mvnoAdmin"), json=again)
    body = assert_problem(refused, 422, "party_blacklisted")
    assert body["field"] == "partyId"
    assert _counts(db) == before
    # Another MVNO is not bound by M1's blacklist.
    m2 = http.post(
        CHANNELS,
        headers=auth_header(w, "mvno2Admin"),
        json={"partyId": _pub_org(w, "o2"), "level": "outlet", "regionCode": "330100"},
    )
    assert m2.status_code == 201, m2.text
    # Blacklisting is final.
    assert_problem(
        http.post(f"{url}/reinstate", headers=auth_header(w, "mvnoAdmin")),
        409,
        "invalid_transition",
    )


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"regionCode": "330100"}, 422, "region_outside_parent"),
        ({"regionCode": "440000"}, 400, "region_level_mismatch"),
        ({"regionCode": None}, 400, "region_required"),
        ({"level": "province", "regionCode": "440000"}, 400, "level_mismatch"),
        ({"regionCode": "123456"}, 400, "region_unknown"),
        ({"level": "castle"}, 400, "invalid_request"),
        ({"parentId": "chn_NOPE"}, 400, "bad_reference"),
        ({"status": "approved"}, 400, "server_owned_field"),
        ({"colour": "red"}, 400, "unknown_field"),
        ({"exclusive": True, "regionCode": None, "level": "outlet"}, 400, "exclusive_needs_region"),
    ],
)
def test_bad_requests_write_nothing(
    http: httpx.Client, world: World, db: Database, change: dict, status: int, code: str
) -> None:
    w = world
    outlet = _new_outlet(http, w, "mvnoAdmin", f"新卖场{code}", "440300")
    body = {
        "partyId": outlet,
        "level": "outlet",
        "regionCode": "440300",
        "parentId": _pub_auth(w, "a_p1"),
        **change,
    }
    before = _counts(db)
    assert_problem(
        http.post(CHANNELS, headers=auth_header(w, "mvnoAdmin"), json=body), status, code
    )
    assert _counts(db) == before


def test_child_cannot_be_approved_under_pending_parent(http: httpx.Client, world: World) -> None:
    w = world
    agent = http.post(
        ORGS,
        headers=auth_header(w, "mvnoAdmin"),
        json={
            "name": "四川代理",
            "organizationType": "partner",
            "partnerType": "provincialContractor",
        },
    ).json()["id"]
    parent = http.post(
        CHANNELS,
        headers=auth_header(w, "mvnoAdmin"),
        json={"partyId": agent, "level": "province", "regionCode": "510000"},
    ).json()
    outlet = _new_outlet(http, w, "mvnoAdmin", "成都卖场", "510100")
    child = http.post(
        CHANNELS,
        headers=auth_header(w, "mvnoAdmin"),
        json={
            "partyId": outlet,
            "level": "outlet",
            "regionCode": "510100",
            "parentId": parent["id"],
        },
    ).json()
    refused = http.post(f"{child['href']}/approve", headers=auth_header(w, "mvnoAdmin"))
    assert_problem(refused, 422, "parent_not_approved")
    assert (
        http.post(f"{parent['href']}/approve", headers=auth_header(w, "mvnoAdmin")).status_code
        == 200
    )
    assert (
        http.post(f"{child['href']}/approve", headers=auth_header(w, "mvnoAdmin")).status_code
        == 200
    )


def test_tmf669_party_role_create_and_status_patch(http: httpx.Client, world: World) -> None:
    w = world
    outlet = _new_outlet(http, w, "partnerAdmin", "东莞卖场", "441900")
    response = http.post(
        "/tmf-api/partyRoleManagement/v4/partyRole",
        headers=auth_header(w, "partnerAdmin"),
        json={
            "engagedParty": {"id": outlet, "@referredType": "Organization"},
            "relatedParty": [{"id": _pub_auth(w, "a_p1"), "role": "parentChannel"}],
            "characteristic": [
                {"name": "level", "value": "outlet"},
                {"name": "regionCode", "value": "441900"},
            ],
        },
    )
    assert response.status_code == 201, response.text
    role = response.json()
    assert role["@type"] == "PartyRole"
    assert role["status"] == "pending"
    assert role["engagedParty"]["id"] == outlet
    assert response.headers["location"] == role["href"]
    refused = http.patch(
        role["href"], headers=auth_header(w, "partnerAdmin"), json={"status": "approved"}
    )
    assert_problem(refused, 403, "role_required")
    approved = http.patch(
        role["href"], headers=auth_header(w, "mvnoAdmin"), json={"status": "approved"}
    )
    assert approved.json()["status"] == "approved"
    wrong = http.patch(
        role["href"], headers=auth_header(w, "mvnoAdmin"), json={"status": "pending"}
    )
    assert_problem(wrong, 400, "invalid_transition")


def test_every_mutation_is_audited(http: httpx.Client, world: World, db: Database) -> None:
    w = world
    _, audits_before, _ = _counts(db)
    outlet = _new_outlet(http, w, "mvnoAdmin", "审计卖场", "440300")
    created = http.post(
        CHANNELS,
        headers=auth_header(w, "mvnoAdmin"),
        json={
            "partyId": outlet,
            "level": "outlet",
            "regionCode": "440300",
            "parentId": _pub_auth(w, "a_p1"),
        },
    ).json()
    http.post(f"{created['href']}/approve", headers=auth_header(w, "mvnoAdmin"))
    with db.read() as conn:
        rows = conn.execute(
            unscoped(
                select(
                    t.audit_event.c.action,
                    t.audit_event.c.actor_username,
                    t.audit_event.c.request_id,
                ).order_by(t.audit_event.c.id),
                "test",
            )
        ).all()
    new = rows[audits_before:]
    assert [r.action for r in new] == [
        "organization.created",
        "channel.requested",
        "channel.approve",
    ]
    assert {r.actor_username for r in new} == {"mvnoAdmin"}
    assert all(r.request_id for r in new)
