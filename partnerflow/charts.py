"""Bar charts as SVG drawn on the server: no script, every text escaped, each with a title and
a description for screen readers and the same numbers as rows for a table beside it."""

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from partnerflow.scorecards import DurationBin, MonthRecord, WeekLoad

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 48  # room for the axis labels
BAR = "#2f6fde"
LATE = "#c0392b"
GRID = "#d0d5dd"
INK = "#344054"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: nothing to show for it (no step with a deadline that month)
    shown: str  # the value in words, for the table and the bar's tooltip
    late: bool = False


@dataclass(frozen=True)
class Chart:
    title: str
    description: str
    svg: str
    headers: tuple[str, str]
    rows: list[tuple[str, str]]  # each bar's label and value in words: the text alternative


def _text(value: str) -> str:
    return escape(value, quote=True)


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    bars: Sequence[Bar],
    *,
    top: float,
    ticks: Sequence[tuple[float, str]],
    headers: tuple[str, str],
) -> Chart:
    """Vertical bars scaled to `top`, with gridlines at `ticks` (value, label)."""
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = inner_w / max(len(bars), 1)
    ids = f"{_text(chart_id)}-title {_text(chart_id)}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-labelledby="{ids}" font-family="sans-serif" '
        f'font-size="11" fill="{INK}">',
        f'<title id="{_text(chart_id)}-title">{_text(title)}</title>',
        f'<desc id="{_text(chart_id)}-desc">{_text(description)}</desc>',
    ]
    for value, label in ticks:
        y = TOP + inner_h * (1 - value / top)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_text(label)}</text>'
        )
    for n, bar in enumerate(bars):
        x = LEFT + n * slot
        middle = x + slot / 2
        if bar.value is None:
            parts.append(
                f'<text x="{middle:.1f}" y="{TOP + inner_h - 4:.1f}" text-anchor="middle" '
                f'fill="#98a2b3">–<title>{_text(bar.label)}: {_text(bar.shown)}</title></text>'
            )
        else:
            h = inner_h * min(max(bar.value / top, 0), 1) if top else 0
            parts.append(
                f'<rect x="{x + slot * 0.15:.1f}" y="{TOP + inner_h - h:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{LATE if bar.late else BAR}">'
                f"<title>{_text(bar.label)}: {_text(bar.shown)}</title></rect>"
            )
        parts.append(
            f'<text x="{middle:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{_text(bar.label)}</text>"
        )
    parts.append("</svg>")
    rows = [(bar.label, bar.shown) for bar in bars]
    return Chart(title, description, "".join(parts), headers, rows)


def _percent(rate: float) -> str:
    return f"{round(rate * 100)} %"


def on_time_by_month(months: Sequence[MonthRecord]) -> Chart:
    bars = [
        Bar(
            m.month,
            m.on_time_rate,
            f"{_percent(m.on_time_rate)} ({m.on_time} of {m.with_deadline})"
            if m.on_time_rate is not None
            else "no step with a deadline finished",
        )
        for m in months
    ]
    shown = [m for m in months if m.on_time_rate is not None]
    summary = (
        f"From {months[0].month} to {months[-1].month}: "
        + ", ".join(f"{m.month} {_percent(m.on_time_rate or 0)}" for m in shown)
        if shown
        else "No step with a deadline was finished in the period."
    )
    return bar_chart(
        "on-time",
        "On-time rate by month",
        summary,
        bars,
        top=1.0,
        ticks=[(0, "0 %"), (0.5, "50 %"), (1.0, "100 %")],
        headers=("Month", "On time"),
    )


def _count_ticks(top: int) -> list[tuple[float, str]]:
    return [(0, "0"), (top / 2, f"{top / 2:g}"), (top, str(top))]


def time_to_complete(bins: Sequence[DurationBin]) -> Chart:
    top = max([b.n for b in bins] + [1])
    bars = [Bar(b.label, b.n, f"{b.n} step{'' if b.n == 1 else 's'}") for b in bins]
    total = sum(b.n for b in bins)
    summary = (
        f"{total} steps by time from activation to completion: "
        + ", ".join(f"{b.label} {b.n}" for b in bins if b.n)
        if total
        else "No step was finished in the period."
    )
    return bar_chart(
        "time-to-complete",
        "Time to complete",
        summary,
        bars,
        top=top,
        ticks=_count_ticks(top),
        headers=("Time to complete", "Steps"),
    )


def open_steps_by_week(weeks: Sequence[WeekLoad]) -> Chart:
    top = max([w.open_steps for w in weeks] + [1])
    bars = [Bar(w.label, w.open_steps, str(w.open_steps), late=w.overdue) for w in weeks]
    summary = "Open steps by deadline: " + ", ".join(f"{w.label} {w.open_steps}" for w in weeks)
    return bar_chart(
        "deadline-weeks",
        "Open steps by deadline week",
        summary,
        bars,
        top=top,
        ticks=_count_ticks(top),
        headers=("Due", "Open steps"),
    )
