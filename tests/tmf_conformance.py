"""TM Forum resources as the official v4 schemas define them (tests/tmf/schemas.json, copied
from the TM Forum's OpenAPI files by tests/tmf/extract.py).

A resource (and an entity in it, such as a RatedProductUsage) may carry attributes of its own
(TMF630 allows extensions), but every attribute the TM Forum defines must have its type and
values, and every value type and reference nested in it (Quantity, Money, TimePeriod, a
RelatedParty, any ...Ref) must be exactly that: an unknown key there (`unit` for `units`, a
`role` on a ChannelRef) is a mistake, not an extension."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

SCHEMAS = Path(__file__).with_name("tmf") / "schemas.json"
VALUE_TYPES = {
    "Quantity",
    "Money",
    "TimePeriod",
    "RelatedParty",
    "RelatedPlaceRefOrValue",
    "Characteristic",
    "UsageCharacteristic",
    "AccountBalance",
    "Note",
}


def _exact(name: str) -> bool:
    return name in VALUE_TYPES or name.endswith("Ref")


# Where this platform knowingly differs from the TM Forum schema, and why.
DEVIATIONS = {
    # A party here is active or closed; TMF632 v4's initialized/validated (and deceased)
    # describe a data-validation lifecycle the platform does not have.
    ("Organization", "status"): "the platform's party states are active and closed",
    ("Individual", "status"): "the platform's party states are active and closed",
}


@cache
def _validator(resource: str) -> Draft4Validator:
    for api in json.loads(SCHEMAS.read_text()).values():
        if resource in api["resources"]:
            definitions = {
                name: {**schema, "additionalProperties": False} if _exact(name) else schema
                for name, schema in api["definitions"].items()
            }
            return Draft4Validator(
                {"$ref": f"#/definitions/{resource}", "definitions": definitions},
                format_checker=Draft4Validator.FORMAT_CHECKER,
            )
    raise KeyError(f"no TM Forum schema for {resource}")


def problems(resource: str, body: dict[str, Any]) -> list[str]:
    """What in `body` the TM Forum's definition of `resource` refuses (known deviations aside)."""
    found = []
    for error in _validator(resource).iter_errors(body):
        where = [str(p) for p in error.absolute_path]
        if (resource, where[0] if where else "") in DEVIATIONS:
            continue
        found.append(f"{resource} {'/'.join(where) or '(root)'}: {error.message}")
    return found


def assert_tmf(resource: str, bodies: dict[str, Any] | list[dict[str, Any]]) -> None:
    """Every body is a valid TM Forum `resource`."""
    items = bodies if isinstance(bodies, list) else [bodies]
    assert items, f"no {resource} to check"
    found = [p for body in items for p in problems(resource, body)]
    assert not found, "\n".join(found[:20])
