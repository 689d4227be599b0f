"""The thinnest slice through every layer: a two-step partner process over the HTTP API."""

from tests import factories
from tests.conftest import Stack


async def _process_setup(stack: Stack) -> dict[str, object]:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    partner_user = await factories.partner_user(http, admin, partner["id"])
    email = await factories.email_template(http, admin)
    template = await factories.published_template(
        http, admin, factories.two_step_template(partner["id"], email["id"])
    )
    opportunity = await factories.opportunity(http, admin)
    return {
        "partner": partner,
        "partner_headers": factories.bearer(partner_user["token"]),
        "template": template,
        "opportunity": opportunity,
    }


async def test_partner_process_runs_end_to_end(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    setup = await _process_setup(stack)
    partner_headers = setup["partner_headers"]

    response = await http.post(
        "/api/processes",
        json={"template_id": setup["template"]["id"], "opportunity_id": setup["opportunity"]["id"]},  # type: ignore[index]
        headers=admin,
    )
    assert response.status_code == 201, response.text
    process = response.json()
    # Read-your-writes: the answer already shows the step that opened.
    assert [(s["key"], s["status"]) for s in process["steps"]] == [
        ("commission_partner", "active"),
        ("installation", "pending"),
    ]
    process_id = process["id"]

    response = await http.post(
        f"/api/processes/{process_id}/steps/commission_partner/complete", json={}, headers=admin
    )
    assert response.status_code == 200, response.text
    steps = {s["key"]: s for s in response.json()["steps"]}
    assert steps["commission_partner"]["status"] == "completed"
    assert steps["installation"]["status"] == "active"
    # ... and so does a fresh read right after the completion returned.
    fresh = (await http.get(f"/api/processes/{process_id}", headers=admin)).json()
    assert {s["key"]: s["status"] for s in fresh["steps"]}["installation"] == "active"

    # The partner sees the task and can complete it with its own token.
    tasks = (await http.get("/api/my/tasks", headers=partner_headers)).json()  # type: ignore[arg-type]
    assert [(t["process_id"], t["step_key"]) for t in tasks["data"]] == [
        (process_id, "installation")
    ]
    assert tasks["data"][0]["customer_name"] == "Jana Becker"

    response = await http.post(
        f"/api/processes/{process_id}/steps/installation/complete",
        json={"fields": {"installed_on": "2026-12-11"}},
        headers=partner_headers,  # type: ignore[arg-type]
    )
    assert response.status_code == 200, response.text

    detail = (await http.get(f"/api/processes/{process_id}", headers=admin)).json()
    assert detail["status"] == "completed"
    handle = stack.env.client.get_workflow_handle(f"process-{process_id}")
    await handle.result()
    assert detail["completed_at"] is not None
    by_key = {s["key"]: s for s in detail["steps"]}
    assert (
        by_key["commission_partner"]["completed_by"]["user_id"]
        == ((await http.get("/api/me", headers=admin)).json()["id"])
    )
    assert by_key["installation"]["completed_by"]["partner_id"] == setup["partner"]["id"]  # type: ignore[index]
    assert by_key["installation"]["completed_by"]["on_behalf"] is False
    assert by_key["installation"]["fields"] == {"installed_on": "2026-12-11"}
    assert all(s["completed_at"] for s in detail["steps"])
    events = [e["event"] for e in detail["timeline"]]
    assert events[0] == "process_started" and events[-1] == "process_completed"

    # The hand-over e-mail, rendered from the template, went to the partner through the outbox.
    # The contact person was told when the partner finished.
    emails = await factories.outbox(http, admin, process_id, count=2)
    assert sorted(e["kind"] for e in emails) == ["completion", "handover"]
    completion = next(e for e in emails if e["kind"] == "completion")
    assert completion["to"] == "admin@example.com"
    email = next(e for e in emails if e["kind"] == "handover")
    assert email["kind"] == "handover"
    assert email["subject"] == "Auftrag: Installation bei Jana Becker"
    assert setup["partner"]["email"] in email["to"]  # type: ignore[index]
    assert "Lindenweg 4, Köln" in email["html"]
    assert (
        f"http://partnerflow.test/portal/processes/{process_id}/steps/installation" in email["text"]
    )

    # A run the API started knows its code version from its input: its history holds no patch
    # marker and no `TemporalChangeVersion` upsert (workflows/versions.py), only the process.
    history = await handle.fetch_history()
    markers = [
        e.marker_recorded_event_attributes.marker_name
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
    ]
    assert "core_patch" not in markers
    assert markers, "the transitions' local-activity writes are markers"
    upserts = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes
        for e in history.events
        if e.HasField("upsert_workflow_search_attributes_event_attributes")
    ]
    upserted = {name for attributes in upserts for name in attributes.indexed_fields}
    assert "TemporalChangeVersion" not in upserted
    assert "PfActiveSteps" in upserted


async def test_handover_email_escapes_customer_data(stack: Stack) -> None:
    """Customer data is user input: the sandbox autoescapes it in the HTML part."""
    http, admin = stack.http, stack.admin
    setup = await _process_setup(stack)
    response = await http.post(
        "/api/opportunities",
        json={
            "title": "x",
            "customer": {
                "name": "<script>alert(1)</script>",
                "address": {"street": "a", "city": "b"},
            },
        },
        headers=admin,
    )
    opportunity_id = response.json()["id"]
    process = (
        await http.post(
            "/api/processes",
            json={"template_id": setup["template"]["id"], "opportunity_id": opportunity_id},  # type: ignore[index]
            headers=admin,
        )
    ).json()
    await http.post(
        f"/api/processes/{process['id']}/steps/commission_partner/complete", json={}, headers=admin
    )
    emails = await factories.outbox(http, admin, process["id"], count=1)
    assert "<script>" not in emails[0]["html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in emails[0]["html"]
