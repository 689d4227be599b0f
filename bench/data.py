"""The rows the benchmark needs, written straight into a migrated database (untimed)."""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from partnerflow.auth import issue_token
from partnerflow.db import session_scope
from partnerflow.migrate import upgrade
from partnerflow.models import (
    Opportunity,
    Partner,
    ProcessTemplate,
    ProcessTemplateVersion,
    User,
)
from partnerflow.process_templates import snapshot
from partnerflow.seed import seed
from partnerflow.spec import TemplateSnapshot
from workflows.messages import Actor

ADMIN_TOKEN = "pf_bench_admin_token"  # noqa: S105 (a throwaway database's token)

# A three-step process: the contact person commissions, the partner installs (hand-over
# e-mail to the partner, completion e-mail to the contact), the contact person accepts.
THREE_STEPS: list[dict[str, Any]] = [
    {"key": "commission", "name": "Partner beauftragen", "assignee": {"type": "contact"}},
    {
        "key": "installation",
        "name": "Installation",
        "instructions": "Die Anlage installieren.",
        "assignee": {"type": "partner_slot", "slot": "installer"},
    },
    {"key": "acceptance", "name": "Abnahme prüfen", "assignee": {"type": "contact"}},
]
STEP_KEYS = [step["key"] for step in THREE_STEPS]
PARTNER_STEP = "installation"

# What stays open at scale: the partner's step, its deadline a durable timer 30 days out.
ONE_OPEN_STEP: list[dict[str, Any]] = [
    {
        "key": "installation",
        "name": "Installation",
        "assignee": {"type": "partner_slot", "slot": "installer"},
        "deadline": {"after": "P30D"},
    }
]


def reminder_step(reminder_after_s: int, overdue_after_s: int) -> list[dict[str, Any]]:
    """The partner's step, reminded `reminder_after_s` after it opens, overdue at
    `overdue_after_s`: timers that fire while the benchmark measures."""
    before = overdue_after_s - reminder_after_s
    return [
        {
            "key": "installation",
            "name": "Installation",
            "assignee": {"type": "partner_slot", "slot": "installer"},
            "deadline": {"after": f"PT{overdue_after_s}S"},
            "reminders": [f"PT{before}S"],
        }
    ]


@dataclass
class PartnerRow:
    id: uuid.UUID
    token: str
    actor: Actor


@dataclass
class World:
    admin_token: str
    admin: Actor
    partners: list[PartnerRow]
    three_steps: TemplateSnapshot
    one_open_step: TemplateSnapshot
    reminded_step: TemplateSnapshot


def _template(session: Session, name: str, steps: list[dict[str, Any]], contact: User) -> Any:
    template = ProcessTemplate(
        name=name, contact_user_id=contact.id, steps=steps, published_version=1,
        draft_pending=False,
    )  # fmt: skip
    session.add(template)
    session.flush()
    frozen = snapshot(template, 1)
    session.add(
        ProcessTemplateVersion(
            template_id=template.id, version=1, snapshot=frozen.model_dump(mode="json")
        )
    )
    return frozen


def prepare(engine: Engine, partners: int, reminder: tuple[int, int] = (30, 90)) -> World:
    """Schema, the admin (also every process's contact person), active partners with one
    user and token each, and the three published templates (`reminder`: seconds after the
    step opens until its reminder and until it is overdue, see `reminder_step`)."""
    upgrade(engine)
    seed(engine, ADMIN_TOKEN, demo=False)
    rows: list[PartnerRow] = []
    with session_scope(engine) as session:
        admin = session.exec(select(User).where(User.role == "admin")).one()
        for n in range(partners):
            partner = Partner(
                name=f"Bench Solar {n} GmbH", email=f"office-{n}@bench.example.com",
                status="active",
            )  # fmt: skip
            session.add(partner)
            session.flush()
            user = User(
                name=f"Paul Monteur {n}", email=f"paul-{n}@bench.example.com", role="partner",
                partner_id=partner.id,
            )  # fmt: skip
            session.add(user)
            session.flush()
            actor = Actor(
                user_id=user.id, name=user.name, role="partner", partner_id=partner.id,
                permissions=list(partner.permissions),
            )  # fmt: skip
            rows.append(PartnerRow(id=partner.id, token=issue_token(session, user.id), actor=actor))
        three = _template(session, "Bench: drei Schritte", THREE_STEPS, admin)
        one = _template(session, "Bench: offener Schritt mit Frist", ONE_OPEN_STEP, admin)
        reminded = _template(
            session, "Bench: Schritt mit Erinnerung", reminder_step(*reminder), admin
        )
        admin_actor = Actor(user_id=admin.id, name=admin.name, role="admin")
    return World(
        admin_token=ADMIN_TOKEN,
        admin=admin_actor,
        partners=rows,
        three_steps=three,
        one_open_step=one,
        reminded_step=reminded,
    )


def opportunities(engine: Engine, count: int) -> list[uuid.UUID]:
    """`count` customer cases, one per process the benchmark starts."""
    ids = [uuid.uuid4() for _ in range(count)]
    with session_scope(engine) as session:
        session.add_all(
            Opportunity(
                id=i,
                title=f"PV-Anlage {n}",
                customer={
                    "name": f"Kundin {n}",
                    "email": f"kundin-{n}@customer.example.com",
                    "phone": "+49 221 555 0100",
                    "address": {"street": "Lindenweg 4", "postal_code": "50667", "city": "Köln"},
                },
                product="pv",
            )
            for n, i in enumerate(ids)
        )
    return ids
