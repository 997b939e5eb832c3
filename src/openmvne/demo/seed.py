"""`mvne demo seed`: a small, reproducible business to look at (grows with each capability).

All names are fictional except the three host networks. Every write goes through the
services, exactly as an operator's would.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select

from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.access import Actor
from openmvne.domain.channels import ChannelLevel, Transition
from openmvne.domain.numbers import BLOCK_SIZE, HostNetwork, NumberRange
from openmvne.domain.parties import OrgKind, PartnerType, Role
from openmvne.services import channels, number_lifecycle, number_supply, parties, users

DEMO_PASSWORD = "openmvne-demo"

HOSTS = [
    ("中国电信", "China Telecom", HostNetwork.TELECOM),
    ("中国移动", "China Mobile", HostNetwork.MOBILE),
    ("中国联通", "China Unicom", HostNetwork.UNICOM),
]

# name, brands (name, service hotline), host network, the segments it draws blocks from
MVNOS = [
    (
        "星河移动",
        [("星河卡", "4001-170-170"), ("星河青春", "4001-170-171")],
        "China Unicom",
        ["171", "1704"],
    ),
    ("青桐通信", [("青桐", "4002-170-000")], "China Telecom", ["1700", "1701"]),
    ("云帆移动", [("云帆", "4003-170-000")], "China Mobile", ["1703", "1705"]),
    ("海鸥通信", [("海鸥", "4004-170-000")], "China Unicom", ["1707", "1708"]),
    ("北辰移动", [("北辰", "4005-170-000")], "China Telecom", ["1702"]),
    ("橙子移动", [("橙子卡", "4006-170-000")], "China Mobile", ["1706"]),
]
SEGMENTS = [
    ("China Telecom", ["1700", "1701", "1702"]),
    ("China Mobile", ["1703", "1705", "1706"]),
    ("China Unicom", ["1704", "1707", "1708", "1709", "171"]),
]
BLOCKS_PER_PROVINCE = 2

# (province code, prefecture code, province name, city name)
REGIONS = [
    ("440000", "440300", "广东", "深圳"),
    ("330000", "330100", "浙江", "杭州"),
    ("510000", "510100", "四川", "成都"),
    ("320000", "320100", "江苏", "南京"),
    ("370000", "370200", "山东", "青岛"),
    ("420000", "420100", "湖北", "武汉"),
]


@dataclass
class World:
    platform_id: uuid.UUID
    hosts: dict[str, uuid.UUID] = field(default_factory=dict)
    mvnos: dict[str, uuid.UUID] = field(default_factory=dict)
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # user, role, password


def is_seeded(db: Database) -> bool:
    o = t.organization
    stmt = unscoped(select(o.c.id).where(o.c.kind == OrgKind.MVNO.value).limit(1), "demo check")
    with db.read() as conn:
        return conn.execute(stmt).first() is not None


def seed(db: Database, seed_value: int = 2016) -> World:
    rng = random.Random(seed_value)
    op = users.operator(db)
    world = World(platform_id=op.party_id)
    _user(db, op, world, "admin", op.party_id, Role.PLATFORM_ADMIN)

    for cn, en, code in HOSTS:
        host = parties.create_organisation(
            db, op, kind=OrgKind.HOST_NETWORK, name=cn, trading_name=en, network_code=code
        )
        world.hosts[en] = host["id"]
    _user(db, op, world, "host-unicom", world.hosts["China Unicom"], Role.HOST_ADMIN)

    national = parties.create_organisation(
        db,
        op,
        kind=OrgKind.PARTNER,
        name="华通卡业（全国总包）",
        partner_type=PartnerType.NATIONAL_CONTRACTOR,
    )
    province_agents = {
        prov: parties.create_organisation(
            db,
            op,
            kind=OrgKind.PARTNER,
            name=f"{pname}省鸿运通信代理有限公司",
            partner_type=PartnerType.PROVINCIAL_CONTRACTOR,
            region_code=prov,
        )["id"]
        for prov, _city, pname, _cname in REGIONS
    }
    city_agents = {
        city: parties.create_organisation(
            db,
            op,
            kind=OrgKind.PARTNER,
            name=f"{cname}市百联通讯",
            partner_type=PartnerType.PREFECTURE_CONTRACTOR,
            region_code=city,
        )["id"]
        for _prov, city, _pname, cname in REGIONS
    }
    outlets = {
        city: [
            parties.create_organisation(
                db,
                op,
                kind=OrgKind.OUTLET,
                name=f"{cname}{street}手机卖场",
                region_code=city,
            )["id"]
            for street in rng.sample(["人民路", "解放路", "中山路", "建设路", "和平路"], 2)
        ]
        for _prov, city, _pname, cname in REGIONS
    }

    segments: dict[str, uuid.UUID] = {}
    for host_name, prefixes in SEGMENTS:
        for prefix in prefixes:
            registered = number_supply.register_segment(db, op, prefix, world.hosts[host_name])
            segments[prefix] = registered["id"]

    for index, (name, brand_list, _host, mvno_segments) in enumerate(MVNOS):
        mvno = parties.create_organisation(db, op, kind=OrgKind.MVNO, name=name)
        world.mvnos[name] = mvno["id"]
        for brand, hotline in brand_list:
            parties.add_brand(db, op, mvno["id"], brand, hotline)
        top = _grant(db, op, mvno["id"], national["id"], ChannelLevel.NATIONAL, None, None)
        # Each MVNO covers a different run of four provinces, so trees differ.
        covered = [REGIONS[(index + k) % len(REGIONS)] for k in range(4)]
        # One first allocation (exempt from the utilisation rule) of two blocks per province;
        # the host then sets each block's home region.
        granted = number_supply.allocate_now(
            db,
            op,
            mvno_id=mvno["id"],
            segment_id=segments[mvno_segments[0]],
            block_count=BLOCKS_PER_PROVINCE * len(covered),
            region_code=None,
        )["granted_prefixes"]
        for k, (prov, city, _pname, _cname) in enumerate(covered):
            mine = granted[k * BLOCKS_PER_PROVINCE : (k + 1) * BLOCKS_PER_PROVINCE]
            for prefix in mine:
                number_supply.set_block_region(db, op, prefix, city)
            agent = _grant(
                db,
                op,
                mvno["id"],
                province_agents[prov],
                ChannelLevel.PROVINCE,
                prov,
                top,
                exclusive=True,
            )
            # The province agent may sell the first block; the MVNO keeps the second.
            first = int(mine[0]) * BLOCK_SIZE
            number_supply.grant_sale_right(
                db, op, holder_id=agent, numbers=NumberRange(first, first + BLOCK_SIZE - 1)
            )
            sub = _grant(
                db,
                op,
                mvno["id"],
                city_agents[city],
                ChannelLevel.PREFECTURE,
                city,
                agent,
                exclusive=True,
            )
            for outlet in outlets[city]:
                _grant(db, op, mvno["id"], outlet, ChannelLevel.OUTLET, city, sub)

    _lines_in_service(db, op, rng)
    first_mvno = world.mvnos[MVNOS[0][0]]
    _user(db, op, world, "mvno-xinghe", first_mvno, Role.MVNO_ADMIN)
    _user(db, op, world, "care-xinghe", first_mvno, Role.CARE_AGENT)
    _user(db, op, world, "partner-guangdong", province_agents["440000"], Role.PARTNER_ADMIN)
    _user(db, op, world, "outlet-shenzhen", outlets["440300"][0], Role.OUTLET_CLERK)
    person = parties.create_individual(
        db, op, given_name="小明", family_name="王", mvno_id=first_mvno
    )
    _user(db, op, world, "subscriber-demo", person["id"], Role.SUBSCRIBER)
    return world


def _lines_in_service(db: Database, op: Actor, rng: random.Random) -> None:
    """A few numbers of each MVNO sold and in service, so lookups show live lines."""
    b = t.number_block
    stmt = unscoped(select(b.c.prefix).where(b.c.mvno_id.is_not(None)).order_by(b.c.prefix), "demo")
    with db.read() as conn:
        prefixes = conn.execute(stmt).scalars().all()
    for prefix in prefixes:
        for number in sorted({f"{prefix}{rng.randrange(10_000):04d}" for _ in range(3)}):
            reservation = number_lifecycle.reserve(db, op, [number])
            number_lifecycle.assign(db, op, reservation["id"], number, f"demo-{number}")
            number_lifecycle.activate(db, op, number)


def _grant(
    db: Database,
    op: Actor,
    mvno_id: uuid.UUID,
    party_id: uuid.UUID,
    level: ChannelLevel,
    region: str | None,
    parent: uuid.UUID | None,
    *,
    exclusive: bool = False,
) -> uuid.UUID:
    row = channels.request_authorisation(
        db,
        op,
        mvno_id=mvno_id,
        party_id=party_id,
        level=level,
        region_code=region,
        parent_id=parent,
        exclusive=exclusive,
    )
    channels.decide(db, op, row["id"], Transition.APPROVE)
    return row["id"]  # type: ignore[no-any-return]  # Uuid column


def _user(
    db: Database, op: Actor, world: World, username: str, party: uuid.UUID, role: Role
) -> None:
    users.add_user(
        db, op, username=username, party_id=party, roles=frozenset({role}), password=DEMO_PASSWORD
    )
    world.logins.append((username, role.value, DEMO_PASSWORD))
