"""Typed errors with a stable `code`. Services raise them; every interface renders them.

The API turns them into application/problem+json (RFC 9457 + TM Forum Error fields),
the CLI into one line and a non-zero exit, the portal into a message by the field.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 422
    title: ClassVar[str] = "The request breaks a rule"
    default_code: ClassVar[str] = "rule_violation"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field
        self.details = details


class InvalidInput(DomainError):
    status = 400
    title = "Invalid input"
    default_code = "invalid_input"


class NotAuthenticated(DomainError):
    status = 401
    title = "Not authenticated"
    default_code = "not_authenticated"


class Forbidden(DomainError):
    """The caller can see the object but its role may not do this to it."""

    status = 403
    title = "Not allowed"
    default_code = "forbidden"


class NotFound(DomainError):
    """Missing, or outside the caller's scope: the two are indistinguishable on purpose."""

    status = 404
    title = "Not found"
    default_code = "not_found"


class Conflict(DomainError):
    status = 409
    title = "Conflict with the current state"
    default_code = "conflict"


class RuleViolation(DomainError):
    status = 422
    title = "The request breaks a rule"
    default_code = "rule_violation"


class Busy(DomainError):
    """A lock could not be taken in time; the same request may be retried."""

    status = 503
    title = "Busy, retry"
    default_code = "lock_timeout"


class ScopeMissing(RuntimeError):
    """A query on a tenant-owned table ran without a scope: a programming error, never data."""
