"""The only source of time. Everything is aware UTC; tests replace the clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    return _now()


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Make now() return `at` (which must be aware) inside the block."""
    if at.tzinfo is None:
        raise ValueError("frozen() needs an aware datetime")
    global _now
    previous = _now
    _now = lambda: at  # noqa: E731
    try:
        yield
    finally:
        _now = previous
