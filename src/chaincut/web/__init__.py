"""Server-rendered pages: the landing page, signing in and out, the console, casework, the case and
person pages, the follow-up worklist, the tracing indicators, clusters, the epidemiologists'
dashboard, administration (staff, the audit log, keys, partners, purges) and the checkpoint.

Jinja2 templates and gettext catalogs in English and Traditional Chinese; htmx, vendored, for the
parts of a page that change in place; Cytoscape.js, vendored, for chain graphs; other charts
drawn server-side as SVG."""

from __future__ import annotations

from fastapi import APIRouter

from chaincut.web import (
    administration,
    case_page,
    casework,
    checkpoint,
    cluster_page,
    dashboard_page,
    district_map,
    follow_up_page,
    indicator_page,
    operations,
    pages,
    person_page,
    policy_pages,
    presence_pages,
    resident_pages,
    venue_pages,
)

__all__ = ["router"]

router = APIRouter()
router.include_router(pages.router)
router.include_router(resident_pages.router)
router.include_router(resident_pages.parts)
router.include_router(checkpoint.router)
router.include_router(casework.router)
router.include_router(case_page.router)
router.include_router(person_page.router)
router.include_router(follow_up_page.router)
router.include_router(indicator_page.router)
router.include_router(cluster_page.router)
router.include_router(dashboard_page.router)
router.include_router(district_map.router)
router.include_router(administration.router)
router.include_router(operations.router)
router.include_router(policy_pages.router)
router.include_router(venue_pages.router)
router.include_router(presence_pages.router)
