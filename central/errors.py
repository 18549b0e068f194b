"""The exception tree of the central console: every error it raises is a CentralError."""

from __future__ import annotations


class CentralError(Exception):
    """Root of the central console's errors."""


class CentralConfigError(CentralError):
    """The central configuration file is missing, unreadable or invalid.

    ``problems`` holds ``(key_path, message)`` pairs, one per invalid key.
    """

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class DatabaseError(CentralError):
    """The central database cannot be opened, prepared or written."""


class StaffError(CentralError):
    """A staff account cannot be created or changed (bad name, role or password)."""


class LoginRefused(CentralError):
    """A login was refused: unknown user, wrong password, disabled or locked account.

    The message is the same for an unknown user and a wrong password (no user probing);
    ``locked_until`` is set when the account is locked.
    """

    def __init__(self, message: str, locked_until: str | None = None) -> None:
        super().__init__(message)
        self.locked_until = locked_until


class NotFound(CentralError):
    """A site, device or alarm that the database does not hold."""


class ConfigRefused(CentralError):
    """A remote configuration was refused: not TOML, a section or key a remote change may
    not touch, or a value the boxes' models reject. ``problems`` holds ``(key, reason)``."""

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class ConfigConflict(CentralError):
    """A configuration was edited from an older version than the current one (someone else
    changed it meanwhile): reload and edit again."""


class EnrolRefused(CentralError):
    """An enrolment request refused; ``reason`` is a stable word the box shows
    (``code_unknown``, ``code_used``, ``code_expired``, ``bad_request``, ``not_configured``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
