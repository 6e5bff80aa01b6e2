"""Errors that cross layers: domain rule violations and the two kinds of integration failure."""

from __future__ import annotations

from dataclasses import dataclass, field


class OptlineError(Exception):
    """Base class of every error Optline raises on purpose."""


class ValidationError(OptlineError):
    """Bad input: carries one message per offending field path."""

    def __init__(self, errors: list[FieldError] | FieldError | str) -> None:
        if isinstance(errors, str):
            errors = [FieldError("", errors)]
        elif isinstance(errors, FieldError):
            errors = [errors]
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class NotFoundError(OptlineError):
    """A named object does not exist."""


class ConflictError(OptlineError):
    """The request clashes with the current state (a duplicate, a run already going)."""


class ForbiddenError(OptlineError):
    """Authenticated, but this proof of identity is not enough for the action."""


class AuthError(OptlineError):
    """Missing or invalid credentials."""


class IntegrationError(OptlineError):
    """A vendor call failed; subclasses say whether to try again."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RetryableError(IntegrationError):
    """Worth retrying: 429, 5xx, timeouts, connection errors.

    ``retry_after`` is the number of seconds the vendor asked us to wait, when it said.
    ``ambiguous``: the request may have reached the vendor and may still be applied (no answer
    came: a read timeout, a connection dropped after sending), so a newer request for the same
    thing sent at once could be overtaken by this one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after
        self.ambiguous = ambiguous


class PermanentError(IntegrationError):
    """Retrying the same request will fail again: bad key, missing permission, bad input."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errors: list[dict[str, object]] | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.errors = errors or []


@dataclass(frozen=True)
class ItemError:
    """One object of a batch that the vendor rejected (Braze ``errors[]``)."""

    index: int
    message: str
    input_array: str = "attributes"
    extra: dict[str, object] = field(default_factory=dict)
