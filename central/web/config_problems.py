"""Why a remote configuration was refused, in the page's language.

The boxes' models (pydantic) and :mod:`smartlib.remote` word their refusals in English,
``(path, message)``; an edge's refusal arrives as one ``path: message; path: message`` text.
:func:`explain` turns the common messages (missing, wrong type, out of range, not one of,
unknown key, too long or short, refused or unknown section, not TOML) into Vietnamese or
English; a message it does not know stays as it was. Pages keep the raw text as a tooltip.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_GOT = re.compile(r"^(?P<msg>.*?) \(got (?P<got>.*)\)$", re.S)

_REASONS_VI = {
    "the box's identity is set on the box": "danh tính của thiết bị được đặt trên thiết bị",
    "broker credentials and address stay on the box":
        "địa chỉ và tài khoản broker được giữ trên thiết bị",
    "the store path stays on the box": "đường dẫn kho dữ liệu được giữ trên thiết bị",
    "the edge API's address and tokens stay on the box":
        "địa chỉ và mã truy cập API của edge được giữ trên thiết bị",
    "the ILS account belongs to the gateway, not to a box":
        "tài khoản ILS thuộc về gateway, không thuộc thiết bị",
    "gateway settings are not a box's": "cấu hình gateway không thuộc thiết bị",
    "mail relay credentials stay on the box": "tài khoản máy chủ thư được giữ trên thiết bị",
    "the reader's wiring is set on the box": "kết nối đầu đọc được đặt trên thiết bị",
    "the card reader's wiring is set on the box": "kết nối đầu đọc thẻ được đặt trên thiết bị",
    "a secret: it is never sent over MQTT; set it on the box":
        "là bí mật: không bao giờ gửi qua MQTT; hãy đặt trên thiết bị",
    "the kiosk's link to its edge is set on the box":
        "liên kết của kiosk tới edge được đặt trên thiết bị",
}

_COMPARE = {"greater than or equal to": ("≥", "at least"), "greater than": (">", "more than"),
            "less than or equal to": ("≤", "at most"), "less than": ("<", "less than")}


def _rules() -> list[tuple[re.Pattern[str], Callable[[re.Match[str]], tuple[str, str]]]]:
    """``(pattern of the English message, match → (vi, en))``."""
    def fixed(vi: str, en: str) -> Callable[[re.Match[str]], tuple[str, str]]:
        return lambda _m: (vi, en)

    def compare(m: re.Match[str]) -> tuple[str, str]:
        sign, words = _COMPARE[m["op"]]
        return f"phải {sign} {m['n']}", f"must be {words} {m['n']}"

    def one_of(m: re.Match[str]) -> tuple[str, str]:
        choices = re.sub(r" or (?=')", ", ", m["choices"])
        return f"phải là một trong: {choices}", f"must be one of: {choices}"

    def length(m: re.Match[str]) -> tuple[str, str]:
        unit_vi = "ký tự" if m["unit"] == "characters" else "phần tử"
        unit_en = "characters" if m["unit"] == "characters" else "items"
        most = m["bound"] == "most"
        return ((f"quá dài: tối đa {m['n']} {unit_vi}" if most
                 else f"quá ngắn: tối thiểu {m['n']} {unit_vi}"),
                (f"too long: at most {m['n']} {unit_en}" if most
                 else f"too short: at least {m['n']} {unit_en}"))

    def refused(m: re.Match[str]) -> tuple[str, str]:
        why = m["why"]
        return (f"không được cấu hình từ xa: {_REASONS_VI.get(why, why)}",
                f"not remotely configurable: {why}")

    def unknown_section(m: re.Match[str]) -> tuple[str, str]:
        return (f"mục không xác định (các mục cấu hình từ xa: {m['names']})",
                f"unknown section (remote sections: {m['names']})")

    return [
        (re.compile(r"^Field required$"), fixed("thiếu giá trị bắt buộc", "a value is required")),
        (re.compile(r"^Input should be a valid integer\b.*$"),
         fixed("phải là số nguyên", "must be a whole number")),
        (re.compile(r"^Input should be a valid number\b.*$"),
         fixed("phải là số", "must be a number")),
        (re.compile(r"^Input should be a valid boolean\b.*$"),
         fixed("phải là true hoặc false", "must be true or false")),
        (re.compile(r"^Input should be a valid string$"),
         fixed("phải là chuỗi ký tự", "must be a text")),
        (re.compile(r"^Input should be a valid list$"),
         fixed("phải là danh sách", "must be a list")),
        (re.compile(r"^Input should be a valid dictionary\b.*$"),
         fixed("phải là một bảng [mục]", "must be a [section] table")),
        (re.compile(r"^Input should be (?P<op>greater than or equal to|greater than|"
                    r"less than or equal to|less than) (?P<n>\S+)$"), compare),
        (re.compile(r"^Input should be (?P<choices>'.*')$"), one_of),
        (re.compile(r"^(?:String|List|Value) should have at (?P<bound>most|least) (?P<n>\d+) "
                    r"(?P<unit>characters?|items?)(?: after validation.*)?$"), length),
        (re.compile(r"^String should match pattern '(?P<p>.*)'$"),
         lambda m: (f"sai định dạng (mẫu {m['p']})", f"wrong format (pattern {m['p']})")),
        (re.compile(r"^(?:unknown key \(not part of the configuration schema\)|"
                    r"Extra inputs are not permitted)$"),
         fixed("khóa không có trong cấu hình (không thuộc lược đồ)",
               "unknown key (not part of the configuration schema)")),
        (re.compile(r"^not remotely configurable: (?P<why>.*)$", re.S), refused),
        (re.compile(r"^unknown section \(remote sections: (?P<names>.*)\)$"), unknown_section),
        (re.compile(r"^must be a \[section\] table$"),
         fixed("phải là một bảng [mục]", "must be a [section] table")),
        (re.compile(r"^not valid TOML\b.*$", re.S),
         fixed("không phải TOML hợp lệ", "not valid TOML")),
        (re.compile(r"^does not match its sha256 \(damaged\)$"),
         fixed("không khớp sha256 (bị hỏng)", "does not match its sha256 (damaged)")),
    ]


_RULES = _rules()


@dataclass(frozen=True)
class Problem:
    """One refused setting: its path, the reason in the page's language, the raw text."""

    path: str
    text: str
    raw: str


def explain(path: str, message: str, lang: str) -> Problem:
    """``message`` (the models' English) about ``path`` in ``lang`` (``vi`` or ``en``)."""
    got = _GOT.match(message)
    core, value = (got["msg"], got["got"]) if got else (message, None)
    said = core
    for pattern, words in _RULES:
        m = pattern.match(core)
        if m:
            vi, en = words(m)
            said = en if lang == "en" else vi
            break
    if value is not None:
        said += f" ({'got' if lang == 'en' else 'nhận được'} {value})"
    return Problem(path, said, f"{path}: {message}")


def explain_all(problems: list[tuple[str, str]], lang: str) -> list[Problem]:
    """Every ``(path, message)`` explained in ``lang``."""
    return [explain(path, message, lang) for path, message in problems]


def split_reason(reason: str | None) -> list[tuple[str, str]]:
    """An edge's refusal text (``path: message; path: message``) as ``(path, message)``
    pairs; a text in another shape is one pair with an empty path."""
    if not reason:
        return []
    out: list[tuple[str, str]] = []
    for part in reason.split("; "):
        path, sep, message = part.partition(": ")
        if sep and _PATH.match(path):
            out.append((path, message))
        elif out:  # "; " inside a message (e.g. a refused key's reason)
            out[-1] = (out[-1][0], f"{out[-1][1]}; {part}")
        else:
            out.append(("", part))
    return out


_PATH = re.compile(r"^(?:\(document\)|\(value\)|\(root\)|[a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*)$")
