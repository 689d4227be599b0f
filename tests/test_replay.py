"""Replay safety: every recorded history replays with today's workflow code."""

import json

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from partnerflow.temporal import DATA_CONVERTER
from tests.histories import FOLDER
from worker import WORKFLOW_RUNNER
from workflows.partner_process import PartnerProcessWorkflow

HISTORIES = {path.stem: json.loads(path.read_text()) for path in sorted(FOLDER.glob("*.json"))}


def test_histories_are_recorded() -> None:
    assert {"installation_scenario", "moved_deadline", "api_slice"} <= HISTORIES.keys()


@pytest.mark.parametrize("name", sorted(HISTORIES))
async def test_recorded_history_replays(name: str) -> None:
    history = WorkflowHistory.from_json(name, HISTORIES[name])
    replayer = Replayer(
        workflows=[PartnerProcessWorkflow],
        data_converter=DATA_CONVERTER,
        workflow_runner=WORKFLOW_RUNNER,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{name}: {result.replay_failure}"
