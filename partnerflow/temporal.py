"""Connecting to Temporal the same way from the API, the worker and the tests."""

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from partnerflow.settings import Settings

DATA_CONVERTER = pydantic_data_converter


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=DATA_CONVERTER,
    )
