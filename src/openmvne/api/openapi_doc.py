"""The OpenAPI document says how errors really leave the API: application/problem+json
(api/problems.py), bad input as 400. FastAPI's own default documents a 422 with its
HTTPValidationError body, which this API never sends: a client generated from it would look
for the wrong status and the wrong shape."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from openmvne.api.problems import PROBLEM

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details with TM Forum Error fields (TMF630).",
    "type": "object",
    "required": ["type", "title", "status", "code", "message"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "@type": {"type": "string"},
        "code": {"type": "string", "description": "Stable, for programs: e.g. bad_amount"},
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "requestId": {"type": "string"},
        "field": {"type": "string", "description": "Which input was wrong"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def problem_responses(spec: dict[str, Any]) -> dict[str, Any]:
    """Every operation's errors as problems: a 400 where it takes input, any other status
    as the default response; FastAPI's 422 and its schemas removed."""
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():  # FastAPI's path items hold operations only
            responses = operation.setdefault("responses", {})
            if responses.pop("422", None) is not None:
                responses["400"] = _problem("Bad input: a missing, unknown or invalid field")
            responses["default"] = _problem("An error (401, 403, 404, 409, 422, 429, …)")
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    return spec


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_responses(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
