"""Garbage on the SIP2 port (issue 18, "Bad input"): the demo ILS answers with bytes that
are not SIP2 (a broken proxy's HTML page, binary noise) after applying a checkout. The
gateway's SIP2 client refuses the answer with a typed error, the gateway logs it, finds out
what the ILS did (the outcome is unknown, so it checks before any resend), applies the
checkout exactly once and answers it, and goes on serving; a look-up answered with garbage
is answered ``ok=False`` naming the typed error, and the next one works."""

from __future__ import annotations

import json
import logging

import pytest

from sync import topics
from sync.messages import LookupRequest, LookupResponse, decode, encode, utcnow
from tests.sync.gateway.harness import (
    PATRON,
    SITE,
    SyncEnv,
    applied_keys,
    items,
    mqtt_client,
    new_key,
)
from tests.sync.gateway.test_bad_input import _request, _still_serves

NOISE = [b"\x00\xff<html>502 Bad Gateway</html>\r", bytes(range(256)) + b"\r",
         b"64garbage|AOnot|really\r"]


@pytest.mark.parametrize("noise", NOISE, ids=["html", "binary", "sip2-like"])
def test_a_checkout_answered_with_garbage_is_applied_once_and_answered(
        sync_env: SyncEnv, noise: bytes, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    gw = sync_env.start_gateway()
    with mqtt_client(sync_env.broker.port) as dev:
        dev.subscribe(topics.result(SITE, "kiosk-01"))
        sync_env.ils.garbage_next_responses(1, noise)
        req = _request(items(1)[0])
        assert dev.publish(topics.tx(SITE, "kiosk-01"), encode(req)) == 0
        got = json.loads(dev.get(30).payload)
        assert got["key"] == req.key
        assert got["status"] == "applied", (got, caplog.text[-3000:])
        _still_serves(dev, items(1, start=30000250)[0])
    assert sync_env.ils.counters["garbage"] == 1
    assert applied_keys(sync_env.ils).count(req.key) == 1
    assert "ILS problem" in caplog.text and "will verify" in caplog.text  # logged, checked later
    assert gw.stats["callback_errors"] == 0


def test_a_lookup_answered_with_garbage_is_refused_and_the_next_one_works(
        sync_env: SyncEnv) -> None:
    sync_env.start_gateway()
    with mqtt_client(sync_env.broker.port) as dev:
        dev.subscribe(topics.lookup_reply(SITE, "kiosk-01"))
        answers = []
        for garbage in (True, False):
            if garbage:
                sync_env.ils.garbage_next_responses(1)
            req = LookupRequest(request_id=new_key(), kind="patron", site=SITE,
                                device="kiosk-01", patron=PATRON, created_at=utcnow())
            assert dev.publish(topics.lookup(SITE, "kiosk-01"), encode(req)) == 0
            answers.append(decode(LookupResponse, dev.get(30).payload))
    bad, good = answers
    assert bad.ok is False and "Sip2" in (bad.error or ""), bad
    assert good.ok is True, good
