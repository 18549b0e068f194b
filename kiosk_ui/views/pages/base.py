"""What every kiosk page shares: the page frame, its title header, and small widget helpers.

A page only lays out widgets, forwards taps to its view-model and re-reads the view-model in
``refresh()`` (which also re-translates every label, so a language switch needs no restart).
No edge calls and no state of their own live here.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QVBoxLayout,
    QWidget,
)

from kiosk_ui.theme import Theme
from kiosk_ui.viewmodels.kiosk import KioskViewModel
from kiosk_ui.views.widgets import BigButton, ItemCardDelegate, Pictogram


def label(role: str = "", parent: QWidget | None = None, wrap: bool = True) -> QLabel:
    """A label styled by ``role`` (``title``, ``subtitle``, ``error`` ...: see the theme)."""
    lab = QLabel(parent)
    if role:
        lab.setProperty("role", role)
    lab.setWordWrap(wrap)
    return lab


class TouchList(QListView):
    """A list that asks for no more height than its minimum: it grows into the room its
    layout gives it. (A list's default preferred height, 192 px, made a page of two stacked
    lists taller than a 1280×800 screen: the page's scroll area sizes a page with wrapping
    labels to its preferred height.)"""

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), self.minimumHeight())


def list_view(theme: Theme, checkable: bool = False) -> QListView:
    """A touch list of item cards (rows drawn by :class:`ItemCardDelegate`)."""
    v = TouchList()
    v.setItemDelegate(ItemCardDelegate(theme, checkable, v))
    v.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    v.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    v.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    v.setSpacing(2)
    v.setUniformItemSizes(False)
    v.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    v.setResizeMode(QListView.ResizeMode.Adjust)
    v.setMinimumHeight(theme.px(96))
    return v


def fit_rows(view: QListView, rows: int, floor: int) -> None:
    """Make ``view`` at least tall enough to show its first ``rows`` rows without its own
    scrollbar (and never shorter than ``floor``)."""
    model = view.model()
    n = min(rows, model.rowCount() if model is not None else 0)
    spacing = 2 * view.spacing()
    need = sum(view.sizeHintForRow(i) + spacing for i in range(n)) + 2 * view.frameWidth()
    view.setMinimumHeight(max(floor, need))


def show_error(lab: QLabel, text: str) -> None:
    """Show ``text`` in an error label, hidden when there is none."""
    lab.setText(text)
    lab.setVisible(bool(text))


class PageHeader(QHBoxLayout):
    """A page's title row: a pictogram, the title with a hint under it, and optionally a
    widget at the right (the pad's running count).

    Args:
        theme: sizes and colours.
        pictogram: the :class:`Pictogram` kind, or ``None`` for none.
        size: the pictogram's size before scaling.
        hint: whether there is a hint line under the title (:attr:`hint` is ``None`` if not).
        trailing: a widget at the right end, bottom-aligned.
    """

    def __init__(self, theme: Theme, pictogram: str | None = None, *, size: int = 84,
                 hint: bool = True, trailing: QWidget | None = None) -> None:
        super().__init__()
        if pictogram:
            self.addWidget(Pictogram(pictogram, theme, size))
        titles = QVBoxLayout()
        self.title = label("title")
        titles.addWidget(self.title)
        self.hint: QLabel | None = label("subtitle") if hint else None
        if self.hint is not None:
            titles.addWidget(self.hint)
        self.addLayout(titles, 1)
        if trailing is not None:
            self.addWidget(trailing, 0, Qt.AlignmentFlag.AlignBottom)


class Page(QWidget):
    """A screen: margins, a title row (:meth:`add_header`) and a body.

    Args:
        vm: the root view-model.
        theme: sizes and colours.
    """

    def __init__(self, vm: KioskViewModel, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Page")
        self.vm = vm
        self.theme = theme
        self.root = QVBoxLayout(self)
        m = theme.px(36)
        self.root.setContentsMargins(m, theme.px(24), m, theme.px(24))
        self.root.setSpacing(theme.px(18))

    def add_header(self, pictogram: str | None = None, *, size: int = 84, hint: bool = True,
                   trailing: QWidget | None = None) -> PageHeader:
        """Add the title row (see :class:`PageHeader`); sets :attr:`title` and :attr:`hint`."""
        header = PageHeader(self.theme, pictogram, size=size, hint=hint, trailing=trailing)
        self.title = header.title
        if header.hint is not None:
            self.hint = header.hint
        self.root.addLayout(header)
        return header

    def back_button(self) -> BigButton:
        """The *Back* button (object name ``back``): back to the menu, or to Attract."""
        back = BigButton("")
        back.setObjectName("back")
        back.clicked.connect(self.vm.back)
        return back

    def refresh(self) -> None:
        """Re-read the view-model and re-translate every text."""
        raise NotImplementedError
