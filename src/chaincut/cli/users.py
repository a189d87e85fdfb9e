"""Commands for staff accounts and credentials: users add|list|disable|enable|roles, tokens."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chaincut.cli.console import console, err, print_json, services
from chaincut.clock import from_epoch
from chaincut.domain.access import Principal, Role, parse_roles
from chaincut.store.staff import StaffRecord

__all__ = [
    "add",
    "disable",
    "enable",
    "list_users",
    "operator",
    "resident_token",
    "revoke_tokens",
    "set_roles",
    "venue_token",
]


def operator() -> Principal:
    """Whoever runs the command on the server, as the audit log names them."""
    try:
        who = os.environ.get("CHAINCUT_STAFF") or getpass.getuser()
    except (KeyError, OSError):
        who = "operator"
    return Principal.system(who[:64])


def _roles(values: list[str]) -> frozenset[Role]:
    try:
        return parse_roles(",".join(values))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--role") from exc


def _password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            return password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {password_file}", param_hint="--password-file") from exc
    if os.environ.get("CHAINCUT_NEW_PASSWORD"):
        return os.environ["CHAINCUT_NEW_PASSWORD"]
    first = typer.prompt("password", hide_input=True)
    if typer.prompt("again", hide_input=True) != first:
        err.print("[red]error:[/red] the passwords differ")
        raise typer.Exit(1)
    return str(first)


def _json(r: StaffRecord) -> dict[str, object]:
    return {
        "username": r.username,
        "roles": sorted(x.value for x in r.roles),
        "disabled": r.disabled,
        "locked_until": from_epoch(r.locked_until).isoformat() if r.locked_until else None,
        "created_at": from_epoch(r.created_at).isoformat(),
        "created_by": r.created_by,
    }


RoleOption = Annotated[
    list[str], typer.Option("--role", help=f"one of: {', '.join(r.value for r in Role)} (repeatable)")
]


def add(
    username: Annotated[str, typer.Argument(help="lower-case letters, digits, . _ -")],
    role: RoleOption,
    password_file: Annotated[
        Path | None,
        typer.Option(help="read the password from this file (else CHAINCUT_NEW_PASSWORD, else ask)"),
    ] = None,
) -> None:
    """Add a staff account with its roles; the password is hashed with Argon2id."""
    roles = _roles(role)
    password = _password(password_file)
    with services() as wired:
        record = wired.accounts.add(username, password, roles, operator())
    console.print(f"added {record.username} ({', '.join(sorted(roles))})")


def list_users(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every staff account, its roles and whether it is disabled or locked."""
    with services() as wired:
        records = wired.accounts.list()
    if as_json:
        print_json([_json(r) for r in records])
        return
    table = Table("username", "roles", "state", "created")
    for r in records:
        state = "disabled" if r.disabled else ("locked" if r.locked_until else "active")
        table.add_row(
            r.username, ", ".join(sorted(r.roles)), state, from_epoch(r.created_at).date().isoformat()
        )
    console.print(table)


def disable(username: str) -> None:
    """Disable an account: it can no longer sign in, and its tokens and sessions end."""
    with services() as wired:
        wired.accounts.disable(username, operator())
    console.print(f"disabled {username}")


def enable(username: str) -> None:
    """Enable a disabled account again."""
    with services() as wired:
        wired.accounts.disable(username, operator(), disabled=False)
    console.print(f"enabled {username}")


def set_roles(username: str, role: RoleOption) -> None:
    """Replace an account's roles."""
    roles = _roles(role)
    with services() as wired:
        wired.accounts.set_roles(username, roles, operator())
    console.print(f"{username}: {', '.join(sorted(roles))}")


def resident_token(person: Annotated[str, typer.Option(help="the person's ref")]) -> None:
    """Issue a token for a resident's app (printed once; only its hash is kept)."""
    with services() as wired:
        issued = wired.accounts.issue_resident_token(person, operator())
    typer.echo(issued.secret)


def revoke_tokens(
    person: Annotated[str | None, typer.Option(help="end every app token of this person")] = None,
    venue: Annotated[str | None, typer.Option(help="end every device token of this venue")] = None,
) -> None:
    """Revoke tokens of a lost phone or a stolen kiosk (servers refuse them within seconds)."""
    if (person is None) == (venue is None):
        raise typer.BadParameter("give exactly one of --person or --venue")
    with services() as wired:
        ended = wired.accounts.revoke_device_tokens(operator(), person_ref=person, venue_ref=venue)
    console.print(f"revoked {ended} token{'s' if ended != 1 else ''}")


def venue_token(venue: Annotated[str, typer.Option(help="the venue's ref")]) -> None:
    """Issue a token for a venue's own device (printed once; only its hash is kept)."""
    with services() as wired:
        wired.presence.require_devices_allowed(wired.venues.get(venue))
        issued = wired.accounts.issue_venue_token(venue, operator())
    typer.echo(issued.secret)
