"""Fuzzing with schemathesis against the running app, as an admin and as a partner user.

The whole stack runs as it does in production, as separate processes: a Temporal dev
server, the worker, and the API under uvicorn. Every generated request must get an answer
below 500 that the OpenAPI schema documents (status, content type and body).
"""

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from api.main import create_app
from tests.conftest import BIN, free_port
from workflows.search_attributes import dev_server_args

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "pf_fuzz_admin_token"
EXAMPLES = int(os.environ.get("PARTNERFLOW_FUZZ_EXAMPLES", "10"))


@dataclass
class Live:
    base_url: str
    admin: dict[str, str]
    partner: dict[str, str]


def _wait(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args!r} exited with {process.returncode}"
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


def _wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        assert process.poll() is None, f"{process.args!r} exited"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing on port {port}")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("fuzz")
    temporal_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "PARTNERFLOW_DATABASE_URL": f"sqlite:///{folder / 'partnerflow.db'}",
        "PARTNERFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "PARTNERFLOW_TASK_QUEUE": f"fuzz-{uuid.uuid4()}",
        "PARTNERFLOW_ADMIN_TOKEN": ADMIN_TOKEN,
        "PARTNERFLOW_STORAGE_DIR": str(folder / "documents"),
        "PARTNERFLOW_PUBLIC_URL": "http://partnerflow.test",
        "PARTNERFLOW_PUBLIC_RATE_LIMIT_PER_MINUTE": "100000",
    }
    log = (folder / "stack.log").open("wb")
    processes: list[subprocess.Popen[bytes]] = []

    def start(args: list[str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=log)  # noqa: S603
        processes.append(process)
        return process

    try:
        temporal = start(
            [
                str(BIN / "temporal"), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
                "--port", str(temporal_port), "--http-port", str(free_port()),
                "--metrics-port", str(free_port()), "--log-level", "error", *dev_server_args(),
            ]
        )  # fmt: skip
        _wait_port(temporal_port, temporal)
        subprocess.run(
            [sys.executable, "-m", "partnerflow.migrate"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=log,
            stderr=log,
        )
        start([sys.executable, "worker.py"])
        api = start(
            [
                sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app",
                "--host", "127.0.0.1", "--port", str(api_port), "--log-level", "warning",
            ]
        )  # fmt: skip
        base_url = f"http://127.0.0.1:{api_port}"
        _wait(f"{base_url}/readyz", api)
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        partner = requests.post(
            f"{base_url}/api/partners",
            json={"name": "Fuzz GmbH", "email": "fuzz@partner.example.com"},
            headers=admin,
            timeout=30,
        ).json()
        invitation = requests.get(
            f"{base_url}/api/outbox", params={"kind": "invitation"}, headers=admin, timeout=30
        ).json()["data"][0]["text"]
        token = re.search(r"/invitations/([A-Za-z0-9_-]+)", invitation)
        assert token and partner["status"] == "invited"
        accepted = requests.post(
            f"{base_url}/api/invitations/{token.group(1)}/accept",
            json={"name": "Fuzzy", "email": "fuzzy@partner.example.com"},
            timeout=30,
        ).json()
        yield Live(base_url, admin, {"Authorization": f"Bearer {accepted['token']}"})
    finally:
        for process in reversed(processes):
            process.kill()
            process.wait()
        log.close()


# One test, not one per operation: pytest-xdist spread those over every worker, and each
# worker started the whole stack above for its share (about 10 s of CPU each). Started early
# (marker `long`), it runs beside the other workers' tests. Each generated request is sent as
# the admin and as the partner (drawing the requests is most of this test's CPU). Every
# failure is reported, each with its operation and role.
@pytest.mark.long
def test_every_operation_answers_within_the_schema(live: Live) -> None:
    # Imported and read here, not when the module is: every xdist worker collects this
    # module, and schemathesis with the schema's operations took 1.7 s of CPU in each.
    import schemathesis

    # The schema comes from the app itself.
    operations = [
        result.ok()  # type: ignore[union-attr]
        for result in schemathesis.openapi.from_dict(create_app().openapi()).get_all_operations()
    ]
    roles = (("admin", live.admin), ("partner", live.partner))
    failures: list[str] = []
    for operation in operations:
        try:
            _fuzz(operation, roles, live.base_url)
        except Exception as error:  # each is reported, with its operation
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)


def _fuzz(operation: Any, roles: tuple[tuple[str, dict[str, str]], ...], base_url: str) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_within_the_schema(case: schemathesis.Case) -> None:
        for who, headers in roles:
            try:
                case.call_and_validate(base_url=base_url, headers=headers, checks=checks)
            except Exception as error:
                raise AssertionError(f"as {who}: {error}") from error

    answers_within_the_schema()
