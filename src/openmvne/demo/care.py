"""The demo's after-sales desk: every MVNO's own care team, a partner's team serving its
province for the first MVNO (with a routing rule, so its tickets go there), the demo's care
agents in them, and tickets opened at outlets and worked by the desk.

The simulation calls `open_tickets` and `work_tickets` each day, so the queues move."""

from __future__ import annotations

import random
import uuid
from collections import Counter

from sqlalchemy import select

from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.demo.subscribers import clerk, lines_in
from openmvne.domain.access import Actor
from openmvne.domain.care import TicketStatus, TicketType
from openmvne.domain.parties import OrgKind, Role
from openmvne.domain.subscribers import LineState
from openmvne.errors import DomainError
from openmvne.services import care, care_teams
from openmvne.services.care import TicketRequest
from openmvne.services.care_teams import AreaIn

# What customers bring to the counter, with how often (weights) and what they say.
COMPLAINTS: list[tuple[TicketType, str, int, str]] = [
    (TicketType.INFO_QUERY, "minor", 5, "客户询问号码归属品牌和套餐余量"),
    (TicketType.RECHARGE_NOT_RECEIVED, "major", 3, "在其他网点充值50元未到账"),
    (TicketType.SERVICE_CHANGE, "minor", 2, "要求开通国际漫游"),
    (TicketType.FAULTY_CARD, "major", 2, "SIM卡无法识别，换手机也不行"),
    (TicketType.SIM_REPLACEMENT, "major", 1, "手机丢失，申请补卡"),
    (TicketType.COMPLAINT, "minor", 1, "客服热线一直打不通"),
]


def _desk(mvno: uuid.UUID) -> Actor:
    """The MVNO's care desk as the demo's actor working tickets (an administrator may)."""
    return Actor(None, "demo-desk", mvno, OrgKind.MVNO, frozenset({Role.MVNO_ADMIN}))


def seed_teams(
    db: Database,
    op: Actor,
    mvnos: dict[str, uuid.UUID],
    partner: tuple[uuid.UUID, str, str],
) -> dict[str, uuid.UUID]:
    """Each MVNO's main team; the partner (id, region code, name) serves its region for the
    first MVNO, with a routing rule. Returns team ids by "main:<mvno name>" / "partner"."""
    teams: dict[str, uuid.UUID] = {}
    for name, mvno in mvnos.items():
        team = care_teams.create_team(
            db, op, name=f"{name}客服中心", owner_id=None, areas=[], main=True, mvno_id=mvno
        )
        teams[f"main:{name}"] = team["id"]
    first = next(iter(mvnos.values()))
    partner_id, region, partner_name = partner
    team = care_teams.create_team(
        db,
        op,
        name=f"{partner_name}售后服务部",
        owner_id=partner_id,
        areas=[AreaIn(None, region)],
        mvno_id=first,
    )
    teams["partner"] = team["id"]
    care_teams.create_route(
        db, op, team_id=team["id"], brand_id=None, region_code=region, ticket_type=None,
        mvno_id=first,
    )  # fmt: skip
    return teams


def open_tickets(
    db: Database,
    outlets: list[uuid.UUID],
    rng: random.Random,
    count: int,
    tag: str,
    *,
    among: list[str] | None = None,
) -> int:
    """`count` tickets opened at random outlets for random lines in service (any brand, or
    `among` these numbers)."""
    lines = among if among is not None else lines_in(db, LineState.ACTIVE)
    if not lines or not outlets:
        return 0
    opened = 0
    weights = [w for _, _, w, _ in COMPLAINTS]
    for n in range(count):
        kind, severity, _, words = rng.choices(COMPLAINTS, weights)[0]
        request = TicketRequest(
            msisdn=rng.choice(lines), ticket_type=kind.value, severity=severity, description=words
        )
        try:
            care.open_ticket(
                db, clerk(rng.choice(outlets)), request, idempotency_key=f"demo-ticket-{tag}-{n}"
            )
            opened += 1
        except DomainError:
            continue
    return opened


def work_tickets(db: Database, rng: random.Random, share: float) -> Counter[str]:
    """The desks take up new tickets and resolve about `share` of those in progress; some
    resolved ones are closed. The rest wait, so SLA timers and escalation have work."""
    tt = t.trouble_ticket
    stmt = unscoped(
        select(tt.c.id, tt.c.mvno_id, tt.c.status)
        .where(tt.c.status.in_(["acknowledged", "inProgress", "resolved"]))
        .order_by(tt.c.created_at, tt.c.id),
        "demo",
    )
    with db.read() as conn:
        rows = conn.execute(stmt).all()
    moved: Counter[str] = Counter()
    steps = {
        "acknowledged": (TicketStatus.IN_PROGRESS, "已受理，正在核查"),
        "inProgress": (TicketStatus.RESOLVED, "已处理，请客户确认"),
        "resolved": (TicketStatus.CLOSED, "客户已确认"),
    }
    for ticket_id, mvno_id, status in rows:
        if rng.random() > share:
            continue
        target, note = steps[status]
        try:
            care.update_ticket(
                db, _desk(mvno_id), ticket_id, status=target.value, reason=note, notes=[note]
            )
            moved[target.value] += 1
        except DomainError:
            continue
    return moved


def add_agent(db: Database, op: Actor, team_id: uuid.UUID, user_id: uuid.UUID) -> None:
    care_teams.add_member(db, op, team_id, user_id)
