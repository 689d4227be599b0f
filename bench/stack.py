"""The parts the benchmark runs: a Temporal dev server, workers and the API, each a process."""

import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from workflows.search_attributes import dev_server_args

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESERVED = {7233, 8233, 8000}  # `make up`'s ports: never ours


def free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in RESERVED:
            return port


def wait_for_port(name: str, port: int, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{name}: nothing answered on 127.0.0.1:{port} after {seconds:.0f}s")


def stop(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running(
    name: str, args: list[str], env: dict[str, str], log: Path, port: int | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process (its output in `log`), stopped with SIGINT when the block ends."""
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 (our own binaries)
            args, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        if port is not None:
            wait_for_port(name, port, process, 60)
        yield process
    finally:
        stop(process)


def temporal_args(db_file: Path | None) -> tuple[list[str], int, int]:
    """`temporal server start-dev` on free ports: file-backed, or in memory without a file.
    Answers the arguments, the frontend's port and the Prometheus port."""
    port, metrics = free_port(), free_port()
    args = [
        str(BIN / "temporal"), "server", "start-dev",
        "--ip", "127.0.0.1", "--port", str(port),
        "--ui-port", str(free_port()), "--http-port", str(free_port()),
        "--metrics-port", str(metrics),
        "--headless", "--log-level", "error",
        *dev_server_args(),
    ]  # fmt: skip
    if db_file is not None:
        args += ["--db-filename", str(db_file)]
    return args, port, metrics


_COUNTER = re.compile(r"^(persistence_requests|service_requests)\{(.*)\} ([0-9.e+]+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class Product:
    """A Temporal dev server, a migrated SQLite database, the worker and the API."""

    temporal: subprocess.Popen[bytes]
    address: str
    metrics_port: int
    database_url: str
    env: dict[str, str]
    api_port: int
    worker: subprocess.Popen[bytes]
    api: subprocess.Popen[bytes]


def worker_args() -> list[str]:
    return [sys.executable, str(ROOT / "worker.py")]


def api_args(port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip


def product_env(
    database_url: str, address: str, task_queue: str, storage: Path, api_port: int
) -> dict[str, str]:
    """The settings a benchmark's worker and API run with: this database and Temporal, mail
    to the outbox, the API on `api_port`."""
    return {
        "PARTNERFLOW_DATABASE_URL": database_url,
        "PARTNERFLOW_TEMPORAL_ADDRESS": address,
        "PARTNERFLOW_TEMPORAL_NAMESPACE": "default",
        "PARTNERFLOW_TASK_QUEUE": task_queue,
        "PARTNERFLOW_STORAGE_DIR": str(storage),
        "PARTNERFLOW_PUBLIC_URL": f"http://127.0.0.1:{api_port}",
        "PARTNERFLOW_MAIL_TRANSPORT": "outbox",
        "PARTNERFLOW_LOG_FORMAT": "text",
        "PARTNERFLOW_WORKER_METRICS_ADDRESS": "",
    }


@contextmanager
def postgres_database(
    server_url: str, prefix: str, random_page_cost: float | None = None
) -> Iterator[str]:
    """A database of its own on the server (`<prefix>_<hex>`), dropped when the block ends
    whatever happened; answers its URL. `random_page_cost`: set for the database, as a
    deployment on SSD does (docs/operations.md). Raises OperationalError when the server does
    not answer."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        server_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
            if random_page_cost is not None:
                connection.execute(
                    text(f'ALTER DATABASE "{name}" SET random_page_cost = {random_page_cost:g}')
                )
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def start_product(
    exits: ExitStack,
    work: Path,
    temporal_db: str,
    task_queue: str,
    prepare: Callable[[str], None] | None = None,
) -> Product:
    """Temporal (`temporal_db`: "file", as `make up`, or "memory"), then the worker and the
    API on a database at `work/partnerflow.db`; `prepare(database_url)` runs before they
    start. Everything stops when `exits` closes; logs in `work/logs`."""
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    db_file = work / "temporal.db" if temporal_db == "file" else None
    temporal_cmd, temporal_port, metrics_port = temporal_args(db_file)
    temporal = exits.enter_context(
        running("Temporal", temporal_cmd, {}, logs / "temporal.log", temporal_port)
    )
    address = f"127.0.0.1:{temporal_port}"
    database_url = f"sqlite:///{work / 'partnerflow.db'}"
    if prepare is not None:
        prepare(database_url)
    api_port = free_port()
    env = product_env(database_url, address, task_queue, work / "documents", api_port)
    worker = exits.enter_context(running("worker", worker_args(), env, logs / "worker.log"))
    api = exits.enter_context(running("API", api_args(api_port), env, logs / "api.log", api_port))
    return Product(temporal, address, metrics_port, database_url, env, api_port, worker, api)


def temporal_requests(metrics_port: int) -> dict[str, float]:
    """The dev server's request counters: RPCs by operation, persistence calls by operation."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        match = _COUNTER.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match.group(2)))
        kind = "rpc" if match.group(1) == "service_requests" else "db"
        key = f"{kind} {labels.get('service_name', '?')} {labels.get('operation', '?')}"
        counts[key] = counts.get(key, 0.0) + float(match.group(3))
    return counts


def memory(pid: int) -> dict[str, float]:
    """Resident memory of a process in MB: now (VmRSS) and its peak so far (VmHWM)."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "temporalio": version("temporalio"),
        "commit": commit(),
    }


def commit() -> str:
    """The commit checked out (read from .git; uncommitted changes are not seen). In a
    worktree (`git worktree add`, for comparing two commits) .git names its own folder."""
    git = ROOT / ".git"
    try:
        if git.is_file():
            git = ROOT / git.read_text().strip().removeprefix("gitdir: ")  # absolute or not
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:12]
        ref = head.removeprefix("ref: ")
        if (git / "commondir").exists():  # a worktree's branches are the repository's
            git = (git / (git / "commondir").read_text().strip()).resolve()
        if (git / ref).exists():
            return (git / ref).read_text().strip()[:12]
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(f" {ref}"):
                return line.split()[0][:12]
    except OSError:
        pass
    return "?"
