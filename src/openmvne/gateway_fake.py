"""A fake payment gateway at the boundary, behaving like a real one for demos and tests:
a payment page the payer is redirected to, and asynchronous signed callbacks to the
platform, sometimes sent twice, sometimes followed by a stale earlier event."""

from __future__ import annotations

import threading
import time
import uuid

import httpx

from openmvne.services.payments import sign


def pay(
    callback_url: str,
    order_id: str,
    amount_fen: int,
    *,
    succeed: bool = True,
    duplicate: bool = True,
    stale_after: bool = True,
    delay_s: float = 0.05,
) -> None:
    """What happens when the payer confirms on the gateway's page: callbacks, later."""

    def deliver() -> None:
        time.sleep(delay_s)
        txn = f"gw-{uuid.uuid4().hex[:16]}"
        outcome = {
            "orderId": order_id,
            "txnId": txn,
            "amountFen": amount_fen,
            "status": "paid" if succeed else "failed",
        }
        messages = [outcome] + ([outcome] if duplicate else [])
        if stale_after:  # an earlier 'failed' attempt arriving last
            messages.append({**outcome, "txnId": f"{txn}-0", "status": "failed"})
        with httpx.Client(timeout=5) as client:
            for message in messages:
                for _ in range(20):  # a gateway retries until it is heard
                    try:
                        client.post(
                            callback_url, json=message, headers={"X-Signature": sign(message)}
                        )
                        break
                    except httpx.TransportError:
                        time.sleep(0.1)

    threading.Thread(target=deliver, daemon=True).start()
