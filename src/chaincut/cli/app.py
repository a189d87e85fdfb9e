"""The ``chaincut`` command and its sub-commands."""

from __future__ import annotations

import typer

from chaincut.cli import cases, data, orders, server, tracing, venues
from chaincut.cli import policy as policy_commands

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
cases_app = typer.Typer(help="Cases and their infectious windows.", no_args_is_help=True)
app.add_typer(cases_app, name="cases")
policy_app = typer.Typer(help="The experts' policy file: check, diff, show.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
orders_app = typer.Typer(help="Quarantine orders and testing notices.", no_args_is_help=True)
app.add_typer(orders_app, name="orders")

db_app.command("upgrade")(server.db_upgrade)
db_app.command("current")(server.db_current)
app.command("serve")(server.serve)
app.command("demo")(server.demo)
app.command("import")(data.import_file)
app.command("status")(data.status)
app.command("purge")(data.purge)
app.command("close-visits")(data.close_visits)
app.command("synth")(data.synth)
app.command("trace")(tracing.trace)
venues_app.command("add")(venues.add)
venues_app.command("list")(venues.list_venues)
venues_app.command("poster")(venues.poster)
cases_app.command("add")(cases.add)
cases_app.command("list")(cases.list_cases)
cases_app.command("show")(cases.show)
cases_app.command("isolate")(cases.isolate)
policy_app.command("check")(policy_commands.check)
policy_app.command("diff")(policy_commands.diff)
policy_app.command("show")(policy_commands.show)
orders_app.command("list")(orders.list_orders)
orders_app.command("set-status")(orders.set_status)


def main() -> None:
    app()
