"""Self-service recharge through a payment gateway: an order, a redirect to the gateway,
and the gateway's signed, asynchronous callback that credits the line, exactly once,
whatever order or how often callbacks arrive."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

from sqlalchemy import insert, select, update

from openmvne import clock, ids
from openmvne.config import get_settings
from openmvne.db import audit
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.access import Actor
from openmvne.domain.ledger import AccountKind, TransferCode, check_amount
from openmvne.domain.numbers import NumberState, parse_msisdn
from openmvne.errors import Conflict, DomainError, NotFound, RuleViolation
from openmvne.services import idempotency, ledger, lifecycle

po = t.payment_order
TXN_ID_MAX: int = po.c.gateway_txn_id.type.length  # type: ignore[attr-defined]  # String(n)


class BadSignature(DomainError):
    status = 401
    title = "Bad signature"
    default_code = "bad_signature"


def sign(payload: dict[str, Any]) -> str:
    """HMAC-SHA256 over the canonical JSON of a callback, under the gateway's secret."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(get_settings().gateway_secret.encode(), body, hashlib.sha256).hexdigest()


def create_order(
    db: Database, actor: Actor, *, msisdn: str, amount_fen: int, idempotency_key: str | None
) -> dict[str, Any]:
    """A payment order for a line in service; the payer then goes to the gateway."""
    check_amount(amount_fen)
    number = parse_msisdn(msisdn)

    def effect(conn: Any) -> dict[str, Any]:
        mvno = conn.execute(
            unscoped(
                select(t.number_block.c.mvno_id).where(
                    t.number_block.c.prefix == number.block_prefix
                ),
                "anyone may pay for a line",
            )
        ).scalar()
        state = conn.execute(
            unscoped(
                select(t.number.c.state).where(t.number.c.msisdn == number.national),
                "anyone may pay for a line",
            )
        ).scalar()
        if mvno is None or state != NumberState.IN_USE.value:
            raise RuleViolation(
                f"{number.national} is not a line in service",
                code="line_not_in_service",
                field="msisdn",
            )
        order_id = ids.new_id()
        conn.execute(
            insert(po).values(
                id=order_id,
                mvno_id=mvno,
                msisdn=number.national,
                amount_fen=amount_fen,
                status="pending",
                gateway_txn_id=None,
                payer_party_id=actor.party_id,
                created_at=clock.now(),
                settled_at=None,
            )
        )
        audit.record(
            conn,
            actor,
            "payment.ordered",
            "payment_order",
            order_id,
            mvno_id=mvno,
            data={"amountFen": amount_fen},
        )
        return {
            "orderId": str(order_id),
            "msisdn": number.national,
            "amountFen": amount_fen,
            "status": "pending",
        }

    return idempotency.run_once(
        db,
        actor,
        idempotency_key,
        "payment_order",
        {"msisdn": number.national, "amount": amount_fen},
        effect,
    )


def callback(db: Database, payload: dict[str, Any], signature: str) -> dict[str, Any]:
    """The gateway reports an outcome. Refused unless signed. The first `paid` credits the
    line, whatever came before it: a `failed` that arrived first was an earlier attempt's,
    and the money has been taken now, so the outcome does not hang on the order the news
    arrives in. After `paid`, repeats and a late `failed` change nothing."""
    if not hmac.compare_digest(sign(payload), signature or ""):
        raise BadSignature("the callback's signature does not match", field="signature")
    try:
        order_id = uuid.UUID(str(payload["orderId"]))
        status, txn, amount = str(payload["status"]), str(payload["txnId"]), payload["amountFen"]
    except (KeyError, ValueError) as exc:
        raise RuleViolation(
            "a callback names orderId, txnId, status, amountFen", code="bad_callback"
        ) from exc
    if not 1 <= len(txn) <= TXN_ID_MAX:
        raise RuleViolation(
            f"txnId is 1-{TXN_ID_MAX} characters", code="bad_callback", field="txnId"
        )
    with db.write() as conn:
        order = (
            conn.execute(
                unscoped(
                    # Locked: two callbacks of one order settle it one after the other.
                    select(po).where(po.c.id == order_id).with_for_update(),
                    "the gateway speaks for every tenant",
                )
            )
            .mappings()
            .first()
        )
        if order is None:
            raise NotFound("no such payment order", field="orderId")
        # Settled already (duplicates and late news): paid is final, failed only yields to paid.
        was = order["status"]
        if was == "paid" or (was == "failed" and status != "paid"):
            return {"orderId": str(order_id), "status": was, "applied": False}
        if status == "paid" and amount != order["amount_fen"]:
            raise Conflict(
                "the paid amount differs from the order", code="amount_mismatch", field="amountFen"
            )
        if status not in ("paid", "failed"):
            raise RuleViolation("status is paid or failed", code="bad_callback", field="status")
        elsewhere = conn.execute(
            unscoped(
                select(po.c.id).where(po.c.gateway_txn_id == txn, po.c.id != order_id),
                "the gateway speaks for every tenant",
            )
        ).first()
        if elsewhere is not None:
            raise Conflict("this txnId settled another order", code="txn_id_reused", field="txnId")
        done = conn.execute(
            update(po)
            .where(po.c.id == order_id, po.c.status == was)
            .values(status=status, gateway_txn_id=txn, settled_at=clock.now())
        ).rowcount
        if done != 1:
            return {"orderId": str(order_id), "status": "settled", "applied": False}
        if status == "paid":
            ledger.transfer(
                conn,
                ledger.account(conn, AccountKind.CASH, mvno_id=order["mvno_id"]),
                ledger.account(
                    conn,
                    AccountKind.SUBSCRIBER_PREPAID,
                    mvno_id=order["mvno_id"],
                    msisdn=order["msisdn"],
                ),
                order["amount_fen"],
                TransferCode.GATEWAY_PAYMENT,
                reference=txn,
                mvno_id=order["mvno_id"],
            )
            lifecycle.after_credit(conn, lifecycle.SYSTEM, order["mvno_id"], order["msisdn"])
        return {"orderId": str(order_id), "status": status, "applied": True}


def get_order(db: Database, actor: Actor, order_id: uuid.UUID) -> dict[str, Any]:
    from openmvne.services.common import get_one

    return get_one(db, actor.scope, po, order_id, what="payment order")
