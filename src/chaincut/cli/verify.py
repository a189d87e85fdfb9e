"""The ``chaincut verify`` command: check a traveller's health code or EU DCC offline."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape

from chaincut.cli.console import console, err, print_json, services
from chaincut.clock import SystemClock
from chaincut.codes import TrustAnchors, VerificationResult, load_certificate, parse_trust_list
from chaincut.codes.code_verify import CodeTrust, CodeVerifier, verify_qr
from chaincut.codes.qr_image import read_qr_text
from chaincut.codes.trust_list import is_signed_trust_list, read_trust_list
from chaincut.errors import InvalidHealthCertificate, TrustListError
from chaincut.settings import Settings

__all__ = ["verify"]

_USAGE = 2


def _usage(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(_USAGE)


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        _usage(f"cannot read {what} {path}: {exc.strerror}")


def _instant(text: str) -> datetime:
    """An ISO-8601 instant with its UTC offset; a naive time is ambiguous at a border and refused."""
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO-8601 date and time") from None
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (write e.g. 2026-11-20T12:00+08:00 or ...Z)")
    return at.astimezone(UTC)


def _signed(text: str) -> bool:
    try:
        return is_signed_trust_list(json.loads(text))
    except (ValueError, RecursionError):
        return False


def _anchors(trust_certs: list[Path], trust_lists: list[Path]) -> tuple[TrustAnchors, CodeTrust]:
    """EU DCC signers (certificates, kid -> DER lists) and health-code issuers (signed trust lists)."""
    codes = CodeTrust()
    try:
        certificates = [load_certificate(_read_bytes(p, "signer certificate")) for p in trust_certs]
        anchors = dict(TrustAnchors.of(certificates).by_kid)
        for path in trust_lists:
            text = _read_bytes(path, "trust list").decode("utf-8", errors="replace")
            if _signed(text):
                codes = codes.with_issuer(read_trust_list(text))
            else:
                anchors.update(parse_trust_list(text).by_kid)
    except TrustListError as exc:
        _usage(exc.message)
    return TrustAnchors(anchors), codes


def _local_trust() -> CodeTrust:
    """This installation's own signers and its partners' last synced lists (reads the store)."""
    with services() as svc:
        return svc.trusted_codes.trust()


def _refused(reason: str) -> VerificationResult:
    return VerificationResult(False, reason, {})


def _record_context(
    record: dict[str, Any], trust: TrustAnchors, default_at: datetime
) -> tuple[TrustAnchors, datetime]:
    """The signers and the instant one batch line is checked against (its own, else the command's)."""
    anchors, at = trust, default_at
    cert = record.get("trust_cert")
    if cert is not None:
        if not isinstance(cert, str):
            raise TrustListError("trust_cert is not a base64 string")
        anchors = TrustAnchors({**trust.by_kid, **TrustAnchors.of([load_certificate(cert.encode())]).by_kid})
    when = record.get("at")
    if when is not None:
        if not isinstance(when, str):
            raise ValueError("'at' is not an ISO-8601 string")
        at = _instant(when)
    return anchors, at


def _batch_results(
    path: Path, trust: TrustAnchors, codes: CodeVerifier, default_at: datetime
) -> Iterator[VerificationResult]:
    text = _read_bytes(path, "batch file").decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            yield _refused(f"line {number}: not a JSON object")
            continue
        if not isinstance(record, dict) or not isinstance(record.get("qr"), str):
            yield _refused(f"line {number}: no 'qr' text")
            continue
        try:
            anchors, at = _record_context(record, trust, default_at)
        except (TrustListError, ValueError, UnicodeEncodeError) as exc:
            message = exc.message if isinstance(exc, TrustListError) else str(exc)
            yield _refused(f"line {number}: {message}")
            continue
        yield verify_qr(record["qr"], codes=codes, dcc=anchors, at=at)


def _show(result: VerificationResult) -> None:
    payload_kind = result.payload.get("kind") if isinstance(result.payload, dict) else None
    if result.valid and payload_kind == "chaincut_health_code":
        code: dict[str, Any] = result.payload
        console.print(f"[green]VALID[/green] health code issued by {code['issuer']}", highlight=False)
        console.print(
            f"  colour: {code['colour']}; until {code['status_until'] or 'the facts change'}", highlight=False
        )
        console.print(f"  holder: {code['name'] or '?'}; expires {code['expires_at']}", highlight=False)
    elif result.valid:
        console.print("[green]VALID[/green] EU Digital COVID Certificate")
        payload: dict[str, Any] = result.payload if isinstance(result.payload, dict) else {}
        found = payload.get("nam")
        name: dict[str, Any] = found if isinstance(found, dict) else {}
        holder = f"{name.get('fnt', '?')} {name.get('gnt', '')}".strip()
        console.print(f"  holder: {holder}, born {payload.get('dob', '?')}", highlight=False)
    else:
        console.print(f"[red]NOT VALID[/red]: {result.reason}", highlight=False, soft_wrap=True)
    for step, passed in result.checks.items():
        console.print(f"  {step:<17} {'ok' if passed else 'FAILED'}", highlight=False)


def verify(
    qr: Annotated[
        str | None, typer.Argument(help="the QR text (CC1:... or HC1:...), or - to read it from stdin")
    ] = None,
    image: Annotated[Path | None, typer.Option("--image", help="a picture of the QR code instead")] = None,
    trust_cert: Annotated[
        list[Path] | None,
        typer.Option(
            "--trust-cert",
            help="a trusted signer certificate (PEM or base64 DER); repeatable",
        ),
    ] = None,
    trust: Annotated[
        list[Path] | None,
        typer.Option(
            "--trust",
            help='a trust list: a signed chaincut trust list (health codes), or JSON {"<kid, base64>": '
            '"<certificate, base64 DER>", ...} (EU DCC signers); repeatable',
        ),
    ] = None,
    local: Annotated[
        bool,
        typer.Option(
            "--local", help="also trust this installation's own signers and its partners' synced lists"
        ),
    ] = False,
    at: Annotated[
        str | None, typer.Option("--at", help="validate at this ISO-8601 instant with offset (default now)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    batch: Annotated[
        Path | None,
        typer.Option(
            "--batch", help="a JSONL file: one {qr, trust_cert?, at?} per line; one result per line"
        ),
    ] = None,
) -> None:
    """Verify a health code (CC1:, ours or a partner's) or an EU Digital COVID Certificate (HC1:) offline.

    Health codes are checked against signed trust lists: --trust FILE (from `chaincut codes
    trust-list` or a partner's GET /codes/trust-list) or --local (this installation's own keys
    and its partners' synced lists). EU DCCs: trust the signer with --trust-cert FILE (PEM or
    base64 DER) or --trust FILE (a kid -> certificate list).

    A trust list is a JSON object mapping key id (the COSE kid, base64) to certificate (base64 DER):

    {"dTd8dmZcQ4Q=": "MIIBvTCCAWOgAwIBAgIK...", "<kid>": "<certificate>"}

    --json prints one object {valid, payload, reason, checks}.

    --batch FILE.jsonl reads lines {"qr": ..., "trust_cert": base64 DER?, "at": ISO-8601?}.

    It prints one JSON result per line, in the same order.

    Exit status: 0 valid (every line, with --batch), 1 not valid, 2 a usage error.
    """
    sources = [qr is not None, image is not None, batch is not None]
    if sum(sources) != 1:
        _usage("give exactly one of: the QR text (or -), --image FILE, --batch FILE")
    try:
        default_at = _instant(at) if at is not None else SystemClock().now()
    except ValueError as exc:
        _usage(f"--at: {exc}")
    anchors, code_trust = _anchors(trust_cert or [], trust or [])
    if local:
        for issuer in _local_trust().issuers.values():
            code_trust = code_trust.with_issuer(issuer)
    codes = CodeVerifier(code_trust, leeway=Settings().code_leeway)  # EU DCCs are read with it too
    if batch is not None:
        all_valid = True
        for result in _batch_results(batch, anchors, codes, default_at):
            all_valid &= result.valid
            print_json(result.to_json())
        raise typer.Exit(0 if all_valid else 1)
    if not anchors.by_kid and not code_trust.issuers:
        _usage("no trusted signer: give --trust-cert FILE, --trust FILE or --local")
    if image is not None:
        try:
            text = read_qr_text(_read_bytes(image, "image"))
        except InvalidHealthCertificate as exc:
            result = _refused(exc.reason)
        else:
            result = verify_qr(text, codes=codes, dcc=anchors, at=default_at)
    else:
        text = sys.stdin.read() if qr == "-" else str(qr)
        result = verify_qr(text.strip(), codes=codes, dcc=anchors, at=default_at)
    if as_json:
        print_json(result.to_json())
    else:
        _show(result)
    raise typer.Exit(0 if result.valid else 1)
