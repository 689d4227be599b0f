"""The charts are valid SVG with a title, a description and the same numbers as table rows;
whatever text they show is escaped."""

import xml.etree.ElementTree as ET
from datetime import date

from partnerflow import charts
from partnerflow.scorecards import DurationBin, MonthRecord, WeekLoad

SVG = "{http://www.w3.org/2000/svg}"


def _parsed(chart: charts.Chart) -> ET.Element:
    root = ET.fromstring(chart.svg)  # noqa: S314 (our own output, under test)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert title.text == chart.title and desc.text == chart.description
    return root


def test_on_time_rate_by_month() -> None:
    months = [
        MonthRecord(month=m, steps_completed=n, with_deadline=d, on_time=t, on_time_rate=rate)
        for m, n, d, t, rate in (
            ("2026-01", 3, 3, 2, 0.6667),
            ("2026-02", 1, 0, 0, None),
            ("2026-03", 2, 2, 2, 1.0),
        )
    ]
    chart = charts.on_time_by_month(months)
    root = _parsed(chart)
    bars = root.findall(f"{SVG}rect")
    assert len(bars) == 2  # a month without a deadline has no bar, and says so
    assert [float(b.get("height", "")) for b in bars] == [120.0, 180.0]  # 2/3 and all of 180
    assert chart.rows == [
        ("2026-01", "67 % (2 of 3)"),
        ("2026-02", "no step with a deadline finished"),
        ("2026-03", "100 % (2 of 2)"),
    ]
    assert "2026-01 67 %" in chart.description


def test_time_to_complete_and_deadline_weeks() -> None:
    bins = [
        DurationBin(label="under 4 h", from_hours=0, to_hours=4, n=3),
        DurationBin(label="over 30 d", from_hours=720, to_hours=None, n=1),
    ]
    histogram = charts.time_to_complete(bins)
    _parsed(histogram)
    assert histogram.rows == [("under 4 h", "3 steps"), ("over 30 d", "1 step")]
    weeks = [
        WeekLoad(label="overdue", starts=None, open_steps=2, overdue=True),
        WeekLoad(label="this week", starts=date(2026, 4, 6), open_steps=0),
    ]
    chart = charts.open_steps_by_week(weeks)
    root = _parsed(chart)
    [late, this_week] = root.findall(f"{SVG}rect")
    assert late.get("fill") == charts.LATE and this_week.get("height") == "0.0"
    assert chart.rows == [("overdue", "2"), ("this week", "0")]


def test_text_is_escaped() -> None:
    hostile = '<script>alert("x")</script>&'
    chart = charts.bar_chart(
        'a"b', hostile, hostile, [charts.Bar(hostile, 1, hostile)],
        top=1, ticks=[(1, hostile)], headers=("a", "b"),
    )  # fmt: skip
    root = _parsed(chart)
    assert "<script>" not in chart.svg
    assert root.find(f".//{SVG}script") is None
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert hostile in labels
