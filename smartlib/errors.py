"""The exception tree of the common package."""


class SmartlibError(Exception):
    """Root of the common package's errors."""


class ConfigError(SmartlibError):
    """A site configuration file is missing, unreadable or invalid.

    ``problems`` holds ``(key_path, message)`` pairs, one per invalid key.
    """

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class SealError(SmartlibError):
    """A sealed PIN or a gateway key cannot be used (missing, malformed, wrong key)."""
