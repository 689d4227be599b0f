"""Database engine and sessions, and the column types shared by the tables."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import ColumnElement, DateTime, event, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored as UTC; SQLite hands back naive values, so re-attach."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Partnerflow stores timezone-aware times only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def epoch_seconds(dialect: str, moment: ColumnElement[Any]) -> ColumnElement[float]:
    """A timestamp column as seconds since 1970 (UTC), computed by the database: the rows
    come back as plain numbers, not as timestamps to parse."""
    match dialect:
        case "sqlite":  # stored as UTC text; julianday reads it, to the millisecond
            return func.round((func.julianday(moment) - 2440587.5) * 86400.0, 3)
        case _:
            return sqlalchemy.cast(func.extract("epoch", moment), sqlalchemy.Float)


class unindexed(FunctionElement[Any]):  # lower case: used like a SQL function
    """The column's value, kept out of SQLite's choice of index (`+column`, SQLite's idiom):
    where a filter on a column nearly every row matches (a process's status `running`) would
    otherwise be the index SQLite walks, without statistics, instead of a selective one (a
    caller's steps): at 100,000 running processes `GET /api/my/tasks` took 900 ms that way,
    10 ms from the steps. PostgreSQL gets the column as it is: it has statistics, and hiding
    them (a function of the column) made it walk every process (bench/lists.py)."""

    inherit_cache = True

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed)
def _as_it_is(element: unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(unindexed, "sqlite")
def _unary_plus(element: unindexed, compiler: Any, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"


def upsert_insert(dialect: str, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say what to do on a conflict (`on_conflict_do_…`), in the dialect
    of the connection it will run on (`connection.dialect.name`). Where one runs often, it is
    built once (functools.cache) and its values are bound when it runs: building it, with
    `excluded` copying every column of the table, costs more CPU than running it."""
    match dialect:
        case "postgresql":
            return postgresql.insert(table)
        case "sqlite":
            return sqlite.insert(table)
        case other:
            raise RuntimeError(f"no upsert for the {other} dialect")


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(database_url: str, page_cache_mb: int | None = None) -> Engine:
    """An engine for the URL. SQLite: WAL, foreign keys, and `page_cache_mb` of the file's
    pages kept per connection (SQLite's default is 2 MB): the API's lists read the same index
    pages again and again (at 100,000 processes `GET /api/my/tasks` took 16 ms with the
    default, 10 with 32 MB)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # The API and the worker write to the same file: WAL lets readers go on while one writes,
    # and the busy timeout (`timeout`, in seconds) makes a writer wait for the lock instead
    # of failing.
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        if page_cache_mb:
            cursor.execute(f"PRAGMA cache_size=-{int(page_cache_mb) * 1024}")
        cursor.close()

    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back when it raises."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
