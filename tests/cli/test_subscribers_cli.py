"""`mvne subscribers`, `mvne lifecycle tick`, `mvne provisioning send` as real processes."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from openmvne import clock, ids
from openmvne.db.engine import Database
from openmvne.db.migrate import upgrade
from openmvne.domain.subscribers import local_date
from openmvne.streaming import layout
from tests.cli.test_cli import mvne
from tests.streaming.conftest import NATS_URL, nats_reachable
from tests.subscribers_world import SubscribersWorld, build_subscribers, resident_id


@pytest.fixture
def world(tmp_path: Path) -> tuple[dict[str, str], SubscribersWorld]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    db = Database(url)
    sw = build_subscribers(db)
    db.dispose()
    env = {
        **os.environ,
        "OPENMVNE_DATABASE_URL": url,
        "OPENMVNE_NETWORK_STATE_PATH": str(tmp_path / "host-network.sqlite"),
        "COLUMNS": "200",
    }
    return env, sw


def test_sell_send_show_and_tasks(world: tuple[dict[str, str], SubscribersWorld]) -> None:
    env, sw = world
    msisdn, iccid = sw.free_number(), sw.card()
    outlet = ids.to_public("organization", sw.w.org["o1"])
    offer = ids.to_public("product_offering", sw.cw.offer["plan"])
    id_number = resident_id(61)
    args = [
        "subscribers", "sell", msisdn, "--iccid", iccid, "--offer", offer, "--outlet", outlet,
        "--given-name", "伟", "--family-name", "张", "--prepay", "100",
        "--id-number", id_number, "--idempotency-key", "cli-sale-1",
    ]  # fmt: skip
    sold = mvne(env, *args)
    assert sold.returncode == 0, sold.stderr
    assert "waiting for the network" in sold.stdout
    again = mvne(env, *args)
    assert again.returncode == 0
    assert "replayed" in again.stdout

    sent = mvne(env, "provisioning", "send")
    assert sent.returncode == 0, sent.stderr
    assert "acknowledged 1" in sent.stdout
    shown = mvne(env, "subscribers", "show", msisdn)
    assert shown.returncode == 0, shown.stderr
    assert "active" in shown.stdout
    assert "41.00 yuan" in shown.stdout  # 100 paid, 59 for the first month
    assert id_number not in shown.stdout + shown.stderr
    assert id_number[:4] + "*" * 10 in shown.stdout

    suspended = mvne(env, "subscribers", "task", msisdn, "suspend", "--idempotency-key", "s1")
    assert suspended.returncode == 0, suspended.stderr
    twice = mvne(env, "subscribers", "task", msisdn, "suspend", "--idempotency-key", "s2")
    assert twice.returncode == 1
    assert twice.stderr.count("\n") == 1
    assert "line_state_conflict" in twice.stderr
    ticked = mvne(env, "lifecycle", "tick")
    assert ticked.returncode == 0, ticked.stderr
    assert "timersExpired 0" in ticked.stdout


def test_bad_sale_is_one_line(world: tuple[dict[str, str], SubscribersWorld]) -> None:
    env, sw = world
    outlet = ids.to_public("organization", sw.w.org["o1"])
    offer = ids.to_public("product_offering", sw.cw.offer["plan"])
    result = mvne(
        env, "subscribers", "sell", sw.free_number(), "--iccid", sw.card(), "--offer", offer,
        "--outlet", outlet, "--given-name", "伟", "--family-name", "张", "--prepay", "100",
        "--id-number", "440305800101001", "--idempotency-key", "bad-1",
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "id_first_generation" in result.stderr
    assert "440305800101001" not in result.stderr


def test_usage_generate_rate_twice_and_rerate(
    world: tuple[dict[str, str], SubscribersWorld], tmp_path: Path
) -> None:
    env, sw = world
    env = {**env, "OPENMVNE_USAGE_DIR": str(tmp_path / "lake")}
    outlet = ids.to_public("organization", sw.w.org["o1"])
    offer = ids.to_public("product_offering", sw.cw.offer["payg"])
    for n in range(2):
        sold = mvne(
            env, "subscribers", "sell", sw.free_number(), "--iccid", sw.card(), "--offer", offer,
            "--outlet", outlet, "--given-name", "伟", "--family-name", "张", "--prepay", "100",
            "--id-number", resident_id(70 + n), "--idempotency-key", f"u-sale-{n}",
        )  # fmt: skip
        assert sold.returncode == 0, sold.stderr
    assert mvne(env, "provisioning", "send").returncode == 0
    usage_file = tmp_path / "usage.parquet"
    made = mvne(env, "usage", "generate", "--out", str(usage_file), "--days", "2", "--seed", "3")
    assert made.returncode == 0, made.stderr
    assert "for 2 lines" in made.stdout
    # Out of range: one readable line and a non-zero exit, not numpy's "lam < 0" as a crash.
    for bad in [
        ("--days", "-1"), ("--per-day", "-1"), ("--per-day", "nan"), ("--per-day", "inf"),
        ("--seed", "-1"), ("--subscribers", "-1"), ("--start", "2026-13-01"),
    ]:  # fmt: skip
        refused = mvne(env, "usage", "generate", "--out", str(tmp_path / "bad.csv"), *bad)
        assert refused.returncode != 0, (bad, refused.stderr)
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert "unexpected" not in refused.stderr
        assert bad[0] in refused.stderr
    first = mvne(env, "usage", "rate", str(usage_file))
    assert first.returncode == 0, first.stderr
    assert "duplicates skipped" in first.stdout
    second = mvne(env, "usage", "rate", str(usage_file))
    assert second.returncode == 0
    rated_row = next(line for line in second.stdout.splitlines() if "│ rated " in line)
    assert rated_row.split("│")[2].strip() == "0"
    missing = mvne(env, "usage", "rate", str(tmp_path / "nope.csv"))
    assert missing.returncode == 1
    assert "file_missing" in missing.stderr
    assert missing.stderr.count("\n") == 1


def test_usage_generate_publishes_to_the_stream_and_a_worker_rates_it(
    world: tuple[dict[str, str], SubscribersWorld], tmp_path: Path
) -> None:
    """The simulated network's feed: `generate --stream` publishes by partition, once per
    record id (a second publish adds nothing), and `mvne usage worker` rates what it put."""
    if not nats_reachable(NATS_URL):
        pytest.skip(f"no NATS server at {NATS_URL} (.ci/run starts one)")
    env, sw = world
    stream = f"TEST_GEN_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    env = {**env, "OPENMVNE_USAGE_DIR": str(tmp_path / "lake"), "OPENMVNE_NATS_STREAM": stream}
    # A line opened three days ago (in process, on a frozen clock), so the two days of usage
    # generated after it are all in the past and after the opening.
    opened = clock.now() - timedelta(days=3)
    db = Database(env["OPENMVNE_DATABASE_URL"])
    with clock.frozen(opened):
        sw.sale(db, seq=1, offer="plan", prepayment_fen=10_000)
        sw.settle(db)
    db.dispose()
    start = local_date(opened + timedelta(days=1)).isoformat()
    try:
        args = ("usage", "generate", "--stream", "--days", "2", "--seed", "5", "--start", start)
        first = mvne(env, *args)
        assert first.returncode == 0, first.stderr
        published = int(first.stdout.split(" records")[0].replace(",", ""))
        assert published > 0
        again = mvne(env, *args)  # the same records again: JetStream drops them as duplicates
        assert again.returncode == 0, again.stderr
        assert f"({published:,} already there)" in again.stdout
        rated = mvne(env, "usage", "worker", "--exit-when-idle", "2", "--name", "gen")
        assert rated.returncode == 0, rated.stderr
        stats = json.loads(rated.stdout.strip().splitlines()[-1])
        assert stats["recordsIn"] == published
        assert stats["rated"] == published  # every record in the past, after the opening
        both = mvne(env, "usage", "generate", "--stream", "--out", str(tmp_path / "x.csv"))
        assert both.returncode == 1
        assert "either --out FILE or --stream" in both.stderr
    finally:
        asyncio.run(layout.delete_stream(NATS_URL, layout.Layout(stream=stream)))
