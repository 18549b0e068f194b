"""The patron's account at the edge: one shape for the gateway, its double and the API.

The gateway answers with :class:`sync.messages.Account`; the edge's ``AccountOut`` must carry
the same fields (the edge may not import sync, so the two models are compared here), and the
GatewayDouble builds the same model, so the edge is tested against the real shape.
"""

from __future__ import annotations

from decimal import Decimal

from drivers.credential import PatronCredential
from edge.api.schemas import AccountFineOut, AccountOut, HoldOut, LoanOut
from sync.messages import Account, AccountFine, AccountHold, AccountLoan

PATRON = "2000003"


def _fields(model: type) -> set[str]:
    return set(model.model_fields) - {"v"}


def test_the_edge_schema_carries_every_field_of_the_gateways_account() -> None:
    assert _fields(Account) | {"offline"} == _fields(AccountOut)
    assert _fields(AccountLoan) == _fields(LoanOut)
    assert _fields(AccountHold) == _fields(HoldOut)
    assert _fields(AccountFine) == _fields(AccountFineOut)


def test_account_from_the_double_has_fines_holds_and_overdue_loans(services, ils) -> None:
    ils.patrons[PATRON] = "3456"
    ils.loans.update({"3000800": PATRON, "3000801": PATRON})
    ils.due_dates.update({"3000800": "2020-01-02", "3000801": "2099-03-04"})
    ils.holds.update({"3000900": PATRON, "3000901": PATRON})
    ils.ready_holds.add("3000900")
    ils.titles.update({"3000900": "Truyện Kiều"})
    ils.fines[PATRON] = [(50000, "Overdue 10 days"), (25000, "Replacement library card")]
    s = services.sessions.login(PatronCredential("manual", PATRON, PATRON.encode()), "3456", "vi")
    acct = services.circulation.account(s)
    out = AccountOut.model_validate(acct)  # what the API answers
    assert out.offline is False
    assert {(x.item_id, x.overdue) for x in out.loans} == {("3000800", True), ("3000801", False)}
    holds = {h.item_id: h for h in out.holds}
    assert holds["3000900"].ready and holds["3000900"].title == "Truyện Kiều"
    assert holds["3000900"].expires and holds["3000900"].pickup_location == "MAIN"
    assert not holds["3000901"].ready and holds["3000901"].expires is None
    assert [(f.amount, f.reason) for f in out.fines] == [
        (Decimal(50000), "Overdue 10 days"), (Decimal(25000), "Replacement library card")]
    assert out.fine_total == Decimal(75000) and out.currency == "VND"


def test_offline_account_comes_from_the_cache_without_fines(services, gateway, ils) -> None:
    ils.patrons[PATRON] = "3456"
    s = services.sessions.login(PatronCredential("manual", PATRON, PATRON.encode()), "3456", "vi")
    gateway.online = False
    services.circulation.policy.result_timeout_s = 0.2
    out = AccountOut.model_validate(services.circulation.account(s))
    assert out.offline is True and out.fines == [] and out.fine_total is None
