"""CSV exports of the process list and a partner's scorecard, safe to open in a spreadsheet."""

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime

from partnerflow.processes import ProcessSummary
from partnerflow.scorecards import Scorecard

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = object


def safe_cell(value: Cell) -> str:
    """The cell as text; one a spreadsheet would read as a formula is prefixed with `'`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Cell]]) -> str:
    """Rows as CSV under a header of `columns`; a column a row does not have is empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(c) for c in columns])
    writer.writerows([safe_cell(row.get(c)) for c in columns] for row in rows)
    return out.getvalue()


PROCESS_COLUMNS = (
    "id", "template_id", "template_version", "opportunity_id", "contact_user_id", "status",
    "test", "started_at", "completed_at", "next_due_at", "overdue", "open_steps",
    "cancel_reason", "attention", "attention_reason",
)  # fmt: skip


def processes_csv(summaries: Iterable[ProcessSummary]) -> str:
    """The process list as the JSON list shows it to the same caller, one row per process;
    the open steps as their names, `; ` between them."""
    return csv_text(
        PROCESS_COLUMNS,
        (
            {
                **p.model_dump(exclude={"open_steps"}),
                "overdue": any(s.overdue for s in p.open_steps),
                "open_steps": "; ".join(s.name for s in p.open_steps),
            }
            for p in summaries
        ),
    )


SCORECARD_COLUMNS = (
    "row", "partner_id", "partner_name", "from", "to", "month", "template_id",
    "template_name", "step_key", "step_name", "steps_completed", "with_deadline",
    "on_time_rate", "median_hours", "p90_hours", "overdue_now", "declined", "changes_requested",
)  # fmt: skip


def scorecard_csv(card: Scorecard) -> str:
    """One `total` row, one `step` row per template step, one `month` row per month."""
    who: dict[str, Cell] = {
        "partner_id": str(card.partner_id),
        "partner_name": card.partner_name,
        "from": card.from_date,
        "to": card.to_date,
    }
    total = card.model_dump(exclude={"by_step", "by_month", "time_to_complete"})
    rows: list[Mapping[str, Cell]] = [{**total, **who, "row": "total"}]
    rows += [{**s.model_dump(), **who, "row": "step", "steps_completed": s.n} for s in card.by_step]
    rows += [{**m.model_dump(), **who, "row": "month"} for m in card.by_month]
    return csv_text(SCORECARD_COLUMNS, rows)
