"""The SIP2 session the gateway's applier talks to: what it calls, typed.

:class:`~sync.sip2.client.Sip2Client` is one (mypy checks it below); the applier's tests
use small stand-ins. The circulation calls that change the ILS (11, 09, 29) take an
explicit ``resend``: the gateway passes False, so a broken connection raises
:class:`~sync.errors.Sip2ConnectionError` instead of sending the request again (the ledger
and :meth:`~sync.gateway.applier.Applier.verify` decide what happened). A session never
resends a renew-all (65): it cannot be verified afterwards.

This module holds types only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sync.sip2.client import Sip2Client


class Sip2Session(Protocol):
    """One logged-in SIP2 connection, as the applier uses it."""

    def checkout(self, patron_id: str, item_id: str, *, no_block: bool = False,
                 transaction_date: Any = None, nb_due_date: Any = None,
                 fee_acknowledged: bool | None = None, extra_fields: Any = None,
                 resend: bool = True) -> Any:
        """11 → 12."""
        ...

    def checkin(self, item_id: str, *, no_block: bool = False, transaction_date: Any = None,
                location: str | None = None, extra_fields: Any = None,
                resend: bool = True) -> Any:
        """09 → 10."""
        ...

    def renew(self, patron_id: str, item_id: str, *, no_block: bool = False,
              transaction_date: Any = None, nb_due_date: Any = None, extra_fields: Any = None,
              resend: bool = True) -> Any:
        """29 → 30."""
        ...

    def renew_all(self, patron_id: str, pin: str | None = None) -> Any:
        """65 → 66, never resent after a broken connection."""
        ...

    def item_information(self, item_id: str) -> Any:
        """17 → 18."""
        ...

    def patron_information(self, patron_id: str, pin: str | None = None,
                           summary: str | None = None) -> Any:
        """63 → 64."""
        ...

    def sc_status(self) -> Any:
        """99 → 98."""
        ...


def _client_is_a_session(client: Sip2Client) -> Sip2Session:
    return client  # mypy: the real client has the session's shape
