"""The pages' tests run on SQLite alone.

The pages get their processes, steps, scorecards and lists from the same services as the JSON
API, whose tests run every such query on SQLite and on PostgreSQL; what the pages query
themselves is plain selects of choices for their forms (partners, users, templates by name).
What a page test adds is the page: rendering, forms, refusals beside inputs, languages, the
browser. Running each of those a second time on PostgreSQL tested no query of substance and
cost a fifth of the suite's time."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from tests.browser import Live, live_stack
from tests.conftest import new_database
from tests.databases import ReusedDatabases


@pytest.fixture(params=["sqlite"])
def database_url(
    tmp_path: Path, migrated_sqlite: Path, reused_postgres: ReusedDatabases | None
) -> Iterator[str]:
    """A fresh SQLite database per page test (`tests/conftest.py` `database_url`)."""
    with new_database("sqlite", tmp_path, migrated_sqlite, reused_postgres) as url:
        yield url


@pytest.fixture
async def live(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine, tmp_path: Path
) -> AsyncIterator[Live]:
    """The stack served on a port of its own, for the browser tests (tests/browser.py)."""
    async with live_stack(temporal_env, database_url, engine, tmp_path) as running:
        yield running
