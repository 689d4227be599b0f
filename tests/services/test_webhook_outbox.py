"""The webhook outbox and one delivery attempt, against a real database (SQLite, PostgreSQL):
which rows a transition writes, and what the delivery activity does with one: it checks the
address again on what the name resolves to now, connects to that address with the name as
Host and TLS server name, and signs as the Standard Webhooks specification says."""

import ssl
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from standardwebhooks.webhooks import Webhook
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.webhooks import WebhookActivities
from partnerflow import webhooks
from partnerflow.models import (
    Partner,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from partnerflow.refusals import Refused
from partnerflow.settings import Settings
from partnerflow.webhook_deliveries import verdict
from partnerflow.webhook_destinations import Resolver
from partnerflow.webhook_outbox import Queued, queue
from partnerflow.webhooks import WebhookCreate, WebhookUpdate
from tests.webhook_receiver import Receiver, running_receiver
from workflows.messages import ProcessState, TimelineEntry
from workflows.webhook_messages import DeliveryAttempt

STRICT = Settings(_env_file=None)
PRIVATE_OK = Settings(_env_file=None, webhooks_allow_private=True)
NAME = "crm.example.test"


def resolving(zone: dict[str, list[str]]) -> Resolver:
    def resolve(host: str) -> list[str]:
        if host not in zone:
            raise OSError("Name or service not known")
        return zone[host]

    return resolve


PUBLIC = resolving({NAME: ["93.184.216.34"], "inside.example.test": ["10.0.0.7"]})


def transition(*events: str, test: bool = False, at: datetime | None = None) -> ProcessState:
    moment = at or datetime.now(UTC)
    return ProcessState(
        process_id=uuid.UUID(int=42),
        template_id=uuid.uuid4(),
        template_version=1,
        opportunity_id=uuid.uuid4(),
        contact_user_id=uuid.uuid4(),
        partner_ids=[],
        test=test,
        started_at=moment,
        steps=[],
        timeline=[TimelineEntry(at=moment, event=e, step_key="survey") for e in events],
    )


def subscribe(engine: Engine, url: str, events: list[str], settings: Settings = STRICT) -> str:
    with Session(engine) as session:
        body = WebhookCreate.model_validate({"url": url, "events": events})
        return webhooks.create(session, settings, PUBLIC, body).secret


def deliveries(engine: Engine) -> list[WebhookDelivery]:
    with Session(engine) as session:
        return list(session.exec(select(WebhookDelivery)))


def test_which_answers_end_a_delivery() -> None:
    assert [verdict(s) for s in (200, 202, 204)] == ["succeeded"] * 3
    assert [verdict(s) for s in (408, 429, 500, 502, 503)] == ["retry"] * 5
    # any other 4xx is final, and so is a redirect (never followed); 410 switches it off
    assert [verdict(s) for s in (301, 302, 400, 401, 403, 404, 422)] == ["final"] * 7
    assert verdict(410) == "gone"


def test_a_host_name_resolving_inside_is_refused_without_the_setting(engine: Engine) -> None:
    with pytest.raises(Refused) as caught:
        subscribe(engine, "https://inside.example.test/in", ["step.completed"])
    assert caught.value.loc == ("url",) and "private" in caught.value.message
    with pytest.raises(Refused) as caught:
        subscribe(engine, "https://nowhere.example.test/in", ["step.completed"])
    assert caught.value.message == "the host name does not resolve"
    subscribe(engine, "https://inside.example.test/in", ["step.completed"], PRIVATE_OK)


def test_each_new_event_once_for_each_subscription_that_listens(engine: Engine) -> None:
    assert _queued(engine, transition("process_started")) == []  # nobody listens: no rows
    subscribe(engine, f"https://{NAME}/a", ["step.completed", "process.started"])
    subscribe(engine, f"https://{NAME}/b", ["step.completed"])
    off = subscribe(engine, f"https://{NAME}/off", ["step.completed"])
    with Session(engine) as session:
        [off_row] = [s for s in session.exec(select(WebhookSubscription)) if s.secret == off]
        webhooks.update(session, STRICT, PUBLIC, off_row.id, WebhookUpdate(enabled=False))

    made = transition("process_started", "step_activated", "step_completed")
    assert len(_queued(engine, made)) == 3  # a: started, completed; b: completed
    assert _queued(engine, made) == []  # the same write again: nothing new
    later = made.model_copy(
        update={
            "timeline": [*made.timeline, TimelineEntry(at=made.started_at, event="step_completed")]
        }
    )
    assert len(_queued(engine, later)) == 2
    assert _queued(engine, made) == []  # an older state written late: nothing
    rows = deliveries(engine)
    assert sorted(r.event_type for r in rows) == ["process.started"] + ["step.completed"] * 4
    assert {r.status for r in rows} == {"pending"}

    # test processes send nothing; nor do events from before a subscription existed
    assert _queued(engine, transition("step_completed", test=True)) == []
    old = transition("step_completed", at=datetime.now(UTC) - timedelta(hours=1))
    assert _queued(engine, old.model_copy(update={"process_id": uuid.uuid4()})) == []


def test_a_declined_step_names_the_partner_that_declined(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        partner = Partner(name="Installer", email="office@installer.example.com")
        session.add(partner)
        session.flush()
        fitter = User(name="Fitter", email="fitter@installer.example.com", role="partner",
                      partner_id=partner.id)  # fmt: skip
        session.add(fitter)
        session.commit()
    subscribe(engine, f"https://{NAME}/declines", ["step.declined"])
    declined = transition("step_declined")
    declined.timeline[0].user_id = fitter.id
    assert len(_queued(engine, declined)) == 1
    [row] = deliveries(engine)
    assert row.body["data"]["partner_id"] == str(partner.id)


async def test_the_address_is_checked_again_on_what_the_name_resolves_to_now(
    engine: Engine,
) -> None:
    subscribe(engine, f"https://{NAME}/in", ["process.started"])
    [item] = _queued(engine, transition("process_started"))
    rebound = resolving({NAME: ["10.0.0.5"]})  # the DNS answer changed since
    activities = WebhookActivities(engine, STRICT, rebound)
    with pytest.raises(ApplicationError) as caught:
        attempt = DeliveryAttempt(delivery_id=item.delivery_id, series=1)
        await ActivityEnvironment().run(activities.deliver_webhook, attempt)
    assert caught.value.non_retryable and caught.value.type == "WebhookRefused"
    assert NAME not in str(caught.value)  # no address into Temporal
    [row] = deliveries(engine)
    assert row.status == "failed"
    with Session(engine) as session:
        [tried] = session.exec(select(WebhookAttempt))
    assert tried.response_status is None and "private" in (tried.error or "")


@pytest.fixture(scope="module")
def tls_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Receiver, bytes]]:
    """An https receiver whose certificate is for NAME (self-signed: its PEM is the trust)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("tls")
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    with running_receiver(server) as receiver:
        yield receiver, pem


async def test_https_goes_to_the_checked_address_under_its_name(
    engine: Engine, tls_receiver: tuple[Receiver, bytes]
) -> None:
    receiver, pem = tls_receiver
    path = f"in-{uuid.uuid4().hex}"
    local = resolving({NAME: ["127.0.0.1"]})
    with Session(engine) as session:
        created = webhooks.create(
            session, PRIVATE_OK, local,
            WebhookCreate.model_validate(
                {"url": f"https://{NAME}:{receiver.port}/{path}", "events": ["process.started"]}
            ),
        )  # fmt: skip
        old_secret = created.secret
        new_secret = webhooks.rotate_secret(session, created.id).secret
    [item] = _queued(engine, transition("process_started"))
    trusted = ssl.create_default_context(cadata=pem.decode())
    activities = WebhookActivities(engine, PRIVATE_OK, local, tls=trusted)

    settled = await ActivityEnvironment().run(
        activities.deliver_webhook, DeliveryAttempt(delivery_id=item.delivery_id, series=1)
    )
    assert settled.outcome == "succeeded" and settled.response_status == 200
    [received] = receiver.at(path)
    assert receiver.server_names[-1] == NAME  # SNI: the name, though it connected to 127.0.0.1
    assert received.headers["host"] == f"{NAME}:{receiver.port}"
    # signed with the new secret and, for the day after a rotation, with the old one too
    for secret in (new_secret, old_secret):
        assert Webhook(secret).verify(received.body, received.headers)["type"] == "process.started"
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    [row] = deliveries(engine)
    assert (row.status, row.attempts, row.response_status) == ("succeeded", 1, 200)

    # Run again (a retried activity whose first attempt got through): nothing is sent twice.
    again = await ActivityEnvironment().run(
        activities.deliver_webhook, DeliveryAttempt(delivery_id=item.delivery_id, series=1)
    )
    assert again.outcome == "succeeded"
    assert len(receiver.at(path)) == 1


def _queued(engine: Engine, state: ProcessState) -> list[Queued]:
    with engine.begin() as connection:
        return queue(connection, state)
