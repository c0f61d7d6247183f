"""A `MessageFactory` for the hot path: measurements and setpoints validated in one call.

`MessageFactory.meas` and `.setpoint` build (and validate) the body, then the message around it:
two validations, 22 and 15 µs for ten and four values. `LeanMessageFactory` hands the whole
message, body included, to the message model's validator at once: the same checks and the same
message (the same bytes once encoded), in about half the time. A bridge step builds one
measurement per agent (or one batch per agent host), and every agent one setpoint (or its host
one batch).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controllers.messages import (
    BatchValues,
    MeasBatchMessage,
    MeasMessage,
    MessageFactory,
    SetpointBatchMessage,
    SetpointMessage,
)

_MEAS = MeasMessage.__pydantic_validator__
_SETPOINT = SetpointMessage.__pydantic_validator__
_MEAS_BATCH = MeasBatchMessage.__pydantic_validator__
_SETPOINT_BATCH = SetpointBatchMessage.__pydantic_validator__


class LeanMessageFactory(MessageFactory):
    """`MessageFactory` with single-call validation of measurements and setpoints."""

    def _validated(self, validator: Any, tick: int, iteration: int | None, body: dict[str, Any]) -> Any:
        """The envelope of the next message with `body`, validated as a whole by `validator`."""
        envelope = self._envelope(tick, iteration)
        envelope["body"] = body
        return validator.validate_python(envelope)

    def meas(self, tick: int, values: Mapping[str, float | None], time_s: int | None = None) -> MeasMessage:
        message: MeasMessage = self._validated(_MEAS, tick, None, {"values": dict(values), "time_s": time_s})
        return message

    def setpoint(
        self, tick: int, values: Mapping[str, float | None], iteration: int | None = None
    ) -> SetpointMessage:
        message: SetpointMessage = self._validated(_SETPOINT, tick, iteration, {"values": dict(values)})
        return message

    def meas_batch(
        self,
        tick: int,
        values: BatchValues,
        time_s: int | None = None,
        partial_after_s: float | None = None,
    ) -> MeasBatchMessage:
        body = {"values": values, "time_s": time_s, "partial_after_s": partial_after_s}
        message: MeasBatchMessage = self._validated(_MEAS_BATCH, tick, None, body)
        return message

    def setpoint_batch(self, tick: int, values: BatchValues) -> SetpointBatchMessage:
        message: SetpointBatchMessage = self._validated(_SETPOINT_BATCH, tick, None, {"values": values})
        return message
