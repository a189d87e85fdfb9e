"""Each case's inferred infector as the last chains run found it, and the links a chain graph reads."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, select

from chaincut.store.bulk_insert import insert_rows
from chaincut.store.tables import cases, inferred_infectors

__all__ = ["InferredInfectorRepository"]


class InferredInfectorRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def replace(self, rows: Sequence[tuple[int, int, int]], at: int) -> None:
        """Replace every inferred infector with this run's (case id, infector case id, likelihood
        in parts per million)."""
        self._conn.execute(delete(inferred_infectors))
        insert_rows(
            self._conn,
            inferred_infectors,
            ("case_id", "infector_case_id", "likelihood_ppm", "computed_at"),
            ((c, i, p, at) for c, i, p in rows),
        )

    def links_of(self, refs: Sequence[str]) -> dict[str, tuple[str | None, str | None, float | None]]:
        """For each case ref: (confirmed infector ref, inferred infector ref, its likelihood)."""
        confirmed = cases.alias("confirmed")
        inferred = cases.alias("inferred")
        out: dict[str, tuple[str | None, str | None, float | None]] = {}
        wanted = sorted(set(refs))
        for start in range(0, len(wanted), 5000):
            rows = self._conn.execute(
                select(cases.c.ref, confirmed.c.ref, inferred.c.ref, inferred_infectors.c.likelihood_ppm)
                .select_from(
                    cases.outerjoin(confirmed, confirmed.c.id == cases.c.linked_case_id)
                    .outerjoin(inferred_infectors, inferred_infectors.c.case_id == cases.c.id)
                    .outerjoin(inferred, inferred.c.id == inferred_infectors.c.infector_case_id)
                )
                .where(cases.c.ref.in_(wanted[start : start + 5000]))
            )
            out.update({ref: (c, i, None if p is None else p / 1e6) for ref, c, i, p in rows})
        return out

    def computed_at(self) -> int | None:
        """When the last chains run stored its inferred infectors (None: never, or none found)."""
        return self._conn.execute(select(inferred_infectors.c.computed_at).limit(1)).scalar_one_or_none()
