"""The box's cached copy of the central console's staff accounts, on the agent's side.

The centre publishes the staff accounts (user, role, argon2 hash, disabled) retained on the
site's ``staff/accounts`` topic; the receiver hands each copy here, inside its receive
transaction, and the whole list replaces ``store.staff_accounts`` (so an account removed or
disabled at the centre stops working on the box with the next copy). The edge verifies
staff log-ins against this cache, online or not. No password is ever in the message.
"""

from __future__ import annotations

import logging

from sync.agent.context import AgentContext
from sync.errors import InvalidMessageError
from sync.messages import StaffAccounts, decode
from sync.mqtt import ReceivedMessage

log = logging.getLogger(__name__)


def store_staff_accounts(ctx: AgentContext, msg: ReceivedMessage) -> int:
    """Replace the staff cache with a received copy; returns how many accounts it holds
    (0 for an empty retained payload: the centre cleared the topic, the cache is kept).

    Raises:
        InvalidMessageError: not a staff accounts message, or another site's.
    """
    if not msg.payload:
        return 0
    accounts = decode(StaffAccounts, msg.payload)
    if accounts.site != ctx.site:
        raise InvalidMessageError(f"staff accounts for site {accounts.site} on our topic")
    n = ctx.store.staff_accounts.replace_all(
        (a.username, a.role, a.password_hash, a.disabled) for a in accounts.accounts)
    log.info("staff accounts cached: %d", n)
    return n
