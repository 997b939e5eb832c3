"""`mvne demo seed`: a small, reproducible business to look at (grows with each capability).

All names are fictional except the three host networks. Every write goes through the
services, exactly as an operator's would.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select

from openmvne import clock, ids
from openmvne.config import get_settings
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.demo import care as demo_care
from openmvne.demo import subscribers as demo_subscribers
from openmvne.domain import settlement as settlement_rules
from openmvne.domain.access import Actor
from openmvne.domain.catalog import OfferKind, PriceModel, RevenueTier, UnitRates
from openmvne.domain.channels import ChannelLevel, Transition
from openmvne.domain.numbers import BLOCK_SIZE, HostNetwork, NumberRange
from openmvne.domain.parties import OrgKind, PartnerType, Role
from openmvne.domain.sims import CardLine, make_iccid
from openmvne.domain.subscribers import LineState
from openmvne.money import parse_rate_fen
from openmvne.network import wiring
from openmvne.network.provisioning import HostProvisioning
from openmvne.services import (
    catalog,
    channels,
    lifecycle,
    money,
    number_supply,
    parties,
    settlement,
    sims,
    users,
)

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
PROVINCES_PER_MVNO = 4
OUTLETS_PER_CITY = 2
OUTLETS_PER_MVNO = PROVINCES_PER_MVNO * OUTLETS_PER_CITY
TICKETS_PER_DAY = 12
TICKETS_TODAY = 6  # per demo care team, left open

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
    lines: Counter[str] = field(default_factory=Counter)  # subscriber lines by state
    usage: dict[str, int] = field(default_factory=dict)  # the history's rating summary
    user_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    outlets: list[uuid.UUID] = field(default_factory=list)
    care_partner: tuple[uuid.UUID, str, str] | None = None  # (party, region, name)
    tickets: int = 0
    settled: list[str] = field(default_factory=list)  # months closed by the seed


def is_seeded(db: Database) -> bool:
    o = t.organization
    stmt = unscoped(select(o.c.id).where(o.c.kind == OrgKind.MVNO.value).limit(1), "demo check")
    with db.read() as conn:
        return conn.execute(stmt).first() is not None


def seed(
    db: Database,
    seed_value: int = 2016,
    *,
    network: HostProvisioning | None = None,
    per_outlet: int = 45,
    history_days: int = 30,
    progress: Callable[[int], None] | None = None,
) -> World:
    """The world as it was `history_days` ago, then those days of usage rated and the
    lifecycle brought up to now: a business with a past, not empty tables."""
    now = clock.now()
    start = now - timedelta(days=history_days)
    with clock.frozen(start):
        world = _build(db, seed_value, network, per_outlet, progress)
    if history_days:
        world.usage = demo_subscribers.usage_history(db, start, now, seed_value)
        lifecycle.tick(db)
        world.settled = _settle_ended_months(db, start, now)
    _care(db, world, random.Random(seed_value + 1))
    return world


def _care(db: Database, world: World, rng: random.Random) -> None:
    """Care teams with the demo's agents in them, and a desk with work: tickets opened at
    outlets over the last days, some already taken up or resolved."""
    op = users.operator(db)
    assert world.care_partner is not None  # set by _build
    teams = demo_care.seed_teams(db, op, world.mvnos, world.care_partner)
    first = next(iter(world.mvnos))
    demo_care.add_agent(db, op, teams[f"main:{first}"], world.user_ids["care-xinghe"])
    demo_care.add_agent(db, op, teams["partner"], world.user_ids["care-guangdong"])
    now = clock.now()
    for days_ago in (3, 2, 1):
        with clock.frozen(now - timedelta(days=days_ago, hours=rng.randrange(8))):
            world.tickets += demo_care.open_tickets(
                db, world.outlets, rng, TICKETS_PER_DAY, f"seed-{days_ago}"
            )
            demo_care.work_tickets(db, rng, share=0.6)
    # Today's new work for the demo's agents: 星河移动's customers in Guangdong (the agent's
    # team) and elsewhere (its own desk).
    xinghe = world.mvnos[first]
    live = LineState.ACTIVE
    guangdong = demo_subscribers.lines_in(
        db, live, mvno_id=xinghe, region_prefix=world.care_partner[1][:2]
    )
    elsewhere = sorted(set(demo_subscribers.lines_in(db, live, mvno_id=xinghe)) - set(guangdong))
    for tag, among in (("gd", guangdong), ("desk", elsewhere)):
        world.tickets += demo_care.open_tickets(
            db, world.outlets, rng, TICKETS_TODAY, f"seed-today-{tag}", among=among
        )


def _settle_ended_months(db: Database, start: datetime, now: datetime) -> list[str]:
    """Close each month of the history that has ended: wholesale bills, commission
    statements and margins are there to look at from the first start."""
    op = users.operator(db)
    month, this_month = settlement_rules.month_of(start), settlement_rules.month_of(now)
    closed = []
    while month < this_month:
        settlement.settle(db, op, month, close=True)
        closed.append(month)
        month = settlement_rules.add_months(month, 1)
    return closed


def _a_holder(db: Database, mvno_id: uuid.UUID) -> uuid.UUID:
    """The holder of the first line in service of the MVNO (by number: reproducible)."""
    sub = t.subscription
    stmt = unscoped(
        select(sub.c.individual_id)
        .where(sub.c.mvno_id == mvno_id, sub.c.state == "active")
        .order_by(sub.c.msisdn)
        .limit(1),
        "demo",
    )
    with db.read() as conn:
        return conn.execute(stmt).scalar_one()  # type: ignore[no-any-return]  # Uuid column


def _build(
    db: Database,
    seed_value: int,
    network: HostProvisioning | None,
    per_outlet: int,
    progress: Callable[[int], None] | None,
) -> World:
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
            for street in rng.sample(
                ["人民路", "解放路", "中山路", "建设路", "和平路"], OUTLETS_PER_CITY
            )
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
        covered = [REGIONS[(index + k) % len(REGIONS)] for k in range(PROVINCES_PER_MVNO)]
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

    _catalog(db, op, world, province_agents["440000"])
    _cards(db, op, world, province_agents["440000"], outlets["440300"][0])
    every_outlet = [o for city in outlets.values() for o in city]
    for outlet in every_outlet:
        money.pay_float(
            db, op, outlet_id=outlet, amount_fen=5_000_000, idempotency_key=f"demo-float-{outlet}"
        )
    world.lines = demo_subscribers.populate(
        db,
        op,
        [(world.mvnos[m[0]], (m[2], world.hosts[m[2]])) for m in MVNOS],
        network or wiring.from_settings(get_settings()),
        rng,
        per_outlet=per_outlet,
        progress=progress,
    )
    _recharges(db, op, every_outlet, _some_live_lines(db, rng), rng)
    first_mvno = world.mvnos[MVNOS[0][0]]
    _user(db, op, world, "mvno-xinghe", first_mvno, Role.MVNO_ADMIN)
    _user(db, op, world, "care-xinghe", first_mvno, Role.CARE_AGENT)
    _user(db, op, world, "partner-guangdong", province_agents["440000"], Role.PARTNER_ADMIN)
    _user(db, op, world, "outlet-shenzhen", outlets["440300"][0], Role.OUTLET_CLERK)
    _user(db, op, world, "care-guangdong", province_agents["440000"], Role.CARE_AGENT)
    # The demo subscriber holds real lines (a balance, usage, tickets to follow).
    _user(db, op, world, "subscriber-demo", _a_holder(db, first_mvno), Role.SUBSCRIBER)
    world.care_partner = (province_agents["440000"], "440000", "广东省鸿运通信代理有限公司")
    world.outlets = every_outlet
    return world


HOST_AVERAGES_2015 = {  # fen per minute / message / MB, from each host's 2015 results
    "China Telecom": ("9", "6", "8.1"),
    "China Mobile": ("8.5", "5.5", "7.3"),
    "China Unicom": ("9.2", "6.2", "7.9"),
}


def _catalog(db: Database, op: Actor, world: World, guangdong_agent: uuid.UUID) -> None:
    """2016-style offers on resource-pool wholesale terms, and one partner package."""
    for host_name, (voice, sms, data) in HOST_AVERAGES_2015.items():
        catalog.set_host_average(
            db,
            op,
            host_id=world.hosts[host_name],
            year=2015,
            rates=UnitRates(parse_rate_fen(voice), parse_rate_fen(sms), parse_rate_fen(data)),
            results_published_on=date(2016, 3, 20),
        )
    tiers = [
        RevenueTier(0, 0),
        RevenueTier(100_000_000_00, 1000),
        RevenueTier(500_000_000_00, 2000),
    ]
    for name, _brands, host_name, _segments in MVNOS:
        mvno_id = world.mvnos[name]
        host_id = world.hosts[host_name]
        catalog.create_price_list(
            db,
            op,
            host_id=host_id,
            mvno_id=mvno_id,
            model=PriceModel.POOL,
            valid_from=date(2016, 1, 1),
            valid_to=None,
            rates=UnitRates(parse_rate_fen("6"), parse_rate_fen("4"), parse_rate_fen("1.2")),
            revenue_tiers=tiers,
            annual_revenue_fen=20_000_000_00,
            host_packages=[],
            per_number_fee_fen=100,
        )
        brand_id = _first_brand(db, op, mvno_id)
        ten_fen = {
            "voice_rate": parse_rate_fen("10"),
            "sms_rate": parse_rate_fen("10"),
            "data_rate": parse_rate_fen("10"),
        }
        catalog.create_offer(
            db,
            op,
            brand_id=brand_id,
            host_id=host_id,
            kind=OfferKind.PAYG,
            name="随心打 0.1元/分钟/条/MB",
            terms={**ten_fen, "description": "no monthly fee, incoming free"},
        )
        catalog.create_offer(
            db,
            op,
            brand_id=brand_id,
            host_id=host_id,
            kind=OfferKind.PLAN,
            name="59元 3GB 月租套餐",
            terms={
                **ten_fen,
                "monthly_fee_fen": 5900,
                "data_mb": 3072,
                "voice_min": 100,
                "rollover_data": True,
            },
        )
        catalog.create_offer(
            db,
            op,
            brand_id=brand_id,
            host_id=host_id,
            kind=OfferKind.ADDON,
            name="1GB 流量加油包",
            terms={**ten_fen, "monthly_fee_fen": 2000, "data_mb": 1024, "validity_days": 30},
        )
        catalog.create_offer(
            db,
            op,
            brand_id=brand_id,
            host_id=host_id,
            kind=OfferKind.ADDON,
            name="来电显示",
            terms={**ten_fen, "monthly_fee_fen": 300},
        )
        catalog.create_offer(
            db,
            op,
            brand_id=brand_id,
            host_id=host_id,
            kind=OfferKind.PRETTY_NUMBER_PLAN,
            name="靓号 99元保底24个月",
            terms={**ten_fen, "min_monthly_spend_fen": 9900, "term_months": 24},
        )
    first = world.mvnos[MVNOS[0][0]]
    partner = Actor(
        None, "demo-partner", guangdong_agent, OrgKind.PARTNER, frozenset({Role.PARTNER_ADMIN})
    )
    offers, _ = catalog.list_offers(
        db, op.scope, {"mvnoId": ids.to_public("organization", first)}, 0, 100
    )
    by_name = {o["name"]: o["id"] for o in offers}
    designer = next(
        a
        for a in channels.list_authorisations(db, partner.scope, {}, 0, 100)[0]
        if a["mvno_id"] == first and a["party_id"] == guangdong_agent
    )
    design = catalog.create_design(
        db,
        partner,
        name="广东青春卡 4GB",
        base_offering_id=by_name["59元 3GB 月租套餐"],
        addon_ids=[by_name["1GB 流量加油包"]],
        price_fen=7500,
        designer_id=designer["id"],
    )
    catalog.decide_design(db, partner, design["id"], "submit")
    catalog.decide_design(db, op, design["id"], "approve")
    catalog.decide_design(db, op, design["id"], "publish")
    # And one waiting for the MVNO's decision (the portal's /mvno/catalog).
    waiting = catalog.create_design(
        db,
        partner,
        name="广东畅聊卡 6GB",
        base_offering_id=by_name["59元 3GB 月租套餐"],
        addon_ids=[by_name["1GB 流量加油包"]] * 3,
        price_fen=12900,
        designer_id=designer["id"],
    )
    catalog.decide_design(db, partner, waiting["id"], "submit")


def _first_brand(db: Database, op: Actor, mvno_id: uuid.UUID) -> uuid.UUID:
    brands, _ = catalog.list_brands(db, op.scope, 0, 100)
    return next(b["id"] for b in brands if b["mvno_id"] == mvno_id)  # type: ignore[no-any-return]


def _cards(db: Database, op: Actor, world: World, agent: uuid.UUID, outlet: uuid.UUID) -> None:
    """A factory batch for the first MVNO, released down one branch of its tree."""
    mvno = world.mvnos[MVNOS[0][0]]
    lines = [
        CardLine(
            i + 2,
            make_iccid("898601", 7_000_000 + i),
            f"46001{7_000_000 + i:010d}",
            f"{i:032x}",
            f"{i + 1:032x}",
            "blank",
            "",
            "",
        )
        for i in range(300)
    ]
    sims.import_batch(
        db,
        op,
        mvno_id=mvno,
        host_id=world.hosts["China Unicom"],
        name="2016-11 星河卡 第一批",
        lines=lines,
    )
    edges = {
        (e["party_id"], e["mvno_id"]): e
        for e in channels.list_authorisations(db, op.scope, {}, 0, 1000)[0]
    }
    agent_edge = edges[(agent, mvno)]
    national = agent_edge["parent_id"]
    iccids = [line.iccid for line in lines]
    sims.transfer(db, op, mvno_id=mvno, to_auth_id=national, iccids=iccids[:200])
    sims.transfer(
        db,
        op,
        mvno_id=mvno,
        from_auth_id=national,
        to_auth_id=agent_edge["id"],
        iccids=iccids[:100],
    )
    city = next(
        e for (party, m), e in edges.items() if m == mvno and e["parent_id"] == agent_edge["id"]
    )
    sims.transfer(
        db,
        op,
        mvno_id=mvno,
        from_auth_id=agent_edge["id"],
        to_auth_id=city["id"],
        iccids=iccids[:50],
    )
    outlet_edge = edges[(outlet, mvno)]
    sims.transfer(
        db,
        op,
        mvno_id=mvno,
        from_auth_id=city["id"],
        to_auth_id=outlet_edge["id"],
        iccids=iccids[:20],
    )


def _recharges(
    db: Database, op: Actor, outlets: list[uuid.UUID], lines: list[str], rng: random.Random
) -> None:
    """Outlets recharge lines of any brand (cross-brand)."""
    for i, line in enumerate(lines):
        outlet = rng.choice(outlets)
        money.recharge(
            db,
            op,
            msisdn=line,
            amount_fen=rng.choice([3000, 5000, 10_000]),
            channel_order_number=f"demo-{i}",
            idempotency_key=f"demo-recharge-{i}",
            outlet_id=outlet,
        )


def _some_live_lines(db: Database, rng: random.Random) -> list[str]:
    """A sample of the lines in service, for the demo's cross-brand recharges."""
    lines = demo_subscribers.lines_in(db, LineState.ACTIVE)
    return rng.sample(lines, min(len(lines), 60))


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
    made = users.add_user(
        db, op, username=username, party_id=party, roles=frozenset({role}), password=DEMO_PASSWORD
    )
    world.logins.append((username, role.value, DEMO_PASSWORD))
    world.user_ids[username] = uuid.UUID(str(made["id"]))
