"""JSON Schemas of the MQTT messages, generated from their pydantic models (`controllers.messages`).

    python -m controllers.schemas docs/schemas     # writes one <kind>.schema.json per message kind

The files in docs/schemas/ are these, committed so that a controller written in another language
can validate what it sends and receives; a test checks they equal what the models generate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from controllers.messages import MESSAGE_TYPES, SCHEMA_VERSION

__all__ = ["schema_files", "write_schemas"]


def _closed_maps(node: Any) -> None:
    """Maps with constrained keys (`patternProperties`) accept no other keys, as the models don't."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _closed_maps(value)
    elif isinstance(node, list):
        for value in node:
            _closed_maps(value)


def schema_files() -> dict[str, str]:
    """File name → JSON text of each message kind's schema (`admm/x` → `admm-x.schema.json`)."""
    files = {}
    for kind, model in MESSAGE_TYPES.items():
        schema = model.model_json_schema(mode="validation")
        _closed_maps(schema)
        schema["$id"] = f"urn:urban-cosim:message:{kind.value}:v{SCHEMA_VERSION}"
        schema["description"] = (
            f"MQTT message of kind '{kind.value}' (schema version {SCHEMA_VERSION}), topic "
            f"{{prefix}}/{{run}}/{kind.value}/{{agent}}. " + (model.__doc__ or "").strip()
        ).strip()
        files[f"{kind.value.replace('/', '-')}.schema.json"] = (
            json.dumps(schema, indent=2, sort_keys=True) + "\n"
        )
    return files


def write_schemas(folder: Path) -> list[Path]:
    """Write every schema file into `folder`; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_files().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")
    for written_path in write_schemas(target):
        print(written_path)
