"""What every command group needs: the database and public-id parsing."""

from __future__ import annotations

import uuid

from openmvne import ids
from openmvne.config import get_settings
from openmvne.db.engine import Database
from openmvne.errors import InvalidInput


def open_db() -> Database:
    settings = get_settings()
    return Database(settings.database_url, lock_timeout_s=settings.lock_timeout_s)


def public_id(kind: str, text: str, option: str) -> uuid.UUID:
    value = ids.from_public(kind, text)
    if value is None:
        prefix = ids.PREFIXES[kind]
        raise InvalidInput(f"{text!r} is not a {prefix}_… id", code="bad_reference", field=option)
    return value
