"""The TM Forum Open API conventions, implemented once (TMF630 design guidelines).

- list: `offset`/`limit` paging with `X-Total-Count` and `X-Result-Count`, attribute
  filters as query parameters (`?status=approved`), `fields=` attribute selection;
- create: 201 with `Location`; delete: 204;
- PATCH: `application/json` or `application/merge-patch+json` (RFC 7386), else 415;
- an attribute with no value is left out of a resource, never sent as null: the TM Forum
  schemas type each attribute (string, object, array), and none of them as null.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse

from openmvne import ids
from openmvne.config import get_settings
from openmvne.errors import DomainError, InvalidInput, NotFound
from openmvne.services.common import check_filter_names

RESERVED = frozenset({"fields", "offset", "limit"})
ALWAYS = ("id", "href", "@type")
MAX_LIMIT = 1000
# Far past any list here (tens of millions of numbers), and within what databases take: an
# offset past 2**63 was a 500.
MAX_OFFSET = 10**12


@dataclass(frozen=True)
class ListParams:
    offset: int
    limit: int
    fields: tuple[str, ...] | None
    filters: dict[str, str]


def list_params(
    request: Request,
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="Index of the first item returned"),
    limit: int = Query(100, ge=1, le=MAX_LIMIT, description="Maximum number of items"),
    fields: str | None = Query(None, description="Comma-separated attributes to return"),
) -> ListParams:
    filters = {k: v for k, v in request.query_params.items() if k not in RESERVED}
    return ListParams(offset, limit, parse_fields(fields), filters)


def refuse_filters(params: ListParams, *named: str) -> None:
    """For a list that filters on nothing but its `named` query parameters: any other
    attribute is a 400 unknown_filter, never silently ignored (docs/api.md)."""
    check_filter_names(params.filters, named)


def parse_fields(fields: str | None) -> tuple[str, ...] | None:
    if fields is None:
        return None
    names = tuple(f.strip() for f in fields.split(",") if f.strip())
    if not names:
        raise InvalidInput("fields= names no attribute", code="bad_fields", field="fields")
    return names


def compact(value: Any) -> Any:
    """The resource without its attributes that have no value (nested ones too)."""
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [compact(v) for v in value]
    return value


def select_fields(item: dict[str, Any], fields: tuple[str, ...] | None) -> dict[str, Any]:
    """The attributes `fields=` names (with id, href and @type), compacted: an attribute is
    known when the resource has it, valued or not."""
    if fields is None:
        return compact(item)  # type: ignore[no-any-return]
    unknown = [f for f in fields if f not in item]
    if unknown:
        raise InvalidInput(
            f"unknown attribute(s) in fields=: {', '.join(unknown)}",
            code="bad_fields",
            field="fields",
        )
    keep = set(fields) | set(ALWAYS)
    return compact({k: v for k, v in item.items() if k in keep})  # type: ignore[no-any-return]


def base_url(request: Request) -> str:
    configured = get_settings().public_base_url
    return configured.rstrip("/") if configured else str(request.base_url).rstrip("/")


def list_response(items: list[dict[str, Any]], total: int, params: ListParams) -> JSONResponse:
    body = [select_fields(item, params.fields) for item in items]
    return JSONResponse(
        body,
        headers={"X-Total-Count": str(total), "X-Result-Count": str(len(body))},
    )


def item_response(item: dict[str, Any], fields: str | None = None) -> JSONResponse:
    return JSONResponse(select_fields(item, parse_fields(fields)))


def created_response(item: dict[str, Any]) -> JSONResponse:
    return JSONResponse(compact(item), status_code=201, headers={"Location": item["href"]})


def no_content() -> Response:
    return Response(status_code=204)


def require_patch_media_type(request: Request) -> None:
    """PATCH takes JSON merge patch (RFC 7386); plain application/json is read the same way."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("application/json", "application/merge-patch+json"):
        raise UnsupportedMediaType(
            "PATCH takes application/merge-patch+json or application/json",
            code="unsupported_media_type",
        )


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"
    default_code = "unsupported_media_type"


def path_id(kind: str, text: str) -> Any:
    """The UUID behind a public id in a path; a malformed or wrong-kind id is simply absent."""
    value = ids.from_public(kind, text)
    if value is None:
        raise NotFound(f"no {kind.replace('_', ' ')} with id {text!r}")
    return value


def body_id(kind: str, text: str | None, field: str) -> Any:
    """The UUID behind a public id in a body field; a malformed one is a 400 naming the field."""
    if text is None:
        return None
    value = ids.from_public(kind, text)
    if value is None:
        raise InvalidInput(
            f"{text!r} is not a {kind.replace('_', ' ')} id", code="bad_reference", field=field
        )
    return value


Presenter = Callable[[dict[str, Any], str], dict[str, Any]]
