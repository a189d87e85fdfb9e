"""Reading a pairs file: both layouts, what is left out and counted, and what refuses the file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from chaincut.analytics import OnsetPair, read_pairs_file
from chaincut.errors import InvalidInput


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def test_iso_layout(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pairs.csv",
        "infectee_onset,extra,infector_onset",
        "2020-01-15,x,2020-01-10",
        "2020-01-08,y,2020-01-10",  # the infectee fell ill first: kept
    )
    read = read_pairs_file(path)
    assert read.layout == "iso"
    assert read.pairs == (
        OnsetPair(date(2020, 1, 10), date(2020, 1, 15)),
        OnsetPair(date(2020, 1, 10), date(2020, 1, 8)),
    )
    assert [p.interval_days for p in read.pairs] == [5, -2]
    assert read.left_out_unknown_onset == 0


def test_ali_layout_leaves_out_and_counts_unknown_onsets(tmp_path: Path) -> None:
    path = tmp_path / "ali.csv"
    path.write_text(
        "\ufeffinfector_id,infector_onsetDate,infectee_onsetDate,infector_infectCity\n"
        'a,2020/01/20,2020/01/25,"wuhan, Hubei Province"\n'
        "b,unknown,2020/01/25,x\n"
        "c,2020/01/20,        unknown,x\n"
        "d, 2020/02/01 ,2020/01/30,x\n",
        encoding="utf-8",
    )
    read = read_pairs_file(path)
    assert read.layout == "ali2020"
    assert read.pairs == (
        OnsetPair(date(2020, 1, 20), date(2020, 1, 25)),
        OnsetPair(date(2020, 2, 1), date(2020, 1, 30)),
    )
    assert read.left_out_unknown_onset == 2


@pytest.mark.parametrize(
    ("header", "row", "line", "column", "expected"),
    [
        ("infector_onset,infectee_onset", "2020-01-10,", 3, "infectee_onset", "got a blank"),
        ("infector_onset,infectee_onset", "2020-1-10,2020-01-12", 3, "infector_onset", "got '2020-1-10'"),
        ("infector_onset,infectee_onset", "2020-02-30,2020-03-01", 3, "infector_onset", "YYYY-MM-DD"),
        ("infector_onset,infectee_onset", "2020-01-10,unknown", 3, "infectee_onset", "ISO date"),
        ("infector_onsetDate,infectee_onsetDate", "2020/01/10,", 3, "infectee_onsetDate", "got a blank"),
        ("infector_onsetDate,infectee_onsetDate", "NA,2020/01/12", 3, "infector_onsetDate", "'unknown'"),
        (
            "infector_onsetDate,infectee_onsetDate",
            "2020-01-10,2020/01/12",
            3,
            "infector_onsetDate",
            "yyyy/mm/dd",
        ),
    ],
)
def test_a_bad_onset_refuses_the_file_naming_line_and_column(
    tmp_path: Path, header: str, row: str, line: int, column: str, expected: str
) -> None:
    good = "2020-01-09,2020-01-11" if "onsetDate" not in header else "2020/01/09,2020/01/11"
    path = write(tmp_path / "pairs.csv", header, good, row)
    with pytest.raises(InvalidInput) as caught:
        read_pairs_file(path)
    assert caught.value.field == column
    assert f"line {line}, {column}: expected" in caught.value.message
    assert expected in caught.value.message
    assert "nothing from the file was used" in caught.value.message


def test_every_problem_is_counted(tmp_path: Path) -> None:
    rows = [f"2020-01-{d:02d},bad" for d in range(1, 9)]
    path = write(tmp_path / "pairs.csv", "infector_onset,infectee_onset", *rows)
    with pytest.raises(InvalidInput, match=r"line 2, infectee_onset: .*\(and 3 more problems\)"):
        read_pairs_file(path)


def test_a_file_with_neither_layout_names_the_columns_it_expected(tmp_path: Path) -> None:
    path = write(tmp_path / "pairs.csv", "infector,infectee,onset", "a,b,2020-01-01")
    with pytest.raises(InvalidInput) as caught:
        read_pairs_file(path)
    message = caught.value.message
    for column in ("infector_onset", "infectee_onset", "infector_onsetDate", "infectee_onsetDate"):
        assert repr(column) in message
    assert "'infector', 'infectee', 'onset'" in message


def test_an_empty_file_names_the_columns_it_expected(tmp_path: Path) -> None:
    path = write(tmp_path / "pairs.csv")
    with pytest.raises(InvalidInput, match="expected the columns 'infector_onset' and 'infectee_onset'"):
        read_pairs_file(path)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_bytes(b"infector_onset,infectee_onset\n\xff\xfe,2020-01-01\n")
    with pytest.raises(InvalidInput, match="expected UTF-8"):
        read_pairs_file(path)
