"""Refusals (partnerflow/refusals.py) as JSON: FastAPI's own 422 shape where a field is to blame."""

from typing import Any, Literal, NoReturn

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from partnerflow import refusals
from partnerflow.refusals import Refused, http_status


def invalid(
    field: str | list[str | int], message: str, where: Literal["body", "query", "header"] = "body"
) -> NoReturn:
    """422 naming the field, shaped like FastAPI's validation errors (api/main.py)."""
    raise Refused("invalid", message, field, where=where)


def not_found(what: str) -> NoReturn:
    raise refusals.not_found(what)


def conflict(message: str) -> NoReturn:
    raise refusals.conflict(message)


def forbidden(message: str) -> NoReturn:
    raise refusals.forbidden(message)


def answer(refused: Refused) -> JSONResponse:
    """The one JSON shape of a refusal: `{"detail": message}` with the status its kind means,
    or for a field at fault FastAPI's own validation list."""
    detail: str | list[dict[str, Any]] = refused.message
    if refused.kind == "invalid" and refused.loc:
        loc = [refused.where, *refused.loc]
        detail = [{"loc": loc, "msg": refused.message, "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=http_status(refused.kind))


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
