"""Continue-as-new: when Temporal suggests it, the process carries on in a new run, state intact.

A dev server of its own suggests continuing after a few dozen events, so a short process
crosses the line several times.
"""

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from partnerflow.models import Opportunity, Partner, ProcessStep, ProcessTemplate, User
from partnerflow.temporal import DATA_CONVERTER
from tests.conftest import BIN, settings_for
from worker import build_worker
from workflows.messages import (
    Actor,
    AddDocumentInput,
    AwaitRecordedInput,
    CompleteStepInput,
    DocumentRef,
    ProcessInput,
    StepSpec,
    TemplateSnapshot,
)
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for
from workflows.search_attributes import dev_server_args


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


async def test_a_long_process_continues_as_new_and_keeps_its_state(
    eager_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        contact = User(name="Carla", email="carla@company.example.com", role="member")
        partner = Partner(name="Dach & Sonne", email="info@dach.example.com")
        session.add_all([contact, partner])
        session.flush()
        opportunity = Opportunity(title="PV", customer={"name": "Jana Becker"})
        template = ProcessTemplate(name="PV", contact_user_id=contact.id)
        session.add_all([opportunity, template])
        session.commit()
    as_contact = Actor(user_id=contact.id, name=contact.name, role="member")
    as_partner = Actor(
        user_id=uuid.uuid4(),
        name="Paul",
        role="partner",
        partner_id=partner.id,
        permissions=["steps:complete", "documents:upload"],
    )
    steps = [
        {"key": "commission", "name": "Commission", "assignee": {"type": "contact"}},
        {
            "key": "photos",
            "name": "Photos",
            "assignee": {"type": "partner", "partner_id": str(partner.id)},
            "documents": [{"type": "photo", "label": "Photo", "min_count": 8}],
        },
        {"key": "acceptance", "name": "Acceptance", "assignee": {"type": "contact"}},
    ]
    settings = settings_for(database_url)
    process_id = uuid.uuid4()
    client = eager_env.client
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(client, settings, engine, executor):
            handle = await client.start_workflow(
                PartnerProcessWorkflow.run,
                ProcessInput(
                    process_id=process_id,
                    template=TemplateSnapshot(
                        template_id=template.id,
                        version=1,
                        name="PV",
                        language="en",
                        timezone="Europe/Berlin",
                        steps=[StepSpec.model_validate(s) for s in steps],
                    ),
                    opportunity_id=opportunity.id,
                    contact_user_id=contact.id,
                ),
                id=workflow_id_for(process_id),
                task_queue=settings.task_queue,
            )
            await handle.execute_update(PartnerProcessWorkflow.await_recorded, AwaitRecordedInput())
            await handle.execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key="commission", actor=as_contact),
            )
            photos = [uuid.uuid4() for _ in range(8)]
            for number, photo in enumerate(photos):
                # Each update goes to whichever run is current: the workflow id stays the same.
                current = client.get_workflow_handle_for(
                    PartnerProcessWorkflow.run, workflow_id_for(process_id)
                )
                await current.execute_update(
                    PartnerProcessWorkflow.add_document,
                    AddDocumentInput(
                        step_key="photos",
                        actor=as_partner,
                        document=DocumentRef(id=photo, type="photo", filename=f"{number}.jpg"),
                    ),
                )
            current = client.get_workflow_handle_for(
                PartnerProcessWorkflow.run, workflow_id_for(process_id)
            )
            state = await current.query(PartnerProcessWorkflow.state)
            assert [d.id for d in state.steps[1].documents] == photos
            await current.execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key="photos", actor=as_partner),
            )
            await current.execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key="acceptance", actor=as_contact),
            )
            result = await current.result()

    assert result.status == "completed"
    assert [s.status for s in result.steps] == ["completed", "completed", "completed"]
    runs = [
        execution.run_id
        async for execution in client.list_workflows(
            f"WorkflowId = '{workflow_id_for(process_id)}'"
        )
    ]
    assert len(runs) >= 2, f"the process should have continued as new: runs {runs}"
    first_run = client.get_workflow_handle(
        workflow_id_for(process_id), run_id=handle.first_execution_run_id
    )
    first = await first_run.describe()
    assert first.status is not None and first.status.name == "CONTINUED_AS_NEW"
    with Session(engine) as session:
        rows = session.exec(select(ProcessStep).where(ProcessStep.process_id == process_id)).all()
    assert sorted(r.status for r in rows) == ["completed", "completed", "completed"]
