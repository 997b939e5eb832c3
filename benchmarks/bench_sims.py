"""Card import and stock transfer at scale: import N cards from a factory file (default
1,000,000; OPENMVNE_BENCH_CARDS to change), then move 100,000 of them in one transfer.
Baseline: the bare insert of the same rows (no validation, no encryption), same database.

SQLite always; PostgreSQL too when OPENMVNE_BENCH_POSTGRES_URL names an empty database.
Each scenario runs in a fresh process so its peak memory is its own.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CARDS = int(os.environ.get("OPENMVNE_BENCH_CARDS", "1000000"))


def scenario(url: str, file: str) -> dict[str, float]:
    from sqlalchemy import text

    from benchmarks.bench_numbers import _fresh
    from openmvne.db.engine import Database
    from openmvne.domain.channels import ChannelLevel, Transition
    from openmvne.domain.numbers import HostNetwork
    from openmvne.domain.parties import OrgKind, PartnerType
    from openmvne.services import channels, parties, sims, users

    _fresh(url)
    db = Database(url)
    op = users.operator(db)
    host = parties.create_organisation(
        db, op, kind=OrgKind.HOST_NETWORK, name="中国联通", network_code=HostNetwork.UNICOM
    )["id"]
    mvno = parties.create_organisation(db, op, kind=OrgKind.MVNO, name="虚商")["id"]
    partner = parties.create_organisation(
        db, op, kind=OrgKind.PARTNER, name="总包", partner_type=PartnerType.NATIONAL_CONTRACTOR
    )["id"]
    edge = channels.request_authorisation(
        db, op, mvno_id=mvno, party_id=partner, level=ChannelLevel.NATIONAL
    )["id"]
    channels.decide(db, op, edge, Transition.APPROVE)
    text_ = Path(file).read_text(encoding="utf-8")
    started = time.perf_counter()
    lines = sims.read_lines(text_)
    sims.import_batch(db, op, mvno_id=mvno, host_id=host, name="bench", lines=lines)
    imported = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    moving = [line.iccid for line in lines[:100_000]]
    del lines, text_
    started = time.perf_counter()
    sims.transfer(db, op, mvno_id=mvno, to_auth_id=edge, iccids=moving)
    moved = time.perf_counter() - started
    # Baseline: the same number of rows, bare, in one transaction.
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE bare_card (iccid VARCHAR(20) PRIMARY KEY, imsi VARCHAR(15), ki BYTEA)"
                if db.dialect == "postgresql"
                else "CREATE TABLE bare_card (iccid VARCHAR(20) PRIMARY KEY, "
                "imsi VARCHAR(15), ki BLOB)"
            )
        )
    started = time.perf_counter()
    with db.write() as conn:
        for start in range(0, CARDS, 5000):
            conn.execute(
                text("INSERT INTO bare_card VALUES (:i, :m, :k)"),
                [
                    {"i": f"B{n:019d}", "m": f"{n:015d}", "k": b"0" * 44}
                    for n in range(start, min(start + 5000, CARDS))
                ],
            )
    baseline = time.perf_counter() - started
    return {"import_s": imported, "peak_mb": peak, "transfer_s": moved, "baseline_s": baseline}


def _child(url: str, file: str) -> dict[str, float]:
    output = subprocess.run(  # noqa: S603  # our own interpreter and module
        [
            sys.executable,
            "-c",
            "import json; from benchmarks.bench_sims import scenario; "
            f"print(json.dumps(scenario({url!r}, {file!r})))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        file = str(Path(tmp) / "cards.csv")
        subprocess.run(  # noqa: S603  # our own CLI
            [
                str(Path(sys.executable).with_name("mvne")),
                "sims",
                "generate-factory-file",
                "--count",
                str(CARDS),
                "--out",
                file,
            ],
            check=True,
            capture_output=True,
        )
        targets = [("SQLite", f"sqlite:///{Path(tmp) / 'cards.db'}")]
        if os.environ.get("OPENMVNE_BENCH_POSTGRES_URL"):
            targets.append(("PostgreSQL", os.environ["OPENMVNE_BENCH_POSTGRES_URL"]))
        for label, url in targets:
            r = _child(url, file)
            ratio = r["import_s"] / r["baseline_s"]
            print(
                f"[{label}] import {CARDS:,} cards (validated, Ki/OPc sealed): "
                f"{r['import_s']:.1f} s, peak {r['peak_mb']:.0f} MB; baseline bare insert "
                f"of the same count {r['baseline_s']:.1f} s (ratio {ratio:.1f}x slower); "
                f"transfer of 100,000 cards in one call: {r['transfer_s']:.2f} s"
            )
