"""Edges a hostile client tries: a body over the limit that never says its length."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from api.limits import JSON_LIMIT
from partnerflow.partners import PERMISSIONS
from tests import factories
from tests.conftest import Stack, running_stack
from tests.web import browser, signed_in_partner

UPLOAD_LIMIT = 200_000
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
BOUNDARY = "pf-boundary-4711"


@pytest.fixture
async def small_uploads(
    temporal_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> AsyncIterator[Stack]:
    """A stack that takes uploads of 200 kB, so an oversized one is quick to send."""
    async with running_stack(
        temporal_env, database_url, engine, max_upload_bytes=UPLOAD_LIMIT
    ) as running:
        yield running


async def chunked(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """The body as a stream: httpx sends it chunked, without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def multipart(fields: dict[str, str], file: bytes) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    head = "".join(parts) + (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="Rechnung.pdf"'
        "\r\nContent-Type: application/pdf\r\n\r\n"
    )
    return head.encode() + file + f"\r\n--{BOUNDARY}--\r\n".encode()


def stored_files(storage_dir: str) -> list[Path]:
    return [path for path in Path(storage_dir).rglob("*") if path.is_file()]


def too_large(response_detail: str) -> bool:
    return "request body is larger than" in response_detail


async def test_an_oversized_json_body_without_a_length_gets_413_and_creates_nothing(
    stack: Stack,
) -> None:
    before = (await stack.http.get("/api/opportunities", headers=stack.admin)).json()["count"]
    body = b'{"title": "' + b"x" * (2 * JSON_LIMIT) + b'", "customer": {"name": "Jana"}}'
    response = await stack.http.post(
        "/api/opportunities",
        content=chunked(body),
        headers={**stack.admin, "content-type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert too_large(response.json()["detail"])
    after = (await stack.http.get("/api/opportunities", headers=stack.admin)).json()["count"]
    assert after == before


async def test_an_oversized_upload_without_a_length_gets_413_and_stores_nothing(
    small_uploads: Stack,
) -> None:
    http, admin = small_uploads.http, small_uploads.admin
    partner = await factories.partner(http, admin)
    await factories.granted(http, admin, partner["id"], *PERMISSIONS)
    template = await factories.published_template(
        http, admin, factories.installation_template(partner["id"])
    )
    process = await factories.started(http, admin, template["id"])
    await factories.commission(http, admin, process["id"])
    documents = f"/api/processes/{process['id']}/steps/installation/documents"
    oversized = PDF + b"0" * (UPLOAD_LIMIT + 128 * 1024)
    content_type = f"multipart/form-data; boundary={BOUNDARY}"

    # Over the API, with the partner's token.
    response = await http.post(
        documents,
        content=chunked(multipart({"type": "invoice"}, oversized)),
        headers={**factories.bearer(partner["owner_token"]), "content-type": content_type},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert too_large(response.json()["detail"])

    # Through the portal's upload form, signed in as a browser is.
    async with browser(http) as portal:
        csrf = await signed_in_partner(portal, admin, partner["owner_email"])
        response = await portal.post(
            f"/portal/processes/{process['id']}/steps/installation/documents",
            content=chunked(multipart({"type": "invoice", "csrf": csrf}, oversized)),
            headers={"content-type": content_type},
        )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text

    listed = (await http.get(documents, headers=admin)).json()
    assert listed["count"] == 0
    assert stored_files(small_uploads.settings.storage_dir) == []
    # The same upload within the limit is taken: the refusal was about the size alone.
    response = await http.post(
        documents,
        content=chunked(multipart({"type": "invoice"}, PDF)),
        headers={**factories.bearer(partner["owner_token"]), "content-type": content_type},
    )
    assert response.status_code == 201, response.text
