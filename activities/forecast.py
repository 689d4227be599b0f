"""The forecast's round: every open step with a deadline forecast again, and the contact
person of each step that became likely late told once (partnerflow/forecast.py)."""

from datetime import datetime

from sqlalchemy.engine import Engine
from temporalio import activity

from activities.failures import classified
from activities.read_model import write_notices
from partnerflow import forecast
from partnerflow.db import utcnow
from workflows.forecast_messages import ForecastInput, ForecastRound


class ForecastActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(no_thread_cancel_exception=True)
    def refresh_forecasts(self, input: ForecastInput) -> ForecastRound:
        with classified():
            return refresh(self._engine, utcnow())


def refresh(engine: Engine, now: datetime) -> ForecastRound:
    """One round at `now`: the forecasts and the notices in one transaction, so a retried
    round writes each notice once (by its key)."""
    with engine.begin() as connection:
        assessed = forecast.assess(connection, forecast.open_steps(connection), now)
        notified = write_notices(connection, forecast.at_risk_notices(connection, assessed, now))
    at_risk = sum(1 for a in assessed if (a.risk.late_probability or 0) >= forecast.AT_RISK)
    return ForecastRound(steps=len(assessed), at_risk=at_risk, notified=notified)
