"""CSV exports: a cell a spreadsheet would run as a formula is text."""

import csv
import io
import uuid
from datetime import date

from partnerflow import exports
from partnerflow.scorecards import MonthRecord, Scorecard, StepRecord


def test_a_formula_is_prefixed() -> None:
    for formula in ("=1+1", "+49 89", "-2", "@SUM(A1)", "\t=1", "\r=1"):
        assert exports.safe_cell(formula) == f"'{formula}"
    assert exports.safe_cell("Sonnenschein") == "Sonnenschein"
    assert exports.safe_cell(None) == "" and exports.safe_cell(True) == "true"
    assert exports.safe_cell(0.5) == "0.5"


def test_scorecard_csv_rows() -> None:
    card = Scorecard(
        partner_id=uuid.UUID(int=1), partner_name='=HYPERLINK("http://x","y")',
        from_date=date(2026, 1, 1), to_date=date(2026, 3, 31), steps_completed=3,
        with_deadline=2, on_time=1, on_time_rate=0.5, median_hours=24, p90_hours=48,
        overdue_now=1, declined=0, changes_requested=0,
        by_step=[StepRecord(
            template_id=uuid.UUID(int=2), template_name="@Install", step_key="survey",
            step_name="Survey", n=3, on_time_rate=0.5, median_hours=24, p90_hours=48,
        )],
        by_month=[MonthRecord(
            month="2026-01", steps_completed=3, with_deadline=2, on_time=1, on_time_rate=0.5
        )],
        time_to_complete=[],
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(exports.scorecard_csv(card))))
    assert [r["row"] for r in rows] == ["total", "step", "month"]
    assert {r["partner_name"] for r in rows} == {'\'=HYPERLINK("http://x","y")'}
    total, step, month = rows
    assert (total["steps_completed"], total["on_time_rate"], total["overdue_now"]) == (
        "3", "0.5", "1",
    )  # fmt: skip
    assert (step["template_name"], step["step_key"], step["steps_completed"]) == (
        "'@Install", "survey", "3",
    )  # fmt: skip
    assert (month["month"], month["from"], month["to"]) == ("2026-01", "2026-01-01", "2026-03-31")
