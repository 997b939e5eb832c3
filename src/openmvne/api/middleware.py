"""Request ids, Prometheus metrics and one structured log line per request (plain ASGI)."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openmvne import ids
from openmvne.logs import request_id_var

log = logging.getLogger("openmvne.http")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "openmvne_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "openmvne_http_errors_total",
            "HTTP responses with status >= 400",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "openmvne_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        # Each label set's child, found once: `labels()` checks and locks on every call.
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """One request: counted (and as an error from 400 up) and timed."""
        children = self._children.get((method, route, status))
        if children is None:
            code = str(status)
            children = (
                self.requests.labels(method, route, code),
                self.latency.labels(method, route),
                self.errors.labels(method, route, code) if status >= 400 else None,
            )
            self._children[(method, route, status)] = children
        requests, latency, errors = children
        requests.inc()
        latency.observe(seconds)
        if errors is not None:
            errors.inc()


class RequestContext:
    """Sets the request id (from X-Request-ID when sane, else new), measures and logs."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else ids.new_id().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            try:
                if _nul_in_address(scope):
                    status = 400
                    await _problem(
                        send_with_id,
                        request_id,
                        scope["path"],
                        400,
                        "nul_character",
                        "Invalid request",
                        "a NUL character is in the path or query: no field takes one",
                    )
                    return
                await self.app(scope, receive, send_with_id)
            except Exception:
                # Unhandled: answer here, while the request id is still known, so the
                # problem body and the log line carry it.
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                if started_response:
                    raise  # too late for a body of our own: let the server close it
                status = 500
                await _problem(
                    send_with_id,
                    request_id,
                    scope["path"],
                    500,
                    "internal_error",
                    "Internal error",
                    "something went wrong on our side; quote the requestId when reporting it",
                )
        finally:
            elapsed = time.perf_counter() - started
            route = _route_of(scope)
            method = scope["method"]
            self.metrics.observe(method, route, status, elapsed)
            if log.isEnabledFor(logging.INFO):  # the line's fields cost even when not logged
                log.info(
                    "%s %s %s %.1fms",
                    method,
                    scope["path"],
                    status,
                    elapsed * 1000,
                    extra={
                        "fields": {
                            "method": method,
                            "path": scope["path"],
                            "route": route,
                            "status": status,
                            "durationMs": round(elapsed * 1000, 2),
                        }
                    },
                )
            request_id_var.reset(token)


def _route_of(scope: Scope) -> str:
    """The route template (`/organization/{id}`), never the raw path: bounded label values."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def _nul_in_address(scope: Scope) -> bool:
    """An API path or query carrying a NUL character: no field takes one, and PostgreSQL can
    neither store nor compare text holding it (the query failed: a 500). The portal answers
    such requests with a page of its own (web/frame.py)."""
    return scope["path"].startswith(("/tmf-api/", "/openmvne/")) and (
        "\x00" in scope["path"] or b"%00" in scope["query_string"]
    )


async def _problem(
    send: Send, request_id: str, path: str, status: int, code: str, title: str, detail: str
) -> None:
    """A problem answered here, before (or instead of) the app: no handler saw the request."""
    body = json.dumps(
        {
            "type": f"https://openmvne.org/problems/{code.replace('_', '-')}",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": path,
            "@type": "Error",
            "code": code,
            "reason": title,
            "message": detail.split(";")[0],
            "requestId": request_id,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
