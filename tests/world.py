"""A small channel world for tests, built through the services as an operator would.

MVNO M1 ── national contractor N (a_n)
            ├── province agent P1, Guangdong (a_p1, exclusive) ── outlet O1, Shenzhen (a_o1)
            └── province agent P2, Zhejiang  (a_p2, exclusive) ── outlet O2, Hangzhou (a_o2)
MVNO M2 ── province agent Q, Guangdong (b_q) ── outlet R, Shenzhen (b_r)

Users (each with an API token): one per role. P1 is "own" for its admin, O1 its child,
P2 its sibling, Q the other MVNO's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from openmvne.db.engine import Database
from openmvne.domain.access import Actor
from openmvne.domain.channels import ChannelLevel, Transition
from openmvne.domain.numbers import HostNetwork
from openmvne.domain.parties import OrgKind, PartnerType, Role
from openmvne.services import channels, parties, users


@dataclass
class World:
    op: Actor
    org: dict[str, uuid.UUID] = field(default_factory=dict)
    auth: dict[str, uuid.UUID] = field(default_factory=dict)
    person: dict[str, uuid.UUID] = field(default_factory=dict)
    token: dict[str, str] = field(default_factory=dict)
    actor: dict[str, Actor] = field(default_factory=dict)


def grant(
    db: Database,
    op: Actor,
    mvno: uuid.UUID,
    party: uuid.UUID,
    level: ChannelLevel,
    region: str | None,
    parent: uuid.UUID | None,
    *,
    exclusive: bool = False,
    approve: bool = True,
) -> uuid.UUID:
    row = channels.request_authorisation(
        db,
        op,
        mvno_id=mvno,
        party_id=party,
        level=level,
        region_code=region,
        parent_id=parent,
        exclusive=exclusive,
    )
    if approve:
        channels.decide(db, op, row["id"], Transition.APPROVE)
    return row["id"]  # type: ignore[no-any-return]


def build(db: Database) -> World:
    op = users.operator(db)
    w = World(op=op)
    w.org["platform"] = op.party_id

    def org(
        key: str,
        kind: OrgKind,
        name: str,
        ptype: PartnerType | None = None,
        region: str | None = None,
    ) -> uuid.UUID:
        w.org[key] = parties.create_organisation(
            db, op, kind=kind, name=name, partner_type=ptype, region_code=region
        )["id"]
        return w.org[key]

    w.org["host"] = parties.create_organisation(
        db, op, kind=OrgKind.HOST_NETWORK, name="中国联通", network_code=HostNetwork.UNICOM
    )["id"]
    m1 = org("m1", OrgKind.MVNO, "星河移动")
    m2 = org("m2", OrgKind.MVNO, "青桐通信")
    n = org("n", OrgKind.PARTNER, "华通卡业", PartnerType.NATIONAL_CONTRACTOR)
    p1 = org("p1", OrgKind.PARTNER, "广东鸿运", PartnerType.PROVINCIAL_CONTRACTOR, "440000")
    p2 = org("p2", OrgKind.PARTNER, "浙江鸿运", PartnerType.PROVINCIAL_CONTRACTOR, "330000")
    q = org("q", OrgKind.PARTNER, "粤通代理", PartnerType.PROVINCIAL_CONTRACTOR, "440000")
    o1 = org("o1", OrgKind.OUTLET, "深圳人民路手机卖场", region="440300")
    o2 = org("o2", OrgKind.OUTLET, "杭州解放路手机卖场", region="330100")
    r = org("r", OrgKind.OUTLET, "深圳中山路手机卖场", region="440300")

    w.auth["a_n"] = grant(db, op, m1, n, ChannelLevel.NATIONAL, None, None)
    w.auth["a_p1"] = grant(
        db, op, m1, p1, ChannelLevel.PROVINCE, "440000", w.auth["a_n"], exclusive=True
    )
    w.auth["a_p2"] = grant(
        db, op, m1, p2, ChannelLevel.PROVINCE, "330000", w.auth["a_n"], exclusive=True
    )
    w.auth["a_o1"] = grant(db, op, m1, o1, ChannelLevel.OUTLET, "440300", w.auth["a_p1"])
    w.auth["a_o2"] = grant(db, op, m1, o2, ChannelLevel.OUTLET, "330100", w.auth["a_p2"])
    w.auth["b_q"] = grant(db, op, m2, q, ChannelLevel.PROVINCE, "440000", None, exclusive=True)
    w.auth["b_r"] = grant(db, op, m2, r, ChannelLevel.OUTLET, "440300", w.auth["b_q"])

    w.person["s1"] = parties.create_individual(
        db, op, given_name="伟", family_name="张", mvno_id=m1
    )["id"]
    w.person["s2"] = parties.create_individual(
        db, op, given_name="芳", family_name="李", mvno_id=m2
    )["id"]

    accounts = {
        "platformAdmin": (op.party_id, Role.PLATFORM_ADMIN),
        "hostAdmin": (w.org["host"], Role.HOST_ADMIN),
        "mvnoAdmin": (m1, Role.MVNO_ADMIN),
        "partnerAdmin": (p1, Role.PARTNER_ADMIN),
        "outletClerk": (o1, Role.OUTLET_CLERK),
        "careAgent": (m1, Role.CARE_AGENT),
        "subscriber": (w.person["s1"], Role.SUBSCRIBER),
        "mvno2Admin": (m2, Role.MVNO_ADMIN),
        "nationalAdmin": (n, Role.PARTNER_ADMIN),
    }
    for username, (party, role) in accounts.items():
        users.add_user(
            db, op, username=username, party_id=party, roles=frozenset({role}), password=None
        )
        w.token[username] = users.create_token(db, op, username)
        w.actor[username] = users.actor_from_token(db, w.token[username])
    return w


def auth_header(world: World, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.token[who]}"}
