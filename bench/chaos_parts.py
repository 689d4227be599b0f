"""The parts chaos kills with SIGKILL and starts again: Temporal, the worker, the API.

Each is a real child process whose output goes to a log file (appended to on every start).
Temporal is `temporal server start-dev` on a database file, so a restarted server on the
same file and port carries on with every workflow, timer and task it had.
"""

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.service import RPCError

from partnerflow.settings import Settings
from partnerflow.temporal import DATA_CONVERTER
from workflows.search_attributes import dev_server_args

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESERVED = {7233, 8233, 8000}  # `make up`'s ports: never ours
READY_LINE = b"worker polling task queue"
# Bounds for waiting on a start, not expectations: a loaded 2-core machine is slow.
STARTUP_WAIT = 60.0


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now, all different."""
    sockets: list[socket.socket] = []
    try:
        while len(sockets) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            if sock.getsockname()[1] in RESERVED:
                sock.close()
                continue
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class Part:
    """A child process: started, killed the hard way, started again."""

    name = "part"

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        """Start the part; returns once it serves (raises RuntimeError if it does not)."""
        raise NotImplementedError

    async def _spawn(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"=== {self.name} start {self.starts} ===\n".encode())
            out.flush()
            self.process = await asyncio.create_subprocess_exec(
                *args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def _check_running(self, what: str) -> None:
        assert self.process is not None
        if self.process.returncode is not None:
            code = self.process.returncode
            raise RuntimeError(f"{self.name} exited with {code} {what}:\n{self.tail()}")

    async def kill(self) -> None:
        """SIGKILL: no graceful shutdown; whatever it had in hand is abandoned."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    def tail(self, size: int = 5000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""


class DevServer(Part):
    """`temporal server start-dev` on a database file, always on the same port."""

    name = "Temporal"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory / "temporal.log")
        self.directory = directory
        self.port, self._ui_port, self._http_port, self._metrics_port = free_ports(4)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start the server (again, on the same file and port); returns once it serves."""
        await self._spawn(
            str(BIN / "temporal"), "server", "start-dev",
            "--db-filename", str(self.directory / "temporal.db"),
            "--ip", "127.0.0.1", "--port", str(self.port),
            "--ui-port", str(self._ui_port), "--http-port", str(self._http_port),
            "--metrics-port", str(self._metrics_port),
            "--headless", "--log-level", "error",
            *dev_server_args(),
        )  # fmt: skip
        deadline = time.monotonic() + STARTUP_WAIT
        while True:
            self._check_running("while starting")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                client = await self.connect()
                await client.count_workflows()  # the default namespace answers
                return
            except (OSError, RuntimeError, RPCError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Temporal did not serve:\n{self.tail()}") from None
                await asyncio.sleep(0.2)

    async def connect(self) -> Client:
        return await Client.connect(self.address, data_converter=DATA_CONVERTER)


def inherited_environment() -> dict[str, str]:
    """This process's environment without its PARTNERFLOW_ settings: a child gets only the
    settings its caller gives it, not what happens to be set in the shell."""
    return {
        name: value for name, value in os.environ.items() if not name.startswith("PARTNERFLOW_")
    }


def stack_env(settings: Settings, server: DevServer) -> dict[str, str]:
    """The environment the worker and the API read their settings from."""
    env = {
        **inherited_environment(),
        "PARTNERFLOW_DATABASE_URL": settings.database_url,
        "PARTNERFLOW_TEMPORAL_ADDRESS": server.address,
        "PARTNERFLOW_TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "PARTNERFLOW_TASK_QUEUE": settings.task_queue,
        "PARTNERFLOW_PUBLIC_URL": settings.public_url,
        "PARTNERFLOW_STORAGE_DIR": settings.storage_dir,
        "PARTNERFLOW_MAIL_TRANSPORT": settings.mail_transport,
        "PARTNERFLOW_SMTP_HOST": settings.smtp_host,
        "PARTNERFLOW_SMTP_PORT": str(settings.smtp_port),
    }
    if settings.admin_token is not None:
        env["PARTNERFLOW_ADMIN_TOKEN"] = settings.admin_token.get_secret_value()
    return env


class Worker(Part):
    """`python worker.py`; started once it polls its task queue."""

    name = "worker"

    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__(log)
        self._env = env

    async def start(self) -> None:
        await self._spawn(sys.executable, "worker.py", env=self._env)
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_WAIT
        start_line = f"=== {self.name} start {self.starts} ===".encode()
        while READY_LINE not in self.log.read_bytes().rpartition(start_line)[2]:
            self._check_running("while starting")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start polling:\n{self.tail()}")
            await asyncio.sleep(0.05)


class ApiServer(Part):
    """The API under uvicorn on a fixed port; started once `/healthz` answers."""

    name = "API"

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        super().__init__(log)
        self._env = env
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        await self._spawn(
            sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
            # uvicorn's 5 s keep-alive races a client's idle connections (DESIGN.md)
            "--timeout-keep-alive", "30",
            env=self._env,
        )  # fmt: skip
        deadline = time.monotonic() + STARTUP_WAIT
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:
            while True:
                self._check_running("while starting")
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the API did not answer:\n{self.tail()}")
                await asyncio.sleep(0.1)
