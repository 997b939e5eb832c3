"""Cards over HTTP: import, transfers, stock, sleeves, TMF639, scope, secrets."""

from __future__ import annotations

import uuid

import httpx
import pytest

from openmvne import ids
from openmvne.domain.sims import make_iccid
from openmvne.services import parties
from tests.api.test_conventions import assert_problem
from tests.conftest import Backend
from tests.numbers_world import NumbersWorld, build_numbers
from tests.services.test_sims import KI, blank, factory
from tests.world import auth_header

V1 = "/openmvne/v1"
RESOURCE = "/tmf-api/resourceInventoryManagement/v4/resource"


@pytest.fixture
def nw(backend: Backend) -> NumbersWorld:
    nw = build_numbers(backend.db)
    parties.add_brand(
        backend.db,
        nw.w.op,
        nw.w.org["m1"],
        "星河卡",
        "4001-170-170",
        highlights=["全国流量不限速", "来电显示免费"],
    )
    return nw


def _import(
    http: httpx.Client, nw: NumbersWorld, rows: list[list[str]], **params: str
) -> httpx.Response:
    return http.post(
        f"{V1}/simBatches",
        headers=auth_header(nw.w, "mvnoAdmin"),
        params=params,
        json={
            "name": "第一批",
            "hostId": ids.to_public("organization", nw.w.org["host"]),
            "csv": factory(rows),
        },
    )


def test_import_transfer_and_print(http: httpx.Client, nw: NumbersWorld) -> None:
    w = nw.w
    prebound = [
        make_iccid("898601", 50),
        "460010000000050",
        KI,
        KI,
        "prebound",
        f"{nw.m1_blocks[0]}8888",
        "440300",
    ]
    created = _import(http, nw, [blank(1), blank(2), blank(3), prebound])
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["cardCount"] == 4
    assert KI not in created.text.lower()
    mvno = auth_header(w, "mvnoAdmin")
    moved = http.post(
        f"{V1}/stockTransfers",
        headers=mvno,
        json={
            "toId": ids.to_public("channel_authorisation", w.auth["a_n"]),
            "ranges": [{"first": make_iccid("898601", 1), "last": make_iccid("898601", 3)}],
        },
    )
    assert moved.status_code == 201, moved.text
    assert moved.json()["cardCount"] == 3
    sleeves = http.get(f"{moved.json()['href']}/sleeves", headers=mvno)
    assert sleeves.status_code == 200
    assert "星河卡" in sleeves.text
    assert "4001-170-170" in sleeves.text
    assert "全国流量不限速" in sleeves.text
    batch_sleeves = http.get(f"{body['href']}/sleeves", headers=mvno).text
    number = prebound[5]
    assert f"{number[:3]} {number[3:7]} {number[7:]}" in batch_sleeves
    cards = http.get(
        RESOURCE, headers=auth_header(w, "nationalAdmin"), params={"resourceSpecification": "sim"}
    ).json()
    assert len(cards) == 3
    assert all("ki" not in {k.lower() for k in c} for c in cards)
    one = http.get(f"{RESOURCE}/{make_iccid('898601', 1)}", headers=auth_header(w, "mvnoAdmin"))
    assert one.json()["resourceSpecification"]["id"] == "sim"
    for who in ("mvno2Admin", "partnerAdmin", "outletClerk"):
        assert (
            http.get(
                f"{RESOURCE}/{make_iccid('898601', 1)}", headers=auth_header(w, who)
            ).status_code
            == 404
        )
    stock = http.get(f"{V1}/simStock", headers=mvno).json()
    assert {(s["holderId"], s["count"]) for s in stock} == {
        (ids.to_public("organization", w.org["m1"]), 1),
        (ids.to_public("organization", w.org["n"]), 3),
    }


def test_bad_imports_and_transfers(http: httpx.Client, nw: NumbersWorld) -> None:
    w = nw.w
    bad = _import(http, nw, [blank(1), blank(1)])
    problem = assert_problem(bad, 422, "bad_card_file")
    assert problem["rejects"][0]["line"] == 3
    header = http.post(
        f"{V1}/simBatches",
        headers=auth_header(w, "mvnoAdmin"),
        json={
            "name": "x",
            "hostId": ids.to_public("organization", w.org["host"]),
            "csv": "a,b\n1,2\n",
        },
    )
    assert_problem(header, 400, "bad_card_file_header")
    assert _import(http, nw, [blank(1), blank(1)], skipInvalid="true").json()["cardCount"] == 1
    refused = http.post(
        f"{V1}/stockTransfers",
        headers=auth_header(w, "mvnoAdmin"),
        json={
            "toId": ids.to_public("channel_authorisation", w.auth["a_p1"]),
            "iccids": [make_iccid("898601", 1)],
        },
    )
    assert_problem(refused, 403, "not_along_the_tree")
    none = http.post(
        f"{V1}/stockTransfers",
        headers=auth_header(w, "partnerAdmin"),
        json={
            "toId": ids.to_public("channel_authorisation", w.auth["a_o1"]),
            "iccids": [make_iccid("898601", 1)],
        },
    )
    assert_problem(none, 409, "cards_not_held")
    assert_problem(
        http.post(
            f"{V1}/simBatches",
            headers=auth_header(w, "partnerAdmin"),
            json={
                "name": "x",
                "hostId": ids.to_public("organization", w.org["host"]),
                "csv": factory([blank(9)]),
            },
        ),
        403,
        "role_required",
    )


def test_a_card_is_marked_faulty_or_destroyed_by_hand_and_nothing_else(
    http: httpx.Client, nw: NumbersWorld
) -> None:
    """By hand a card becomes faulty or destroyed; sold, active and the rest follow sales and
    lines (a shelf card set to active by hand could never be sold). Imports for an MVNO
    only."""
    assert _import(http, nw, [blank(1)]).status_code == 201
    url = f"{V1}/simCards/{make_iccid('898601', 1)}"
    mvno = auth_header(nw.w, "mvnoAdmin")
    for state in ("sold", "active", "inStock", "closed"):
        assert_problem(
            http.patch(url, headers=mvno, json={"state": state}), 422, "state_not_manual"
        )
    assert http.patch(url, headers=mvno, json={"state": "faulty"}).json()["cardState"] == "faulty"
    assert (
        http.patch(url, headers=mvno, json={"state": "destroyed"}).json()["cardState"]
        == "destroyed"
    )
    assert_problem(
        http.patch(url, headers=mvno, json={"state": "faulty"}), 409, "card_state_conflict"
    )
    outlet = ids.to_public("organization", nw.w.org["o1"])
    refused = http.post(
        f"{V1}/simBatches",
        headers=auth_header(nw.w, "platformAdmin"),
        json={
            "name": "错批",
            "mvnoId": outlet,
            "hostId": ids.to_public("organization", nw.w.org["host"]),
            "csv": factory([blank(2)]),
        },
    )
    assert_problem(refused, 400, "not_an_mvno")


@pytest.mark.parametrize("who", ["partnerAdmin", "outletClerk"])
def test_a_channel_cannot_tell_a_siblings_channel_from_no_channel(
    http: httpx.Client, nw: NumbersWorld, who: str
) -> None:
    """Stock goes to a child or the parent. Any other edge the sender may not see (P2's and
    O2's, for P1 and O1) is as absent as one that does not exist: 404, not a 403 that
    confirms it is there and where it sits."""
    w = nw.w
    for target in ("a_p2", "a_o2", "b_q"):
        response = http.post(
            f"{V1}/stockTransfers",
            headers=auth_header(w, who),
            json={
                "toId": ids.to_public("channel_authorisation", w.auth[target]),
                "iccids": [make_iccid("898601", 1)],
            },
        )
        assert_problem(response, 404, "not_found")
    # Its own edge is one it sees: still not a route.
    own = "a_p1" if who == "partnerAdmin" else "a_o1"
    refused = http.post(
        f"{V1}/stockTransfers",
        headers=auth_header(w, who),
        json={
            "toId": ids.to_public("channel_authorisation", w.auth[own]),
            "iccids": [make_iccid("898601", 1)],
        },
    )
    assert_problem(refused, 403, "not_along_the_tree")


def test_only_stock_handlers_mark_a_card(http: httpx.Client, nw: NumbersWorld) -> None:
    """Marking a card faulty or destroyed is stock handling (the MVNO, its channels and
    outlets), not care's: a care agent who may see the MVNO's cards cannot destroy them."""
    assert _import(http, nw, [blank(1)]).status_code == 201
    url = f"{V1}/simCards/{make_iccid('898601', 1)}"
    care = auth_header(nw.w, "careAgent")
    refused = http.patch(url, headers=care, json={"state": "destroyed"})
    assert_problem(refused, 403, "role_required")
    card = http.get(f"{RESOURCE}/{make_iccid('898601', 1)}", headers=auth_header(nw.w, "mvnoAdmin"))
    assert card.json()["cardState"] == "inStock"


def test_an_mvno_cannot_import_cards_for_another_mvno(http: httpx.Client, nw: NumbersWorld) -> None:
    """Another MVNO's id is refused as a made-up one is, never replaced by the caller's own."""
    w = nw.w
    body = {"name": "别家的卡", "hostId": ids.to_public("organization", w.org["host"])}
    for other in (w.org["m2"], uuid.uuid4()):
        named = {**body, "mvnoId": ids.to_public("organization", other), "csv": factory([blank(1)])}
        problem = assert_problem(
            http.post(f"{V1}/simBatches", headers=auth_header(w, "mvnoAdmin"), json=named),
            404,
            "not_found",
        )
        assert problem["field"] == "mvnoId"
    own = {**body, "mvnoId": ids.to_public("organization", w.org["m1"]), "csv": factory([blank(1)])}
    made = http.post(f"{V1}/simBatches", headers=auth_header(w, "mvnoAdmin"), json=own)
    assert made.status_code == 201, made.text
    m2 = {**body, "mvnoId": ids.to_public("organization", w.org["m2"]), "csv": factory([blank(2)])}
    made = http.post(f"{V1}/simBatches", headers=auth_header(w, "platformAdmin"), json=m2)
    assert made.status_code == 201, made.text
    assert http.get(made.json()["href"], headers=auth_header(w, "mvno2Admin")).status_code == 200


def test_an_mvno_cannot_send_cards_as_another_mvno(http: httpx.Client, nw: NumbersWorld) -> None:
    """A transfer's mvnoId names the sender: another MVNO's is not found, not read as M1."""
    w = nw.w
    assert _import(http, nw, [blank(1), blank(2)]).status_code == 201
    body = {
        "toId": ids.to_public("channel_authorisation", w.auth["a_n"]),
        "iccids": [make_iccid("898601", 1)],
    }
    mvno = auth_header(w, "mvnoAdmin")
    for other in (w.org["m2"], uuid.uuid4()):
        named = {**body, "mvnoId": ids.to_public("organization", other)}
        problem = assert_problem(
            http.post(f"{V1}/stockTransfers", headers=mvno, json=named), 404, "not_found"
        )
        assert problem["field"] == "mvnoId"
    own = {**body, "mvnoId": ids.to_public("organization", w.org["m1"])}
    assert http.post(f"{V1}/stockTransfers", headers=mvno, json=own).status_code == 201
