"""The one module that builds and parses MQTT topics: `{prefix}/{run}/{kind}/{agent}`.

Nothing else in the code base formats or splits topic strings. A topic has four parts:

- `prefix`: one or more levels separated by "/" (default `ucosim`), shared by a deployment;
- `run`: the run id, one level;
- `kind`: one of `KINDS` (`admm/x`, `admm/z` and the `batch/…` kinds take two levels);
- `agent`: the name of the publisher (each agent publishes only under its own name; the bridge
  publishes measurements under the name of the agent they are meant for, and clock and status
  messages under its own name, `BRIDGE_ID`). Batches: the bridge publishes the measurements of
  every agent of one agent host on `batch/meas/{host}`, the host answers for them on
  `batch/setpoint/{host}`; a host of ADMM agents may send their updates to one round in one
  `batch/admm-x/{host}` message.

Names (prefix levels, run, agent) are 1–64 characters of `A–Z a–z 0–9 _ - .`, so they never
contain MQTT wildcards, separators or the `$` of broker-internal topics.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Kind(StrEnum):
    """Message kinds; the value is the topic level(s) between the run and the agent."""

    MEAS = "meas"
    SETPOINT = "setpoint"
    PLAN = "plan"
    FORECAST = "forecast"
    ADMM_X = "admm/x"
    ADMM_Z = "admm/z"
    ADMM_STATS = "admm/stats"  # the coordinator's report of a control step
    ALARM = "alarm"
    CLOCK = "clock"
    STATUS = "status"
    MEAS_BATCH = "batch/meas"  # every agent's measurements for one agent host, addressed to the host
    SETPOINT_BATCH = "batch/setpoint"  # the setpoints of several agents, published by their host
    ADMM_X_BATCH = "batch/admm-x"  # the round updates of several ADMM agents, published by their host
    FORECAST_BATCH = "batch/forecast"  # every agent's forecast for one agent host, addressed to the host


KINDS: Final[tuple[str, ...]] = tuple(k.value for k in Kind)
DEFAULT_PREFIX: Final = "ucosim"
BRIDGE_ID: Final = "bridge"
SINGLE_LEVEL_WILDCARD: Final = "+"
MULTI_LEVEL_WILDCARD: Final = "#"

_NAME_RE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_KIND_BY_VALUE: Final = {k.value: k for k in Kind}


class TopicError(ValueError):
    """A name or topic that does not follow the scheme; the message says which part and why."""


def validate_name(name: str, what: str = "name") -> str:
    """Return `name` if it is a valid single topic level, else raise `TopicError` naming `what`."""
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise TopicError(f"invalid {what} {name!r}: use 1-64 characters of letters, digits, '_', '-' or '.'")
    return name


def validate_prefix(prefix: str) -> str:
    """Return `prefix` if every "/"-separated level is a valid name, else raise `TopicError`."""
    if not isinstance(prefix, str) or not prefix:
        raise TopicError(f"invalid prefix {prefix!r}: must be a non-empty string")
    for level in prefix.split("/"):
        validate_name(level, f"prefix level of {prefix!r}")
    return prefix


def as_kind(kind: Kind | str) -> Kind:
    """The `Kind` for `kind` (a `Kind` or its value); `TopicError` listing the kinds otherwise."""
    try:
        return Kind(kind)
    except ValueError:
        raise TopicError(f"unknown kind {kind!r}; allowed: {', '.join(KINDS)}") from None


@dataclass(frozen=True)
class ParsedTopic:
    """The parts of a topic of the scheme."""

    prefix: str
    run: str
    kind: Kind
    agent: str


@dataclass(frozen=True)
class TopicScheme:
    """Topics of one run under one prefix. Validates both on construction."""

    run: str
    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        validate_prefix(self.prefix)
        validate_name(self.run, "run id")

    @property
    def root(self) -> str:
        """`{prefix}/{run}`: every topic of the run starts with it."""
        return f"{self.prefix}/{self.run}"

    def topic(self, kind: Kind | str, agent: str) -> str:
        """The topic on which `agent` publishes (or receives, for `meas`) messages of `kind`."""
        return f"{self.root}/{as_kind(kind).value}/{validate_name(agent, 'agent id')}"

    def filter(self, kind: Kind | str | None = None, agent: str | None = None) -> str:
        """A subscription filter: one kind (or all kinds if None) for one agent (or all if None)."""
        if kind is None:
            if agent is not None:
                raise TopicError("a filter for one agent over all kinds is not expressible; give a kind")
            return f"{self.root}/{MULTI_LEVEL_WILDCARD}"
        who = SINGLE_LEVEL_WILDCARD if agent is None else validate_name(agent, "agent id")
        return f"{self.root}/{as_kind(kind).value}/{who}"

    def parse(self, topic: str) -> ParsedTopic | None:
        """The parts of `topic` if it belongs to this run and prefix, else None."""
        parsed = parse_topic(topic, self.prefix)
        if parsed is None or parsed.run != self.run:
            return None
        return parsed


def parse_topic(topic: str, prefix: str = DEFAULT_PREFIX) -> ParsedTopic | None:
    """The parts of `topic` under `prefix` (any run), or None if it is not of the scheme.

    Never raises on arbitrary strings: a topic from the wire is data, not a program error.
    Results are cached (a run uses few topics, each on every step).
    """
    if not isinstance(topic, str) or not isinstance(prefix, str):
        return None
    return _parse_cached(topic, prefix)


@functools.lru_cache(maxsize=1 << 14)
def _parse_cached(topic: str, prefix: str) -> ParsedTopic | None:
    head = prefix + "/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head) :].split("/")
    if len(parts) == 3:
        run, kind_value, agent = parts
    elif len(parts) == 4:
        run, kind_value, agent = parts[0], f"{parts[1]}/{parts[2]}", parts[3]
    else:
        return None
    kind = _KIND_BY_VALUE.get(kind_value)
    if kind is None or _NAME_RE.fullmatch(run) is None or _NAME_RE.fullmatch(agent) is None:
        return None
    return ParsedTopic(prefix=prefix, run=run, kind=kind, agent=agent)


def agent_filters(scheme: TopicScheme, agent: str, bridge: str = BRIDGE_ID) -> tuple[str, ...]:
    """What an agent subscribes to: its measurements and plan, the bridge's clock and status."""
    return (
        scheme.filter(Kind.MEAS, agent),
        scheme.filter(Kind.PLAN, agent),
        scheme.filter(Kind.CLOCK, bridge),
        scheme.filter(Kind.STATUS, bridge),
    )


def host_filters(scheme: TopicScheme, host: str) -> tuple[str, ...]:
    """What an agent host subscribes to beyond its agents' filters: its measurement and forecast
    batches."""
    return (scheme.filter(Kind.MEAS_BATCH, host), scheme.filter(Kind.FORECAST_BATCH, host))


def bridge_filters(scheme: TopicScheme, batches: bool = False) -> tuple[str, ...]:
    """What the bridge subscribes to: every agent's setpoints and status, and with `batches` every
    agent host's setpoint batches."""
    own = (scheme.filter(Kind.SETPOINT), scheme.filter(Kind.STATUS))
    return (*own, scheme.filter(Kind.SETPOINT_BATCH)) if batches else own
