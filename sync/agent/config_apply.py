"""Remote configuration on the agent's side: the central console's configuration in, the
edge's outcome out.

* In (the receiver's thread, inside its receive transaction): a :class:`~sync.messages.DeviceConfig`
  on this box's own ``…/{device}/config`` topic (retained) is checked (site, device, hash)
  and kept in ``store.remote_config`` for the edge's applier; the receiver rings the edge
  after its commit. A replayed copy of a known version is ignored by the store.
* Out (the sender's thread): each outcome the edge recorded (``applied`` with the keys that
  need a restart, or ``failed`` with the reason) is published as a retained
  :class:`~sync.messages.ConfigAck` on ``…/{device}/config/ack``; the newest one again after
  each reconnect.

The agent never validates or applies a configuration itself: that is the edge's job.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sync import topics
from sync.agent.context import AgentContext
from sync.errors import InvalidMessageError
from sync.messages import ConfigAck, DeviceConfig, decode, encode
from sync.mqtt import ReceivedMessage

log = logging.getLogger(__name__)


class RemoteConfigLink:
    """Stores received configurations and publishes the edge's acknowledgements."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.topic = topics.config(ctx.site, ctx.device)
        self.ack_topic = topics.config_ack(ctx.site, ctx.device)

    def store_message(self, msg: ReceivedMessage) -> bool:
        """Keep a received configuration (call inside the receive transaction); returns
        whether it is new. An empty retained payload (the console cleared it) is ignored.

        Raises:
            InvalidMessageError: not a configuration, a bad hash, or another box's.
        """
        if not msg.payload:
            return False
        cfg = decode(DeviceConfig, msg.payload)
        if (cfg.site, cfg.device) != (self.ctx.site, self.ctx.device):
            raise InvalidMessageError(f"configuration for {cfg.site}/{cfg.device} on our topic")
        new = self.ctx.store.remote_config.receive(cfg.version, cfg.sha256, cfg.document, cfg.by)
        if new:
            log.info("remote configuration version %d received", cfg.version)
        return new

    def reconnected(self) -> None:
        """Publish the newest outcome again (its retained copy may have been lost)."""
        self.ctx.store.remote_config.resend_last_ack()

    def publish(self) -> int:
        """Publish the outcomes not yet acknowledged to the console; returns how many."""
        sent = 0
        for rec in self.ctx.store.remote_config.acks_to_send():
            ack = ConfigAck(site=self.ctx.site, device=self.ctx.device, version=rec.version,
                            sha256=rec.sha256, state=rec.state,  # type: ignore[arg-type]
                            needs_restart=list(rec.needs_restart), reason=rec.reason,
                            at=datetime.now(UTC))
            info = self.ctx.client.publish(self.ack_topic, encode(ack), qos=1, retain=True)
            if info.rc != 0:
                log.warning("configuration ack %d not published (rc %s); again later",
                            rec.version, info.rc)
                break
            self.ctx.store.remote_config.ack_sent(rec.version)
            self.ctx.stats.config_acks += 1
            sent += 1
        return sent
