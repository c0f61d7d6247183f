"""docs/mqtt.md lists every measurement and setpoint name that travels on the wire (issue 15), with a
unit, and no name the platform does not send or take."""

from __future__ import annotations

import re
from pathlib import Path

from controllers.measurements import MEASURED, OPTIONAL_MEASURED, SETPOINT_NAMES

DOC = Path(__file__).resolve().parents[2] / "docs" / "mqtt.md"


def _table_after(heading: str) -> list[list[str]]:
    """The rows of the first table after the line starting with `heading` (cells stripped)."""
    lines = DOC.read_text().splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(heading))
    rows: list[list[str]] = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # without the header and the separator


def _names(rows: list[list[str]]) -> set[str]:
    return {name for row in rows for name in re.findall(r"`([a-z0-9_]+)`", row[0])}


def test_every_measurement_name_is_documented_with_a_unit() -> None:
    rows = _table_after("Measurements (`meas`):")
    assert _names(rows) == {*MEASURED, "step_s", "hour_local", *OPTIONAL_MEASURED}
    assert all(row[1] for row in rows)


def test_every_setpoint_name_is_documented_with_a_unit_and_when_it_applies() -> None:
    rows = _table_after("Setpoints (`setpoint`;")
    assert _names(rows) == set(SETPOINT_NAMES)
    assert all(row[1] and row[2].startswith("[") for row in rows)
