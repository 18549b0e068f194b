"""Colours, sizes and the Qt style sheet: a friendly default theme and a high-contrast one.

Sizes are in pixels and scale by 1.3 in large-text mode; touch targets are never below
:data:`MIN_TOUCH` pixels. The font is DejaVu Sans (Debian ``fonts-dejavu-core``), which has
every Vietnamese precomposed letter; Noto Sans is used when installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtGui import QColor, QFont, QFontDatabase

MIN_TOUCH = 48
FONT_FAMILIES = ("Noto Sans", "DejaVu Sans", "Liberation Sans")

_DEFAULT = {
    "bg": "#F5F1E8", "surface": "#FFFFFF", "surface_alt": "#EAF3F2", "text": "#1D2B33",
    "muted": "#55656E", "primary": "#0E6B6B", "primary_text": "#FFFFFF",
    "primary_dark": "#0A5050", "accent": "#F2A23A", "accent_text": "#1D2B33",
    "header": "#0E6B6B", "header_text": "#FFFFFF", "border": "#D8D2C4", "focus": "#F2A23A",
    "ok": "#2E7D32", "pending": "#1F6FB5", "warn": "#C77700", "bad": "#C62828",
    "ok_bg": "#E7F4E8", "pending_bg": "#E6F0FA", "warn_bg": "#FFF3DC", "bad_bg": "#FDECEC",
    "banner": "#FFF0C7", "banner_text": "#5A3C00", "danger": "#B3261E",
}
_HIGH_CONTRAST = {
    "bg": "#000000", "surface": "#000000", "surface_alt": "#111111", "text": "#FFFFFF",
    "muted": "#FFFFFF", "primary": "#FFE000", "primary_text": "#000000",
    "primary_dark": "#FFE000", "accent": "#00E5FF", "accent_text": "#000000",
    "header": "#000000", "header_text": "#FFFFFF", "border": "#FFFFFF", "focus": "#00E5FF",
    "ok": "#7CFF6B", "pending": "#7FC8FF", "warn": "#FFD24D", "bad": "#FF7A7A",
    "ok_bg": "#000000", "pending_bg": "#000000", "warn_bg": "#000000", "bad_bg": "#000000",
    "banner": "#FFE000", "banner_text": "#000000", "danger": "#FF7A7A",
}


def pick_font_family() -> str:
    """The first of :data:`FONT_FAMILIES` installed (needs a QGuiApplication)."""
    families = set(QFontDatabase.families())
    for fam in FONT_FAMILIES:
        if fam in families:
            return fam
    return QFont().defaultFamily()


@dataclass
class Theme:
    """A resolved theme.

    Args:
        large_text: scale every size by 1.3.
        high_contrast: white/yellow on black, thick borders.
    """

    large_text: bool = False
    high_contrast: bool = False
    family: str = "DejaVu Sans"
    colors: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.colors = dict(_HIGH_CONTRAST if self.high_contrast else _DEFAULT)

    @property
    def scale(self) -> float:
        return 1.3 if self.large_text else 1.0

    def px(self, n: float) -> int:
        """``n`` pixels, scaled for large-text mode."""
        return int(round(n * self.scale))

    def color(self, name: str) -> QColor:
        return QColor(self.colors[name])

    def font(self, size: float, bold: bool = False) -> QFont:
        f = QFont(self.family)
        f.setPixelSize(self.px(size))
        f.setBold(bold)
        return f

    def stylesheet(self) -> str:
        """The application style sheet."""
        c = self.colors
        px = self.px
        border = 3 if self.high_contrast else 2
        return f"""
* {{ font-family: "{self.family}"; color: {c['text']}; }}
QWidget#KioskRoot, QStackedWidget, QWidget#Page {{ background: {c['bg']}; }}
QScrollArea#PageArea, QScrollArea#PageArea > QWidget > QWidget#Page {{ background: {c['bg']}; border: none; }}
QLabel {{ font-size: {px(22)}px; background: transparent; }}
QLabel[role="title"] {{ font-size: {px(40)}px; font-weight: bold; color: {c['text']}; }}
QLabel[role="subtitle"] {{ font-size: {px(26)}px; color: {c['muted']}; }}
QLabel[role="hint"] {{ font-size: {px(22)}px; color: {c['muted']}; }}
QLabel[role="section"] {{ font-size: {px(26)}px; font-weight: bold; }}
QLabel[role="count"] {{ font-size: {px(26)}px; font-weight: bold; color: {c['primary_dark'] if not self.high_contrast else c['text']}; }}
QLabel[role="error"] {{ font-size: {px(24)}px; font-weight: bold; color: {c['bad']};
    background: {c['bad_bg']}; border: {border}px solid {c['bad']}; border-radius: 14px; padding: {px(14)}px; }}
QLabel[role="done"] {{ font-size: {px(26)}px; font-weight: bold; color: {c['ok']};
    background: {c['ok_bg']}; border: {border}px solid {c['ok']}; border-radius: 14px; padding: {px(14)}px; }}
QLabel[role="notice"] {{ font-size: {px(22)}px; color: {c['banner_text']}; background: {c['banner']};
    border-radius: 12px; padding: {px(10)}px; }}
QLabel#StepNumber {{ font-size: {px(26)}px; font-weight: bold; border-radius: {px(26)}px;
    background: {c['primary']}; color: {c['primary_text']}; }}
QWidget#Header {{ background: {c['header']}; border-bottom: {border}px solid {c['border'] if self.high_contrast else c['header']}; }}
QWidget#Header QLabel {{ color: {c['header_text']}; }}
QLabel#SiteName {{ font-size: {px(26)}px; font-weight: bold; }}
QLabel#Greeting {{ font-size: {px(24)}px; }}
QLabel#Countdown {{ font-size: {px(22)}px; font-weight: bold; border-radius: {px(22)}px;
    padding: {px(6)}px {px(16)}px; background: rgba(255,255,255,0.16); color: {c['header_text']}; }}
QLabel#Countdown[warning="true"] {{ background: {c['accent']}; color: {c['accent_text']}; }}
QWidget#Banner {{ background: {c['banner']}; }}
QWidget#Banner QLabel {{ color: {c['banner_text']}; font-size: {px(22)}px; font-weight: bold; }}
QWidget#IdleBar {{ background: {c['accent']}; }}
QWidget#IdleBar QLabel {{ color: {c['accent_text']}; font-size: {px(24)}px; font-weight: bold; }}
QPushButton#idle_continue {{ min-height: {max(MIN_TOUCH, px(52))}px; padding: 0px {px(24)}px; }}
QFrame#Card {{ background: {c['surface']}; border: {border}px solid {c['border']}; border-radius: 22px; }}
QFrame#Paper {{ background: #FFFFFF; border: {border}px solid {c['border']}; border-radius: 8px; }}
QFrame#Paper QLabel {{ color: #111111; font-family: "DejaVu Sans Mono"; font-size: {px(19)}px; }}
QPushButton {{ font-size: {px(24)}px; font-weight: bold; min-height: {max(MIN_TOUCH, px(64))}px;
    min-width: {max(MIN_TOUCH, px(64))}px; padding: {px(8)}px {px(26)}px; border-radius: 16px;
    background: {c['surface']}; color: {c['text']}; border: {border}px solid {c['border']}; }}
QPushButton:pressed {{ background: {c['surface_alt']}; }}
QPushButton:focus {{ border: 4px solid {c['focus']}; }}
QPushButton:disabled {{ color: {c['muted']}; background: {c['surface_alt']}; }}
QPushButton[kind="primary"] {{ background: {c['primary']}; color: {c['primary_text']}; border-color: {c['primary']}; }}
QPushButton[kind="primary"]:pressed {{ background: {c['primary_dark']}; }}
QPushButton[kind="primary"]:focus {{ border: 4px solid {c['focus']}; }}
QPushButton[kind="accent"] {{ background: {c['accent']}; color: {c['accent_text']}; border-color: {c['accent']}; }}
QPushButton[kind="danger"] {{ background: {c['surface']}; color: {c['danger']}; border-color: {c['danger']}; }}
QPushButton[kind="lang"] {{ font-size: {px(22)}px; min-height: {max(MIN_TOUCH, px(56))}px; padding: {px(4)}px {px(20)}px;
    background: transparent; color: {c['header_text']}; border: 2px solid rgba(255,255,255,0.6); }}
QPushButton[kind="lang"]:checked {{ background: {c['header_text']}; color: {c['header']}; }}
QPushButton[kind="a11y"] {{ font-size: {px(22)}px; min-height: {max(MIN_TOUCH, px(56))}px; padding: {px(4)}px {px(20)}px; }}
QPushButton[kind="a11y"]:checked {{ background: {c['primary']}; color: {c['primary_text']}; border-color: {c['primary']}; }}
QPushButton[kind="langbig"] {{ font-size: {px(26)}px; min-width: {px(220)}px; }}
QPushButton[kind="langbig"]:checked {{ background: {c['primary']}; color: {c['primary_text']}; border-color: {c['primary']}; }}
QPushButton[kind="tile"] {{ font-size: {px(30)}px; min-height: {px(100)}px; text-align: left;
    padding-left: {px(150)}px; border-radius: 24px; background: {c['surface']}; }}
QPushButton[kind="key"] {{ font-size: {px(34)}px; min-height: {max(MIN_TOUCH, px(62))}px; min-width: {px(96)}px;
    padding: 0px; border-radius: 18px; }}
QPushButton[kind="keyok"] {{ font-size: {px(28)}px; min-height: {max(MIN_TOUCH, px(62))}px; min-width: {px(96)}px; padding: 0px;
    border-radius: 18px; background: {c['primary']}; color: {c['primary_text']}; border-color: {c['primary']}; }}
QLineEdit {{ font-size: {px(32)}px; min-height: {max(MIN_TOUCH, px(64))}px; padding: 0px {px(16)}px;
    border: {border}px solid {c['border']}; border-radius: 14px; background: {c['surface']}; color: {c['text']}; }}
QLineEdit:focus {{ border: 4px solid {c['primary'] if not self.high_contrast else c['focus']}; }}
QListView, QTableView {{ background: transparent; border: none; font-size: {px(22)}px; outline: none; }}
QScrollBar:vertical {{ width: {px(18)}px; background: transparent; }}
QScrollBar::handle:vertical {{ background: {c['border']}; border-radius: 8px; min-height: 48px; }}
QScrollBar::add-line:vertical, QScrollBar::sub-line:vertical {{ height: 0px; }}
"""
