"""`python -m bench.bare_worker ADDRESS TASK_QUEUE`: the worker of the bare-Temporal baseline.

Configured like `worker.py` (16 activity threads, default slots), so the two differ only in
the workflow and the activities they run.
"""

import asyncio
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from bench.bare import BareProcessWorkflow, bare_record


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    with ThreadPoolExecutor(max_workers=16) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[BareProcessWorkflow],
            activities=[bare_record],
            activity_executor=executor,
        ):
            await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
