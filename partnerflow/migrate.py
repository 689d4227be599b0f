"""Apply the Alembic migrations to a database: `make up`, the API's start and the tests use it."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parent.parent


def upgrade(engine: Engine) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def main() -> None:
    """`python -m partnerflow.migrate`: bring the configured database to the newest schema.
    With PARTNERFLOW_ADMIN_TOKEN set, an empty database also gets its first admin; without
    it none is made, since a generated token would end up in the container's log."""
    import logging

    from partnerflow.db import make_engine
    from partnerflow.seed import seed
    from partnerflow.settings import get_settings

    logging.basicConfig(level=logging.INFO)
    log = logging.getLogger("partnerflow.migrate")
    settings = get_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    log.info("database schema is current")
    token = settings.admin_token
    if token is not None and seed(engine, token.get_secret_value(), demo=False).created:
        log.info("first admin created with the configured token")
    engine.dispose()


if __name__ == "__main__":
    main()
