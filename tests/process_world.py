"""A process world for workflow tests without the API: people and a template in the database,
a worker on its own task queue, workflows started as the API would; and a real SMTP server
(aiosmtpd) that refuses chosen e-mails."""

import email
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from partnerflow.mail import Mailer
from partnerflow.models import (
    EmailTemplate,
    Notification,
    Opportunity,
    OutboxEmail,
    Partner,
    Process,
    ProcessStep,
    ProcessTemplate,
    User,
)
from partnerflow.settings import Settings
from partnerflow.spec import StepSpec, TemplateSnapshot
from partnerflow.transports import SmtpTransport
from tests.conftest import eventually, free_port, settings_for
from worker import build_worker
from workflows import search_attributes
from workflows.messages import Actor, ProcessInput, ProcessState
from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for
from workflows.versions import CODE_VERSION


class MailServer:
    """An SMTP handler that answers an e-mail whose key contains a marker with the reply it is
    given (a 5xx: refused for good; a 4xx: try later) and accepts the rest."""

    def __init__(self) -> None:
        self.replies: dict[str, str] = {}
        self.accepted: list[EmailMessage] = []
        self.refused: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=default_policy)
        key = str(message["X-Partnerflow-Key"])
        for marker, reply in self.replies.items():
            if marker in key:
                self.refused.append(key)
                return reply
        self.accepted.append(message)
        return "250 OK"

    def inbox(self, address: str) -> str:
        """The text of the newest e-mail delivered to `address` (factories read links here)."""
        newest = [m for m in self.accepted if address in str(m["To"])][-1]
        body = newest.get_body(preferencelist=("plain",))
        assert body is not None
        return str(body.get_content())


@contextmanager
def smtp_server() -> Iterator[tuple[int, MailServer]]:
    """A MailServer listening on a free port of this machine."""
    server = MailServer()
    port = free_port()
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, server
    finally:
        controller.stop()


def smtp_mailer(engine: Engine, port: int) -> Mailer:
    """The product's Mailer on `engine`, sending through the SMTP server on `port`."""
    settings = Settings(
        _env_file=None,
        database_url=str(engine.url),
        mail_transport="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
    )
    return Mailer(engine, settings, SmtpTransport(settings))


class World:
    """People with role names, not people's names: histories recorded here are kept."""

    def __init__(self, env: WorkflowEnvironment, engine: Engine, task_queue: str) -> None:
        self.env = env
        self.engine = engine
        self.task_queue = task_queue
        with Session(engine, expire_on_commit=False) as session:
            self.contact = User(name="Contact", email="contact@company.example.com", role="member")
            self.former = User(
                name="Former", email="former@company.example.com", role="member", active=False
            )
            self.partner = Partner(
                name="Installer", email="office@installer.example.com", status="active"
            )
            session.add_all([self.contact, self.former, self.partner])
            session.flush()
            self.partner_user = User(
                name="Fitter", email="fitter@installer.example.com", role="partner",
                partner_id=self.partner.id,
            )  # fmt: skip
            self.opportunity = Opportunity(title="PV", customer={})
            self.template = ProcessTemplate(name="PV", contact_user_id=self.contact.id)
            self.email_template = EmailTemplate(
                name="Task", subject="Task: {{ step.name }}", body_html="<p>{{ step.url }}</p>"
            )
            session.add_all(
                [self.partner_user, self.opportunity, self.template, self.email_template]
            )
            session.commit()
        self.as_contact = Actor(user_id=self.contact.id, name="Contact", role="member")
        self.as_partner = Actor(
            user_id=self.partner_user.id,
            name="Fitter",
            role="partner",
            partner_id=self.partner.id,
            permissions=["steps:complete", "steps:set_deadline", "documents:upload"],
        )

    async def start(
        self, steps: list[dict[str, Any]], *, opportunity_id: uuid.UUID | None = None
    ) -> WorkflowHandle[Any, ProcessState]:
        process_id = uuid.uuid4()
        opportunity = opportunity_id or self.opportunity.id
        return await self.env.client.start_workflow(
            PartnerProcessWorkflow.run,
            ProcessInput(
                process_id=process_id,
                template=TemplateSnapshot(
                    template_id=self.template.id,
                    version=1,
                    name="PV",
                    language="en",
                    timezone="Europe/Berlin",
                    steps=[StepSpec.model_validate(step) for step in steps],
                ),
                opportunity_id=opportunity,
                contact_user_id=self.contact.id,
                code_version=CODE_VERSION,
                partners={"installer": self.partner.id},
            ),
            id=workflow_id_for(process_id),
            task_queue=self.task_queue,
            search_attributes=search_attributes.at_start(
                template_id=str(self.template.id),
                opportunity_id=str(opportunity),
                partner_ids=[str(self.partner.id)],
                test=False,
            ),
        )

    def notices(self, process_id: uuid.UUID) -> list[Notification]:
        with Session(self.engine) as session:
            return list(
                session.exec(select(Notification).where(Notification.process_id == process_id))
            )

    def process(self, process_id: uuid.UUID) -> Process | None:
        with Session(self.engine) as session:
            return session.get(Process, process_id)

    def step(self, process_id: uuid.UUID, key: str) -> ProcessStep:
        with Session(self.engine) as session:
            return session.exec(
                select(ProcessStep).where(
                    ProcessStep.process_id == process_id, ProcessStep.key == key
                )
            ).one()

    def emails(self, process_id: uuid.UUID) -> list[OutboxEmail]:
        with Session(self.engine) as session:
            return list(
                session.exec(
                    select(OutboxEmail)
                    .where(OutboxEmail.process_id == process_id)
                    .order_by(col(OutboxEmail.created_at))
                )
            )

    async def email_kinds(self, process_id: uuid.UUID, *wanted: str) -> list[str]:
        """The kinds of the process's e-mails once those `wanted` are among them."""

        async def kinds() -> list[str]:
            return [e.kind for e in self.emails(process_id)]

        return await eventually(
            kinds, lambda found: all(found.count(w) >= wanted.count(w) for w in set(wanted))
        )


@asynccontextmanager
async def world_with_worker(
    env: WorkflowEnvironment, database_url: str, engine: Engine, **overrides: Any
) -> AsyncIterator[World]:
    settings = settings_for(database_url, **overrides)
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(env.client, settings, engine, executor):
            yield World(env, engine, settings.task_queue)
