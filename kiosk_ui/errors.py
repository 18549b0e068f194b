"""The exception tree of the kiosk UI: every error ``kiosk_ui`` raises is a :class:`KioskError`.

::

    KioskError                      root
    ├── KioskOptionsError           a setting the kiosk cannot work with (also a ValueError)
    └── PatronFacingError           shown to the patron by its ``code`` (wrong_pin ...)
        ├── InputRefused            refused by the kiosk itself, before any edge call
        ├── CallCrashed             an edge call failed with an unexpected exception
        └── EdgeApiError            the edge answered an error (``status`` >= 400)
            └── EdgeUnreachable     the edge did not answer at all (``status`` 0)

The names are the kiosk's own: the edge's exception root (``edge.errors.EdgeError``) lives
on the other side of the HTTP boundary, and this module imports nothing from ``edge``.
"""

from __future__ import annotations

UNREACHABLE = "edge_unreachable"
"""The code of :class:`EdgeUnreachable` (the kiosk's catalogue has a text for it)."""


class KioskError(Exception):
    """Root of every error the kiosk UI raises."""


class KioskOptionsError(KioskError, ValueError):
    """An option the kiosk cannot work with; the message names it."""


class PatronFacingError(KioskError):
    """A failure the patron is told about, by its stable ``code``.

    Attributes:
        code: a code of ``docs/api.md`` (``wrong_pin`` ...) or of the kiosk's own catalogue
            (``nothing_selected`` ...): :class:`kiosk_ui.i18n.Localizer` turns it into text.
        message: what went wrong, in English, for logs (never a PIN or a scan).
        texts: patron-facing texts by language (``{"vi": ..., "en": ...}``), maybe empty.
        status: the HTTP status of the edge's answer, 0 when there was none.
    """

    def __init__(self, code: str, message: str = "", texts: dict[str, str] | None = None,
                 status: int = 0) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.texts = dict(texts or {})
        self.status = status

    @property
    def unreachable(self) -> bool:
        """True when the edge itself did not answer (it is down or the network is)."""
        return isinstance(self, EdgeUnreachable)


class InputRefused(PatronFacingError):
    """The kiosk refused what the patron entered or chose, without asking the edge
    (``pin_required`` for a number without its PIN, ``nothing_selected`` ...)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(code, message)


class CallCrashed(PatronFacingError):
    """An edge call raised something other than an edge error (a bug): ``internal_error``."""

    def __init__(self, message: str) -> None:
        super().__init__("internal_error", message)


class EdgeApiError(PatronFacingError):
    """The edge answered with its JSON error shape (``{"error": {"code", "message", "texts"}}``)."""


class EdgeUnreachable(EdgeApiError):
    """The request never got an answer: the edge is down, or the network is."""

    def __init__(self, message: str = "") -> None:
        super().__init__(UNREACHABLE, message)
