"""Dead letters of the whole network: messages that could never be processed.

``/dead-letters`` (filter: library) and ``/api/dead-letters``. Three sources, none of them
holding a payload a box sent (it might hold a patron's data): the boxes' agents and the
gateways report each one as a ``dead_letter`` event (topic, reason, size, SHA-256), and the
collector keeps its own. Every staff role may read them; nothing here is an action: a dead
letter is acknowledged where it arrived and never redelivered (docs/sync.md, "Bad input").
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from central.web.kit import PageKit


def add_routes(app: FastAPI, kit: PageKit) -> None:
    """The dead letters' page and API."""
    store = kit.store

    def rows(site: str | None) -> dict[str, list[dict[str, Any]]]:
        reported = store.events.of_kind("dead_letter", site_id=site)
        collector = [] if site else [
            {"topic": d.topic, "reason": d.reason, "at": d.at} for d in store.dead_letters.list()]
        return {"reported": reported, "collector": collector}

    @app.get("/dead-letters", response_class=HTMLResponse)
    def dead_letters_page(request: Request) -> Response:
        staff = kit.page_staff(request)
        site = request.query_params.get("site") or None
        return kit.render(request, staff, "dead_letters.html", site=site, **rows(site),
                          sites=[s.site_id for s in store.sites.list()])

    @app.get("/api/dead-letters")
    def api_dead_letters(request: Request) -> dict[str, list[dict[str, Any]]]:
        kit.api_staff(request)
        return rows(request.query_params.get("site") or None)
