"""No person's name, e-mail address, postal address, file name, comment or reason in Temporal:
every recorded history (all versions) and the whole history of a process driven through
every message are searched for what the test data holds. The read model resolves names and
reasons, so the API and the pages show them as before."""

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from activities.failures import classify
from partnerflow.temporal import DATA_CONVERTER
from tests import factories, histories
from tests.conftest import Stack
from tests.personal_data import (
    EMAIL_ADDRESS,
    FILE_NAME,
    database_text,
    found,
    history_text,
    user_metadata_text,
    workflow_text,
)
from tests.web import browser, signed_in_staff
from workflows.messages import (
    Actor,
    CancelInput,
    CompletedBy,
    DocumentRef,
    SkipStepInput,
)
from workflows.partner_process import workflow_id_for

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

# The people and places of the test data: tests/process_world.py and the continue-as-new
# test (role names), tests/factories.py (the customer, partner users, staff), the seeded
# admin, and the first round's recordings (Carla Kontakt).
PEOPLE = [
    "Contact", "Former", "Fitter", "Installer", "Admin",
    "Paul Monteur", "Carla Kontakt", "Erika Inhaberin", "Maria Mitarbeiter",
    "Jana Becker", "Sonnenschein Solar GmbH",
]  # fmt: skip
PLACES = ["Lindenweg 4", "Lindenweg", "+49 221 555 0100", "555 0100"]


@pytest.mark.parametrize("name", sorted(histories.recorded()))
def test_recorded_histories_hold_no_personal_data(name: str) -> None:
    text = history_text(json.loads(histories.recorded()[name].read_text()))
    assert found(text, PEOPLE + PLACES, [EMAIL_ADDRESS, FILE_NAME]) == set(), name


def test_what_old_histories_carried_is_read_and_never_written() -> None:
    """Payloads recorded before "ids only" still parse; what they carried is not written
    again, whoever puts it into a message."""
    actor = {"user_id": str(uuid.uuid4()), "name": "Paul Monteur", "role": "partner"}
    old = {
        "cancel": {"actor": actor, "reason": "customer withdrew"},
        "skip": {"step_key": "s", "actor": actor, "reason": "done elsewhere"},
        "document": {"id": str(uuid.uuid4()), "type": "invoice", "filename": "Rechnung.pdf"},
        "completed_by": {"user_id": actor["user_id"], "name": "Paul Monteur"},
    }
    cancel = CancelInput.model_validate(old["cancel"])
    document = DocumentRef.model_validate(old["document"])
    assert cancel.reason == "customer withdrew" and document.filename == "Rechnung.pdf"
    parsed = [
        cancel,
        SkipStepInput.model_validate(old["skip"]),
        document,
        CompletedBy.model_validate(old["completed_by"]),
        Actor.model_validate(actor),
    ]
    # As Temporal's converter writes them into a history.
    payloads = DATA_CONVERTER.payload_converter.to_payloads(parsed)
    written = " ".join(payload.data.decode() for payload in payloads)
    assert '"user_id"' in written and '"type":"invoice"' in written
    assert found(written, ["Paul Monteur", "customer withdrew", "done elsewhere"]) == set()
    assert found(written, [], [FILE_NAME]) == set()


# A process driven through every message, with data a person would type -------------------

CUSTOMER_NAME = "Jana Becker"
FILE = "Rechnung Becker Lindenweg 4.pdf"
COMMENT = "Frau Becker bittet um Rückruf unter +49 221 555 0100"
SKIP_REASON = "Jana Becker hat den Zählerwechsel selbst beauftragt"
CANCEL_REASON = "Kundin Jana Becker zieht um: Vertrag storniert"


def _template(partner_id: str) -> dict[str, Any]:
    return {
        "name": f"PV {uuid.uuid4().hex[:6]}",
        "steps": [
            {"key": "commission", "name": "Commission", "assignee": {"type": "contact"}},
            {
                "key": "installation",
                "name": "Installation",
                "assignee": {"type": "partner", "partner_id": partner_id},
                "deadline": {"after": "P5D"},
                "fields": [
                    {"key": "installed_on", "label": "Installed on", "type": "date",
                     "required": True},
                    {"key": "modules", "label": "Modules", "type": "number"},
                ],
                "documents": [{"type": "invoice", "label": "Invoice"}],
            },
            {"key": "meter", "name": "Meter", "requires": [], "assignee": {"type": "contact"}},
            {"key": "acceptance", "name": "Acceptance", "requires": ["installation", "meter"],
             "assignee": {"type": "contact"}},
        ],
    }  # fmt: skip


async def _driven(stack: Stack) -> tuple[str, dict[str, Any]]:
    """A process through complete (with fields), upload, comment, deadline, skip (with a
    reason), reassign and cancel (with a reason), each as a person would do it."""
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    await factories.granted(
        http, admin, partner["id"], "steps:complete", "steps:set_deadline", "documents:upload",
        "documents:view",
    )  # fmt: skip
    fitter = await factories.partner_user(http, admin, partner["id"])
    as_fitter = factories.bearer(fitter["token"])
    colleague = await factories.member(http, admin)
    template = await factories.published_template(http, admin, _template(partner["id"]))
    process = await factories.started(http, admin, template["id"])
    pid = process["id"]
    base = f"/api/processes/{pid}/steps"

    async def ok(response: Any) -> dict[str, Any]:
        assert response.status_code in (200, 201), response.text
        body: dict[str, Any] = response.json()
        return body

    await ok(await http.post(f"{base}/commission/complete", json={}, headers=admin))
    await ok(
        await http.post(
            f"{base}/installation/documents",
            files={"file": (FILE, PDF, "application/pdf")},
            data={"type": "invoice"},
            headers=as_fitter,
        )
    )
    await ok(
        await http.post(f"{base}/installation/comments", json={"body": COMMENT}, headers=as_fitter)
    )
    await ok(
        await http.put(
            f"{base}/installation/deadline", json={"due_at": "2036-12-11"}, headers=as_fitter
        )
    )
    await ok(
        await http.post(
            f"{base}/installation/complete",
            json={"fields": {"installed_on": "2026-12-11", "modules": 24}},
            headers=as_fitter,
        )
    )
    await ok(await http.post(f"{base}/meter/skip", json={"reason": SKIP_REASON}, headers=admin))
    await ok(
        await http.post(
            f"{base}/acceptance/reassign",
            json={"assignee": {"type": "user", "user_id": colleague["id"]}},
            headers=admin,
        )
    )
    cancelled = await ok(
        await http.post(
            f"/api/processes/{pid}/cancel", json={"reason": CANCEL_REASON}, headers=admin
        )
    )
    return pid, {"cancelled": cancelled, "fitter": fitter}


async def test_a_process_history_holds_ids_and_keys_only(stack: Stack) -> None:
    pid, _ = await _driven(stack)
    # Ended: its last e-mails are out, and all of it is in the history.
    await stack.env.client.get_workflow_handle(workflow_id_for(pid)).result()
    text = await workflow_text(stack.env.client, workflow_id_for(pid))
    assert "process_cancelled" in text and "installed_on" in text  # the history is all there
    # What the UI shows beside it: the summary and details, the current details.
    shown = await user_metadata_text(stack.env.client, workflow_id_for(pid))
    assert f"process `{pid}`" in shown and "**cancelled**" in shown
    text += "\n" + shown
    leaked = found(
        text,
        [*PEOPLE, *PLACES, "Becker", FILE, COMMENT, SKIP_REASON, CANCEL_REASON],
        [EMAIL_ADDRESS, FILE_NAME],
    )
    assert leaked == set()


async def test_the_api_and_the_pages_still_show_names_and_reasons(stack: Stack) -> None:
    pid, driven = await _driven(stack)
    detail = driven["cancelled"]
    assert detail["status"] == "cancelled" and detail["cancel_reason"] == CANCEL_REASON
    steps = {s["key"]: s for s in detail["steps"]}
    assert steps["commission"]["completed_by"]["name"] == "Admin"
    assert steps["installation"]["completed_by"]["name"] == "Paul Monteur"
    assert steps["installation"]["fields"] == {"installed_on": "2026-12-11", "modules": 24}
    assert [d["filename"] for d in steps["installation"]["documents"]] == [FILE]
    skipped = [e for e in detail["timeline"] if e["event"] == "step_skipped"]
    assert [e["detail"] for e in skipped] == [SKIP_REASON]
    cancelled = [e for e in detail["timeline"] if e["event"] == "process_cancelled"]
    assert [e["detail"] for e in cancelled] == [CANCEL_REASON]

    listed = await stack.http.get(
        "/api/processes", params={"status": "cancelled"}, headers=stack.admin
    )
    assert [p["cancel_reason"] for p in listed.json()["data"]] == [CANCEL_REASON]
    comments = await stack.http.get(
        f"/api/processes/{pid}/steps/installation/comments", headers=stack.admin
    )
    assert [c["body"] for c in comments.json()["data"]] == [COMMENT]

    async with browser(stack.http) as staff:
        await signed_in_staff(staff, stack.admin["Authorization"].removeprefix("Bearer "))
        page = (await staff.get(f"/processes/{pid}")).text
    for shown in (CANCEL_REASON, SKIP_REASON, "by Paul Monteur", FILE):
        assert shown in page.replace("&#39;", "'"), shown


async def test_a_refused_update_leaves_no_reason_behind(stack: Stack) -> None:
    """The reason is stored before the update; when the workflow refuses, it goes again."""
    http, admin = stack.http, stack.admin
    template = await factories.published_template(
        http, admin,
        {"name": "Check", "steps": [{"key": "check", "name": "Check",
                                     "assignee": {"type": "contact"}}]},
    )  # fmt: skip
    process = await factories.started(http, admin, template["id"])
    # Staff, but neither the contact person nor an admin: the workflow says no.
    colleague = factories.bearer((await factories.member(http, admin))["token"])
    cancel = await http.post(
        f"/api/processes/{process['id']}/cancel", json={"reason": "a refused reason"},
        headers=colleague,
    )  # fmt: skip
    skip = await http.post(
        f"/api/processes/{process['id']}/steps/check/skip", json={"reason": "a refused skip"},
        headers=colleague,
    )  # fmt: skip
    assert (cancel.status_code, skip.status_code) == (403, 403), (cancel.text, skip.text)
    assert found(database_text(stack.engine), ["a refused reason", "a refused skip"]) == set()
    taken = await http.post(
        f"/api/processes/{process['id']}/cancel", json={"reason": "a taken reason"},
        headers=admin,
    )  # fmt: skip
    assert taken.json()["cancel_reason"] == "a taken reason"
    assert found(database_text(stack.engine), ["a taken reason"]) == {"a taken reason"}


def test_a_database_refusal_reaches_temporal_without_the_row(engine: Engine) -> None:
    """An activity's failure is written into the history: PostgreSQL's DETAIL line quotes
    the refused row, which must stay out of it."""
    with engine.connect() as connection:
        connection.execute(text("CREATE TEMPORARY TABLE customer_copy (name VARCHAR UNIQUE)"))
        connection.execute(text("INSERT INTO customer_copy VALUES ('Jana Becker')"))
        with pytest.raises(IntegrityError) as refused:
            connection.execute(text("INSERT INTO customer_copy VALUES ('Jana Becker')"))
    failure = classify(refused.value)
    assert failure.non_retryable and failure.type == "DatabaseRefused"
    assert "customer_copy" in failure.message or "UniqueViolation" in failure.message
    assert "Jana Becker" not in failure.message
