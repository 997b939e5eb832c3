"""Tenancy: every role × {own, child, sibling, parent, other MVNO} object → 200 or 404, and
every list shows exactly what the scope allows (no leaks, no gaps)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from openmvne import ids
from tests.conftest import BACKENDS, Backend
from tests.world import World, auth_header, build

ALL_ORGS = {"platform", "host", "m1", "m2", "n", "p1", "p2", "q", "o1", "o2", "r"}
M1_TREE = {"m1", "host", "n", "p1", "p2", "o1", "o2"}

VISIBLE_ORGS = {
    "platformAdmin": ALL_ORGS,
    "hostAdmin": {"host"},
    "mvnoAdmin": M1_TREE,
    "careAgent": M1_TREE,
    "partnerAdmin": {"p1", "o1", "m1", "host"},  # own, child, its MVNO; not parent or sibling
    "nationalAdmin": {"n", "p1", "p2", "o1", "o2", "m1", "host"},
    "outletClerk": {"o1", "m1", "host"},
    "subscriber": {"m1", "host"},
    "mvno2Admin": {"m2", "q", "r", "host"},
}

ALL_AUTHS = {"a_n", "a_p1", "a_p2", "a_o1", "a_o2", "b_q", "b_r"}
M1_AUTHS = {"a_n", "a_p1", "a_p2", "a_o1", "a_o2"}
VISIBLE_AUTHS = {
    "platformAdmin": ALL_AUTHS,
    "hostAdmin": set(),
    "mvnoAdmin": M1_AUTHS,
    "careAgent": M1_AUTHS,
    "partnerAdmin": {"a_p1", "a_o1"},
    "nationalAdmin": M1_AUTHS,
    "outletClerk": {"a_o1"},
    "subscriber": set(),
    "mvno2Admin": {"b_q", "b_r"},
}

VISIBLE_PEOPLE = {
    "platformAdmin": {"s1", "s2"},
    "mvnoAdmin": {"s1"},
    "careAgent": {"s1"},
    "subscriber": {"s1"},
    "mvno2Admin": {"s2"},
}

ROLES = sorted(VISIBLE_ORGS)


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, backends: dict[str, Backend]
) -> Iterator[tuple[World, httpx.Client]]:
    backend = backends[request.param]
    backend.clean()
    built = build(backend.db)
    with httpx.Client(base_url=backend.serve(), timeout=10) as client:
        yield built, client


def _listed(client: httpx.Client, path: str, headers: dict[str, str]) -> set[str]:
    response = client.get(path, headers=headers, params={"limit": 1000})
    assert response.status_code == 200, response.text
    assert int(response.headers["X-Total-Count"]) == len(response.json())
    return {item["id"] for item in response.json()}


@pytest.mark.parametrize("role", ROLES)
def test_organisations(world: tuple[World, httpx.Client], role: str) -> None:
    w, client = world
    headers = auth_header(w, role)
    public = {key: ids.to_public("organization", w.org[key]) for key in ALL_ORGS}
    for key, org_id in public.items():
        response = client.get(f"/tmf-api/party/v4/organization/{org_id}", headers=headers)
        expected = 200 if key in VISIBLE_ORGS[role] else 404
        assert response.status_code == expected, (role, key, response.text)
        if expected == 404:
            assert response.json()["code"] == "not_found"
    seen = _listed(client, "/tmf-api/party/v4/organization", headers)
    assert seen == {public[k] for k in VISIBLE_ORGS[role]}


@pytest.mark.parametrize("role", ROLES)
def test_channel_authorisations(world: tuple[World, httpx.Client], role: str) -> None:
    w, client = world
    headers = auth_header(w, role)
    public = {k: ids.to_public("channel_authorisation", v) for k, v in w.auth.items()}
    for key, auth_id in public.items():
        expected = 200 if key in VISIBLE_AUTHS[role] else 404
        for path in (
            f"/openmvne/v1/channelAuthorisations/{auth_id}",
            f"/tmf-api/partyRoleManagement/v4/partyRole/{auth_id}",
            f"/openmvne/v1/channelAuthorisations/{auth_id}/subtree",
        ):
            response = client.get(path, headers=headers)
            assert response.status_code == expected, (role, key, path, response.text)
    wanted = {public[k] for k in VISIBLE_AUTHS[role]}
    assert _listed(client, "/openmvne/v1/channelAuthorisations", headers) == wanted
    assert _listed(client, "/tmf-api/partyRoleManagement/v4/partyRole", headers) == wanted


@pytest.mark.parametrize("role", ROLES)
def test_individuals(world: tuple[World, httpx.Client], role: str) -> None:
    w, client = world
    headers = auth_header(w, role)
    visible = VISIBLE_PEOPLE.get(role, set())
    for key, person in w.person.items():
        person_id = ids.to_public("individual", person)
        response = client.get(f"/tmf-api/party/v4/individual/{person_id}", headers=headers)
        assert response.status_code == (200 if key in visible else 404), (role, key)
    seen = _listed(client, "/tmf-api/party/v4/individual", headers)
    assert seen == {ids.to_public("individual", w.person[k]) for k in visible}


def test_subtree_lists_only_descendants(world: tuple[World, httpx.Client]) -> None:
    w, client = world
    root = ids.to_public("channel_authorisation", w.auth["a_p1"])
    seen = _listed(
        client, f"/openmvne/v1/channelAuthorisations/{root}/subtree", auth_header(w, "mvnoAdmin")
    )
    assert seen == {ids.to_public("channel_authorisation", w.auth[k]) for k in ("a_p1", "a_o1")}


@pytest.mark.parametrize("role", ["partnerAdmin", "outletClerk", "mvno2Admin", "hostAdmin"])
def test_foreign_objects_cannot_be_changed(world: tuple[World, httpx.Client], role: str) -> None:
    """Writes on objects outside the scope answer 404 as reads do, and change nothing."""
    w, client = world
    headers = auth_header(w, role)
    sibling = ids.to_public("channel_authorisation", w.auth["a_p2"])
    response = client.post(f"/openmvne/v1/channelAuthorisations/{sibling}/suspend", headers=headers)
    assert response.status_code == 404
    m1 = ids.to_public("organization", w.org["m1"] if role == "mvno2Admin" else w.org["m2"])
    response = client.patch(
        f"/tmf-api/party/v4/organization/{m1}", headers=headers, json={"tradingName": "hijacked"}
    )
    assert response.status_code == 404
    check = client.get(
        f"/openmvne/v1/channelAuthorisations/{sibling}", headers=auth_header(w, "platformAdmin")
    )
    assert check.json()["status"] == "approved"


@pytest.mark.parametrize("role", ["careAgent", "subscriber", "mvno2Admin"])
def test_only_the_mvno_changes_a_real_name_record(
    world: tuple[World, httpx.Client], role: str
) -> None:
    """A line's holder is registered under the name on their ID: the holder, a care agent
    and (404, as any foreign object) another MVNO cannot rename them; the MVNO can."""
    w, client = world
    url = f"/tmf-api/party/v4/individual/{ids.to_public('individual', w.person['s1'])}"
    response = client.patch(url, headers=auth_header(w, role), json={"givenName": "改名"})
    assert response.status_code == (404 if role == "mvno2Admin" else 403), response.text
    assert client.get(url, headers=auth_header(w, "mvnoAdmin")).json()["givenName"] == "伟"
    renamed = client.patch(url, headers=auth_header(w, "mvnoAdmin"), json={"givenName": "伟"})
    assert renamed.status_code == 200, renamed.text


def test_only_the_mvno_removes_a_real_name_record(world: tuple[World, httpx.Client]) -> None:
    """Removing a record is a correction of it, the MVNO's as renaming is: a care agent, the
    seller who registered the person and the holder are refused (403), another MVNO does
    not see it (404); nothing is removed until the MVNO does it."""
    w, client = world
    made = client.post(
        "/tmf-api/party/v4/individual",
        headers=auth_header(w, "outletClerk"),
        json={
            "givenName": "强",
            "familyName": "王",
            "mvnoId": ids.to_public("organization", w.org["m1"]),
        },
    )
    assert made.status_code == 201, made.text
    url = f"/tmf-api/party/v4/individual/{made.json()['id']}"
    for role, status in (
        ("careAgent", 403),
        ("outletClerk", 403),
        ("partnerAdmin", 403),
        ("subscriber", 403),
        ("mvno2Admin", 404),
    ):
        response = client.delete(url, headers=auth_header(w, role))
        assert response.status_code == status, (role, response.text)
        assert client.get(url, headers=auth_header(w, "mvnoAdmin")).status_code == 200
    assert client.delete(url, headers=auth_header(w, "mvnoAdmin")).status_code == 204
    assert client.get(url, headers=auth_header(w, "mvnoAdmin")).status_code == 404
