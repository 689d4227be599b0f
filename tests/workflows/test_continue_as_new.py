"""Continue-as-new: when Temporal suggests it, the process carries on in a new run, state intact.

A dev server of its own suggests continuing after a few dozen events, so a short process
crosses the line several times: with armed timers (re-armed in the new run), and with updates
arriving while a run ends (none is lost). The first and the last run's histories are recorded
(tests/histories.py).
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from partnerflow.models import Opportunity, Partner, ProcessStep, ProcessTemplate, User
from partnerflow.spec import StepSpec, TemplateSnapshot
from partnerflow.temporal import DATA_CONVERTER
from tests import histories
from tests.conftest import BIN, eventually, settings_for
from worker import build_worker
from workflows.messages import (
    Actor,
    AddDocumentInput,
    AwaitRecordedInput,
    CompleteStepInput,
    DocumentRef,
    ProcessInput,
    ProcessState,
)
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for
from workflows.search_attributes import dev_server_args
from workflows.versions import CODE_VERSION


@pytest.fixture(scope="module")
async def eager_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        data_converter=DATA_CONVERTER,
        dev_server_extra_args=[
            *dev_server_args(),
            "--dynamic-config-value",
            "limit.historyCount.suggestContinueAsNew=40",
        ],
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


class _People:
    """The process's people, with role names: the histories recorded here are kept."""

    def __init__(self, engine: Engine) -> None:
        with Session(engine, expire_on_commit=False) as session:
            contact = User(name="Contact", email="contact@company.example.com", role="member")
            partner = Partner(
                name="Installer", email="office@installer.example.com", status="active"
            )
            session.add_all([contact, partner])
            session.flush()
            opportunity = Opportunity(title="PV", customer={})
            template = ProcessTemplate(name="PV", contact_user_id=contact.id)
            session.add_all([opportunity, template])
            session.commit()
        self.contact, self.partner = contact, partner
        self.opportunity, self.template = opportunity, template
        self.as_contact = Actor(user_id=contact.id, name="Contact", role="member")
        self.as_partner = Actor(
            user_id=uuid.uuid4(),
            name="Fitter",
            role="partner",
            partner_id=partner.id,
            permissions=["steps:complete", "documents:upload"],
        )

    def steps(self, photos: int) -> list[dict[str, Any]]:
        return [
            {"key": "commission", "name": "Commission", "assignee": {"type": "contact"}},
            {
                "key": "photos",
                "name": "Photos",
                "assignee": {"type": "partner", "partner_id": str(self.partner.id)},
                "documents": [
                    {"type": "photo", "label": "Photo", "min_count": photos, "required": photos > 0}
                ],
                # armed while the runs change: a reminder and the deadline, weeks away
                "deadline": {"after": "P30D"},
                "reminders": ["P7D", "P1D"],
            },
            {"key": "acceptance", "name": "Acceptance", "assignee": {"type": "contact"}},
        ]

    async def start(
        self, client: Client, task_queue: str, photos: int
    ) -> WorkflowHandle[Any, ProcessState]:
        process_id = uuid.uuid4()
        handle = await client.start_workflow(
            PartnerProcessWorkflow.run,
            ProcessInput(
                process_id=process_id,
                template=TemplateSnapshot(
                    template_id=self.template.id,
                    version=1,
                    name="PV",
                    language="en",
                    timezone="Europe/Berlin",
                    steps=[StepSpec.model_validate(s) for s in self.steps(photos)],
                ),
                opportunity_id=self.opportunity.id,
                contact_user_id=self.contact.id,
                code_version=CODE_VERSION,
            ),
            id=workflow_id_for(process_id),
            task_queue=task_queue,
        )
        await handle.execute_update(PartnerProcessWorkflow.await_recorded, AwaitRecordedInput())
        return handle

    def photo(self, number: int) -> AddDocumentInput:
        return AddDocumentInput(
            step_key="photos",
            actor=self.as_partner,
            document=DocumentRef(id=uuid.uuid4(), type="photo", filename=f"{number}.jpg"),
        )


def _current(client: Client, handle: WorkflowHandle[Any, ProcessState]) -> Any:
    # Each update goes to whichever run is current: the workflow id stays the same.
    return client.get_workflow_handle_for(PartnerProcessWorkflow.run, handle.id)


async def _runs(client: Client, workflow_id: str) -> list[str]:
    return [e.run_id async for e in client.list_workflows(f"WorkflowId = '{workflow_id}'")]


async def test_a_long_process_continues_as_new_and_keeps_its_state(
    eager_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    people = _People(engine)
    settings = settings_for(database_url)
    client = eager_env.client
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(client, settings, engine, executor):
            handle = await people.start(client, settings.task_queue, photos=8)
            await handle.execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key="commission", actor=people.as_contact),
            )
            due_at = (await handle.query(PartnerProcessWorkflow.state)).steps[1].due_at
            assert due_at is not None
            documents = []
            for number in range(8):
                state = await _current(client, handle).execute_update(
                    PartnerProcessWorkflow.add_document, people.photo(number)
                )
                documents.append(state.steps[1].documents[-1].id)
            current = _current(client, handle)
            state = await current.query(PartnerProcessWorkflow.state)
            assert [d.id for d in state.steps[1].documents] == documents
            # The deadline survived the runs, and the current run has its timers armed again.
            assert state.steps[1].due_at == due_at
            run_id = (await current.describe()).run_id
            latest = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
            assert any(e.HasField("timer_started_event_attributes") for e in latest.events)
            await current.execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key="photos", actor=people.as_partner),
            )
            await current.execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key="acceptance", actor=people.as_contact),
            )
            result = await current.result()

    assert result.status == "completed"
    assert [s.status for s in result.steps] == ["completed", "completed", "completed"]
    runs = await _runs(client, handle.id)
    assert len(runs) >= 2, f"the process should have continued as new: runs {runs}"
    first_run = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    first = await first_run.describe()
    assert first.status is not None and first.status.name == "CONTINUED_AS_NEW"
    # The first run ended with timers armed: they were cancelled, and armed anew next run.
    first_history = await first_run.fetch_history()
    assert any(e.HasField("timer_started_event_attributes") for e in first_history.events)
    with Session(engine) as session:
        rows = session.exec(
            select(ProcessStep).where(ProcessStep.process_id == result.process_id)
        ).all()
    assert sorted(r.status for r in rows) == ["completed", "completed", "completed"]
    await histories.record(first_run, "continue_as_new_first_run")
    await histories.record(client.get_workflow_handle(handle.id), "continue_as_new_last_run")


async def test_updates_arriving_while_runs_change_are_never_lost(
    eager_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    """Many uploads at once while the process continues as new again and again: each one that
    was accepted is in the final state (a run never ends with an accepted update unfinished)."""
    people = _People(engine)
    settings = settings_for(database_url)
    client = eager_env.client
    photos = 16
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(client, settings, engine, executor):
            handle = await people.start(client, settings.task_queue, photos=photos)
            await handle.execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key="commission", actor=people.as_contact),
            )
            uploads = [people.photo(n) for n in range(photos)]
            answers = await asyncio.gather(
                *[
                    _current(client, handle).execute_update(
                        PartnerProcessWorkflow.add_document, upload
                    )
                    for upload in uploads
                ],
                return_exceptions=True,
            )
            failed = [a for a in answers if isinstance(a, BaseException)]
            assert failed == [], f"updates lost while the runs changed: {failed}"
            state = await _current(client, handle).query(PartnerProcessWorkflow.state)
            assert {d.id for d in state.steps[1].documents} == {u.document.id for u in uploads}
            await _current(client, handle).execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key="photos", actor=people.as_partner),
            )
            await handle.terminate("test over")
    assert len(await _runs(client, handle.id)) >= 2


async def test_await_recorded_refuses_a_version_the_process_has_not_reached(
    eager_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    """Such a wait could last forever, and the process would never end: it waits for every
    handler to finish."""
    people = _People(engine)
    settings = settings_for(database_url)
    client = eager_env.client
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(client, settings, engine, executor):
            handle = await people.start(client, settings.task_queue, photos=0)
            for version, refusal in ((99, "conflict"), (0, "invalid")):
                with pytest.raises(WorkflowUpdateFailedError) as refused:
                    await asyncio.wait_for(
                        handle.execute_update(
                            PartnerProcessWorkflow.await_recorded,
                            AwaitRecordedInput(version=version),
                        ),
                        timeout=30,
                    )
                cause = refused.value.cause
                assert isinstance(cause, ApplicationError) and cause.type == refusal
            reached = await handle.execute_update(
                PartnerProcessWorkflow.await_recorded, AwaitRecordedInput(version=1)
            )
            for key, actor in (
                ("commission", people.as_contact),
                ("photos", people.as_partner),
                ("acceptance", people.as_contact),
            ):
                await _current(client, handle).execute_update(
                    PartnerProcessWorkflow.complete_step,
                    CompleteStepInput(step_key=key, actor=actor),
                )
            result = await asyncio.wait_for(_current(client, handle).result(), timeout=30)
    assert reached.version >= 1
    assert result.status == "completed"


async def test_an_offers_turns_and_expiry_go_on_across_runs(
    eager_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    """A ranked offer nobody answers, one short turn after another while the process continues
    as new: each run arms the turn still running, and the last turn hands it to the contact."""
    people = _People(engine)
    with Session(engine, expire_on_commit=False) as session:
        others = [
            Partner(name=f"Installer {n}", email=f"office@installer{n}.example.com")
            for n in range(2, 5)
        ]
        for partner in others:
            partner.status = "active"
        session.add_all(others)
        session.commit()
    ranked = [people.partner.id, *(p.id for p in others)]
    settings = settings_for(database_url)
    client = eager_env.client
    process_id = uuid.uuid4()
    offered = {
        "key": "install",
        "name": "Installation",
        "assignee": {
            "type": "offer", "partners": [str(p) for p in ranked], "mode": "ranked",
            "wait": "PT1S", "expires": "PT1H",
        },
    }  # fmt: skip
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(client, settings, engine, executor):
            handle = await client.start_workflow(
                PartnerProcessWorkflow.run,
                ProcessInput(
                    process_id=process_id,
                    template=TemplateSnapshot(
                        template_id=people.template.id, version=1, name="PV", language="en",
                        timezone="Europe/Berlin", steps=[StepSpec.model_validate(offered)],
                    ),
                    opportunity_id=people.opportunity.id,
                    contact_user_id=people.contact.id,
                    code_version=CODE_VERSION,
                ),
                id=workflow_id_for(process_id),
                task_queue=settings.task_queue,
            )  # fmt: skip
            state = await eventually(
                lambda: _current(client, handle).query(PartnerProcessWorkflow.state),
                lambda s: s.steps[0].status == "active",
                wait=30,
            )
            await _current(client, handle).execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key="install", actor=people.as_contact),
            )
            result = await _current(client, handle).result()
    install = state.steps[0]
    assert [(o.partner_id, o.status) for o in install.offers] == [(p, "expired") for p in ranked]
    assert install.assignee.user_id == people.contact.id
    assert result.status == "completed"
    runs = await _runs(client, handle.id)
    assert len(runs) >= 2, f"the process should have continued as new: runs {runs}"
