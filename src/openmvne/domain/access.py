"""Who is calling, what they may see (scope) and what they may do (permissions).

Scope follows the caller's party: the platform sees everything, an MVNO its own tree,
a partner its subtrees, an outlet itself, a subscriber their own record. Roles say which
actions a caller may take inside that scope. The database layer turns a Scope into
WHERE clauses (db/scoping.py); this module only names the rules.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from openmvne.domain.parties import OrgKind, Role
from openmvne.errors import Forbidden


class ScopeKind(StrEnum):
    PLATFORM = "platform"
    HOST = "host"
    MVNO = "mvno"
    CHANNEL = "channel"  # a partner: its own authorisations and everything below them
    OUTLET = "outlet"
    SUBSCRIBER = "subscriber"


SCOPE_BY_KIND: dict[OrgKind | None, ScopeKind] = {
    OrgKind.PLATFORM: ScopeKind.PLATFORM,
    OrgKind.HOST_NETWORK: ScopeKind.HOST,
    OrgKind.MVNO: ScopeKind.MVNO,
    OrgKind.PARTNER: ScopeKind.CHANNEL,
    OrgKind.OUTLET: ScopeKind.OUTLET,
    None: ScopeKind.SUBSCRIBER,
}


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    party_id: uuid.UUID


@dataclass(frozen=True)
class Actor:
    """The authenticated caller: a user of a party with roles, or the operator at the CLI."""

    user_id: uuid.UUID | None
    username: str
    party_id: uuid.UUID
    party_kind: OrgKind | None
    roles: frozenset[Role]

    @property
    def scope(self) -> Scope:
        return Scope(SCOPE_BY_KIND[self.party_kind], self.party_id)

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    def require(self, *roles: Role, action: str) -> None:
        if not self.has(*roles):
            raise Forbidden(
                f"{action} needs one of the roles " + ", ".join(r.value for r in roles),
                code="role_required",
            )


class Action(StrEnum):
    CREATE_ORGANISATION = "create an organisation"
    CREATE_INDIVIDUAL = "register an individual"
    CHANGE_INDIVIDUAL = "change an individual's registered name or status"
    REQUEST_CHANNEL = "request a channel authorisation"
    DECIDE_CHANNEL = "approve, suspend, reinstate or blacklist a channel"


PERMISSIONS: dict[Action, tuple[Role, ...]] = {
    Action.CREATE_ORGANISATION: (Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, Role.PARTNER_ADMIN),
    Action.CREATE_INDIVIDUAL: (
        Role.PLATFORM_ADMIN,
        Role.MVNO_ADMIN,
        Role.PARTNER_ADMIN,
        Role.OUTLET_CLERK,
    ),
    # Real-name records: what the ID says, corrected by the MVNO, never by a seller or holder.
    Action.CHANGE_INDIVIDUAL: (Role.PLATFORM_ADMIN, Role.MVNO_ADMIN),
    Action.REQUEST_CHANNEL: (Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, Role.PARTNER_ADMIN),
    # Only the MVNO decides: a partner's wish is not enough (domain.md §3).
    Action.DECIDE_CHANNEL: (Role.PLATFORM_ADMIN, Role.MVNO_ADMIN),
}


def require(actor: Actor, action: Action) -> None:
    actor.require(*PERMISSIONS[action], action=action.value)
