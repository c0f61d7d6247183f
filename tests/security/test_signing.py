"""The signing middleware without a broker: its HMAC is RFC 2104's, and what it signs verifies
while a changed byte does not."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest

from controllers.messages import (
    AdmmPackedUpdates,
    AdmmUpdateBody,
    AdmmXBatchMessage,
    Message,
    MessageFactory,
    decode,
    encode,
)
from controllers.signing import Keyring, SigningMiddleware, _Mac
from controllers.topics import Kind, TopicScheme


@pytest.mark.parametrize("size", [0, 16, 32, 64, 65, 200])
def test_the_precomputed_hmac_is_hmac_sha256(size: int) -> None:
    key = os.urandom(size)
    for data in (b"", b"x", os.urandom(1000)):
        assert _Mac(key).hexdigest(data) == hmac.new(key, data, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("resigned", [False, True])
def test_a_signed_message_verifies_and_a_changed_one_does_not(resigned: bool) -> None:
    """A fresh message (its JSON spliced) and one that carries a tag already (signed again, the
    general way that MessagePack takes too) give the bytes their own encoding gives, and verify."""
    keys = Keyring(hmac_keys={"b01": os.urandom(32)})
    topic = TopicScheme("r1", "sec").topic(Kind.SETPOINT, "b01")
    signer = SigningMiddleware(keys, epoch=7)
    verifier = SigningMiddleware(keys)
    message: Message = MessageFactory("r1", "b01").setpoint(3, {"p_kw": 2.5})
    if resigned:
        message = SigningMiddleware(keys, epoch=5).outgoing("b01", topic, message)
    signed = signer.outgoing("b01", topic, message)
    payload = encode(signed)
    assert signed.hmac is not None and signed.hmac.startswith("7:")
    assert payload == encode(signed.model_copy())  # the bytes the message's own encoding makes
    assert verifier.incoming("bridge", topic, decode(payload)) is not None  # type: ignore[arg-type]
    changed = decode(payload.replace(b"2.5", b"9.5"))
    assert verifier.incoming("bridge", topic, changed) is None  # type: ignore[arg-type]
    assert verifier.counts == {"bad_signature": 1}


@pytest.mark.parametrize("packed", [False, True], ids=["values", "packed"])
def test_a_hosts_round_batch_is_signed_by_the_host_and_loses_a_revoked_agents_entry(packed: bool) -> None:
    """A host's ADMM round batch (`batch/admm-x`, either form) carries the host's HMAC; after an
    agent is revoked a verifier keeps the batch but drops that agent's entry (counted), and a batch
    of revoked agents only is dropped whole."""
    keys = Keyring(hmac_keys={"agent-host": os.urandom(32)})
    topic = TopicScheme("r1", "sec").topic(Kind.ADMM_X_BATCH, "agent-host")
    update = AdmmUpdateBody(p_net_kw=[1.0, 2.0], local_cost=0.5, solve_time_s=1e-4, solver_iterations=9,
                            solver_status="solved")
    factory = MessageFactory("r1", "agent-host")
    signer, verifier = SigningMiddleware(keys), SigningMiddleware(keys)

    def received(*agents: str) -> Message | None:
        updates = {a: update for a in agents}
        if packed:
            batch, _ = AdmmPackedUpdates.pack(updates)
            assert batch is not None
            message = factory.admm_x_packed(2, 3, batch)
        else:
            message = factory.admm_x_batch(2, 3, updates)
        signed = signer.outgoing("agent-host", topic, message)
        return verifier.incoming("coordinator", topic, decode(encode(signed)))  # type: ignore[arg-type]

    whole = received("b01", "b02")
    assert isinstance(whole, AdmmXBatchMessage) and whole.body.agent_ids() == ["b01", "b02"]
    verifier.revoke("b01")
    kept = received("b01", "b02")
    assert isinstance(kept, AdmmXBatchMessage) and kept.body.agent_ids() == ["b02"]
    assert kept.body.entries()[0].p_net_kw.tolist() == [1.0, 2.0]
    assert received("b01") is None
    assert verifier.counts == {"revoked": 2}


def test_a_verifier_holds_no_payload_it_has_verified() -> None:
    """A message is checked against the bytes it was decoded from (here with spaces the platform's
    own encoding would not write, as another client's JSON may have), and those bytes are then
    forgotten: after many messages the thread holds none of them (it held the last 256 payloads
    and messages, megabytes of forecast batches on a host)."""
    from controllers import messages

    key = os.urandom(32)
    keys = Keyring(hmac_keys={"b01": key})
    topic = TopicScheme("r1", "sec").topic(Kind.SETPOINT, "b01")
    verifier = SigningMiddleware(keys)
    factory = MessageFactory("r1", "b01")
    held = getattr(messages._LOCAL, "received", None)
    if held is not None:  # what earlier tests on this thread decoded and never verified
        held.clear()
    zeros = b"0" * 64
    spaced = b'"hmac": "1:' + zeros + b'"'  # with a space after the colon
    for tick in range(300):
        unsigned = encode(factory.setpoint(tick, {"p_kw": 2.5})).replace(b'"hmac":null', spaced)
        signed_bytes = b"ucosim-sig-v1\n" + topic.encode() + b"\n" + unsigned
        payload = unsigned.replace(zeros, hmac.new(key, signed_bytes, hashlib.sha256).hexdigest().encode(), 1)
        assert verifier.incoming("bridge", topic, decode(payload)) is not None  # type: ignore[arg-type]
    assert verifier.counts == {}
    assert len(getattr(messages._LOCAL, "received", ())) == 0
