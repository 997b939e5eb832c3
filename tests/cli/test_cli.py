"""The `mvne` command, run as a real process against a real database file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from openmvne import ids
from openmvne.db import tables
from openmvne.db.engine import Database
from openmvne.db.scoping import unscoped
from openmvne.domain.numbers import HostNetwork
from openmvne.domain.parties import OrgKind
from openmvne.services import parties, users

MVNE = str(Path(sys.executable).with_name("mvne"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "OPENMVNE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "OPENMVNE_NETWORK_STATE_PATH": str(tmp_path / "host-network.sqlite"),
        "COLUMNS": "200",
    }


def mvne(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MVNE, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_help_lists_the_commands(env: dict[str, str]) -> None:
    result = mvne(env, "--help")
    assert result.returncode == 0
    for command in ("serve", "db", "demo", "user", "token"):
        assert command in result.stdout


def test_before_upgrade_an_error_is_one_line(env: dict[str, str]) -> None:
    result = mvne(env, "org", "list")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "mvne db upgrade" in result.stderr


def test_upgrade_seed_user_token(env: dict[str, str]) -> None:
    assert mvne(env, "db", "upgrade").returncode == 0
    assert mvne(env, "db", "upgrade").returncode == 0  # idempotent
    seeded = mvne(env, "demo", "seed", "--seed", "7", "--lines-per-outlet", "1")
    assert seeded.returncode == 0, seeded.stderr
    assert "admin" in seeded.stdout
    assert "6 MVNOs" in seeded.stdout
    again = mvne(env, "demo", "seed", "--lines-per-outlet", "1")
    assert again.returncode == 1
    assert "already_seeded" in again.stderr
    assert mvne(env, "demo", "seed", "--if-empty").returncode == 0

    listing = mvne(env, "org", "list", "--kind", "mvno")
    assert listing.returncode == 0
    mvno_id = next(word for word in listing.stdout.split() if word.startswith("org_"))

    added = mvne(
        env,
        "user",
        "add",
        "li.lei",
        "--party",
        mvno_id,
        "--role",
        "mvnoAdmin",
        "--password-stdin",
        stdin="s3cret-pass\n",
    )
    assert added.returncode == 0, added.stderr
    token = mvne(env, "token", "create", "--user", "li.lei")
    assert token.returncode == 0
    secret = token.stdout.strip().splitlines()[-1]
    db = Database(env["OPENMVNE_DATABASE_URL"])
    actor = users.actor_from_token(db, secret)
    assert actor.username == "li.lei"
    assert users.actor_from_password(db, "li.lei", "s3cret-pass").username == "li.lei"
    assert mvne(env, "token", "revoke", secret).returncode == 0
    db.dispose()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("user", "add", "x", "--party", "org_bad", "--role", "mvnoAdmin"), "not a party id"),
        (
            (
                "user",
                "add",
                "x",
                "--party",
                "org_00000000000000000000000000",
                "--role",
                "mvnoAdmin",
            ),
            "no party",
        ),
        (("user", "add", "x", "--role", "mvnoAdmin"), "--party"),
        (("user", "add", "x", "--party", "org_1", "--role", "king"), "--role"),
        (("token", "create", "--user", "nobody"), "no user"),
        (("nonsense",), "No such command"),
        (
            (
                *("subscribers", "sell", "17100000001", "--iccid", "8986", "--offer", "pof_1"),
                *("--outlet", "org_00000000000000000000000000", "--given-name", "伟"),
                *("--family-name", "张", "--prepay", "50", "--id-number", "440305198001010013"),
                *("--id-expires", "2036-02-30", "--idempotency-key", "k-1"),
            ),
            "--id-expires is a date YYYY-MM-DD",
        ),
    ],
)
def test_errors_are_one_readable_line(
    env: dict[str, str], args: tuple[str, ...], needle: str
) -> None:
    assert mvne(env, "db", "upgrade").returncode == 0
    result = mvne(env, *args)
    assert result.returncode != 0
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_role_must_fit_the_party(env: dict[str, str]) -> None:
    mvne(env, "db", "upgrade")
    mvne(env, "demo", "seed", "--lines-per-outlet", "1")
    listing = mvne(env, "org", "list", "--kind", "outlet")
    outlet = next(word for word in listing.stdout.split() if word.startswith("org_"))
    result = mvne(env, "user", "add", "boss", "--party", outlet, "--role", "mvnoAdmin")
    assert result.returncode == 1
    assert "role_not_allowed" in result.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_health_and_docs(env: dict[str, str], workers: int) -> None:
    import socket
    import time

    import httpx

    assert mvne(env, "db", "upgrade").returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [MVNE, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        assert health.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/docs").status_code == 200
        assert "OpenMVNE" in httpx.get(f"http://127.0.0.1:{port}/").text
        if workers > 1:  # a process per worker under the one we started
            children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text()
            assert len(children.split()) >= workers
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=10)
    assert "GET /healthz 200" in output  # one structured log line per request


def test_numbers_commands(env: dict[str, str]) -> None:
    assert mvne(env, "db", "upgrade").returncode == 0
    assert mvne(env, "demo", "seed", "--lines-per-outlet", "1").returncode == 0
    segments = mvne(env, "numbers", "segment", "list")
    assert "100,000,000" in segments.stdout  # segment 171
    assert mvne(env, "numbers", "segment", "add", "1709", "--host", "org_bad").returncode == 1
    found = mvne(env, "numbers", "search", "*88", "--exclude", "4", "--limit", "3")
    assert found.returncode == 0, found.stderr
    numbers = [w for w in found.stdout.split() if w.isdigit() and len(w) == 11]
    assert len(numbers) == 3
    assert all(n.endswith("88") and "4" not in n for n in numbers)
    no_grade = mvne(env, "numbers", "search", "--grade", "Z")
    assert no_grade.returncode == 1
    assert "bad_filter_value" in no_grade.stderr
    assert len(no_grade.stderr.strip().splitlines()) == 1
    reserved = mvne(env, "numbers", "reserve", numbers[0])
    assert reserved.returncode == 0, reserved.stderr
    again = mvne(env, "numbers", "reserve", numbers[0])
    assert again.returncode == 1
    assert "number_taken" in again.stderr
    looked = mvne(env, "numbers", "lookup", numbers[1])
    assert "not in service" in looked.stdout
    assert mvne(env, "numbers", "lookup", "12345").returncode == 1
    listing = mvne(env, "org", "list", "--kind", "mvno")
    mvno = next(word for word in listing.stdout.split() if word.startswith("org_"))
    refused = mvne(env, "numbers", "allocate", "--mvno", mvno, "--segment", "171")
    assert refused.returncode == 1
    assert "utilisation_below_threshold" in refused.stderr
    assert mvne(env, "numbers", "sweep").returncode == 0


def test_catalog_commands(env: dict[str, str], tmp_path: Path) -> None:
    assert mvne(env, "db", "upgrade").returncode == 0
    assert mvne(env, "demo", "seed", "--lines-per-outlet", "1").returncode == 0
    listing = mvne(env, "catalog", "list")
    assert listing.returncode == 0
    assert "59元 3GB 月租套餐" in listing.stdout
    assert "广东青春卡 4GB" in listing.stdout  # the published partner package
    offering = next(w for w in listing.stdout.split() if w.startswith("pof_"))
    cost = mvne(env, "catalog", "cost", offering)
    assert cost.returncode == 0
    assert "per-number fee" in cost.stdout
    example = mvne(env, "catalog", "example").stdout
    assert "kind: offer" in example
    brand_line = mvne(env, "org", "list", "--kind", "hostNetwork")
    host = next(w for w in brand_line.stdout.split() if w.startswith("org_"))
    broken = tmp_path / "offer.yaml"
    broken.write_text("kind: offer\nname: [unclosed\n", encoding="utf-8")
    bad = mvne(env, "catalog", "create", str(broken))
    assert bad.returncode == 1
    assert "malformed_file" in bad.stderr
    cheap = tmp_path / "cheap.json"
    cheap.write_text(
        json.dumps(
            {
                "kind": "offer",
                "brand": "brd_00000000000000000000000000",
                "host": host,
                "offerType": "plan",
                "name": "x",
                "monthlyFeeFen": 100,
            }
        ),
        encoding="utf-8",
    )
    missing = mvne(env, "catalog", "create", str(cheap))
    assert missing.returncode == 1
    assert "not_found" in missing.stderr
    assert mvne(env, "catalog", "alerts").returncode == 0


def test_sims_commands(env: dict[str, str], tmp_path: Path) -> None:
    assert mvne(env, "db", "upgrade").returncode == 0
    assert mvne(env, "demo", "seed", "--lines-per-outlet", "1").returncode == 0
    cards = tmp_path / "cards.csv"
    made = mvne(
        env,
        "sims",
        "generate-factory-file",
        "--count",
        "50",
        "--out",
        str(cards),
        "--start",
        "900000",
    )
    assert made.returncode == 0, made.stderr
    # A serial out of range is one line and exit 1 (it was an unexpected ValueError, exit
    # 2; past the top it wrote 16-digit IMSIs), and no file is written.
    for start, count in (("-5", "2"), ("9999999999", "2")):
        bad = tmp_path / f"bad{start}.csv"
        refused = mvne(
            env, "sims", "generate-factory-file", "--count", count, "--start", start,
            "--out", str(bad),
        )  # fmt: skip
        assert refused.returncode == 1, refused.stderr
        assert "bad_serial" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        assert not bad.exists()
    hosts = mvne(env, "org", "list", "--kind", "hostNetwork").stdout
    unicom = [w for w in hosts.split() if w.startswith("org_")][-1]
    mvnos = mvne(env, "org", "list", "--kind", "mvno").stdout
    first = next(w for w in mvnos.split() if w.startswith("org_"))
    imported = mvne(env, "sims", "import", str(cards), "--mvno", first, "--host", unicom)
    assert imported.returncode == 0, imported.stderr
    assert "50 cards imported" in imported.stdout
    secret = cards.read_text().splitlines()[1].split(",")[2]
    again = mvne(env, "sims", "import", str(cards), "--mvno", first, "--host", unicom)
    assert again.returncode == 1
    assert "bad_card_file" in again.stderr
    assert secret not in again.stderr + again.stdout + imported.stdout  # Ki never printed
    stock = mvne(env, "sims", "stock")
    assert "inStock" in stock.stdout


def _voucher_batches(db: Database) -> int:
    stmt = unscoped(select(func.count()).select_from(tables.voucher_batch), "test check")
    with db.read() as conn:
        return int(conn.execute(stmt).scalar_one())


def test_vouchers_create_never_loses_or_overwrites_pins(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The PINs are shown once, in the --out file: a batch made when that file cannot be
    written was a batch nobody could ever redeem (and a second batch overwrote the first's)."""
    assert mvne(env, "db", "upgrade").returncode == 0
    db = Database(env["OPENMVNE_DATABASE_URL"])
    made = parties.create_organisation(db, users.operator(db), kind=OrgKind.MVNO, name="星河移动")
    mvno = ids.to_public("organization", made["id"])
    args = ["vouchers", "create", "--mvno", mvno, "--face", "50", "--count", "3"]
    future = ["--expires", "2099-12-31"]
    nowhere = mvne(env, *args, *future, "--out", str(tmp_path / "missing" / "pins.csv"))
    assert nowhere.returncode == 1
    assert nowhere.stderr.startswith("error: cannot write the PINs")
    assert nowhere.stderr.count("\n") == 1, nowhere.stderr
    assert "[bad_file]" in nowhere.stderr
    assert _voucher_batches(db) == 0
    pins = tmp_path / "pins.csv"
    first = mvne(env, *args, *future, "--out", str(pins))
    assert first.returncode == 0, first.stderr
    printed = pins.read_text(encoding="utf-8")
    assert len(printed.splitlines()) == 4  # the header and three vouchers
    again = mvne(env, *args, *future, "--out", str(pins))
    assert again.returncode == 1
    assert "[bad_file]" in again.stderr
    assert pins.read_text(encoding="utf-8") == printed  # the first batch's PINs kept
    assert _voucher_batches(db) == 1
    expired = tmp_path / "expired.csv"
    refused = mvne(env, *args, "--expires", "2000-01-01", "--out", str(expired))
    assert refused.returncode == 1
    assert "bad_date" in refused.stderr
    assert not expired.exists()  # no empty file left behind
    db.dispose()


def _catalog_parties(env: dict[str, str]) -> tuple[str, str, str]:
    """An MVNO with a brand, and a host network: (mvno, brand, host) public ids."""
    db = Database(env["OPENMVNE_DATABASE_URL"])
    op = users.operator(db)
    host = parties.create_organisation(
        db, op, kind=OrgKind.HOST_NETWORK, name="中国联通", network_code=HostNetwork.UNICOM
    )["id"]
    mvno = parties.create_organisation(db, op, kind=OrgKind.MVNO, name="星河移动")["id"]
    brand = parties.add_brand(db, op, mvno, "星河", "4000")["id"]
    db.dispose()
    return (
        ids.to_public("organization", mvno),
        ids.to_public("brand", brand),
        ids.to_public("organization", host),
    )


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("kind: offer\nofferType: bogus\nname: x\n", "offerType is one of plan"),
        ("kind: offer\nofferType: plan\nname: x\nallowance: [1, 2]\n", "allowance is an object"),
        ("kind: offer\nofferType: plan\nname: x\nrates: [1]\n", "rates need voiceRateFen"),
        ("kind: priceList\nvalidFrom: 1 May 2026\n", "validFrom is a date YYYY-MM-DD"),
        ("kind: priceList\nvalidFrom: 2026-01-01\nmodel: bogus\n", "model is one of pool"),
        ("kind: priceList\nvalidFrom: 2026-01-01\nrevenueTiers: [3]\n", "revenueTiers is a list"),
        ("kind: priceList\nvalidFrom: 2026-01-01\nhostPackages: 5\n", "hostPackages is a list"),
    ],
)
def test_catalog_files_with_bad_values_are_one_readable_line(
    env: dict[str, str], tmp_path: Path, body: str, needle: str
) -> None:
    """A value of the wrong kind in an offer or price-list file is the file's fault, said
    as such (exit 1), not an 'unexpected ValueError' (exit 2)."""
    assert mvne(env, "db", "upgrade").returncode == 0
    mvno, brand, host = _catalog_parties(env)
    file = tmp_path / "item.yaml"
    file.write_text(f"brand: {brand}\nhost: {host}\nmvno: {mvno}\n{body}", encoding="utf-8")
    result = mvne(env, "catalog", "create", str(file))
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert needle in result.stderr
    assert "unexpected" not in result.stderr


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("revenueTiers: [{minAnnualRevenueFen: 0, discountBp: 1.5}]", "[bad_discount]"),
        ("revenueTiers: [{minAnnualRevenueFen: lots, discountBp: 100}]", "[bad_money]"),
        ("revenueTiers: [{minAnnualRevenueFen: 0, discountBp: true}]", "[bad_discount]"),
        (
            "model: package\nhostPackages: [{code: P1, publicPriceFen: 900, discountBp: 0.5}]",
            "[bad_discount]",
        ),
        ("model: package\nhostPackages: [{publicPriceFen: 900, discountBp: 5}]", "[required]"),
    ],
)
def test_a_price_list_keeps_its_discounts_whole(
    env: dict[str, str], tmp_path: Path, body: str, needle: str
) -> None:
    """Basis points and fen are whole numbers: a discount of 1.5 bp was stored, and made
    every rate and cost of the MVNO a float; a tier's minimum in text, or a package without
    a code, broke each cost computation later."""
    assert mvne(env, "db", "upgrade").returncode == 0
    mvno, _, host = _catalog_parties(env)
    file = tmp_path / "list.yaml"
    rates = 'rates: {voiceRateFen: "10", smsRateFen: "10", dataRateFen: "10"}'
    file.write_text(
        f"kind: priceList\nhost: {host}\nmvno: {mvno}\nvalidFrom: 2026-01-01\n{rates}\n{body}\n",
        encoding="utf-8",
    )
    result = mvne(env, "catalog", "create", str(file))
    assert result.returncode == 1, result.stdout
    assert needle in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    db = Database(env["OPENMVNE_DATABASE_URL"])
    stmt = unscoped(select(func.count()).select_from(tables.wholesale_price_list), "test check")
    with db.read() as conn:
        assert conn.execute(stmt).scalar_one() == 0
    db.dispose()
