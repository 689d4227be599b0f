"""Connecting to Temporal the same way from the API, the worker and the tests; and the
namespace with its search attributes (`python -m partnerflow.temporal`, compose's one-shot
`temporal-setup`; the test server gets them from `register_search_attributes` too)."""

import asyncio
import logging
import os
import sys
from datetime import timedelta
from typing import NoReturn

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode

from partnerflow import logs
from partnerflow.settings import Settings, get_settings
from workflows.search_attributes import ALL

DATA_CONVERTER = pydantic_data_converter
# How long Temporal keeps a closed process (the read model keeps it for good).
RETENTION = timedelta(days=30)
# A namespace just made takes a few seconds to reach every part of the server.
NAMESPACE_PROPAGATION = timedelta(seconds=60)

log = logging.getLogger("partnerflow.temporal")


def metrics_runtime(bind_address: str) -> Runtime:
    """A runtime whose SDK metrics (and the workflows' own) are served for Prometheus."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
        runtime=runtime,
    )


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add the search attributes the server lacks; answers the names it added."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as error:
        if error.status != RPCStatusCode.UNIMPLEMENTED:  # the Java test server cannot list
            raise
        known = set()
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in ALL
        if key.name not in known
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


async def ensure_namespace(client: Client, namespace: str) -> bool:
    """Make the namespace unless it exists; answers whether it was made."""
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
        return False
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
    retention = Duration()
    retention.FromTimedelta(RETENTION)
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=retention)
    )
    return True


async def set_up(settings: Settings) -> None:
    """The namespace and every search attribute a process carries, added where missing."""
    client = await connect(settings)
    namespace = settings.temporal_namespace
    if await ensure_namespace(client, namespace):
        log.info("namespace %s made, retention %s", namespace, RETENTION)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + NAMESPACE_PROPAGATION.total_seconds()
    while True:
        try:
            added = await register_search_attributes(client, namespace)
            break
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND or loop.time() > give_up:
                raise
            await asyncio.sleep(1)  # the namespace is not known everywhere yet
    log.info("search attributes of %s: added %s", namespace, ", ".join(added) or "none")


def exit_command(code: int) -> NoReturn:
    """End a command-line run that used the SDK: its output flushed, then the process ends
    without the interpreter's shutdown, at which the SDK's runtime may abort it (SIGABRT
    instead of `code`: sdk-python#300; seen on `python -m partnerflow.replay_check`)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    settings = get_settings()
    logs.configure(settings.log_format)
    asyncio.run(set_up(settings))
    exit_command(0)
