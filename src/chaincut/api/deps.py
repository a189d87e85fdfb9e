"""Typed dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from chaincut.bootstrap import Services
from chaincut.domain.access import Permission
from chaincut.guards import Caller, requires

__all__ = ["AnalyticsReader", "Page", "PageDep", "ServicesDep"]


async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]


class Page:
    """Pagination parameters: ``offset`` and ``limit`` (at most 500)."""

    def __init__(
        self,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> None:
        self.offset = offset
        self.limit = limit


PageDep = Annotated[Page, Depends()]


# Outbreak analytics over every case (epidemiologists and supervisors), with a stated purpose.
# Audit each read with ``caller.audit(read.resource, read.record, details=read.parameters)``
# (``chaincut.analytics.reads``): the action is ``analytics.read``.
AnalyticsReader = Annotated[Caller, requires(Permission.ANALYTICS_READ, purpose=True)]
