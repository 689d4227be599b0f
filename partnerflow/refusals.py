"""The one way a service says no: `Refused(kind, message, loc)`.

Services raise it; the API answers it once (api/main.py: `{"detail": ...}` with the status its
kind means, FastAPI's validation shape when a field is at fault) and the pages once (api/web:
the message beside the input `loc` names, or above the form). The workflow's refusals carry
the same kinds as their `ApplicationError` type (workflows/rules.py), so an update the
workflow refused becomes the same `Refused` (`from_workflow`).

Pure: no web framework, no database; the workflow sandbox imports it.
"""

from collections.abc import Sequence
from typing import Literal, assert_never, get_args

RefusalKind = Literal[
    "invalid",  # the input: `loc` names the field at fault (422)
    "not_found",  # nothing the caller may see has this id (404)
    "forbidden",  # the caller may see it but not do this (403)
    "conflict",  # the state does not allow it now (409)
    "gone",  # a link or invitation used, replaced or expired (410)
    "too_large",  # a body or upload over its limit (413)
    "unavailable",  # Temporal or the database did not answer (503)
]
KINDS: tuple[RefusalKind, ...] = get_args(RefusalKind)

Loc = tuple[str | int, ...]

# The names the workflow's refusals had before they were the kinds (histories keep them).
_FORMER_NAMES: dict[str, RefusalKind] = {
    "NotFound": "not_found",
    "Forbidden": "forbidden",
    "Conflict": "conflict",
    "Invalid": "invalid",
}


class Refused(Exception):
    """A service's refusal: what kind, why (a sentence for a person), and for `invalid` the
    path to the field at fault (`where` says in which part of a request it is)."""

    def __init__(
        self,
        kind: RefusalKind,
        message: str,
        loc: str | Sequence[str | int] = (),
        *,
        where: Literal["body", "query", "header", "path"] = "body",
    ) -> None:
        super().__init__(message)
        self.kind: RefusalKind = kind
        self.message = message
        self.loc: Loc = (loc,) if isinstance(loc, str) else tuple(loc)
        self.where = where

    def __repr__(self) -> str:
        return f"Refused({self.kind!r}, {self.message!r}, {self.loc!r})"

    @classmethod
    def from_workflow(cls, error_type: str | None, message: str) -> "Refused | None":
        """The refusal an update's `ApplicationError` carries; None for any other failure."""
        if error_type in KINDS:
            return cls(_kind(error_type), message)
        if error_type in _FORMER_NAMES:
            return cls(_FORMER_NAMES[error_type], message)
        return None


def _kind(name: str) -> RefusalKind:
    for kind in KINDS:
        if kind == name:
            return kind
    raise ValueError(name)


def http_status(kind: RefusalKind) -> int:
    match kind:
        case "invalid":
            return 422
        case "not_found":
            return 404
        case "forbidden":
            return 403
        case "conflict":
            return 409
        case "gone":
            return 410
        case "too_large":
            return 413
        case "unavailable":
            return 503
        case _:
            assert_never(kind)


def invalid(loc: str | Sequence[str | int], message: str) -> Refused:
    return Refused("invalid", message, loc)


def not_found(what: str) -> Refused:
    """Said the same way everywhere: `<what> not found`."""
    return Refused("not_found", f"{what} not found")


def conflict(message: str) -> Refused:
    return Refused("conflict", message)


def forbidden(message: str) -> Refused:
    return Refused("forbidden", message)


def gone(message: str) -> Refused:
    return Refused("gone", message)
