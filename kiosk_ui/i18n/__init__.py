"""Translations: Qt Linguist catalogues (``vi.ts``, ``en.ts``) and runtime language switching.

Source strings are English. ``scripts/setup.sh`` compiles each ``.ts`` to ``.qm`` with
``pyside6-lrelease``; when a ``.qm`` is missing (a source checkout that has not been set up)
:class:`TsTranslator` reads the ``.ts`` XML directly, so the kiosk never shows raw keys.
The edge's error codes have their own catalogue here (context ``EdgeError``), used when an
error or item result arrives without texts in the patron's language.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QObject, QTranslator, Signal

log = logging.getLogger(__name__)

I18N_DIR = Path(__file__).resolve().parent
LANGUAGES = ("vi", "en")

# Every patron-facing edge error code (docs/api.md), plus the kiosk's own.
ERROR_TEXTS: dict[str, str] = {
    "unknown_patron": QT_TRANSLATE_NOOP("EdgeError", "We do not know this card. Please ask the staff."),
    "wrong_pin": QT_TRANSLATE_NOOP("EdgeError", "The PIN is wrong. Please try again."),
    "pin_required": QT_TRANSLATE_NOOP("EdgeError", "Please enter your PIN."),
    "pin_locked": QT_TRANSLATE_NOOP("EdgeError", "Too many wrong PINs: this card is locked for a while. Please try again later or see the staff."),
    "rate_limited": QT_TRANSLATE_NOOP("EdgeError", "Too many requests. Please wait a moment and try again."),
    "payload_too_large": QT_TRANSLATE_NOOP("EdgeError", "The request is too large. Please try again or see the staff."),
    "patron_blocked": QT_TRANSLATE_NOOP("EdgeError", "Your account is blocked. Please see the staff."),
    "restricted_fines": QT_TRANSLATE_NOOP("EdgeError", "Your fines are over the limit: pay them here before you borrow or renew."),
    "mail_unavailable": QT_TRANSLATE_NOOP("EdgeError", "The e-mail could not be sent; please try again later or print the receipt."),
    "no_email_address": QT_TRANSLATE_NOOP("EdgeError", "The library has no e-mail address for you; please see the staff."),
    "payment_not_confirmed": QT_TRANSLATE_NOOP("EdgeError", "The payment is not confirmed yet, so there is no receipt."),
    "card_expired": QT_TRANSLATE_NOOP("EdgeError", "Your card has expired. Please see the staff to renew it."),
    "session_expired": QT_TRANSLATE_NOOP("EdgeError", "Your session has ended. Please log in again."),
    "offline_login_denied": QT_TRANSLATE_NOOP("EdgeError", "Login is not possible while the library network is offline."),
    "pin_check_unavailable": QT_TRANSLATE_NOOP("EdgeError", "Your PIN cannot be checked right now. Please see the staff."),
    "item_unknown": QT_TRANSLATE_NOOP("EdgeError", "This item is not known. Please give it to the staff."),
    "item_not_on_pad": QT_TRANSLATE_NOOP("EdgeError", "This item is not on the pad. Place it on the pad."),
    "incomplete_set": QT_TRANSLATE_NOOP("EdgeError", "Part of this set is missing: put all parts on the pad."),
    "on_hold_for_other": QT_TRANSLATE_NOOP("EdgeError", "This item is on hold for another patron."),
    "loan_limit": QT_TRANSLATE_NOOP("EdgeError", "You have reached your loan limit."),
    "not_loanable": QT_TRANSLATE_NOOP("EdgeError", "This item cannot be borrowed."),
    "offline_limit": QT_TRANSLATE_NOOP("EdgeError", "The offline limit is reached: no more items until the network is back."),
    "ils_refused": QT_TRANSLATE_NOOP("EdgeError", "The library system refused this item."),
    "alarm_still_on": QT_TRANSLATE_NOOP("EdgeError", "Borrowed, but the alarm is still on: please see the staff."),
    "not_on_loan": QT_TRANSLATE_NOOP("EdgeError", "This item is not on loan."),
    "renew_refused": QT_TRANSLATE_NOOP("EdgeError", "This item cannot be renewed."),
    "device_unavailable": QT_TRANSLATE_NOOP("EdgeError", "The device is not available right now."),
    "validation_error": QT_TRANSLATE_NOOP("EdgeError", "Something was entered wrongly. Please try again."),
    "unauthorized": QT_TRANSLATE_NOOP("EdgeError", "This kiosk is not authorised. Please call the staff."),
    "forbidden": QT_TRANSLATE_NOOP("EdgeError", "This is not allowed here."),
    "not_found": QT_TRANSLATE_NOOP("EdgeError", "Not found."),
    "edge_unreachable": QT_TRANSLATE_NOOP("EdgeError", "The kiosk cannot reach its service. Please try again shortly."),
    "nothing_selected": QT_TRANSLATE_NOOP("EdgeError", "Select at least one item first."),
    "anonymous_return_off": QT_TRANSLATE_NOOP("EdgeError", "Please log in first to return items here."),
    "bad_scan": QT_TRANSLATE_NOOP("EdgeError", "The scan could not be read. Please scan your card again, or type your number and PIN."),
    "store_error": QT_TRANSLATE_NOOP("EdgeError", "The kiosk could not save this. Please try again or see the staff."),
    "internal_error": QT_TRANSLATE_NOOP("EdgeError", "Something went wrong. Please try again or see the staff."),
}
GENERIC_ERROR = QT_TRANSLATE_NOOP("EdgeError", "Something went wrong. Please try again or see the staff.")


def error_text(code: str | None, texts: dict[str, str] | None, language: str) -> str:
    """The patron-facing text for an edge error in ``language``.

    The edge's own text in that language wins; otherwise the kiosk's catalogue, translated
    by the installed translator (which follows the current language).
    """
    if texts and texts.get(language):
        return texts[language]
    source = ERROR_TEXTS.get(code or "", GENERIC_ERROR)
    return QCoreApplication.translate("EdgeError", source)


class TsTranslator(QTranslator):
    """A translator read straight from a Qt Linguist ``.ts`` file (fallback for ``.qm``)."""

    def __init__(self, ts_path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._table: dict[tuple[str, str], str] = {}
        root = ET.parse(ts_path).getroot()
        for ctx in root.iter("context"):
            name = ctx.findtext("name") or ""
            for msg in ctx.iter("message"):
                src = msg.findtext("source") or ""
                tr = msg.find("translation")
                if tr is None or tr.get("type") in ("unfinished", "obsolete", "vanished"):
                    continue
                if tr.text:
                    self._table[(name, src)] = tr.text

    def translate(self, context: str, source: str, disambiguation: str | None = None,
                  n: int = -1) -> str:
        return self._table.get((context, source), "")

    def isEmpty(self) -> bool:
        return not self._table


def load_translator(language: str, directory: Path = I18N_DIR) -> QTranslator:
    """The compiled ``{language}.qm`` if present, else the ``.ts`` read directly.

    Raises:
        FileNotFoundError: neither file exists for ``language``.
    """
    qm = directory / f"{language}.qm"
    tr = QTranslator()
    if qm.exists() and tr.load(str(qm)):
        return tr
    ts = directory / f"{language}.ts"
    if not ts.exists():
        raise FileNotFoundError(f"no translation for {language!r} in {directory}")
    log.info("%s not compiled; reading %s", qm.name, ts.name)
    return TsTranslator(ts)


class Localizer(QObject):
    """The kiosk's current language; installs its translator and tells everyone it changed.

    Args:
        language: ``"vi"`` (default) or ``"en"``.
    """

    changed = Signal(str)

    def __init__(self, language: str = "vi", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._language = ""
        self._translators: dict[str, QTranslator] = {}
        self._installed: QTranslator | None = None
        self.set_language(language)

    @property
    def language(self) -> str:
        return self._language

    def set_language(self, language: str) -> None:
        """Switch language at runtime (no restart); emits :attr:`changed` when it differs.

        Raises:
            ValueError: ``language`` is not one of :data:`LANGUAGES`.
        """
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
        if language == self._language:
            return
        app = QCoreApplication.instance()
        if app is not None:
            if self._installed is not None:
                app.removeTranslator(self._installed)
            tr = self._translators.get(language)
            if tr is None:
                tr = self._translators[language] = load_translator(language)
            app.installTranslator(tr)
            self._installed = tr
        self._language = language
        self.changed.emit(language)

    def error(self, code: str | None, texts: dict[str, str] | None = None) -> str:
        """:func:`error_text` in the current language."""
        return error_text(code, texts, self._language)
