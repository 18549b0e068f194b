"""MQTT topic names of smartlib (version 1): build them and parse them back.

Every topic is rooted at ``smartlib/v1/{site}/``::

    smartlib/v1/{site}/{device}/tx            device -> gateway   TransactionRequest  QoS 1
                                                                  or TransactionBatch
    smartlib/v1/{site}/{device}/result        gateway -> device   TransactionResult   QoS 1
                                                                  or ResultBatch
    smartlib/v1/{site}/{device}/lookup        device -> gateway   LookupRequest       QoS 1
    smartlib/v1/{site}/{device}/lookup/reply  gateway -> device   LookupResponse      QoS 1
    smartlib/v1/{site}/{device}/status        device, retained    DeviceStatus (will: offline)
    smartlib/v1/{site}/{device}/alarm         (legacy) device -> gateway   Alarm     QoS 1
    smartlib/v1/{site}/{device}/stats         device -> central   Statistics          QoS 1
    smartlib/v1/{site}/{device}/stats/live    device -> site      Statistics          QoS 1
    smartlib/v1/{site}/{device}/event         device -> staff     DeviceEventReport   QoS 1
    smartlib/v1/{site}/{device}/snapshot/request device -> gateway SnapshotRequest   QoS 1
    smartlib/v1/{site}/{device}/snapshot/reply gateway -> device  CacheSnapshotChunk  QoS 1
    smartlib/v1/{site}/{device}/config        central -> device   DeviceConfig  QoS 1, retained
    smartlib/v1/{site}/{device}/config/ack    device -> central   ConfigAck     QoS 1, retained
    smartlib/v1/{site}/{device}/command       central -> device   Command             QoS 1
    smartlib/v1/{site}/{device}/command/ack   device -> central   CommandAck          QoS 1
    smartlib/v1/{site}/{device}/security      device, retained    SecurityTaskReport  QoS 1
    smartlib/v1/{site}/cache/snapshot         gateway -> devices  CacheSnapshotChunk  QoS 1
    smartlib/v1/{site}/cache/delta            gateway -> devices  CacheDelta          QoS 1
    smartlib/v1/{site}/cache/gate/snapshot    gateway -> gates    CacheSnapshotChunk  QoS 1
    smartlib/v1/{site}/cache/gate/delta       gateway -> gates    CacheDelta          QoS 1

    smartlib/v1/{site}/staff/conflict         gateway -> staff    Conflict            QoS 1
    smartlib/v1/{site}/staff/alarm/{device}   device -> staff     Alarm               QoS 1
    smartlib/v1/{site}/staff/accounts         central -> devices  StaffAccounts  QoS 1, retained

The ``cache/gate/…`` feed carries no patron data (items, and loans without patron ids):
gate-role devices subscribe to it only, and their ACL allows nothing else of the cache.

``…/stats`` carries each completed hour once (for the gateways' reports); ``…/stats/live``
carries the hours not yet completed, again whenever their counters change.

Site views: every agent subscribes to its site's ``+/status`` (retained), ``+/stats``,
``+/stats/live`` and ``staff/alarm/+`` (:func:`site_filters`), so each box's staff console
sees the other boxes, their counts and their alarms. A device's alarms go to the site's staff topic
(one level per device, so the ACL lets a device write only its own); the gateways take
them from there through their shared subscription, and still accept the legacy
``{device}/alarm`` topic of older agents. :func:`parse` returns a staff alarm topic as
``TopicRef(site, device, "alarm", staff=True)``.

``cache`` and ``staff`` are reserved and can never be device ids. This module only builds
and parses strings; it does no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sync.errors import InvalidTopicError

ROOT = "smartlib/v1"
SHARE_GROUP = "gateways"
RESERVED_SEGMENTS = frozenset({"cache", "staff"})
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

DEVICE_KINDS = ("tx", "result", "lookup", "lookup/reply", "status", "alarm", "stats",
                "stats/live", "event", "snapshot/request", "snapshot/reply", "config",
                "config/ack", "command", "command/ack", "security")
GATEWAY_KINDS = ("tx", "lookup", "snapshot/request", "alarm", "stats", "event")
"""Device topics the gateways consume (each through the shared subscription)."""
SITE_KINDS = ("cache/snapshot", "cache/delta", "cache/gate/snapshot", "cache/gate/delta",
              "staff/conflict", "staff/accounts")


def check_id(value: str, what: str) -> str:
    """Return ``value`` if it is a valid site or device id.

    Raises:
        InvalidTopicError: empty, wildcard, slash, upper case or a reserved name.
    """
    if not _ID.match(value or ""):
        raise InvalidTopicError(f"{what} id {value!r} must match {_ID.pattern}")
    if what == "device" and value in RESERVED_SEGMENTS:
        raise InvalidTopicError(f"device id {value!r} is reserved (cache, staff)")
    return value


def device_topic(site: str, device: str, kind: str) -> str:
    """``smartlib/v1/{site}/{device}/{kind}`` with the ids checked."""
    if kind not in DEVICE_KINDS:
        raise InvalidTopicError(f"unknown device topic kind {kind!r}; expected one of {DEVICE_KINDS}")
    return f"{ROOT}/{check_id(site, 'site')}/{check_id(device, 'device')}/{kind}"


def tx(site: str, device: str) -> str:
    return device_topic(site, device, "tx")


def result(site: str, device: str) -> str:
    return device_topic(site, device, "result")


def lookup(site: str, device: str) -> str:
    return device_topic(site, device, "lookup")


def lookup_reply(site: str, device: str) -> str:
    return device_topic(site, device, "lookup/reply")


def status(site: str, device: str) -> str:
    return device_topic(site, device, "status")


def alarm(site: str, device: str) -> str:
    return device_topic(site, device, "alarm")


def stats(site: str, device: str) -> str:
    return device_topic(site, device, "stats")


def stats_live(site: str, device: str) -> str:
    return device_topic(site, device, "stats/live")


def event(site: str, device: str) -> str:
    return device_topic(site, device, "event")


def snapshot_request(site: str, device: str) -> str:
    return device_topic(site, device, "snapshot/request")


def snapshot_reply(site: str, device: str) -> str:
    return device_topic(site, device, "snapshot/reply")


def config(site: str, device: str) -> str:
    """Where the central console's collector publishes ``device``'s remote configuration."""
    return device_topic(site, device, "config")


def config_ack(site: str, device: str) -> str:
    """Where ``device`` acknowledges its remote configuration (applied or failed)."""
    return device_topic(site, device, "config/ack")


def command(site: str, device: str) -> str:
    """Where the central console sends ``device`` its commands (retry/abandon a security
    task, resolve a conflict)."""
    return device_topic(site, device, "command")


def command_ack(site: str, device: str) -> str:
    """Where ``device`` acknowledges a command with its outcome."""
    return device_topic(site, device, "command/ack")


def security_tasks(site: str, device: str) -> str:
    """``device``'s retained list of failed security tasks (for the central console)."""
    return device_topic(site, device, "security")


def cache_snapshot(site: str) -> str:
    return f"{ROOT}/{check_id(site, 'site')}/cache/snapshot"


def cache_delta(site: str) -> str:
    return f"{ROOT}/{check_id(site, 'site')}/cache/delta"


def gate_cache_snapshot(site: str) -> str:
    return f"{ROOT}/{check_id(site, 'site')}/cache/gate/snapshot"


def gate_cache_delta(site: str) -> str:
    return f"{ROOT}/{check_id(site, 'site')}/cache/gate/delta"


def cache_all(site: str) -> str:
    """The filter a kiosk subscribes to for snapshots and deltas (``cache/+``: not the
    gates' feed)."""
    return f"{ROOT}/{check_id(site, 'site')}/cache/+"


def gate_cache_all(site: str) -> str:
    """The filter a gate subscribes to: the patron-free feed only."""
    return f"{ROOT}/{check_id(site, 'site')}/cache/gate/+"


def cache_filter(site: str, role: str) -> str:
    """The cache feed filter of a device of ``role``."""
    return gate_cache_all(site) if role == "gate" else cache_all(site)


def staff_conflict(site: str) -> str:
    return f"{ROOT}/{check_id(site, 'site')}/staff/conflict"


def staff_accounts(site: str) -> str:
    """``smartlib/v1/{site}/staff/accounts``: the central console's staff accounts (retained)."""
    return f"{ROOT}/{check_id(site, 'site')}/staff/accounts"


def staff_alarm(site: str, device: str) -> str:
    """``smartlib/v1/{site}/staff/alarm/{device}``: where ``device`` publishes its alarms."""
    return f"{ROOT}/{check_id(site, 'site')}/staff/alarm/{check_id(device, 'device')}"


def staff_alarms(site: str) -> str:
    """The filter of every device's alarms of a site (``staff/alarm/+``)."""
    return f"{ROOT}/{check_id(site, 'site')}/staff/alarm/+"


def site_status(site: str) -> str:
    """The filter of every device's retained status of a site (``+/status``)."""
    return f"{ROOT}/{check_id(site, 'site')}/+/status"


def site_stats(site: str) -> str:
    """The filter of every device's statistics of a site (``+/stats``)."""
    return f"{ROOT}/{check_id(site, 'site')}/+/stats"


def site_stats_live(site: str) -> str:
    """The filter of every device's live (current hour) statistics (``+/stats/live``)."""
    return f"{ROOT}/{check_id(site, 'site')}/+/stats/live"


def site_filters(site: str) -> list[str]:
    """What an agent subscribes to for its site's views: statuses, statistics, alarms."""
    return [site_status(site), site_stats(site), site_stats_live(site), staff_alarms(site)]


def shared(filter_: str, group: str = SHARE_GROUP) -> str:
    """``$share/{group}/{filter}``: one member of the group gets each message."""
    return f"$share/{group}/{filter_}"


GATEWAY_TX = shared(f"{ROOT}/+/+/tx")
"""What every gateway subscribes to: ``$share/gateways/smartlib/v1/+/+/tx``."""
GATEWAY_LOOKUP = shared(f"{ROOT}/+/+/lookup")


def gateway_filters(sites: list[str] | set[str], group: str = SHARE_GROUP) -> list[str]:
    """The shared subscriptions of a gateway serving ``sites``, one per site and kind.

    Per-site filters (not ``+`` for the site) let the broker's ACL limit a gateway user to
    the sites it serves.
    """
    out = [shared(f"{ROOT}/{check_id(s, 'site')}/+/{k}", group)
           for s in sorted(sites) for k in GATEWAY_KINDS]
    return out + [shared(staff_alarms(s), group) for s in sorted(sites)]


@dataclass(frozen=True)
class TopicRef:
    """A parsed topic: ``device`` is None for site topics (cache, staff).

    A staff alarm topic (``staff/alarm/{device}``) has its device and kind ``alarm``, with
    ``staff`` True.
    """

    site: str
    device: str | None
    kind: str
    staff: bool = False


def parse(topic: str) -> TopicRef:
    """Parse a smartlib v1 topic.

    Raises:
        InvalidTopicError: the topic is not rooted at ``smartlib/v1`` or is not one we know.
    """
    parts = topic.split("/")
    if len(parts) < 5 or parts[0] != "smartlib" or parts[1] != "v1":
        raise InvalidTopicError(f"topic {topic!r} is not smartlib/v1/{{site}}/…")
    site = check_id(parts[2], "site")
    rest = "/".join(parts[4:])
    if parts[3] == "staff" and len(parts) == 6 and parts[4] == "alarm":
        return TopicRef(site, check_id(parts[5], "device"), "alarm", staff=True)
    if parts[3] in RESERVED_SEGMENTS:
        kind = f"{parts[3]}/{rest}"
        if kind not in SITE_KINDS:
            raise InvalidTopicError(f"unknown site topic {topic!r}")
        return TopicRef(site, None, kind)
    device = check_id(parts[3], "device")
    if rest not in DEVICE_KINDS:
        raise InvalidTopicError(f"unknown device topic kind {rest!r} in {topic!r}")
    return TopicRef(site, device, rest)
