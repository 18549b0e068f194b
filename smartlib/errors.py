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


class SecretWithheldError(SmartlibError):
    """An error whose message held a secret (a PIN, a password) that a :func:`secret_scope`
    was guarding: raised in its place, with the original's traceback (the code locations,
    which hold no values) and its type's name, never its message."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(f"{type(original).__name__} (its message is withheld: it held a "
                         "secret)")
        self.original_type = type(original).__name__
