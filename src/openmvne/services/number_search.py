"""Find available numbers fast, within what the caller may sell.

Nothing is stored per idle number, so search works per block: the pattern's constraints on
the last four digits become one roaring bitmap of offsets, computed once per query with
NumPy; each block then costs a few bitmap operations (pattern ∖ taken ∩ sale-right range).
Blocks are visited from a random starting point, and each block gives only a few numbers,
so results spread across the inventory instead of always showing the lowest numbers.
"""

from __future__ import annotations

import bisect
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyroaring import BitMap
from sqlalchemy import Connection, select

from openmvne.db import tables as t
from openmvne.db.engine import Database
from openmvne.db.scoping import sellable_holders, unscoped
from openmvne.domain import pretty, regions
from openmvne.domain.access import Actor, ScopeKind
from openmvne.domain.numbers import BLOCK_SIZE
from openmvne.domain.patterns import Pattern, Positional
from openmvne.errors import InvalidInput
from openmvne.services.common import one_of
from openmvne.services.number_common import load_bitmap, rules
from openmvne.services.number_lifecycle import SELLERS

blk = t.number_block
sr = t.sale_right

# Digits of every offset 0000..9999, one row per offset: the vectorised view of a block.
_OFFSETS = np.arange(BLOCK_SIZE)
SUFFIX_DIGITS = np.stack([(_OFFSETS // 10 ** (3 - i)) % 10 for i in range(4)], axis=1)
MAX_EXAMINED = 200_000  # numbers graded per query at most: a bound on the slowest search


@dataclass(frozen=True)
class SearchQuery:
    pattern: Pattern
    limit: int = 20
    grade: str | None = None
    min_price_fen: int | None = None
    max_price_fen: int | None = None
    region_code: str | None = None
    mvno_id: uuid.UUID | None = None
    seed: int | None = None


@dataclass(frozen=True)
class _Candidate:
    block: dict[str, Any]
    lo: int  # offsets this caller may sell in the block, inclusive
    hi: int


def _suffix_bitmap(alt: Positional, exclude: frozenset[int]) -> BitMap:
    mask = np.ones(BLOCK_SIZE, dtype=bool)
    for i, want in enumerate(alt[7:]):
        if want is not None:
            mask &= SUFFIX_DIGITS[:, i] == want
    for digit in exclude:
        mask &= ~np.isin(SUFFIX_DIGITS, [digit]).any(axis=1)
    return BitMap(np.flatnonzero(mask).tolist())


def _prefix_fits(alt: Positional, prefix: str) -> bool:
    return all(want is None or int(prefix[i]) == want for i, want in enumerate(alt[:7]))


def _fixed_lead(pattern: Pattern) -> str:
    """Leading digits every alternative fixes: lets the database skip whole blocks."""
    lead = ""
    for i in range(7):
        digits = {alt[i] for alt in pattern.alternatives}
        if len(digits) != 1 or None in digits:
            break
        lead += str(digits.pop())
    return lead


def _sellable(conn: Connection, actor: Actor, q: SearchQuery) -> list[_Candidate]:
    kind = actor.scope.kind
    stmt = select(
        blk.c.id,
        blk.c.prefix,
        blk.c.first_number,
        blk.c.mvno_id,
        blk.c.brand_id,
        blk.c.region_code,
        blk.c.taken,
    ).where(blk.c.taken_count < BLOCK_SIZE)
    lead = _fixed_lead(q.pattern)
    if lead:
        stmt = stmt.where(blk.c.prefix.startswith(lead))
    if q.region_code:
        region = regions.require_current(q.region_code)
        if region.level is regions.RegionLevel.PROVINCE:
            stmt = stmt.where(blk.c.region_code.startswith(region.code[:2]))
        elif region.level is regions.RegionLevel.PREFECTURE:
            stmt = stmt.where(blk.c.region_code.startswith(region.code[:4]))
        else:
            stmt = stmt.where(blk.c.region_code == region.code)
    if q.mvno_id is not None:
        stmt = stmt.where(blk.c.mvno_id == q.mvno_id)
    if kind is ScopeKind.MVNO:
        stmt = stmt.where(blk.c.mvno_id == actor.party_id)
    elif kind is ScopeKind.PLATFORM:
        stmt = stmt.where(blk.c.mvno_id.is_not(None))
    why = "search reads the blocks the caller may sell, decided below"
    if kind in (ScopeKind.MVNO, ScopeKind.PLATFORM):
        rows = conn.execute(unscoped(stmt.order_by(blk.c.first_number), why)).mappings().all()
        return [_Candidate(dict(r), 0, BLOCK_SIZE - 1) for r in rows]
    granted = conn.execute(
        unscoped(
            select(sr.c.mvno_id, sr.c.first_number, sr.c.last_number)
            .where(sr.c.status == "active", sr.c.holder_id.in_(sellable_holders(actor.party_id)))
            .order_by(sr.c.first_number),
            "the caller's own sale rights",
        )
    ).all()
    if not granted:
        return []
    stmt = stmt.where(blk.c.mvno_id.in_({g.mvno_id for g in granted}))
    rows = conn.execute(unscoped(stmt.order_by(blk.c.first_number), why)).mappings().all()
    starts = [g.first_number for g in granted]
    found = []
    for r in rows:
        first, last = r["first_number"], r["first_number"] + BLOCK_SIZE - 1
        # Ranges never overlap and are sorted; the ones touching this block are adjacent.
        i = max(bisect.bisect_right(starts, last) - 1, 0)
        while i >= 0 and granted[i].last_number >= first:
            g = granted[i]
            if g.first_number <= last:
                found.append(
                    _Candidate(
                        dict(r),
                        max(g.first_number, first) - first,
                        min(g.last_number, last) - first,
                    )
                )
            i -= 1
    return found


def search(db: Database, actor: Actor, q: SearchQuery) -> list[dict[str, Any]]:
    actor.require(*SELLERS, action="search numbers")
    if not 1 <= q.limit <= 100:
        raise InvalidInput("limit is 1..100", code="bad_limit", field="limit")
    rng = random.Random(q.seed)  # noqa: S311  # spreads results; nothing secret
    with db.read() as conn:
        candidates = _sellable(conn, actor, q)
        rule_sets = {m: rules(conn, m) for m in {c.block["mvno_id"] for c in candidates}}
        brands = dict(
            conn.execute(
                unscoped(select(t.brand.c.id, t.brand.c.name), "brand names are public")
            ).all()
        )
    if q.grade is not None:
        _check_grade(q.grade, list(rule_sets.values()) or [pretty.DEFAULT])
    if not candidates:
        return []
    alternatives = q.pattern.alternatives
    suffixes = [_suffix_bitmap(alt, q.pattern.exclude) for alt in alternatives]
    union_cache: dict[tuple[int, ...], BitMap] = {}

    def free_in(c: _Candidate) -> BitMap:
        prefix = c.block["prefix"]
        if q.pattern.exclude.intersection(int(d) for d in prefix):
            return BitMap()
        fitting = tuple(i for i, alt in enumerate(alternatives) if _prefix_fits(alt, prefix))
        if not fitting:
            return BitMap()
        if fitting not in union_cache:
            union_cache[fitting] = BitMap.union(*(suffixes[i] for i in fitting))
        free = union_cache[fitting] - load_bitmap(c.block["taken"])
        if c.lo > 0 or c.hi < BLOCK_SIZE - 1:
            free &= BitMap(range(c.lo, c.hi + 1))
        return free

    per_block = max(1, q.limit // 4)
    order = _rotated(candidates, rng.randrange(len(candidates)))
    cursors: dict[int, tuple[BitMap, int, int]] = {}  # block index -> (free, start, next)
    results: list[dict[str, Any]] = []
    examined = 0
    progress = True
    # Passes over the blocks, a few numbers from each per pass, until the page is full.
    while progress and len(results) < q.limit and examined < MAX_EXAMINED:
        progress = False
        for index, c in enumerate(order):
            if index not in cursors:
                free = free_in(c)
                cursors[index] = (free, rng.randrange(len(free)) if free else 0, 0)
            free, begin, used = cursors[index]
            taken_here = 0
            while used < len(free) and taken_here < per_block and examined < MAX_EXAMINED:
                national = f"{c.block['prefix']}{free[(begin + used) % len(free)]:04d}"
                used += 1
                examined += 1
                item = _priced(national, c.block, rule_sets[c.block["mvno_id"]], brands, q)
                if item is not None:
                    results.append(item)
                    taken_here += 1
                    if len(results) >= q.limit:
                        break
            cursors[index] = (free, begin, used)
            progress = progress or used < len(free)
            if len(results) >= q.limit or examined >= MAX_EXAMINED:
                break
    return results


def _check_grade(grade: str, tables: Sequence[pretty.PrettyRules]) -> None:
    """A grade some searched MVNO's rule table names (the default table's when there is
    none): any other would silently find nothing, so it is a 400 bad_filter_value."""
    try:
        one_of({g for table in tables for g in table.prices})(grade)
    except ValueError as exc:
        raise InvalidInput(
            f"bad value for filter 'grade': {exc}", code="bad_filter_value", field="grade"
        ) from exc


def _rotated(items: list[_Candidate], start: int) -> list[_Candidate]:
    return items[start:] + items[:start]


def _priced(
    national: str,
    block: dict[str, Any],
    table: pretty.PrettyRules,
    brands: dict[Any, str],
    q: SearchQuery,
) -> dict[str, Any] | None:
    grade, price = table.price(national)
    if q.grade is not None and grade != q.grade:
        return None
    if q.min_price_fen is not None and price.one_off_fen < q.min_price_fen:
        return None
    if q.max_price_fen is not None and price.one_off_fen > q.max_price_fen:
        return None
    return {
        "msisdn": national,
        "grade": grade,
        "one_off_fen": price.one_off_fen,
        "min_monthly_fen": price.min_monthly_fen,
        "min_months": price.min_months,
        "mvno_id": block["mvno_id"],
        "brand": brands.get(block["brand_id"]),
        "region_code": block["region_code"],
    }


def msisdns(items: Sequence[dict[str, Any]]) -> list[str]:
    return [item["msisdn"] for item in items]
