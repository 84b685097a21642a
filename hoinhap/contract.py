"""Documents generated from the code: a JSON Schema per event type, and the suite's AsyncAPI document."""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import FastAPI
from faststream.specification import AsyncAPI

from hoinhap.local import SERVICES
from shared.events import EVENT_MODELS

#: Settings good enough to build the services' brokers for documentation; nothing connects.
_PLACEHOLDER_ENV = {
    "DATABASE_URL": "postgresql://hoinhap@localhost/hoinhap",
    "KAFKA_BOOTSTRAP_SERVERS": "localhost:9092",
    "HOINHAP_ADMIN_TOKEN": "placeholder-admin-token",
    "subject_key": "placeholder-subject-key",
}


def placeholder_app(service: str) -> FastAPI:
    """A service's application built with placeholder settings, for its documents; it connects to nothing."""
    settings = importlib.import_module(f"services.{service}.settings").Settings(**_PLACEHOLDER_ENV)
    app: FastAPI = importlib.import_module(f"services.{service}.app").create_app(settings)
    return app


def event_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema (draft 2020-12) of each event type's whole record value, envelope and data."""
    return {
        event_type: {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:hoinhap:schema:{event_type}",
            **model.model_json_schema(),
        }
        for event_type, model in EVENT_MODELS.items()
    }


def asyncapi_document() -> dict[str, Any]:
    brokers = []
    for name in SERVICES:
        brokers.append(placeholder_app(name).state.runtime.broker)
    spec = AsyncAPI(
        *brokers,
        title="Hòa Nhập",
        version="1",
        description="The suite's Kafka topics: CloudEvents 1.0 in structured mode, keyed by subject.",
    )
    document: dict[str, Any] = spec.to_specification().to_jsonable()
    return document
