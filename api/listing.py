"""Lists answer `{data, count}`: one page of rows and how many there are in all."""

from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from api.deps import Pagination

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    count: int


def fetch_page(
    session: Session, statement: SelectOfScalar[Any], page: Pagination
) -> tuple[list[Any], int]:
    # counted without the order: sorting every row only to count them cost SQLite a third
    count = session.exec(
        select(func.count()).select_from(statement.order_by(None).subquery())
    ).one()
    rows = session.exec(statement.limit(page.limit).offset(page.offset)).all()
    return list(rows), count
