"""Server-rendered pages for staff: signing in and out, the console, and the checkpoint (no JavaScript)."""

from __future__ import annotations

from fastapi import APIRouter

from chaincut.web import checkpoint, pages

__all__ = ["router"]

router = APIRouter()
router.include_router(pages.router)
router.include_router(checkpoint.router)
