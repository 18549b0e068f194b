"""The gateway's answers that change nothing at the ILS: look-ups and snapshot requests.

A look-up (patron, item, account, ILS status) is asked of the site's ILS through its
:class:`~sync.gateway.applier.Applier` and answered on the device's reply topic with the
request's correlation data. A sealed PIN (``pin_sealed``) is opened here with the site
gateways' private key, in memory only, just for the SIP2 request; a gateway without the
key (or with the wrong one) refuses the look-up with ``reason="pin_unsealable"``, logged.
A snapshot request is answered with the last import of each
kind on the device's ``…/snapshot/reply`` (a gate gets the patron-free one).

This module must not import ``edge``, nor log or keep an opened PIN.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from smartlib.errors import SealError, SecretWithheldError
from smartlib.logs import secret_scope
from smartlib.sealing import open_pin
from sync import topics
from sync.errors import InvalidMessageError, Sip2Error
from sync.gateway.applier import Applier
from sync.gateway.cachefeed import GATE_KINDS
from sync.gateway.ledger import Ledger
from sync.messages import LookupRequest, LookupResponse, SnapshotRequest, encode
from sync.mqtt import ReceivedMessage, publish_properties

log = logging.getLogger(__name__)


class Replies:
    """Answers look-ups and snapshot requests (on the gateway's SIP2 threads)."""

    def __init__(self, *, appliers: dict[str, Applier], ledger: Ledger, client: mqtt.Client,
                 count: Callable[..., None], pin_key: Any = None) -> None:
        """``pin_key``: the site gateways' private key (a PyNaCl ``PrivateKey``) that
        opens sealed PINs; None: every look-up with a PIN is refused."""
        self.appliers = appliers
        self.pin_key = pin_key
        self.ledger = ledger
        self.client = client
        self._count = count

    def lookup(self, req: LookupRequest, msg: ReceivedMessage | None) -> None:
        """Ask the ILS and answer; an ILS problem or an invalid look-up is answered
        ``ok=False`` with the reason; so is a sealed PIN this gateway cannot open."""
        if req.pin_sealed is not None:
            try:
                if self.pin_key is None:
                    raise SealError("this gateway has no [gateway] private_key_file")
                req = req.with_pin(open_pin(req.pin_sealed, self.pin_key))
            except SealError as exc:
                self._count("pin_unsealable")
                log.error("look-up %s from %s/%s refused: the sealed PIN cannot be opened: %s",
                          req.request_id, req.site, req.device, exc)
                self.reply_lookup(req, msg, LookupResponse(
                    request_id=req.request_id, kind=req.kind, ok=False,
                    reason="pin_unsealable", error=f"PIN cannot be opened: {exc}"))
                return
        try:
            # the opened PIN: masked in every log line, withheld from every error message
            with secret_scope(req.pin):
                resp = self.appliers[req.site].lookup(req)
        except SecretWithheldError as exc:
            log.error("look-up %s failed: %s", req.request_id, exc)
            resp = LookupResponse(request_id=req.request_id, kind=req.kind, ok=False,
                                  error=f"look-up failed: {exc.original_type}")
        except Sip2Error as exc:
            log.warning("look-up %s: ILS problem: %s", req.request_id, exc)
            resp = LookupResponse(request_id=req.request_id, kind=req.kind, ok=False,
                                  error=f"ILS unavailable: {type(exc).__name__}")
        except InvalidMessageError as exc:
            self._count("rejected")
            log.warning("look-up %s rejected: %s", req.request_id, exc)
            resp = LookupResponse(request_id=req.request_id, kind=req.kind, ok=False,
                                  error=f"invalid look-up: {exc}")
        self._count("lookups")
        self.reply_lookup(req, msg, resp)

    def reply_lookup(self, req: LookupRequest, msg: ReceivedMessage | None,
                     resp: LookupResponse) -> None:
        """Publish ``resp`` on the device's reply topic, with the request's correlation data."""
        expected = topics.lookup_reply(req.site, req.device)
        reply_to = (msg.response_topic if msg is not None else None) or expected
        if reply_to != expected:
            log.warning("look-up %s asks for replies on %s; using %s", req.request_id, reply_to,
                        expected)
        corr = msg.correlation if msg is not None and msg.correlation else req.request_id.encode()
        self.client.publish(expected, encode(resp), qos=1,
                            properties=publish_properties(correlation=corr))

    def snapshot(self, req: SnapshotRequest) -> None:
        """Answer a snapshot request with the last import of each kind, on the device's topic."""
        topic = topics.snapshot_reply(req.site, req.device)
        sent = 0
        gate = req.role == "gate"
        for kind in req.kinds:
            if gate and kind not in GATE_KINDS:
                continue  # gates get no patron data
            for payload in self.ledger.snapshot(req.site, f"gate/{kind}" if gate else kind):
                self.client.publish(topic, payload.encode(), qos=1)
                sent += 1
        self._count("snapshots")
        log.info("snapshot request %s from %s/%s (%s): %d chunk(s) sent", req.request_id,
                 req.site, req.device, req.reason, sent)
