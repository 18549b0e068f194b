"""Shared helpers for bench scripts: argument parsing and the JSON line they print."""

from __future__ import annotations

import argparse
import json
import operator
import sys
from typing import Any

_OPS = {">=": operator.ge, "<=": operator.le}


def parse_args(description: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="a short run, as inside make test")
    return ap.parse_args()


def target(figure: str, value: float | None, op: str, goal: float,
           reference: str = "") -> dict[str, Any]:
    """One target line; a figure that could not be measured (None) is never met."""
    met = value is not None and bool(_OPS[op](value, goal))
    return {"figure": figure, "value": value, "op": op, "target": goal, "met": met,
            "reference": reference}


def emit(bench: str, figures: dict[str, Any], targets: list[dict[str, Any]], **extra: Any) -> None:
    json.dump({"bench": bench, "figures": figures, "targets": targets, **extra}, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()
