"""`mvne care …` as real processes: route test, tickets, the SLA sweep, breaches, teams,
the report, and one-line errors."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from openmvne import clock, ids
from openmvne.db.engine import Database
from openmvne.db.migrate import upgrade
from tests.care_world import build_care
from tests.cli.test_cli import mvne


def test_care_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    db = Database(url)
    cw = build_care(db)
    msisdn = cw.line(db)
    with clock.frozen(clock.now() - timedelta(hours=5)):  # its 4 hours are over
        late = cw.ticket(db, msisdn, "rechargeNotReceived")
    cw.ticket(db, msisdn, "infoQuery")
    db.dispose()
    env = {**os.environ, "OPENMVNE_DATABASE_URL": url, "COLUMNS": "200"}

    routed = mvne(env, "care", "route-test", msisdn, "complaint")
    assert routed.returncode == 0, routed.stderr
    assert "广东鸿运客服" in routed.stdout
    assert ids.to_public("care_route", cw.route["gd"]) in routed.stdout
    listed = mvne(env, "care", "tickets", "--msisdn", msisdn)
    assert listed.returncode == 0, listed.stderr
    assert "2 of 2 tickets" in listed.stdout
    escalated = mvne(env, "care", "escalate")
    assert escalated.returncode == 0, escalated.stderr
    assert "1 tickets breached" in escalated.stdout
    assert "0 tickets breached" in mvne(env, "care", "escalate").stdout
    breaches = mvne(env, "care", "breaches")
    assert ids.to_public("trouble_ticket", late["id"]) in breaches.stdout
    assert "星河客服中心" in breaches.stdout
    shown = mvne(env, "care", "show", ids.to_public("trouble_ticket", late["id"]))
    assert shown.returncode == 0, shown.stderr
    assert "escalated" in shown.stdout
    assert "p1Agent" in mvne(env, "care", "teams").stdout
    report = mvne(env, "care", "report")
    assert report.returncode == 0, report.stderr
    assert "广东鸿运客服" in report.stdout
    unknown = mvne(env, "care", "route-test", "17099990000", "complaint")
    assert unknown.returncode == 1
    assert "[unknown_number]" in unknown.stderr
    bad_type = mvne(env, "care", "route-test", msisdn, "refund")
    assert bad_type.returncode == 1
    assert "[bad_ticketType]" in bad_type.stderr
