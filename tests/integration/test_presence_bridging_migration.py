"""Migration 0024 on both backends: entry codes registered before it get their venue's pre-identity
(computed from the stored payload, as the protocol defines it), so a case can share visits to them."""

from __future__ import annotations

import sqlalchemy as sa

from chaincut.bootstrap import bootstrap
from chaincut.clock import FixedClock
from chaincut.presence.protocol import pre_identity
from chaincut.settings import Settings
from chaincut.store import Database
from chaincut.store.migrate import downgrade, upgrade
from chaincut.venues.registry import VenueDraft


def test_codes_registered_before_the_column_get_their_pre_identity(
    settings: Settings, clock: FixedClock
) -> None:
    db = Database(settings.resolved_database_url())
    upgrade(db)
    services = bootstrap(settings, clock=clock)
    try:
        server = services.presence.register_venue(
            VenueDraft("bar", "Open Bar", "開放酒吧", ref="V-S"), "server"
        )
        basic = services.presence.register_venue(VenueDraft("gym", "Gym", "健身室", ref="V-B"), "basic")
    finally:
        services.close()

    assert downgrade(db, "0023") == "0023"
    with db.engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("presence_codes")}
        tables = set(sa.inspect(conn).get_table_names())
    assert "pre_id" not in columns and "presence_reports" not in tables

    upgrade(db)
    with db.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT entry_payload, pre_id FROM presence_codes")).all()
    db.dispose()
    assert sorted(bytes(p) for _, p in rows) == sorted(pre_identity(r.entry_payload) for r in (server, basic))
    services = bootstrap(settings, clock=clock)
    try:
        with services.store.read() as uow:
            found = uow.presence.entry_code_by_pre_id(pre_identity(server.entry_payload))
        assert found is not None and found.variant == "server"
    finally:
        services.close()
