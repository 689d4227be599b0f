"""Each test's PostgreSQL database: a copy of the migrated template, emptied after the test and
handed, under a new name, to the next one.

Emptying a test's few rows takes milliseconds; making a database from the template and dropping
it took about half a second a test, most of it the server's CPU and its checkpoints. Under a new
name, nothing left over from a test (a connection, a thread that connects late) reaches the
next test's data, as with a dropped database. A database whose schema a test changed, or that
cannot be emptied, is dropped instead.
"""

import graphlib
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.util import LRUCache

from partnerflow.db import make_engine

# What makes two databases' schemas the same, in one line: tables, columns, indexes,
# constraints, sequences, views, types, functions, triggers, extensions, the migration.
SCHEMA = text(
    """
    SELECT md5(string_agg(line, E'\\n' ORDER BY line)) FROM (
        SELECT 'relation ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text AS line
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
        UNION ALL
        SELECT 'column ' || table_schema || '.' || table_name || '.' || column_name || ' '
               || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
        FROM information_schema.columns
        WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
          AND table_schema NOT LIKE 'pg_temp%'
        UNION ALL
        SELECT 'index ' || indexdef FROM pg_indexes
        WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
        UNION ALL
        SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' '
               || pg_get_constraintdef(oid)
        FROM pg_constraint
        WHERE connamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
        UNION ALL
        SELECT 'type ' || t.typname || ' ' || t.typtype::text
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
        UNION ALL
        SELECT 'function ' || p.oid::regprocedure::text
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
        UNION ALL
        SELECT 'trigger ' || tgrelid::regclass::text || ' ' || tgname
        FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL
        SELECT 'extension ' || extname || ' ' || extversion FROM pg_extension
        UNION ALL
        SELECT 'migration ' || version_num FROM alembic_version
    ) AS schema
    """
)
TABLES = text(
    """
    SELECT c.oid, c.oid::regclass::text FROM pg_class c JOIN pg_namespace n
    ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
      AND c.relname <> 'alembic_version'
    """
)
REFERENCES = text("SELECT conrelid, confrelid FROM pg_constraint WHERE contype = 'f'")
SEQUENCES = text(
    "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
)
CONNECTED = text(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
    " WHERE datname = :name AND pid <> pg_backend_pid()"
)
# A lock a terminated connection still holds goes with it; one held longer means trouble:
# the database is dropped instead.
LOCK_WAIT = "2s"
RENAME_TRIES = 100
T = TypeVar("T")


def database_url(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


class ReusedDatabases:
    """Databases made from `template` on the server of `server_url`, one per running test."""

    def __init__(self, server_url: str, template: str, prefix: str) -> None:
        self._server_url = server_url
        self._template = template
        self._prefix = prefix
        self._admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
        self._idle: list[str] = []
        self._schema: str | None = None  # the template's, read from its first copy

    def take(self) -> str:
        """A database at the newest schema with no rows (the template's copy, or emptied)."""
        if self._idle:
            return self._idle.pop()
        name = self._new_name()
        with self._admin.connect() as admin:
            admin.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"'))
        if self._schema is None:
            self._schema = self._read(name, self._schema_of)
        return name

    def give_back(self, name: str) -> None:
        """Empty the database for the next test and rename it; drop it when that fails."""
        try:
            self._terminate(name)
            if self._read(name, self._emptied):
                renamed = self._new_name()
                self._rename(name, renamed)
                self._idle.append(renamed)
                return
        except SQLAlchemyError:
            pass
        self._drop(name)

    def close(self) -> None:
        while self._idle:
            self._drop(self._idle.pop())
        self._admin.dispose()

    def _new_name(self) -> str:
        return f"{self._prefix}_{uuid.uuid4().hex[:12]}"

    def _read(self, name: str, work: Callable[[Connection], T]) -> T:
        engine = create_engine(database_url(self._server_url, name), poolclass=NullPool)
        try:
            with engine.begin() as connection:
                return work(connection)
        finally:
            engine.dispose()

    @staticmethod
    def _schema_of(connection: Connection) -> str:
        return str(connection.execute(SCHEMA).scalar_one())

    def _emptied(self, connection: Connection) -> bool:
        """Deletes every row but the migration's, children before the rows they name; False
        (and nothing deleted) if the schema is not the template's or the references go round."""
        if self._schema_of(connection) != self._schema:
            return False
        connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
        tables: dict[int, str] = {oid: name for oid, name in connection.execute(TABLES)}
        order: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
        for table in tables:
            order.add(table)
        for child, parent in connection.execute(REFERENCES):
            if child != parent and child in tables and parent in tables:
                order.add(parent, child)  # the child's rows go first
        try:
            deletion_order = list(order.static_order())
        except graphlib.CycleError:
            return False
        for table in deletion_order:
            # the name as the catalogue quotes it (regclass), not anyone's input
            connection.execute(text(f"DELETE FROM {tables[table]}"))  # noqa: S608
        for sequence in connection.execute(SEQUENCES).scalars().all():
            connection.execute(text(f"ALTER SEQUENCE {sequence} RESTART"))
        return True

    def _terminate(self, name: str) -> None:
        with self._admin.connect() as admin:
            admin.execute(CONNECTED, {"name": name})

    def _rename(self, name: str, renamed: str) -> None:
        """A connection just terminated may take a moment to end: until then, no rename."""
        for attempt in range(RENAME_TRIES):
            try:
                with self._admin.connect() as admin:
                    admin.execute(text(f'ALTER DATABASE "{name}" RENAME TO "{renamed}"'))
                return
            except SQLAlchemyError:
                if attempt == RENAME_TRIES - 1:
                    raise
                self._terminate(name)
                time.sleep(0.01)

    def _drop(self, name: str) -> None:
        with self._admin.connect() as admin:
            admin.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# SQLAlchemy keeps a statement's compiled form per engine, keyed by the engine's dialect: each
# test's new engines (the worker's and the API's) compiled every statement again, a sixth of
# the tests' CPU. Here they share one dialect and one cache per kind of database, as the one
# engine of a production process keeps its statements compiled from one request to the next.
_COMPILED: dict[str, tuple[Dialect, LRUCache[Any, Any]]] = {}


def warm_engine(database_url: str, page_cache_mb: int | None = None) -> Engine:
    """`partnerflow.db.make_engine`'s engine (its pool, its settings), with the statements
    compiled by the tests before."""
    engine = make_engine(database_url, page_cache_mb)
    dialect, compiled = _COMPILED.setdefault(engine.dialect.name, (engine.dialect, LRUCache(5000)))
    return Engine(engine.pool, dialect, engine.url, execution_options={"compiled_cache": compiled})
