"""Commands over the keys that protect personal data: rotate, status, generate."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from chaincut.cli.console import console, err, print_json, services, step_progress
from chaincut.settings import generate_secrets
from chaincut.store.rotation import DEFAULT_BATCH_SIZE, KeyStatus, key_status, rotate_data_keys

__all__ = ["generate", "rotate", "status"]


def rotate(
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="rows re-encrypted per transaction")
    ] = DEFAULT_BATCH_SIZE,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Re-encrypt every sealed personal field under the current (first) data key.

    Safe while the server runs, and resumable: stopped for any reason, it goes on
    from the last finished batch when run again.
    """
    with services() as svc:
        target = svc.store.cipher.current_key
        err.print(
            f"re-encrypting personal fields under data key {target}; "
            "if stopped, run `chaincut keys rotate` again to resume",
            highlight=False,
            soft_wrap=True,
        )
        try:
            with step_progress(quiet=quiet) as progress:
                report = rotate_data_keys(svc.store, svc.clock, batch_size=batch_size, progress=progress)
        except KeyboardInterrupt:
            err.print("interrupted: run `chaincut keys rotate` again to resume", highlight=False)
            raise typer.Exit(130) from None
        state = key_status(svc.store)
    if report.nothing_to_do:
        console.print(f"nothing to rotate: every sealed value is under data key {target}", highlight=False)
    else:
        for table, after in report.resumed.items():
            console.print(f"resumed {table} after row id {after:,}", highlight=False)
        console.print(
            f"rotated {report.values_resealed:,} values in {report.rows_scanned:,} rows to data key {target}",
            highlight=False,
        )
        if report.values_changed_meanwhile:
            console.print(
                f"{report.values_changed_meanwhile:,} values changed while being rotated and were left "
                "as written",
                highlight=False,
            )
    _print_removable(state)


def status(
    json_output: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    """How many sealed values each data key holds, rotation progress, and which keys can go."""
    with services() as svc:
        state = key_status(svc.store)
        zone = svc.settings.zone
    if json_output:
        print_json(
            {
                "current_key": state.current_key,
                "configured_keys": list(state.configured_keys),
                "values_by_key": {str(k): n for k, n in state.values_by_key.items()},
                "values_by_column": {
                    column: {str(k): n for k, n in counts.items()}
                    for column, counts in state.values_by_column.items()
                },
                "removable_keys": list(state.removable_keys),
                "missing_keys": list(state.missing_keys),
                "rotations": [
                    {
                        "table": p.table_name,
                        "target_key": p.target_key,
                        "last_id": p.last_id,
                        "rows_done": p.rows_done,
                        "started_at": p.started_at.isoformat(),
                        "finished_at": None if p.finished_at is None else p.finished_at.isoformat(),
                    }
                    for p in state.progress
                ],
            }
        )
        return
    configured = ", ".join(str(k) for k in state.configured_keys)
    console.print(f"current data key: {state.current_key} (configured: {configured})", highlight=False)
    console.print("sealed values by key:", highlight=False)
    if not state.values_by_key:
        console.print("  none stored", highlight=False)
    for key_id, count in state.values_by_key.items():
        label = "current" if key_id == state.current_key else "old"
        if key_id not in state.configured_keys:
            label = "NOT CONFIGURED"
        console.print(f"  key {key_id:<4} {count:>14,}  {label}", highlight=False)
    for p in state.progress:
        when = (
            f"finished {p.finished_at.astimezone(zone):%Y-%m-%d %H:%M %Z}"
            if p.finished_at is not None
            else f"in progress: after row id {p.last_id:,} (`chaincut keys rotate` resumes it)"
        )
        console.print(
            f"rotation to key {p.target_key}, {p.table_name}: {p.rows_done:,} rows, {when}",
            highlight=False,
            soft_wrap=True,
        )
    _print_removable(state)


def _print_removable(state: KeyStatus) -> None:
    for key_id in state.missing_keys:
        err.print(
            f"[red]warning:[/red] {state.values_by_key[key_id]:,} values are sealed with data key "
            f"{key_id}, which is not in CHAINCUT_DATA_KEYS: they cannot be opened",
            highlight=False,
            soft_wrap=True,
        )
    old = [k for k in state.configured_keys if k != state.current_key]
    for key_id in old:
        if key_id in state.removable_keys:
            console.print(
                f"data key {key_id} holds no values: it can be removed from CHAINCUT_DATA_KEYS "
                "once every server runs with key "
                f"{state.current_key} first",
                highlight=False,
                soft_wrap=True,
            )
        else:
            console.print(
                f"data key {key_id} still holds {state.values_by_key.get(key_id, 0):,} values: "
                "keep it in CHAINCUT_DATA_KEYS and run `chaincut keys rotate`",
                highlight=False,
                soft_wrap=True,
            )


def generate(
    signing_key_out: Annotated[
        Path, typer.Option(help="where to write a new P-256 venue signing key (PEM, mode 0600)")
    ],
    data_key_id: Annotated[
        int, typer.Option(min=0, max=255, help="the id of the new data key (another id when rotating)")
    ] = 1,
) -> None:
    """Print fresh random secrets for a production set-up, and write a new venue signing key."""
    fresh = generate_secrets(data_key_id=data_key_id)
    try:
        fd = os.open(signing_key_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        err.print(
            f"[red]error:[/red] {signing_key_out} exists; chaincut never overwrites a signing key "
            "(choose another path)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot write {signing_key_out}: {exc.strerror}", highlight=False)
        raise typer.Exit(1) from exc
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(fresh["venue_signing_key_pem"])
    typer.echo(f"CHAINCUT_IDENTITY_HASH_KEY={fresh['identity_hash_key']}")
    typer.echo(f"CHAINCUT_DATA_KEYS={fresh['data_keys']}")
    typer.echo(f"CHAINCUT_AUDIT_KEY={fresh['audit_key']}")
    typer.echo(f"CHAINCUT_VENUE_SIGNING_KEY_FILE={signing_key_out.resolve()}")
    err.print(
        "keep these in the deployment's secret store, never in the data directory or version control; "
        "to rotate a data key, put the new id:key first in CHAINCUT_DATA_KEYS and keep the old one after it",
        highlight=False,
        soft_wrap=True,
    )
