"""Every error leaves the API as application/problem+json (RFC 9457) with TM Forum Error fields.

Body: type, title, status, detail, instance (RFC 9457) + code, reason, message, status
(TMF630 Error) + field / errors (which input was wrong) + requestId (to find the log line).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from openmvne.errors import DomainError
from openmvne.logs import request_id_var

log = logging.getLogger("openmvne.api")

PROBLEM = "application/problem+json"

# Fields the server owns: sent on a write, they are refused with this code, never stored.
SERVER_OWNED = frozenset(
    {
        "id",
        "href",
        "status",
        "statusReason",
        "createdAt",
        "updatedAt",
        "approvedAt",
        "creationDate",
        "lastUpdate",
        "plaqueIssuedAt",
        "path",
    }
)

_HTTP_CODES = {
    401: "not_authenticated",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    415: "unsupported_media_type",
}


def problem(
    request: Request,
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        **(extra or {}),
        "type": f"https://openmvne.org/problems/{code.replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "@type": "Error",
        "code": code,
        "reason": title,
        "message": detail,
        "requestId": request_id_var.get(),
    }
    if field is not None:
        body["field"] = field
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _loc_to_field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status == 503:
            headers = {"Retry-After": "1"}
        return problem(
            request,
            exc.status,
            exc.code,
            exc.title,
            exc.message,
            field=exc.field,
            headers=headers,
            extra=exc.details,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        code = "invalid_request"
        for err in exc.errors():
            kind = err.get("type", "")
            field = _loc_to_field(tuple(err.get("loc", ())))
            if kind == "json_invalid":
                code = "malformed_json"
                field = "body"
            elif kind == "extra_forbidden" and field.split(".")[-1] in SERVER_OWNED:
                code = "server_owned_field"
            elif kind == "extra_forbidden" and code == "invalid_request":
                code = "unknown_field"
            elif kind == "missing" and code == "invalid_request":
                code = "missing_field"
            elif kind == "nul_character":
                code = "nul_character"
            errors.append({"field": field, "message": err.get("msg", "invalid"), "type": kind})
        messages = {
            "malformed_json": "the body is not valid JSON",
            "server_owned_field": "the server sets this field; do not send it",
            "unknown_field": "unknown field",
            "missing_field": "a required field is missing",
            "nul_character": "a NUL character is in the body: no field takes one",
        }
        first = errors[0]["field"] if errors else None
        detail = messages.get(code, "the request is not valid")
        if first:
            detail = f"{detail}: {first}"
        return problem(request, 400, code, "Invalid request", detail, field=first, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        headers = dict(exc.headers) if exc.headers else None
        allowed = _allowed(request) if exc.status_code == 405 else []
        if allowed:  # RFC 9110: a 405 says what the resource allows (Starlette's says less)
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        return problem(request, exc.status_code, code, detail, detail, headers=headers)


def _allowed(request: Request) -> list[str]:
    """Every method the API documents for this path (Starlette names only the first
    route's, and a path's GET and POST are two routes). From the OpenAPI paths, read once."""
    table = getattr(request.app.state, "methods_by_path", None)
    if table is None:
        table = [
            (re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"),
             {method.upper() for method in operations})
            for path, operations in request.app.openapi()["paths"].items()
        ]  # fmt: skip
        request.app.state.methods_by_path = table
    return sorted(
        {m for pattern, methods in table if pattern.match(request.url.path) for m in methods}
    )
