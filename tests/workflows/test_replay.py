"""Replay safety: every recorded history, of every workflow code version, replays with
today's workflow code (tests/histories.py says how they are recorded and kept)."""

import json

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from partnerflow.temporal import DATA_CONVERTER
from tests.histories import CURRENT, recorded
from worker import WORKFLOW_RUNNER
from workflows.partner_process import PartnerProcessWorkflow
from workflows.versions import CODE_VERSION

HISTORIES = recorded()
VERSION = CURRENT.name
# What every version from 3 on records: each message and each timer path.
V3_PATHS = {
    "business_day_timers",
    "messages_and_cancel",
    "failed_delivery",
    "continue_as_new_first_run",
    "continue_as_new_last_run",
    "partner_revoked",
}
# From version 4 on: a read-model write that failed for good is written again.
V4_PATHS = V3_PATHS | {"read_model_heals"}
# From version 5 on (recorded into v5 with conditions, review and decline, which needed no
# patch: tests/workflows/test_conditions_review.py): steps that do not apply, chained; a review
# loop sent back twice, then approved; a step's deadline passing in review; a declined step.
# Offers and absences needed no patch either (tests/workflows/test_offers.py): an offer to
# three at once, one accepting; a ranked offer declined, passed on and expired to the contact
# person; steps moving to and opening for a substitute.
V5_PATHS = V4_PATHS | {
    "conditions", "review_loop", "review_deadline", "decline",
    "offer_first_accept", "offer_ranked_expired", "absence_substitute",
}  # fmt: skip
# What the current version's recordings cover.
CURRENT_PATHS = V5_PATHS
# What a version records, by the version those paths were first recorded in.
PATHS_FROM = {3: V3_PATHS, 4: V4_PATHS, 5: V5_PATHS}


def test_histories_of_every_version_are_kept() -> None:
    # version 1, recorded before versions were kept apart: never re-recorded
    assert {"installation_scenario", "moved_deadline", "api_slice"} <= HISTORIES.keys()
    for number in range(3, CODE_VERSION + 1):
        since = max(version for version in PATHS_FROM if version <= number)
        paths = CURRENT_PATHS if number == CODE_VERSION else PATHS_FROM[since]
        assert {f"v{number}/{name}" for name in paths} <= HISTORIES.keys(), (
            f"version {number}'s histories are missing; for the current version, record "
            f"them: make histories (into {CURRENT})"
        )


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
