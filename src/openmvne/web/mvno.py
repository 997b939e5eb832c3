"""The MVNO's home: its subscriber lines by state and its channel tree."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from openmvne.domain.access import Actor
from openmvne.domain.subscribers import LineState
from openmvne.services import channels
from openmvne.web import reads
from openmvne.web.frame import allowed, database, page, portal_router
from openmvne.web.public import region_name

router = portal_router()
CHANNELS_SHOWN = 200


@router.get("/mvno", response_class=HTMLResponse)
def mvno_home(request: Request, actor: Actor = Depends(allowed("/mvno"))) -> HTMLResponse:
    db = database(request)
    counts = reads.line_counts(db, actor)
    order = [s.value for s in LineState]
    lines = sorted(counts.items(), key=lambda i: order.index(i[0]) if i[0] in order else 99)
    rows, total = channels.list_authorisations(db, actor.scope, {}, 0, CHANNELS_SHOWN)
    names = reads.organisation_names(db, actor, (r["party_id"] for r in rows))
    tree = [
        {
            **row,
            "name": names.get(row["party_id"], "—"),
            "depth": row["path"].count("/") - 2,
            "region": region_name(row["region_code"]),
        }
        for row in rows
    ]
    return page(
        request,
        "mvno/page.html",
        lines=lines,
        line_total=sum(counts.values()),
        channels=tree,
        channel_total=total,
    )
