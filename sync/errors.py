"""The exception tree of ``sync``: every sync, gateway and SIP2 error is a :class:`SyncError`.

Messages say what was wrong and what was expected. Codec errors name the field.
"""

from __future__ import annotations


class SyncError(Exception):
    """Root of all errors raised by the ``sync`` package."""


# ---- SIP2 ---------------------------------------------------------------------------------

class Sip2Error(SyncError):
    """Root of SIP2 codec, client and pool errors.

    ``field`` names the SIP2 field concerned (``"AZ"``, ``"transaction_date"``…) when known.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{message} (field {field})" if field else message)
        self.field = field


class Sip2FrameError(Sip2Error):
    """A frame is malformed: no command, not terminated, too long, or a bad trailer."""


class Sip2ChecksumError(Sip2Error):
    """The AZ checksum does not match the bytes of the frame."""


class Sip2FieldError(Sip2Error):
    """A field is missing, too short, or holds a value outside its alphabet."""


class Sip2DateError(Sip2FieldError):
    """A date field is not ``YYYYMMDDZZZZHHMMSS`` or names an impossible date."""


class Sip2EncodingError(Sip2Error):
    """Text cannot be encoded to, or decoded from, the profile's charset."""


class Sip2UnknownMessageError(Sip2Error):
    """The two-digit command identifier is not one this codec knows."""


class Sip2ConnectionError(Sip2Error):
    """The ILS could not be reached, or the connection failed and the one resend failed too.

    ``maybe_applied`` is True when the request had been sent before the connection broke and
    was not resent (``resend=False``): only the ILS's own state can tell whether it applied.
    """

    def __init__(self, message: str, field: str | None = None, *,
                 maybe_applied: bool = False) -> None:
        super().__init__(message, field)
        self.maybe_applied = maybe_applied


class Sip2TimeoutError(Sip2ConnectionError):
    """The ILS did not answer within the timeout."""


class Sip2LoginError(Sip2Error):
    """The ILS refused the 93 login (94 with ok = 0)."""


class Sip2ProtocolError(Sip2Error):
    """The ILS answered with an unexpected message or kept asking for resends."""


class Sip2PoolTimeout(Sip2Error):
    """No pooled SIP2 connection became free within the timeout."""


# ---- MQTT messages, agent, gateway, ledger, broker set-up ----------------------------------

class MessageError(SyncError):
    """A message or topic is invalid; ``reason`` says what was wrong."""


class InvalidTopicError(MessageError):
    """A topic is not a smartlib v1 topic, or holds an invalid site or device id."""


class InvalidMessageError(MessageError):
    """A payload is not valid JSON or does not match its schema (version, fields, types)."""


class OversizedMessageError(InvalidMessageError):
    """A payload over the boundary's size limit (:class:`sync.mqtt.PayloadLimits`)."""


class TooDeepMessageError(InvalidMessageError):
    """A JSON payload nested deeper than the boundary's limit (checked before parsing)."""


class RoleRefusedError(InvalidMessageError):
    """A device asked for something its role may not do (a gate lending a book)."""


class AgentError(SyncError):
    """The edge agent cannot run (store, broker or configuration problem)."""


class GatewayError(SyncError):
    """The gateway cannot run (ledger, broker or ILS configuration problem)."""


class LedgerError(GatewayError):
    """The idempotency ledger cannot be opened, migrated or written."""


class LedgerBusyError(LedgerError):
    """Another gateway holds the lease on this transaction key; try again after it expires."""


class ImportDataError(GatewayError):
    """An item or patron CSV for a snapshot is malformed; the message names the line."""


class BrokerConfigError(SyncError):
    """The broker set-up cannot be written (bad device id, missing tool, unwritable dir)."""


class BrokerAccountsError(BrokerConfigError):
    """The broker's password or ACL file could not be updated, or the broker not reloaded."""


class PkiError(SyncError):
    """The site CA cannot be made, read or used (missing CA, bad name, unwritable file)."""


class BrokerTlsError(SyncError):
    """TLS to the broker failed: its certificate was not trusted (wrong CA, expired, wrong
    host name) or the broker refused ours. The message names the CA file and the reason."""


class Sip2OutcomeUnknownError(Sip2ConnectionError):
    """A circulation request may or may not have taken effect at the ILS.

    The connection broke while the request was on its way or being answered, or the SIP2
    client re-sent it on a new connection (so the ILS may have seen it twice). The gateway
    never sends such a request again blindly: it verifies the ILS's state first.
    """


class Sip2NotSentError(Sip2ConnectionError):
    """A circulation request was never sent: the connection (or the login before it) failed,
    or no pooled connection became free. It cannot have taken effect at the ILS."""


class LeaseLostError(GatewayError):
    """This gateway no longer holds a transaction's lease, or holds it too briefly for a
    SIP2 call to end inside it: the call is not made (another gateway may take over)."""


class EnrolError(SyncError):
    """``smartlib enroll`` failed: the box is not enrolled (nothing it holds was changed)."""


class EnrolConnectionError(EnrolError):
    """The central console could not be reached, or answered something that is not an
    enrolment answer."""


class EnrolRefusedError(EnrolError):
    """The central console refused the code; ``reason`` is its word for why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class EnrolCodeUnknownError(EnrolRefusedError):
    """No such code (mistyped, or issued by another console)."""


class EnrolCodeUsedError(EnrolRefusedError):
    """The code was redeemed already (each code enrols one box once)."""


class EnrolCodeExpiredError(EnrolRefusedError):
    """The code's validity ran out: ask for a new one."""


class EnrolAnswerError(EnrolError):
    """The answer is not authentic: its HMAC does not match the code, the CA is not the one
    pinned by ``--ca-fingerprint``, or the certificate is not for this box's key."""


class DeviceRevokedError(InvalidMessageError):
    """A message from a device revoked in the central console (its transactions are refused)."""
