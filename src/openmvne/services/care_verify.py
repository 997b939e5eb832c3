"""Self-care verification: a code by SMS to the number, which proves the caller holds it.

Codes are 6 digits, kept as HMACs (never in clear), valid for 5 minutes, used once, and
locked after 5 wrong tries; a number gets a new code at most once a minute and five times
an hour (domain/care.py). The message goes out through the SMS gateway after the code is
committed; if the gateway refuses it, the code is marked failed and does not count.
"""

from __future__ import annotations

import hmac
import math
import secrets
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from openmvne import clock, ids, secrets_box
from openmvne.db import locks
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.domain.care import CODE_DIGITS, CODE_TTL, MAX_WRONG_CODES, send_wait
from openmvne.domain.numbers import parse_msisdn
from openmvne.errors import DomainError, RuleViolation
from openmvne.services import sms_fake
from openmvne.services.care_facts import number_facts
from openmvne.services.sms_fake import SmsGateway, SmsRefused

cv = t.care_verification
PURPOSE = "care-code"


class TooManyCodes(DomainError):
    status = 429
    title = "Too many requests"
    default_code = "verification_rate_limited"


def _digest(verification_id: uuid.UUID, code: str) -> str:
    return secrets_box.fingerprint(f"{verification_id}:{code}", PURPOSE)


def request_code(db: Database, msisdn: str, *, sms: SmsGateway | None = None) -> dict[str, Any]:
    """Send a code to a connected brand's line in service; 429 when the number must wait."""
    m = parse_msisdn(msisdn)
    now = clock.now()
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    verification_id = ids.new_id()
    with db.write() as conn:
        facts = number_facts(conn, m.national, live=True)
        locks.lock(conn, f"care-code:{m.national}")
        sent = conn.execute(
            select(cv.c.created_at).where(
                cv.c.msisdn == m.national,
                cv.c.state != "failed",
                cv.c.created_at > now - timedelta(hours=1),
            )
        ).scalars()
        wait = send_wait(list(sent), now)
        if wait is not None:
            seconds = max(1, math.ceil(wait.total_seconds()))
            raise TooManyCodes(
                f"a code was sent to this number recently; wait {seconds} s",
                field="msisdn",
                retryAfterS=seconds,
            )
        conn.execute(
            insert(cv).values(
                id=verification_id,
                msisdn=m.national,
                code_hmac=_digest(verification_id, code),
                state="sent",
                attempts=0,
                created_at=now,
                expires_at=now + CODE_TTL,
                used_at=None,
            )
        )
    minutes = int(CODE_TTL.total_seconds() // 60)
    text = (
        f"【{facts.brand_name or '客服'}】您的验证码是{code}，{minutes}分钟内有效，请勿告诉他人。"
    )
    try:
        (sms or sms_fake.gateway()).send(m.national, text)
    except SmsRefused:
        with db.write() as conn:
            conn.execute(update(cv).where(cv.c.id == verification_id).values(state="failed"))
        raise
    return {"id": verification_id, "msisdn": m.national, "expires_at": now + CODE_TTL}


def check(conn: Connection, msisdn: str, code: str) -> DomainError | None:
    """Use the number's latest code. None: it matched and is now used. Otherwise the error
    to raise once the caller's transaction has committed (a wrong try must count)."""
    locks.lock(conn, f"care-code:{msisdn}")
    row = (
        conn.execute(
            select(cv)
            .where(cv.c.msisdn == msisdn, cv.c.state != "failed")
            .order_by(cv.c.created_at.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    now = clock.now()
    if row is None or row["state"] == "used":
        return RuleViolation(
            "request a verification code for this number first",
            code="verification_required",
            field="X-Verification-Code",
        )
    if row["state"] == "locked":
        return TooManyCodes(
            "too many wrong codes; request a new one",
            code="verification_locked",
            field="X-Verification-Code",
        )
    if now >= row["expires_at"]:
        return RuleViolation(
            "the code has expired; request a new one",
            code="verification_expired",
            field="X-Verification-Code",
        )
    if not hmac.compare_digest(row["code_hmac"], _digest(row["id"], code.strip())):
        attempts = row["attempts"] + 1
        locked = attempts >= MAX_WRONG_CODES
        conn.execute(
            update(cv)
            .where(cv.c.id == row["id"])
            .values(attempts=attempts, state="locked" if locked else "sent")
        )
        return RuleViolation(
            "the code is wrong" + ("; it is now locked" if locked else ""),
            code="verification_failed",
            field="X-Verification-Code",
            attemptsLeft=MAX_WRONG_CODES - attempts,
        )
    conn.execute(update(cv).where(cv.c.id == row["id"]).values(state="used", used_at=now))
    return None
