"""First-run data: the admin user, and for `make up` a demo partner, e-mail and process."""

import secrets
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from partnerflow.auth import TOKEN_PREFIX, issue_token
from partnerflow.db import session_scope
from partnerflow.models import EmailTemplate, Partner, ProcessTemplate, ProcessTemplateVersion, User
from partnerflow.process_templates import snapshot

DEMO_HANDOVER_HTML = """<p>Hallo {{ partner.name }},</p>
<p>bitte übernehmen Sie <strong>{{ step.name }}</strong> bei {{ customer.name }}.</p>
<p>Vereinbaren Sie den Termin direkt mit dem Kunden und tragen Sie ihn im
Partnerportal als Frist des Schritts ein.</p>
<p><a href="{{ step.url }}">Zum Auftrag</a></p>
<p>Viele Grüße<br>{{ contact.name }}</p>"""


@dataclass
class SeedResult:
    """Tokens created now, in clear: shown once on the terminal, stored nowhere."""

    created: bool = False
    tokens: dict[str, str] = field(default_factory=dict)


def ensure_admin(session: Session, token: str | None) -> tuple[User, str | None]:
    """The first admin; its token is the given one, else a fresh one (returned once)."""
    admin = session.exec(select(User).where(User.role == "admin")).first()
    if admin is not None:
        return admin, None
    admin = User(name="Admin", email="admin@example.com", role="admin")
    session.add(admin)
    session.flush()
    return admin, issue_token(session, admin.id, token or TOKEN_PREFIX + secrets.token_urlsafe(32))


def seed(engine: Engine, admin_token: str | None, demo: bool = True) -> SeedResult:
    result = SeedResult()
    with session_scope(engine) as session:
        admin, token = ensure_admin(session, admin_token)
        if token is None:
            return result
        result.created = True
        result.tokens["admin"] = token
        if demo:
            result.tokens["demo partner user"] = _seed_demo(session, admin)
    return result


def _seed_demo(session: Session, admin: User) -> str:
    partner = Partner(
        name="Solar Montage Demo GmbH", email="partner@demo.example.com", status="active"
    )
    session.add(partner)
    session.flush()
    partner_user = User(
        name="Petra Partner",
        email="petra@demo.example.com",
        role="partner",
        partner_id=partner.id,
    )
    session.add(partner_user)
    session.flush()
    email = EmailTemplate(
        name="Übergabe an den Partner (Demo)",
        language="de",
        subject="Neuer Auftrag: {{ step.name }} – {{ opportunity.title }}",
        body_html=DEMO_HANDOVER_HTML,
    )
    session.add(email)
    session.flush()
    template = ProcessTemplate(
        name="PV-Installation (Demo)",
        description="Ein interner Schritt beauftragt den Partner, der Partner installiert.",
        contact_user_id=admin.id,
        steps=[
            {
                "key": "commission_partner",
                "name": "Partner beauftragen",
                "assignee": {"type": "contact"},
            },
            {
                "key": "installation",
                "name": "Installation",
                "instructions": "Termin mit dem Kunden vereinbaren und die Anlage installieren.",
                "assignee": {"type": "partner", "partner_id": str(partner.id)},
                "on_activate_email": str(email.id),
            },
        ],
        published_version=1,
        draft_pending=False,
    )
    session.add(template)
    session.flush()
    session.add(
        ProcessTemplateVersion(
            template_id=template.id,
            version=1,
            snapshot=snapshot(template, 1).model_dump(mode="json"),
        )
    )
    return issue_token(session, partner_user.id)
