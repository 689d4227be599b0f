"""The web UI in a real browser: the builder, the partner on a phone, the contact person."""

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests import factories
from tests.browser import DESKTOP, PHONE, Live, overflow_width, unlabelled_controls
from tests.conftest import ADMIN_TOKEN, eventually

# One database is enough to show the pages; the API tests cover both.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


async def check_page(page: Page) -> None:
    """What every page owes its users: a label on each input, no sideways scrolling."""
    assert await unlabelled_controls(page) == []
    assert await overflow_width(page) <= 0


async def sign_in_staff(live: Live, viewport: dict[str, int] = DESKTOP) -> Page:
    context = await live.context(viewport)
    page = await context.new_page()
    await page.goto("/processes")
    await expect(page).to_have_url(re.compile(r"/sign-in\?next=/processes"))
    await page.get_by_label("Your API token").fill(ADMIN_TOKEN)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Processes")).to_be_visible()
    return page


async def partner_at_work(live: Live) -> tuple[str, str, str]:
    """A partner allowed to upload, its user's e-mail, and a process whose installation is
    handed to it (made through the API). Two more of its installations are open: one with
    a week to go, one due a second after it opened (overdue)."""
    http, admin = live.stack.http, live.stack.admin
    partner = await factories.partner(http, admin, name="Sonnenschein Solar GmbH")
    await factories.granted(
        http, admin, partner["id"], "steps:complete", "steps:set_deadline", "documents:upload"
    )
    email = partner["owner_email"]
    processes = []
    for deadline, customer in (
        ({"business_days": 5, "region": "DE-NW"}, "Jana Becker"),
        ({"after": "P7D"}, "Familie Schulte"),
        ({"after": "PT1S"}, "Weingut Roth"),
    ):
        template = await factories.published_template(
            http, admin, factories.installation_template(partner["id"], deadline, "PV-Installation")
        )
        process = await factories.commissioned_for(http, admin, template["id"], customer)
        processes.append(process["id"])
    return partner["id"], email, processes[0]


async def outbox_text(live: Live, kind: str, to: str, process_id: str | None = None) -> str:
    params = {"kind": kind, "to": to} | ({"process_id": process_id} if process_id else {})

    async def found() -> list[dict[str, Any]]:
        answer = await live.stack.http.get("/api/outbox", params=params, headers=live.stack.admin)
        emails: list[dict[str, Any]] = answer.json()["data"]
        return emails

    # A sign-in link is sent after the page answers (its timing tells nothing): wait for it.
    emails = await eventually(found, bool)
    assert emails, f"no {kind} e-mail to {to}"
    text: str = emails[0]["text"]
    return text


async def test_partner_finishes_its_step_on_a_phone_and_the_contact_sees_it_done(
    live: Live, tmp_path: Path
) -> None:
    _, email, process_id = await partner_at_work(live)
    handover = await outbox_text(live, "handover", email, process_id)
    step_url = re.search(r"https?://\S+/portal/processes/\S+/steps/installation", handover)
    assert step_url, handover

    phone = await live.context(PHONE)
    page = await phone.new_page()
    # The link in the hand-over e-mail asks who they are, then sends a sign-in link.
    await page.goto(step_url.group(0))
    await expect(page).to_have_url(re.compile(r"/portal/sign-in\?next="))
    await check_page(page)
    await page.get_by_label("Your e-mail address").fill(email)
    await page.get_by_role("button", name="Send me a sign-in link").click()
    await expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()

    magic = re.search(
        r"https?://\S+/portal/sign-in/[A-Za-z0-9_-]+", await outbox_text(live, "magic_link", email)
    )
    assert magic
    await page.goto(magic.group(0))
    await page.get_by_role("button", name="Continue to my tasks").click()
    await expect(page.get_by_role("heading", name="Installation")).to_be_visible()
    await expect(page.get_by_text("Lindenweg 4")).to_be_visible()
    await check_page(page)

    await page.get_by_label("Date and time of the appointment").fill("2026-12-11T14:00")
    await page.get_by_role("button", name="Record appointment").click()
    await expect(page.get_by_role("status")).to_contain_text("appointment is recorded")
    await expect(page.locator(".due time")).to_contain_text("11 Dec 2026, 14:00")

    invoice = tmp_path / "Rechnung-4711.pdf"
    invoice.write_bytes(PDF)
    await page.get_by_label("File").set_input_files(invoice)
    await page.get_by_role("button", name="Upload").click()
    await expect(page.get_by_role("status")).to_contain_text("document is uploaded")
    await expect(page.get_by_text("Invoice (required): 1 uploaded")).to_be_visible()
    await page.get_by_label("Installed on").fill("2026-12-11")
    await live.screenshot(page, "portal-step-phone")

    await page.get_by_role("button", name="Finish step").click()
    await expect(page.get_by_role("heading", name="My tasks")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("the step is finished")
    # What is left, at a glance: the overdue one first, marked, then the one due in a week.
    tasks = page.locator(".task")
    await expect(tasks).to_have_count(2)
    await expect(tasks.nth(0)).to_contain_text("Weingut Roth")
    await expect(tasks.nth(0)).to_contain_text("Overdue")
    await expect(tasks.nth(1)).to_contain_text("Familie Schulte")
    await expect(tasks.nth(1)).not_to_contain_text("Overdue")
    await check_page(page)
    await live.screenshot(page, "portal-tasks-phone")

    # The contact person: running processes overdue first; the finished one shows who, when.
    desk = await sign_in_staff(live)
    rows = desk.get_by_role("row")
    await expect(rows.nth(1)).to_contain_text("Weingut Roth")
    await expect(rows.nth(1)).to_contain_text("overdue")
    await check_page(desk)
    await live.screenshot(desk, "dashboard")
    await desk.get_by_label("Show").select_option("completed")
    await desk.get_by_role("button", name="Apply").click()
    row = desk.get_by_role("row").filter(has_text="PV-Anlage Jana Becker")
    await expect(row).to_contain_text("2 of 2 steps done")
    await row.get_by_role("link").click()
    step = desk.locator("#step-installation")
    await expect(step).to_contain_text("done")
    await expect(step).to_contain_text("Finished")
    await expect(step).to_contain_text("by Erika Inhaberin")
    await expect(step).to_contain_text("Rechnung-4711.pdf")
    await expect(step).to_contain_text("Installed on")
    temporal_link = desk.get_by_role("link", name="Open the workflow in the Temporal UI")
    await expect(temporal_link).to_have_attribute("href", re.compile(f"/workflows/.*{process_id}"))
    await check_page(desk)
    await live.screenshot(desk, "process")

    # The contact person was told, in the app too: the count in the menu, then the list.
    await desk.get_by_role("link", name=re.compile("^Notifications")).click()
    notices = desk.locator(".notices")
    for _ in range(50):  # the notice is written a moment after the step is done
        if "Erledigt: Installation" in (await desk.locator("main").text_content() or ""):
            break
        await desk.wait_for_timeout(100)
        await desk.reload()
    await expect(notices).to_contain_text("Erledigt: Installation")
    await expect(notices).to_contain_text("Frist überschritten: Installation")
    await desk.get_by_role("button", name="Mark all as read").click()
    await expect(desk.locator(".notices li.unread")).to_have_count(0)
    await expect(desk.get_by_role("link", name="Notifications", exact=True)).to_be_visible()

    # Every e-mail of the story is in the outbox: hand-overs, the sign-in link, completion.
    await desk.get_by_role("link", name="Outbox").click()
    await expect(desk.get_by_role("cell", name="magic_link")).to_be_visible()
    await check_page(desk)
    await live.screenshot(desk, "outbox")

    # The partner's record: its scorecard with its charts, drawn on the server.
    await desk.get_by_role("link", name="Partners", exact=True).click()
    await desk.locator("td a").first.click()
    await expect(desk.locator("figure svg").first).to_be_visible()
    await check_page(desk)
    await live.screenshot(desk, "partner-scorecard")


async def test_builder_duplicates_edits_and_publishes_a_process(live: Live) -> None:
    http, admin = live.stack.http, live.stack.admin
    partner = await factories.partner(http, admin, name="Sonnenschein Solar GmbH")
    original = await factories.published_template(
        http,
        admin,
        factories.installation_template(partner["id"], {"after": "P7D"}, "PV-Installation"),
    )
    await factories.published_template(
        http,
        admin,
        factories.installation_template(partner["id"], {"after": "P3D"}, "Wallbox-Montage"),
    )
    page = await sign_in_staff(live)
    await page.get_by_role("link", name="Builder").click()
    await expect(page.get_by_role("heading", name="Process builder")).to_be_visible()
    # By keyboard: the ⋯ menu opens with Enter, its first entry is one Tab away.
    await page.get_by_label("Actions for PV-Installation", exact=True).focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("button", name="Duplicate")).to_be_visible()
    await check_page(page)
    await live.screenshot(page, "builder")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Duplicate")).to_be_focused()
    await page.keyboard.press("Enter")

    # The copy opens in the editor, as a draft of its own.
    await expect(page.get_by_role("status")).to_contain_text("copy")
    await page.get_by_label("Name", exact=True).fill("PV-Installation mit Rechnung")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("heading", name="PV-Installation mit Rechnung")).to_be_visible()

    await page.get_by_role("link", name="Edit step Installation").click()
    await page.get_by_label("Deadline", exact=True).select_option("business_days")
    await page.get_by_label("Business days").fill("5")
    await page.get_by_label("Region").fill("DE-NW")
    await page.get_by_label("Reminder 1", exact=True).fill("tomorrow")
    await page.get_by_label("Field 2 key").fill("modules")
    await page.get_by_label("Field 2 label").fill("Number of modules")
    await page.get_by_label("Field 2 type").select_option("number")
    await page.get_by_role("button", name="Save step").click()
    # The refusal stands beside the input it is about; what was typed is still there.
    reminder = page.get_by_label("Reminder 1", exact=True)
    await expect(reminder).to_have_attribute("aria-invalid", "true")
    await expect(reminder).to_have_value("tomorrow")
    await expect(page.locator("#reminder_1-error")).to_contain_text("whole number of days")
    await expect(page.get_by_label("Field 2 key")).to_have_value("modules")
    await check_page(page)
    await live.screenshot(page, "builder-step")

    await reminder.fill("1")
    await page.get_by_role("button", name="Save step").click()
    await expect(page.get_by_role("status")).to_contain_text("saved")
    await page.get_by_role("button", name="Publish").click()
    await expect(page.get_by_role("status")).to_contain_text("Published version 1")

    templates = (await http.get("/api/process-templates", headers=admin)).json()["data"]
    copy = next(t for t in templates if t["name"] == "PV-Installation mit Rechnung")
    assert copy["status"] == "published" and copy["published_version"] == 1
    step = next(s for s in copy["steps"] if s["key"] == "installation")
    assert step["deadline"] == {"business_days": 5, "from": "activation", "region": "DE-NW"}
    assert step["reminders"] == ["P1D"]
    assert [f["key"] for f in step["fields"]] == ["installed_on", "modules"]
    assert step["documents"] == [
        {"type": "invoice", "label": "Invoice", "required": True, "min_count": 1}
    ]
    # The original is untouched.
    first = (await http.get(f"/api/process-templates/{original['id']}", headers=admin)).json()
    assert next(s for s in first["steps"] if s["key"] == "installation")["deadline"] == {
        "after": "P7D",
        "from": "activation",
    }

    # The hand-over e-mail, written with a live preview.
    await page.get_by_role("link", name="E-mails").click()
    await page.get_by_role("link", name="New e-mail template").click()
    await page.get_by_label("Name", exact=True).fill("Übergabe Installation")
    await page.get_by_label("Subject").fill("Auftrag: {{ step.name }} bei {{ customer.name }}")
    await page.get_by_label("HTML body").fill(
        "<p>Hallo {{ partner.name }},</p>\n<p>bitte übernehmen Sie {{ step.name }} bis "
        "{{ step.due_at | datetime }}.</p>\n<p>{{ kunde }}</p>"
    )
    problem = page.locator("#preview-problem")
    await expect(problem).to_contain_text("kunde")
    await page.get_by_label("HTML body").fill(
        "<p>Hallo {{ partner.name }},</p>\n<p>bitte übernehmen Sie {{ step.name }} bei "
        "{{ customer.name }} bis {{ step.due_at | datetime }}.</p>"
    )
    await expect(problem).to_be_hidden()
    await expect(page.locator("#preview-subject")).to_contain_text("Auftrag: Installation bei")
    frame = page.frame_locator("#preview-frame")
    await expect(frame.locator("body")).to_contain_text("Uhr")
    await check_page(page)
    await live.screenshot(page, "email-editor")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("E-mail template created")
    emails = (await http.get("/api/email-templates", headers=admin)).json()["data"]
    assert [e["name"] for e in emails] == ["Übergabe Installation"]

    # The builder's pages on a phone: labelled, nothing wider than the screen.
    phone = await sign_in_staff(live, PHONE)
    for path in ("/builder", f"/builder/{copy['id']}", f"/builder/{copy['id']}/steps/1", "/emails"):
        await phone.goto(path)
        await check_page(phone)


async def test_a_conditional_step_built_drawn_and_greyed_where_it_did_not_apply(live: Live) -> None:
    http, admin = live.stack.http, live.stack.admin
    body = {
        "name": "Wärmepumpe",
        "steps": [
            {
                "key": "survey",
                "name": "Site survey",
                "assignee": {"type": "contact"},
                "fields": [
                    {"key": "scaffold_needed", "label": "Scaffold needed", "type": "boolean"}
                ],
            },
            {"key": "scaffold", "name": "Scaffold", "assignee": {"type": "contact"}},
            {"key": "install", "name": "Installation", "assignee": {"type": "contact"}},
        ],
    }
    template = await factories.created(
        await http.post("/api/process-templates", json=body, headers=admin)
    )
    page = await sign_in_staff(live)
    await page.goto(f"/builder/{template['id']}")
    await page.get_by_role("link", name="Edit step Scaffold").click()

    # Only the inputs of the chosen kind are shown: none for "no deadline", none for "always".
    duration = page.get_by_label("Duration", exact=True)
    condition_field = page.get_by_label("Condition 1 field")
    await expect(duration).to_be_hidden()
    await expect(condition_field).to_be_hidden()
    await expect(page.get_by_label("Partner slot")).to_be_hidden()
    await page.get_by_label("Deadline", exact=True).select_option("after")
    await expect(duration).to_be_visible()
    await expect(page.get_by_label("Business days")).to_be_hidden()
    await duration.fill("3")
    await page.get_by_label("Duration: unit").select_option("days")
    await page.get_by_label("The step applies").select_option("all")
    await expect(condition_field).to_be_visible()
    await expect(page.get_by_label("Condition 1 attribute")).to_be_hidden()
    await condition_field.select_option(label="Site survey › Scaffold needed")
    value = page.get_by_label("Condition 1 value")
    await page.get_by_label("Condition 1 test").select_option("is_empty")
    await expect(value).to_be_hidden()  # "is empty" takes no value
    await page.get_by_label("Condition 1 test").select_option("equals")
    await value.fill("yes")
    await check_page(page)
    await live.screenshot(page, "builder-condition")
    await page.get_by_role("button", name="Save step").click()
    await expect(page.get_by_role("status")).to_contain_text("Step saved")

    stored = (await http.get(f"/api/process-templates/{template['id']}", headers=admin)).json()
    scaffold = stored["steps"][1]
    assert scaffold["deadline"] == {"after": "P3D", "from": "activation"}
    assert scaffold["when"]["all"] == [
        {"field": "fields.survey.scaffold_needed", "op": "equals", "value": True}
    ]

    # The builder draws the process: the condition written on the arrow into the step.
    picture = page.get_by_role("img", name="The process as a diagram")
    await expect(picture).to_be_visible()
    on_arrow = picture.locator("text.condition")
    await expect(on_arrow).to_have_count(1)
    await expect(on_arrow).to_be_visible()
    await expect(on_arrow.locator("title")).to_have_text("only if survey: scaffold_needed is yes")
    arrow_box = await on_arrow.bounding_box()
    step_box = await picture.locator('g[data-key="scaffold"] rect').bounding_box()
    assert arrow_box and step_box
    # beside the arrow's end: just left of the step's box, at its height
    assert step_box["x"] - 30 < arrow_box["x"] + arrow_box["width"] <= step_box["x"]
    assert arrow_box["y"] < step_box["y"] + step_box["height"]
    await page.get_by_text("The process as a diagram in words").click()
    in_words = page.locator("figure.diagram li").nth(1)
    await expect(in_words).to_be_visible()
    await expect(in_words).to_have_text(
        "Scaffold: after Site survey, only if survey: scaffold_needed is yes."
    )
    await check_page(page)
    await live.screenshot(page, "builder-diagram")
    await page.get_by_role("button", name="Publish").click()
    await expect(page.get_by_role("status")).to_contain_text("Published version 1")

    # A process on it: the survey says no scaffold, so the scaffold step does not apply.
    process = await factories.started(http, admin, template["id"])
    done = await http.post(
        f"/api/processes/{process['id']}/steps/survey/complete",
        json={"fields": {"scaffold_needed": False}},
        headers=admin,
    )
    assert done.status_code == 200, done.text
    await page.goto(f"/processes/{process['id']}")
    card = page.locator("#step-scaffold")
    await expect(card).to_contain_text("not applicable")
    await expect(card).to_contain_text("only if survey: scaffold_needed is yes")
    grey = await card.locator(".card").evaluate("e => getComputedStyle(e).backgroundColor")
    assert grey == "rgb(242, 244, 247)"
    box = page.locator('svg g[data-key="scaffold"]')
    await expect(box).to_have_attribute("data-status", "not_applicable")
    await expect(box.locator("rect")).to_have_attribute("fill", "#f2f4f7")
    await expect(box).to_contain_text("not applicable")
    await expect(page.locator('svg g[data-key="install"]')).to_have_attribute(
        "data-status", "active"
    )
    await check_page(page)
    await live.screenshot(page, "process-branches")
