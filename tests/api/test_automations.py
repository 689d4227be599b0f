"""The article's last step: try a new process on a test opportunity, then replace the old one
everywhere it was started automatically."""

import copy
from typing import Any

from tests import factories
from tests.conftest import Stack


async def _pv_opportunity(stack: Stack, title: str, **extra: Any) -> dict[str, Any]:
    body = {"title": title, "customer": {"name": "Jana Becker"}, "product": "pv", **extra}
    return await factories.created(
        await stack.http.post("/api/opportunities", json=body, headers=stack.admin)
    )


async def _processes(stack: Stack, opportunity_id: str, test: bool = False) -> list[dict[str, Any]]:
    response = await stack.http.get(
        "/api/processes",
        params={"opportunity_id": opportunity_id, "test": str(test).lower()},
        headers=stack.admin,
    )
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_the_articles_go_live(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    installer = await factories.partner(http, admin, name="Sonnenschein Solar GmbH")
    old_body = {
        "name": "PV-Installation",
        "steps": [
            {"key": "commission", "name": "Partner beauftragen", "assignee": {"type": "contact"}},
            {
                "key": "installation",
                "name": "Installation",
                "assignee": {"type": "partner_slot", "slot": "installer"},
            },
        ],
    }
    old = await factories.published_template(http, admin, old_body)
    automation = await factories.created(
        await http.post(
            "/api/automations",
            json={
                "name": "PV starts the installation",
                "trigger": {"event": "opportunity.created", "filter": {"product": "pv"}},
                "action": {"start_process": old["id"], "partners": {"installer": installer["id"]}},
            },
            headers=admin,
        )
    )
    # Automatic until now: a new PV opportunity starts the old process.
    before = await _pv_opportunity(stack, "PV Becker")
    running_old = await _processes(stack, before["id"])
    assert [(p["template_id"], p["template_version"]) for p in running_old] == [(old["id"], 1)]
    # Not a PV opportunity: nothing.
    heat_pump = await factories.created(
        await http.post(
            "/api/opportunities",
            json={"title": "WP", "customer": {"name": "K"}, "product": "heat_pump"},
            headers=admin,
        )
    )
    assert await _processes(stack, heat_pump["id"]) == []

    # 1. Duplicate and adapt: the partner now agrees the appointment first.
    duplicate = await factories.created(
        await http.post(
            f"/api/process-templates/{old['id']}/duplicate",
            json={"name": "PV-Installation mit Termin"},
            headers=admin,
        )
    )
    edited = copy.deepcopy(duplicate)
    edited["steps"].insert(
        1,
        {
            "key": "agree_appointment",
            "name": "Termin vereinbaren",
            "assignee": {"type": "partner_slot", "slot": "installer"},
            "fields": [
                {"key": "installation_date", "label": "Termin", "type": "date", "required": True}
            ],
        },
    )
    edited["steps"][2]["requires"] = ["agree_appointment"]
    edited["steps"][2]["deadline"] = {
        "from_field": {"step": "agree_appointment", "field": "installation_date"}
    }
    response = await http.put(
        f"/api/process-templates/{duplicate['id']}", json=edited, headers=admin
    )
    assert response.status_code == 200, response.text
    new_id = duplicate["id"]

    # 2. A real start of the draft is refused; a test run on a test opportunity tries it.
    test_opportunity = await _pv_opportunity(stack, "Testkunde", test=True)
    refused = await http.post(
        "/api/processes",
        json={
            "template_id": new_id,
            "opportunity_id": before["id"],
            "partners": {"installer": installer["id"]},
        },
        headers=admin,
    )
    assert refused.status_code == 409
    trial = await factories.created(
        await http.post(
            "/api/processes",
            json={
                "template_id": new_id,
                "opportunity_id": test_opportunity["id"],
                "partners": {"installer": installer["id"]},
            },
            headers=admin,
        )
    )
    assert trial["test"] is True
    assert trial["template_version"] == 0  # the draft
    assert [s["key"] for s in trial["steps"]] == ["commission", "agree_appointment", "installation"]
    # The automation starts the old template on the test opportunity too, as a test run.
    assert {
        p["template_id"] for p in await _processes(stack, test_opportunity["id"], test=True)
    } == {
        old["id"],
        new_id,
    }
    await http.post(
        f"/api/processes/{trial['id']}/steps/commission/complete", json={}, headers=admin
    )
    trial_emails = await factories.outbox(http, admin, trial["id"], count=1)
    assert [e["kind"] for e in trial_emails] == ["handover"]
    assert trial_emails[0]["subject"].startswith("[TEST] ")
    assert trial_emails[0]["transport"] == "outbox"
    # Test runs stay out of the lists unless asked for.
    listed = (await http.get("/api/processes", headers=admin)).json()["data"]
    assert trial["id"] not in [p["id"] for p in listed]

    # 3. Publish, then replace everywhere: a draft replacement would be refused.
    draft = await factories.created(
        await http.post(f"/api/process-templates/{old['id']}/duplicate", headers=admin)
    )
    response = await http.post(
        f"/api/process-templates/{old['id']}/replace",
        json={"replacement_id": draft["id"]},
        headers=admin,
    )
    assert response.status_code == 409
    response = await http.post(
        f"/api/process-templates/{old['id']}/replace",
        json={"replacement_id": old["id"]},
        headers=admin,
    )
    assert response.status_code == 422
    published = (await http.post(f"/api/process-templates/{new_id}/publish", headers=admin)).json()
    assert published["published_version"] == 1
    replaced = await http.post(
        f"/api/process-templates/{old['id']}/replace",
        json={"replacement_id": new_id, "archive_old": True},
        headers=admin,
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["replaced_automations"] == [automation["id"]]
    assert replaced.json()["running_processes"] == 1
    assert replaced.json()["archived"] is True
    moved = (await http.get(f"/api/automations/{automation['id']}", headers=admin)).json()
    assert moved["action"]["start_process"] == new_id

    # 4. The next PV opportunity starts the new process ...
    after = await _pv_opportunity(stack, "PV Schmidt")
    started = await _processes(stack, after["id"])
    assert [(p["template_id"], p["template_version"]) for p in started] == [(new_id, 1)]
    runs = (await http.get(f"/api/automations/{automation['id']}/runs", headers=admin)).json()[
        "data"
    ]
    assert {r["outcome"] for r in runs} == {"started"}
    assert len(runs) == 3  # PV Becker, the test opportunity, PV Schmidt: nothing else
    # ... while the one already running finishes on the old steps.
    old_process = running_old[0]["id"]
    detail = (await http.get(f"/api/processes/{old_process}", headers=admin)).json()
    assert [s["key"] for s in detail["steps"]] == ["commission", "installation"]
    await http.post(
        f"/api/processes/{old_process}/steps/commission/complete", json={}, headers=admin
    )
    done = await http.post(
        f"/api/processes/{old_process}/steps/installation/complete",
        json={},
        headers=factories.bearer(installer["owner_token"]),
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"


async def test_an_update_that_does_not_change_the_filtered_field_starts_nothing(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    template = await factories.published_template(
        http, admin, factories.two_step_template(partner["id"])
    )
    automation = await factories.automation(
        http, admin, template["id"], name="Signed orders", event="opportunity.updated",
        filter={"attributes.stage": "signed"},
    )  # fmt: skip
    opportunity = await _pv_opportunity(stack, "PV Becker", attributes={"stage": "offer"})
    url = f"/api/opportunities/{opportunity['id']}"
    await http.patch(url, json={"title": "PV Becker (neu)"}, headers=admin)
    assert await _processes(stack, opportunity["id"]) == []
    await http.patch(url, json={"attributes": {"stage": "signed"}}, headers=admin)
    assert len(await _processes(stack, opportunity["id"])) == 1
    # Saved again, still signed: the filtered field did not change, so nothing more starts.
    await http.patch(url, json={"attributes": {"stage": "signed", "note": "x"}}, headers=admin)
    await http.patch(url, json={"product": "pv"}, headers=admin)
    assert len(await _processes(stack, opportunity["id"])) == 1
    runs = (await http.get(f"/api/automations/{automation['id']}/runs", headers=admin)).json()
    assert runs["count"] == 1


async def test_a_retried_opportunity_creation_starts_one_process(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    template = await factories.published_template(
        http, admin, factories.two_step_template(partner["id"])
    )
    await factories.automation(http, admin, template["id"])
    body = {"title": "PV Becker", "customer": {"name": "Jana Becker"}, "product": "pv"}
    headers = {**admin, "Idempotency-Key": "crm-7-create"}
    first = await http.post("/api/opportunities", json=body, headers=headers)
    second = await http.post("/api/opportunities", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert (await http.get("/api/opportunities", headers=admin)).json()["count"] == 1
    assert len(await _processes(stack, first.json()["id"])) == 1


async def test_automation_refusals_name_the_field(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    template = await factories.published_template(
        http, admin, factories.two_step_template(partner["id"])
    )
    base = {
        "name": "x",
        "trigger": {"event": "opportunity.created", "filter": {}},
        "action": {"start_process": template["id"]},
    }
    bad_filter = {**base, "trigger": {"event": "opportunity.created", "filter": {"customer": "x"}}}
    response = await http.post("/api/automations", json=bad_filter, headers=admin)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "trigger", "filter", "customer"]
    unknown = {**base, "action": {"start_process": "6a1f1a64-0000-4000-8000-000000000000"}}
    response = await http.post("/api/automations", json=unknown, headers=admin)
    assert response.json()["detail"][0]["loc"] == ["body", "action", "start_process"]


async def test_an_automation_whose_template_was_archived_records_a_skipped_run(
    stack: Stack,
) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    template = await factories.published_template(
        http, admin, factories.two_step_template(partner["id"])
    )
    automation = await factories.automation(http, admin, template["id"])
    archived = await http.post(f"/api/process-templates/{template['id']}/archive", headers=admin)
    assert archived.status_code == 200, archived.text
    opportunity = await _pv_opportunity(stack, "PV Becker")
    assert await _processes(stack, opportunity["id"]) == []
    runs = (await http.get(f"/api/automations/{automation['id']}/runs", headers=admin)).json()[
        "data"
    ]
    assert [(r["outcome"], r["process_id"]) for r in runs] == [("skipped", None)]
    assert "archived" in runs[0]["reason"]
