"""Worlds for the portal's tests, built through the services, and an HTTP visitor.

`build_login_world`: tests/world.py's channel world; users "clerk" (O1) and "mvno" (M1).
`build_portal_world`: the subscribers world, a block of M1's that carries its brand (blocks
allocated before the brand existed carry none) and two lines sold at outlet O1 to two people,
settled on the network; users "clerk", "mvno", "mvno2", "holder" and "holder2".
Users get a password (PASSWORD) when a test first uses them: each costs an argon2 hash.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import httpx
from sqlalchemy import select

from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.parties import Role
from openmvne.network.simulator import SimulatedHostNetwork
from openmvne.services import number_supply, users
from tests.conftest import Backend
from tests.numbers_world import block_range
from tests.subscribers_world import PLAIN_RULES, SubscribersWorld, build_subscribers, person
from tests.world import World, build

PASSWORD = "portal-pass-7"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Site:
    """A running portal over a world, with users made (argon2 takes a while) on first use."""

    db: Database
    w: World
    base_url: str
    accounts: dict[str, tuple[uuid.UUID, Role]] = field(default_factory=dict)
    made: set[str] = field(default_factory=set)

    def user(self, username: str) -> str:
        if username not in self.made:
            party, role = self.accounts[username]
            users.add_user(
                self.db,
                self.w.op,
                username=username,
                party_id=party,
                roles=frozenset({role}),
                password=PASSWORD,
            )
            self.made.add(username)
        return username

    def visitor(self, username: str | None = None, language: str = "en") -> Visitor:
        """A visitor, logged in as `username` when one is named."""
        visitor = Visitor(self.base_url, language)
        if username is not None:
            landed = visitor.login(self.user(username))
            assert landed.status_code == 303, landed.text
        return visitor


def build_login_world(backend: Backend) -> Site:
    base_url = backend.serve()
    w = build(backend.db)
    site = Site(backend.db, w, base_url)
    site.accounts.update(
        clerk=(w.org["o1"], Role.OUTLET_CLERK), mvno=(w.org["m1"], Role.MVNO_ADMIN)
    )
    return site


@dataclass
class PortalWorld(Site):
    sw: SubscribersWorld | None = None
    msisdn: str = ""  # a line in service of M1's brand, held by person 1 ("holder")
    other_msisdn: str = ""  # another line of M1's, held by person 2 ("holder2")


def _branded_block(db: Database, sw: SubscribersWorld) -> str:
    """One more block for M1, allocated now that M1 has a brand, and granted to P1."""
    op, m1 = sw.w.op, sw.w.org["m1"]
    segment = next(s for s in number_supply.list_segments(db) if s["prefix"] == "171")
    number_supply.update_policy(db, op, m1, {"utilisation_threshold_pct": 0})
    prefix: str = number_supply.allocate_now(
        db, op, mvno_id=m1, segment_id=segment["id"], block_count=1, region_code="440300"
    )["granted_prefixes"][0]
    number_supply.grant_sale_right(db, op, holder_id=sw.w.auth["a_p1"], numbers=block_range(prefix))
    return prefix


def _plain_numbers(prefix: str, count: int) -> list[str]:
    found: list[str] = []
    offset = 3000
    while len(found) < count:
        offset += 41
        msisdn = f"{prefix}{offset:04d}"
        _, price = PLAIN_RULES.price(msisdn)
        if price.one_off_fen == 0 and price.min_monthly_fen == 0:
            found.append(msisdn)
    return found


def holder_of(db: Database, msisdn: str) -> uuid.UUID:
    sub = t.subscription
    stmt = unscoped(select(sub.c.individual_id).where(sub.c.msisdn == msisdn), "test setup")
    with db.read() as conn:
        return conn.execute(stmt).scalar_one()  # type: ignore[no-any-return]


def build_portal_world(backend: Backend) -> PortalWorld:
    base_url = backend.serve()
    assert backend.app is not None
    # The server lives across tests, the database is emptied between them: so must the
    # network's memory of open lines be.
    backend.app.state.network = SimulatedHostNetwork(seed=7)
    db = backend.db
    sw = build_subscribers(db, backend.app.state.network)
    first, second = _plain_numbers(_branded_block(db, sw), 2)
    sw.sale(db, seq=1, number=first)
    sw.sale(db, seq=2, number=second, holder=person(2, given_name="芳", family_name="李"))
    sw.settle(db)
    w = sw.w
    world = PortalWorld(db, w, base_url, sw=sw, msisdn=first, other_msisdn=second)
    world.accounts.update(
        clerk=(w.org["o1"], Role.OUTLET_CLERK),
        mvno=(w.org["m1"], Role.MVNO_ADMIN),
        mvno2=(w.org["m2"], Role.MVNO_ADMIN),
        holder=(holder_of(db, first), Role.SUBSCRIBER),
        holder2=(holder_of(db, second), Role.SUBSCRIBER),
    )
    return world


class Visitor:
    """A browser without JavaScript: cookies, forms with their CSRF token, no redirects."""

    def __init__(self, base_url: str, language: str = "en") -> None:
        self.http = httpx.Client(
            base_url=base_url, timeout=10, headers={"Accept-Language": language}
        )

    def __enter__(self) -> Visitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return self.http.get(path, **kwargs)  # type: ignore[arg-type]

    def token(self, page: str = "/login") -> str:
        found = CSRF.search(self.http.get(page).text)
        assert found, f"no CSRF token on {page}"
        return found.group(1)

    def submit(self, page: str, action: str, data: dict[str, str]) -> httpx.Response:
        """Post a form as the page at `page` would, with that page's token."""
        return self.http.post(action, data={"csrf": self.token(page), **data})

    def login(self, username: str, password: str = PASSWORD, **extra: str) -> httpx.Response:
        return self.submit(
            "/login", "/login", {"username": username, "password": password, **extra}
        )


def field_error(html: str, name: str) -> str | None:
    """The error shown under the form field `name`, if any."""
    found = re.search(rf'<p class="field-error" id="f-{name}-error">([^<]*)</p>', html)
    return found.group(1) if found else None
