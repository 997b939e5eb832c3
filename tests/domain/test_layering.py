"""domain/ is pure: it must not import the database, web, API, CLI or service layers."""

from __future__ import annotations

import ast
from pathlib import Path

import openmvne

FORBIDDEN = (
    "openmvne.db",
    "openmvne.api",
    "openmvne.web",
    "openmvne.cli",
    "openmvne.services",
    "openmvne.network",
    "openmvne.streaming",
    "sqlalchemy",
    "fastapi",
    "starlette",
    "typer",
    "httpx",
    "alembic",
)
ROOT = Path(openmvne.__file__).parent


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_domain_imports_nothing_from_outer_layers() -> None:
    offenders = {}
    files = sorted((ROOT / "domain").rglob("*.py"))
    assert files
    for path in files:
        bad = {m for m in imports_of(path) if m.startswith(FORBIDDEN)}
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}


def test_the_walker_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import sqlalchemy\nfrom openmvne.db import tables\n")
    assert imports_of(sample) == {"sqlalchemy", "openmvne.db"}


def test_services_do_not_import_interfaces() -> None:
    for path in sorted((ROOT / "services").rglob("*.py")):
        bad = {
            m
            for m in imports_of(path)
            if m.startswith(("openmvne.api", "openmvne.web", "openmvne.cli", "fastapi"))
        }
        assert not bad, (path.name, bad)
