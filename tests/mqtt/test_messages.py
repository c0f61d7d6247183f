"""Messages: every kind round-trips; garbage and wrong schemas are dropped and counted, never raise."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, TypeAdapter

from controllers.messages import (
    MAX_BATCH_AGENTS,
    MAX_ENTRIES,
    MAX_PAYLOAD_BYTES,
    MESSAGE_TYPES,
    PACKED_FLOAT_BYTES,
    AdmmBroadcastBody,
    AdmmPackedUpdates,
    AdmmStatsBody,
    AdmmUpdateBody,
    AdmmXBatchMessage,
    ClockMessage,
    Codec,
    DecodeError,
    DropCounter,
    DropReason,
    ForecastBatchMessage,
    MeasMessage,
    Message,
    MessageFactory,
    RoundUpdate,
    SetpointMessage,
    batch_chunks,
    decode,
    decode_for_topic,
    encode,
    forecast_chunks,
    msgpack_available,
    sign,
    verify,
)
from controllers.runtime.host import round_chunks
from controllers.topics import Kind, TopicScheme

MESSAGE_KINDS = {k.value for k in MESSAGE_TYPES}
UPDATE = AdmmUpdateBody(
    p_net_kw=[0.1, 0.2], local_cost=0.3, solve_time_s=1e-4, solver_iterations=25, solver_status="solved"
)
BROADCAST = AdmmBroadcastBody(
    rho=0.5, rows=1, steps=2, x_mean=[0.0, -1.0], z_mean=[0.0, 0.0], u_scaled=[0.1, 0.2]
)
STATS = AdmmStatsBody(
    iterations=7,
    converged=True,
    objective=1.25,
    max_violation_kw=0.0,
    p_planned_step0_kw=3.5,
    rounds_wall_ms=12.0,
    sum_solve_time_ms=4.0,
)


def every_kind(factory: MessageFactory) -> list[Message]:
    return [
        factory.meas(3, {"p_kw": 1.5, "soc": None}, time_s=2700),
        factory.setpoint(3, {"battery_p_kw": -2.0, "t_set_c": None}, iteration=4),
        factory.plan(0, start_s=0, step_s=900, values={"p_kw": [1.0, 2.0, 3.0]}),
        factory.forecast(3, 2700, 900, {"t_out_c": [1.0, 2.0], "price_per_kwh": [0.2, 0.3]}),
        factory.admm_x(3, 7, UPDATE),
        factory.admm_z(3, 7, BROADCAST),
        factory.admm_stats(3, STATS),
        factory.alarm(3, "chi2", "b1", severity="critical", score=12.5, detail="residual too large"),
        factory.clock(3, 2700, step_s=900, deadline_unix_s=1.7e9, final=False),
        factory.status(3, "online", "ready"),
        factory.meas_batch(3, {"b1": {"p_kw": 1.5}, "b2": {"soc": None}}, time_s=2700, partial_after_s=0.5),
        factory.setpoint_batch(3, {"b1": {"battery_p_kw": -2.0}, "b2": {"t_set_c": None}}),
        factory.admm_x_batch(3, 7, {"b1": UPDATE, "b2": UPDATE}),
        factory.forecast_batch(3, 2700, 900, {"b1": {"t_out_c": [1.0, 2.0]}, "b2": {"load_kw": [0.5]}}),
    ]


def test_every_kind_round_trips_through_json() -> None:
    factory = MessageFactory("run1", "bridge", clock=lambda: 1234.5)
    messages = every_kind(factory)
    assert {m.kind for m in messages} == {k.value for k in Kind}
    for message in messages:
        payload = encode(message)
        assert payload.startswith(b"{")
        assert decode(payload) == message


def test_encoding_is_the_message_unions_json() -> None:
    """`encode` uses each model's own serializer; the bytes are those of the tagged union's."""
    union: TypeAdapter[Message] = TypeAdapter(Annotated[Message, Field(discriminator="kind")])
    factory = MessageFactory("run1", "bridge", clock=lambda: 1234.5)
    for message in [*every_kind(factory), sign(factory.setpoint(1, {"x": -0.0, "y": 1e308}), b"key")]:
        assert encode(message) == encode(message, "json") == union.dump_json(message)


def test_factory_stamps_sequence_and_time() -> None:
    times = iter([10.0, 11.0])
    factory = MessageFactory("run1", "b1", clock=lambda: next(times))
    first, second = factory.setpoint(0, {"x_kw": 1.0}), factory.setpoint(1, {"x_kw": 1.0})
    assert (first.seq, second.seq) == (0, 1)
    assert (first.ts_s, second.ts_s) == (10.0, 11.0)
    assert first.sender == "b1" and first.run == "run1" and first.v == 1


def test_example_payload_from_the_docs_decodes() -> None:
    payload = (
        b'{"v": 1, "kind": "meas", "run": "demo", "tick": 12, "iteration": null, "sender": "bridge",'
        b' "seq": 345, "ts_s": 1767225600.123, "hmac": null,'
        b' "body": {"time_s": 10800, "values": {"p_kw": 3.2, "pv_kw": 0.0, "soc": 0.41}}}'
    )
    message = decode(payload)
    assert isinstance(message, MeasMessage)
    assert message.body.values["soc"] == pytest.approx(0.41)


def test_invalid_values_are_refused_when_building() -> None:
    factory = MessageFactory("run1", "a1")
    with pytest.raises(ValueError, match="finite"):
        factory.setpoint(0, {"p_kw": float("nan")})
    with pytest.raises(ValueError):
        factory.setpoint(-1, {"p_kw": 1.0})
    with pytest.raises(ValueError):
        factory.setpoint(0, {"bad key": 1.0})


VALID = json.loads(encode(MessageFactory("r", "a").setpoint(1, {"p_kw": 1.0})))


def variant(**changes: object) -> bytes:
    data = dict(VALID)
    for key, value in changes.items():
        if value is ...:
            data.pop(key)
        else:
            data[key] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", DropReason.MALFORMED),
        (b"{", DropReason.MALFORMED),
        (b"[1, 2]", DropReason.MALFORMED),
        (b"null", DropReason.MALFORMED),
        (b"\xff\xfe\x00garbage", DropReason.MALFORMED),
        (b'{"kind": "setpoint", "v": 1}', DropReason.SCHEMA),
        (variant(v=2), DropReason.VERSION),
        (variant(kind="teleport"), DropReason.UNKNOWN_KIND),
        (variant(kind=...), DropReason.UNKNOWN_KIND),
        (variant(tick=-3), DropReason.SCHEMA),
        (variant(tick="3"), DropReason.SCHEMA),
        (variant(sender="a/b"), DropReason.SCHEMA),
        (variant(extra=1), DropReason.SCHEMA),
        (variant(body={"values": {"p_kw": "high"}}), DropReason.SCHEMA),
        (variant(hmac="not-hex"), DropReason.SCHEMA),
        (b'{"v":1,"kind":"setpoint","body":{"values":{"p_kw":NaN}}}', DropReason.SCHEMA),
        (b"{" + b" " * MAX_PAYLOAD_BYTES + b"}", DropReason.TOO_LARGE),
    ],
)
def test_bad_payloads_are_dropped_with_a_reason(payload: bytes, reason: DropReason) -> None:
    counter = DropCounter()
    result = decode(payload, counter)
    assert isinstance(result, DecodeError)
    assert result.reason is reason, result.detail
    assert result.size_bytes == len(payload)
    assert counter.by_reason() == {reason.value: 1}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_raise_and_are_counted(payload: bytes) -> None:
    counter = DropCounter()
    result = decode(payload, counter)
    assert isinstance(result, DecodeError) == (counter.total == 1)
    assert isinstance(result, DecodeError) or result.kind in MESSAGE_KINDS


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from([*VALID, "x", "kind"]), json_values, max_size=12))
def test_wrong_schemas_never_raise(data: dict[str, object]) -> None:
    counter = DropCounter()
    result = decode(json.dumps(data).encode(), counter)
    assert isinstance(result, DecodeError) == (counter.total == 1)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"[a-z_]{1,10}", fullmatch=True),
        st.none() | st.floats(allow_nan=False, allow_infinity=False),
        max_size=8,
    ),
    st.integers(min_value=0, max_value=10**9),
)
def test_setpoint_round_trip_property(values: dict[str, float | None], tick: int) -> None:
    message = MessageFactory("r", "a").setpoint(tick, values)
    assert decode(encode(message)) == message


def test_decode_for_topic_checks_run_kind_and_sender() -> None:
    scheme = TopicScheme(run="r1", prefix="p")
    counter = DropCounter()
    own = MessageFactory("r1", "a1").setpoint(0, {"x_kw": 1.0})
    assert decode_for_topic(scheme.parse(scheme.topic(Kind.SETPOINT, "a1")), encode(own), counter) == own
    spoofed = decode_for_topic(scheme.parse(scheme.topic(Kind.SETPOINT, "a2")), encode(own), counter)
    assert isinstance(spoofed, DecodeError) and spoofed.reason is DropReason.TOPIC_MISMATCH
    wrong_kind = decode_for_topic(scheme.parse(scheme.topic(Kind.ALARM, "a1")), encode(own), counter)
    assert isinstance(wrong_kind, DecodeError) and wrong_kind.reason is DropReason.TOPIC_MISMATCH
    other_run = MessageFactory("r2", "a1").setpoint(0, {"x_kw": 1.0})
    wrong_run = decode_for_topic(scheme.parse(scheme.topic(Kind.SETPOINT, "a1")), encode(other_run), counter)
    assert isinstance(wrong_run, DecodeError) and wrong_run.reason is DropReason.WRONG_RUN
    # measurements are addressed to the agent in the topic, sent by the bridge
    meas = MessageFactory("r1", "bridge").meas(0, {"p_kw": 1.0})
    meas_topic = scheme.parse(scheme.topic(Kind.MEAS, "a1"))
    assert isinstance(decode_for_topic(meas_topic, encode(meas)), MeasMessage)
    assert counter.by_reason() == {"topic_mismatch": 2, "wrong_run": 1}


def test_sign_and_verify() -> None:
    message = MessageFactory("r1", "a1").clock(5, 4500)
    signed = sign(message, b"key-a1")
    assert signed.hmac is not None and verify(signed, b"key-a1")
    assert not verify(signed, b"other-key")
    assert not verify(message, b"key-a1")
    tampered = signed.model_copy(update={"tick": 6})
    assert not verify(tampered, b"key-a1")
    decoded = decode(encode(signed))
    assert isinstance(decoded, ClockMessage) and verify(decoded, b"key-a1")


def test_msgpack_codec() -> None:
    message = MessageFactory("r1", "a1").setpoint(2, {"p_kw": 1.0})
    if not msgpack_available():
        with pytest.raises(RuntimeError, match="msgpack"):
            encode(message, Codec.MSGPACK)
        return
    payload = encode(message, Codec.MSGPACK)
    assert not payload.startswith(b"{")
    result = decode(payload)
    assert isinstance(result, SetpointMessage) and result == message


def test_batch_chunks_fit_one_message_each() -> None:
    small = {f"b{i}": {"p_kw": 1.0, "soc": None} for i in range(100)}
    assert batch_chunks(small) == [small]  # a typical host: one message
    many = {f"b{i}": {"p_kw": 1.0} for i in range(MAX_BATCH_AGENTS + 5)}
    assert [len(c) for c in batch_chunks(many)] == [MAX_BATCH_AGENTS, 5]
    name = "n" * 64
    wide = {
        f"b{i:02d}": {f"{name[:60]}{j:04d}": -1.2345678901234567e-308 for j in range(MAX_ENTRIES)}
        for i in range(30)
    }
    chunks = batch_chunks(wide)
    assert len(chunks) > 1 and [a for c in chunks for a in c] == list(wide)  # every agent once, in order
    factory = MessageFactory("run1", "bridge")
    for chunk in chunks:  # each one a valid message within the size limit
        payload = encode(factory.meas_batch(0, chunk, time_s=0, partial_after_s=1.0))
        assert len(payload) <= MAX_PAYLOAD_BYTES and not isinstance(decode(payload), DecodeError)


def test_round_batches_fit_one_message_each() -> None:
    """A large host's round updates (a day at 1-minute steps, the longest floats) split into
    messages within the size limit, every agent once and in order (`AgentHost`'s round batches)."""
    update = AdmmUpdateBody(p_net_kw=[-1.2345678901234567e-308] * 1440, local_cost=-1.2345678901234567e-308,
                            solve_time_s=1.2345678901234567e-308, solver_iterations=10**9,
                            solver_status="s" * 64)
    updates = {f"agent-{i:04d}-{'n' * 50}": update for i in range(120)}
    chunks = round_chunks(updates)
    assert len(chunks) > 1 and [a for c in chunks for a in c] == list(updates)
    factory = MessageFactory("run1", "host-0")
    for chunk in chunks:
        packed, rejected = AdmmPackedUpdates.pack(chunk)
        assert packed is not None and not rejected
        payload = encode(factory.admm_x_packed(0, 3, packed))
        assert len(payload) <= MAX_PAYLOAD_BYTES and not isinstance(decode(payload), DecodeError)
    assert round_chunks({"b1": update}) == [{"b1": update}]


def test_forecast_batches_fit_one_message_each() -> None:
    """A large host's forecasts (a day at 1-minute steps, the longest floats and names) split into
    messages within the size limit, every agent once and in order (the bridge's forecast batches)."""
    series = {f"series-{k}-{'s' * 50}": [-1.2345678901234567e-308] * 1440 for k in range(3)}
    forecasts = {f"agent-{i:04d}-{'n' * 50}": series for i in range(20)}
    chunks = forecast_chunks(forecasts)
    assert len(chunks) > 1 and [a for c in chunks for a in c] == list(forecasts)
    factory = MessageFactory("run1", "bridge")
    for chunk in chunks:
        payload = encode(factory.forecast_batch(0, 0, 60, chunk))
        assert len(payload) <= MAX_PAYLOAD_BYTES and not isinstance(decode(payload), DecodeError)
    assert forecast_chunks({"b1": series}) == [{"b1": series}]
    forecasts = {f"agent-{i:04d}-{'n' * 50}": series for i in range(40)}
    packed_chunks = forecast_chunks(forecasts, PACKED_FLOAT_BYTES)
    assert 1 < len(packed_chunks) < len(forecast_chunks(forecasts))
    for chunk in packed_chunks:
        payload = encode(factory.forecast_packed(0, 0, 60, chunk))
        assert len(payload) <= MAX_PAYLOAD_BYTES and not isinstance(decode(payload), DecodeError)


def test_a_packed_forecast_batch_gives_each_agent_the_same_forecast() -> None:
    """The packed form (`ForecastGroup`s: agents with the same series together) decodes to the
    forecasts the `values` form carries, bit for bit, for agents of different kinds."""
    rng = np.random.default_rng(3)
    forecasts = {
        "b1": {"p_kw": rng.normal(size=4).tolist(), "t_c": [20.0, 21.5, 0.1, -3e-7]},
        "b2": {"p_kw": rng.normal(size=4).tolist(), "t_c": rng.normal(size=4).tolist()},
        "s1": {"soc": [0.5], "p_kw": [1e300, -1e-300]},
        "e1": {"none": []},
    }
    factory = MessageFactory("run1", "bridge", clock=lambda: 5.0)
    packed = decode(encode(factory.forecast_packed(3, 2700, 900, forecasts)))
    values = MessageFactory("run1", "bridge", clock=lambda: 5.0).forecast_batch(3, 2700, 900, forecasts)
    assert isinstance(packed, ForecastBatchMessage) and packed.body.packed is not None
    assert len(packed.body.packed) == 3 and sorted(packed.body.agent_ids()) == sorted(forecasts)
    for agent in forecasts:
        assert packed.forecast(agent) == values.forecast(agent)
        arrays, from_values = packed.body.arrays_of(agent), values.body.arrays_of(agent)
        assert list(arrays) == list(from_values) == list(forecasts[agent])
        for name, array in arrays.items():  # the same numbers as arrays, read-only views of the rows
            np.testing.assert_array_equal(array, forecasts[agent][name])
            np.testing.assert_array_equal(from_values[name], forecasts[agent][name])
            assert array.dtype == np.float64 and not array.flags.writeable
    with pytest.raises(KeyError):
        packed.forecast("b3")
    with pytest.raises(KeyError):
        packed.body.arrays_of("b3")
    with pytest.raises(ValueError, match="s1"):
        factory.forecast_packed(3, 2700, 900, {"s1": {"soc": [float("nan")]}})


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda g: g | {"data": g["data"][:-4]}, "float64 values"),
        (lambda g: g | {"data": "!" + g["data"][1:]}, "base64"),
        (lambda g: g | {"data": base64.b64encode(np.full(4, np.nan).tobytes()).decode()}, "finite"),
        (lambda g: g | {"lengths": [2]}, "one entry per name"),
        (lambda g: g | {"agents": ["b1", "b1"]}, "repeat"),
    ],
)
def test_a_malformed_packed_forecast_batch_is_dropped_with_a_schema_error(change: Any, reason: str) -> None:
    factory = MessageFactory("run1", "bridge")
    forecasts = {"b1": {"a": [1.0], "b": [2.0]}, "b2": {"a": [3.0], "b": [4.0]}}
    message = factory.forecast_packed(0, 0, 900, forecasts)
    raw = json.loads(encode(message))
    raw["body"]["packed"][0] = change(raw["body"]["packed"][0])
    dropped = decode(json.dumps(raw).encode())
    assert isinstance(dropped, DecodeError) and dropped.reason is DropReason.SCHEMA
    assert reason in dropped.detail


def test_a_packed_forecast_batch_names_each_agent_once() -> None:
    factory = MessageFactory("run1", "bridge")
    raw = json.loads(encode(factory.forecast_packed(0, 0, 900, {"b1": {"a": [1.0]}, "b2": {"c": [2.0]}})))
    raw["body"]["packed"][1]["agents"] = ["b1"]
    dropped = decode(json.dumps(raw).encode())
    assert isinstance(dropped, DecodeError) and "each agent once" in dropped.detail


def test_an_agents_forecast_from_its_batch() -> None:
    """An agent's entry of a forecast batch is the forecast it would have had on its own topic."""
    factory = MessageFactory("run1", "bridge", clock=lambda: 5.0)
    batch = factory.forecast_batch(3, 2700, 900, {"b1": {"p_kw": [1.5, 2.0]}, "b2": {"t_c": [20.0]}})
    single = MessageFactory("run1", "bridge", clock=lambda: 5.0).forecast(3, 2700, 900, {"t_c": [20.0]})
    assert batch.forecast("b2") == single
    with pytest.raises(KeyError):
        batch.forecast("b3")


def test_an_agents_measurement_from_its_batch() -> None:
    factory = MessageFactory("run1", "bridge", clock=lambda: 5.0)
    batch = factory.meas_batch(3, {"b1": {"p_kw": 1.5}, "b2": {"soc": None}}, time_s=2700)
    single = MessageFactory("run1", "bridge", clock=lambda: 5.0).meas(3, {"soc": None}, time_s=2700)
    assert batch.measurement("b2") == single
    with pytest.raises(KeyError):
        batch.measurement("b3")


def _round_updates(n: int, steps: int = 96) -> dict[str, RoundUpdate]:
    rng = np.random.default_rng(7)
    return {f"b{i}": RoundUpdate(rng.normal(3.0, 2.0, steps), float(i), 1e-3 * i, i, "solved")
            for i in range(n)}


def test_a_packed_round_batch_round_trips_and_reads_as_the_values_form() -> None:
    """The packed form (`AdmmPackedUpdates`) decodes to the same numbers bit for bit, its entries
    equal those of the same updates sent as `values`, and it takes ~half the bytes."""
    updates = _round_updates(50)
    factory = MessageFactory("run1", "host-0")
    packed, rejected = AdmmPackedUpdates.pack(updates)
    assert packed is not None and rejected == []
    message = factory.admm_x_packed(2, 5, packed)
    payload = encode(message)
    back = decode(payload)
    assert isinstance(back, AdmmXBatchMessage) and back == message
    as_values = factory.admm_x_batch(2, 5, {a: u.body() for a, u in updates.items()})
    assert len(payload) < 0.65 * len(encode(as_values))
    for got, want in zip(back.body.entries(), as_values.body.entries(), strict=True):
        assert got.agent == want.agent and np.array_equal(got.p_net_kw, want.p_net_kw)
        assert got[2:] == want[2:]
    left = back.body.without({"b1", "b7"})
    assert left is not None and left.agent_ids() == [a for a in updates if a not in ("b1", "b7")]
    assert np.array_equal(left.entries()[1].p_net_kw, updates["b2"].p_net_kw)
    assert back.body.without(set(updates)) is None


def test_packing_leaves_out_the_updates_that_are_not_valid() -> None:
    """An update with a value not finite, a negative solve time or another number of steps is left
    out (and named), the others are packed."""
    updates: dict[str, AdmmUpdateBody | RoundUpdate] = dict(_round_updates(4))
    updates["nan"] = RoundUpdate(np.full(96, np.nan), 0.0, 0.0, 1, "solved")
    updates["short"] = RoundUpdate(np.zeros(95), 0.0, 0.0, 1, "solved")
    updates["time"] = RoundUpdate(np.zeros(96), 0.0, -1.0, 1, "solved")
    updates["body"] = AdmmUpdateBody(p_net_kw=[1.0] * 96, local_cost=2.0, solve_time_s=0.0,
                                     solver_iterations=3, solver_status="solved")
    packed, rejected = AdmmPackedUpdates.pack(updates)
    assert rejected == ["nan", "short", "time"]
    assert packed is not None and packed.agents == ["b0", "b1", "b2", "b3", "body"]
    assert packed.rows()[4].tolist() == [1.0] * 96
    assert AdmmPackedUpdates.pack({"nan": updates["nan"]}) == (None, ["nan"])


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda p: p | {"p_net_kw": p["p_net_kw"][:-4]}, "2 × 96 = 192 float64 values"),
        (lambda p: p | {"p_net_kw": "%%" + p["p_net_kw"][2:]}, "base64"),
        (lambda p: p | {"p_net_kw": base64.b64encode(np.full(2 * 96, np.inf).tobytes()).decode()}, "finite"),
        (lambda p: p | {"agents": ["b0", "b0"]}, "repeat"),
        (lambda p: p | {"local_cost": [1.0]}, "entries each"),
        (lambda p: p | {"solve_time_s": [0.0, -1.0]}, "greater than or equal"),
    ],
)
def test_a_malformed_packed_batch_is_dropped_with_a_schema_error(change: Any, reason: str) -> None:
    """Wrong size, not base64, infinities, repeated agents, short columns, out of range: SCHEMA."""
    packed, _ = AdmmPackedUpdates.pack(_round_updates(2))
    assert packed is not None
    message = MessageFactory("run1", "host-0").admm_x_packed(0, 1, packed)
    raw = json.loads(encode(message))
    raw["body"]["packed"] = change(raw["body"]["packed"])
    dropped = decode(json.dumps(raw).encode())
    assert isinstance(dropped, DecodeError) and dropped.reason is DropReason.SCHEMA
    assert reason in dropped.detail


def test_a_round_batch_has_exactly_one_form() -> None:
    """Neither or both of `values` and `packed`: not a valid batch."""
    factory = MessageFactory("run1", "host-0")
    packed, _ = AdmmPackedUpdates.pack(_round_updates(1))
    raw = json.loads(encode(factory.admm_x_packed(0, 1, packed)))  # type: ignore[arg-type]
    both = dict(raw, body=dict(raw["body"], values={"b0": _round_updates(1)["b0"].body().model_dump()}))
    neither = dict(raw, body={"values": None, "packed": None})
    for case in (both, neither):
        dropped = decode(json.dumps(case).encode())
        assert isinstance(dropped, DecodeError) and dropped.reason is DropReason.SCHEMA


def test_the_benchmark_costs_a_host_batch_of_any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """`bench_admm_mqtt --breakdown` costs the round batches of a host of 1,000 agents, which need
    two messages (one was over the payload limit, and the breakdown failed at N = 10,000)."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_admm_mqtt import message_costs_s

    for n_updates in (10, 1000):
        encode_s, decode_s = message_costs_s(n_updates, repeat=1)
        assert encode_s > 0 and decode_s > 0


def test_the_benchmark_reports_an_abandoned_centralised_solve(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bench_admm_mqtt` shows a centralised solve abandoned at its timeout as "> T" with the ratio
    "> T / step" and the gap against the certified bound, not as "skipped" (not run)."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_admm_mqtt import Mqtt, Row, Step, TimedOut, print_table

    steps = (Step(17, True, 30.0, 100.0, 0.0, 1.0, bound=99.99),
             Step(6, True, 6.0, 100.0, 0.0, 1.0, bound=99.9))
    run = Mqtt(steps, 10, 1.0)
    for central, shown in (((TimedOut(120.0), TimedOut(120.0)), "| > 120 / > 120 | > 4.0 / > 20.0 |"),
                           ((None, None), "| skipped / skipped | n/a / n/a |")):
        print_table([Row(10000, 10, (run,), (), None, central, 1.0)])
        out = capsys.readouterr().out
        assert shown in out
        assert "≤ 0.0100 % (bound) / ≤ 0.1001 % (bound)" in out
