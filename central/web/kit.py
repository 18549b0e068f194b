"""What a page module of the console needs from the app factory (its renderer, the session
checks, the form reader, the clock), handed over as one object by :func:`create_app`.

Page modules (:mod:`central.web.conflicts`, :mod:`central.web.tasks`) add their routes with
``add_routes(app, kit)``; they never open a session or a database themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from central.store import CentralStore


@dataclass(frozen=True)
class PageKit:
    """The app factory's helpers, for the page modules."""

    store: CentralStore
    clock: Callable[[], datetime]
    render: Callable[..., HTMLResponse]
    """``render(request, staff, template, status_code=200, **values)``"""
    page_staff: Callable[[Request], Any]
    """The staff of a page request (redirects to the log-in page without a session)."""
    api_staff: Callable[[Request], Any]
    """The staff of an API request (401 without a session)."""
    require: Callable[[Any, str], None]
    """403 unless the staff's role is at least the one named."""
    check_csrf: Callable[[Any, str | None], None]
    form: Callable[[Request], Awaitable[dict[str, str]]]
    lang: Callable[[Request], str]
    when: Callable[[str | None], str]
    command_ttl_hours: float = 72.0
    """``[central] command_ttl_hours``: the expiry of the commands the pages issue."""
