"""Topics: one scheme, validated names, parse is the inverse of build and never raises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controllers.topics import (
    BRIDGE_ID,
    KINDS,
    Kind,
    ParsedTopic,
    TopicError,
    TopicScheme,
    agent_filters,
    bridge_filters,
    parse_topic,
    validate_name,
)


def test_build_and_parse_every_kind() -> None:
    scheme = TopicScheme(run="run-1", prefix="lab/ucosim")
    for kind in Kind:
        topic = scheme.topic(kind, "b_07")
        assert topic == f"lab/ucosim/run-1/{kind.value}/b_07"
        assert scheme.parse(topic) == ParsedTopic("lab/ucosim", "run-1", kind, "b_07")
    kinds = {"meas", "setpoint", "plan", "forecast", "admm/x", "admm/z", "admm/stats", "alarm", "clock",
             "status",
             "batch/meas", "batch/setpoint", "batch/admm-x", "batch/forecast"}
    assert set(KINDS) == kinds


def test_kind_given_as_string() -> None:
    assert TopicScheme(run="r").topic("admm/z", "coord") == "ucosim/r/admm/z/coord"
    with pytest.raises(TopicError, match="allowed"):
        TopicScheme(run="r").topic("admm", "coord")


@pytest.mark.parametrize("name", ["", "a/b", "+", "#", "a b", "$SYS", "x" * 65, "é"])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(TopicError):
        validate_name(name)
    with pytest.raises(TopicError):
        TopicScheme(run=name)
    with pytest.raises(TopicError):
        TopicScheme(run="r").topic(Kind.MEAS, name)


def test_invalid_prefixes_are_refused() -> None:
    for prefix in ["", "/a", "a/", "a//b", "a/+/b", "#"]:
        with pytest.raises(TopicError):
            TopicScheme(run="r", prefix=prefix)


def test_filters() -> None:
    scheme = TopicScheme(run="r", prefix="p")
    assert scheme.filter() == "p/r/#"
    assert scheme.filter(Kind.SETPOINT) == "p/r/setpoint/+"
    assert scheme.filter(Kind.ADMM_X, "a1") == "p/r/admm/x/a1"
    with pytest.raises(TopicError):
        scheme.filter(None, "a1")
    assert agent_filters(scheme, "a1") == ("p/r/meas/a1", "p/r/plan/a1", f"p/r/clock/{BRIDGE_ID}",
                                           f"p/r/status/{BRIDGE_ID}")
    assert bridge_filters(scheme) == ("p/r/setpoint/+", "p/r/status/+")


def test_parse_rejects_foreign_topics() -> None:
    scheme = TopicScheme(run="r", prefix="p")
    for topic in ["p/r", "p/r/meas", "p/r/meas/", "p/r/meas/a/b", "p/r/nokind/a", "q/r/meas/a",
                  "p/other/meas/a", "p/r/admm/y/a", "p/r/admm/x/+", "$SYS/broker/uptime"]:
        assert scheme.parse(topic) is None, topic
    assert parse_topic("p/other/meas/a", "p") == ParsedTopic("p", "other", Kind.MEAS, "a")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_parse_never_raises(topic: str) -> None:
    parsed = TopicScheme(run="r", prefix="p").parse(topic)
    assert parsed is None or isinstance(parsed, ParsedTopic)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[A-Za-z0-9_.\-]{1,64}", fullmatch=True), st.sampled_from(list(Kind)))
def test_parse_inverts_build(agent: str, kind: Kind) -> None:
    scheme = TopicScheme(run="r", prefix="p")
    assert scheme.parse(scheme.topic(kind, agent)) == ParsedTopic("p", "r", kind, agent)
