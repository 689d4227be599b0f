"""Replay safety: every recorded history, of every workflow code version, replays with
today's workflow code (tests/histories.py says how they are recorded and kept)."""

import json

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from partnerflow.temporal import DATA_CONVERTER
from tests.histories import CURRENT, FOLDER, recorded
from worker import WORKFLOW_RUNNER
from workflows.partner_process import PartnerProcessWorkflow

HISTORIES = recorded()
VERSION = CURRENT.name
# What the current version's recordings cover: each message and each timer path.
CURRENT_PATHS = {
    "business_day_timers",
    "messages_and_cancel",
    "failed_delivery",
    "continue_as_new_first_run",
    "continue_as_new_last_run",
    "partner_revoked",
}


def test_histories_of_every_version_are_kept() -> None:
    # version 1, recorded before versions were kept apart: never re-recorded
    assert {"installation_scenario", "moved_deadline", "api_slice"} <= HISTORIES.keys()
    assert {f"{VERSION}/{name}" for name in CURRENT_PATHS} <= HISTORIES.keys(), (
        f"record the current version's histories: make histories (into {CURRENT})"
    )
    assert all(path.is_relative_to(FOLDER) for path in HISTORIES.values())


@pytest.mark.parametrize("name", sorted(HISTORIES))
async def test_recorded_history_replays(name: str) -> None:
    history = WorkflowHistory.from_json(name, json.loads(HISTORIES[name].read_text()))
    replayer = Replayer(
        workflows=[PartnerProcessWorkflow],
        data_converter=DATA_CONVERTER,
        workflow_runner=WORKFLOW_RUNNER,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{name}: {result.replay_failure}"
