"""Errors that name what is at fault, in FastAPI's own 422 shape where a field is to blame."""

from typing import NoReturn

from fastapi import HTTPException, status


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
