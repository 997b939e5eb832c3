"""Selling a line at an outlet (TMF622 product order): every check first, then one
transaction that binds the number and the card, registers the customer, moves the money and
writes the network's open-line command to the outbox. The order completes when the host
network confirms the opening (services/provisioning.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update

from openmvne import clock, ids, secrets_box
from openmvne.config import get_settings
from openmvne.db import audit, locks
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import scoped, unscoped
from openmvne.db.upsert import insert_ignore
from openmvne.domain import identity
from openmvne.domain.access import Actor, Scope, ScopeKind
from openmvne.domain.catalog import OfferKind
from openmvne.domain.ledger import AccountKind, TransferCode, check_amount
from openmvne.domain.numbers import Msisdn, parse_msisdn
from openmvne.domain.parties import OrgKind, Role
from openmvne.domain.sims import CardState, check_card_move
from openmvne.domain.subscribers import (
    MAX_CARDS_PER_ID,
    LineState,
    NetworkLevel,
    card_region_allows,
    local_date,
)
from openmvne.errors import Forbidden, InvalidInput, NotFound, RuleViolation
from openmvne.network.provisioning import Command
from openmvne.services import idempotency, ledger, number_lifecycle, outbox
from openmvne.services.common import tenant_named
from openmvne.services.lifecycle import host_network
from openmvne.services.number_common import rules

o = t.organization
ca = t.channel_authorisation
sub = t.subscription
WHY = "a sale checks the number, card and offer across the MVNO's books"
LIVE = [s.value for s in LineState if s not in (LineState.CANCELLED, LineState.FAILED)]


@dataclass(frozen=True)
class Identity:
    id_type: str
    number: str
    given_name: str
    family_name: str
    expires_on: date | None
    evidence_source: str
    evidence_reference: str | None = None
    photo_reference: str | None = None


@dataclass(frozen=True)
class SaleRequest:
    msisdn: str
    iccid: str
    offering_id: uuid.UUID
    identity: Identity
    prepayment_fen: int
    reservation_id: uuid.UUID | None = None
    outlet_id: uuid.UUID | None = None
    external_id: str | None = None


def fingerprint(checked: identity.CheckedId) -> str:
    """One person, one fingerprint: the ID type's family and number, never the number."""
    family = "ric" if checked.id_type in identity.RIC_KINDS else checked.id_type.value
    return secrets_box.fingerprint(f"{family}:{checked.number}", "id-number")


def checked_identity(person: Identity, today: date) -> identity.CheckedId:
    checked = identity.check_id(
        person.id_type, person.number, today=today, expires_on=person.expires_on
    )
    try:
        source = identity.EvidenceSource(person.evidence_source)
    except ValueError:
        raise InvalidInput(
            "evidence source is reader, onlineCheck or manualForTest",
            code="evidence_source_unknown",
            field="realNameEvidence.source",
        ) from None
    if not identity.manual_entry_allowed(source, test_mode=get_settings().test_mode):
        raise RuleViolation(
            "ID numbers come from a card reader or an online check; typing them in is "
            "allowed only in test mode",
            code="manual_entry_forbidden",
            field="realNameEvidence.source",
        )
    for name, value in (("givenName", person.given_name), ("familyName", person.family_name)):
        if not value.strip():
            raise InvalidInput(f"{name} is required", code="required", field=name)
        if len(value) > 100:
            raise InvalidInput(
                f"{name} has at most 100 characters", code="too_long", field=name, maxLength=100
            )
    return checked


def _selling_outlet(conn: Connection, actor: Actor, outlet_id: uuid.UUID | None) -> uuid.UUID:
    if actor.scope.kind is ScopeKind.OUTLET:
        actor.require(Role.OUTLET_CLERK, action="sell a line")
        tenant_named(actor, outlet_id, ScopeKind.OUTLET, what="outlet", field="outletId")
        return actor.party_id
    if not actor.has(Role.PLATFORM_ADMIN):
        raise Forbidden("lines are sold at outlets", code="role_required")
    if outlet_id is None:
        raise InvalidInput("name the outlet (outletId)", code="required", field="outletId")
    kind = conn.execute(
        unscoped(select(o.c.kind).where(o.c.id == outlet_id), "the platform names an outlet")
    ).scalar()
    if kind != OrgKind.OUTLET.value:
        raise InvalidInput("outletId must name an outlet", code="not_an_outlet", field="outletId")
    return outlet_id


def _number(conn: Connection, m: Msisdn) -> dict[str, Any]:
    blk = t.number_block
    row = (
        conn.execute(
            unscoped(
                select(blk.c.mvno_id, blk.c.brand_id, blk.c.region_code, t.number_segment.c.host_id)
                .join(t.number_segment, t.number_segment.c.id == blk.c.segment_id)
                .where(blk.c.prefix == m.block_prefix),
                WHY,
            )
        )
        .mappings()
        .first()
    )
    if row is None or row["mvno_id"] is None:
        raise NotFound(
            f"{m.national} is not among the numbers you may sell",
            code="number_not_sellable",
            field="msisdn",
        )
    return dict(row)


def _authorisation(conn: Connection, outlet_id: uuid.UUID, mvno_id: uuid.UUID) -> uuid.UUID:
    found = conn.execute(
        unscoped(
            select(ca.c.id).where(
                ca.c.party_id == outlet_id, ca.c.mvno_id == mvno_id, ca.c.status == "approved"
            ),
            WHY,
        )
    ).scalar()
    if found is None:
        raise Forbidden(
            "this outlet is not an approved channel of the number's MVNO",
            code="not_an_approved_channel",
        )
    return uuid.UUID(str(found))


def _blacklisted(
    conn: Connection, mvno_id: uuid.UUID, outlet_id: uuid.UUID, person_fp: str
) -> None:
    b = t.blacklist_entry
    same_person = select(t.individual.c.id).where(t.individual.c.id_fingerprint == person_fp)
    hits = conn.execute(
        unscoped(
            select(b.c.organization_id, b.c.individual_id).where(
                or_(b.c.mvno_id == mvno_id, b.c.mvno_id.is_(None)),
                or_(b.c.organization_id == outlet_id, b.c.individual_id.in_(same_person)),
            ),
            WHY,
        )
    ).all()
    for hit in hits:
        if hit.individual_id is not None:
            raise RuleViolation(
                "this ID is blacklisted by the MVNO", code="id_blacklisted", field="identification"
            )
        raise Forbidden("this outlet is blacklisted", code="outlet_blacklisted")


def _offer(
    conn: Connection, outlet_id: uuid.UUID, offering_id: uuid.UUID, number: dict[str, Any]
) -> dict[str, Any]:
    po = t.product_offering
    row = (
        conn.execute(
            scoped(select(po).where(po.c.id == offering_id), po, Scope(ScopeKind.OUTLET, outlet_id))
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(
            "this outlet may not sell that offer", code="offer_not_sellable", field="offeringId"
        )
    if row["kind"] == OfferKind.ADDON.value:
        raise RuleViolation(
            "an add-on is not a line's plan; choose a plan", code="not_a_plan", field="offeringId"
        )
    if row["mvno_id"] != number["mvno_id"]:
        raise RuleViolation(
            "the offer belongs to another MVNO than the number",
            code="offer_of_another_mvno",
            field="offeringId",
        )
    if row["host_id"] != number["host_id"]:
        raise RuleViolation(
            "the offer runs on another host network than the number",
            code="offer_of_another_host",
            field="offeringId",
        )
    return dict(row)


def _card(
    conn: Connection,
    outlet_id: uuid.UUID,
    iccid: str,
    m: Msisdn,
    number: dict[str, Any],
    *,
    for_sale: bool = False,
) -> dict[str, Any]:
    c = t.sim_card
    stmt = select(c).where(c.c.iccid == iccid.strip().upper())
    if for_sale and conn.dialect.name == "postgresql":
        # Locked until the sale commits: another sale of the same card waits, then finds it
        # sold (unlocked, both sold it, onto two lines).
        stmt = stmt.with_for_update()
    row = conn.execute(unscoped(stmt, WHY)).mappings().first()
    if row is None or row["holder_party_id"] != outlet_id:
        raise NotFound(
            "that card is not in this outlet's stock", code="card_not_held", field="iccid"
        )
    check_card_move(CardState(row["state"]), CardState.SOLD, row["iccid"])
    if row["mvno_id"] != number["mvno_id"]:
        raise RuleViolation(
            "the card belongs to another MVNO", code="card_of_another_mvno", field="iccid"
        )
    host = conn.execute(
        unscoped(select(t.sim_batch.c.host_id).where(t.sim_batch.c.id == row["batch_id"]), WHY)
    ).scalar()
    if host != number["host_id"]:
        raise RuleViolation(
            "the card is for another host network than the number",
            code="card_of_another_host",
            field="iccid",
        )
    if not card_region_allows(row["region_code"], number["region_code"]):
        raise RuleViolation(
            f"the card works only in region {row['region_code']}",
            code="card_of_another_region",
            field="iccid",
        )
    if row["msisdn"] is not None and row["msisdn"] != m.national:
        raise RuleViolation(
            f"the card is pre-bound to {row['msisdn']}",
            code="card_bound_to_another_number",
            field="iccid",
        )
    if row["msisdn"] is None:
        # A number printed on a pre-bound card is sold with that card only (it was a 500:
        # one number, two cards).
        bound = conn.execute(
            unscoped(select(c.c.iccid).where(c.c.msisdn == m.national, c.c.id != row["id"]), WHY)
        ).scalar()
        if bound is not None:
            raise RuleViolation(
                f"{m.national} is pre-bound to card {bound}: sell it with that card",
                code="number_bound_to_another_card",
                field="msisdn",
            )
    return dict(row)


def check_card(db: Database, actor: Actor, msisdn: str, iccid: str) -> dict[str, Any]:
    """The sale's card checks on their own, for a seller's step-by-step form: the card is on
    the calling outlet's shelf and may be sold with this number. Nothing is written; `sell`
    checks it all again."""
    actor.require(Role.OUTLET_CLERK, action="sell a line")
    m = parse_msisdn(msisdn)
    with db.read() as conn:
        return _card(conn, actor.party_id, iccid, m, _number(conn, m))


def _individual(
    conn: Connection,
    actor: Actor,
    mvno_id: uuid.UUID,
    outlet_id: uuid.UUID,
    person: Identity,
    checked: identity.CheckedId,
    person_fp: str,
) -> uuid.UUID:
    """The MVNO's customer with this ID: registered on first sale, the same row after."""
    i = t.individual
    now = clock.now()
    insert_ignore(
        conn,
        i,
        {
            "id": ids.new_id(),
            "given_name": person.given_name.strip(),
            "family_name": person.family_name.strip(),
            "status": "validated",
            "mvno_id": mvno_id,
            "registered_by_party_id": outlet_id,
            "created_at": now,
            "updated_at": now,
            "id_type": checked.id_type.value,
            "id_sealed": secrets_box.seal(checked.number.encode(), b"id-number"),
            "id_fingerprint": person_fp,
            "id_masked": identity.mask_id(checked.number),
            "id_expires_on": person.expires_on,
        },
        ["mvno_id", "id_fingerprint"],
    )
    row = (
        conn.execute(
            unscoped(
                select(i).where(i.c.mvno_id == mvno_id, i.c.id_fingerprint == person_fp),
                "the customer with this ID",
            )
        )
        .mappings()
        .one()
    )
    if (row["family_name"], row["given_name"]) != (
        person.family_name.strip(),
        person.given_name.strip(),
    ):
        raise RuleViolation(
            "the name does not match the one registered with this ID",
            code="identity_name_mismatch",
            field="identification",
        )
    return uuid.UUID(str(row["id"]))


def _card_limit(conn: Connection, mvno_id: uuid.UUID, person_fp: str) -> None:
    # The lock makes count-then-insert atomic per ID: without it two sales could both see 4.
    locks.lock(conn, f"id-cards:{mvno_id}:{person_fp}")
    live = conn.execute(
        unscoped(
            select(func.count())
            .select_from(sub)
            .where(sub.c.mvno_id == mvno_id, sub.c.id_fingerprint == person_fp)
            .where(sub.c.state.in_(LIVE)),
            "the five-card rule counts every line of the ID",
        )
    ).scalar_one()
    if live >= MAX_CARDS_PER_ID:
        raise RuleViolation(
            f"this ID already holds {live} cards of this MVNO (at most {MAX_CARDS_PER_ID})",
            code="id_card_limit",
            field="identification",
        )


def sell(
    db: Database, actor: Actor, request: SaleRequest, idempotency_key: str | None
) -> dict[str, Any]:
    """Sell a line; returns {"orderId": ...}. Idempotent on the key (money moves)."""
    check_amount(request.prepayment_fen, field="prepaymentFen")
    m = parse_msisdn(request.msisdn)
    person = request.identity
    checked = checked_identity(person, local_date(clock.now()))
    person_fp = fingerprint(checked)
    fingerprint_request = {
        "msisdn": m.national,
        "iccid": request.iccid,
        "offer": str(request.offering_id),
        "id": person_fp,
        "prepayment": request.prepayment_fen,
        # Not the reservation: a retry may come with a fresh one (the CLI reserves first).
        "outlet": str(request.outlet_id),
    }

    def effect(conn: Connection) -> dict[str, Any]:
        outlet_id = _selling_outlet(conn, actor, request.outlet_id)
        number = _number(conn, m)
        mvno_id = number["mvno_id"]
        auth_id = _authorisation(conn, outlet_id, mvno_id)
        _blacklisted(conn, mvno_id, outlet_id, person_fp)
        offer = _offer(conn, outlet_id, request.offering_id, number)
        card = _card(conn, outlet_id, request.iccid, m, number, for_sale=True)
        if card["msisdn"] is None and request.reservation_id is None:
            raise InvalidInput(
                "a blank card needs a reserved number (reservationId)",
                code="required",
                field="reservationId",
            )
        grade, price = rules(conn, mvno_id).price(m.national)
        # A pretty-number plan commits to a minimum monthly spend instead of a fee.
        commitment = max(offer["monthly_fee_fen"], offer["min_monthly_spend_fen"] or 0)
        if commitment < price.min_monthly_fen:
            raise RuleViolation(
                f"a {grade} number needs a plan of at least {price.min_monthly_fen} fen a month",
                code="pretty_number_min_spend",
                field="offeringId",
            )
        due = price.one_off_fen + offer["monthly_fee_fen"]
        if request.prepayment_fen < due:
            raise RuleViolation(
                f"the prepayment must cover the number fee and the first month: {due} fen",
                code="prepayment_too_small",
                field="prepaymentFen",
                requiredFen=due,
            )
        _card_limit(conn, mvno_id, person_fp)
        individual_id = _individual(conn, actor, mvno_id, outlet_id, person, checked, person_fp)
        order_id, line_id, now = ids.new_id(), ids.new_id(), clock.now()
        reservation_id = None if card["msisdn"] else request.reservation_id
        number_lifecycle.bind_to_sale(
            conn,
            seller_id=outlet_id,
            msisdn=m,
            reservation_id=reservation_id,
            sale_ref=ids.to_public("product_order", order_id),
        )
        conn.execute(
            update(t.sim_card)
            .where(t.sim_card.c.id == card["id"])
            .values(state=CardState.SOLD.value, msisdn=m.national, updated_at=now)
        )
        line = {
            "id": line_id,
            "mvno_id": mvno_id,
            "msisdn": m.national,
            "individual_id": individual_id,
            "id_fingerprint": person_fp,
            "offering_id": offer["id"],
            "host_id": number["host_id"],
            "brand_id": number["brand_id"],
            "sim_id": card["id"],
            "iccid": card["iccid"],
            "region_code": number["region_code"],
            "outlet_id": outlet_id,
            "outlet_auth_id": auth_id,
            "state": LineState.PENDING.value,
            "previous_state": None,
            "state_since": now,
            "state_until": None,
            "network_level": NetworkLevel.NONE.value,
            "network_in_sync": False,
            "debt_fen": 0,
            "next_fee_on": None,
            "evidence": {
                "source": person.evidence_source,
                "reference": person.evidence_reference,
                "photoReference": person.photo_reference,
                "warnings": list(checked.warnings),
            },
            "activated_at": None,
            "ended_at": None,
            "created_at": now,
            "updated_at": now,
        }
        conn.execute(insert(sub).values(**line))
        conn.execute(
            insert(t.product_order).values(
                id=order_id,
                mvno_id=mvno_id,
                subscription_id=line_id,
                msisdn=m.national,
                kind="sale",
                state="inProgress",
                party_id=outlet_id,
                username=actor.username,
                external_id=request.external_id,
                request={
                    "offeringId": str(offer["id"]),
                    "iccid": card["iccid"],
                    "prepaymentFen": request.prepayment_fen,
                    "numberFeeFen": price.one_off_fen,
                    "firstMonthFen": offer["monthly_fee_fen"],
                    "grade": grade,
                    "idType": checked.id_type.value,
                    "idMasked": identity.mask_id(checked.number),
                },
                failure_reason=None,
                created_at=now,
                updated_at=now,
                completed_at=None,
            )
        )
        _take_money(conn, outlet_id, line, request.prepayment_fen, due, order_id)
        outbox.enqueue(
            conn,
            line,
            Command.OPEN_LINE,
            host_network=host_network(conn, number["host_id"]),
            order_id=order_id,
            imsi=card["imsi"],
            iccid=card["iccid"],
        )
        audit.record(
            conn,
            actor,
            "line.sold",
            "subscription",
            line_id,
            mvno_id=mvno_id,
            data={
                "msisdn": m.national,
                "iccid": card["iccid"],
                "id": identity.mask_id(checked.number),
                "evidence": person.evidence_source,
            },
        )
        return {"orderId": ids.to_public("product_order", order_id)}

    return idempotency.run_once(db, actor, idempotency_key, "sale", fingerprint_request, effect)


def _take_money(
    conn: Connection,
    outlet_id: uuid.UUID,
    line: dict[str, Any],
    prepayment_fen: int,
    due_fen: int,
    order_id: uuid.UUID,
) -> None:
    """The customer paid the outlet; the outlet's float funds the new balance (the same
    clearing as a recharge), and the number fee and first month come out of it."""
    mvno_id = line["mvno_id"]
    reference = f"sale:{order_id}"
    ledger.transfer(
        conn,
        ledger.account(conn, AccountKind.OUTLET_FLOAT, owner_id=outlet_id),
        ledger.account(conn, AccountKind.CLEARING_DUE_MVNO, owner_id=mvno_id),
        prepayment_fen,
        TransferCode.RECHARGE_CLEARING,
        reference=reference,
        mvno_id=mvno_id,
        party_id=outlet_id,
    )
    balance = ledger.account(
        conn, AccountKind.SUBSCRIBER_PREPAID, mvno_id=mvno_id, msisdn=line["msisdn"]
    )
    ledger.transfer(
        conn,
        ledger.account(conn, AccountKind.CLEARING_FROM_PLATFORM, mvno_id=mvno_id),
        balance,
        prepayment_fen,
        TransferCode.RECHARGE,
        reference=reference,
        mvno_id=mvno_id,
        party_id=outlet_id,
    )
    if due_fen:
        ledger.transfer(
            conn,
            balance,
            ledger.account(conn, AccountKind.MVNO_REVENUE, mvno_id=mvno_id),
            due_fen,
            TransferCode.SALE,
            reference=reference,
            mvno_id=mvno_id,
            party_id=outlet_id,
        )


def undo_money(conn: Connection, order_id: uuid.UUID) -> None:
    """The network refused the line: every transfer of the sale is reversed, newest first."""
    lt = t.ledger_transfer
    rows = (
        conn.execute(
            unscoped(
                select(lt)
                .where(lt.c.reference == f"sale:{order_id}", lt.c.status == "posted")
                .order_by(lt.c.id.desc()),
                "the sale's own transfers",
            )
        )
        .mappings()
        .all()
    )
    accounts = t.ledger_account
    for row in rows:
        debit, credit = (
            dict(
                conn.execute(unscoped(select(accounts).where(accounts.c.id == x), WHY))
                .mappings()
                .one()
            )
            for x in (row["credit_account_id"], row["debit_account_id"])
        )
        ledger.transfer(
            conn,
            debit,
            credit,
            row["amount_fen"],
            TransferCode.REVERSAL,
            reference=f"undo:{order_id}",
            mvno_id=row["mvno_id"],
            party_id=row["party_id"],
        )
