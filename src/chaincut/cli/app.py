"""The ``chaincut`` command and its sub-commands."""

from __future__ import annotations

import typer

from chaincut.cli import (
    analytics,
    audit,
    cases,
    chains,
    clusters,
    data,
    orders,
    people,
    proxy,
    server,
    tracing,
    users,
    venues,
)
from chaincut.cli import backup as backup_commands
from chaincut.cli import ballot as ballot_commands
from chaincut.cli import border as border_commands
from chaincut.cli import codes as code_commands
from chaincut.cli import health_codes as health_code_commands
from chaincut.cli import keys as keys_commands
from chaincut.cli import policy as policy_commands
from chaincut.cli import report as report_commands
from chaincut.cli import verify as verify_commands

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
keys_app = typer.Typer(help="Data keys: rotate, status, generate.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

db_app.command("upgrade")(server.db_upgrade)
db_app.command("current")(server.db_current)
app.command("serve")(server.serve)
app.command("demo")(server.demo)
app.command("proxy-config")(proxy.proxy_config)
app.command("import")(data.import_file)
app.command("status")(data.status)
app.command("purge")(data.purge)
app.command("close-visits")(data.close_visits)
app.command("synth")(data.synth)
app.command("backup")(backup_commands.backup)
app.command("restore")(backup_commands.restore)
app.command("trace")(tracing.trace)
app.command("verify")(verify_commands.verify)
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
keys_app.command("rotate")(keys_commands.rotate)
keys_app.command("status")(keys_commands.status)
keys_app.command("generate")(keys_commands.generate)
users_app = typer.Typer(help="Staff accounts and their roles.", no_args_is_help=True)
app.add_typer(users_app, name="users")
users_app.command("add")(users.add)
users_app.command("list")(users.list_users)
users_app.command("disable")(users.disable)
users_app.command("enable")(users.enable)
users_app.command("roles")(users.set_roles)
tokens_app = typer.Typer(help="Tokens for residents' apps and venues' devices.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
tokens_app.command("resident")(users.resident_token)
tokens_app.command("venue")(users.venue_token)
tokens_app.command("revoke")(users.revoke_tokens)
clusters.register(analytics.analytics_app)
chains.register(analytics.analytics_app)
app.add_typer(analytics.analytics_app, name="analytics")
app.add_typer(report_commands.report_app, name="report")
audit_app = typer.Typer(help="The audit log: verify its chain, report on it.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
audit_app.command("verify")(audit.verify)
audit_app.command("report")(audit.report)
people_app = typer.Typer(help="People: access reports, enrolling a phone.", no_args_is_help=True)
app.add_typer(people_app, name="people")
people_app.command("access-report")(people.access_report)
people_app.command("enrol")(people.enrol)
border_app = typer.Typer(
    help="Border crossings: sync a checkpoint, clear offline, upload; slots; ballot seeds and draws.",
    no_args_is_help=True,
)
app.add_typer(border_app, name="border")
border_app.command("sync")(border_commands.sync)
border_app.command("clear")(border_commands.clear)
border_app.command("upload")(border_commands.upload)
border_app.command("slots")(border_commands.slots)
border_app.command("commit")(ballot_commands.commit)
border_app.command("commitments")(ballot_commands.commitments)
border_app.command("draw")(ballot_commands.draw)

codes_app = typer.Typer(
    help="Health codes: refresh and show residents' codes; signing keys, the trust list, partners.",
    no_args_is_help=True,
)
app.add_typer(codes_app, name="codes")
code_keys_app = typer.Typer(help="Code-signing keys: init, rotate, revoke, list, root.", no_args_is_help=True)
codes_app.add_typer(code_keys_app, name="keys")
partners_app = typer.Typer(help="Partner jurisdictions' trust lists: add, list, sync.", no_args_is_help=True)
codes_app.add_typer(partners_app, name="partners")
codes_app.command("trust-list")(code_commands.trust_list)
codes_app.command("revocations")(code_commands.revocations)
code_keys_app.command("init")(code_commands.keys_init)
code_keys_app.command("rotate")(code_commands.keys_rotate)
code_keys_app.command("revoke")(code_commands.keys_revoke)
code_keys_app.command("list")(code_commands.keys_list)
code_keys_app.command("root")(code_commands.keys_root)
partners_app.command("add")(code_commands.partners_add)
partners_app.command("list")(code_commands.partners_list)
partners_app.command("sync")(code_commands.partners_sync)
codes_app.command("refresh")(health_code_commands.refresh)
codes_app.command("show")(health_code_commands.show)


def main() -> None:
    app()
