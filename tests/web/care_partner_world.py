"""The portal world (tests/web/portal_world.py) with care and partner set-up, built through
the services: M1's care teams A (its main team) and B, partner P1's team (serving M1's brand
in Guangdong), a routing rule per ticket type, one ticket for each team about the first line,
five blank cards in M1's own stock (for SIM replacements) and ten with P1 (to move down).

Users: "agent" (M1, team A), "agent_b" (M1, team B), "p1agent" (P1, P1's team), "m2agent"
(M2, no team), "partner" (P1's administrator); the portal world's users remain.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from openmvne import ids
from openmvne.domain.care import TicketType
from openmvne.domain.parties import Role
from openmvne.domain.sims import make_iccid
from openmvne.services import care, care_teams, sims, users
from tests.conftest import Backend
from tests.subscribers_world import card_file, person
from tests.web.portal_world import PASSWORD, PortalWorld, build_portal_world

M1_STOCK = range(4000, 4005)
P1_STOCK = range(4100, 4110)
HOLDER = person(1)  # the first line's holder, as the portal world sold it


@dataclass
class CareWorld:
    portal: PortalWorld
    team: dict[str, uuid.UUID] = field(default_factory=dict)
    ticket: dict[str, uuid.UUID] = field(default_factory=dict)
    user_id: dict[str, uuid.UUID] = field(default_factory=dict)
    m1_cards: list[str] = field(default_factory=list)
    p1_cards: list[str] = field(default_factory=list)

    def public(self, key: str) -> str:
        return ids.to_public("trouble_ticket", self.ticket[key])


def _cards(portal: PortalWorld, serials: range, hops: list[str]) -> list[str]:
    w, db = portal.w, portal.db
    sims.import_batch(
        db,
        w.op,
        mvno_id=w.org["m1"],
        host_id=w.org["host"],
        name=f"care-partner-{serials.start}",
        lines=sims.read_lines(card_file(serials)),
    )
    iccids = [make_iccid("898601", s) for s in serials]
    previous = None
    for hop in hops:
        sims.transfer(
            db,
            w.op,
            mvno_id=w.org["m1"],
            to_auth_id=w.auth[hop],
            iccids=iccids,
            from_auth_id=previous,
        )
        previous = w.auth[hop]
    return iccids


def build_care_world(backend: Backend) -> CareWorld:
    portal = build_portal_world(backend)
    db, w = portal.db, portal.w
    op, m1 = w.op, w.org["m1"]
    assert portal.sw is not None
    brand = portal.sw.cw.brand["m1"]
    cw = CareWorld(portal)
    cw.team["a"] = care_teams.create_team(
        db, op, name="星河客服一组", owner_id=None, areas=[], main=True, mvno_id=m1
    )["id"]
    cw.team["b"] = care_teams.create_team(
        db, op, name="星河客服二组", owner_id=None, areas=[], mvno_id=m1
    )["id"]
    cw.team["p1"] = care_teams.create_team(
        db,
        op,
        name="鸿运客服",
        owner_id=w.org["p1"],
        areas=[care_teams.AreaIn(brand, "440000")],
        mvno_id=m1,
    )["id"]
    for kind, team in (
        (TicketType.SIM_REPLACEMENT, "a"),
        (TicketType.FAULTY_CARD, "b"),
    ):
        care_teams.create_route(
            db, op, team_id=cw.team[team], brand_id=None, region_code=None, ticket_type=kind,
            mvno_id=m1,
        )  # fmt: skip
    care_teams.create_route(
        db, op, team_id=cw.team["p1"], brand_id=brand, region_code="440000",
        ticket_type=TicketType.COMPLAINT, mvno_id=m1,
    )  # fmt: skip
    accounts: dict[str, tuple[uuid.UUID, Role, str | None]] = {
        "agent": (m1, Role.CARE_AGENT, "a"),
        "agent_b": (m1, Role.CARE_AGENT, "b"),
        "p1agent": (w.org["p1"], Role.CARE_AGENT, "p1"),
        "m2agent": (w.org["m2"], Role.CARE_AGENT, None),
        "partner": (w.org["p1"], Role.PARTNER_ADMIN, None),
    }
    for username, (party, role, staffs) in accounts.items():
        made = users.add_user(
            db, op, username=username, party_id=party, roles=frozenset({role}), password=PASSWORD
        )
        cw.user_id[username] = made["id"]
        portal.accounts[username] = (party, role)
        portal.made.add(username)
        if staffs is not None:
            care_teams.add_member(db, op, cw.team[staffs], made["id"])
    for key, kind, text in (
        ("a", TicketType.SIM_REPLACEMENT, "手机丢了，要补卡"),
        ("b", TicketType.FAULTY_CARD, "卡插上没信号"),
        ("p1", TicketType.COMPLAINT, "营业厅态度不好"),
    ):
        request = care.TicketRequest(
            msisdn=portal.msisdn, ticket_type=kind.value, severity="major", description=text
        )
        cw.ticket[key] = care.open_ticket(db, op, request)["id"]
    cw.m1_cards = _cards(portal, M1_STOCK, [])
    cw.p1_cards = _cards(portal, P1_STOCK, ["a_n", "a_p1"])
    return cw
