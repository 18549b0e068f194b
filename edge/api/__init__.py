"""The FastAPI app factory and routers (``create_app``); see ``docs/api.md``.

``create_app`` and ``default_routers`` are loaded on first use, so importing a router or
:mod:`edge.api.deps` does not build the app's whole import tree.
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
