"""Shared pieces of the command line: consoles, progress bars, and error translation."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from chaincut.bootstrap import Services, bootstrap
from chaincut.errors import ChaincutError, ImportRejected

__all__ = ["byte_progress", "console", "err", "print_json", "reported_errors", "services", "step_progress"]

console = Console()
err = Console(stderr=True)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, default=str))


@contextmanager
def reported_errors() -> Iterator[None]:
    """Any ChaincutError in the block becomes one clear line on stderr and exit status 1."""
    try:
        yield
    except ImportRejected as exc:  # messages are text, not markup: "chaincut[spark]" stays as written
        err.print(f"[red]error:[/red] {escape(exc.message)}", highlight=False, soft_wrap=True)
        for problem in exc.errors[1:10]:
            err.print(f"  {escape(problem.render())}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    except ChaincutError as exc:
        field = f" ({exc.field})" if exc.field else ""
        err.print(f"[red]error:[/red] {escape(exc.message + field)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc


@contextmanager
def services(*, require_schema: bool = True, settle: bool = False) -> Iterator[Services]:
    """Wired services; any ChaincutError becomes one clear line on stderr and exit status 1."""
    wired: Services | None = None
    with reported_errors():
        try:
            wired = bootstrap(require_schema=require_schema, settle=settle)
            yield wired
        finally:
            if wired is not None:
                wired.close()


@contextmanager
def byte_progress(description: str, *, quiet: bool = False) -> Iterator[Callable[[int, int], None]]:
    """A progress bar over the bytes of a file."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
        transient=False,
    )
    task = progress.add_task(description, total=None)
    with progress:

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


@contextmanager
def step_progress(*, quiet: bool = False) -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar for named stages, each with its own count."""
    progress = Progress(
        TextColumn("[bold]{task.description:<22}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
    )
    tasks: dict[str, Any] = {}
    with progress:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=max(total, 1))
            progress.update(tasks[stage], completed=done, total=max(total, 1))

        yield update
