"""A customer asks for erasure: afterwards none of their personal data is in the database (any
column of any table), in the document storage, or in the Temporal history of their processes;
another customer's data is untouched. docs/security.md, "When a customer asks for erasure"."""

import contextlib
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from partnerflow import crash_points, erasure
from partnerflow.models import Opportunity, User
from tests import factories
from tests.conftest import Stack, running_stack
from tests.personal_data import database_text, found, stored_files, workflow_text
from tests.process_world import smtp_server
from workflows.partner_process import workflow_id_for

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n% Dach Vogelsang\n"

CUSTOMER = {
    "name": "Greta Vogelsang",
    "email": "greta.vogelsang@customer.example.com",
    "phone": "+49 30 555 0199",
    "address": {
        "street": "Amselstraße 17",
        "postal_code": "10115",
        "city": "Berlin",
        "country": "DE",
    },
}
FILE = "Vogelsang Dachfoto.pdf"
COMMENT = "Frau Vogelsang ist ab 16 Uhr erreichbar"
SKIP_REASON = "Greta Vogelsang hat den Zähler selbst getauscht"
# What must be gone: the customer's name (also in the opportunity's title), address, phone,
# and everything people wrote or uploaded about her processes.
HERS = [
    "Greta Vogelsang", "Vogelsang", "greta.vogelsang@customer.example.com",
    "Amselstraße 17", "Amselstraße", "+49 30 555 0199", "555 0199",
    FILE, COMMENT, SKIP_REASON,
]  # fmt: skip


async def _her_case(stack: Stack, inbox: factories.Inbox | None = None) -> dict[str, Any]:
    """Her opportunity with a running process: a hand-over e-mail naming her sent to the
    partner, a document, a comment, a skipped step with a reason, a start retried by key."""
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin, inbox=inbox)
    handover = await factories.email_template(http, admin)  # names the customer and street
    body = factories.two_step_template(partner["id"], handover["id"])
    body["steps"].append(
        {"key": "meter", "name": "Meter", "requires": [], "assignee": {"type": "contact"}}
    )
    template = await factories.published_template(http, admin, body)
    opportunity = await factories.created(
        await http.post(
            "/api/opportunities",
            json={"title": "PV-Anlage Vogelsang", "customer": CUSTOMER, "product": "pv"},
            headers={**admin, "Idempotency-Key": f"crm-{uuid.uuid4()}"},
        )
    )
    process = await factories.created(
        await http.post(
            "/api/processes",
            json={"template_id": template["id"], "opportunity_id": opportunity["id"]},
            headers={**admin, "Idempotency-Key": f"crm-start-{uuid.uuid4()}"},
        )
    )
    pid = process["id"]
    await factories.commission(http, admin, pid)
    uploaded = await http.post(
        f"/api/processes/{pid}/steps/installation/documents",
        files={"file": (FILE, PDF, "application/pdf")},
        data={"type": "invoice"},
        headers=admin,
    )
    assert uploaded.status_code == 201, uploaded.text
    commented = await http.post(
        f"/api/processes/{pid}/steps/installation/comments", json={"body": COMMENT}, headers=admin
    )
    assert commented.status_code == 201, commented.text
    skipped = await http.post(
        f"/api/processes/{pid}/steps/meter/skip", json={"reason": SKIP_REASON}, headers=admin
    )
    assert skipped.status_code == 200, skipped.text
    emails = await factories.outbox(http, admin, pid, count=1)
    assert any("Vogelsang" in e["html"] for e in emails)  # the hand-over named her
    return {"opportunity": opportunity, "process_id": pid, "template": template}


async def test_erasure_removes_her_data_everywhere_and_nothing_else(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    other = await factories.opportunity(http, admin)  # Jana Becker: must stay as she is
    case = await _her_case(stack)
    opportunity_id, pid = case["opportunity"]["id"], case["process_id"]
    assert found(database_text(stack.engine), HERS) == set(HERS)  # all of it is there now
    files_before = stored_files(stack.settings.storage_dir)
    assert any(b"Dach Vogelsang" in data for data in files_before.values())

    # Her process still runs: erasing would let it send her data again.
    refused = await http.post(f"/api/opportunities/{opportunity_id}/erase", headers=admin)
    assert refused.status_code == 409 and pid in refused.json()["detail"], refused.text
    assert found(database_text(stack.engine), HERS) == set(HERS)

    erased = await http.post(
        f"/api/opportunities/{opportunity_id}/erase", params={"cancel": "true"}, headers=admin
    )
    assert erased.status_code == 200, erased.text
    report = erased.json()
    assert report["processes"] == [pid] and report["cancelled"] == [pid]
    # one upload, one comment, one reason (the skip's; erasure's own cancel carries none)
    assert (report["documents_deleted"], report["comments_erased"], report["notes_erased"]) == (
        1, 1, 1,
    )  # fmt: skip
    assert report["emails_redacted"] >= 2  # the hand-over and the cancellation

    # Nothing of hers in any column of any table, in the storage, or in Temporal.
    stored = database_text(stack.engine)
    assert found(stored, HERS) == set()
    assert not any(
        b"Vogelsang" in data for data in stored_files(stack.settings.storage_dir).values()
    )
    assert found(await workflow_text(stack.env.client, workflow_id_for(pid)), HERS) == set()
    # The other customer is untouched.
    assert "Jana Becker" in stored and "jana.becker@customer.example.com" in stored
    still = await http.get(f"/api/opportunities/{other['id']}", headers=admin)
    assert still.json()["customer"]["name"] == "Jana Becker"

    # What is left: the opportunity marked erased, the process with its steps and dates, the
    # e-mails as audit lines (kind, recipients, status; no content).
    shown = (await http.get(f"/api/opportunities/{opportunity_id}", headers=admin)).json()
    assert shown["erased_at"] is not None and shown["customer"] == {
        "name": "[erased]", "email": None, "phone": None, "address": None,
    }  # fmt: skip
    with Session(stack.engine) as session:
        marked = session.get(Opportunity, uuid.UUID(opportunity_id))
        admin_id = session.exec(select(User.id).where(User.role == "admin")).one()
        assert marked is not None and marked.erased_by == admin_id
    process = (await http.get(f"/api/processes/{pid}", headers=admin)).json()
    assert process["status"] == "cancelled" and process["customer"]["name"] == "[erased]"
    assert process["steps"][0]["completed_by"]["name"] == "Admin"
    outbox = (await http.get("/api/outbox", params={"process_id": pid}, headers=admin)).json()
    assert {e["kind"] for e in outbox["data"]} >= {"handover", "cancelled"}
    for email in outbox["data"]:
        assert email["subject"] == "[erased]" and "erased" in email["text"], email
        assert "@partner.example.com" in email["to"]  # who received her data, for the record

    # Nothing can bring her data back in through the erased opportunity.
    patched = await http.patch(
        f"/api/opportunities/{opportunity_id}", json={"customer": CUSTOMER}, headers=admin
    )
    assert patched.status_code == 409
    started = await http.post(
        "/api/processes",
        json={"template_id": case["template"]["id"], "opportunity_id": opportunity_id},
        headers=admin,
    )
    assert started.status_code == 422
    assert started.json()["detail"][0]["loc"] == ["body", "opportunity_id"]
    # Asking again is harmless.
    again = await http.post(f"/api/opportunities/{opportunity_id}/erase", headers=admin)
    assert again.status_code == 200 and again.json()["cancelled"] == []


async def test_only_an_admin_erases_and_bad_ids_are_named(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    opportunity = await factories.opportunity(http, admin)
    member = factories.bearer((await factories.member(http, admin))["token"])
    forbidden = await http.post(f"/api/opportunities/{opportunity['id']}/erase", headers=member)
    assert forbidden.status_code == 403
    unknown = await http.post(f"/api/opportunities/{uuid.uuid4()}/erase", headers=admin)
    assert unknown.status_code == 404
    bad = await http.post("/api/opportunities/not-an-id/erase", headers=admin)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "opportunity_id"]
    flag = await http.post(
        f"/api/opportunities/{opportunity['id']}/erase", params={"cancel": "maybe"}, headers=admin
    )
    assert flag.status_code == 422 and flag.json()["detail"][0]["loc"] == ["query", "cancel"]
    assert "Jana Becker" in database_text(stack.engine)  # refused: nothing erased


class _Died(Exception):
    """The API process died here."""


async def test_erasure_waits_for_an_automation_still_starting_a_process(stack: Stack) -> None:
    """A run recorded as `starting` will start a process on the opportunity: erasing first
    would let that process send her data. Refused until the run has its process."""
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    template = await factories.published_template(
        http, admin, factories.two_step_template(partner["id"])
    )
    await factories.automation(http, admin, template["id"])
    body = {"title": "PV-Anlage Vogelsang", "customer": CUSTOMER, "product": "pv"}
    headers = {**admin, "Idempotency-Key": f"crm-{uuid.uuid4()}"}
    crash_points.arm("automation_runs.recorded", _Died())
    try:
        with pytest.raises((_Died, RuntimeError)):
            await http.post("/api/opportunities", json=body, headers=headers)
    finally:
        crash_points.disarm()
    [opportunity] = (await http.get("/api/opportunities", headers=admin)).json()["data"]
    erase = f"/api/opportunities/{opportunity['id']}/erase"
    refused = await http.post(erase, params={"cancel": "true"}, headers=admin)
    assert refused.status_code == 409 and "automation" in refused.json()["detail"]

    retried = await http.post("/api/opportunities", json=body, headers=headers)  # starts it
    assert retried.status_code == 201, retried.text
    erased = await http.post(erase, params={"cancel": "true"}, headers=admin)
    assert erased.status_code == 200, erased.text
    assert len(erased.json()["cancelled"]) == 1
    assert found(database_text(stack.engine), HERS) == set()


async def test_erasure_waits_for_the_last_e_mails_of_a_cancelled_process(
    temporal_env: WorkflowEnvironment,
    database_url: str,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cancellation e-mail names her: until it is out (the workflow ended) nothing is
    erased, or its outbox copy would be written after the erasure."""
    monkeypatch.setattr(erasure, "WAIT_FOR_END", timedelta(seconds=1))
    with smtp_server() as (port, mail):
        mail.replies[":cancelled:"] = "451 4.3.0 try again later"
        async with running_stack(
            temporal_env, database_url, engine,
            mail_transport="smtp", smtp_host="127.0.0.1", smtp_port=port,
        ) as stack:  # fmt: skip
            case = await _her_case(stack, mail.inbox)
            try:
                erase = f"/api/opportunities/{case['opportunity']['id']}/erase"
                refused = await stack.http.post(
                    erase, params={"cancel": "true"}, headers=stack.admin
                )
                assert refused.status_code == 409, refused.text
                assert "still sending its last e-mails" in refused.json()["detail"]
                # Cancelled, but not erased: the e-mail still retrying may be written any time.
                process = await stack.http.get(
                    f"/api/processes/{case['process_id']}", headers=stack.admin
                )
                assert process.json()["status"] == "cancelled"
                assert found(database_text(stack.engine), HERS) == set(HERS)
            finally:  # its e-mail would retry on the shared server for good
                with contextlib.suppress(RPCError):
                    await temporal_env.client.get_workflow_handle(
                        workflow_id_for(case["process_id"])
                    ).terminate("test over")
