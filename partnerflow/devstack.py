"""`make up`: migrate, seed on first run, then run Temporal, the worker and the API until Ctrl-C.

Everything persists under `.data/` (the SQLite database and Temporal's own file), so a
second `make up` finds every partner, template and running process again.
"""

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from partnerflow.db import make_engine
from partnerflow.migrate import ROOT, upgrade
from partnerflow.seed import seed
from partnerflow.settings import get_settings
from workflows.search_attributes import dev_server_args

DATA = ROOT / ".data"
API_PORT = 8000
UI_PORT = 8233
BIN = Path(sys.executable).parent


def _wait_for_port(name: str, host: str, port: int, process: subprocess.Popen[bytes]) -> None:
    seconds = 60
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode} while starting")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answered on {host}:{port} after {seconds:.0f}s")


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    # A session of its own: Ctrl-C reaches only this script, which stops the children in order.
    return subprocess.Popen(args, cwd=ROOT, start_new_session=True)  # noqa: S603 (our own binaries)


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes.values()):  # API and worker first, Temporal last
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main() -> None:
    settings = get_settings()
    DATA.mkdir(exist_ok=True)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
    seeded = seed(engine, admin_token)
    engine.dispose()

    host, _, port = settings.temporal_address.rpartition(":")
    processes: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        processes["Temporal"] = _start(
            [
                str(BIN / "temporal"), "server", "start-dev",
                "--db-filename", str(DATA / "temporal.db"),
                "--ip", "127.0.0.1", "--port", port, "--ui-port", str(UI_PORT),
                "--namespace", settings.temporal_namespace,
                "--log-level", "error",
                *dev_server_args(),
            ]
        )  # fmt: skip
        _wait_for_port("Temporal", host or "127.0.0.1", int(port), processes["Temporal"])
        processes["worker"] = _start([sys.executable, str(ROOT / "worker.py")])
        processes["API"] = _start(
            [
                sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app",
                "--host", "127.0.0.1", "--port", str(API_PORT), "--log-level", "warning",
            ]
        )  # fmt: skip
        _wait_for_port("API", "127.0.0.1", API_PORT, processes["API"])
        _announce(seeded.tokens)
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    raise SystemExit(f"{name} stopped with {process.returncode}")
            time.sleep(0.5)
    finally:
        print("\nStopping the API, the worker and Temporal …", flush=True)
        _stop(processes)


def _announce(tokens: dict[str, str]) -> None:
    lines = [
        "",
        "Partnerflow is up.",
        f"  Web UI:       http://localhost:{API_PORT}  (sign in with the admin token)",
        f"  Partners:     http://localhost:{API_PORT}/portal  (sign-in links: see /outbox)",
        f"  API:          http://localhost:{API_PORT}/api  (docs: http://localhost:{API_PORT}/docs)",
        f"  Temporal UI:  http://localhost:{UI_PORT}",
        f"  Data:         {DATA}",
    ]
    if tokens:
        lines += ["", "First run: these tokens are shown this once and stored only hashed."]
        lines += [f"  {who}: {token}" for who, token in tokens.items()]
    lines += ["", "Ctrl-C stops everything."]
    # The terminal, not a log: the bootstrap tokens must never reach a log file.
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
