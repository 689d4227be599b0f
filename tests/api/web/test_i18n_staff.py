"""The staff pages in German: every page of the contact person, the builder, the e-mail
templates, the outbox, partners and people says nothing the German catalog lacks, refused forms
included; and every text the staff pages' templates and code mark has its German."""

import re
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import httpx
from sqlmodel import Session, select

from api.web.i18n import catalog
from api.web.views import EMAIL_KIND
from partnerflow.models import Notification, OutboxKind
from tests import factories
from tests.conftest import ADMIN_TOKEN, Stack
from tests.i18n_check import missing_translations, untranslated
from tests.web import browser, signed_in_staff

GERMAN = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "api" / "web" / "templates"
# lane I1's: the shared layout, the portal, signing in, the account
NOT_STAFF = (
    "portal_",
    "base.",
    "macros.",
    "sign_in",
    "account",
    "error.",
    "invitation",
    "staff_link",
)
STAFF_MODULES = (
    "staff_pages", "views", "builder_pages", "builder_steps", "step_form", "condition_form",
    "duration_inputs", "email_pages", "people_pages", "service_area_pages", "bulk_pages",
)  # fmt: skip
STAFF_CODE = [
    *(ROOT / "api" / "web" / f"{name}.py" for name in STAFF_MODULES),
    ROOT / "partnerflow" / "assignees.py",
    ROOT / "partnerflow" / "emails.py",
]


def staff_templates() -> list[Path]:
    return [p for p in sorted(TEMPLATES.glob("*.html")) if not p.name.startswith(NOT_STAFF)]


def test_every_marked_staff_text_has_its_german() -> None:
    assert len(staff_templates()) > 15
    assert missing_translations([*staff_templates(), *STAFF_CODE]) == []


def _literals(kind: Any) -> list[str]:
    """The values of a Literal, or of a union of Literals."""
    if get_origin(kind) is Literal:
        return [str(value) for value in get_args(kind)]
    return [value for part in get_args(kind) for value in _literals(part)]


def test_every_email_kind_has_a_german_word() -> None:
    german = catalog("de")
    kinds = _literals(OutboxKind)
    assert "magic_link" in kinds and "handover" in kinds
    assert [kind for kind in kinds if german.get(kind, EMAIL_KIND) is None] == []


# a process that shows every kind of step the builder and the process page say in words ------


def rich_template(partner_id: str, user_id: str) -> dict[str, Any]:
    return {
        "name": "Wärmepumpe Einbau",
        "description": "Vom Aufmaß bis zur Abnahme",
        "steps": [
            {
                "key": "aufmass",
                "name": "Aufmaß vor Ort",
                "instructions": "Termin vereinbaren und Maße nehmen.",
                "assignee": {"type": "contact"},
                "fields": [
                    {"key": "termin", "label": "Termin vor Ort", "type": "datetime"},
                    {"key": "leistung", "label": "Leistung in kW", "type": "number"},
                    {
                        "key": "dach",
                        "label": "Dachform",
                        "type": "choice",
                        "options": ["Satteldach", "Flachdach"],
                    },
                ],
                "review": {"by": {"type": "contact"}, "max_rounds": 2},
                "deadline": {"business_days": 3, "region": "DE-NW"},
            },
            {
                "key": "einbau",
                "name": "Einbau",
                "assignee": {"type": "partner", "partner_id": partner_id},
                "deadline": {"after": "P1DT12H", "from": "start"},
                "reminders": ["P1D", "PT4H"],
                "escalation": {
                    "notify_contact": True,
                    "reassign_to": {"type": "contact"},
                    "grace": "PT4H",
                },
                "documents": [{"type": "protokoll", "label": "Abnahmeprotokoll"}],
                "when": {
                    "all": [
                        {"field": "opportunity.product", "op": "any_of", "value": ["pv", "wp"]},
                        {"field": "fields.aufmass.leistung", "op": "gt", "value": 12},
                    ]
                },
            },
            {
                "key": "foerderung",
                "name": "Förderantrag",
                "requires": ["aufmass"],
                "assignee": {
                    "type": "offer",
                    "partners": [partner_id],
                    "mode": "ranked",
                    "wait": "PT4H",
                    "expires": "P2D",
                },
            },
            {
                "key": "abnahme",
                "name": "Abnahme",
                "requires": ["aufmass"],
                "assignee": {"type": "user", "user_id": user_id},
                "deadline": {"from_field": {"step": "aufmass", "field": "termin"}, "offset": "P7D"},
            },
            {
                "key": "rechnung",
                "name": "Schlussrechnung",
                "requires": [],
                "assignee": {"type": "partner_slot", "slot": "elektriker"},
                "when": {"any": [{"field": "opportunity.test", "op": "equals", "value": False}]},
            },
        ],
    }


async def german_page(client: httpx.AsyncClient, address: str, status: int = 200) -> str:
    response = await client.get(address, headers=GERMAN)
    assert response.status_code == status, (address, response.text[:2000])
    assert '<html lang="de">' in response.text, address
    return response.text


async def german_post(
    client: httpx.AsyncClient, address: str, form: dict[str, Any], status: int
) -> str:
    response = await client.post(address, data=form, headers=GERMAN)
    assert response.status_code == status, (address, response.text[:2000])
    return response.text


async def test_every_staff_page_in_german(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin, name="Sonnenschein Solar GmbH")
    colleague = await factories.member(http, admin, name="Maria Mitarbeiter")
    email_template = await factories.email_template(http, admin)
    rich = await factories.published_template(
        http, admin, rich_template(partner["id"], colleague["id"])
    )
    handed_over = await factories.commissioned(http, admin, partner["id"], email_template["id"])
    await factories.started(http, admin, rich["id"], partners={"elektriker": partner["id"]})
    # the hand-over e-mail: the outbox shows it (its subject and text are data, in German)
    await factories.outbox(http, admin, handed_over["id"], count=1)

    async with browser(http) as staff:
        csrf = await signed_in_staff(staff, ADMIN_TOKEN)
        # what the test made, and what the system wrote in the process's language (German
        # e-mails and notices): data the pages show as it is
        data = await _shown_data(stack, staff)

        left_over: dict[str, list[str]] = {}  # every page's, to see them all at once

        async def check(address: str, status: int = 200) -> str:
            html = await german_page(staff, address, status)
            if found := untranslated(html, data):
                left_over[address] = found
            return html

        dashboard = await check("/processes")
        assert "Vorgänge" in dashboard and "Offene Schritte nach Fristwoche" in dashboard
        await check("/processes?sort=risk&mine=true")
        await check("/processes?show=completed")
        await check("/processes?show=cancelled&test=true")
        page = await check(f"/processes/{handed_over['id']}")
        assert "Verlauf" in page and "Ansprechpartner" in page
        for process in (await http.get("/api/processes", headers=admin)).json()["data"]:
            await check(f"/processes/{process['id']}")
        await check("/partners")
        await check(f"/partners/{partner['id']}")
        await check(f"/partners/{partner['id']}?from=2026-13-01", 422)
        await check("/builder")
        await check("/builder?archived=1")
        await check("/builder/new")
        for template in (await http.get("/api/process-templates", headers=admin)).json()["data"]:
            await check(f"/builder/{template['id']}")
            for position in range(len(template["steps"])):
                await check(f"/builder/{template['id']}/steps/{position}")
        await check("/emails")
        await check("/emails/new")
        await check(f"/emails/{email_template['id']}")
        outbox = await check("/outbox")
        assert "Übergabe" in outbox
        await check("/outbox?kind=handover")
        for email in (await http.get("/api/outbox", headers=admin)).json()["data"][:3]:
            await check(f"/outbox/{email['id']}")
        await check("/notifications")
        await check("/people")
        await check(f"/people/{colleague['id']}")
        await check("/webhooks")  # lane H's page, its texts in webhooks.po

        # refused forms: the messages beside the inputs and above the forms in German
        async def refused(
            address: str, form: dict[str, Any], status: int = 422, typed: tuple[str, ...] = ()
        ) -> str:
            html = await german_post(staff, address, {"csrf": csrf, **form}, status)
            if found := untranslated(html, [*data, *typed]):
                left_over[f"POST {address}"] = found
            return html

        html = await refused(
            f"/builder/{rich['id']}/steps/1",
            {
                "key": "Einbau!", "name": "", "assignee_type": "contact",
                "deadline_kind": "after", "deadline_after": "drei", "deadline_after_unit": "days",
                "deadline_from": "activation",
            },
        )  # fmt: skip
        assert "Geben Sie die Tage als ganze Zahl ein, z. B. 3." in html
        assert "Bitte geben Sie einen Wert ein." in html  # the name
        html = await refused(
            f"/people/{colleague['id']}/absence",
            {"from": "", "until": "morgen", "substitute_user_id": ""},
        )
        assert "Wählen Sie, wann die Abwesenheit beginnt" in html
        html = await refused(
            f"/partners/{partner['id']}/service-area",
            {"postal_codes": "5066, 51*", "country": "DE"},
        )
        assert "„5066“ ist weder eine Postleitzahl in Deutschland (5 Ziffern)" in html
        html = await refused("/steps/bulk", {"action": "reassign", "assignee": ""})
        assert "Wählen Sie mindestens einen Schritt aus" in html
        html = await refused(
            "/emails/new",
            {"name": "", "language": "de", "subject": "{{ nope }}", "body_html": "<p>Hallo</p>"},
            typed=("<p>Hallo</p>", "nope"),
        )
        assert "Betreff, Zeile 1: unbekannte Variable „nope“" in html
        assert "Die E-Mail-Vorlage wurde nicht gespeichert." in html
        html = await refused(
            f"/builder/{rich['id']}",
            {"name": "Wärmepumpe", "language": "de", "timezone": "Mars/Base"},
            typed=("Mars/Base",),
        )
        assert "Unbekannte Zeitzone „Mars/Base“" in html
        html = await refused(f"/builder/{rich['id']}/steps/0/delete", {})
        assert "setzt den unbekannten Schritt „aufmass“ voraus" in html
    assert left_over == {}, left_over


async def _shown_data(stack: Stack, staff: httpx.AsyncClient) -> list[str]:
    """Everything a page shows as it is: names, titles, step names and labels, the e-mails'
    subjects and the notices (written in the process's language), template bodies."""
    http, admin = stack.http, stack.admin
    data: list[str] = []
    for user in (await http.get("/api/users", headers=admin)).json()["data"]:
        data += [user["name"]]
    for partner in (await http.get("/api/partners", headers=admin)).json()["data"]:
        data += [partner["name"]]
    for template in (await http.get("/api/process-templates", headers=admin)).json()["data"]:
        data += [template["name"], template["description"]]
        for step in template["steps"]:
            data += [step["name"], step.get("instructions") or "", step["key"]]
            region = (step.get("deadline") or {}).get("region") or ""
            data += [step["assignee"].get("slot") or "", region]
            data += [f["key"] for f in step.get("fields", [])]
            data += [f["label"] for f in step.get("fields", [])]
            data += [option for f in step.get("fields", []) for option in f.get("options") or []]
            data += [d["label"] for d in step.get("documents", [])]
    for process in (await http.get("/api/processes", headers=admin)).json()["data"]:
        detail = (await http.get(f"/api/processes/{process['id']}", headers=admin)).json()
        data += [detail["customer"]["name"], *(s["name"] for s in detail["steps"])]
        data += [str(e.get("detail") or "") for e in detail.get("timeline", [])]
    opportunity = await factories.opportunity(http, admin)
    data += [opportunity["title"], opportunity["customer"]["name"]]
    for email in (await http.get("/api/outbox", headers=admin)).json()["data"]:
        data += [email["subject"], email["text"]]
    for template in (await http.get("/api/email-templates", headers=admin)).json()["data"]:
        data += [template["name"], template["subject"], template["body_html"]]
        data += [f"{template['name']} ({template['language']})"]  # as the step editor offers it
        data += [template.get("body_text") or ""]
    with Session(stack.engine) as session:
        data += list(session.exec(select(Notification.message)))
    # the values a template's conditions compare with, its e-mails' languages, the time zone
    data += ["pv", "wp", stack.settings.default_timezone]
    return [value for value in data if value and re.search(r"\w", value)]
