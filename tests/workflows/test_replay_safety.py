"""Replay safety of deadlines: a business-day deadline is computed once, outside workflow code,
and read back from history; a `holidays` release with other tables cannot move it."""

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from tests.conftest import settings_for
from tests.process_world import World
from worker import build_worker
from workflows import deadlines
from workflows.messages import AwaitRecordedInput, CompleteStepInput
from workflows.partner_process import PartnerProcessWorkflow


async def test_a_recorded_business_day_deadline_survives_new_holiday_tables(
    temporal_env: WorkflowEnvironment,
    database_url: str,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_for(database_url)
    world = World(temporal_env, engine, settings.task_queue)
    steps = [
        {"key": "survey", "name": "Survey", "requires": [], "assignee": {"type": "contact"},
         "deadline": {"business_days": 10, "region": "DE-NW"}},
    ]  # fmt: skip
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(temporal_env.client, settings, engine, executor):
            handle = await world.start(steps)
            state = await handle.execute_update(
                PartnerProcessWorkflow.await_recorded, AwaitRecordedInput()
            )
    recorded = state.steps[0].due_at
    assert recorded is not None

    # A later `holidays` release: every Thursday and Friday is a holiday now.
    def new_tables(day: date, region: str) -> bool:
        return day.weekday() < 3

    monkeypatch.setattr(deadlines, "is_business_day", new_tables)
    with ThreadPoolExecutor(max_workers=4) as executor:
        # A new worker has nothing cached: it replays the history to answer.
        async with build_worker(temporal_env.client, settings, engine, executor):
            replayed = await handle.query(PartnerProcessWorkflow.state)
            assert replayed.steps[0].due_at == recorded
            await handle.execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key="survey", actor=world.as_contact),
            )
            result = await handle.result()
    assert result.status == "completed"
    assert result.steps[0].due_at == recorded
