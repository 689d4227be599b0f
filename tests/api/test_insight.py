"""Scorecards and CSV exports through the API: a partner sees its own record only, and what a
spreadsheet would run as a formula comes out as text."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from partnerflow.models import ProcessStep
from tests import factories
from tests.conftest import ADMIN_TOKEN, Stack
from tests.web import browser, signed_in_staff


async def test_a_partner_sees_its_own_scorecard_only(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    a = await factories.partner(http, admin, name="Partner A")
    b = await factories.partner(http, admin, name="Partner B")
    process = await factories.commissioned(http, admin, a["id"])
    a_user, b_user = factories.bearer(a["owner_token"]), factories.bearer(b["owner_token"])
    done = await http.post(
        f"/api/processes/{process['id']}/steps/installation/complete",
        json={"fields": {"installed_on": "2026-05-04"}},
        headers=a_user,
    )
    assert done.status_code == 200, done.text

    mine = await http.get("/api/my/scorecard", headers=a_user)
    assert mine.status_code == 200, mine.text
    card = mine.json()
    assert (card["partner_id"], card["steps_completed"], card["overdue_now"]) == (a["id"], 1, 0)
    assert card["on_time_rate"] is None  # the step had no deadline
    [step] = card["by_step"]
    assert (step["step_key"], step["n"], step["template_id"]) == (
        "installation", 1, process["template_id"],
    )  # fmt: skip
    assert len(card["by_month"]) == 12 and (card["declined"], card["changes_requested"]) == (0, 0)
    as_staff = await http.get(f"/api/partners/{a['id']}/scorecard", headers=admin)
    assert as_staff.json() == card

    # B's own is B's; A's is not there for B, nor for staff under /api/my
    assert (await http.get("/api/my/scorecard", headers=b_user)).json()["steps_completed"] == 0
    for path in (f"/api/partners/{a['id']}/scorecard", f"/api/partners/{a['id']}/scorecard.csv"):
        refused = await http.get(path, headers=b_user)
        assert refused.status_code == 404, refused.text
    assert (await http.get("/api/my/scorecard", headers=admin)).status_code == 403

    # a period: days, `from` not after `to`
    empty = await http.get(
        f"/api/partners/{a['id']}/scorecard", params={"from": "2020-01-01", "to": "2020-02-15"},
        headers=admin,
    )  # fmt: skip
    assert empty.json()["steps_completed"] == 0
    assert [m["month"] for m in empty.json()["by_month"]] == ["2020-01", "2020-02"]
    backwards = await http.get(
        "/api/my/scorecard", params={"from": "2020-02-01", "to": "2020-01-01"}, headers=a_user
    )
    assert backwards.status_code == 422
    assert backwards.json()["detail"][0]["loc"] == ["query", "from"]


async def test_csv_exports_escape_formulas(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    a = await factories.partner(http, admin, name='=HYPERLINK("https://evil.example","x")')
    process = await factories.commissioned(http, admin, a["id"])
    await http.post(
        f"/api/processes/{process['id']}/steps/installation/complete",
        json={"fields": {"installed_on": "2026-05-04"}},
        headers=factories.bearer(a["owner_token"]),
    )
    response = await http.get(f"/api/partners/{a['id']}/scorecard.csv", headers=admin)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0]["row"] == "total" and rows[0]["steps_completed"] == "1"
    assert {r["partner_name"] for r in rows} == {'\'=HYPERLINK("https://evil.example","x")'}

    # the process list: the same filters as the JSON list, a cancel reason as text
    other = await factories.commissioned(http, admin, a["id"])
    cancelled = await http.post(
        f"/api/processes/{other['id']}/cancel", json={"reason": "@SUM(1+1)*cmd"}, headers=admin
    )
    assert cancelled.status_code == 200, cancelled.text
    listed = await http.get("/api/processes.csv", params={"status": "cancelled"}, headers=admin)
    assert listed.status_code == 200 and listed.headers["x-total-count"] == "1"
    [row] = list(csv.DictReader(io.StringIO(listed.text.lstrip("\ufeff"))))
    assert (row["id"], row["status"], row["cancel_reason"]) == (
        other["id"], "cancelled", "'@SUM(1+1)*cmd",
    )  # fmt: skip
    every = await http.get("/api/processes.csv", headers=admin)
    json_list = await http.get("/api/processes", headers=admin)
    ids = [r["id"] for r in csv.DictReader(io.StringIO(every.text.lstrip("\ufeff")))]
    assert ids == [p["id"] for p in json_list.json()["data"]]
    assert every.headers["x-total-count"] == str(json_list.json()["count"]) == "2"


async def test_processes_sorted_by_risk_and_the_risk_shown_to_staff_only(stack: Stack) -> None:
    http, admin = stack.http, stack.admin
    a = await factories.partner(http, admin, name="Partner A")
    unknown, likely_late, maybe_late = [
        await factories.commissioned(http, admin, a["id"]) for _ in range(3)
    ]
    soon = datetime.now(UTC) + timedelta(days=3)
    table = ProcessStep.__table__  # type: ignore[attr-defined]
    step = table.c
    with stack.engine.begin() as connection:  # as a forecast round would have written them
        for process, p in ((likely_late, 0.9), (maybe_late, 0.3)):
            connection.execute(
                update(table)
                .where(step.process_id == uuid.UUID(process["id"]), step.key == "installation")
                .values(
                    due_at=soon, late_probability=p, expected_done_at=soon, risk_basis="partner"
                )
            )

    listed = await http.get("/api/processes", params={"sort": "risk"}, headers=admin)
    assert listed.status_code == 200, listed.text
    assert [p["id"] for p in listed.json()["data"]] == [
        likely_late["id"], maybe_late["id"], unknown["id"],
    ]  # fmt: skip
    detail = (await http.get(f"/api/processes/{likely_late['id']}", headers=admin)).json()
    [installation] = [s for s in detail["steps"] if s["key"] == "installation"]
    assert installation["risk"]["late_probability"] == 0.9
    assert installation["risk"]["basis"] == "partner"
    async with browser(http) as staff:
        await signed_in_staff(staff, ADMIN_TOKEN)
        page = await staff.get("/processes", params={"sort": "risk"})
        assert page.status_code == 200 and "90 % likely late" in page.text
        shown = await staff.get(f"/processes/{likely_late['id']}")
        assert "90 % likely late" in shown.text and "from this partner" in shown.text

    partner = factories.bearer(a["owner_token"])
    mine = (await http.get(f"/api/processes/{likely_late['id']}", headers=partner)).json()
    assert [s["risk"] for s in mine["steps"]] == [None]
    refused = await http.get("/api/processes", params={"sort": "risk"}, headers=partner)
    assert refused.status_code == 403
