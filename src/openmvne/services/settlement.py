"""Monthly settlement per MVNO, computed from the ledger and the rated usage alone:

- the host's wholesale bill (TMF678): usage by service at the price list's rates (the sums
  the rating already rounded once per MVNO, host and month), plus per-number fees;
- commission statements down the channel tree: recharge commissions (posted at each
  recharge), activation commissions after the validity check (lines opened three months
  before, valid in each of their first three months), revenue share on the lines' spend in
  their first year, clawbacks for lines cancelled or barred for missing real-name
  registration within six months;
- the MVNO's margin by offer and by province.

A run can be repeated while the month is open: the same inputs give the same documents (the
same digest). Closing posts what the month owes (commissions, per-number fees) once; a
closed month's documents never change, and the MVNO's usage in it can no longer be rerated.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, func, insert, or_, select, update

from openmvne import clock, ids
from openmvne.db import audit, locks
from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.listing import page
from openmvne.db.scoping import scoped, unscoped
from openmvne.domain import settlement as rules
from openmvne.domain.access import Actor, Scope, ScopeKind
from openmvne.domain.catalog import tier_kept_bp
from openmvne.domain.channels import ChannelLevel
from openmvne.domain.ledger import AccountKind, TransferCode
from openmvne.domain.parties import OrgKind, Role
from openmvne.domain.rating import to_fen
from openmvne.errors import Conflict, NotFound
from openmvne.services import channels, cost_chain, ledger
from openmvne.services.common import get_one, tenant_named
from openmvne.services.usage import period_files

WHY = "settlement reads the MVNO's whole month"
# What a line pays the MVNO: sale charges, fees, rated usage and its rerating, and online
# charging's posted holds (a hold is posted from the line's balance for the units used).
SPEND_CODES = (
    TransferCode.SALE,
    TransferCode.FEE,
    TransferCode.USAGE,
    TransferCode.USAGE_ADJUST,
    TransferCode.POST,
)
lt = t.ledger_transfer
la = t.ledger_account
sub = t.subscription
ca = t.channel_authorisation


def _mvnos(conn: Connection, actor: Actor, mvno_id: uuid.UUID | None) -> list[uuid.UUID]:
    if actor.scope.kind is ScopeKind.MVNO:
        actor.require(Role.MVNO_ADMIN, action="run a settlement")
        own = tenant_named(actor, mvno_id, ScopeKind.MVNO, what="MVNO", field="mvnoId")
        return [own or actor.party_id]
    actor.require(Role.PLATFORM_ADMIN, action="run a settlement")
    o = t.organization
    stmt = select(o.c.id).where(o.c.kind == OrgKind.MVNO.value).order_by(o.c.id)
    if mvno_id is not None:
        stmt = stmt.where(o.c.id == mvno_id)
    found = list(conn.execute(unscoped(stmt, "the platform settles every MVNO")).scalars())
    if mvno_id is not None and not found:
        raise NotFound("no MVNO with that id", field="mvnoId")
    return found


def _public(kind: str, value: Any) -> str:
    return ids.to_public(kind, value)


# --- the wholesale bill ---------------------------------------------------------------------


def _usage_by_service(
    conn: Connection, mvno: uuid.UUID, month: str
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Per host: quantity and exact wholesale cost by service, from the rated records. The
    lake keeps a record's number, not its line: a record is the line's that held the number
    when it was made (from its opening to the next holder's), so a number recycled within
    the month is counted once (services/usage.py's _LINE_RECORDS)."""
    up = t.usage_period
    rows = conn.execute(
        unscoped(
            select(up.c.msisdn, sub.c.host_id, sub.c.activated_at)
            .join(sub, sub.c.id == up.c.subscription_id)
            .where(up.c.mvno_id == mvno, up.c.period == month),
            WHY,
        )
    ).all()
    files = [f for f in period_files(conn, month) if Path(f).exists()]
    if not rows or not files:
        return {}
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'; SET enable_progress_bar = false")
    never = datetime.min.replace(tzinfo=UTC)
    con.register(
        "owners",
        pa.table(
            {
                "msisdn": [r.msisdn for r in rows],
                "host": [str(r.host_id) for r in rows],
                "since": pa.array(
                    [r.activated_at or never for r in rows], pa.timestamp("us", "UTC")
                ),
            }
        ),
    )
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    held = (
        "SELECT msisdn, host, since, "
        "lead(since) OVER (PARTITION BY msisdn ORDER BY since) AS until FROM owners"
    )
    query = (
        "SELECT o.host, r.type, sum(CASE WHEN r.type = 'data' THEN r.quantity ELSE "  # noqa: S608  # our files
        "CASE WHEN r.wholesale_exact > 0 THEN r.quantity ELSE 0 END END), "
        "CAST(sum(r.wholesale_exact) AS HUGEINT) "
        f"FROM read_parquet([{listed}]) r JOIN ({held}) o ON r.msisdn = o.msisdn "
        "AND r.start_time >= o.since AND (o.until IS NULL OR r.start_time < o.until) "
        "GROUP BY ALL ORDER BY 1, 2"
    )
    out: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    units = {"voice": "second", "sms": "message", "data": "byte"}
    for host, kind, quantity, exact in con.execute(query).fetchall():
        out[uuid.UUID(host)].append(
            {"service": kind, "quantity": int(quantity), "unit": units[kind], "exact": int(exact)}
        )
    return out


def _live_lines(conn: Connection, mvno: uuid.UUID, month: str) -> dict[uuid.UUID, int]:
    start, end = rules.month_bounds(month)
    rows = conn.execute(
        unscoped(
            select(sub.c.host_id, func.count())
            .where(
                sub.c.mvno_id == mvno,
                sub.c.activated_at < end,
                or_(sub.c.ended_at.is_(None), sub.c.ended_at >= start),
            )
            .group_by(sub.c.host_id),
            WHY,
        )
    ).all()
    return {r[0]: int(r[1]) for r in rows}


def _number_fee(conn: Connection, mvno: uuid.UUID, host: uuid.UUID, month: str) -> int:
    first = date(int(month[:4]), int(month[5:]), 1)  # the calendar day, not its UTC instant
    price_list = cost_chain.price_list_in_force(conn, mvno, host, first)
    return int(price_list["per_number_fee_fen"]) if price_list else 0


def _bills(conn: Connection, mvno: uuid.UUID, month: str) -> list[dict[str, Any]]:
    uc = t.usage_cost
    costs = {
        r.host_id: int(r.wholesale_fen)
        for r in conn.execute(
            unscoped(select(uc).where(uc.c.mvno_id == mvno, uc.c.period == month), WHY)
        )
    }
    services = _usage_by_service(conn, mvno, month)
    lines = _live_lines(conn, mvno, month)
    bills = []
    for host in sorted(set(costs) | set(lines) | set(services), key=str):
        items = []
        rounded = 0
        for item in services.get(host, []):
            fen = to_fen(item.pop("exact"))
            rounded += fen
            items.append({**item, "amountFen": fen})
        usage_fen = costs.get(host, 0)
        # The rating rounded once per month; the lines are each rounded: the difference shows.
        if usage_fen != rounded:
            items.append(
                {"service": "rounding", "quantity": 0, "unit": "", "amountFen": usage_fen - rounded}
            )
        fee = _number_fee(conn, mvno, host, month)
        count = lines.get(host, 0)
        items.append(
            {"service": "numbers", "quantity": count, "unit": "line", "amountFen": fee * count}
        )
        bills.append(
            {
                "host": _public("organization", host),
                "usageFen": usage_fen,
                "numberFeeFen": fee * count,
                "totalFen": usage_fen + fee * count,
                "items": items,
            }
        )
    return bills


# --- commissions ----------------------------------------------------------------------------


def _chain(conn: Connection, auth_id: uuid.UUID | None) -> list[tuple[uuid.UUID, ChannelLevel]]:
    if auth_id is None:
        return []
    path = conn.execute(unscoped(select(ca.c.path).where(ca.c.id == auth_id), WHY)).scalar()
    return channels.chain_of(conn, path)


def _split(
    amounts: dict[str, int], chain: list[tuple[uuid.UUID, ChannelLevel]]
) -> list[tuple[uuid.UUID, int]]:
    kept = tier_kept_bp(amounts, [level for _, level in chain])
    return [(party, fen) for (party, _), fen in zip(chain, kept, strict=True) if fen]


def _usage_months(
    conn: Connection, line_ids: list[uuid.UUID], months: list[str]
) -> dict[tuple[uuid.UUID, str], tuple[int, int]]:
    up = t.usage_period
    out = {}
    for start in range(0, len(line_ids), 5000):
        for r in conn.execute(
            unscoped(
                select(
                    up.c.subscription_id, up.c.period, up.c.voice_used_s, up.c.data_used_kb
                ).where(
                    up.c.subscription_id.in_(line_ids[start : start + 5000]),
                    up.c.period.in_(months),
                ),
                WHY,
            )
        ):
            out[(r.subscription_id, r.period)] = (int(r.voice_used_s), int(r.data_used_kb))
    return out


def _spend(conn: Connection, mvno: uuid.UUID, month: str) -> dict[uuid.UUID, int]:
    """What each line paid the MVNO in the month: fees, usage, sale charges, less usage
    refunds. The prepaid account is the number's, kept by each of its holders: a transfer is
    the spend of the line that held the number then (the newest created by its time), so a
    number recycled within the month does not count its spend for both its lines."""
    start, end = rules.month_bounds(month)
    holders: dict[str, list[tuple[datetime, uuid.UUID]]] = defaultdict(list)
    for line_id, msisdn, created in conn.execute(
        unscoped(
            select(sub.c.id, sub.c.msisdn, sub.c.created_at).where(
                sub.c.mvno_id == mvno, sub.c.created_at < end
            ),
            WHY,
        )
    ):
        holders[msisdn].append((created, line_id))
    for held in holders.values():
        held.sort()
    # Numbers with a new holder this month after an earlier one: split transfer by transfer.
    shared = sorted(m for m, held in holders.items() if len(held) > 1 and held[-1][0] >= start)
    prepaid = (
        la.c.kind == AccountKind.SUBSCRIBER_PREPAID.value,
        la.c.mvno_id == mvno,
        lt.c.created_at >= start,
        lt.c.created_at < end,
    )
    sides = (
        (
            lt.c.debit_account_id,
            (lt.c.code.in_([c.value for c in SPEND_CODES]), lt.c.status == "posted"),
            1,
        ),
        (lt.c.credit_account_id, (lt.c.code == TransferCode.USAGE_ADJUST.value,), -1),
    )
    spend: dict[uuid.UUID, int] = defaultdict(int)
    for account, codes, sign in sides:
        joined = lt.join(la, la.c.id == account)
        totals = conn.execute(
            unscoped(
                select(la.c.msisdn, func.sum(lt.c.amount_fen))
                .select_from(joined)
                .where(*prepaid, *codes)
                .group_by(la.c.msisdn),
                WHY,
            )
        )
        for msisdn, total in totals:
            if msisdn in holders and msisdn not in shared:
                spend[holders[msisdn][-1][1]] += sign * int(total)
        for chunk in range(0, len(shared), 1000):
            transfers = conn.execute(
                unscoped(
                    select(la.c.msisdn, lt.c.created_at, lt.c.amount_fen)
                    .select_from(joined)
                    .where(*prepaid, *codes, la.c.msisdn.in_(shared[chunk : chunk + 1000])),
                    WHY,
                )
            )
            for msisdn, at, fen in transfers:
                held = holders[msisdn]
                holder = max(bisect_right(held, at, key=itemgetter(0)) - 1, 0)
                spend[held[holder][1]] += sign * int(fen)
    return dict(spend)


def _paid_activation(conn: Connection, line_id: uuid.UUID) -> list[tuple[uuid.UUID, int]]:
    rows = conn.execute(
        unscoped(
            select(la.c.owner_id, lt.c.amount_fen)
            .select_from(lt.join(la, la.c.id == lt.c.credit_account_id))
            .where(
                lt.c.code == TransferCode.COMMISSION.value,
                lt.c.reference.like(f"settle:activation:%:{line_id}"),
            ),
            WHY,
        )
    ).all()
    return [(r.owner_id, int(r.amount_fen)) for r in rows]


def _lost_at(line: Any) -> datetime | None:
    """When a line was cancelled, or barred for missing real-name registration: the losses
    that give its activation commission back."""
    barred = line.state_since if line.state == "nonRealNameBarred" else None
    lost: datetime | None = line.ended_at if line.ended_at is not None else barred
    return lost


def _commissions(
    conn: Connection, mvno: uuid.UUID, month: str
) -> tuple[list[dict[str, Any]], dict[uuid.UUID, int]]:
    """Statement items per party, and what each line earned its channels (for the margin)."""
    start, end = rules.month_bounds(month)
    items: list[tuple[uuid.UUID, dict[str, Any]]] = []
    per_line: dict[uuid.UUID, int] = defaultdict(int)
    # Recharge commissions, posted when the recharges happened.
    recharge = conn.execute(
        unscoped(
            select(la.c.owner_id, func.count(), func.sum(lt.c.amount_fen))
            .select_from(lt.join(la, la.c.id == lt.c.credit_account_id))
            .where(
                lt.c.code == TransferCode.COMMISSION.value,
                lt.c.mvno_id == mvno,
                lt.c.created_at >= start,
                lt.c.created_at < end,
                ~lt.c.reference.like("settle:%"),
            )
            .group_by(la.c.owner_id),
            WHY,
        )
    ).all()
    for party, count, total in recharge:
        items.append(
            (
                party,
                {
                    "kind": "recharge",
                    "line": None,
                    "count": int(count),
                    "amountFen": int(total),
                    "posted": True,
                },
            )
        )
    terms = cost_chain.scheme(conn, mvno)
    scheme: dict[str, int] = terms["revenue_share_bp"]
    lines = conn.execute(
        unscoped(
            select(sub.c.id, sub.c.msisdn, sub.c.activated_at, sub.c.ended_at, sub.c.state,
                   sub.c.state_since, sub.c.outlet_auth_id)
            .where(sub.c.mvno_id == mvno, sub.c.activated_at.is_not(None), sub.c.activated_at < end)
            .order_by(sub.c.id),
            WHY,
        )
    ).all()  # fmt: skip
    cohort_month = rules.add_months(month, -rules.VALIDITY_MONTHS)
    validity_months = [rules.add_months(cohort_month, k) for k in range(rules.VALIDITY_MONTHS)]
    cohort = [line for line in lines if rules.month_of(line.activated_at) == cohort_month]
    used = _usage_months(conn, [line.id for line in cohort], validity_months)
    for line in cohort:
        history = [used.get((line.id, m), (0, 0)) for m in validity_months]
        lost = _lost_at(line)
        if lost is not None and lost < start:
            continue  # lost before its payout month: nothing to pay
        if not rules.passes_validity(history):
            continue
        for party, fen in _split(terms["activation_fen"], _chain(conn, line.outlet_auth_id)):
            items.append(
                (
                    party,
                    {
                        "kind": "activation",
                        "line": line.msisdn,
                        "lineId": str(line.id),
                        "count": 1,
                        "amountFen": fen,
                        "posted": False,
                    },
                )
            )
            per_line[line.id] += fen
    spend = _spend(conn, mvno, month)
    for line in lines:
        first = rules.month_of(line.activated_at)
        if (
            not rules.add_months(first, 0)
            <= month
            <= rules.add_months(first, rules.REVENUE_SHARE_MONTHS - 1)
        ):
            continue
        paid = spend.get(line.id, 0)
        if paid <= 0:
            continue
        kept = tier_kept_bp(scheme, [lvl for _, lvl in _chain(conn, line.outlet_auth_id)])
        for (party, _), bp in zip(_chain(conn, line.outlet_auth_id), kept, strict=True):
            fen = rules.share_fen(paid, bp)
            if fen:
                items.append(
                    (
                        party,
                        {
                            "kind": "revenueShare",
                            "line": line.msisdn,
                            "lineId": str(line.id),
                            "count": 1,
                            "amountFen": fen,
                            "posted": False,
                        },
                    )
                )
                per_line[line.id] += fen
    for line in lines:
        lost = _lost_at(line)
        if lost is None or not start <= lost < end:
            continue
        if rules.month_of(line.activated_at) < rules.add_months(month, -rules.CLAWBACK_MONTHS):
            continue
        # What was paid before, and what this month pays: a line lost in its payout month
        # gives that month's activation commission back at once (no later month sees it).
        paying_now = [
            (party, item["amountFen"])
            for party, item in items
            if item["kind"] == "activation" and item["lineId"] == str(line.id)
        ]
        for party, fen in _paid_activation(conn, line.id) + paying_now:
            items.append(
                (
                    party,
                    {
                        "kind": "clawback",
                        "line": line.msisdn,
                        "lineId": str(line.id),
                        "count": 1,
                        "amountFen": -fen,
                        "posted": False,
                    },
                )
            )
            per_line[line.id] -= fen
    statements: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for party, item in items:
        statements[party].append(item)
    docs = [
        {
            "party": _public("organization", party),
            "items": sorted(entries, key=lambda e: (e["kind"], e["line"] or "")),
            "totalFen": sum(e["amountFen"] for e in entries),
        }
        for party, entries in sorted(statements.items(), key=lambda kv: str(kv[0]))
    ]
    return docs, per_line


# --- margin ---------------------------------------------------------------------------------


def _margin(
    conn: Connection, mvno: uuid.UUID, month: str, per_line_commission: dict[uuid.UUID, int]
) -> dict[str, Any]:
    up = t.usage_period
    po = t.product_offering
    spend = _spend(conn, mvno, month)
    rows = conn.execute(
        unscoped(
            select(sub.c.id, sub.c.msisdn, sub.c.region_code, po.c.name, up.c.wholesale_exact)
            .join(po, po.c.id == sub.c.offering_id)
            .outerjoin(up, (up.c.subscription_id == sub.c.id) & (up.c.period == month))
            .where(sub.c.mvno_id == mvno)
            .order_by(sub.c.id),
            WHY,
        )
    ).all()
    by_offer: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    by_province: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for line_id, _, region, offer, wholesale in rows:
        revenue = spend.get(line_id, 0)
        exact = int(wholesale or 0)
        commission = per_line_commission.get(line_id, 0)
        for bucket in (
            by_offer[offer],
            by_province[(region or "")[:2] + "0000" if region else "unknown"],
        ):
            bucket[0] += revenue
            bucket[1] += exact
            bucket[2] += commission

    def table(groups: dict[str, list[int]], name: str) -> list[dict[str, Any]]:
        out = []
        for key in sorted(groups):
            revenue, exact, commission = groups[key]
            cost = to_fen(exact)
            margin = revenue - cost - commission
            out.append({name: key, "revenueFen": revenue, "wholesaleFen": cost,
                        "commissionFen": commission, "marginFen": margin})  # fmt: skip
        return out

    return {"byOffer": table(by_offer, "offer"), "byProvince": table(by_province, "province")}


# --- runs -----------------------------------------------------------------------------------


def _documents(
    conn: Connection, mvno: uuid.UUID, month: str
) -> tuple[dict[str, Any], dict[uuid.UUID, int]]:
    bills = _bills(conn, mvno, month)
    statements, per_line = _commissions(conn, mvno, month)
    return {
        "month": month,
        "mvno": _public("organization", mvno),
        "wholesaleBills": bills,
        "commissionStatements": statements,
        "margin": _margin(conn, mvno, month, per_line),
    }, per_line


def _digest(documents: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(documents, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()


def settle(
    db: Database, actor: Actor, month: str, *, mvno_id: uuid.UUID | None = None, close: bool = False
) -> list[dict[str, Any]]:
    """Run (and with `close`, close) the month for each MVNO; returns the runs."""
    rules.check_month(month)
    if rules.month_bounds(month)[1] > clock.now() and close:
        raise Conflict("a month closes after it ends", code="month_not_over", field="month")
    with db.read() as conn:
        mvnos = _mvnos(conn, actor, mvno_id)
    return [_settle_one(db, actor, mvno, month, close=close) for mvno in mvnos]


def _settle_one(
    db: Database, actor: Actor, mvno: uuid.UUID, month: str, *, close: bool
) -> dict[str, Any]:
    sr = t.settlement_run
    with db.write() as conn:
        locks.lock(conn, f"settle:{mvno}:{month}")
        run = (
            conn.execute(unscoped(select(sr).where(sr.c.mvno_id == mvno, sr.c.month == month), WHY))
            .mappings()
            .first()
        )
        if run is not None and run["status"] == "closed":
            return dict(run)  # a closed month never changes
        documents, _ = _documents(conn, mvno, month)
        digest = _digest(documents)
        now = clock.now()
        if run is None:
            run_id = ids.new_id()
            conn.execute(
                insert(sr).values(
                    id=run_id, mvno_id=mvno, month=month, status="open", digest=digest,
                    documents=documents, runs=1, created_at=now, updated_at=now, closed_at=None,
                )
            )  # fmt: skip
        else:
            run_id = run["id"]
            conn.execute(
                update(sr).where(sr.c.id == run_id).values(
                    digest=digest, documents=documents, runs=sr.c.runs + 1, updated_at=now
                )
            )  # fmt: skip
        _write_bills(conn, run_id, mvno, month, documents["wholesaleBills"], "new")
        if close:
            _post(conn, mvno, month, documents)
            conn.execute(update(sr).where(sr.c.id == run_id).values(status="closed", closed_at=now))
            conn.execute(
                update(t.customer_bill)
                .where(t.customer_bill.c.run_id == run_id)
                .values(state="settled")
            )
        audit.record(
            conn, actor, "settlement.closed" if close else "settlement.run", "settlement_run",
            run_id, mvno_id=mvno, data={"month": month, "digest": digest},
        )  # fmt: skip
        return dict(
            conn.execute(unscoped(select(sr).where(sr.c.id == run_id), WHY)).mappings().one()
        )


def _write_bills(
    conn: Connection,
    run_id: uuid.UUID,
    mvno: uuid.UUID,
    month: str,
    bills: Iterable[dict[str, Any]],
    state: str,
) -> None:
    cb = t.customer_bill
    conn.execute(cb.delete().where(cb.c.run_id == run_id))
    for bill in bills:
        conn.execute(
            insert(cb).values(
                id=ids.new_id(), run_id=run_id, mvno_id=mvno,
                host_id=ids.from_public("organization", bill["host"]), month=month,
                amount_fen=bill["totalFen"], lines=bill["items"], state=state,
                created_at=clock.now(),
            )
        )  # fmt: skip


def _post(conn: Connection, mvno: uuid.UUID, month: str, documents: dict[str, Any]) -> None:
    """What closing the month owes: activation and revenue-share commissions, clawbacks,
    per-number fees. References name the month, so each is posted once."""
    revenue = ledger.account(conn, AccountKind.MVNO_REVENUE, mvno_id=mvno)
    moves = []
    for statement in documents["commissionStatements"]:
        party = ids.from_public("organization", statement["party"])
        earned = ledger.account(conn, AccountKind.CHANNEL_COMMISSION, mvno_id=mvno, owner_id=party)
        for item in statement["items"]:
            if item["posted"] or not item["amountFen"]:
                continue
            reference = f"settle:{item['kind']}:{month}:{item['lineId']}"
            debit, credit = (revenue, earned) if item["amountFen"] > 0 else (earned, revenue)
            moves.append(
                ledger.Move(
                    debit["id"],
                    credit["id"],
                    abs(item["amountFen"]),
                    TransferCode.COMMISSION,
                    reference,
                    mvno,
                )
            )
    for bill in documents["wholesaleBills"]:
        if bill["numberFeeFen"]:
            host = ids.from_public("organization", bill["host"])
            payable = ledger.account(
                conn, AccountKind.MVNO_PAYABLE_HOST, mvno_id=mvno, owner_id=host
            )
            moves.append(
                ledger.Move(
                    revenue["id"],
                    payable["id"],
                    bill["numberFeeFen"],
                    TransferCode.WHOLESALE,
                    f"numbers:{month}",
                    mvno,
                )
            )
    ledger.post_many(conn, moves)


def is_closed(conn: Connection, mvno: uuid.UUID, month: str) -> bool:
    sr = t.settlement_run
    return (
        conn.execute(
            unscoped(
                select(sr.c.id).where(
                    sr.c.mvno_id == mvno, sr.c.month == month, sr.c.status == "closed"
                ),
                "a closed month refuses changes",
            )
        ).first()
        is not None
    )


def list_runs(
    db: Database, scope: Scope, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    sr = t.settlement_run
    with db.read() as conn:
        return page(
            conn,
            scoped(select(sr), sr, scope),
            order_by=[sr.c.month.desc(), sr.c.id],
            offset=offset,
            limit=limit,
        )


def list_bills(
    db: Database, scope: Scope, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    cb = t.customer_bill
    with db.read() as conn:
        return page(
            conn,
            scoped(select(cb), cb, scope),
            order_by=[cb.c.month.desc(), cb.c.id],
            offset=offset,
            limit=limit,
        )


def get_bill(db: Database, scope: Scope, bill_id: uuid.UUID) -> dict[str, Any]:
    return get_one(db, scope, t.customer_bill, bill_id, what="customer bill")
