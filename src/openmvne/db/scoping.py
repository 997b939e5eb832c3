"""Tenancy, in one place: the WHERE clause each scope gets on each tenant-owned table.

`scoped(stmt, table, scope)` is the only way to read tenant data for a caller. A SELECT
that touches a tenant table without a scope (or an explicit `unscoped(stmt, why)`, used
by services for rule checks that must see across tenants) raises ScopeMissing before it
reaches the database: tenancy fails closed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import (
    ClauseElement,
    Column,
    ColumnElement,
    Engine,
    Select,
    Table,
    and_,
    event,
    exists,
    false,
    or_,
    select,
    true,
)
from sqlalchemy.sql.util import find_tables

from openmvne.db import tables as t
from openmvne.domain.access import Scope, ScopeKind
from openmvne.domain.parties import OrgKind
from openmvne.errors import ScopeMissing

_SCOPE = "openmvne_scope"
_UNSCOPED = "openmvne_unscoped"

ca = t.channel_authorisation


def _subtree_ids(party: Any) -> Select[Any]:
    """Ids of the edges in the subtrees rooted at `party`'s own authorisations.

    A subtree is a path prefix. Written as a range (path >= P and path < P + '~', '~' sorting
    after every hex digit and '/') and driven from the party's own edges, so both databases
    walk the path index instead of testing every edge of the tree.
    """
    mine = ca.alias("mine")
    below = ca.alias("below")
    return (
        select(below.c.id)
        .select_from(mine)
        .join(below, and_(below.c.path >= mine.c.path, below.c.path < mine.c.path + "~"))
        .where(mine.c.party_id == party)
    )


def _channel_rule(s: Scope) -> ColumnElement[bool]:
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return ca.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL:
            return ca.c.id.in_(_subtree_ids(s.party_id))
        case ScopeKind.OUTLET:
            return ca.c.party_id == s.party_id
        case _:
            return false()


def _organisation_rule(s: Scope) -> ColumnElement[bool]:
    o = t.organization
    if s.kind is ScopeKind.PLATFORM:
        return true()
    # Host networks are public reference data (everyone needs their names and ids).
    base = or_(o.c.id == s.party_id, o.c.kind == OrgKind.HOST_NETWORK.value)
    mine = ca.alias("own")
    authorising_mvnos = select(mine.c.mvno_id).where(mine.c.party_id == s.party_id)
    match s.kind:
        case ScopeKind.MVNO:
            tree = select(ca.c.party_id).where(ca.c.mvno_id == s.party_id)
            return or_(base, o.c.id.in_(tree), o.c.created_by_party_id == s.party_id)
        case ScopeKind.CHANNEL:
            below = select(ca.c.party_id).where(ca.c.id.in_(_subtree_ids(s.party_id)))
            return or_(
                base,
                o.c.id.in_(below),
                o.c.id.in_(authorising_mvnos),
                o.c.created_by_party_id == s.party_id,
            )
        case ScopeKind.OUTLET:
            return or_(base, o.c.id.in_(authorising_mvnos))
        case ScopeKind.SUBSCRIBER:
            i = t.individual
            return or_(base, o.c.id.in_(select(i.c.mvno_id).where(i.c.id == s.party_id)))
        case _:
            return base


def _individual_rule(s: Scope) -> ColumnElement[bool]:
    i = t.individual
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.SUBSCRIBER:
            return i.c.id == s.party_id
        case ScopeKind.MVNO:
            return or_(i.c.mvno_id == s.party_id, i.c.registered_by_party_id == s.party_id)
        case _:
            return i.c.registered_by_party_id == s.party_id


def _blacklist_rule(s: Scope) -> ColumnElement[bool]:
    b = t.blacklist_entry
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return b.c.mvno_id == s.party_id
        case _:
            return false()


def _brand_rule(s: Scope) -> ColumnElement[bool]:
    b = t.brand
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return b.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL | ScopeKind.OUTLET:
            return b.c.mvno_id.in_(select(ca.c.mvno_id).where(ca.c.party_id == s.party_id))
        case ScopeKind.SUBSCRIBER:
            i = t.individual
            return b.c.mvno_id.in_(select(i.c.mvno_id).where(i.c.id == s.party_id))
        case _:
            return false()


def _audit_rule(s: Scope) -> ColumnElement[bool]:
    a = t.audit_event
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return a.c.mvno_id == s.party_id
        case _:
            return a.c.actor_party_id == s.party_id


S = TypeVar("S", bound=Select[*tuple[Any, ...]])


def sellable_holders(party: Any) -> Select[Any]:
    """Authorisations whose sale rights `party` may sell from: its own approved edges and
    their ancestors (a channel sells from its own pool and from every pool above it)."""
    mine = ca.alias("seller")
    above = ca.alias("above")
    return (
        select(above.c.id)
        .select_from(mine)
        .join(above, and_(mine.c.path >= above.c.path, mine.c.path < above.c.path + "~"))
        .where(mine.c.party_id == party, mine.c.status == "approved")
    )


def _subtree_parties(party: Any) -> Select[Any]:
    return select(ca.c.party_id).where(ca.c.id.in_(_subtree_ids(party)))


def _authorising_mvnos(party: Any) -> Select[Any]:
    own = ca.alias("own_edge")
    return select(own.c.mvno_id).where(own.c.party_id == party)


def _segment_rule(s: Scope, segment_id: Column[Any]) -> ColumnElement[bool]:
    seg = t.number_segment
    return segment_id.in_(select(seg.c.id).where(seg.c.host_id == s.party_id))


def _block_rule(s: Scope) -> ColumnElement[bool]:
    b = t.number_block
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.HOST:
            return _segment_rule(s, b.c.segment_id)
        case ScopeKind.MVNO:
            return b.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL | ScopeKind.OUTLET:
            sr = t.sale_right
            return exists().where(
                sr.c.status == "active",
                sr.c.holder_id.in_(sellable_holders(s.party_id)),
                sr.c.first_number <= b.c.first_number + 9999,
                sr.c.last_number >= b.c.first_number,
            )
        case _:
            return false()


def _allocation_rule(s: Scope) -> ColumnElement[bool]:
    r = t.number_allocation_request
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.HOST:
            return _segment_rule(s, r.c.segment_id)
        case ScopeKind.MVNO:
            return r.c.mvno_id == s.party_id
        case _:
            return false()


def _sale_right_rule(s: Scope) -> ColumnElement[bool]:
    sr = t.sale_right
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return sr.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL:
            return or_(
                sr.c.holder_id.in_(_subtree_ids(s.party_id)),
                sr.c.holder_id.in_(sellable_holders(s.party_id)),
            )
        case ScopeKind.OUTLET:
            return sr.c.holder_id.in_(sellable_holders(s.party_id))
        case _:
            return false()


def _reservation_rule(s: Scope) -> ColumnElement[bool]:
    r = t.number_reservation
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return r.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL:
            return or_(r.c.party_id == s.party_id, r.c.party_id.in_(_subtree_parties(s.party_id)))
        case ScopeKind.OUTLET:
            return r.c.party_id == s.party_id
        case _:
            return false()


def _number_rule(s: Scope) -> ColumnElement[bool]:
    n = t.number
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return n.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL:
            return or_(
                n.c.holder_party_id == s.party_id,
                n.c.holder_party_id.in_(_subtree_parties(s.party_id)),
            )
        case ScopeKind.OUTLET:
            return n.c.holder_party_id == s.party_id
        case _:
            return false()


def _policy_rule(s: Scope) -> ColumnElement[bool]:
    p = t.number_policy
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return p.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL | ScopeKind.OUTLET:
            return p.c.mvno_id.in_(_authorising_mvnos(s.party_id))
        case _:
            return false()


def _own_mvno_rule(
    column_of: Callable[[], Column[Any]],
    host_column: Column[Any] | None = None,
) -> Callable[[Scope], ColumnElement[bool]]:
    """Platform: all; MVNO: its own; host: its own (when the table has a host); else none."""

    def rule(s: Scope) -> ColumnElement[bool]:
        match s.kind:
            case ScopeKind.PLATFORM:
                return true()
            case ScopeKind.MVNO:
                return column_of() == s.party_id
            case ScopeKind.HOST if host_column is not None:
                return host_column == s.party_id
            case _:
                return false()

    return rule


def _offering_rule(s: Scope) -> ColumnElement[bool]:
    """Channels see the active offers their MVNOs share with channels, and the published
    packages designed at or above them in the tree."""
    po = t.product_offering
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return po.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL | ScopeKind.OUTLET:
            shared = and_(
                po.c.shared_with_channels.is_(True),
                po.c.designer_id.is_(None),
                po.c.mvno_id.in_(_authorising_mvnos(s.party_id)),
            )
            designed = po.c.designer_id.in_(sellable_holders(s.party_id))
            return and_(po.c.status == "active", or_(shared, designed))
        case _:
            return false()


def _design_rule(s: Scope) -> ColumnElement[bool]:
    d = t.package_design
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            # The MVNO sees designs once submitted; drafts stay the partner's own business.
            return and_(d.c.mvno_id == s.party_id, d.c.status != "draft")
        case ScopeKind.CHANNEL:
            return d.c.designer_id.in_(_subtree_ids(s.party_id))
        case _:
            return false()


def _ledger_account_rule(s: Scope) -> ColumnElement[bool]:
    la = t.ledger_account
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return la.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL | ScopeKind.OUTLET:
            return la.c.owner_id == s.party_id
        case _:
            return false()


def _transfer_rule(s: Scope) -> ColumnElement[bool]:
    lt = t.ledger_transfer
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return lt.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL | ScopeKind.OUTLET:
            return lt.c.party_id == s.party_id
        case _:
            return false()


def _recharge_rule(s: Scope) -> ColumnElement[bool]:
    ro = t.recharge_order
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return ro.c.mvno_id == s.party_id
        case ScopeKind.OUTLET:
            return ro.c.outlet_id == s.party_id
        case ScopeKind.CHANNEL:
            return ro.c.outlet_id.in_(_subtree_parties(s.party_id))
        case _:
            return false()


def _sim_rule(s: Scope) -> ColumnElement[bool]:
    c = t.sim_card
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return c.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL:
            return or_(
                c.c.holder_party_id == s.party_id, c.c.holder_auth_id.in_(_subtree_ids(s.party_id))
            )
        case ScopeKind.OUTLET:
            return c.c.holder_party_id == s.party_id
        case _:
            return false()


def _stock_transfer_rule(s: Scope) -> ColumnElement[bool]:
    st = t.stock_transfer
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return st.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL | ScopeKind.OUTLET:
            return or_(st.c.from_party_id == s.party_id, st.c.to_party_id == s.party_id)
        case _:
            return false()


def _voucher_rule(s: Scope) -> ColumnElement[bool]:
    v = t.voucher
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return v.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL | ScopeKind.OUTLET:
            return v.c.holder_party_id == s.party_id
        case _:
            return false()


def _payment_rule(s: Scope) -> ColumnElement[bool]:
    po_ = t.payment_order
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return po_.c.mvno_id == s.party_id
        case _:
            return po_.c.payer_party_id == s.party_id


def _subscription_rule(s: Scope) -> ColumnElement[bool]:
    """The MVNO sees its lines; a channel the lines sold in its subtree; an outlet the lines
    it sold; a subscriber their own."""
    sub = t.subscription
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return sub.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL:
            return or_(
                sub.c.outlet_id == s.party_id, sub.c.outlet_id.in_(_subtree_parties(s.party_id))
            )
        case ScopeKind.OUTLET:
            return sub.c.outlet_id == s.party_id
        case ScopeKind.SUBSCRIBER:
            return sub.c.individual_id == s.party_id
        case _:
            return false()


def _subscription_service_rule(s: Scope) -> ColumnElement[bool]:
    ss = t.subscription_service
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return ss.c.mvno_id == s.party_id
        case _:
            sub = t.subscription
            return ss.c.subscription_id.in_(select(sub.c.id).where(_subscription_rule(s)))


def _product_order_rule(s: Scope) -> ColumnElement[bool]:
    po_ = t.product_order
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return po_.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL:
            return or_(
                po_.c.party_id == s.party_id, po_.c.party_id.in_(_subtree_parties(s.party_id))
            )
        case _:
            return po_.c.party_id == s.party_id


def _usage_period_rule(s: Scope) -> ColumnElement[bool]:
    """Usage is the MVNO's and the line holder's business; channels do not see it."""
    up = t.usage_period
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return up.c.mvno_id == s.party_id
        case ScopeKind.SUBSCRIBER:
            sub = t.subscription
            return up.c.subscription_id.in_(
                select(sub.c.id).where(sub.c.individual_id == s.party_id)
            )
        case _:
            return false()


def _team_rule(s: Scope) -> ColumnElement[bool]:
    """The MVNO sees its care teams; a partner the teams it staffs."""
    ct = t.care_team
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return ct.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL:
            return ct.c.owner_party_id == s.party_id
        case _:
            return false()


def _via_team(column_of: Callable[[], Column[Any]]) -> Callable[[Scope], ColumnElement[bool]]:
    """Rows that belong to a care team: visible with their team."""

    def rule(s: Scope) -> ColumnElement[bool]:
        if s.kind is ScopeKind.PLATFORM:
            return true()
        ct = t.care_team
        return column_of().in_(select(ct.c.id).where(_team_rule(s)))

    return rule


def _route_rule(s: Scope) -> ColumnElement[bool]:
    cr = t.care_route
    if s.kind is ScopeKind.MVNO:
        return cr.c.mvno_id == s.party_id
    return _via_team(lambda: cr.c.team_id)(s)


def _ticket_rule(s: Scope) -> ColumnElement[bool]:
    """The MVNO sees its tickets; a partner the tickets routed to its teams, of the brands
    and regions those teams serve; an outlet the tickets it opened; a subscriber their own."""
    tt = t.trouble_ticket
    match s.kind:
        case ScopeKind.PLATFORM:
            return true()
        case ScopeKind.MVNO:
            return tt.c.mvno_id == s.party_id
        case ScopeKind.CHANNEL:
            ct, area = t.care_team, t.care_team_area
            return exists().where(
                ct.c.id == tt.c.team_id,
                ct.c.owner_party_id == s.party_id,
                area.c.team_id == ct.c.id,
                or_(area.c.brand_id.is_(None), area.c.brand_id == tt.c.brand_id),
                or_(area.c.region_prefix == "", tt.c.region_code.startswith(area.c.region_prefix)),
            )
        case ScopeKind.OUTLET:
            return tt.c.opened_by_party_id == s.party_id
        case ScopeKind.SUBSCRIBER:
            return tt.c.individual_id == s.party_id
        case _:
            return false()


def _ticket_event_rule(s: Scope) -> ColumnElement[bool]:
    if s.kind is ScopeKind.PLATFORM:
        return true()
    tt = t.trouble_ticket
    return t.ticket_event.c.ticket_id.in_(select(tt.c.id).where(_ticket_rule(s)))


def _breach_rule(s: Scope) -> ColumnElement[bool]:
    """The MVNO sees its breaches; a partner those of its own teams."""
    b = t.care_sla_breach
    if s.kind is ScopeKind.MVNO:
        return b.c.mvno_id == s.party_id
    if s.kind is ScopeKind.CHANNEL:
        return _via_team(lambda: b.c.team_id)(s)
    return true() if s.kind is ScopeKind.PLATFORM else false()


RULES: dict[str, Callable[[Scope], ColumnElement[bool]]] = {
    t.care_team.name: _team_rule,
    t.care_team_area.name: _via_team(lambda: t.care_team_area.c.team_id),
    t.care_team_member.name: _via_team(lambda: t.care_team_member.c.team_id),
    t.care_route.name: _route_rule,
    t.trouble_ticket.name: _ticket_rule,
    t.ticket_event.name: _ticket_event_rule,
    t.care_sla_breach.name: _breach_rule,
    t.usage_period.name: _usage_period_rule,
    t.settlement_run.name: _own_mvno_rule(lambda: t.settlement_run.c.mvno_id),
    t.customer_bill.name: _own_mvno_rule(
        lambda: t.customer_bill.c.mvno_id, t.customer_bill.c.host_id
    ),
    t.charging_session.name: _own_mvno_rule(
        lambda: t.charging_session.c.mvno_id, t.charging_session.c.host_id
    ),
    t.usage_cost.name: _own_mvno_rule(lambda: t.usage_cost.c.mvno_id, t.usage_cost.c.host_id),
    t.subscription.name: _subscription_rule,
    t.subscription_service.name: _subscription_service_rule,
    t.product_order.name: _product_order_rule,
    t.provisioning_command.name: _own_mvno_rule(lambda: t.provisioning_command.c.mvno_id),
    t.lifecycle_policy.name: _own_mvno_rule(lambda: t.lifecycle_policy.c.mvno_id),
    t.payment_order.name: _payment_rule,
    t.voucher.name: _voucher_rule,
    t.voucher_batch.name: _own_mvno_rule(lambda: t.voucher_batch.c.mvno_id),
    t.sim_card.name: _sim_rule,
    t.sim_batch.name: _own_mvno_rule(lambda: t.sim_batch.c.mvno_id),
    t.stock_transfer.name: _stock_transfer_rule,
    t.ledger_account.name: _ledger_account_rule,
    t.ledger_transfer.name: _transfer_rule,
    t.recharge_order.name: _recharge_rule,
    t.wholesale_price_list.name: _own_mvno_rule(
        lambda: t.wholesale_price_list.c.mvno_id, t.wholesale_price_list.c.host_id
    ),
    t.commission_scheme.name: _own_mvno_rule(lambda: t.commission_scheme.c.mvno_id),
    t.inversion_alert.name: _own_mvno_rule(lambda: t.inversion_alert.c.mvno_id),
    t.product_offering.name: _offering_rule,
    t.package_design.name: _design_rule,
    t.number_block.name: _block_rule,
    t.number_allocation_request.name: _allocation_rule,
    t.sale_right.name: _sale_right_rule,
    t.number_reservation.name: _reservation_rule,
    t.number.name: _number_rule,
    t.number_policy.name: _policy_rule,
    t.channel_authorisation.name: _channel_rule,
    t.organization.name: _organisation_rule,
    t.individual.name: _individual_rule,
    t.blacklist_entry.name: _blacklist_rule,
    t.brand.name: _brand_rule,
    t.audit_event.name: _audit_rule,
}


def visible(table: Table, scope: Scope) -> ColumnElement[bool]:
    return RULES[table.name](scope)


def scoped(stmt: S, table: Table, scope: Scope) -> S:
    """Restrict `stmt` to the rows of `table` that `scope` may see."""
    return stmt.where(visible(table, scope)).execution_options(**{_SCOPE: scope})


def unscoped(stmt: S, why: str) -> S:
    """Mark a deliberate cross-tenant read (a rule check, authentication). Say why."""
    return stmt.execution_options(**{_UNSCOPED: why})


def _tenant_tables(stmt: ClauseElement) -> set[str]:
    names = set()
    for found in find_tables(stmt, include_aliases=True, include_joins=True, include_crud=False):
        table = getattr(found, "element", found)
        if isinstance(table, Table) and table.info.get("tenant"):
            names.add(table.name)
    return names


def install_scope_guard(engine: Engine) -> None:
    @event.listens_for(engine, "before_execute")
    def _guard(
        conn: Any, clause: Any, multiparams: Any, params: Any, execution_options: Any
    ) -> None:
        if not isinstance(clause, Select):
            return
        options = {**clause.get_execution_options(), **execution_options}
        if _SCOPE in options or _UNSCOPED in options:
            return
        touched = _tenant_tables(clause)
        if touched:
            raise ScopeMissing(
                f"unscoped query on tenant table(s) {sorted(touched)}: use scoped() or unscoped()"
            )
