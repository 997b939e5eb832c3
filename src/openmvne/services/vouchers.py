"""Recharge vouchers (充值卡): batches with serials and secret PINs (kept only as HMACs),
created → distributed → sold → used, or expired or blocked. A PIN credits a balance once;
wrong guesses are counted per caller, refused beyond a limit, and audited."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, select, update

from openmvne import clock, ids, secrets_box
from openmvne.db import audit
from openmvne.db import tables as t
from openmvne.db.bulk import insert_rows
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.access import Actor, ScopeKind
from openmvne.domain.ledger import MAX_AMOUNT_FEN, AccountKind, TransferCode, check_amount
from openmvne.domain.numbers import NumberState, parse_msisdn
from openmvne.domain.parties import OrgKind, Role
from openmvne.domain.subscribers import local_date
from openmvne.errors import Conflict, DomainError, InvalidInput, NotFound, RuleViolation
from openmvne.services import idempotency, ledger, lifecycle
from openmvne.services.common import fetch_visible, tenant_named

vb = t.voucher_batch
v = t.voucher
MAX_FAILURES, WINDOW_S = 5, 600


class TooManyGuesses(DomainError):
    status = 429
    title = "Too many wrong PINs"
    default_code = "too_many_attempts"


class _Guesses:
    """Wrong PINs per caller in a sliding window (per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, list[float]] = {}

    def check(self, caller: str) -> None:
        now = time.monotonic()
        with self._lock:
            recent = [s for s in self._seen.get(caller, []) if now - s < WINDOW_S]
            self._seen[caller] = recent
            if len(recent) >= MAX_FAILURES:
                raise TooManyGuesses("too many wrong PINs; wait ten minutes")

    def failed(self, caller: str) -> None:
        with self._lock:
            self._seen.setdefault(caller, []).append(time.monotonic())


guesses = _Guesses()


def create_batch(
    db: Database,
    actor: Actor,
    *,
    face_value_fen: int,
    count: int,
    expires_on: date,
    mvno_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """A batch of vouchers. The PINs are returned here, once, for printing; only their
    HMACs are kept."""
    actor.require(Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, action="create vouchers")
    check_amount(face_value_fen, "faceValueFen")
    if not 1 <= count <= 100_000:
        raise InvalidInput("count is 1..100000", code="bad_count", field="count")
    if expires_on <= local_date(clock.now()):
        raise InvalidInput("expiresOn is in the future", code="bad_date", field="expiresOn")
    mvno = tenant_named(actor, mvno_id, ScopeKind.MVNO, what="MVNO", field="mvnoId")
    if mvno is None:
        raise InvalidInput("name the MVNO (mvnoId)", code="required", field="mvnoId")
    batch_id = ids.new_id()
    now = clock.now()
    printed = []
    rows = []
    prefix = ids.encode(batch_id)[-8:]
    for n in range(count):
        pin = "".join(secrets.choice("0123456789") for _ in range(16))
        serial = f"V{prefix}{n:06d}"
        printed.append({"serial": serial, "pin": pin})
        rows.append(
            {
                "id": ids.new_id(),
                "batch_id": batch_id,
                "mvno_id": mvno,
                "serial": serial,
                "pin_hmac": secrets_box.fingerprint(pin, "voucher"),
                "state": "created",
                "holder_party_id": None,
                "used_msisdn": None,
                "used_at": None,
                "updated_at": now,
            }
        )
    with db.write() as conn:
        org = fetch_visible(conn, t.organization, actor.scope, mvno, what="MVNO", field="mvnoId")
        if org["kind"] != OrgKind.MVNO.value:  # a voucher is a liability of the MVNO's
            raise InvalidInput("mvnoId must name an MVNO", code="not_an_mvno", field="mvnoId")
        conn.execute(
            insert(vb).values(
                id=batch_id,
                mvno_id=mvno,
                face_value_fen=face_value_fen,
                card_count=count,
                expires_on=expires_on,
                created_at=now,
            )
        )
        insert_rows(conn, v, rows)
        audit.record(
            conn,
            actor,
            "vouchers.created",
            "voucher_batch",
            batch_id,
            mvno_id=mvno,
            data={"count": count, "faceValueFen": face_value_fen},
        )
    return {
        "id": batch_id,
        "mvno_id": mvno,
        "face_value_fen": face_value_fen,
        "count": count,
        "expires_on": expires_on,
        "vouchers": printed,
    }


def _batch(conn: Connection, actor: Actor, batch_id: uuid.UUID) -> dict[str, Any]:
    row = fetch_visible(conn, vb, actor.scope, batch_id, what="voucher batch")
    actor.require(Role.PLATFORM_ADMIN, Role.MVNO_ADMIN, action="manage vouchers")
    return row


def distribute(db: Database, actor: Actor, batch_id: uuid.UUID, channel_party_id: uuid.UUID) -> int:
    """Hand the batch's created vouchers to a channel of the MVNO's tree."""
    with db.write() as conn:
        batch = _batch(conn, actor, batch_id)
        edge = conn.execute(
            unscoped(
                select(t.channel_authorisation.c.id).where(
                    t.channel_authorisation.c.mvno_id == batch["mvno_id"],
                    t.channel_authorisation.c.party_id == channel_party_id,
                    t.channel_authorisation.c.status == "approved",
                ),
                "the MVNO's own tree",
            )
        ).first()
        if edge is None:
            raise NotFound("no approved channel of this MVNO with that id", field="channelId")
        done = conn.execute(
            update(v)
            .where(v.c.batch_id == batch_id, v.c.state == "created")
            .values(state="distributed", holder_party_id=channel_party_id, updated_at=clock.now())
        ).rowcount
        audit.record(
            conn,
            actor,
            "vouchers.distributed",
            "voucher_batch",
            batch_id,
            mvno_id=batch["mvno_id"],
            data={"count": done},
        )
        return int(done)


def sell(db: Database, actor: Actor, batch_id: uuid.UUID, idempotency_key: str | None) -> int:
    """The channel has sold the batch's distributed vouchers and paid for them: their value
    becomes the MVNO's voucher liability."""

    def effect(conn: Connection) -> dict[str, Any]:
        batch = _batch(conn, actor, batch_id)
        count = conn.execute(
            update(v)
            .where(v.c.batch_id == batch_id, v.c.state == "distributed")
            .values(state="sold", updated_at=clock.now())
        ).rowcount
        if count == 0:
            raise Conflict("no distributed vouchers left to sell", code="nothing_to_sell")
        cash = ledger.account(conn, AccountKind.CASH)
        liability = ledger.account(conn, AccountKind.VOUCHER_LIABILITY, mvno_id=batch["mvno_id"])
        face = batch["face_value_fen"]
        # A transfer moves at most MAX_AMOUNT_FEN; a batch may be worth more (100,000 cards of
        # 500 yuan): its value moves in transfers of whole vouchers, each within the cap.
        per_transfer = MAX_AMOUNT_FEN // face
        for first in range(0, count, per_transfer):
            ledger.transfer(
                conn,
                cash,
                liability,
                min(per_transfer, count - first) * face,
                TransferCode.VOUCHER_SALE,
                reference=str(batch_id),
                mvno_id=batch["mvno_id"],
            )
        audit.record(
            conn,
            actor,
            "vouchers.sold",
            "voucher_batch",
            batch_id,
            mvno_id=batch["mvno_id"],
            data={"count": count},
        )
        return {"sold": count}

    return int(
        idempotency.run_once(
            db, actor, idempotency_key, "sell_vouchers", {"batch": str(batch_id)}, effect
        )["sold"]
    )


def block(db: Database, actor: Actor, serial: str) -> None:
    """Block a voucher (lost, stolen): it can no longer be redeemed."""
    with db.write() as conn:
        row = (
            conn.execute(unscoped(select(v).where(v.c.serial == serial), "checked below"))
            .mappings()
            .first()
        )
        if row is None or not (
            actor.has(Role.PLATFORM_ADMIN)
            or (actor.has(Role.MVNO_ADMIN) and row["mvno_id"] == actor.party_id)
        ):
            raise NotFound("no such voucher", field="serial")
        if row["state"] in ("used", "blocked"):
            raise Conflict(f"the voucher is {row['state']}", code="voucher_state_conflict")
        conn.execute(
            update(v).where(v.c.id == row["id"]).values(state="blocked", updated_at=clock.now())
        )
        audit.record(
            conn,
            actor,
            "voucher.blocked",
            "voucher",
            row["id"],
            mvno_id=row["mvno_id"],
            data={"serial": serial},
        )


def redeem(
    db: Database, actor: Actor, *, msisdn: str, pin: str, idempotency_key: str | None
) -> dict[str, Any]:
    """Credit a line with a sold voucher's value, once."""
    caller = str(actor.user_id or actor.party_id)
    guesses.check(caller)
    number = parse_msisdn(msisdn)
    if not (pin.isascii() and pin.isdigit() and len(pin) == 16):
        raise InvalidInput("a PIN is 16 digits", code="bad_pin", field="pin")

    def effect(conn: Connection) -> dict[str, Any]:
        row = (
            conn.execute(
                unscoped(
                    select(v, vb.c.face_value_fen, vb.c.expires_on)
                    .join(vb, vb.c.id == v.c.batch_id)
                    .where(v.c.pin_hmac == secrets_box.fingerprint(pin, "voucher")),
                    "a PIN is its own key",
                )
            )
            .mappings()
            .first()
        )
        if row is None or row["state"] != "sold":
            raise RuleViolation(
                "this PIN cannot be redeemed (wrong, used, blocked or not yet sold)",
                code="voucher_not_redeemable",
                field="pin",
            )
        if row["expires_on"] < local_date(clock.now()):
            raise RuleViolation("this voucher has expired", code="voucher_expired", field="pin")
        block_owner = conn.execute(
            unscoped(
                select(t.number_block.c.mvno_id).where(
                    t.number_block.c.prefix == number.block_prefix
                ),
                "the line's MVNO",
            )
        ).scalar()
        state = conn.execute(
            unscoped(
                select(t.number.c.state).where(t.number.c.msisdn == number.national),
                "the line's state",
            )
        ).scalar()
        if block_owner != row["mvno_id"] or state != NumberState.IN_USE.value:
            raise RuleViolation(
                "the voucher is for another brand's lines, or the line is not in service",
                code="voucher_wrong_line",
                field="msisdn",
            )
        used = conn.execute(
            update(v)
            .where(v.c.id == row["id"], v.c.state == "sold")
            .values(
                state="used",
                used_msisdn=number.national,
                used_at=clock.now(),
                updated_at=clock.now(),
            )
        ).rowcount
        if used != 1:
            raise Conflict(
                "the voucher was used a moment ago", code="voucher_not_redeemable", field="pin"
            )
        ledger.transfer(
            conn,
            ledger.account(conn, AccountKind.VOUCHER_LIABILITY, mvno_id=row["mvno_id"]),
            ledger.account(
                conn, AccountKind.SUBSCRIBER_PREPAID, mvno_id=row["mvno_id"], msisdn=number.national
            ),
            row["face_value_fen"],
            TransferCode.VOUCHER,
            reference=row["serial"],
            mvno_id=row["mvno_id"],
        )
        lifecycle.after_credit(conn, actor, row["mvno_id"], number.national)
        audit.record(
            conn,
            actor,
            "voucher.redeemed",
            "voucher",
            row["id"],
            mvno_id=row["mvno_id"],
            data={"serial": row["serial"], "msisdn": number.national},
        )
        return {
            "serial": row["serial"],
            "msisdn": number.national,
            "amountFen": row["face_value_fen"],
        }

    try:
        return idempotency.run_once(
            db,
            actor,
            idempotency_key,
            "redeem",
            {"msisdn": number.national, "pin": secrets_box.fingerprint(pin, "voucher")},
            effect,
        )
    except RuleViolation as exc:
        if exc.code == "voucher_not_redeemable":
            guesses.failed(caller)
            with db.write() as conn:  # every wrong PIN leaves a trace (never the PIN itself)
                audit.record(
                    conn,
                    actor,
                    "voucher.redeem_refused",
                    "voucher",
                    ids.new_id(),
                    data={"msisdn": number.national},
                )
        raise
