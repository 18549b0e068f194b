"""The MQTT boundary without a broker: payload bounds, received messages, properties."""

from __future__ import annotations

import json
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sync.errors import InvalidMessageError, OversizedMessageError, TooDeepMessageError
from sync.mqtt import (
    PayloadLimits,
    ReceivedMessage,
    check_payload,
    correlation_id,
    guard,
    publish_properties,
)

LIMITS = PayloadLimits(max_bytes=1 << 20, max_depth=8)

# Strings full of what a naive scanner would count: brackets, quotes, escapes.
TEXT = st.text(alphabet='[]{}"\\ ab', max_size=6)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | TEXT,
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(TEXT, inner, max_size=3), max_leaves=40)


def depth(value: Any) -> int:
    """Nesting of a parsed value, counted on the Python objects (independent of the code)."""
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def nest(n: int) -> Any:
    value: Any = 1
    for i in range(n):
        value = [value] if i % 2 else {"k[": value}
    return value


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_depth_is_refused_exactly_over_the_limit(value: Any) -> None:
    payload = json.dumps(value).encode()
    if depth(value) > LIMITS.max_depth:
        with pytest.raises(TooDeepMessageError):
            check_payload(payload, LIMITS)
    else:
        check_payload(payload, LIMITS)


@pytest.mark.parametrize("n", [7, 8, 9, 40, 3000])
def test_deep_nesting_at_and_around_the_limit(n: int) -> None:
    payload = json.dumps(nest(n)).encode() if n < 500 else b"[" * n + b"]" * n
    if n > LIMITS.max_depth:
        with pytest.raises(TooDeepMessageError, match="deeper than 8"):
            check_payload(payload, LIMITS)
    else:
        check_payload(payload, LIMITS)


def test_brackets_inside_strings_do_not_count() -> None:
    text = "[" * 50 + '\\"{' * 50
    check_payload(json.dumps({"a": text, "b": [text]}).encode(), LIMITS)


def test_size_is_refused_over_the_limit_and_both_are_invalid_messages() -> None:
    check_payload(b"x" * 100, PayloadLimits(max_bytes=100))
    with pytest.raises(OversizedMessageError, match="101 bytes"):
        check_payload(b"x" * 101, PayloadLimits(max_bytes=100))
    assert issubclass(OversizedMessageError, InvalidMessageError)
    assert issubclass(TooDeepMessageError, InvalidMessageError)


def test_malformed_json_within_the_limit_is_left_to_the_parser() -> None:
    check_payload(b"]" * 30 + b"[" * 8, LIMITS)  # the decoder says "not JSON"
    with pytest.raises(TooDeepMessageError):
        check_payload(b"[" * 9, LIMITS)  # unclosed, but deeper than the limit all the same


def _paho(topic: bytes, payload: bytes, props: Properties | None = None) -> mqtt.MQTTMessage:
    msg = mqtt.MQTTMessage(mid=7, topic=topic)
    msg.payload, msg.qos, msg.retain = payload, 1, True
    if props is not None:
        msg.properties = props
    return msg


def test_a_received_message_is_converted_at_the_boundary() -> None:
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = "a/b"
    props.CorrelationData = b"req-1"
    got = ReceivedMessage.from_paho(_paho(b"smartlib/v1/s/d/lookup", b"{}", props))
    assert got == ReceivedMessage(topic="smartlib/v1/s/d/lookup", payload=b"{}", qos=1, mid=7,
                                  retain=True, response_topic="a/b", correlation=b"req-1")
    assert correlation_id(got, "other") == "req-1"
    bare = ReceivedMessage.from_paho(_paho(b"t", b""))
    assert bare.response_topic is None and correlation_id(bare, "fallback") == "fallback"


def test_a_topic_that_is_not_utf8_does_not_raise() -> None:
    got = ReceivedMessage.from_paho(_paho(b"smartlib/v1/\xff/d/tx", b"{}"))
    assert "\ufffd" in got.topic


def test_correlation_data_that_is_not_utf8_is_an_invalid_message() -> None:
    with pytest.raises(InvalidMessageError, match="UTF-8"):
        correlation_id(ReceivedMessage(topic="t", payload=b"", correlation=b"\xff"), "x")


def test_publish_properties() -> None:
    assert publish_properties() is None
    props = publish_properties(expiry_s=2.2, response_topic="r", correlation=b"c")
    assert props is not None
    assert (props.MessageExpiryInterval, props.ResponseTopic, props.CorrelationData) == (
        3, "r", b"c")


def test_a_guarded_callback_logs_and_counts_and_never_raises(caplog: Any) -> None:
    errors: list[BaseException] = []

    def callback(_x: int) -> None:
        raise RecursionError("deep")

    guarded = guard("on_message", callback, errors.append)
    assert guarded(1) is None
    assert [type(e) for e in errors] == [RecursionError]
    assert "MQTT callback on_message failed" in caplog.text
