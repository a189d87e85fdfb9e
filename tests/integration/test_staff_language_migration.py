"""Migration 0018 on both backends: staff members' language comes and goes in place, and members,
their sessions and their tokens survive a downgrade and a new upgrade."""

from __future__ import annotations

import sqlalchemy as sa

from chaincut.bootstrap import bootstrap
from chaincut.clock import FixedClock
from chaincut.domain.access import Principal, PrincipalKind, Role
from chaincut.settings import Settings
from chaincut.store import Database
from chaincut.store.migrate import current_revision, downgrade, head_revision, upgrade
from support.auth import PASSWORD


def test_the_language_column_comes_and_goes_keeping_members_and_their_sessions(
    settings: Settings, clock: FixedClock
) -> None:
    db = Database(settings.resolved_database_url())
    upgrade(db)
    services = bootstrap(settings, clock=clock)
    try:
        member = services.accounts.add("amy", PASSWORD, frozenset({Role.TRACER}), Principal.system("tests"))
        services.accounts.open_session("amy", PASSWORD)
        services.accounts.issue_staff_token("amy", PASSWORD)
        amy = Principal(PrincipalKind.STAFF, "staff:amy", staff_id=member.id)
        services.accounts.choose_language(amy, "zh-Hant")
        assert services.accounts.language_of(member.id) == "zh-Hant"
    finally:
        services.close()

    assert downgrade(db, "0017") == "0017"
    with db.engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("staff")}
        kept = conn.execute(sa.text("SELECT count(*) FROM staff")).scalar_one()
        sessions = conn.execute(sa.text("SELECT count(*) FROM web_sessions")).scalar_one()
        tables = set(sa.inspect(conn).get_table_names())
    assert "language" not in columns and (kept, sessions) == (1, 1)
    assert "session_purposes" not in tables  # 0019's table went first

    upgrade(db)
    assert current_revision(db) == head_revision()
    with db.engine.connect() as conn:
        assert "session_purposes" in sa.inspect(conn).get_table_names()
    db.dispose()
    services = bootstrap(settings, clock=clock)
    try:
        assert services.accounts.language_of(member.id) is None  # the choice went with the column
        assert services.accounts.authenticate("amy", PASSWORD).username == "amy"
    finally:
        services.close()
