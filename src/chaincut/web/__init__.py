"""Server-rendered pages for staff: signing in and out, and the console (no JavaScript)."""

from __future__ import annotations

from chaincut.web.pages import router

__all__ = ["router"]
