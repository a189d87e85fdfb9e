"""Commands for border ballots: commit a day's seed, list the published commitments, draw.

Each day's seed is committed (its SHA-256 published) before the day's entries
open; the server's timer does it ahead, and ``draw --due`` (cron) does too before
drawing. A draw uses the committed seed and reveals it, so anyone can check it
against the commitment (``commitments``) and repeat the draw.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from chaincut.cli.console import console, err, print_json, services
from chaincut.cli.users import operator
from chaincut.domain.border import SeedCommitment

__all__ = ["commit", "commitments", "draw"]

_USAGE = 2


def _fail(message: str, status: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(status)


def _day(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{option}: expected a date YYYY-MM-DD", _USAGE)


def _commitment_json(c: SeedCommitment) -> dict[str, object]:
    return {
        "day": c.day.isoformat(),
        "commitment": c.commitment,
        "hash": "sha256",
        "committed_at": c.committed_at.isoformat(),
        "committed_by": c.committed_by,
        "entries_at_commitment": c.entries_at_commitment,
        "seed": c.seed,
        "drawn_at": None if c.drawn_at is None else c.drawn_at.isoformat(),
    }


def commit(
    day: Annotated[str, typer.Option(help="the local date whose ballot seed to commit, YYYY-MM-DD")],
    seed: Annotated[
        str | None,
        typer.Option(
            help="the seed (default: from CHAINCUT_BALLOT_SEED and the day, else random); kept sealed"
        ),
    ] = None,
) -> None:
    """Commit a day's ballot seed and publish its SHA-256 (before the day's entries open)."""
    when = _day("--day", day)
    with services() as wired:
        made = wired.draws.commit(operator(), when, seed)
    console.print(f"committed {made.day}: sha256 {made.commitment}", highlight=False, soft_wrap=True)
    if made.entries_at_commitment:
        err.print(
            f"[yellow]warning:[/yellow] {made.entries_at_commitment} entries were already in; "
            "the commitment says so",
            highlight=False,
        )


def commitments(
    first: Annotated[
        str | None, typer.Option("--from", help="the first day, YYYY-MM-DD (default: today)")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="the last day (default: a week after --from)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the commitments as JSON")] = False,
) -> None:
    """The published ballot seed commitments, with each seed once its day is drawn."""
    with services() as wired:
        start = _day("--from", first) if first is not None else wired.draws.today()
        end = _day("--to", last) if last is not None else start + timedelta(days=7)
        found = wired.draws.commitments(start, end)
    if as_json:
        print_json([_commitment_json(c) for c in found])
        return
    if not found:
        console.print("no commitments")
    for c in found:
        seed = f"seed {c.seed!r}" if c.seed is not None else "not drawn yet"
        late = f", {c.entries_at_commitment} entries already in" if c.entries_at_commitment else ""
        console.print(f"{c.day}: sha256 {c.commitment} ({seed}{late})", highlight=False, soft_wrap=True)


def draw(
    day: Annotated[str | None, typer.Option(help="draw this local date's ballot, YYYY-MM-DD")] = None,
    seed: Annotated[
        str | None,
        typer.Option(
            help="the committed seed, given again (default: the one kept sealed with the commitment)"
        ),
    ] = None,
    due: Annotated[
        bool,
        typer.Option(
            "--due", help="commit seeds ahead, then draw every day whose draw time has passed (cron)"
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the draws as JSON")] = False,
) -> None:
    """Draw border ballots: one day's, or every day that is due; each draw is recorded and audited."""
    if (day is None) == (not due):
        _fail("give exactly one of: --day D, --due", _USAGE)
    if due and seed is not None:
        _fail("--seed goes with --day: due draws take their committed seeds", _USAGE)
    with services() as wired:
        if due:
            wired.draws.commit_ahead(operator())
            outcomes = wired.draws.draw_due(operator())
        else:
            outcomes = [wired.draws.draw(operator(), _day("--day", str(day)), seed)]
    if as_json:
        print_json(
            [
                {"day": o.day.isoformat(), "seed": o.seed, "won": len(o.won), "lost": len(o.lost)}
                for o in outcomes
            ]
        )
        return
    if not outcomes:
        console.print("no ballot is due")
    for o in outcomes:
        console.print(f"drew {o.day}: {len(o.won)} won, {len(o.lost)} lost (seed {o.seed})", highlight=False)
