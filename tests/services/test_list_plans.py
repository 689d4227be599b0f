"""How SQLite plans the lists that must stay fast with 100,000 open processes (issue 17): from
the few rows the caller asks for, never by walking every running process. bench/lists.py
measures them at that size; these keep the plans from sliding back on a schema without
statistics (SQLite's, as migrated)."""

import shutil
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlmodel import Session

from partnerflow import processes, steps
from partnerflow.callers import Caller
from partnerflow.db import make_engine
from partnerflow.models import Partner, User


def _plan(session: Session, statement: object) -> list[str]:
    compiled = statement.compile(  # type: ignore[attr-defined]
        session.get_bind(), compile_kwargs={"literal_binds": True}
    )
    return [row[3] for row in session.exec(text(f"EXPLAIN QUERY PLAN {compiled}"))]  # type: ignore[call-overload]


def _session(migrated_sqlite: Path, tmp_path: Path) -> Session:
    path = tmp_path / "plans.db"
    shutil.copy(migrated_sqlite, path)
    return Session(make_engine(f"sqlite:///{path}"))


def test_a_partners_tasks_are_read_from_its_steps(migrated_sqlite: Path, tmp_path: Path) -> None:
    with _session(migrated_sqlite, tmp_path) as session:
        partner = Partner(id=uuid.uuid4(), name="Solar Nord", email="nord@example.com")
        user = User(id=uuid.uuid4(), email="a@example.com", name="A", partner_id=partner.id)
        engine = session.get_bind()
        ran: list[tuple[str, Any]] = []

        def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            ran.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", remember)
        steps.open_tasks(session, Caller(user=user, partner=partner), test=False, limit=50)
        event.remove(engine, "before_cursor_execute", remember)
        plans = [
            [
                row[3]
                for row in session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", args)
            ]
            for sql, args in ran
        ]
    assert len(plans) == 2, ran  # the count, and the page
    for plan in plans:
        # from the partner's open steps (by its index), then each one's process by its id,
        # whether it runs read from the index too: not the process's row (migration 0022)
        assert any("ix_processstep_partner_status_completed" in line for line in plan), plan
        covered = "COVERING INDEX ix_process_id_test_status_template"
        assert any(covered in line for line in plan), plan
        assert not any("ix_process_status" in line for line in plan), plan


def test_overdue_processes_are_found_from_the_overdue_steps(
    migrated_sqlite: Path, tmp_path: Path
) -> None:
    with _session(migrated_sqlite, tmp_path) as session:
        admin = User(id=uuid.uuid4(), email="b@example.com", name="B", role="admin")
        statement = processes.listed(
            Caller(user=admin), status=None, template_id=None, opportunity_id=None,
            partner_id=None, overdue=True, attention=None, test=False, sort="started_at",
        )  # fmt: skip
        plan = _plan(session, statement)
    assert any("ix_processstep_overdue_status_process" in line for line in plan), plan
