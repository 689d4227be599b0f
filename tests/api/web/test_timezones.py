"""Every page that shows a step's deadline shows it in the process's own time zone."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from partnerflow.partners import PERMISSIONS
from tests import factories
from tests.conftest import ADMIN_TOKEN, Stack
from tests.web import browser, signed_in_partner, signed_in_staff

NEW_YORK = ZoneInfo("America/New_York")


def a_sunday_next_winter() -> date:
    """A Sunday in January of next year: in the future, and New York on standard time."""
    day = date(date.today().year + 1, 1, 8)
    return day - timedelta(days=(day.weekday() + 1) % 7)


async def test_a_new_york_process_shows_its_deadline_in_new_york_time(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    partner = await factories.partner(http, admin)
    await factories.granted(http, admin, partner["id"], *PERMISSIONS)
    body = {**factories.installation_template(partner["id"]), "timezone": "America/New_York"}
    template = await factories.published_template(http, admin, body)
    process = await factories.started(http, admin, template["id"])
    await factories.commission(http, admin, process["id"])

    sunday = a_sunday_next_winter()
    due = datetime(sunday.year, sunday.month, sunday.day, 23, 59, tzinfo=NEW_YORK)
    response = await http.put(
        f"/api/processes/{process['id']}/steps/installation/deadline",
        json={"due_at": due.isoformat()},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    # The draft moves to Berlin; the running process keeps the zone of the version it runs on.
    response = await http.put(
        f"/api/process-templates/{template['id']}",
        json={**body, "timezone": "Europe/Berlin"},
        headers=admin,
    )
    assert response.status_code == 200, response.text

    in_new_york = f"Sun, {sunday.day} Jan {sunday.year}, 23:59"
    in_berlin = f"Mon, {sunday.day + 1} Jan {sunday.year}, 05:59"
    step_path = f"/portal/processes/{process['id']}/steps/installation"
    async with browser(http) as staff, browser(http) as partner_browser:
        await signed_in_staff(staff, ADMIN_TOKEN)
        await signed_in_partner(partner_browser, admin, partner["owner_email"])
        pages = {
            "dashboard": await staff.get("/processes"),
            "process page": await staff.get(f"/processes/{process['id']}"),
            "portal tasks": await partner_browser.get("/portal"),
            "portal step": await partner_browser.get(step_path),
        }
    for name, page in pages.items():
        assert page.status_code == 200, (name, page.text)
        assert in_new_york in page.text, name
        assert in_berlin not in page.text, name
