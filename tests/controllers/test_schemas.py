"""The JSON Schemas in docs/schemas/ are the ones the message models generate, and they accept what
the platform sends and reject what it would drop."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from controllers.messages import MessageFactory, encode
from controllers.schemas import schema_files

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def test_committed_schemas_are_the_generated_ones() -> None:
    generated = schema_files()
    committed = {p.name: p.read_text(encoding="utf-8") for p in SCHEMAS.glob("*.schema.json")}
    assert committed == generated, "regenerate with: python -m controllers.schemas docs/schemas"


def test_schemas_accept_platform_messages_and_reject_bad_ones() -> None:
    factory = MessageFactory("run-1", "house-001")
    setpoint = json.loads(encode(factory.setpoint(3, {"battery_p_set_kw": -1.5, "t_set_c": None})))
    schema = json.loads(schema_files()["setpoint.schema.json"])
    jsonschema.validate(setpoint, schema)
    for bad in (
        {**setpoint, "tick": -1},
        {**setpoint, "extra": 1},
        {**setpoint, "body": {"values": {"a b": 1}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
