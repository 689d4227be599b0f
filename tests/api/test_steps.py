"""Steps over the HTTP API: refusals, documents, deadlines, reassignment, idempotent retries."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests import factories
from tests.conftest import Stack, eventually
from workflows.deadlines import add_business_days

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
async def two_partners(stack: Stack) -> dict[str, Any]:
    """A process in which partner A installs and partner B inspects, both after commissioning."""
    http, admin = stack.http, stack.admin
    a = await factories.partner(http, admin, name="Partner A")
    b = await factories.partner(http, admin, name="Partner B")
    for partner in (a, b):
        await factories.granted(
            http, admin, partner["id"], "steps:complete", "steps:set_deadline", "documents:upload"
        )
    a_user = await factories.partner_user(http, admin, a["id"])
    b_user = await factories.partner_user(http, admin, b["id"])
    template = await factories.published_template(
        http,
        admin,
        {
            "name": "PV with inspection",
            "steps": [
                {"key": "commission", "name": "Commission", "assignee": {"type": "contact"}},
                {
                    "key": "installation",
                    "name": "Installation",
                    "requires": ["commission"],
                    "assignee": {"type": "partner", "partner_id": a["id"]},
                    "fields": [
                        {
                            "key": "installed_on",
                            "label": "Installed on",
                            "type": "date",
                            "required": True,
                        }
                    ],
                    "documents": [{"type": "invoice", "label": "Invoice", "required": True}],
                },
                {
                    "key": "inspection",
                    "name": "Inspection",
                    "requires": ["commission"],
                    "assignee": {"type": "partner", "partner_id": b["id"]},
                },
            ],
        },
    )
    opportunity = await factories.opportunity(http, admin)
    process = await factories.created(
        await http.post(
            "/api/processes",
            json={"template_id": template["id"], "opportunity_id": opportunity["id"]},
            headers=admin,
        )
    )
    response = await http.post(
        f"/api/processes/{process['id']}/steps/commission/complete", json={}, headers=admin
    )
    assert response.status_code == 200, response.text
    return {
        "process_id": process["id"],
        "a": factories.bearer(a_user["token"]),
        "b": factories.bearer(b_user["token"]),
        "a_partner": a,
        "b_partner": b,
    }


async def _upload(stack: Stack, url: str, headers: dict[str, str], **file: Any) -> Any:
    name = file.pop("name", "Rechnung.pdf")
    data = file.pop("data", PDF)
    doc_type = file.pop("type", "invoice")
    return await stack.http.post(
        url,
        files={"file": (name, data, "application/octet-stream")},
        data={"type": doc_type},
        headers=headers,
    )


async def test_refusals_name_what_is_wrong(stack: Stack, two_partners: dict[str, Any]) -> None:
    http = stack.http
    pid = two_partners["process_id"]
    install = f"/api/processes/{pid}/steps/installation/complete"
    # The wrong partner: B can see the process (it has a step in it) but not act for A.
    response = await http.post(
        install, json={"fields": {"installed_on": "2026-12-11"}}, headers=two_partners["b"]
    )
    assert response.status_code == 403
    # A missing field, then a missing document, each named.
    response = await http.post(install, json={"fields": {}}, headers=two_partners["a"])
    assert response.status_code == 422
    assert "field 'installed_on': required" in response.json()["detail"]
    response = await http.post(
        install, json={"fields": {"installed_on": "2026-12-11"}}, headers=two_partners["a"]
    )
    assert response.status_code == 422
    assert "document 'invoice': 0 of 1 uploaded" in response.json()["detail"]
    # After a cancellation nothing can be completed.
    cancelled = await http.post(
        f"/api/processes/{pid}/cancel", json={"reason": "customer withdrew"}, headers=stack.admin
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert {s["status"] for s in cancelled.json()["steps"]} == {"completed", "cancelled"}
    response = await http.post(
        install, json={"fields": {"installed_on": "2026-12-11"}}, headers=two_partners["a"]
    )
    assert response.status_code == 409
    emails = await factories.outbox(http, stack.admin, pid, count=4)
    assert sorted(e["kind"] for e in emails) == ["cancelled", "cancelled", "handover", "handover"]


async def test_documents_are_checked_stored_and_required(
    stack: Stack, two_partners: dict[str, Any]
) -> None:
    http, admin = stack.http, stack.admin
    pid = two_partners["process_id"]
    url = f"/api/processes/{pid}/steps/installation/documents"
    a = two_partners["a"]

    response = await _upload(stack, url, a, name="../../etc/Rechnung 12/2026.pdf")
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["filename"] == "2026.pdf"
    assert document["content_type"] == "application/pdf"
    assert document["size"] == len(PDF)
    import hashlib

    assert document["sha256"] == hashlib.sha256(PDF).hexdigest()

    # Checked by content, not by name.
    response = await _upload(
        stack, url, a, name="invoice.pdf", data=b"<html><script>x</script></html>"
    )
    assert response.status_code == 415
    response = await _upload(stack, url, a, name="invoice.pdf", data=b"MZ\x90\x00 pretend exe")
    assert response.status_code == 415
    response = await _upload(stack, url, a, name="../../etc/passwd", data=b"root:x:0:0::/root")
    assert response.status_code == 415
    # A type the step does not take.
    response = await _upload(stack, url, a, type="photo")
    assert response.status_code == 422
    assert "document type 'photo'" in response.json()["detail"]
    # Too large.
    stack.settings.max_upload_bytes = 1000
    response = await _upload(stack, url, a, data=PDF + b"0" * 2000)
    assert response.status_code == 413
    stack.settings.max_upload_bytes = 25 * 1024 * 1024
    # B may not upload to A's step, nor see it.
    response = await _upload(stack, url, two_partners["b"])
    assert response.status_code == 404

    listed = (await http.get(url, headers=admin)).json()
    assert [d["id"] for d in listed["data"]] == [document["id"]]  # the refused ones left nothing
    download = await http.get(f"/api/processes/{pid}/documents/{document['id']}", headers=admin)
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"] == 'attachment; filename="2026.pdf"'
    assert download.headers["x-content-type-options"] == "nosniff"
    # Viewing needs documents:view, which partners lack until it is granted.
    assert (
        await http.get(f"/api/processes/{pid}/documents/{document['id']}", headers=a)
    ).status_code == 403
    await http.put(
        f"/api/partners/{two_partners['a_partner']['id']}/permissions",
        json={"permissions": ["steps:complete", "documents:upload", "documents:view"]},
        headers=admin,
    )
    assert (
        await http.get(f"/api/processes/{pid}/documents/{document['id']}", headers=a)
    ).status_code == 200
    assert (
        await http.get(
            f"/api/processes/{pid}/documents/{document['id']}", headers=two_partners["b"]
        )
    ).status_code == 404

    # With the invoice there, the step can be finished; the contact hears of it.
    response = await http.post(
        f"/api/processes/{pid}/steps/installation/complete",
        json={"fields": {"installed_on": "2026-12-11"}},
        headers=a,
    )
    assert response.status_code == 200, response.text
    step = next(s for s in response.json()["steps"] if s["key"] == "installation")
    assert [d["type"] for d in step["documents"]] == ["invoice"]

    async def notices_now() -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = (await http.get("/api/notifications", headers=admin)).json()[
            "data"
        ]
        return data

    notices = await eventually(
        notices_now, lambda notices: any(n["kind"] == "step_completed" for n in notices), wait=5.0
    )
    done = next(n for n in notices if n["kind"] == "step_completed")
    assert done["step_key"] == "installation"
    read = await http.post(f"/api/notifications/{done['id']}/read", headers=admin)
    assert read.json()["read"] is True
    assert (await http.post(f"/api/notifications/{done['id']}/read", headers=a)).status_code == 404


async def test_uploads_need_the_permission(stack: Stack, two_partners: dict[str, Any]) -> None:
    await stack.http.put(
        f"/api/partners/{two_partners['a_partner']['id']}/permissions",
        json={"permissions": ["steps:complete"]},
        headers=stack.admin,
    )
    url = f"/api/processes/{two_partners['process_id']}/steps/installation/documents"
    assert (await _upload(stack, url, two_partners["a"])).status_code == 403


async def test_the_partner_records_the_deadline(stack: Stack, two_partners: dict[str, Any]) -> None:
    http = stack.http
    url = f"/api/processes/{two_partners['process_id']}/steps/inspection/deadline"
    response = await http.put(url, json={"due_at": "2031-12-11"}, headers=two_partners["b"])
    assert response.status_code == 200, response.text
    step = next(s for s in response.json()["steps"] if s["key"] == "inspection")
    assert step["due_at"] == "2031-12-11T22:59:59Z"  # the end of that day in Berlin
    tasks = (await http.get("/api/my/tasks", headers=two_partners["b"])).json()["data"]
    assert [(t["step_key"], t["due_at"]) for t in tasks] == [("inspection", "2031-12-11T22:59:59Z")]
    # Operators find it in Temporal by partner and due date.
    query = (
        f"PfPartners = '{two_partners['b_partner']['id']}' "
        "AND PfNextDue > '2031-12-01T00:00:00Z' AND PfStatus = 'running'"
    )

    async def listed() -> list[str]:
        return [w.id async for w in stack.env.client.list_workflows(query)]

    found = await eventually(listed, bool, wait=5.0)
    assert found == [f"process-{two_partners['process_id']}"]
    assert (
        await http.put(url, json={"due_at": "2001-01-01"}, headers=two_partners["b"])
    ).status_code == 422
    bad = await http.put(url, json={"due_at": "next friday"}, headers=two_partners["b"])
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "due_at"]
    assert (
        await http.put(url, json={"due_at": "2031-12-11"}, headers=two_partners["a"])
    ).status_code == 403


async def test_reassign_moves_the_step_to_another_partner(
    stack: Stack, two_partners: dict[str, Any]
) -> None:
    http, admin = stack.http, stack.admin
    pid = two_partners["process_id"]
    response = await http.post(
        f"/api/processes/{pid}/steps/installation/reassign",
        json={"assignee": {"type": "partner", "partner_id": two_partners["b_partner"]["id"]}},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    b_tasks = (await http.get("/api/my/tasks", headers=two_partners["b"])).json()["data"]
    assert sorted(t["step_key"] for t in b_tasks) == ["inspection", "installation"]
    assert (await http.get("/api/my/tasks", headers=two_partners["a"])).json()["data"] == []
    assert (await http.get(f"/api/processes/{pid}", headers=two_partners["a"])).status_code == 404
    emails = await factories.outbox(http, admin, pid, count=4)
    assert sorted(e["kind"] for e in emails) == ["handover", "handover", "handover", "reassigned"]
    partner_only = await http.post(
        f"/api/processes/{pid}/steps/installation/reassign",
        json={"assignee": {"type": "contact"}},
        headers=two_partners["b"],
    )
    assert partner_only.status_code == 403


async def test_skip_opens_what_comes_next(stack: Stack, two_partners: dict[str, Any]) -> None:
    pid = two_partners["process_id"]
    for key in ("installation", "inspection"):
        response = await stack.http.post(
            f"/api/processes/{pid}/steps/{key}/skip",
            json={"reason": "done elsewhere"},
            headers=stack.admin,
        )
        assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"


async def test_retried_completion_with_the_same_key_gets_the_first_answer(
    stack: Stack, two_partners: dict[str, Any]
) -> None:
    url = f"/api/processes/{two_partners['process_id']}/steps/inspection/complete"
    headers = {**two_partners["b"], "Idempotency-Key": "tablet-retry-7"}
    first = await stack.http.post(url, json={}, headers=headers)
    second = await stack.http.post(url, json={}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    # Without the key, the repeat is what it is: the step is no longer open.
    assert (await stack.http.post(url, json={}, headers=two_partners["b"])).status_code == 409


async def test_a_business_day_deadline_is_set_by_the_running_process(stack: Stack) -> None:
    # Regression: `holidays` loads its tables lazily; inside the workflow sandbox that failed
    # the workflow task, and the process never opened the step.
    template = await factories.published_template(
        stack.http,
        stack.admin,
        {
            "name": "Business days",
            "timezone": "Europe/Berlin",
            "steps": [
                {
                    "key": "check",
                    "name": "Check the documents",
                    "assignee": {"type": "contact"},
                    "deadline": {"business_days": 5, "region": "DE-NW"},
                }
            ],
        },
    )
    process = await factories.started(stack.http, stack.admin, template["id"])
    step = process["steps"][0]
    assert step["status"] == "active"
    activated = datetime.fromisoformat(step["activated_at"])
    due = datetime.fromisoformat(step["due_at"])
    berlin = ZoneInfo("Europe/Berlin")
    assert due == add_business_days(activated, 5, berlin, "DE-NW")
    assert due.astimezone(berlin).weekday() < 5
    assert 5 <= (due - activated).days <= 11
