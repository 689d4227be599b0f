"""The webhook delivery activities: POST one signed event to its subscriber and record the
attempt, and record a series that ran out of time.

Each attempt checks the address again (partnerflow/webhook_destinations.py) and connects to
the very address it checked, the host name going along as the Host header and the TLS server
name (SNI, and the name the certificate must show); redirects are not followed and no proxy
from the environment is used, so nothing sends the request anywhere unchecked. Errors that go
to Temporal name what happened (a status, an error's type), never the address or the body.
"""

import asyncio
import functools
import ssl
import time
from datetime import timedelta

import httpx
from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from partnerflow import webhook_deliveries
from partnerflow.db import utcnow
from partnerflow.refusals import Refused
from partnerflow.settings import Settings
from partnerflow.webhook_deliveries import NotDue, Outgoing, Verdict
from partnerflow.webhook_destinations import (
    Destination,
    Resolver,
    Unresolvable,
    destination,
    system_resolver,
)
from workflows.webhook_messages import DeliveryAttempt, DeliverySettled

# workflows/webhook_delivery.py names them in its retry policy
WEBHOOK_REFUSED = "WebhookRefused"
WEBHOOK_FAILED = "WebhookFailed"


class WebhookActivities:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        resolve: Resolver = system_resolver,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        # the system's by default; tests hand in a stub, and trust their own certificate
        self._resolve = resolve
        self._given_tls = tls

    @functools.cached_property
    def _tls(self) -> ssl.SSLContext:
        """The TLS context, made at the first delivery: loading the system's certificates
        costs a worker's start 20 ms of CPU it needs only when a webhook goes out."""
        return self._given_tls or ssl.create_default_context()

    @activity.defn
    async def deliver_webhook(self, attempt: DeliveryAttempt) -> DeliverySettled:
        sending = await asyncio.to_thread(
            webhook_deliveries.outgoing, self._engine, attempt.delivery_id, attempt.series
        )
        if isinstance(sending, NotDue):
            return DeliverySettled(outcome=sending.outcome, response_status=sending.response_status)
        started = time.monotonic()
        try:
            target = await asyncio.to_thread(
                destination, sending.url, self._settings, self._resolve
            )
            status = await self._post(target, sending, attempt.timeout_seconds)
        except Refused as refused:  # the address is not allowed (any more)
            await self._record(attempt, started, None, refused.message, "final")
            raise ApplicationError(
                "the subscriber's address is not allowed", type=WEBHOOK_REFUSED, non_retryable=True
            ) from None
        except (Unresolvable, httpx.HTTPError, OSError) as error:
            await self._record(attempt, started, None, _described(error), "retry")
            raise ApplicationError(
                f"no answer from the subscriber: {type(error).__name__}", type=WEBHOOK_FAILED
            ) from None
        outcome = webhook_deliveries.verdict(status)
        await self._record(attempt, started, status, None, outcome)
        match outcome:
            case "succeeded":
                return DeliverySettled(outcome="succeeded", response_status=status)
            case "retry":
                raise ApplicationError(f"the subscriber answered {status}", type=WEBHOOK_FAILED)
            case "final" | "gone":
                raise ApplicationError(
                    f"the subscriber answered {status}",
                    status,
                    type=WEBHOOK_REFUSED,
                    non_retryable=True,
                )

    @activity.defn
    async def give_up_webhook(self, attempt: DeliveryAttempt) -> DeliverySettled:
        window = timedelta(hours=self._settings.webhooks_retry_for_hours)
        status = await asyncio.to_thread(
            webhook_deliveries.give_up, self._engine, attempt.delivery_id, attempt.series, window
        )
        return DeliverySettled(outcome="gave_up", response_status=status)

    async def _post(self, target: Destination, sending: Outgoing, seconds: float) -> int:
        """POST to the checked address; answers the status (the body is not read)."""
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        async with (
            httpx.AsyncClient(
                verify=self._tls, trust_env=False, follow_redirects=False, timeout=seconds
            ) as client,
            client.stream(
                "POST",
                target.address_url,
                content=sending.payload.encode(),
                headers={"host": target.host_header, **sending.headers(utcnow())},
                extensions=extensions,
            ) as response,
        ):
            return response.status_code

    async def _record(
        self,
        attempt: DeliveryAttempt,
        started: float,
        status: int | None,
        error: str | None,
        outcome: Verdict,
    ) -> None:
        await asyncio.to_thread(
            webhook_deliveries.record_attempt,
            self._engine,
            attempt.delivery_id,
            attempt.series,
            activity.info().attempt,
            response_status=status,
            duration_ms=round((time.monotonic() - started) * 1000),
            error=error,
            outcome=outcome,
        )


def _described(error: Exception) -> str:
    """For the delivery log (staff read it): the error's type and its words."""
    words = str(error).strip()
    return f"{type(error).__name__}: {words}" if words else type(error).__name__
