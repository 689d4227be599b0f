"""What the workflow tests share: a local SMTP server, and a worker on the time-skipping
server that sends its e-mails there (a day of retries passes in moments)."""

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from tests.process_world import MailServer, World, smtp_server, world_with_worker


@pytest.fixture
def mail_server() -> Iterator[tuple[int, MailServer]]:
    with smtp_server() as running:
        yield running


@pytest.fixture
async def smtp_world(
    time_skipping_env: WorkflowEnvironment,
    database_url: str,
    engine: Engine,
    mail_server: tuple[int, MailServer],
) -> AsyncIterator[World]:
    port, _ = mail_server
    async with world_with_worker(
        time_skipping_env, database_url, engine,
        mail_transport="smtp", smtp_host="127.0.0.1", smtp_port=port,
    ) as running:  # fmt: skip
        yield running
