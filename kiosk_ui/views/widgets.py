"""Reusable widgets: buttons that are big and keyboard-friendly, pictograms, the keypad,
the QR code and the delegate that draws item rows as cards. Views stay thin by using these.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from kiosk_ui.models import DETAIL_ROLE, KIND_ROLE, NOTE_ROLE
from kiosk_ui.theme import Theme


def polish(widget: QWidget) -> None:
    """Re-apply the style sheet after a dynamic property changed."""
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)


class BigButton(QPushButton):
    """A push button that also activates on Enter/Return (keyboard and wedge friendly)."""

    def __init__(self, text: str = "", kind: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        if kind:
            self.setProperty("kind", kind)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def keyPressEvent(self, e: QKeyEvent) -> None:
        if e.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.isEnabled():
            self.animateClick()
            return
        super().keyPressEvent(e)


class ElidedLabel(QLabel):
    """A one-line label that shrinks with an ellipsis instead of widening the window."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)

    def minimumSizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance("…") * 4, super().minimumSizeHint().height())

    def paintEvent(self, _e: QPaintEvent) -> None:
        p = QPainter(self)
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        p.setPen(self.palette().color(self.foregroundRole()))
        p.drawText(rect, int(self.alignment()), text)
        p.end()


# ---- pictograms ------------------------------------------------------------------------

def draw_pictogram(p: QPainter, kind: str, rect: QRectF, fg: QColor, accent: QColor) -> None:
    """Draw the simple line pictogram ``kind`` into ``rect`` (square-ish)."""
    s = min(rect.width(), rect.height())
    x0 = rect.center().x() - s / 2
    y0 = rect.center().y() - s / 2

    def R(x: float, y: float, w: float, h: float) -> QRectF:
        return QRectF(x0 + x * s, y0 + y * s, w * s, h * s)

    def P(x: float, y: float) -> QPointF:
        return QPointF(x0 + x * s, y0 + y * s)

    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(fg, max(2.0, s * 0.045), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
               Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    r = s * 0.06
    if kind == "card":
        p.setBrush(accent)
        p.drawRoundedRect(R(0.12, 0.26, 0.76, 0.5), r, r)
        p.setBrush(fg)
        p.drawRect(R(0.2, 0.36, 0.16, 0.12))
        p.drawLine(P(0.2, 0.62), P(0.7, 0.62))
        p.setBrush(Qt.BrushStyle.NoBrush)
        for i, k in enumerate((0.10, 0.17, 0.24)):
            p.drawArc(R(0.66 - k, 0.14 - k * 0.3, 2 * k, 2 * k * 0.6), 30 * 16 - i, 60 * 16)
    elif kind in ("books", "borrow", "pad"):
        p.setBrush(accent)
        p.drawRoundedRect(R(0.08, 0.70, 0.84, 0.14), r, r)   # the pad
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(R(0.22, 0.22, 0.18, 0.48), r * 0.5, r * 0.5)
        p.drawRoundedRect(R(0.42, 0.14, 0.16, 0.56), r * 0.5, r * 0.5)
        p.save()
        p.translate(P(0.70, 0.70))
        p.rotate(-14)
        p.drawRoundedRect(QRectF(-0.06 * s, -0.50 * s, 0.14 * s, 0.50 * s), r * 0.5, r * 0.5)
        p.restore()
        if kind == "borrow":
            p.drawLine(P(0.80, 0.12), P(0.80, 0.40))
            p.drawLine(P(0.70, 0.30), P(0.80, 0.40))
            p.drawLine(P(0.90, 0.30), P(0.80, 0.40))
    elif kind == "return":
        p.drawRoundedRect(R(0.14, 0.48, 0.72, 0.38), r, r)
        p.setBrush(accent)
        p.drawRoundedRect(R(0.30, 0.40, 0.40, 0.12), r * 0.5, r * 0.5)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawLine(P(0.50, 0.08), P(0.50, 0.34))
        p.drawLine(P(0.40, 0.24), P(0.50, 0.34))
        p.drawLine(P(0.60, 0.24), P(0.50, 0.34))
    elif kind == "renew":
        p.drawArc(R(0.16, 0.16, 0.68, 0.68), 40 * 16, 280 * 16)
        p.setBrush(fg)
        tip = QPainterPath(P(0.78, 0.10))
        tip.lineTo(P(0.84, 0.34))
        tip.lineTo(P(0.60, 0.30))
        tip.closeSubpath()
        p.drawPath(tip)
        p.setBrush(accent)
        p.drawRoundedRect(R(0.38, 0.36, 0.24, 0.30), r * 0.4, r * 0.4)
    elif kind == "account":
        p.setBrush(accent)
        p.drawEllipse(R(0.34, 0.12, 0.32, 0.32))
        p.setBrush(Qt.BrushStyle.NoBrush)
        path = QPainterPath(P(0.16, 0.88))
        path.cubicTo(P(0.18, 0.52), P(0.82, 0.52), P(0.84, 0.88))
        path.closeSubpath()
        p.drawPath(path)
    elif kind == "receipt":
        path = QPainterPath(P(0.24, 0.10))
        path.lineTo(P(0.76, 0.10))
        path.lineTo(P(0.76, 0.88))
        for i in range(6):
            path.lineTo(P(0.76 - (i + 0.5) * 0.52 / 6, 0.82 if i % 2 == 0 else 0.88))
        path.lineTo(P(0.24, 0.88))
        path.closeSubpath()
        p.setBrush(QColor(255, 255, 255) if fg.lightness() < 128 else QColor(0, 0, 0))
        p.drawPath(path)
        p.setBrush(Qt.BrushStyle.NoBrush)
        for i, w in enumerate((0.36, 0.30, 0.36, 0.22)):
            p.drawLine(P(0.32, 0.24 + i * 0.13), P(0.32 + w, 0.24 + i * 0.13))
    elif kind == "barcode":
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(fg)
        xs = (0.16, 0.22, 0.30, 0.34, 0.42, 0.50, 0.54, 0.62, 0.70, 0.74, 0.80)
        for i, x in enumerate(xs):
            w = 0.04 if i % 3 else 0.02
            p.drawRect(R(x, 0.26, w, 0.48))
    elif kind == "keypad":
        p.setBrush(accent)
        for row in range(3):
            for col in range(3):
                p.drawRoundedRect(R(0.16 + col * 0.24, 0.14 + row * 0.24, 0.18, 0.18), r * 0.5, r * 0.5)
    elif kind == "finish":
        p.drawArc(R(0.2, 0.2, 0.6, 0.6), 120 * 16, 300 * 16)
        p.drawLine(P(0.5, 0.08), P(0.5, 0.46))
    elif kind == "service":
        p.drawEllipse(R(0.12, 0.12, 0.76, 0.76))
        p.drawLine(P(0.36, 0.30), P(0.36, 0.46))
        p.drawLine(P(0.64, 0.30), P(0.64, 0.46))
        path = QPainterPath(P(0.30, 0.70))
        path.cubicTo(P(0.40, 0.58), P(0.60, 0.58), P(0.70, 0.70))
        p.drawPath(path)
    elif kind == "offline":
        for i, k in enumerate((0.16, 0.28, 0.40)):
            p.drawArc(R(0.5 - k, 0.62 - k, 2 * k, 2 * k), 45 * 16, 90 * 16)
            del i
        p.setBrush(fg)
        p.drawEllipse(R(0.45, 0.58, 0.10, 0.10))
        p.setPen(QPen(accent, max(2.0, s * 0.06), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        p.drawLine(P(0.14, 0.14), P(0.86, 0.86))
    p.restore()


class Pictogram(QWidget):
    """A square pictogram widget: ``size`` pixels (scaled) when there is room, down to half
    that when the screen is short (large text on a small screen)."""

    def __init__(self, kind: str, theme: Theme, size: int = 96, parent: QWidget | None = None,
                 fg: str = "primary", accent: str = "accent") -> None:
        super().__init__(parent)
        self.kind = kind
        self.theme = theme
        self._fg = fg
        self._accent = accent
        self._side = theme.px(size)
        self.setMinimumSize(self._side // 2, self._side // 2)
        self.setMaximumSize(self._side, self._side)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Maximum)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)

    def sizeHint(self) -> QSize:
        return QSize(self._side, self._side)

    def paintEvent(self, _e: QPaintEvent) -> None:
        p = QPainter(self)
        draw_pictogram(p, self.kind, QRectF(self.rect()).adjusted(2, 2, -2, -2),
                       self.theme.color(self._fg), self.theme.color(self._accent))
        p.end()


class TileButton(BigButton):
    """A large menu tile: pictogram on the left, label on the right."""

    def __init__(self, kind: str, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__("", "tile", parent)
        self.kind = kind
        self.theme = theme
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def paintEvent(self, e: QPaintEvent) -> None:
        super().paintEvent(e)
        p = QPainter(self)
        side = min(self.height() - self.theme.px(40), self.theme.px(100))
        rect = QRectF(self.theme.px(28), (self.height() - side) / 2, side, side)
        draw_pictogram(p, self.kind, rect, self.theme.color("primary"), self.theme.color("accent"))
        p.end()


# ---- keypad ----------------------------------------------------------------------------

class Keypad(QWidget):
    """A 4×3 numeric keypad; emits ``pressed(key)`` with a digit, ``back`` or ``ok``."""

    pressed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setSpacing(10)
        grid.setContentsMargins(0, 0, 0, 0)
        self.buttons: dict[str, BigButton] = {}
        keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "back", "0", "ok"]
        for i, key in enumerate(keys):
            label = {"back": "⌫", "ok": "OK"}.get(key, key)
            b = BigButton(label, "keyok" if key == "ok" else "key")
            b.setObjectName(f"key_{key}")
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            b.setAccessibleName({"back": "Backspace", "ok": "OK"}.get(key, key))
            b.clicked.connect(lambda _c=False, k=key: self.pressed.emit(k))
            grid.addWidget(b, i // 3, i % 3)
            self.buttons[key] = b


# ---- QR code ---------------------------------------------------------------------------

def qr_image(data: str, module_px: int = 8, border: int = 2) -> QImage:
    """Render ``data`` as a QR code into a black-on-white QImage."""
    import qrcode

    qr = qrcode.QRCode(border=border, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(data.encode("utf-8"))
    qr.make(fit=True)
    matrix = qr.get_matrix()
    n = len(matrix)
    img = QImage(n * module_px, n * module_px, QImage.Format.Format_RGB32)
    img.fill(QColor("white"))
    p = QPainter(img)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("black"))
    for y, row in enumerate(matrix):
        for x, on in enumerate(row):
            if on:
                p.drawRect(x * module_px, y * module_px, module_px, module_px)
    p.end()
    return img


class QrWidget(QWidget):
    """Shows a QR code scaled to fit, always with a white quiet zone."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._img: QImage | None = None
        self.data = ""
        self.setMinimumSize(240, 240)

    def set_data(self, data: str) -> None:
        self.data = data
        self._img = qr_image(data) if data else None
        self.update()

    def paintEvent(self, _e: QPaintEvent) -> None:
        if self._img is None:
            return
        p = QPainter(self)
        side = min(self.width(), self.height())
        x = (self.width() - side) // 2
        y = (self.height() - side) // 2
        p.fillRect(x, y, side, side, QColor("white"))
        p.drawImage(QRectF(x, y, side, side), self._img)
        p.end()


# ---- item rows -------------------------------------------------------------------------

_GLYPH = {"ok": "✓", "pending": "…", "warn": "!", "bad": "✕"}


def _data(index: QModelIndex | QPersistentModelIndex, role: int) -> Any:
    """``index.data(role)`` without the C++ round trip.

    PySide6 6.12.0 returns ``None`` for an invalid QVariant without taking a reference, so
    every ``QModelIndex.data()`` that finds no data drops one reference to ``None`` and the
    interpreter eventually aborts ("deallocating None"). Calling the Python model's own
    ``data()`` avoids the conversion.
    """
    model = index.model()
    return model.data(index, role) if model is not None else None


class ItemCardDelegate(QStyledItemDelegate):
    """Draws a row as a card: a coloured status disc, the title, the status line, a note.

    Args:
        theme: colours and sizes.
        checkable: draw a check box (renewal) from ``CheckStateRole``.
    """

    def __init__(self, theme: Theme, checkable: bool = False, parent: Any = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.checkable = checkable

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        note = _data(index, NOTE_ROLE)
        h = self.theme.px(96 if not note else 124)
        return QSize(max(1, option.rect.width()), h)

    def paint(self, p: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        t = self.theme
        kind = str(_data(index, KIND_ROLE) or "pending")
        rect = QRectF(option.rect).adjusted(4, 5, -4, -5)
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        bg = t.color(f"{kind}_bg") if not t.high_contrast else t.color("surface")
        p.setPen(QPen(t.color(kind), 3 if t.high_contrast else 2))
        p.setBrush(bg)
        p.drawRoundedRect(rect, 16, 16)
        if option.state & QStyle.StateFlag.State_HasFocus:   # keyboard focus ring
            p.setPen(QPen(t.color("focus"), 4))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 16, 16)
        x = rect.left() + t.px(18)
        if self.checkable:
            box = QRectF(x, rect.center().y() - t.px(20), t.px(40), t.px(40))
            p.setPen(QPen(t.color("text"), 3))
            checked = _data(index, Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
            p.setBrush(t.color("primary") if checked else t.color("surface"))
            p.drawRoundedRect(box, 8, 8)
            if checked:
                p.setPen(QPen(t.color("primary_text"), 5, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
                p.drawLine(QPointF(box.left() + box.width() * 0.22, box.center().y()),
                           QPointF(box.left() + box.width() * 0.42, box.bottom() - box.height() * 0.25))
                p.drawLine(QPointF(box.left() + box.width() * 0.42, box.bottom() - box.height() * 0.25),
                           QPointF(box.right() - box.width() * 0.2, box.top() + box.height() * 0.25))
            x = box.right() + t.px(18)
        d = t.px(48)
        disc = QRectF(x, rect.top() + t.px(22), d, d)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(t.color(kind))
        p.drawEllipse(disc)
        p.setPen(QColor("#000000") if t.high_contrast else QColor("#FFFFFF"))
        p.setFont(t.font(26, bold=True))
        p.drawText(disc, Qt.AlignmentFlag.AlignCenter, _GLYPH.get(kind, "•"))
        tx = disc.right() + t.px(18)
        width = rect.right() - tx - t.px(16)
        p.setPen(t.color("text"))
        p.setFont(t.font(24, bold=True))
        fm = p.fontMetrics()
        title = fm.elidedText(str(_data(index, Qt.ItemDataRole.DisplayRole) or ""),
                              Qt.TextElideMode.ElideRight, int(width))
        p.drawText(QRectF(tx, rect.top() + t.px(12), width, t.px(34)),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
        p.setFont(t.font(21))
        p.setPen(t.color(kind) if kind != "pending" else t.color("muted"))
        detail = p.fontMetrics().elidedText(str(_data(index, DETAIL_ROLE) or ""),
                                            Qt.TextElideMode.ElideRight, int(width))
        p.drawText(QRectF(tx, rect.top() + t.px(48), width, t.px(30)),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, detail)
        note = _data(index, NOTE_ROLE)
        if note:
            p.setPen(t.color("warn"))
            p.setFont(t.font(21, bold=True))
            p.drawText(QRectF(tx, rect.top() + t.px(78), width, t.px(30)),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, str(note))
        p.restore()


def card_frame(parent: QWidget | None = None, name: str = "Card") -> QFrame:
    """A white rounded panel."""
    f = QFrame(parent)
    f.setObjectName(name)
    return f

