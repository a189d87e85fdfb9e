"""Rotating the data keys while the store stays in service, on the embedded default and PostgreSQL.

People are registered under key 1; chaincut is then reconfigured with a new key
2 first and key 1 second, the rotation is interrupted part-way and resumed,
and at the end everything opens with key 2 alone.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import insert, select, update
from typer.testing import CliRunner

from chaincut.bootstrap import Services, bootstrap
from chaincut.cli import app
from chaincut.clock import FixedClock
from chaincut.errors import ConfigurationError
from chaincut.people import PersonDraft
from chaincut.security import FieldCipher
from chaincut.settings import Settings, load_secrets
from chaincut.store.rotation import count_sealed_values, key_status, rotate_data_keys, rotation_progress
from chaincut.store.tables import people, person_corrections
from support.settings import cli_env

PEOPLE = 23
CORRECTIONS = (
    ("name", "Chan Tai Man", "陳大文"),
    ("phone", None, "+852 9123 4567"),
    ("address", "Flat A", None),
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def with_data_keys(settings: Settings, keys: str) -> Settings:
    return settings.model_copy(update={"data_keys": SecretStr(keys)})


def key_1_text(settings: Settings) -> str:
    assert settings.data_keys is not None
    text = settings.data_keys.get_secret_value()
    assert text.startswith("1:")
    return text


Originals = dict[tuple[str, int, str], str | None]


def populate(services: Services) -> Originals:
    """People and corrections sealed under key 1; what each sealed value holds."""
    for i in range(PEOPLE):
        services.people.register(
            PersonDraft(
                ref=f"P{i:03}",
                name=f"Resident {i} 居民" if i % 5 else None,
                phone=f"+852 9000 {i:04}",
                address=f"{i} Nathan Road" if i % 3 else None,
            )
        )
    cipher = services.store.cipher
    with services.store.write() as uow:
        for n, (field, old, new) in enumerate(CORRECTIONS):
            uow.connection.execute(
                insert(person_corrections).values(
                    person_id=n + 1,
                    field=field,
                    old_sealed=cipher.seal(old, field=field),
                    new_sealed=cipher.seal(new, field=field),
                    reason="the resident asked",
                    corrected_by="tracer-1",
                    corrected_at=0,
                )
            )
    return read_all(services)


def read_all(services: Services) -> Originals:
    """Every sealed value opened with the services' keys, by (table, id, column)."""
    cipher = services.store.cipher
    out: Originals = {}
    with services.store.read() as uow:
        for row in uow.connection.execute(select(people)):
            for column, field in (
                ("name_sealed", "name"),
                ("phone_sealed", "phone"),
                ("address_sealed", "address"),
            ):
                out[("people", row.id, column)] = cipher.open(getattr(row, column), field=field)
        for row in uow.connection.execute(select(person_corrections)):
            for column in ("old_sealed", "new_sealed"):
                out[("person_corrections", row.id, column)] = cipher.open(
                    getattr(row, column), field=row.field
                )
    return out


def keys_in_use(services: Services) -> dict[int, int]:
    with services.store.read() as uow:
        counts = count_sealed_values(uow.connection)
    totals: dict[int, int] = {}
    for per_key in counts.values():
        for key_id, n in per_key.items():
            totals[key_id] = totals.get(key_id, 0) + n
    return totals


@pytest.fixture
def rotated_settings(services: Services, settings: Settings) -> Settings:
    """The same store's settings with a new key 2 first and the old key 1 second."""
    return with_data_keys(settings, f"2:{b64(os.urandom(32))},{key_1_text(settings)}")


@pytest.fixture
def rekeyed(rotated_settings: Settings, clock: FixedClock) -> Iterator[Services]:
    wired = bootstrap(rotated_settings, clock=clock)
    yield wired
    wired.close()


def test_an_interrupted_rotation_resumes_and_the_old_key_can_then_go(
    services: Services, rekeyed: Services, rotated_settings: Settings, clock: FixedClock
) -> None:
    originals = populate(services)
    sealed_values = sum(1 for v in originals.values() if v is not None)
    assert keys_in_use(services) == {1: sealed_values}
    with services.store.read() as uow:
        people_ids = sorted(uow.connection.execute(select(people.c.id)).scalars())

    first = rotate_data_keys(rekeyed.store, clock, batch_size=4, max_batches=3)
    assert not first.finished
    assert first.batches == 3
    assert first.rows_scanned == 12
    with rekeyed.store.read() as uow:
        (progress,) = rotation_progress(uow.connection)
        sealed_keys = {
            row.id: {FieldCipher.key_of(b) for b in (row.name_sealed, row.phone_sealed, row.address_sealed)}
            - {None}
            for row in uow.connection.execute(select(people))
        }
    assert (progress.table_name, progress.target_key) == ("people", 2)
    assert (progress.last_id, progress.rows_done, progress.finished_at) == (people_ids[11], 12, None)
    assert all(sealed_keys[i] == {2} for i in people_ids[:12])
    assert all(sealed_keys[i] == {1} for i in people_ids[12:])
    status = key_status(rekeyed.store)
    assert status.current_key == 2
    assert status.removable_keys == ()
    assert 0 < status.values_by_key[1] < sealed_values
    # Mid-rotation, every value still opens, whichever key sealed it.
    assert read_all(rekeyed) == originals

    second = rotate_data_keys(rekeyed.store, clock, batch_size=4)
    assert second.finished
    assert second.resumed == {"people": people_ids[11]}
    assert second.rows_scanned == PEOPLE - 12 + len(CORRECTIONS)
    assert first.values_resealed + second.values_resealed == sealed_values
    assert second.values_changed_meanwhile == 0
    assert keys_in_use(rekeyed) == {2: sealed_values}
    done = key_status(rekeyed.store)
    assert done.removable_keys == (1,)
    assert {(p.table_name, p.rows_done) for p in done.progress} == {
        ("people", PEOPLE),
        ("person_corrections", len(CORRECTIONS)),
        ("code_signing_keys", 0),  # sealed code-signing keys: none in this store
        ("border_seed_commitments", 0),  # sealed ballot seeds: none either
        ("presence_keys", 0),  # the decentralised check-in keys, made on first use: not yet
    }
    assert all(p.finished_at is not None for p in done.progress)
    assert rotate_data_keys(rekeyed.store, clock).nothing_to_do

    # Key 1 dropped: everything opens with key 2 alone, to exactly what it was.
    assert rotated_settings.data_keys is not None
    key_2_only = rotated_settings.data_keys.get_secret_value().split(",")[0]
    alone = bootstrap(with_data_keys(rotated_settings, key_2_only), clock=clock)
    try:
        assert read_all(alone) == originals
        with alone.store.read() as uow:
            found = uow.people.get_by_ref("P001")
        assert found is not None
        assert found.details.name == "Resident 1 居民"
    finally:
        alone.close()
    # And key 1 alone can no longer open any of it.
    with pytest.raises(ConfigurationError, match="data key 2, not configured"):
        read_all(services)


def test_a_value_changed_during_rotation_is_not_overwritten(
    services: Services, rekeyed: Services, clock: FixedClock
) -> None:
    originals = populate(services)
    with services.store.read() as uow:
        target = uow.people.id_for_ref("P007")
    assert target is not None
    changed: list[Sequence[int]] = []

    def correct_meanwhile(table: str, ids: Sequence[int]) -> None:
        # A server still sealing with key 1 corrects P007's phone between the read and the write.
        if table == "people" and target in ids and not changed:
            changed.append(ids)
            with services.store.write() as uow:
                uow.connection.execute(
                    update(people)
                    .where(people.c.id == target)
                    .values(phone_sealed=services.store.cipher.seal("+852 6000 0007", field="phone"))
                )

    report = rotate_data_keys(rekeyed.store, clock, batch_size=10, between_read_and_write=correct_meanwhile)
    assert changed
    assert report.finished
    assert report.values_changed_meanwhile == 1
    with rekeyed.store.read() as uow:
        p007 = uow.people.get(target)
    assert p007 is not None
    assert p007.details.phone == "+852 6000 0007"
    expected = dict(originals)
    expected[("people", target, "phone_sealed")] = "+852 6000 0007"
    assert read_all(rekeyed) == expected
    # The corrected phone is still under key 1, so key 1 must stay until another pass.
    assert keys_in_use(rekeyed)[1] == 1
    assert key_status(rekeyed.store).removable_keys == ()
    again = rotate_data_keys(rekeyed.store, clock, batch_size=10)
    assert again.finished
    assert again.values_resealed == 1
    assert set(keys_in_use(rekeyed)) == {2}
    assert read_all(rekeyed) == expected


def test_keys_commands(
    services: Services, rekeyed: Services, rotated_settings: Settings, clock: FixedClock, tmp_path: Path
) -> None:
    originals = populate(services)
    sealed_values = sum(1 for v in originals.values() if v is not None)
    rotate_data_keys(rekeyed.store, clock, batch_size=5, max_batches=1)  # an earlier run, interrupted
    runner = CliRunner()
    env = cli_env(rotated_settings)

    before = runner.invoke(app, ["keys", "status"], env=env)
    assert before.exit_code == 0, before.output
    assert "current data key: 2 (configured: 1, 2)" in before.output
    assert "in progress: after row id" in before.output
    assert "data key 1 still holds" in before.output

    rotated = runner.invoke(app, ["keys", "rotate", "--batch-size", "3", "--quiet"], env=env)
    assert rotated.exit_code == 0, rotated.output
    assert "run `chaincut keys rotate` again to resume" in rotated.output
    assert "resumed people after row id" in rotated.output
    assert "data key 1 holds no values: it can be removed from CHAINCUT_DATA_KEYS" in rotated.output

    status = runner.invoke(app, ["keys", "status", "--json"], env=env)
    assert status.exit_code == 0, status.output
    doc = json.loads(status.stdout)
    assert doc["current_key"] == 2
    assert doc["values_by_key"] == {"2": sealed_values}
    assert doc["removable_keys"] == [1]
    assert doc["missing_keys"] == []
    assert {r["table"] for r in doc["rotations"]} == {
        "people",
        "person_corrections",
        "code_signing_keys",
        "border_seed_commitments",
        "presence_keys",
    }
    assert all(r["finished_at"] for r in doc["rotations"])

    again = runner.invoke(app, ["keys", "rotate"], env=env)
    assert again.exit_code == 0, again.output
    assert "nothing to rotate" in again.output

    # With key 1 removed too early, status says which values cannot be opened.
    env_1 = cli_env(services.settings)
    env_1["CHAINCUT_DATA_KEYS"] = f"3:{b64(os.urandom(32))}"
    missing = runner.invoke(app, ["keys", "status", "--json"], env=env_1)
    assert missing.exit_code == 0, missing.output
    assert json.loads(missing.stdout)["missing_keys"] == [2]


def test_keys_generate(tmp_path: Path) -> None:
    runner = CliRunner()
    pem = tmp_path / "venue-signing-key.pem"
    result = runner.invoke(app, ["keys", "generate", "--signing-key-out", str(pem)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert set(values) == {
        "CHAINCUT_IDENTITY_HASH_KEY",
        "CHAINCUT_DATA_KEYS",
        "CHAINCUT_AUDIT_KEY",
        "CHAINCUT_VENUE_SIGNING_KEY_FILE",
    }
    assert values["CHAINCUT_VENUE_SIGNING_KEY_FILE"] == str(pem.resolve())
    # What it prints is accepted in production, as it is.
    loaded = load_secrets(
        Settings(
            env="production",
            data_dir=tmp_path / "data",
            identity_hash_key=values["CHAINCUT_IDENTITY_HASH_KEY"],
            data_keys=values["CHAINCUT_DATA_KEYS"],
            audit_key=values["CHAINCUT_AUDIT_KEY"],
            venue_signing_key_file=pem,
        )
    )
    assert loaded.current_data_key == 1
    assert len(loaded.data_keys[1]) == 32
    assert loaded.venue_signing_key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")

    second = runner.invoke(
        app, ["keys", "generate", "--signing-key-out", str(tmp_path / "k2.pem"), "--data-key-id", "2"]
    )
    assert second.exit_code == 0, second.output
    assert "CHAINCUT_DATA_KEYS=2:" in second.stdout
    assert values["CHAINCUT_DATA_KEYS"] not in second.stdout

    existing = runner.invoke(app, ["keys", "generate", "--signing-key-out", str(pem)])
    assert existing.exit_code == 1
    assert "exists" in existing.output
    assert "CHAINCUT_DATA_KEYS" not in existing.stdout
