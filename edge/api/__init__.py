"""The FastAPI app factory and routers (``create_app``); see ``docs/api.md``.

``create_app`` and ``default_routers`` are loaded on first use, so importing the pure data
module :mod:`edge.api.error_texts` (as the kiosk's test double does) loads no service,
store or web framework.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge.api.app import create_app, default_routers

__all__ = ["create_app", "default_routers"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from edge.api import app

        return getattr(app, name)
    raise AttributeError(f"module 'edge.api' has no attribute {name!r}")
