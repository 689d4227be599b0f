"""Replay safety: every recorded history replays with today's workflow code."""

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from partnerflow.temporal import DATA_CONVERTER
from tests.histories import FOLDER
from workflows.partner_process import PartnerProcessWorkflow

HISTORIES = sorted(FOLDER.glob("*.json"))


def test_histories_are_recorded() -> None:
    names = {path.stem for path in HISTORIES}
    assert {"installation_scenario", "moved_deadline", "api_slice"} <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json("recorded", json.loads(path.read_text()))
    replayer = Replayer(workflows=[PartnerProcessWorkflow], data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
