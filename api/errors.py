"""Errors that name what is at fault, in FastAPI's own 422 shape where a field is to blame."""

from typing import Any, NoReturn

from fastapi import HTTPException, status
from pydantic import BaseModel


def invalid(field: str | list[str | int], message: str, where: str = "body") -> NoReturn:
    """422 naming the field, shaped like FastAPI's validation errors."""
    loc = [where, *([field] if isinstance(field, str) else field)]
    raise HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[{"loc": loc, "msg": message, "type": "value_error"}],
    )


def not_found(what: str) -> NoReturn:
    raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{what} not found")


def conflict(message: str) -> NoReturn:
    raise HTTPException(status.HTTP_409_CONFLICT, detail=message)


def forbidden(message: str) -> NoReturn:
    raise HTTPException(status.HTTP_403_FORBIDDEN, detail=message)


class ErrorDetail(BaseModel):
    """Every error: `detail` is a message, or FastAPI's list naming the fields at fault."""

    detail: str | list[dict[str, Any]]


_MEANINGS = {
    401: "no or bad token",
    403: "the caller may see this but not do it",
    404: "not found, or not visible to the caller",
    409: "the state does not allow it (step not open, process cancelled, not published)",
    410: "an invitation used, replaced or expired",
    413: "the body or upload is too large",
    415: "the uploaded file's type is not allowed",
    422: "bad input: the field, step or document at fault is named",
    429: "too many requests on a public endpoint",
    503: "Temporal or the database did not answer",
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorDetail, "description": meaning} for code, meaning in _MEANINGS.items()
}
