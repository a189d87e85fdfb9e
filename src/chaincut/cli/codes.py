"""Commands over signed health codes: the code-signing keys, the trust and revocation lists, partners."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from chaincut.cli.console import console, err, print_json, services
from chaincut.cli.users import operator
from chaincut.codes.key_service import CodeKeyInfo

__all__ = [
    "keys_init",
    "keys_list",
    "keys_revoke",
    "keys_root",
    "keys_rotate",
    "partners_add",
    "partners_list",
    "partners_sync",
    "revocations",
    "trust_list",
]

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


def _key_json(info: CodeKeyInfo) -> dict[str, object]:
    return {
        name: value.isoformat() if hasattr(value, "isoformat") else value
        for name, value in vars(info).items()
    }


def _show_keys(keys: list[CodeKeyInfo], as_json: bool) -> None:
    if as_json:
        print_json([_key_json(k) for k in keys])
        return
    for k in keys:
        extra = ""
        if k.trusted_until is not None and k.status == "retired":
            extra = f" listed until {k.trusted_until.isoformat()}"
        if k.revoked_reason:
            extra = f" revoked: {k.revoked_reason}"
        console.print(
            f"{k.kid}  {k.role:<4} {k.status:<8} created {k.created_at.isoformat()}{extra}", highlight=False
        )


def keys_init(as_json: JsonOption = False) -> None:
    """Make the root key (self-signed certificate) and the first document signer."""
    with services() as svc:
        keys = svc.code_keys.init(operator())
    _show_keys(keys, as_json)


def keys_rotate(as_json: JsonOption = False) -> None:
    """A new document signer signs from now; the old one stays in the trust list until its codes expire."""
    with services() as svc:
        info = svc.code_keys.rotate(operator())
    _show_keys([info], as_json)


def keys_revoke(
    kid: Annotated[str, typer.Argument(help="the key id (base64)")],
    reason: Annotated[str, typer.Option("--reason", help="why (3-300 characters; audited)")],
    as_json: JsonOption = False,
) -> None:
    """Take a document signer out of the trust list at once (an active one is replaced)."""
    with services() as svc:
        info = svc.code_keys.revoke(kid, reason, operator())
    _show_keys([info], as_json)


def keys_list(as_json: JsonOption = False) -> None:
    """Every code-signing key and its status."""
    with services() as svc:
        keys = svc.code_keys.list_keys()
    _show_keys(keys, as_json)


def keys_root(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="write the PEM here (default: print it)")
    ] = None,
) -> None:
    """The root certificate (PEM), for partners to pin out of band."""
    with services() as svc:
        document = svc.code_keys.trust_list()
    root = x509.load_der_x509_certificate(base64.b64decode(str(document["root"])))
    pem = root.public_bytes(Encoding.PEM).decode("ascii")
    if out is None:
        typer.echo(pem, nl=False)
    else:
        out.write_text(pem, encoding="ascii")
        err.print(f"wrote the root certificate to {out}", highlight=False)


def trust_list(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write it here (default: print it)")] = None,
) -> None:
    """The authority's trust list, signed by its root (what GET /codes/trust-list serves)."""
    with services() as svc:
        document = svc.code_keys.trust_list()
    text = json.dumps(document, indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        err.print(f"wrote trust list sequence {document['sequence']} to {out}", highlight=False)


def revocations(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write it here (default: print it)")] = None,
) -> None:
    """The authority's code-revocation list, signed by its root (what GET /codes/revocations serves)."""
    with services() as svc:
        document = svc.code_revocations.revocation_list()
    text = json.dumps(document, indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        err.print(f"wrote revocation list sequence {document['sequence']} to {out}", highlight=False)


def partners_add(
    name: Annotated[str, typer.Argument(help="the partner's name, e.g. MO")],
    url: Annotated[str, typer.Option("--url", help="where its trust list is published")],
    root: Annotated[Path, typer.Option("--root", help="its root certificate (PEM or DER), pinned")],
    revocations_url: Annotated[
        str | None,
        typer.Option(
            "--revocations-url",
            help="where its code-revocation list is published (default: beside a .../codes/trust-list URL)",
        ),
    ] = None,
) -> None:
    """Pin a partner jurisdiction's root certificate and the URLs of its trust and revocation lists."""
    try:
        data = root.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {root}: {exc.strerror}", param_hint="--root") from exc
    with services() as svc:
        info = svc.code_partners.add(name, url, data, operator(), revocations_url=revocations_url)
    console.print(f"pinned partner {info.name}; run `chaincut codes partners sync`", highlight=False)


def partners_list(as_json: JsonOption = False) -> None:
    """The partners, the sequence of their trust list held, and their last sync."""
    with services() as svc:
        partners = svc.code_partners.list_partners()
    if as_json:
        print_json(
            [
                {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in vars(p).items()}
                for p in partners
            ]
        )
        return
    for p in partners:
        state = f"sequence {p.sequence}, {p.signers} signers" if p.sequence is not None else "never synced"
        if p.revocations_sequence is not None:
            state += f"; revocation list sequence {p.revocations_sequence}"
        error = f"; last attempt failed: {p.last_error}" if p.last_error else ""
        console.print(f"{p.name}  {p.url}  {state}{error}", highlight=False, soft_wrap=True)


def partners_sync(as_json: JsonOption = False) -> None:
    """Fetch every partner's trust and revocation lists; a list that fails keeps the previous one."""
    with services() as svc:
        outcomes = svc.code_partners.sync(operator())
    if as_json:
        print_json([vars(o) for o in outcomes])
    else:
        for o in outcomes:
            mark = "[green]accepted[/green]" if o.accepted else "[red]refused[/red]"
            console.print(f"{o.name}: {mark} {o.reason}", highlight=False, soft_wrap=True)
            console.print(f"  {o.revocations_reason}", highlight=False, soft_wrap=True)
    if not all(o.accepted for o in outcomes):
        raise typer.Exit(1)
