"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from partnerflow.migrate import ROOT


def test_migrations_match_the_models(engine: Engine) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        try:
            command.check(config)
        except CommandError as error:  # pragma: no cover - the message is the diagnosis
            raise AssertionError(f"models and migrations differ: {error}") from error
    tables = set(inspect(engine).get_table_names())
    assert {"process", "processstep", "outboxemail", "processtemplateversion"} <= tables
