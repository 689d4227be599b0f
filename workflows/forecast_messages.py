"""The payloads of the forecast's round (workflows/forecaster.py): what it refreshed."""

from pydantic import BaseModel


class ForecastInput(BaseModel):
    """Nothing to choose yet: a model, so a field can be added without breaking callers."""


class ForecastRound(BaseModel):
    # open steps with a deadline whose forecast was written
    steps: int = 0
    # of those, likely late (late_probability at or above the threshold)
    at_risk: int = 0
    # contact persons told now (`step_at_risk`); each process and step at most once ever
    notified: int = 0
