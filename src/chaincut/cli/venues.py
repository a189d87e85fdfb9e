"""Commands for the venue registry: add, list, poster."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chaincut.cli.console import console, print_json, services
from chaincut.venues.registry import VenueDraft

__all__ = ["add", "list_venues", "poster"]


class PosterFormat(enum.StrEnum):
    png = "png"
    pdf = "pdf"


def add(
    venue_type: Annotated[str, typer.Option("--type", help="a venue type from the policy")],
    name_en: Annotated[str, typer.Option(help="name in English")],
    name_zh: Annotated[str, typer.Option(help="name in Chinese")],
    ref: Annotated[str | None, typer.Option(help="the venue's external reference")] = None,
    district: Annotated[str | None, typer.Option()] = None,
    address: Annotated[str | None, typer.Option()] = None,
    plate: Annotated[str | None, typer.Option(help="registration plate (taxis only)")] = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Register a venue."""
    with services() as svc:
        venue = svc.venues.register(VenueDraft(venue_type, name_en, name_zh, ref, district, address, plate))
    if json_output:
        print_json({k: v for k, v in venue.__dict__.items() if k != "id"})
    else:
        console.print(f"registered {venue.ref} ({venue.venue_type}): {venue.name_en} {venue.name_zh}")


def list_venues(
    venue_type: Annotated[str | None, typer.Option("--type")] = None,
    district: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """List registered venues."""
    with services() as svc:
        venues, count = svc.venues.list(venue_type=venue_type, district=district, offset=offset, limit=limit)
    table = Table(title=f"{count:,} venues")
    for column in ("ref", "type", "name", "名稱", "district"):
        table.add_column(column)
    for v in venues:
        table.add_row(v.ref, v.venue_type, v.name_en, v.name_zh, v.district or "")
    console.print(table)


def poster(
    ref: Annotated[str, typer.Argument(help="the venue's reference")],
    out: Annotated[Path, typer.Option(help="where to write the poster")],
    fmt: Annotated[PosterFormat, typer.Option("--format")] = PosterFormat.png,
) -> None:
    """Write a venue's printable QR poster (PNG or PDF)."""
    with services() as svc:
        data = svc.presence.poster(ref, fmt.value)
    out.write_bytes(data)
    console.print(f"wrote {out} ({len(data):,} bytes)")
