"""The workflow on the time-skipping test server: days pass at once, the read model follows."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from partnerflow.models import Opportunity, Partner, ProcessStep, ProcessTemplate, User
from partnerflow.spec import StepSpec, TemplateSnapshot
from tests.conftest import settings_for
from worker import build_worker
from workflows.messages import Actor, CompleteStepInput, ProcessInput
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for


def _rows(engine: Engine) -> tuple[User, Partner, Opportunity, ProcessTemplate]:
    with Session(engine, expire_on_commit=False) as session:
        contact = User(name="Carla Kontakt", email="carla@company.example.com", role="member")
        partner = Partner(name="Dach & Sonne", email="info@dach.example.com", status="active")
        opportunity = Opportunity(title="PV", customer={"name": "Jana Becker"})
        session.add_all([contact, partner, opportunity])
        session.flush()
        template = ProcessTemplate(name="PV", contact_user_id=contact.id)
        session.add(template)
        session.commit()
        return contact, partner, opportunity, template


async def test_process_waits_days_for_the_partner_and_completes(
    time_skipping_env: WorkflowEnvironment, database_url: str, engine: Engine
) -> None:
    contact, partner, opportunity, template_row = _rows(engine)
    settings = settings_for(database_url)
    template = TemplateSnapshot(
        template_id=template_row.id,
        version=1,
        name="PV",
        language="en",
        timezone="Europe/Berlin",
        steps=[
            StepSpec.model_validate(
                {"key": "commission", "name": "Commission", "assignee": {"type": "contact"}}
            ),
            StepSpec.model_validate(
                {
                    "key": "install",
                    "name": "Install",
                    "assignee": {"type": "partner_slot", "slot": "installer"},
                }
            ),
        ],
    )
    process_id = uuid.uuid4()
    client = time_skipping_env.client
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(client, settings, engine, executor):
            handle = await client.start_workflow(
                PartnerProcessWorkflow.run,
                ProcessInput(
                    process_id=process_id,
                    template=template,
                    opportunity_id=opportunity.id,
                    contact_user_id=contact.id,
                    partners={"installer": partner.id},
                ),
                id=workflow_id_for(process_id),
                task_queue=settings.task_queue,
            )
            as_contact = Actor(user_id=contact.id, name=contact.name, role="member")
            await handle.execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key="commission", actor=as_contact),
            )
            await time_skipping_env.sleep(timedelta(days=3))
            as_partner = Actor(
                user_id=uuid.uuid4(),
                name="Paul",
                role="partner",
                partner_id=partner.id,
                permissions=["steps:complete"],
            )
            await handle.execute_update(
                PartnerProcessWorkflow.complete_step,
                CompleteStepInput(step_key="install", actor=as_partner),
            )
            result = await handle.result()

    assert result.status == "completed"
    install = result.steps[1]
    assert install.assignee.partner_id == partner.id
    assert install.completed_at is not None and install.activated_at is not None
    assert install.completed_at - install.activated_at >= timedelta(days=3)
    with Session(engine) as session:
        rows = session.exec(
            select(ProcessStep)
            .where(ProcessStep.process_id == process_id)
            .order_by(ProcessStep.position)  # type: ignore[arg-type]
        ).all()
    assert [(r.key, r.status) for r in rows] == [
        ("commission", "completed"),
        ("install", "completed"),
    ]
