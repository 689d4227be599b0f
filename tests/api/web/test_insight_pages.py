"""The pictures on the pages: a partner's scorecard (staff's page and the portal's) and the
dashboard's open steps by deadline week, each an SVG with its numbers as a table beside it."""

import re
import xml.etree.ElementTree as ET

from tests import factories
from tests.conftest import ADMIN_TOKEN, Stack
from tests.web import browser, signed_in_partner, signed_in_staff


def _charts(html: str) -> list[ET.Element]:
    """Each inline SVG of the page, parsed (so it is well-formed) and checked for its title
    and description, with a table of its numbers after it."""
    found = re.findall(r"<svg .*?</svg>\s*<details>.*?<table>", html, re.S)
    svgs = [ET.fromstring(re.sub(r"\s*<details>.*", "", f, flags=re.S)) for f in found]  # noqa: S314
    for svg in svgs:
        assert svg.get("role") == "img"
        assert svg.find("{http://www.w3.org/2000/svg}title") is not None
        assert svg.find("{http://www.w3.org/2000/svg}desc") is not None
    return svgs


async def test_scorecard_pages_and_the_dashboard_chart(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    a = await factories.partner(http, admin, name="Solar <Nord>")
    process = await factories.commissioned(http, admin, a["id"])
    await http.post(
        f"/api/processes/{process['id']}/steps/installation/complete",
        json={"fields": {"installed_on": "2026-05-04"}},
        headers=factories.bearer(a["owner_token"]),
    )
    async with browser(http) as staff, browser(http) as partner:
        await signed_in_staff(staff, ADMIN_TOKEN)
        listed = await staff.get("/partners")
        assert listed.status_code == 200 and f'href="/partners/{a["id"]}"' in listed.text

        page = await staff.get(f"/partners/{a['id']}")
        assert page.status_code == 200, page.text
        assert "Solar &lt;Nord&gt;" in page.text and "Solar <Nord>" not in page.text
        assert len(_charts(page.text)) == 2
        assert "On-time rate by month as a table" in page.text
        assert "Installation" in page.text  # the by-step table
        assert f"/partners/{a['id']}/scorecard.csv?from=" in page.text
        csv_file = await staff.get(f"/partners/{a['id']}/scorecard.csv")
        assert csv_file.headers["content-type"] == "text/csv; charset=utf-8"

        wrong = await staff.get(f"/partners/{a['id']}", params={"from": "2026-13-01"})
        assert wrong.status_code == 422 and "Enter the days as YYYY-MM-DD." in wrong.text

        dashboard = await staff.get("/processes")
        assert len(_charts(dashboard.text)) == 1
        assert "Open steps by deadline week" in dashboard.text

        await signed_in_partner(partner, admin, a["owner_email"])
        own = await partner.get("/portal/scorecard")
        assert own.status_code == 200, own.text
        assert "Our record" in own.text and len(_charts(own.text)) == 2
        assert (await partner.get(f"/partners/{a['id']}")).status_code == 403
