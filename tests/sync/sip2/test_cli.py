"""``smartlib sip2``: the JSON contract, booleans and nulls, and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from hardware_sim.ils.data import DEMO_ITEMS
from hardware_sim.ils.server import DemoIlsServer
from smartlib.cli import root


def _run(demo_ils: DemoIlsServer, *args: str, port: int | None = None,
         password: str = "s3cret") -> tuple[int, dict | None, str]:
    base = ["sip2", "--host", "127.0.0.1", "--port", str(port or demo_ils.port),
            "--user", "kiosk01", "--password", password, "--institution", "VNLIB",
            "--location", "MAIN"]
    res = CliRunner().invoke(root, base + list(args))
    out = res.stdout.strip()
    return res.exit_code, (json.loads(out) if res.exit_code == 0 else None), res.stderr


CONTRACT = {
    "status": ["online_status", "raw"],
    "patron": ["valid_patron", "valid_patron_password", "personal_name", "hold_items_count",
               "overdue_items_count", "charged_items_count", "fine_items_count",
               "recall_items_count", "unavailable_holds_count", "fee_amount", "patron_id",
               "screen_message"],
    "item": ["item_id", "title", "due_date", "circulation_status", "security_marker",
             "permanent_location"],
    "checkout": ["ok", "renewal_ok", "desensitize", "magnetic_media", "item_id", "patron_id",
                 "title", "due_date", "screen_message"],
    "checkin": ["ok", "resensitize", "magnetic_media", "alert", "alert_type", "item_id",
                "permanent_location", "sort_bin", "screen_message"],
    "end": ["end_session", "patron_id", "screen_message"],
}


def test_every_command_prints_the_contract_fields(demo_ils: DemoIlsServer) -> None:
    item = DEMO_ITEMS["available"][0]
    runs = {
        "status": ["status"],
        "patron": ["patron", "--patron", "2000001", "--pin", "1234"],
        "item": ["item", "--item", item],
        "checkout": ["checkout", "--patron", "2000001", "--pin", "1234", "--item", item],
        "checkin": ["checkin", "--item", DEMO_ITEMS["on_hold_loaned"][1]],
        "end": ["end", "--patron", "2000001"],
    }
    for name, args in runs.items():
        code, obj, err = _run(demo_ils, *args)
        assert code == 0, err
        assert obj is not None
        for key in CONTRACT[name] + ["raw"]:
            assert key in obj, (name, key)
        assert isinstance(obj["screen_message"], list)
        assert obj["raw"][:2] == obj["command"]
    code, obj, _ = _run(demo_ils, "patron", "--patron", "2000001", "--pin", "1234")
    assert obj and obj["valid_patron"] is True and obj["personal_name"] == "Nguyễn Văn An"
    assert isinstance(obj["charged_items_count"], int)
    code, obj, _ = _run(demo_ils, "checkin", "--item", DEMO_ITEMS["on_hold_loaned"][2])
    assert obj and obj["alert"] is True and obj["alert_type"] == "01"
    # 2000001 has the item (checked out above) and nobody holds it: the renewal is granted
    code, obj, _ = _run(demo_ils, "renew", "--patron", "2000001", "--item", item)
    assert code == 0 and obj and obj["ok"] is True and obj["renewal_ok"] is True
    assert obj["due_date"] is not None
    # someone else's item: refused, still a completed exchange
    code, obj, _ = _run(demo_ils, "renew", "--patron", "2000004", "--item", item)
    assert code == 0 and obj and obj["ok"] is False and obj["renewal_ok"] is False


def test_refusal_exits_zero_with_ok_false(demo_ils: DemoIlsServer) -> None:
    code, obj, _ = _run(demo_ils, "checkout", "--patron", "2000002", "--item",
                        DEMO_ITEMS["available"][1])
    assert code == 0 and obj is not None
    assert obj["ok"] is False and obj["desensitize"] is False


def test_u_and_blank_are_null(demo_ils: DemoIlsServer) -> None:
    # a checkout of an unknown item: the demo ILS answers desensitize U and blank fields
    code, obj, _ = _run(demo_ils, "checkout", "--patron", "2000001", "--item", "NOPE")
    assert code == 0 and obj is not None
    assert obj["ok"] is False and obj["desensitize"] is None and obj["magnetic_media"] is None
    assert obj["title"] is None and obj["due_date"] is None


def test_offline_checkout_with_date(demo_ils: DemoIlsServer) -> None:
    code, obj, _ = _run(demo_ils, "checkout", "--patron", "2000002", "--item",
                        DEMO_ITEMS["available"][2], "--no-block", "--date", "20261120    093000")
    assert code == 0 and obj and obj["ok"] is True
    apps = demo_ils.circulation.applications()
    assert apps[-1]["transaction_date"] == "20261120    093000" and apps[-1]["no_block"] == 1


@pytest.mark.parametrize("extra", [[], ["--error-detection"], ["--terminator", "crlf"],
                                   ["--encoding", "latin-1"]])
def test_raw_with_options(demo_ils: DemoIlsServer, extra: list[str]) -> None:
    code, obj, err = _run(demo_ils, *extra, "raw", "9900302.00")
    assert code == 0, err
    assert obj and obj["command"] == "98" and obj["online_status"] is True
    assert ("AZ" in obj["raw"]) == ("--error-detection" in extra)


def test_connection_error_exit_code(demo_ils: DemoIlsServer) -> None:
    from tests.support.procs import free_port

    code, obj, err = _run(demo_ils, "status", port=free_port())
    assert code == 1 and obj is None
    assert err.count("\n") == 1 and "cannot connect" in err


def test_login_refused_exit_code(demo_ils: DemoIlsServer) -> None:
    code, _obj, err = _run(demo_ils, "status", password="nope")
    assert code == 3 and "login refused" in err


def _run_process(demo_ils: DemoIlsServer, *args: str) -> tuple[int, str, str]:
    """The CLI in its own process (this process's logs stay out of its stderr)."""
    base = [sys.executable, "-m", "smartlib.cli", "sip2", "--host", "127.0.0.1", "--port",
            str(demo_ils.port), "--user", "kiosk01", "--password", "s3cret",
            "--institution", "VNLIB", "--location", "MAIN"]
    res = subprocess.run(base + list(args), capture_output=True, text=True, timeout=60)
    return res.returncode, res.stdout, res.stderr


def _one_line(err: str) -> bool:
    return err.count("\n") == 1 and err.startswith("smartlib sip2: ") and "Traceback" not in err


def test_protocol_error_exits_4_with_one_line(demo_ils: DemoIlsServer) -> None:
    # the demo ILS answers an unknown command with 96; the client gives up after 3 resends
    code, out, err = _run_process(demo_ils, "raw", "XXhello")
    assert code == 4 and out == ""
    assert _one_line(err) and "protocol error" in err and "96" in err and "'XX'" in err
    assert demo_ils.stats()["unknown_requests"] == 4


def test_impossible_date_is_one_line_and_nothing_is_sent(demo_ils: DemoIlsServer) -> None:
    code, out, err = _run_process(demo_ils, "checkout", "--patron", "2000002", "--item",
                                  DEMO_ITEMS["available"][2], "--no-block", "--date",
                                  "20260230    100000")
    assert code == 2 and out == ""
    assert _one_line(err) and "--date" in err and "transaction_date" in err
    assert demo_ils.stats()["connections"] == 0


def test_connection_lost_exits_1_with_one_line(demo_ils: DemoIlsServer) -> None:
    demo_ils.truncate_next_responses(1)  # the 94 arrives half, then the ILS hangs up
    code, out, err = _run_process(demo_ils, "status")
    assert code == 1 and out == ""
    assert _one_line(err) and "lost" in err


def test_connection_refused_exits_1_with_one_line(demo_ils: DemoIlsServer) -> None:
    demo_ils.stop()
    code, out, err = _run_process(demo_ils, "status")
    assert code == 1 and out == ""
    assert _one_line(err) and "cannot connect" in err
