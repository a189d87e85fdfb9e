"""The ``chaincut`` command and its sub-commands."""

from __future__ import annotations

import typer

from chaincut.cli import data, server, venues

__all__ = ["app", "main"]

app = typer.Typer(
    name="chaincut",
    help="Contact tracing and border reopening for public-health authorities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
venues_app = typer.Typer(help="The venue registry and QR posters.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(venues_app, name="venues")

db_app.command("upgrade")(server.db_upgrade)
db_app.command("current")(server.db_current)
app.command("serve")(server.serve)
app.command("demo")(server.demo)
app.command("import")(data.import_file)
app.command("status")(data.status)
app.command("purge")(data.purge)
app.command("close-visits")(data.close_visits)
app.command("synth")(data.synth)
venues_app.command("add")(venues.add)
venues_app.command("list")(venues.list_venues)
venues_app.command("poster")(venues.poster)


def main() -> None:
    app()
