"""Deadlines computed outside workflow code: business days read the public-holiday tables of
the installed `holidays` release, which a later release may change. Run as a local activity,
the answer is kept in the workflow's history, so a replay reads the recorded deadline.
Its errors leave classified (activities/failures.py): an unknown region or timezone keeps its
type name (`ValueError`, `KeyError`), which workflows/retries.py does not retry."""

from datetime import datetime

from temporalio import activity

from activities.failures import classified
from workflows.deadlines import add_business_days
from workflows.messages import BusinessDaysInput


@activity.defn(no_thread_cancel_exception=True)
def business_days_due(input: BusinessDaysInput) -> datetime:
    with classified():
        return add_business_days(input.start, input.business_days, input.timezone, input.region)
