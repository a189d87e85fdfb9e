"""Commands for border crossings: sync a checkpoint's day, clear travellers offline, upload the
decisions, and see the slots (the ballot's commands are in ``ballot``).

``sync`` and ``upload`` talk to a chaincut server over HTTP with a border officer's
bearer token; ``clear`` needs no network at all: it decides against the synced
bundle with an offline verifier built from the bundle's trust list, and appends
each decision to a local log. ``slots`` runs on the server's store.

The offline verifier comes from ``bootstrap.offline_verifier_factory``; a program
embedding this command line may pass its own as ``app(obj={"verifier_factory": f})``
(and ``"clock"``), as the tests do.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape

from chaincut.bootstrap import offline_verifier_factory
from chaincut.border import ClearanceBundle, VerifierFactory, decision_to_dict
from chaincut.border.offline import DecisionLog, clear_offline
from chaincut.cli.console import console, err, print_json, services
from chaincut.clock import Clock, SystemClock
from chaincut.codes.qr_image import read_qr_text
from chaincut.domain.border import ClearanceDecision, SyncedBooking
from chaincut.errors import ChaincutError

__all__ = ["clear", "slots", "sync", "upload"]

_USAGE = 2
_UPLOAD_BATCH = 500
_TIMEOUT_SECONDS = 30
_LOCAL_KEYS = frozenset({"companions", "place"})  # in a decision log for the officer, not uploaded

Server = Annotated[str, typer.Option("--server", help="the chaincut server, e.g. https://chaincut.example")]
Token = Annotated[
    str,
    typer.Option(
        "--token", envvar="CHAINCUT_TOKEN", help="a border officer's bearer token (or CHAINCUT_TOKEN)"
    ),
]


def _fail(message: str, status: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(status)


def _obj(ctx: typer.Context, key: str) -> Any:
    obj = ctx.find_root().obj
    return obj.get(key) if isinstance(obj, dict) else None


def _http(method: str, url: str, token: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - an http(s) URL, checked
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:  # noqa: S310
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        try:
            problem = json.loads(exc.read().decode("utf-8"))
            detail = f"{problem.get('code')}: {problem.get('message')}"
        except (ValueError, AttributeError):
            detail = exc.reason
        _fail(f"the server refused ({exc.code}) {detail}")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        _fail(f"cannot reach {urllib.parse.urlsplit(url).netloc}: {reason}")


def _base(server: str) -> str:
    if urllib.parse.urlsplit(server).scheme not in ("http", "https"):
        _fail("--server: expected an http:// or https:// URL", _USAGE)
    return server.rstrip("/")


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by its owner only (it is personal data: subject ids and decisions)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror}")


def sync(
    checkpoint: Annotated[str, typer.Option(help="the checkpoint id (policy [border.checkpoints])")],
    day: Annotated[str, typer.Option(help="the local date of the crossings, YYYY-MM-DD")],
    out: Annotated[Path, typer.Option("--out", "-o", help="where to write the bundle (JSON)")],
    server: Server,
    token: Token,
) -> None:
    """Fetch a checkpoint's day (bookings, rules, trust list, revoked codes) for clearing travellers offline;
    the bundle is refused once older than the policy's signed_codes.bundle_max_age_hours."""
    try:
        date.fromisoformat(day)
    except ValueError:
        _fail("--day: expected a date YYYY-MM-DD", _USAGE)
    query = urllib.parse.urlencode({"checkpoint": checkpoint, "day": day})
    document = _http("GET", f"{_base(server)}/border/sync?{query}", token)
    try:
        bundle = ClearanceBundle.from_dict(document)
    except ChaincutError as exc:
        _fail(f"the server sent something that is not a bundle: {exc.message}")
    _write_private(out, json.dumps(document, ensure_ascii=False, indent=1))
    revoked = sum(len(ids) for ids in bundle.revoked_codes.values())
    until = bundle.expires_at.astimezone(bundle.zone)
    console.print(
        f"synced {len(bundle.bookings)} bookings for {bundle.checkpoint} on {bundle.day} to {out}, "
        f"with {revoked} revoked codes; usable until {until:%Y-%m-%d %H:%M} (then sync again)",
        highlight=False,
    )


def _show(decision_id: str, decision: ClearanceDecision, bundle: ClearanceBundle) -> None:
    if decision.cleared:
        booking = decision.booking
        party = "" if booking is None else f" ({_place(booking, decision.subject)})"
        console.print(f"[green]CLEARED[/green]{party}", highlight=False, soft_wrap=True)
    else:
        console.print("[red]REFUSED[/red]", highlight=False)
        for reason in decision.reasons:
            console.print(f"  {reason.code.value}: {reason.text}", highlight=False, soft_wrap=True)
    when = decision.decided_at.astimezone(bundle.zone)
    where = f"{bundle.checkpoint}, {when:%Y-%m-%d %H:%M}, slot {decision.slot or '-'}"
    console.print(f"  decision {decision_id} at {where}", highlight=False)


def _place(booking: SyncedBooking, subject: str | None) -> str:
    """Who the traveller is on the booking, for the officer: each traveller shows their own code."""
    place = booking.place_of(subject)
    who = "the named traveller" if place == 0 else f"companion {place}"
    return f"booking {booking.booking_id}: {who} of {booking.travellers} travellers"


def clear(
    ctx: typer.Context,
    bundle_path: Annotated[Path, typer.Option("--bundle", help="the bundle from `chaincut border sync`")],
    qr: Annotated[str | None, typer.Argument(help="the code's QR text, or - to read it from stdin")] = None,
    image: Annotated[Path | None, typer.Option("--image", help="a picture of the QR code instead")] = None,
    log_path: Annotated[
        Path | None,
        typer.Option("--log", help="the decision log (default: decisions.jsonl beside the bundle)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the decision as one JSON object")] = False,
) -> None:
    """Clear or refuse a traveller offline, against the synced bundle; the decision goes to the log.

    A bundle older than its maximum age (the policy's signed_codes.bundle_max_age_hours) is
    refused with nothing decided: sync again. Exit status: 0 cleared, 1 refused (or the bundle
    too old), 2 a usage error.
    """
    if (qr is None) == (image is None):
        _fail("give exactly one of: the QR text (or -), --image FILE", _USAGE)
    try:
        raw = json.loads(bundle_path.read_text(encoding="utf-8"))
        bundle = ClearanceBundle.from_dict(raw)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        _fail(f"cannot read the bundle {bundle_path}: {exc}", _USAGE)
    except ChaincutError as exc:
        _fail(f"{bundle_path} is not a clearance bundle: {exc.message}", _USAGE)
    if image is not None:
        try:
            text = read_qr_text(image.read_bytes())
        except OSError as exc:
            _fail(f"cannot read the image {image}: {exc.strerror}", _USAGE)
        except ChaincutError as exc:
            _fail(f"no QR code could be read from {image}: {exc.message}", _USAGE)
    else:
        text = typer.get_text_stream("stdin").read() if qr == "-" else str(qr)
    factory: VerifierFactory = _obj(ctx, "verifier_factory") or offline_verifier_factory()
    clock: Clock = _obj(ctx, "clock") or SystemClock()
    log = DecisionLog(log_path or bundle_path.with_name("decisions.jsonl"))
    now = clock.now()
    if now.astimezone(bundle.zone).date() != bundle.day:
        err.print(f"[yellow]warning:[/yellow] the bundle is for {bundle.day}; sync today's", highlight=False)
    try:
        decision_id, decision = clear_offline(bundle, factory(bundle.trust_list), log, text.strip(), now)
    except ChaincutError as exc:
        _fail(exc.message)
    if as_json:
        print_json(decision_to_dict(decision_id, decision))
    else:
        _show(decision_id, decision, bundle)
    raise typer.Exit(0 if decision.cleared else 1)


def upload(
    log_path: Annotated[Path, typer.Option("--log", help="the decision log of `chaincut border clear`")],
    server: Server,
    token: Token,
) -> None:
    """Send an offline checkpoint's decisions to the server (each is recorded once, however often sent)."""
    try:
        records = DecisionLog(log_path).records()
    except ChaincutError as exc:
        _fail(exc.message, _USAGE)
    if not log_path.exists():
        _fail(f"no decision log at {log_path}", _USAGE)
    totals = {"count": 0, "stored": 0, "replayed": 0, "conflicts": 0}
    url = f"{_base(server)}/border/clearances/offline"
    for start in range(0, len(records), _UPLOAD_BATCH):
        batch = [
            {k: v for k, v in r.items() if k not in _LOCAL_KEYS}
            for r in records[start : start + _UPLOAD_BATCH]
        ]
        answer = _http("POST", url, token, {"decisions": batch})
        for key in totals:
            totals[key] += int(answer.get(key, 0))
    console.print(
        f"uploaded {totals['count']} decisions: {totals['stored']} recorded now, "
        f"{totals['replayed']} recorded before, {totals['conflicts']} conflicts",
        highlight=False,
    )
    if totals["conflicts"]:
        err.print(
            "[yellow]warning:[/yellow] some clearances used a code or booking that had already crossed "
            "elsewhere; they are flagged in the audit log",
            highlight=False,
        )


def slots(
    day: Annotated[str, typer.Option(help="the local date, YYYY-MM-DD")],
    as_json: Annotated[bool, typer.Option("--json", help="print the slots as JSON")] = False,
) -> None:
    """Each checkpoint's slots on a day under the policy's quotas: booked, free, and any excess of a
    quota lowered below the seats already booked."""
    try:
        when = date.fromisoformat(day)
    except ValueError:
        _fail("--day: expected a date YYYY-MM-DD", _USAGE)
    with services() as wired:
        found = wired.border.availability(when)
    if as_json:
        print_json(
            [
                {
                    "checkpoint": s.checkpoint,
                    "day": s.day.isoformat(),
                    "slot": s.slot,
                    "quota": s.quota,
                    "booked": s.booked,
                    "remaining": s.remaining,
                    "excess": s.excess,
                }
                for s in found
            ]
        )
        return
    for s in found:
        over = f", [yellow]{s.excess} over the quota[/yellow]" if s.excess else ""
        console.print(
            f"{s.checkpoint} {s.slot}: {s.booked} of {s.quota} booked, {s.remaining} free{over}",
            highlight=False,
        )
