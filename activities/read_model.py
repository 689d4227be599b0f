"""Writes each process transition into the SQL read model; an older version never wins."""

from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from temporalio import activity

from partnerflow.db import session_scope
from partnerflow.models import Process, ProcessStep
from workflows.messages import ProcessState


class ReadModelActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn
    def record_process_state(self, state: ProcessState) -> None:
        # Two transitions can race to insert a new process's row; the loser tries again at
        # once and then finds the row (and a version to compare with).
        for attempt in range(3):
            try:
                self._record(state)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    def _record(self, state: ProcessState) -> None:
        with session_scope(self._engine) as session:
            process = session.exec(
                select(Process).where(Process.id == state.process_id).with_for_update()
            ).first()
            if process is not None and process.version >= state.version:
                return  # a newer transition is already recorded
            if process is None:
                process = Process(
                    id=state.process_id,
                    template_id=state.template_id,
                    template_version=state.template_version,
                    opportunity_id=state.opportunity_id,
                    contact_user_id=state.contact_user_id,
                )
            process.partner_ids = [str(p) for p in state.partner_ids]
            process.status = state.status
            process.test = state.test
            process.started_at = state.started_at
            process.completed_at = state.completed_at
            process.cancel_reason = state.cancel_reason
            process.next_due_at = state.next_due_at
            process.timeline = [entry.model_dump(mode="json") for entry in state.timeline]
            process.version = state.version
            session.add(process)
            session.flush()

            rows = {
                row.key: row
                for row in session.exec(
                    select(ProcessStep).where(ProcessStep.process_id == state.process_id)
                )
            }
            for position, step in enumerate(state.steps):
                row = rows.get(step.key) or ProcessStep(
                    process_id=state.process_id,
                    position=position,
                    key=step.key,
                    name=step.name,
                    status=step.status,
                    assignee={},
                )
                values: dict[str, Any] = {
                    "position": position,
                    "name": step.name,
                    "status": step.status,
                    "assignee": step.assignee.model_dump(mode="json", exclude_none=True),
                    "assignee_partner_id": step.assignee.partner_id,
                    "assignee_user_id": step.assignee.user_id,
                    "activated_at": step.activated_at,
                    "completed_at": step.completed_at,
                    "completed_by": (
                        step.completed_by.model_dump(mode="json") if step.completed_by else None
                    ),
                    "fields": step.fields,
                    "due_at": step.due_at,
                    "overdue": step.overdue,
                }
                for name, value in values.items():
                    setattr(row, name, value)
                session.add(row)
