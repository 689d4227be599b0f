"""Bar charts as SVG drawn on the server: no script, every text escaped, each with a title and
a description for screen readers and the same numbers as rows for a table beside it."""

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from partnerflow.scorecards import DurationBin, MonthRecord, WeekLoad
from partnerflow.wording import _, day_month, ngettext

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
            _("%(percent)s (%(on_time)s of %(with_deadline)s)")
            % {
                "percent": _percent(m.on_time_rate),
                "on_time": m.on_time,
                "with_deadline": m.with_deadline,
            }
            if m.on_time_rate is not None
            else _("no step with a deadline finished"),
        )
        for m in months
    ]
    shown = [m for m in months if m.on_time_rate is not None]
    summary = (
        _("From %(first)s to %(last)s: %(rates)s")
        % {
            "first": months[0].month,
            "last": months[-1].month,
            "rates": ", ".join(f"{m.month} {_percent(m.on_time_rate or 0)}" for m in shown),
        }
        if shown
        else _("No step with a deadline was finished in the period.")
    )
    return bar_chart(
        "on-time",
        _("On-time rate by month"),
        summary,
        bars,
        top=1.0,
        ticks=[(0, "0 %"), (0.5, "50 %"), (1.0, "100 %")],
        headers=(_("Month"), _("On time")),
    )


def _count_ticks(top: int) -> list[tuple[float, str]]:
    return [(0, "0"), (top / 2, f"{top / 2:g}"), (top, str(top))]


def time_to_complete(bins: Sequence[DurationBin]) -> Chart:
    top = max([b.n for b in bins] + [1])
    bars = [
        Bar(_(b.label), b.n, ngettext("%(num)d step", "%(num)d steps", b.n) % {"num": b.n})
        for b in bins
    ]
    total = sum(b.n for b in bins)
    summary = (
        ngettext(
            "%(num)d step by time from activation to completion: %(bins)s",
            "%(num)d steps by time from activation to completion: %(bins)s",
            total,
        )
        % {"num": total, "bins": ", ".join(f"{_(b.label)} {b.n}" for b in bins if b.n)}
        if total
        else _("No step was finished in the period.")
    )
    return bar_chart(
        "time-to-complete",
        _("Time to complete"),
        summary,
        bars,
        top=top,
        ticks=_count_ticks(top),
        headers=(_("Time to complete"), _("Steps")),
    )


def _week_words(week: WeekLoad) -> str:
    if week.overdue:
        return _("overdue")
    if week.label == "this week":
        return _("this week")
    if week.label == "later" or week.starts is None:
        return _("later")
    return _("from %(day)s") % {"day": day_month(week.starts)}


def open_steps_by_week(weeks: Sequence[WeekLoad]) -> Chart:
    top = max([w.open_steps for w in weeks] + [1])
    bars = [Bar(_week_words(w), w.open_steps, str(w.open_steps), late=w.overdue) for w in weeks]
    summary = _("Open steps by deadline: %(weeks)s") % {
        "weeks": ", ".join(f"{bar.label} {bar.shown}" for bar in bars)
    }
    return bar_chart(
        "deadline-weeks",
        _("Open steps by deadline week"),
        summary,
        bars,
        top=top,
        ticks=_count_ticks(top),
        headers=(_("Due"), _("Open steps")),
    )
