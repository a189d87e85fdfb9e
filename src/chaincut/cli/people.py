"""Commands for people: people access-report (a data-access request, PDPO s.18) and people enrol (a
one-time code for a resident's phone, as a counter issues it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import segno
import typer

from chaincut.cli.console import console, err, services
from chaincut.cli.users import operator

__all__ = ["access_report", "enrol"]


def access_report(
    person: Annotated[str, typer.Option(help="the person's ref")],
    out: Annotated[
        Path | None,
        typer.Option(help="write it here: FILE.json, or FILE.html for a printable page (else stdout)"),
    ] = None,
    purpose: Annotated[
        str, typer.Option(help="the request being answered, for the audit log")
    ] = "data access request (PDPO s.18)",
) -> None:
    """Everything held about one person, as JSON or a printable page; the access is audited."""
    if out is not None and out.suffix.lower() not in (".json", ".html", ".htm"):
        raise typer.BadParameter("expected a file ending .json or .html", param_hint="--out")
    with services() as wired:
        report = wired.subject_access.report_for(operator(), person, purpose=purpose)
    if out is None:
        typer.echo(report.to_json())
        return
    text = report.to_html() if out.suffix.lower() in (".html", ".htm") else report.to_json()
    # The report is personal data: readable by its owner only (0600), as secrets are.
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot write {out}: {exc.strerror}", highlight=False)
        raise typer.Exit(1) from exc
    console.print(f"wrote the access report for {person} to {out}", highlight=False)


def enrol(
    person: Annotated[str, typer.Option(help="the person's ref")],
    qr: Annotated[bool, typer.Option(help="also draw the enrolment QR code in the terminal")] = True,
) -> None:
    """A one-time code that enrols the person's phone (valid CHAINCUT_ENROLMENT_MINUTES, 15 by default).

    The resident scans the QR code with the phone's camera, or types the code on the app's
    "This phone" page; the issue is audited.
    """
    with services() as wired:
        issued = wired.accounts.issue_enrolment_code(person, operator(), purpose="enrolment at a counter")
        from chaincut.web.resident_pages import ENROL_PATH  # the web pages load only when needed

        address = f"{wired.settings.public_base()}{ENROL_PATH}#{issued.secret}"
    assert issued.expires_at is not None
    console.print(f"enrolment code for {person}: [bold]{issued.secret}[/bold]", highlight=False)
    console.print(f"valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC, once: {address}", highlight=False)
    if qr:
        segno.make(address, error="m").terminal(compact=True)
