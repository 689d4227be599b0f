"""Apply the Alembic migrations to a database, and give an empty one its first admin: `make up`,
the API's start and the tests use it."""

import sys
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
    An empty database also gets its first admin: with the token PARTNERFLOW_ADMIN_TOKEN
    names, or, when that is unset or empty, a generated one shown once on standard output
    (the container's log on the first start; never again, and never through logging)."""
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
    configured = settings.admin_token.get_secret_value() if settings.admin_token else None
    seeded = seed(engine, configured, demo=False)
    engine.dispose()
    if not seeded.created:
        return
    if configured:
        log.info("first admin created with the token PARTNERFLOW_ADMIN_TOKEN names")
    else:
        _show_once(seeded.tokens["admin"], settings.public_url, settings.token_ttl_days)


def _show_once(token: str, public_url: str, ttl_days: int) -> None:
    # Printed, not logged: no logging handler (a file, a shipper) ever gets it. In a container
    # it is in the API's output of the first start (`docker compose logs api`), which is why
    # the message asks for it to be replaced.
    lines = [
        "",
        "First admin created. PARTNERFLOW_ADMIN_TOKEN was not set, so this token was made;",
        "it is shown this once and stored only as a hash:",
        "",
        f"    {token}",
        "",
        f"Sign in at {public_url.rstrip('/')}/sign-in with it, create a token of your own on",
        f"your account page, and revoke this one. It expires in {ttl_days} days.",
        "",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
