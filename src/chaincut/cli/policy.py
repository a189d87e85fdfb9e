"""Commands for the experts' policy file: check, diff, show.

``check`` and ``diff`` need no database: a policy can be checked before it is deployed.
``show`` asks the store which policy is in force, when there is one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from chaincut.bootstrap import bootstrap
from chaincut.cli.console import console, err, print_json
from chaincut.clock import from_epoch
from chaincut.errors import ChaincutError, ConfigurationError, PolicyError, StoreNotReady
from chaincut.policy import Policy, load_policy, parse_policy
from chaincut.policy.diff import diff_policies, policy_document
from chaincut.settings import Settings

__all__ = ["check", "diff", "show"]

FileArgument = Annotated[Path, typer.Argument(help="a policy file (TOML)")]


def _fail(message: str) -> typer.Exit:
    err.print(Text.assemble(("error:", "red"), f" {message}"), highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise _fail(f"cannot read policy file {path}: {reason}") from exc


def check(file: FileArgument) -> None:
    """Check a policy file: every problem, one per line, with its key path and what was expected."""
    text = _read(file)
    try:
        policy = parse_policy(text, source=str(file))
    except PolicyError as exc:
        problems = exc.problems or [exc.message]
        for problem in problems:
            typer.echo(problem)
        raise _fail(f"{file}: {len(problems)} problem(s); the policy cannot be used") from exc
    typer.echo(f"OK {file}: policy {policy.version}, digest {policy.digest}")


def _shown(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def diff(
    first: Annotated[Path, typer.Argument(help="the policy file before")],
    second: Annotated[Path, typer.Argument(help="the policy file after")],
    json_output: Annotated[bool, typer.Option("--json", help="print the changes as a JSON list")] = False,
) -> None:
    """Show what changed between two policy files, key by key (comments are ignored)."""
    try:
        changes = diff_policies(_read(first), _read(second))
    except PolicyError as exc:
        raise _fail(exc.message) from exc
    if json_output:
        print_json([c.as_dict() for c in changes])
        return
    if not changes:
        typer.echo(f"no changes from {first} to {second}")
        return
    table = Table(title=f"{len(changes)} change(s) from {first} to {second}")
    for column in ("key", "change", "before", "after"):
        table.add_column(column, overflow="fold")
    for c in changes:
        table.add_row(Text(c.path), Text(c.change), Text(_shown(c.old)), Text(_shown(c.new)))
    console.print(table)


def _active() -> tuple[Policy, str]:
    """The policy in force: the store's when there is a migrated store, else the file's."""
    try:
        settings = Settings()
        policy = load_policy(settings.policy_file)
    except (ChaincutError, ValueError) as exc:
        raise _fail(exc.message if isinstance(exc, ChaincutError) else str(exc)) from exc
    source = str(settings.policy_file) if settings.policy_file else "the shipped default"
    try:
        wired = bootstrap(settings)
    except (StoreNotReady, ConfigurationError):
        return policy, source  # no migrated store to ask: the file is what a server would put in force
    except ChaincutError as exc:  # the store's policy in force no longer passes, say
        raise _fail(exc.message) from exc
    try:
        record = wired.policy_changes.in_force()
        policy = wired.policy
    finally:
        wired.close()
    if record is not None and record.source == "console":
        when = from_epoch(record.activated_at or 0).astimezone(settings.zone)
        source = (
            f"the console: uploaded by {record.uploaded_by}, activated by {record.decided_by} "
            f"on {when:%Y-%m-%d %H:%M}"
        )
    return policy, source


def show(
    json_output: Annotated[bool, typer.Option("--json", help="print the policy as JSON")] = False,
) -> None:
    """Show the policy in force (activated in the console, else CHAINCUT_POLICY_FILE or the shipped
    default): version, digest, where it came from, rules."""
    policy, source = _active()
    rules = policy_document(policy)
    if json_output:
        print_json({"version": policy.version, "digest": policy.digest, "source": source, "rules": rules})
        return
    typer.echo(f"policy {policy.version}, digest {policy.digest}, from {source}")
    for section, values in rules.items():
        if section in ("policy", "venue_types"):
            continue
        shown = ", ".join(f"{key} = {_shown(value)}" for key, value in values.items())
        typer.echo(f"  {section}: {shown}")
    table = Table(title=f"{len(policy.venue_types)} venue types")
    for column in (
        "type",
        "label",
        "標籤",
        "stay min",
        "max stay min",
        "overlap min",
        "after leave min",
        "tier",
    ):
        table.add_column(column)
    for name, rule in policy.venue_types.items():
        table.add_row(
            Text(name),
            Text(rule.label_en),
            Text(rule.label_zh),
            str(rule.default_stay_minutes),
            str(rule.max_stay_minutes),
            str(rule.contact.min_overlap_minutes),
            str(rule.contact.after_leave_minutes),
            rule.contact.tier.value,
        )
    console.print(table)
