"""``smartlib soak``: the chaos soak's accounting rules, and a short soak of a whole site.

The short soak (at least 20 kills) runs in ``make test``; it carries the ``soak`` mark and
grows with ``--soak-seconds`` (one kill per 3.6 s), so ``pytest -m soak --soak-seconds=3600``
is the long one (``make soak`` runs the command itself with ``--kills 1000``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from smartlib_demo.soak import Action, Call, classify, must_be_zero, tag_checks, windows
from smartlib_demo.soak_site import AFI_RELEASED, AFI_SECURED

REPO = Path(__file__).resolve().parents[2]


def _action(kind: str = "checkout", answers: tuple[str, ...] = ("ok:loaned",)) -> Action:
    return Action(1, kind, "30000200", "2000100", "kiosk-01", len(answers), False, False, 10,
                  "2026-01-01T00:00:00.000Z", calls=[Call(a) for a in answers])


def _app(n: int, kind: str, patron: str | None = "2000100") -> dict[str, Any]:
    return {"id": n, "kind": kind, "patron_id": patron, "item_id": "30000200", "xk": f"k{n}"}


def _entry(kind: str, state: str, *, compensates: str | None = None,
           result: dict[str, Any] | None = None) -> dict[str, Any]:
    payload = {"compensates": compensates} if compensates else {}
    return {"key": f"key-{kind}-{state}", "kind": kind, "state": state, "payload": payload,
            "result": result, "created_at": "2026-01-01T00:00:01.000Z", "device": "kiosk-01"}


def test_one_application_is_applied_whatever_the_answers() -> None:
    a = _action(answers=("ok:loaned", "ok:loaned", "no_answer:ReadError"))
    assert classify(a, [_app(11, "checkout")], [_entry("checkout", "applied")]) == \
        ("applied", "", 0)


def test_two_applications_of_one_action_are_duplicated_even_with_two_keys() -> None:
    a = _action(answers=("ok:loaned", "ok:loaned"))
    verdict, reason, stray = classify(a, [_app(11, "checkout"), _app(12, "checkout")], [])
    assert (verdict, stray) == ("duplicated", 0)
    assert reason == "2 checkout applications"


def test_a_return_is_counted_by_check_in_and_a_renewal_by_its_patron() -> None:
    ret = _action("return", ("ok:returned",))
    assert classify(ret, [_app(11, "checkin", None)], [])[0] == "applied"
    renew = _action("renew", ("ok:renewed",))
    # someone else's renewal of the item is not this action's: it is stray
    assert classify(renew, [_app(11, "renew", "2000999")], []) == ("lost", "answered ok:renewed", 1)


def test_a_withdrawn_checkout_undone_by_a_compensating_check_in_is_refused() -> None:
    a = _action(answers=("refused:offline_limit",))
    entries = [_entry("checkout", "applied"), _entry("checkin", "applied", compensates="k")]
    assert classify(a, [_app(11, "checkout"), _app(12, "checkin", None)], entries) == \
        ("refused", "withdrawn_compensated:offline_limit", 0)
    # the same check-in without its journaled compensation is an application nobody asked for
    assert classify(a, [_app(11, "checkout"), _app(12, "checkin", None)],
                    [_entry("checkout", "applied")]) == ("applied", "", 1)


def test_told_ok_but_absent_from_the_ils_is_lost() -> None:
    assert classify(_action(answers=("ok:offline_accepted",)), [], [])[0] == "lost"
    assert classify(_action(answers=("no_answer:ReadError",)), [],
                    [_entry("checkout", "sent")])[0] == "lost"
    assert classify(_action(answers=("no_answer:ReadError",)), [],
                    [_entry("checkout", "applied", result={"ok": True})])[0] == "lost"


def test_refusals_carry_their_reason() -> None:
    assert classify(_action(answers=("refused:loan_limit",)), [], []) == \
        ("refused", "loan_limit", 0)
    assert classify(_action(answers=("error:session_expired",)), [], []) == \
        ("refused", "session_expired", 0)
    assert classify(_action(answers=("no_answer:ConnectError",)), [], []) == \
        ("refused", "no_answer", 0)
    refused = _entry("checkout", "refused", result={"ok": False, "screen_message": "Loan limit"})
    assert classify(_action(answers=("ok:offline_accepted",)), [], [refused]) == \
        ("refused", "ils_refused:Loan limit", 0)


def _at(n: int, kind: str, wm: int, second: int, patron: str = "2000100") -> Action:
    return Action(n, kind, "30000200", patron, "kiosk-01", 1, False, False, wm,
                  f"2026-01-01T00:00:{second:02d}.000Z", calls=[Call("ok:renewed")])


def _classified(acts: list[Action], apps: list[dict[str, Any]], end_wm: int) -> list[str]:
    return [classify(a, window, entries)[0]
            for a, window, entries in windows(acts, apps, [], end_wm)]


def test_a_renewal_asked_again_in_a_later_session_is_a_second_action_not_a_duplicate() -> None:
    """The workload renews an item in one session and again in a later one: two actions,
    each with its own window of ILS applications, each applied once."""
    first, again = _at(1, "renew", 10, 1), _at(2, "renew", 11, 5)
    assert _classified([first, again], [_app(11, "renew"), _app(12, "renew")], 12) == \
        ["applied", "applied"]
    assert (first.wm_end, again.wm_end) == (11, 12)


def test_two_renewals_inside_one_actions_window_are_a_duplicate() -> None:
    """The same two ILS renewals, both before the second action started: the first action
    was applied twice (a real duplicate) and the second one never reached the ILS."""
    first, again = _at(1, "renew", 10, 1), _at(2, "renew", 12, 5)
    assert _classified([first, again], [_app(11, "renew"), _app(12, "renew")], 12) == \
        ["duplicated", "lost"]


def test_a_checkout_a_return_and_a_checkout_again_are_three_actions() -> None:
    acts = [_at(1, "checkout", 10, 1), _at(2, "return", 11, 2), _at(3, "checkout", 12, 3)]
    apps = [_app(11, "checkout"), _app(12, "checkin", None), _app(13, "checkout")]
    assert _classified(acts, apps, 13) == ["applied", "applied", "applied"]


def test_tag_checks_count_released_tags_without_loans_and_secured_loans_without_tasks() -> None:
    tags = [{"item": "a", "afi": AFI_RELEASED},   # on loan: fine
            {"item": "b", "afi": AFI_RELEASED},   # alarm off, no loan: released_not_loaned
            {"item": "c", "afi": AFI_SECURED},    # on loan, alarm on, a task flags it: fine
            {"item": "d", "afi": AFI_SECURED},    # on loan, alarm on, no task: unflagged
            {"item": "e", "afi": AFI_SECURED},    # in stock, alarm on: fine
            {"item": "f", "afi": AFI_RELEASED}]   # not touched by the soak: not counted
    loans = {"a": "2000100", "c": "2000100", "d": "2000101", "g": "2000102"}  # g: no tag
    assert tag_checks(tags, loans, {"c"}, {"a", "b", "c", "d", "e", "g"}) == (["b"], ["d"])


def test_must_be_zero_names_the_failing_figures() -> None:
    good = {"lost": 0, "duplicated": 0, "released_not_loaned": 0, "alarm_on_unflagged": 0,
            "kills": 20, "kills_wanted": 20}
    assert must_be_zero(good) == []
    assert must_be_zero({**good, "duplicated": 2, "kills": 19}) == ["duplicated", "kills"]


@pytest.mark.soak
@pytest.mark.timeout(7200)
def test_short_soak_accounts_for_every_action(tmp_path: Path, soak_seconds: float) -> None:
    kills = max(20, int(soak_seconds / 3.6))
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartlib.cli", "soak", "--kills", str(kills), "--seed", "3",
         "--kiosks", "2", "--run-dir", str(tmp_path / "run")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=kills * 3.6 * 3 + 600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    lines = out.strip().splitlines()
    assert len(lines) == 1, f"one JSON line expected; stderr: {err[-3000:]}"
    report = json.loads(lines[0])
    detail = json.loads(Path(report["detail"]).read_text())
    problems = [(p["action"]["kind"], p["action"]["item"], p["action"]["verdict"],
                 p["action"]["reason"]) for p in detail["problems"]][:10]
    assert report["kills"] >= kills, report
    assert report["lost"] == 0, problems
    assert report["duplicated"] == 0, problems
    assert report["released_not_loaned"] == 0, detail["released_not_loaned"]
    assert report["alarm_on_unflagged"] == 0, detail["alarm_on_unflagged"]
    assert proc.returncode == 0, err[-3000:]
    # every action is accounted for, and the workload did what it claims
    assert report["actions"] == report["applied"] + report["refused"] > 0
    assert report["applied"] > 0 and report["repeated"] > 0 and report["concurrent"] > 0
    # the workload really ran: more actions than kills, of every kind (a workload whose
    # logins were all refused once made 3 actions in 20 kills and passed the lines above)
    assert report["actions"] > report["kills"]
    assert {a["kind"] for a in detail["actions"]} == {"checkout", "return", "renew"}
    assert report["drained"] is True
    assert set(report["kills_by_target"]) <= {
        "kiosk-01-serve", "kiosk-01-sync", "kiosk-02-serve", "kiosk-02-sync", "gate-01-serve",
        "gate-01-sync", "gateway-1", "gateway-2", "mosquitto"}
    # nothing the soak started is left running
    left = [p for p in psutil.process_iter(["cmdline"])
            if str(tmp_path / "run") in " ".join(p.info["cmdline"] or [])]
    assert left == []
