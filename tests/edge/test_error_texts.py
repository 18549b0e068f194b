"""The patron texts have one source: the edge and the kiosk's test double show the same ones."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from edge import error_texts, errors

ROOT = Path(__file__).resolve().parents[2]


def test_error_texts_is_pure_data() -> None:
    tree = ast.parse((ROOT / "edge/error_texts.py").read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    for code, t in error_texts.TEXTS.items():
        assert set(t) == {"vi", "en"} and t["vi"] and t["en"] and t["vi"] != t["en"], code


def test_every_code_has_the_same_texts_in_the_edge_and_the_fake_edge() -> None:
    from kiosk_ui import fake_edge

    for code in error_texts.TEXTS:
        edge_err = errors.EdgeError(code)
        fake_err = fake_edge._err(code)
        assert fake_err.texts == edge_err.texts == errors.texts(code), code
        assert fake_err.message == edge_err.message, code
    # and the item-result texts the double hands out directly
    fake = fake_edge.FakeEdge()
    fake.login("manual", "123456", "1234", "vi")
    sid = next(iter(fake.sessions))
    [r] = fake.checkout(sid, ["3006"])["results"]
    assert r["message"] == errors.texts(r["code"]) == errors.texts("not_loanable")


def test_the_kiosk_double_loads_no_service_store_or_web_framework() -> None:
    code = ("import sys, kiosk_ui.fake_edge; "
            "bad = [m for m in sys.modules if m.startswith(('edge.services', 'edge.store', "
            "'edge.api.app', 'fastapi', 'drivers', 'sync'))]; print(bad); sys.exit(bool(bad))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
