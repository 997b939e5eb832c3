"""The fake payment gateway's pages (a boundary stand-in, like a real gateway's site)."""

from __future__ import annotations

import html

from fastapi import Form, Request
from fastapi.responses import HTMLResponse

from openmvne import gateway_fake, money
from openmvne.api import tmf
from openmvne.api.routing import Router

router = Router(prefix="/fake-gateway", include_in_schema=False)


@router.get("/pay/{order_id}", response_class=HTMLResponse)
def payment_page(order_id: str, amountFen: int = 0) -> HTMLResponse:  # noqa: N803
    order = html.escape(order_id)
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>Fake gateway</title>"
        f"<h1>模拟支付 Fake payment gateway</h1><p>Order {order}: "
        f"{money.format_fen(amountFen)} yuan</p>"
        f"<form method=post><input type=hidden name=amountFen value={int(amountFen)}>"
        "<button name=outcome value=paid>Pay 支付</button> "
        "<button name=outcome value=failed>Cancel 取消</button></form>"
    )


@router.post("/pay/{order_id}", response_class=HTMLResponse)
def pay(
    order_id: str,
    request: Request,
    amountFen: int = Form(...),  # noqa: N803
    outcome: str = Form("paid"),
    returnUrl: str = "",  # noqa: N803  # the merchant's page to go back to (a local path)
) -> HTMLResponse:
    gateway_fake.pay(
        f"{tmf.base_url(request)}/openmvne/v1/paymentCallbacks",
        order_id,
        amountFen,
        succeed=outcome == "paid",
    )
    back = ""
    if returnUrl.startswith("/") and not returnUrl.startswith(("//", "/\\")):
        back = (
            f'<p><a id=back href="{html.escape(returnUrl)}">Back to the merchant 返回商户</a></p>'
        )
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><p>Payment submitted; the "
        "platform will hear from the gateway shortly. 支付已提交。</p>" + back
    )
