"""The one place configuration is read from: environment variables `PARTNERFLOW_*`."""

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from partnerflow.spec import Language


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARTNERFLOW_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///.data/partnerflow.db"
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "partnerflow"
    # The Temporal UI as operators reach it (behind a proxy, perhaps under a path such as
    # https://ops.example.com/temporal): the process page's "Open the workflow in the
    # Temporal UI" link starts with it.
    temporal_ui_url: str = "http://localhost:8233"
    # Where links point to: the address people reach Partnerflow at. E-mails and the portal
    # link there, and so does each process's details in the Temporal UI (its process page).
    public_url: str = "http://localhost:8000"
    # outbox: every e-mail is stored and browsable, nothing leaves the machine.
    # smtp / sendgrid: stored in the outbox too, and delivered through that provider.
    mail_transport: Literal["outbox", "smtp", "sendgrid"] = "outbox"
    mail_from: str = "Partnerflow <noreply@partnerflow.localhost>"
    mail_reply_to: str | None = None
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    # how long SMTP and SendGrid calls may take before they count as failed (and are retried)
    smtp_timeout_seconds: float = 30.0
    sendgrid_api_key: SecretStr | None = None
    sendgrid_host: str = "https://api.sendgrid.com"
    # Uploaded documents: stored under generated names in this folder.
    storage_dir: str = ".data/documents"
    max_upload_bytes: int = 25 * 1024 * 1024
    # How long an invitation link stays valid.
    invitation_ttl_hours: int = 168
    # The language of e-mails that belong to no process (partners' sign-in links).
    default_language: Language = "de"
    # The pages' language for a browser that asks for none of ours (and no user setting);
    # unset: `default_language`.
    page_language: Language | None = None
    # The time zone a new process template's deadlines fall due in, unless it names another.
    default_timezone: str = "Europe/Berlin"
    # How long a browser stays signed in, and how long a partner's sign-in link works.
    session_ttl_hours: int = 12
    magic_link_ttl_minutes: int = 30
    # Sign-in links one address may ask for per hour; its newest that many stay valid, so
    # asking for more cannot kill the link a partner is about to click, nor flood its mailbox.
    magic_links_per_hour: int = Field(default=5, ge=1, le=100)
    # Requests per minute and client address on the public endpoints (invitations, sign-in).
    public_rate_limit_per_minute: int = 30
    # text, or json: one object per line with the process id where there is one
    log_format: Literal["text", "json"] = "text"
    # host:port for the worker's Prometheus endpoint (SDK and process metrics); off if unset
    worker_metrics_address: str | None = None
    # Workflows the worker keeps in memory (about 0.5 MB each, with their sandboxed module):
    # this bounds its RSS whatever the number of open processes (about 260 MB with 200, issue
    # 17 asks ≤ 300); one not cached is replayed from its history when its timer fires or a
    # caller asks.
    worker_max_cached_workflows: int = Field(default=200, ge=2)
    # How long one e-mail may take to render in its child process before it is stopped as
    # over budget (partnerflow/render_pool.py); an e-mail renders in milliseconds.
    render_seconds: float = Field(default=3.0, gt=0, le=60)
    # The API's Prometheus metrics on a port of their own (never on the public API port),
    # and/or a token that opens `/metrics` on the API port (`Authorization: Bearer …`).
    # Neither set: the API serves no metrics.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_token: SecretStr | None = None
    # The first admin's token; when unset or empty, `python -m partnerflow.migrate` (or
    # `make up`) generates one and shows it once on its output.
    admin_token: SecretStr | None = None
    # How long an API token works after it is made; then it is refused (401) and a new one
    # is needed. A new account's e-mailed first sign-in link works this long, and once.
    token_ttl_days: int = Field(default=90, ge=1, le=3650)
    welcome_link_ttl_hours: int = Field(default=72, ge=1, le=720)
    # Webhooks go to https addresses on the internet only: http, and hosts that are or
    # resolve to loopback, private, link-local or reserved addresses, are refused unless
    # these allow them (a test's local receiver; an intranet on purpose).
    webhooks_allow_http: bool = False
    webhooks_allow_private: bool = False
    # A delivery is tried again with back-off (first after this, then twice as long each
    # time, at most an hour apart) for this long, then given up; each POST may take this long.
    webhooks_retry_first_seconds: float = Field(default=10.0, gt=0, le=3600)
    webhooks_retry_for_hours: float = Field(default=24.0, gt=0, le=168)
    webhooks_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @field_validator("admin_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `.env.example` and docker-compose.yml pass `PARTNERFLOW_ADMIN_TOKEN=` (empty):
        # that means "none chosen", never a token made of nothing.
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            return None
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
