"""One update sent to one running process from outside a request (a revocation, an absence):
whether it landed, the process had ended, or Temporal did not answer in time."""

import logging
import uuid
from datetime import timedelta
from typing import Any, Literal

from temporalio.client import Client, RPCTimeoutOrCancelledError, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from workflows.partner_process import PartnerProcessWorkflow, workflow_id_for

log = logging.getLogger(__name__)

# How long one process may take to answer an update.
ONE_PROCESS = timedelta(seconds=10)

Sent = Literal["landed", "ended", "unreached"]


async def send(temporal: Client, process_id: uuid.UUID, update: Any, arg: Any, what: str) -> Sent:
    """Send the update; safe to repeat. A refusal counts as `ended`: the workflow refuses an
    update it has nothing left to do for (or it finished meanwhile)."""
    handle = temporal.get_workflow_handle_for(
        PartnerProcessWorkflow.run, workflow_id_for(process_id)
    )
    try:
        await handle.execute_update(update, arg, rpc_timeout=ONE_PROCESS)
    except WorkflowUpdateFailedError:
        return "ended"
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return "ended"  # ended (and perhaps gone from Temporal)
        log.warning("process %s not told of %s: %s", process_id, what, error.status.name)
        return "unreached"
    except RPCTimeoutOrCancelledError:
        return "unreached"
    return "landed"
