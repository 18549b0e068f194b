"""The demo site: its names, tokens, patrons and ILS login, and the files it writes.

Shared by the system, the scenarios and tests; it starts nothing.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from smartlib_demo.errors import DemoError

SITE = "demo-site"
SITE_NAME = "Thư viện Demo"
"""The demo library's name: its boxes' ``[site] name``, and its name in the central console."""
KIOSK = "kiosk-01"
GATE = "gate-01"
RUN_MARKER = ".smartlib-demo"
DEVICE_TOKEN = "demo-device-token"
STAFF_TOKEN = "demo-staff-token"
# The demo ILS's SIP2 login and home library (hardware_sim/ils/data.py, docs/demo-ils.md).
ILS_LOGIN = {"user": "kiosk01", "password": "s3cret", "institution": "VNLIB", "location": "MAIN"}
HOME_ISIL = "VN-HN0001"
DEMO_PATRONS = (("2000001", "1234", "Nguyễn Văn An", "good standing"),
                ("2000004", "4567", "Lê Minh Châu", "good standing, holds waiting"),
                ("2000003", "3456", "John Smith",
                 "owes 75,000 VND in fines: may log in only to pay them (VietQR)"),
                ("2000002", "2345", "Trần Thị Bình", "blocked: card reported lost"))


def toml_dumps(doc: dict[str, dict[str, Any]]) -> str:
    """A TOML text for ``{section: {key: value}}``.

    Values are str, int, float, bool, lists of them, and flat dicts (written as inline tables).
    """

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str | Path):
            return json.dumps(str(v), ensure_ascii=False)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)} = {value(x)}"
                                   for k, x in v.items()) + "}"
        raise TypeError(f"cannot write {type(v).__name__} to TOML")

    out = []
    for section, body in doc.items():
        out.append(f"[{section}]")
        out += [f"{k} = {value(v)}" for k, v in body.items() if v is not None]
        out.append("")
    return "\n".join(out)



def pick_items(export_dir: Path, count: int, *, kind: str = "available",
               skip: set[str] | None = None) -> list[str]:
    """Item barcodes from the demo ILS export that fit ``kind``.

    ``available``: home library, one part, available, not loaned, no holds, a book (001).
    ``loaned``: the same, but on loan to someone.

    Raises:
        DemoError: not enough such items.
    """
    skip = skip or set()
    out: list[str] = []
    with open(export_dir / "items.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["item_id"] in skip or row["owner_isil"] != HOME_ISIL or row["parts"] != "1":
                continue
            if row["media_type"] != "001" or row["hold_count"] != "0":
                continue
            if int(row["item_id"]) < 30000100:
                continue  # the demo ILS's special cases live below 30000100
            loaned = bool(row["loaned_to"])
            if kind == "available" and (loaned or row["status"] != "available"):
                continue
            if kind == "loaned" and not (loaned and row["status"] == "loaned"):
                continue
            out.append(row["item_id"])
            if len(out) == count:
                return out
    raise DemoError(f"the demo ILS export has only {len(out)} {kind} items, {count} needed")


