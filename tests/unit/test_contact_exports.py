"""Contact lists to CSV and Excel: read back what was written, Chinese names included."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from chaincut.domain import Contact, Evidence, EvidenceKind, Interval, Tier
from chaincut.tracing import exports
from chaincut.tracing.exports import (
    CONTACT_COLUMNS,
    ContactRow,
    contact_rows,
    iter_contacts_csv,
    iter_file,
    spool_contacts_xlsx,
    write_contacts_csv,
    write_contacts_xlsx,
)

HK = ZoneInfo("Asia/Hong_Kong")
STAY = Interval(datetime(2026, 11, 18, 10, tzinfo=UTC), datetime(2026, 11, 18, 11, tzinfo=UTC))
THEIR_STAY = Interval(datetime(2026, 11, 18, 10, 30, tzinfo=UTC), datetime(2026, 11, 18, 12, tzinfo=UTC))


def rows() -> list[ContactRow]:
    venue = Evidence(EvidenceKind.VENUE, "restaurant", Tier.CLOSE, 1800, 1, 7, STAY, THEIR_STAY)
    home = Evidence(EvidenceKind.HOUSEHOLD, "household", Tier.CLOSE, 0, 1)
    contacts = [
        Contact(2, Tier.CLOSE, 1, 1800, (venue,)),
        Contact(3, Tier.CLOSE, 1, 0, (home,)),
        Contact(4, Tier.EXPOSED, 2, 90, (), via_person_id=2),
    ]
    return list(
        contact_rows(
            contacts,
            case_ref="C1",
            policy_version="2026.1",
            person_ref={2: "P2", 3: "P3", 4: "P4"},
            names={2: "陳大文", 3: 'Zoë O\'Brien, "Jr"'},
            venue_label=lambda _venue_id: "金龍 Golden Dragon",
        )
    )


def test_rows_summarise_the_evidence() -> None:
    first, home, second_generation = rows()
    assert first.first_exposure == THEIR_STAY.start and first.last_exposure == STAY.end
    assert first.evidence == "venue 金龍 Golden Dragon (restaurant, 30 min)"
    assert first.minutes == 30.0
    assert (home.first_exposure, home.evidence) == (None, "household (household)")
    assert (second_generation.generation, second_generation.name) == (2, None)


def test_csv_round_trip_with_chinese_names(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    assert write_contacts_csv(rows(), path, HK) == 3
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM, so Excel reads UTF-8
    with path.open(encoding="utf-8-sig", newline="") as f:
        read = list(csv.DictReader(f))
    assert list(read[0]) == list(CONTACT_COLUMNS)
    assert read[0]["name"] == "陳大文"
    assert read[1]["name"] == 'Zoë O\'Brien, "Jr"'
    assert read[0]["first_exposure"] == "2026-11-18T18:30:00+08:00"
    assert read[0]["last_exposure"] == "2026-11-18T19:00:00+08:00"
    assert read[1]["first_exposure"] == ""
    assert read[2]["tier"] == "exposed" and read[2]["generation"] == "2"


def test_csv_streams_in_chunks() -> None:
    many = rows() * 5
    chunks = list(iter_contacts_csv(many, HK, rows_per_chunk=4))
    assert len(chunks) == 4  # 15 rows: 4 + 4 + 4 + 3
    assert chunks[0].startswith(b"\xef\xbb\xbf") and not chunks[1].startswith(b"\xef\xbb\xbf")
    text = b"".join(chunks).decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(text)))) == 16


def test_xlsx_round_trip_with_chinese_names(tmp_path: Path) -> None:
    path = tmp_path / "contacts.xlsx"
    assert write_contacts_xlsx(rows(), path, HK) == 3
    sheet = load_workbook(path, read_only=True)["contacts"]
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert table[0][5] == "minutes"
    assert table[0][6] == "first_exposure (Asia/Hong_Kong)"
    assert table[1][:3] == ["C1", "P2", "陳大文"]
    assert table[1][6] == datetime(2026, 11, 18, 18, 30)  # local time; Excel has no offsets
    assert table[2][2] == 'Zoë O\'Brien, "Jr"'
    assert table[3][4] == 2


def test_xlsx_spool_and_new_sheet_past_the_row_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "XLSX_MAX_DATA_ROWS", 2)
    spool = spool_contacts_xlsx(rows() * 2, HK)
    data = b"".join(iter_file(spool, chunk_bytes=1000))
    assert spool.closed
    book = load_workbook(io.BytesIO(data), read_only=True)
    assert book.sheetnames == ["contacts", "contacts 2", "contacts 3"]
    assert [sum(1 for _ in book[name].iter_rows()) for name in book.sheetnames] == [3, 3, 3]


def test_an_empty_list_still_has_its_heading(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    assert write_contacts_xlsx([], path, HK) == 0
    sheet = load_workbook(path, read_only=True)["contacts"]
    assert next(sheet.iter_rows(values_only=True))[0] == "case_ref"
    assert b"".join(iter_contacts_csv([], HK)).decode("utf-8-sig").startswith("case_ref,person_ref")
