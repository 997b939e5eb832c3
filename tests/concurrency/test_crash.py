"""Kill the API process (SIGKILL) several times while clients recharge with retries.
Afterwards: every acknowledged recharge is there once, nothing is duplicated, and the
balances equal the acknowledged recharges."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from openmvne.db import tables as t
from openmvne.db.scoping import unscoped
from openmvne.services import money
from tests.conftest import Backend
from tests.money_world import build_money
from tests.world import auth_header

MVNE = str(Path(sys.executable).with_name("mvne"))
CLIENTS, PER_CLIENT, KILLS = 4, 30, 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, url: str) -> None:
        self.port = _free_port()
        self.env = {**os.environ, "OPENMVNE_DATABASE_URL": url, "OPENMVNE_LOG_LEVEL": "WARNING"}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [MVNE, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=0.5)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("server did not come up")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def test_recharges_survive_sigkill(backend: Backend) -> None:
    db = backend.db
    mw = build_money(db)
    money.pay_float(
        db,
        mw.nw.w.op,
        outlet_id=mw.nw.w.org["o1"],
        amount_fen=100_000_000,  # enough for however many the clients make
        idempotency_key="float-crash",
    )
    server = Server(backend.url)
    server.start()
    headers = auth_header(mw.nw.w, "outletClerk")
    acknowledged: dict[str, int] = {}
    retries = [0]
    lock = threading.Lock()
    stop_killing = threading.Event()
    killed = threading.Event()  # the killer is through: the clients may stop

    def client(n: int) -> None:
        rng = random.Random(n)
        i = -1
        with httpx.Client(timeout=5) as http:
            # At least PER_CLIENT each, and on until the last kill: recharges are fast
            # enough that a fixed count could be done before the first one.
            while not (killed.is_set() and i + 1 >= PER_CLIENT):
                i += 1
                key = f"c{n}-{i}"
                amount = rng.randint(1, 500)
                body = {"msisdn": mw.line1, "amountFen": amount, "channelOrderNumber": key}
                while True:  # retry the same key until the server answers
                    try:
                        r = http.post(
                            f"http://127.0.0.1:{server.port}/tmf-api/"
                            "prepayBalanceManagement/v4/topupBalance",
                            headers={**headers, "Idempotency-Key": key},
                            json=body,
                        )
                    except httpx.TransportError:
                        with lock:
                            retries[0] += 1
                        time.sleep(0.05)
                        continue
                    if r.status_code in (409, 500, 502, 503):
                        time.sleep(0.05)
                        continue
                    assert r.status_code == 201, r.text
                    with lock:
                        acknowledged[key] = amount
                    break

    def killer() -> None:
        rng = random.Random(7)
        for _ in range(KILLS):
            if stop_killing.wait(rng.uniform(0.3, 0.8)):
                return
            server.kill()
            server.start()
        killed.set()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    chaos = threading.Thread(target=killer)
    for thread in [*threads, chaos]:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stop_killing.set()
    chaos.join(timeout=30)
    server.kill()

    assert retries[0] > 0, "no request met a dead server: the test proved nothing"
    assert killed.is_set()
    assert len(acknowledged) >= CLIENTS * PER_CLIENT
    with db.read() as conn:
        orders = conn.execute(
            unscoped(select(func.count()).select_from(t.recharge_order), "test")
        ).scalar_one()
    assert orders == len(acknowledged)  # none lost, none duplicated
    balance = money.balance_of(db, mw.nw.w.actor["mvnoAdmin"], mw.line1)["balanceFen"]
    assert balance == sum(acknowledged.values())
    assert money.check(db) == []
