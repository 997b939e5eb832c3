"""Writes tests/tmf/schemas.json: the definitions of the TM Forum resources this API returns,
with every definition they refer to, copied from the official v4 OpenAPI files (Apache
License 2.0; see ../shared/tmf/README.md for where each file comes from). Run it again when
the platform answers a new TM Forum resource:

    python tests/tmf/extract.py ../shared/tmf
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# API: (the official file the TM Forum conformance kit tests, the resources taken from it)
SOURCES = {
    "TMF620": (
        "TMF620-ProductCatalog-v4.0.0.swagger.json",
        ["ProductOffering", "ProductSpecification", "ProductOfferingPrice", "Category", "Catalog"],
    ),
    "TMF621": ("TMF621_Trouble_Ticket_Management_API_v4.0.0_swagger.json", ["TroubleTicket"]),
    "TMF622": ("TMF622_Product_Ordering_Management_API_v4.0.0_swagger.json", ["ProductOrder"]),
    "TMF629": ("TMF629_Customer_Management_API_v4.0.0_swagger.json", ["Customer"]),
    "TMF632": ("TMF632_Party_Management_API_v4.0.0_swagger.json", ["Organization", "Individual"]),
    "TMF635": ("TMF635_Usage_Management_API_v4.0.0_swagger.json", ["Usage"]),
    "TMF637": ("TMF637_Product_Inventory_Management_API_v4.0.0_swagger.json", ["Product"]),
    "TMF639": ("TMF639_Resource_Inventory_Management_API_v4.0.0_swagger.json", ["Resource"]),
    "TMF654": (
        "TMF654_Prepay_Balance_Management_API_v4.0.0_swagger.json",
        ["TopupBalance", "Bucket"],
    ),
    "TMF666": (
        "TMF666_Account_Management_API_v4.0.0_swagger.json",
        ["BillingAccount", "PartyAccount"],
    ),
    "TMF669": ("TMF669_Party_Role_Management_API_v4.0.0_swagger.json", ["PartyRole"]),
    "TMF678": (
        "TMF678_Customer_Bill_Management_API_v4.0.0_swagger.json",
        ["CustomerBill", "AppliedCustomerBillingRate"],
    ),
}


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[1]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def closure(definitions: dict[str, Any], roots: list[str]) -> dict[str, Any]:
    """The roots and every definition reachable from them."""
    kept: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in kept:
            kept[name] = definitions[name]
            todo.extend(_refs(kept[name]) - kept.keys())
    return dict(sorted(kept.items()))


def main(folder: Path) -> None:
    bundle = {}
    for api, (file, roots) in SOURCES.items():
        definitions = json.loads((folder / file).read_text())["definitions"]
        bundle[api] = {
            "source": file,
            "resources": roots,
            "definitions": closure(definitions, roots),
        }
    out = Path(__file__).with_name("schemas.json")
    # One API a line: a generated copy, read by the tests, not by people.
    lines = [
        f"{json.dumps(api)}: {json.dumps(body, sort_keys=True)}" for api, body in bundle.items()
    ]
    out.write_text("{\n" + ",\n".join(lines) + "\n}\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
