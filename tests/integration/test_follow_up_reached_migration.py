"""Migration 0020 on both backends: a follow-up's ``reached`` comes and goes in place, and the
follow-ups recorded before it (each a call that reached the person) read as reached."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from chaincut.bootstrap import bootstrap
from chaincut.clock import FixedClock
from chaincut.settings import Settings
from chaincut.store import Database
from chaincut.store.migrate import downgrade, upgrade
from support.outbreak import seed


def test_follow_ups_recorded_before_the_column_read_as_reached(settings: Settings, clock: FixedClock) -> None:
    db = Database(settings.resolved_database_url())
    upgrade(db)
    services = bootstrap(settings, clock=clock)
    try:
        seed(services, {"A": (0, [], None)})
        services.follow_ups.record("p-A", date(2026, 11, 19), [], None, "no answer", "tests", reached=False)
    finally:
        services.close()

    assert downgrade(db, "0019") == "0019"
    with db.engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("follow_ups")}
        kept = conn.execute(sa.text("SELECT count(*) FROM follow_ups")).scalar_one()
    assert "reached" not in columns and kept == 1  # the row stays; what it said of the call goes

    upgrade(db)
    db.dispose()
    services = bootstrap(settings, clock=clock)
    try:
        (entry,), _ = services.follow_ups.list("p-A")
        assert entry.follow_up.reached is True and entry.follow_up.note == "no answer"
    finally:
        services.close()
