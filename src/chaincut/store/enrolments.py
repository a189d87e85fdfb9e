"""One-time enrolment codes: a resident's phone trades one, once and in time, for its app token."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from chaincut.store.tables import enrolment_codes

__all__ = ["EnrolmentRepository"]

_T = enrolment_codes


class EnrolmentRepository:
    """Reads and writes ``enrolment_codes``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, code_hash: bytes, person_id: int, *, by: str, at: int, expires_at: int) -> None:
        self._conn.execute(
            insert(_T).values(
                code_hash=code_hash, person_id=person_id, issued_by=by, created_at=at, expires_at=expires_at
            )
        )

    def redeem(self, code_hash: bytes, *, at: int) -> int | None:
        """Use the code up; the person it enrols, or None when it is unknown, used or expired.

        The update's own condition decides, so two phones racing with one code cannot both win.
        """
        unused = (_T.c.code_hash == code_hash) & _T.c.redeemed_at.is_(None) & (_T.c.expires_at > at)
        person_id = self._conn.execute(select(_T.c.person_id).where(unused)).scalar_one_or_none()
        if person_id is None:
            return None
        used = self._conn.execute(update(_T).where(unused).values(redeemed_at=at))
        return int(person_id) if used.rowcount == 1 else None
