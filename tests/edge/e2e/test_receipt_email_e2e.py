"""An e-mailed receipt goes to the address the ILS gave (SIP2 64 ``BE``) by default: the demo
ILS answers the patron look-up through the real gateway and agent, the edge keeps the address
in the session only (masked in the API, gone from the look-ups table), and the receipt reaches
a local aiosmtpd relay over STARTTLS."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Callable

from tests.edge.e2e.conftest import Box, World
from tests.edge.test_receipt_mail import PASSWORD, USER, Relay, relay  # noqa: F401 (fixture)


def test_the_receipt_goes_to_the_ils_address_by_default(
        world: World, kiosk2: Callable[..., Box], relay: Relay) -> None:  # noqa: F811
    box = kiosk2(smtp={"host": "127.0.0.1", "port": relay.port, "user": USER,
                       "password": PASSWORD, "sender": "thuvien@example.org",
                       "ca_file": str(relay.cert), "timeout_s": 10})
    api = box.client
    before = {row[0] for row in box.services.store.query("SELECT id FROM lookups")}

    def answers() -> list[str]:  # this test's stored look-up answers
        rows = box.services.store.query("SELECT id, response FROM lookups"
                                        " WHERE response IS NOT NULL")
        return [str(row[1]) for row in rows if row[0] not in before]

    r = api.post("/sessions", json={"credential": {"source": "barcode", "identifier": "2000004",
                                                   "pin": "4567"}, "language": "vi"})
    assert r.status_code == 201, r.text
    session = r.json()
    # The demo ILS's BE for 2000004 is patron2000004@example.org: shown masked only.
    assert session["email_masked"] == "p***@example.org"
    sid = session["id"]
    # The address rests in no look-up row of the store (only in the session).
    assert answers() and not any("@example.org" in a for a in answers())
    # The account look-up carries it too; it is redacted there as well.
    assert api.get(f"/sessions/{sid}/account").status_code == 200
    assert len(answers()) == 2 and not any("@example.org" in a for a in answers())
    sent = api.post(f"/sessions/{sid}/receipt/email", json={})
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"sent": True, "to_masked": "p***@example.org", "repeated": False}
    [(tls, rcpts, raw)] = relay.messages
    assert tls and rcpts == ["patron2000004@example.org"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["To"] == "patron2000004@example.org" and "Thư viện E2E" in str(msg["Subject"])
    # A typed address still wins.
    assert api.post(f"/sessions/{sid}/receipt/email",
                    json={"to": "khac@example.net"}).json()["to_masked"] == "k***@example.net"
    assert relay.messages[-1][1] == ["khac@example.net"]
    assert json.dumps(api.get(f"/sessions/{sid}").json()).count("patron2000004") == 0
