"""Qt item models for the kiosk's lists: item results, loans, holds and fines.

Models hold plain dicts as the edge sent them (docs/api.md) and render text at ``data()``
time in the :class:`~kiosk_ui.i18n.Localizer`'s language, so a language switch only needs a
``dataChanged``. They contain no widgets and no network code.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QT_TRANSLATE_NOOP,
    QAbstractListModel,
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)

from kiosk_ui.i18n import Localizer
from kiosk_ui.text import (
    BAD,
    OK,
    PENDING,
    STATUS_KIND,
    WARN,
    fine_text,
    format_date,
    format_money,
    status_text,
)

Index = QModelIndex | QPersistentModelIndex
Row = dict[str, Any]

KIND_ROLE = Qt.ItemDataRole.UserRole + 1      # ok | pending | warn | bad
DETAIL_ROLE = Qt.ItemDataRole.UserRole + 2    # second line (status text)
NOTE_ROLE = Qt.ItemDataRole.UserRole + 3      # third line (fine notice), maybe ""
ID_ROLE = Qt.ItemDataRole.UserRole + 4        # item_id
RAW_ROLE = Qt.ItemDataRole.UserRole + 5       # the row dict


class _RowsModel(QAbstractTableModel):
    """A table of dicts; subclasses describe columns with ``_cell(row, column)``."""

    HEADERS: tuple[str, ...] = ()

    def __init__(self, localizer: Localizer, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Row] = []
        self._loc = localizer
        localizer.changed.connect(self._relabel)

    # -- Qt API -----------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal
                and 0 <= section < len(self.HEADERS)):
            return QCoreApplication.translate("Columns", self.HEADERS[section])
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cell(row, index.column())
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._cell(row, index.column())
        if role == ID_ROLE:
            return row.get("item_id")
        if role == RAW_ROLE:
            return dict(row)
        return self._extra(row, index.column(), role)

    # -- rows -------------------------------------------------------------------------
    @property
    def rows(self) -> list[Row]:
        """A copy of the rows."""
        return [dict(r) for r in self._rows]

    def set_rows(self, rows: list[Row]) -> None:
        """Replace every row."""
        self.beginResetModel()
        self._rows = [dict(r) for r in rows]
        self.endResetModel()

    def clear(self) -> None:
        """Remove every row."""
        self.set_rows([])

    def find(self, item_id: str) -> int:
        """The row number of ``item_id``, or -1."""
        for i, r in enumerate(self._rows):
            if r.get("item_id") == item_id:
                return i
        return -1

    def remove(self, item_id: str) -> bool:
        """Remove the row of ``item_id``; False if there is none."""
        i = self.find(item_id)
        if i < 0:
            return False
        self.beginRemoveRows(QModelIndex(), i, i)
        del self._rows[i]
        self.endRemoveRows()
        return True

    def upsert(self, row: Row) -> int:
        """Update the row with the same ``item_id`` (keeping known fields) or append it."""
        i = self.find(str(row.get("item_id")))
        if i < 0:
            n = len(self._rows)
            self.beginInsertRows(QModelIndex(), n, n)
            self._rows.append(dict(row))
            self.endInsertRows()
            return n
        merged = {**self._rows[i], **{k: v for k, v in row.items() if v not in (None, "")}}
        self._rows[i] = merged
        self.dataChanged.emit(self.index(i, 0), self.index(i, self.columnCount() - 1))
        return i

    def _relabel(self, _language: str = "") -> None:
        if self._rows:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self._rows) - 1, self.columnCount() - 1))
        if self.HEADERS:
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(self.HEADERS) - 1)

    # -- for subclasses ---------------------------------------------------------------
    def _cell(self, row: Row, column: int) -> str:
        raise NotImplementedError

    def _extra(self, row: Row, column: int, role: int) -> Any:
        return None


class ItemResultsModel(_RowsModel):
    """Items on the pad and what happened to each (borrow, return and renew results)."""

    HEADERS = (QT_TRANSLATE_NOOP("Columns", "Title"), QT_TRANSLATE_NOOP("Columns", "Status"))

    def _cell(self, row: Row, column: int) -> str:
        if column == 0:
            return str(row.get("title") or row.get("item_id") or "")
        return status_text(row, self._loc.language)

    def _extra(self, row: Row, column: int, role: int) -> Any:
        if role == KIND_ROLE:
            return STATUS_KIND.get(str(row.get("status")), BAD if row.get("code") else PENDING)
        if role == DETAIL_ROLE:
            return status_text(row, self._loc.language)
        if role == NOTE_ROLE:
            return fine_text(row, self._loc.language)
        return None

    def counts(self) -> dict[str, int]:
        """How many rows are ``ok``, ``refused`` (bad or warn) and still ``pending``."""
        out = {"ok": 0, "refused": 0, "pending": 0}
        for r in self._rows:
            kind = STATUS_KIND.get(str(r.get("status")), PENDING)
            if r.get("status") == "loaned_alarm_on":
                kind = OK
            key = "ok" if kind == OK else "pending" if kind == PENDING else "refused"
            out[key] += 1
        return out


class LoansModel(_RowsModel):
    """The patron's loans; checkable for renewal; overdue rows flagged; renewal results."""

    HEADERS = (QT_TRANSLATE_NOOP("Columns", "Title"), QT_TRANSLATE_NOOP("Columns", "Due"),
               QT_TRANSLATE_NOOP("Columns", "Result"))

    def __init__(self, localizer: Localizer, checkable: bool = False, parent: Any = None) -> None:
        super().__init__(localizer, parent)
        self._checkable = checkable
        self._checked: set[str] = set()

    def set_rows(self, rows: list[Row]) -> None:
        self._checked &= {str(r.get("item_id")) for r in rows}
        super().set_rows(rows)

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.isValid() and self._checkable and index.column() == 0:
            base |= Qt.ItemFlag.ItemIsUserCheckable
        return base

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if (not index.isValid() or not self._checkable or index.column() != 0
                or role != Qt.ItemDataRole.CheckStateRole):
            return False
        item_id = str(self._rows[index.row()].get("item_id"))
        checked = Qt.CheckState(value) == Qt.CheckState.Checked if not isinstance(value, bool) else value
        if checked:
            self._checked.add(item_id)
        else:
            self._checked.discard(item_id)
        self.dataChanged.emit(index, index, [role])
        return True

    def toggle(self, row: int) -> None:
        """Flip the check mark of ``row``."""
        idx = self.index(row, 0)
        item_id = str(self._rows[row].get("item_id"))
        state = Qt.CheckState.Unchecked if item_id in self._checked else Qt.CheckState.Checked
        self.setData(idx, state.value, Qt.ItemDataRole.CheckStateRole)

    def checked_ids(self) -> list[str]:
        """The checked item ids in row order."""
        return [str(r["item_id"]) for r in self._rows if str(r.get("item_id")) in self._checked]

    def _cell(self, row: Row, column: int) -> str:
        lang = self._loc.language
        if column == 0:
            return str(row.get("title") or row.get("item_id") or "")
        if column == 1:
            return format_date(row.get("due_date"), lang)
        if "status" in row:
            return status_text(row, lang)
        return ""

    def _extra(self, row: Row, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.CheckStateRole and self._checkable and column == 0:
            on = str(row.get("item_id")) in self._checked
            return Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
        if role == KIND_ROLE:
            if "status" in row:
                return STATUS_KIND.get(str(row["status"]), BAD)
            return BAD if row.get("overdue") else OK
        if role == DETAIL_ROLE:
            lang = self._loc.language
            due = format_date(row.get("due_date"), lang)
            if "status" in row:
                return status_text(row, lang)
            if row.get("overdue"):
                return QCoreApplication.translate("Status", "Overdue since {date}").format(date=due)
            return QCoreApplication.translate("Status", "Due {date}").format(date=due)
        return None


class HoldsModel(_RowsModel):
    """The patron's holds; ready ones first."""

    HEADERS = (QT_TRANSLATE_NOOP("Columns", "Title"), QT_TRANSLATE_NOOP("Columns", "Pickup"))

    def set_rows(self, rows: list[Row]) -> None:
        super().set_rows(sorted(rows, key=lambda r: not r.get("ready")))

    def _cell(self, row: Row, column: int) -> str:
        if column == 0:
            return str(row.get("title") or row.get("item_id") or "")
        if row.get("ready"):
            text = QCoreApplication.translate("Status", "Ready for pickup at {place}").format(
                place=row.get("pickup_location") or "")
            if row.get("expires"):
                text += " · " + QCoreApplication.translate("Status", "until {date}").format(
                    date=format_date(row.get("expires"), self._loc.language))
            return text
        return QCoreApplication.translate("Status", "Waiting")

    def _extra(self, row: Row, column: int, role: int) -> Any:
        if role == KIND_ROLE:
            return OK if row.get("ready") else PENDING
        if role == DETAIL_ROLE:
            return self._cell(row, 1)
        return None


class FinesModel(_RowsModel):
    """The patron's fines."""

    HEADERS = (QT_TRANSLATE_NOOP("Columns", "Description"),
               QT_TRANSLATE_NOOP("Columns", "Amount"))

    def _cell(self, row: Row, column: int) -> str:
        if column == 0:
            text = str(row.get("reason") or row.get("description") or "")
            if row.get("date"):
                text += f" · {format_date(row.get('date'), self._loc.language)}"
            return text
        if row.get("amount") is None:
            return ""
        return format_money(row.get("amount"), row.get("currency"), self._loc.language)

    def _extra(self, row: Row, column: int, role: int) -> Any:
        if role == KIND_ROLE:
            return WARN
        if role == DETAIL_ROLE:
            return self._cell(row, 1)
        return None


class ReceiptLinesModel(QAbstractListModel):
    """The lines of a receipt, one string each (for the on-screen receipt)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._lines: list[str] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._lines)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._lines)):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._lines[index.row()]
        return None

    def set_lines(self, lines: list[str]) -> None:
        """Replace the lines."""
        self.beginResetModel()
        self._lines = list(lines)
        self.endResetModel()

