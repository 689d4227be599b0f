"""The bare-Temporal baseline of issue 17: a workflow with three updates and three activities.

A process is a plain start, then three `complete` updates; each update runs one `record`
activity and answers when it is done; after the third the workflow returns. No state, rules,
search attributes, database or e-mails: the floor the product is measured against.

Two switches, off for the baseline, add what the product asks of Temporal beyond that shape:
search-attribute upserts on every transition, and payloads the size of its state.
The worker that runs it is `bench.bare_worker`, a process of its own as the product's is.
"""

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.search_attributes import PF_ACTIVE_STEPS, PF_NEXT_DUE, PF_PARTNERS, PF_STATUS

RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))
STEPS = 3


@dataclass
class BareInput:
    steps: int = STEPS
    # Ablations, off in the baseline: what the product's search attributes and payloads cost.
    upsert_search_attributes: bool = False
    pad_bytes: int = 0


@dataclass
class BareEvent:
    step: int
    payload: str = ""


@activity.defn
def bare_record(event: BareEvent) -> None:
    """The one activity per update: does nothing."""


@workflow.defn
class BareProcessWorkflow:
    @workflow.init
    def __init__(self, input: BareInput) -> None:
        self._steps = input.steps
        self._completed = 0
        self._upsert = input.upsert_search_attributes
        self._pad = "x" * input.pad_bytes

    @workflow.run
    async def run(self, input: BareInput) -> int:
        await workflow.wait_condition(lambda: self._completed >= self._steps)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._completed

    @workflow.update
    async def complete(self, step: int) -> BareEvent:
        self._completed += 1
        if self._upsert:  # as the product does on every transition
            done = self._completed >= self._steps
            workflow.upsert_search_attributes(
                [
                    PF_STATUS.value_set("completed" if done else "running"),
                    PF_ACTIVE_STEPS.value_set([] if done else [f"step-{self._completed}"]),
                    PF_PARTNERS.value_set(["bench-partner"]),
                    PF_NEXT_DUE.value_unset(),
                ]
            )
        await workflow.execute_activity(
            bare_record,
            BareEvent(step=self._completed, payload=self._pad),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RETRY,
        )
        return BareEvent(step=self._completed, payload=self._pad)

    @complete.validator
    def _validate_complete(self, step: int) -> None:
        if step != self._completed or self._completed >= self._steps:
            raise ValueError(f"step {step} is not open")
