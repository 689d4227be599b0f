"""A partner's scorecard and the open work by deadline week, on a seeded read model whose
answers are worked out by hand; every query they run is served by an index (EXPLAIN)."""

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from partnerflow import scorecards
from partnerflow.callers import Caller
from partnerflow.models import (
    Opportunity,
    Partner,
    Process,
    ProcessNote,
    ProcessStep,
    ProcessTemplate,
    User,
)
from partnerflow.refusals import Refused
from partnerflow.scorecards import Period

BERLIN = "Europe/Berlin"
NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
Q1 = Period(date(2026, 1, 1), date(2026, 3, 31), BERLIN)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class History:
    """Partner P's record and the rows that must not count for it, one process per step."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.p = Partner(name="Sonnenschein Solar", email="p@example.com", status="active")
        self.q = Partner(name="Other GmbH", email="q@example.com", status="active")
        self.contact = User(name="Clara", email="c@example.com", role="member")
        self.installation = ProcessTemplate(name="Installation", contact_user_id=self.contact.id)
        self.service = ProcessTemplate(name="Service", contact_user_id=self.contact.id)
        self.opportunity = Opportunity(title="PV")
        session.add_all([self.p, self.q, self.contact, self.opportunity])
        session.flush()
        session.add_all([self.installation, self.service])
        session.flush()

    def step(
        self,
        key: str,
        *,
        status: str = "completed",
        activated: str | None = None,
        completed: str | None = None,
        due: str | None = None,
        submitted: str | None = None,
        partner: Partner | None = None,
        template: ProcessTemplate | None = None,
        test: bool = False,
    ) -> None:
        template = template or self.installation
        process = Process(
            id=uuid.uuid4(),
            template_id=template.id,
            template_version=1,
            opportunity_id=self.opportunity.id,
            contact_user_id=self.contact.id,
            test=test,
        )
        partner_id = (partner or self.p).id
        step = ProcessStep(
            process_id=process.id,
            position=0,
            key=key,
            name=key.capitalize(),
            status=status,  # type: ignore[arg-type]
            assignee={"type": "partner", "partner_id": str(partner_id)},
            assignee_partner_id=partner_id,
            activated_at=at(activated) if activated else None,
            completed_at=at(completed) if completed else None,
            due_at=at(due) if due else None,
            submitted_at=at(submitted) if submitted else None,
        )
        self.session.add(process)
        self.session.flush()
        self.session.add(step)
        self.session.flush()

    def note(
        self,
        kind: str,
        written: str,
        *,
        partner: Partner | None = None,
        test: bool = False,
    ) -> None:
        """A reason written about a process's step; `partner`: whose record it counts on."""
        process = Process(
            id=uuid.uuid4(),
            template_id=self.installation.id,
            template_version=1,
            opportunity_id=self.opportunity.id,
            contact_user_id=self.contact.id,
            test=test,
        )
        self.session.add(process)
        self.session.flush()
        self.session.add(
            ProcessNote(
                process_id=process.id,
                step_key="install",
                kind=kind,  # type: ignore[arg-type]
                author_id=self.contact.id,
                body="why",
                partner_id=partner.id if partner else None,
                created_at=at(written),
            )
        )
        self.session.flush()


@pytest.fixture
def history(engine: Engine) -> Iterator[History]:
    with Session(engine) as session:
        seeded = History(session)
        s = seeded.step
        # P's completions in the first quarter: key, activated, completed, due (UTC)
        for key, activated, completed, due in (
            # 00:30 on 1 January in Berlin (31 December in UTC): January's; 24 h, on time
            ("survey", "2025-12-30T23:30", "2025-12-31T23:30", "2026-01-02"),
            ("survey", "2026-01-10T08:00", "2026-01-12T08:00", "2026-01-11T08:00"),  # 48 h, late
            ("survey", "2026-02-02T08:00", "2026-02-02T20:00", "2026-02-03"),  # 12 h, on time
            ("survey", "2026-02-10T08:00", "2026-02-14T08:00", None),  # 96 h, no deadline
            ("install", "2026-01-20T08:00", "2026-01-23T08:00", "2026-01-25"),  # 72 h, on time
            ("install", "2026-03-01T08:00", "2026-03-11T08:00", "2026-03-05"),  # 240 h, late
        ):
            s(key, activated=activated, completed=completed, due=due)
        s("visit", template=seeded.service, activated="2026-03-15T08:00",
          completed="2026-03-15T10:00", due="2026-03-16")  # 2 h, on time  # fmt: skip
        # not P's record in the quarter:
        s("survey", activated="2026-01-14T08:00", completed="2026-01-15T08:00", test=True)
        s("survey", activated="2026-02-04T08:00", completed="2026-02-05T08:00", partner=seeded.q)
        s("survey", status="skipped", activated="2026-02-06T08:00", completed="2026-02-06T09:00")
        s("survey", activated="2025-12-30T08:00", completed="2025-12-31T22:30")  # 23:30 Berlin
        s("survey", activated="2026-03-30T08:00", completed="2026-03-31T22:30")  # April in Berlin
        # open steps now (10 April, 12:00 UTC): one of P's is overdue
        s("install", status="active", activated="2026-04-01", due="2026-04-09")
        s("install", status="active", activated="2026-04-01", due="2026-04-20")
        s("install", status="active", activated="2026-04-01")
        s("install", status="active", activated="2026-04-01", due="2026-04-01", test=True)
        s("install", status="pending", due="2026-04-01")
        s("install", status="active", activated="2026-04-01", due="2026-04-02", partner=seeded.q)
        # P declined two steps in the quarter, and had its work sent back once
        n = seeded.note
        n("decline_reason", "2026-01-05T10:00", partner=seeded.p)
        n("decline_reason", "2026-03-31T21:30", partner=seeded.p)  # 23:30 Berlin: March's
        n("review_reason", "2026-02-11T10:00", partner=seeded.p)
        # not P's record in the quarter:
        n("decline_reason", "2026-03-31T22:30", partner=seeded.p)  # April in Berlin
        n("decline_reason", "2026-02-01T10:00", partner=seeded.p, test=True)
        n("decline_reason", "2026-02-01T10:00", partner=seeded.q)
        n("review_reason", "2026-02-01T10:00")  # an approval's remark counts on nobody
        n("skip_reason", "2026-02-01T10:00")
        session.commit()
        yield seeded


def test_scorecard_of_a_seeded_quarter(history: History) -> None:
    card = scorecards.scorecard(history.session, history.p, Q1, NOW)

    assert (card.from_date, card.to_date) == (date(2026, 1, 1), date(2026, 3, 31))
    assert card.steps_completed == 7
    assert (card.with_deadline, card.on_time) == (6, 4)
    assert card.on_time_rate == 0.6667
    # hours 2, 12, 24, 48, 72, 96, 240: the middle one; the 7th of 7 (ceil(0.9 × 7) = 7)
    assert (card.median_hours, card.p90_hours) == (48, 240)
    assert card.overdue_now == 1
    assert (card.declined, card.changes_requested) == (2, 1)

    steps = {(s.template_name, s.step_key): s for s in card.by_step}
    assert list(steps) == [
        ("Installation", "install"),
        ("Installation", "survey"),
        ("Service", "visit"),
    ]
    survey = steps["Installation", "survey"]  # 24, 48, 12, 96 h; on time 2 of 3
    assert (survey.n, survey.on_time_rate, survey.median_hours, survey.p90_hours) == (
        4, 0.6667, 36, 96,
    )  # fmt: skip
    install = steps["Installation", "install"]  # 72, 240 h; on time 1 of 2
    assert (install.n, install.on_time_rate, install.median_hours, install.p90_hours) == (
        2, 0.5, 156, 240,
    )  # fmt: skip
    visit = steps["Service", "visit"]
    assert (visit.n, visit.on_time_rate, visit.median_hours, visit.p90_hours) == (1, 1.0, 2, 2)
    assert visit.step_name == "Visit" and visit.template_id == history.service.id

    months = [(m.month, m.steps_completed, m.with_deadline, m.on_time_rate) for m in card.by_month]
    assert months == [
        ("2026-01", 3, 3, 0.6667),
        ("2026-02", 2, 1, 1.0),
        ("2026-03", 2, 2, 0.5),
    ]
    bins = {b.label: b.n for b in card.time_to_complete}
    assert bins == {
        "under 4 h": 1, "4–24 h": 1, "1–2 d": 1, "2–3 d": 1, "3–5 d": 2, "5–7 d": 0,
        "7–14 d": 1, "14–30 d": 0, "over 30 d": 0,
    }  # fmt: skip


def test_a_partner_without_completions_has_empty_numbers(history: History) -> None:
    march = Period(date(2026, 3, 1), date(2026, 3, 31), BERLIN)
    card = scorecards.scorecard(history.session, history.q, march, NOW)
    assert card.steps_completed == 0
    assert (card.on_time_rate, card.median_hours, card.p90_hours) == (None, None, None)
    assert card.by_step == [] and [m.month for m in card.by_month] == ["2026-03"]
    assert card.overdue_now == 1
    assert (card.declined, card.changes_requested) == (0, 0)  # Q's decline was in February


def test_open_steps_by_deadline_week(history: History) -> None:
    # Friday 10 April: this week ends on Sunday 12 April (Berlin)
    weeks = scorecards.open_steps_by_week(history.session, NOW, BERLIN)
    counts = {w.label: w.open_steps for w in weeks}
    assert counts["overdue"] == 2  # P's of 9 April, Q's of 2 April; not the test run's
    assert counts["from 20 Apr"] == 1
    assert sum(counts.values()) == 3  # the pending step and the one without a deadline: not
    assert [w.label for w in weeks][:3] == ["overdue", "this week", "from 13 Apr"]
    assert weeks[-1].label == "later" and len(weeks) == 10


def test_who_may_see_which_scorecard(history: History) -> None:
    staff = Caller(user=history.contact)
    assert scorecards.of_partner(history.session, staff, history.q.id, Q1, NOW).partner_id == (
        history.q.id
    )
    p_user = User(name="Pia", email="pia@example.com", role="partner", partner_id=history.p.id)
    own = Caller(user=p_user, partner=history.p)
    assert scorecards.own(history.session, own, Q1, NOW).steps_completed == 7
    with pytest.raises(Refused) as other:
        scorecards.of_partner(history.session, own, history.q.id, Q1, NOW)
    assert other.value.kind == "not_found"
    with pytest.raises(Refused) as staff_own:
        scorecards.own(history.session, staff, Q1, NOW)
    assert staff_own.value.kind == "forbidden"


def test_the_period_asked_for() -> None:
    # by default this month and the 11 before, days in the installation's time zone
    assert scorecards.period(None, None, BERLIN, at("2026-03-31T22:30")) == Period(
        date(2025, 5, 1), date(2026, 4, 1), BERLIN
    )
    assert scorecards.period(None, date(2026, 1, 15), BERLIN, NOW).first == date(2025, 2, 1)
    assert Q1.start == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    assert Q1.end == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)  # summer time by then
    with pytest.raises(Refused) as backwards:
        scorecards.period(date(2026, 2, 1), date(2026, 1, 1), BERLIN, NOW)
    assert (backwards.value.kind, backwards.value.loc) == ("invalid", ("from",))
    with pytest.raises(Refused):
        scorecards.period(date(2000, 1, 1), date(2026, 1, 1), BERLIN, NOW)
    with pytest.raises(Refused):
        scorecards.period(date(9999, 1, 1), date(9999, 12, 31), BERLIN, NOW)


# every query through an index ------------------------------------------------------------


def _plans(engine: Engine, statements: list[tuple[str, Any]]) -> list[str]:
    """Each statement's plan as the database would run it."""
    plans = []
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # A few rows are cheaper to read whole: forbid that, so the plan shows whether
            # an index can serve the query at all (one of millions of rows would use it).
            connection.exec_driver_sql("SET enable_seqscan = off")
            explain = "EXPLAIN "
        else:
            explain = "EXPLAIN QUERY PLAN "
        for sql, parameters in statements:
            rows = connection.exec_driver_sql(explain + sql, parameters).all()
            plans.append("\n".join(str(row[-1]) for row in rows))
    return plans


def test_every_query_is_served_by_an_index(engine: Engine, history: History) -> None:
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            statements.append((sql, parameters))

    contact_id = history.contact.id
    with Session(engine) as session:
        partner = session.get(Partner, history.p.id)
        assert partner is not None
        event.listen(engine, "before_cursor_execute", seen)
        try:
            scorecards.scorecard(session, partner, Q1, NOW)
            scorecards.open_steps_by_week(session, NOW, BERLIN, contact_user_id=contact_id)
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    plans = _plans(engine, statements)
    # completions, template names, declines and changes requested, overdue now, deadline weeks
    assert len(plans) == 5
    for plan in plans:
        if engine.dialect.name == "postgresql":
            assert "Seq Scan" not in plan, plan
        else:
            scans = [line for line in plan.splitlines() if line.startswith("SCAN")]
            assert scans == [], plan
    completions, _, noted, overdue, weeks = plans
    assert "ix_processstep_partner_status_completed" in completions
    assert "ix_processnote_partner_kind_created" in noted
    # the partner's open steps, or all open steps past their deadline: either is a few rows
    assert "ix_processstep_partner_status_completed" in overdue or (
        "ix_processstep_status_due" in overdue
    )
    assert "ix_processstep_status_due" in weeks


def test_scorecard_reads_a_larger_history_in_time_order(engine: Engine, history: History) -> None:
    """Many completions over many months keep their order and months (no ORDER BY sort step
    needed: the index is in completion order)."""
    with Session(engine) as session:
        seeded = history
        for n in range(60):
            start = datetime(2026, 1, 1, 8, tzinfo=UTC) + timedelta(days=n)
            seeded.step(
                "survey",
                template=seeded.service,
                activated=start.replace(tzinfo=None).isoformat(),
                completed=(start + timedelta(hours=n % 5 + 1)).replace(tzinfo=None).isoformat(),
                due=(start + timedelta(hours=3)).replace(tzinfo=None).isoformat(),
            )
        seeded.session.commit()
        partner = session.get(Partner, seeded.p.id)
        assert partner is not None
        card = scorecards.scorecard(session, partner, Q1, NOW)
    survey = next(s for s in card.by_step if (s.template_name, s.step_key) == ("Service", "survey"))
    # 1..5 hours in turn, 12 times each; on time when at most 3 hours: 36 of 60
    assert (survey.n, survey.on_time_rate, survey.median_hours, survey.p90_hours) == (
        60, 0.6, 3, 5,
    )  # fmt: skip
    assert card.steps_completed == 67


def test_a_reviewed_step_counts_the_partners_own_finish_not_the_approval(
    history: History,
) -> None:
    # finished for review after 24 h, a day before its deadline; approved three days later
    history.step(
        "inspect",
        template=history.service,
        activated="2026-02-02T08:00:00",
        submitted="2026-02-03T08:00:00",
        completed="2026-02-06T08:00:00",
        due="2026-02-04T08:00:00",
    )
    card = scorecards.scorecard(history.session, history.p, Q1, NOW)
    inspect = next(s for s in card.by_step if s.step_key == "inspect")
    assert (inspect.n, inspect.on_time_rate, inspect.median_hours) == (1, 1.0, 24)
