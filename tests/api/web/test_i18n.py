"""The pages in German and English: chosen by the user's setting, else the browser's
Accept-Language, else the company's; every visible text of the portal and the shared layout in
the German catalog; dates, numbers and refusals in the reader's language."""

import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from api.web import i18n
from api.web.i18n import LOCALE_DIR, catalog, from_accept_language
from partnerflow.partners import PERMISSIONS
from tests import factories
from tests.api.test_offers import offer_for, offer_step, offered
from tests.conftest import Stack
from tests.i18n_check import missing_translations, untranslated
from tests.web import browser, signed_in_partner

GERMAN = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
TEMPLATES = Path("api/web/templates")
# The portal, the sign-in pages, the account page and what every page shares.
PORTAL_FILES = [
    *(
        TEMPLATES / name
        for name in (
            "base.html",
            "macros.html",
            "error.html",
            "account.html",
            "portal_tasks.html",
            "portal_offers.html",
            "portal_step.html",
            "portal_sign_in.html",
            "portal_link.html",
            "portal_link_gone.html",
            "portal_link_sent.html",
            "scorecard.html",
            "sign_in.html",
            "staff_link.html",
            "staff_link_gone.html",
            "invitation.html",
            "invitation_gone.html",
        )
    ),
    *(
        Path("api/web") / name
        for name in (
            "portal_pages.py",
            "offer_pages.py",
            "account_pages.py",
            "sign_in_pages.py",
            "install.py",
            "refusals.py",
            "templating.py",
            "insight.py",
        )
    ),
    # the domain's words for people that the portal shows (partnerflow/wording.py)
    *(
        Path("partnerflow") / name
        for name in ("diagram.py", "conditions.py", "charts.py", "scorecards.py")
    ),
]

# One database is enough to show the pages; the API tests cover both.
on_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# The catalogs --------------------------------------------------------------------------------


def test_every_text_the_portal_marks_has_a_german_translation() -> None:
    assert missing_translations(PORTAL_FILES) == []


def _placeholders(texts: Any) -> set[str]:
    """The named values of a msgid or msgstr (a plural's: all its forms together)."""
    forms = texts if isinstance(texts, tuple | list) else [texts]
    return {name for text in forms for name in re.findall(r"%\((\w+)\)[sd]", str(text or ""))}


def _keeps_values(msgid: Any, msgstr: Any, context: str | None) -> bool:
    english, german = _placeholders(msgid), _placeholders(msgstr)
    if context == i18n.REFUSAL_CONTEXT:  # matched in the English: a value may be left out
        return german <= english
    # a plural's count may be left out of the singular ("ein Auftrag")
    return english - {"num"} == german - {"num"}


def test_translations_keep_the_values_and_agree_across_files() -> None:
    """A translation fills in the same values as its English (a missing one would show
    English data or raise); the same text translated twice says the same."""
    wrong = [
        (message.id, message.string)
        for message in catalog("de")
        if message.id
        and message.string
        and not _keeps_values(message.id, message.string, message.context)
    ]
    assert wrong == []

    seen: dict[tuple[str | None, str], tuple[str, Any]] = {}
    conflicts = []
    for path in sorted((LOCALE_DIR / "de" / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as po:
            for message in read_po(po):
                key = (message.context, str(message.id))
                if message.id and key in seen and seen[key][1] != message.string:
                    conflicts.append((key, seen[key][0], path.name))
                seen.setdefault(key, (path.name, message.string))
    assert conflicts == []


# Choosing the language -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("en-GB,en;q=0.9", "en"),
        ("fr-FR, de;q=0.5, en;q=0.4", "de"),  # the first one we have, by quality
        ("en;q=0.3, de;q=0.7", "de"),
        ("de;q=0, en", "en"),  # q=0: not German
        ("DE-at", "de"),
        ("fr, it", None),
        ("*", None),
        ("", None),
        (None, None),
        ("de;q=abc", None),
        ("de;q=2", None),
        (";;;,,,=", None),
        ("\x00\xff garbage \u202e", None),
        ("de" * 5000, None),
        (",".join(["xx"] * 500) + ",de", None),  # only the first 50 ranges are read
    ],
)
def test_accept_language(header: str | None, chosen: str | None) -> None:
    assert from_accept_language(header) == chosen


def test_refusals_are_said_in_german_exactly_and_by_pattern() -> None:
    with i18n.reading("de"):
        assert i18n.refusal_text("Choose a file to upload") == "wählen Sie eine Datei zum Hochladen"
        assert i18n.refusal_text(
            "Step 'installation', field 'installed_on': required; "
            "step 'installation', document 'invoice': 0 of 1 uploaded"
        ) == (
            "Schritt „installation“, Feld „installed_on“: erforderlich; "
            "Schritt „installation“, Dokument „invoice“: 0 von 1 hochgeladen"
        )
        # a message the catalog does not know is shown as it is
        assert i18n.refusal_text("the moon is made of cheese") == "the moon is made of cheese"
        assert i18n.number(1234.5, 1) == "1.234,5"
    with i18n.reading("en"):
        assert i18n.refusal_text("Choose a file to upload") == "Choose a file to upload"
        assert i18n.number(1234.5, 1) == "1,234.5"


# The pages -----------------------------------------------------------------------------------


def _lang(html: str) -> str:
    found = re.search(r'<html lang="(\w+)"', html)
    assert found, html[:200]
    return found.group(1)


async def _partner_with_work(stack: Stack) -> tuple[dict[str, Any], dict[str, Any]]:
    """An active partner allowed everything, with an open installation step (a date field,
    an invoice to upload)."""
    partner = await factories.partner(stack.http, stack.admin, name="Solar Nord GmbH")
    partner["headers"] = factories.bearer(partner["owner_token"])
    await factories.granted(stack.http, stack.admin, partner["id"], *PERMISSIONS)
    template = await factories.published_template(
        stack.http, stack.admin, factories.installation_template(partner["id"], name="PV Anlage")
    )
    process = await factories.started(stack.http, stack.admin, template["id"])
    detail = await factories.commission(stack.http, stack.admin, process["id"])
    return partner, detail


# What the tests create and the pages show as it is: names, addresses, labels.
DATA = [
    "Solar Nord GmbH",
    "Solar 0 GmbH",
    "PV Anlage",
    "Installation",
    "Commission partner",
    "Agree the date with the customer, install, upload the invoice.",
    "Installed on",
    "installation",  # keys, as a refusal names the step and the field
    "installed_on",
    "Invoice",
    "invoice",
    "Jana Becker",
    "Lindenweg 4",
    "Köln",
    "Erika Inhaberin",  # the partner's first user (tests/factories.py)
    "Deutsch",  # the account page's languages, each named as it names itself
    "English",
]


@on_sqlite
async def test_the_portal_in_german(stack: Stack) -> None:
    """Each page of the portal, in German, has no text the German catalog lacks: the task
    list, a step (its refusals too), offers, the account, the scorecard, sign-in and errors."""
    partner, process = await _partner_with_work(stack)
    offer_process = await offered(stack, offer_step([partner]))
    step_path = f"/portal/processes/{process['id']}/steps/installation"
    names = [*DATA, partner["name"], partner["owner_email"], "soon"]  # "soon": typed in
    async with browser(stack.http) as reader:
        reader.headers.update(GERMAN)
        signed_out = [
            await reader.get("/portal/sign-in"),
            await reader.get("/sign-in"),
            await reader.get("/portal/sign-in/not-a-link"),
            await reader.get("/sign-in/not-a-link"),
            await reader.get("/invitations/not-an-invitation"),
            await reader.post("/portal/sign-in", data={"email": "not an address"}),
        ]
        assert [r.status_code for r in signed_out] == [200, 200, 404, 404, 404, 422]
        assert "Geben Sie die E-Mail-Adresse ein" in signed_out[-1].text

        csrf = await signed_in_partner(reader, stack.admin, partner["owner_email"])
        names.append((await offer_for(stack.http, partner, offer_process))["template_name"])
        pages = {
            "tasks": await reader.get("/portal"),
            "step": await reader.get(step_path),
            "offers": await reader.get("/portal/offers"),
            "account": await reader.post("/portal/account/tokens", data={"csrf": csrf}),
            "scorecard": await reader.get("/portal/scorecard"),
            "bad period": await reader.get("/portal/scorecard?from=2026-13-01"),
            "not found": await reader.get(f"/portal/processes/{process['id']}/steps/nope"),
            # finished without its date and its invoice: the workflow's refusal, in German
            "refused": await reader.post(f"{step_path}/complete", data={"csrf": csrf}),
            "no reason": await reader.post(
                f"{step_path}/decline", data={"csrf": csrf, "reason": " "}
            ),
            "bad date": await reader.post(
                f"{step_path}/complete", data={"csrf": csrf, "field:installed_on": "soon"}
            ),
        }
        recorded = await reader.post(
            f"{step_path}/appointment", data={"csrf": csrf, "appointment": "2026-12-11T14:00"}
        )
        pages["appointment"] = await reader.get(recorded.headers["location"])

    assert {name: r.status_code for name, r in pages.items()} == {
        "tasks": 200,
        "step": 200,
        "offers": 200,
        "account": 200,
        "scorecard": 200,
        "bad period": 422,
        "not found": 404,
        "refused": 422,
        "no reason": 422,
        "bad date": 422,
        "appointment": 200,
    }
    for name, response in [*pages.items(), *enumerate(signed_out)]:
        assert _lang(response.text) == "de", name
        assert untranslated(response.text, names) == [], name
    assert "Meine Aufgaben" in pages["tasks"].text
    assert "Schritt „installation“, Feld „installed_on“: erforderlich" in pages["refused"].text
    assert "„soon“ ist kein gültiger Wert (Datum)" in pages["bad date"].text
    # the appointment in German: day and month names, the day with a point, 24 hours
    assert "Fr., 11. Dez. 2026, 14:00" in pages["appointment"].text
    assert "Der Termin ist als Frist des Schritts eingetragen." in pages["appointment"].text


def _owner(partner: dict[str, Any]) -> dict[str, str]:
    return factories.bearer(partner["owner_token"])


@on_sqlite
async def test_the_users_setting_wins_over_the_browser(stack: Stack) -> None:
    partner, _ = await _partner_with_work(stack)
    owner = _owner(partner)
    async with browser(stack.http) as reader:
        reader.headers.update({"Accept-Language": "en-GB,en;q=0.9"})
        csrf = await signed_in_partner(reader, stack.admin, partner["owner_email"])
        assert "My tasks" in (await reader.get("/portal")).text

        # The API: German for this user, whatever the browser asks
        me = await stack.http.put("/api/me", json={"language": "de"}, headers=owner)
        assert me.status_code == 200 and me.json()["language"] == "de"
        page = await reader.get("/portal")
        assert _lang(page.text) == "de" and "Meine Aufgaben" in page.text

        # The account page: back to the browser's language, said in it
        response = await reader.post(
            "/portal/account/language", data={"csrf": csrf, "language": "browser"}
        )
        assert response.status_code == 303
        page = await reader.get(response.headers["location"])
        assert _lang(page.text) == "en" and "Your language is saved." in page.text
        assert (await stack.http.get("/api/me", headers=owner)).json()["language"] is None

        # A language we do not have is refused, naming the field
        refused = await stack.http.put("/api/me", json={"language": "fr"}, headers=owner)
        assert refused.status_code == 422 and "language" in refused.text
        refused = await reader.post(
            "/portal/account/language", data={"csrf": csrf, "language": "fr"}
        )
        assert refused.status_code == 422


@on_sqlite
async def test_accept_language_garbage_falls_back_to_the_default(stack: Stack) -> None:
    """Nothing usable: the company's default (German here; the test stacks' English else)."""
    stack.app.state.settings = stack.settings.model_copy(update={"page_language": None})
    answered = {}
    try:
        for header in ["", "*", ";;;;", "de;q=nonsense", "xx-YY-ZZ-123456789", "\t,\t", "ä,ö;q=ü"]:
            response = await stack.http.get(
                "/portal/sign-in", headers=[(b"accept-language", header.encode("utf-8"))]
            )
            answered[header] = (response.status_code, _lang(response.text))
            assert "Anmeldelink senden" in response.text
    finally:
        stack.app.state.settings = stack.settings
    assert set(answered.values()) == {(200, "de")}
    assert stack.settings.default_language == "de"
