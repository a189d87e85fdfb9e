"""Commands that back the whole store up into one encrypted file and restore it: backup, restore."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

from chaincut.cli.console import console, err, services
from chaincut.store.backup import BackupSummary, restore_backup, write_backup
from chaincut.store.backup import Progress as RowProgress
from chaincut.store.backup_crypto import check_passphrase

__all__ = ["backup", "restore"]

PASSPHRASE_ENV = "CHAINCUT_BACKUP_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret

PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help=f"a file holding the passphrase (at least 12 characters); else ${PASSPHRASE_ENV}",
        exists=True,
        dir_okay=False,
    ),
]
Quiet = Annotated[bool, typer.Option(help="no progress bar")]


def backup(
    out: Annotated[Path, typer.Option(help="the backup file to write")],
    passphrase_file: PassphraseFile = None,
    force: Annotated[bool, typer.Option(help="overwrite --out if it exists")] = False,
    quiet: Quiet = False,
) -> None:
    """Write an encrypted backup of the whole store: every table and the whereabouts archive.

    The file is encrypted with AES-256-GCM under a key derived from the passphrase
    (Argon2id). Personal fields stay sealed under the store's data keys, so keep
    CHAINCUT_DATA_KEYS as safe as the passphrase: a restore needs both.
    """
    with services() as svc:
        passphrase = check_passphrase(_passphrase(passphrase_file))
        with _row_progress("backing up", quiet=quiet) as progress:
            summary = write_backup(
                svc.store, out, passphrase, created_at=svc.clock.now(), progress=progress, overwrite=force
            )
    _report("backed up", summary, out)


def restore(
    file: Annotated[Path, typer.Argument(help="a backup written by `chaincut backup`", exists=True)],
    passphrase_file: PassphraseFile = None,
    quiet: Quiet = False,
) -> None:
    """Restore a backup into an EMPTY store migrated to the backup's schema revision.

    Run `chaincut db upgrade` on a new database (or data directory), then restore
    before any other command: starting chaincut records the policy in force in the
    audit log, and a store holding anything is refused.

    The target may be either backend: a backup of the embedded default restores
    into PostgreSQL and back. It is all-or-nothing: a wrong passphrase, or a file
    that is truncated or altered anywhere, leaves the target store unchanged.

    Names, phone numbers and addresses are restored still sealed: the target must
    run with the same data keys (CHAINCUT_DATA_KEYS) as the store that was backed
    up, or they cannot be read; keep the same identity-hash key
    (CHAINCUT_IDENTITY_HASH_KEY) for ID-document look-ups, the same venue signing
    key for printed QR posters, and the same audit key for the audit log's chain.
    """
    # Without the schema check, bootstrap records nothing (such as the policy in force), so the
    # store stays empty for the restore, which checks the schema revision itself.
    with services(require_schema=False) as svc:
        passphrase = check_passphrase(_passphrase(passphrase_file))
        with _row_progress("restoring", quiet=quiet) as progress:
            summary = restore_backup(svc.store, file, passphrase, progress=progress)
    _report("restored", summary, file)


def _passphrase(path: Path | None) -> str:
    if path is not None:
        text = path.read_text(encoding="utf-8")
        # A file written by an editor or `echo` ends with a newline that is not part of the passphrase.
        return text.removesuffix("\n").removesuffix("\r")
    return os.environ.get(PASSPHRASE_ENV, "")


def _report(verb: str, summary: BackupSummary, path: Path) -> None:
    archive = f" ({summary.archive_rows:,} from the archive)" if summary.archive_rows else ""
    console.print(
        f"{verb} {summary.tables} tables, {summary.rows:,} rows{archive}, "
        f"{_size(summary.bytes)} ({path}, schema revision {summary.revision})",
        highlight=False,
        soft_wrap=True,
    )


def _size(n: int) -> str:
    value, unit = float(n), "bytes"
    for bigger in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{n:,} bytes" if unit == "bytes" else f"{value:,.1f} {unit} ({n:,} bytes)"


class _Rows(ProgressColumn):
    """Rows done of rows expected, and rows per second (rich's own columns count bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        rate = f"{speed:,.0f} rows/s" if speed else "- rows/s"
        total = "?" if task.total is None else f"{task.total:,.0f}"
        return Text(f"{task.completed:,.0f}/{total} rows  {rate}", style="progress.data.speed")


@contextmanager
def _row_progress(verb: str, *, quiet: bool) -> Iterator[RowProgress]:
    """A progress bar over rows, naming the table being copied."""
    progress = Progress(
        TextColumn("[bold]{task.description:<32}"),
        BarColumn(),
        _Rows(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
    )
    task = progress.add_task(verb, total=None)
    with progress:

        def update(section: str, done: int, total: int) -> None:
            progress.update(task, description=f"{verb} {section}", completed=done, total=max(total, 1))

        yield update
