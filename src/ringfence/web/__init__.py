"""The web app: an HTTP API with users, roles, revocable sessions, tokens and an audit trail.

`create_app(store)` is the FastAPI application; `ringfence serve` runs it.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
