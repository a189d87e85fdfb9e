"""A certificate's content against the official DCC schema its ``ver`` names (chaincut.codes.dcc_schema)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from chaincut.codes import TrustAnchors, verify_hcert
from chaincut.codes.dcc_schema import _FILES, SCHEMA_RELEASES, _json_view, _validator, check_schema
from support.dcc import ISSUED, VACCINATION, new_signer

TEST: dict[str, Any] = {
    "tg": "840539006",
    "tt": "LP6464-4",
    "nm": "Roche LightCycler qPCR",
    "sc": "2026-10-30T08:15:00Z",
    "tr": "260415000",
    "tc": "Test centre",
    "co": "HK",
    "is": "Department of Health",
    "ci": "URN:UVCI:01:HK:TESTONLY0002#Y",
}


def certificate(ver: Any = "1.3.0", **changes: Any) -> dict[str, Any]:
    """The test vaccination certificate at version ``ver``, with fields replaced (None: removed)."""
    dcc = copy.deepcopy(VACCINATION)
    for name, value in {"ver": ver, **changes}.items():
        if value is None:
            del dcc[name]
        else:
            dcc[name] = value
    return dcc


def vaccination(**changes: Any) -> list[dict[str, Any]]:
    return [{**VACCINATION["v"][0], **changes}]


def test_each_release_held_is_the_official_schema_of_that_version() -> None:
    folder = resources.files("chaincut.codes") / "schemas"
    assert (folder / "LICENSE").read_text(encoding="utf-8").lstrip().startswith("Apache License")
    for minor, release in SCHEMA_RELEASES.items():
        held = [
            entry for entry in folder.iterdir() if entry.name.endswith(f"-{release}.combined-schema.json")
        ]
        assert len(held) == 1, release
        schema = json.loads(held[0].read_text(encoding="utf-8"))
        assert schema["$comment"] == f"Schema version {release}"
        assert release.startswith(f"1.{minor}.")


@pytest.mark.parametrize(
    ("ver", "release"), [("1.0.0", "1.0.1"), ("1.1.0", "1.1.0"), ("1.2.1", "1.2.1"), ("1.3.0", "1.3.3")]
)
def test_a_certificate_reads_against_the_schema_of_its_version(ver: str, release: str) -> None:
    verdict = check_schema(certificate(ver))
    assert verdict.release == release
    assert verdict.problems == ()
    assert verdict.reason is None


def test_a_partial_date_of_birth_is_only_allowed_from_schema_1_1_on() -> None:
    # 1.0 asks for a full date of birth; 1.1 allowed a year or a year and month.
    old = check_schema(certificate("1.0.0", dob="1963"))
    assert old.release == "1.0.1"
    assert "dob is not a date (YYYY-MM-DD)" in old.problems
    assert old.reason is not None and old.reason.startswith("the content breaks DCC schema 1.0.1: dob ")
    for ver in ("1.1.0", "1.2.1", "1.3.0"):
        assert check_schema(certificate(ver, dob="1963")).problems == (), ver
        assert check_schema(certificate(ver, dob="1963-04")).problems == (), ver


def test_a_1_0_certificate_with_a_partial_date_of_birth_is_refused_by_the_verifier() -> None:
    signer = new_signer()
    text = signer.issue(certificate("1.0.0", dob="1963"))
    result = verify_hcert(text, TrustAnchors.of([signer.certificate]), ISSUED + timedelta(days=1))
    assert result.valid is False
    assert result.checks["verify"] is True and result.checks["schemavalidation"] is False
    assert result.reason.startswith("the content breaks DCC schema 1.0.1: dob is not a date")
    assert check_schema(certificate("1.3.0", dob="1963")).reason is None


@pytest.mark.parametrize("ver", ["1.0.0", "1.2.1", "1.3.0"])
def test_a_certificate_holds_exactly_one_of_v_t_or_r(ver: str) -> None:
    both = check_schema(certificate(ver, t=[TEST]))
    assert both.problems == ("a certificate holds exactly one of v, t or r, not 2",)
    neither = check_schema(certificate(ver, v=None))
    assert "a certificate holds exactly one of v, t or r, not 0" in neither.problems


def test_the_number_of_entries_is_the_schemas_to_say() -> None:
    twice = vaccination() + vaccination(dn=1)
    assert check_schema(certificate("1.3.0", v=twice)).problems == ("v holds more than 1 entry",)
    assert check_schema(certificate("1.2.1", v=twice)).problems == ()  # before 1.3 the array had no maximum
    assert check_schema(certificate("1.3.0", v=[])).problems == ("v holds fewer than 1 entries",)


def test_a_later_minor_version_reads_against_the_newest_schema_and_says_so_when_it_fails() -> None:
    assert check_schema(certificate("1.4.0")) == check_schema(certificate("1.3.0"))
    assert check_schema(certificate("1.3.9")).problems == ()
    failed = check_schema(certificate("1.4.0", v=vaccination(dt="yesterday")))
    assert failed.release == "1.3.3"
    assert failed.problems == (
        "ver 1.4.0 is newer than the DCC schemas held (1.0 to 1.3), so it was read against 1.3.3",
        "v[0].dt is not a date (YYYY-MM-DD)",
    )


def test_another_major_version_is_refused_as_a_schema_not_held() -> None:
    verdict = check_schema(certificate("2.0.0"))
    assert verdict.release is None
    assert verdict.reason == (
        "the content breaks the DCC schema: ver 2.0.0 names a DCC schema version this verifier "
        "does not hold (1.0 to 1.3)"
    )


@pytest.mark.parametrize(
    ("ver", "problem"),
    [
        (None, "ver is missing"),
        (130, "ver is not text"),
        ("1x3x0", "ver is not a schema version such as 1.3.0"),  # the schema's own pattern lets it by
        ("1.3", "ver is not a schema version such as 1.3.0"),
    ],
)
def test_a_missing_or_unreadable_version_is_refused_and_the_rest_still_checked(
    ver: Any, problem: str
) -> None:
    verdict = check_schema(certificate(ver, nam=None))
    assert verdict.release == "1.3.3"
    assert problem in verdict.problems
    assert "nam is missing" in verdict.problems


@pytest.mark.parametrize(
    "value",
    [
        "2026-10-30T08:15:00Z",
        "2026-10-30T08:15Z",  # no seconds
        "2026-10-30T16:15:00.123+08:00",  # fractions of a second
        "2026-10-30T16:15:00+0800",
        "2026-10-30T16:15:00+08",
        "2026-10-30t08:15:00z",
        datetime(2026, 10, 30, 8, 15, tzinfo=UTC),  # CBOR tag 0 or 1
    ],
)
def test_date_times_are_read_leniently(value: Any) -> None:
    assert check_schema(certificate(v=None, t=[{**TEST, "sc": value}])).problems == ()


@pytest.mark.parametrize(
    "value",
    [
        "2026-10-30",
        "2026-10-30T08:15:00",
        "2026-02-30T08:15:00Z",
        "2026-10-30T24:00:00Z",
        "abcde",
        "30.10.2026",
    ],
)
def test_what_is_no_date_time_is_refused(value: str) -> None:
    problems = check_schema(certificate(v=None, t=[{**TEST, "sc": value}])).problems
    assert problems == ("t[0].sc is not a date and time with its UTC offset (YYYY-MM-DDThh:mm:ssZ)",)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2026-10-01", True),
        (date(2026, 10, 1), True),  # CBOR tag 1004
        ("2026-10-01T00:00:00", False),
        ("2026-02-30", False),
        ("01.10.2026", False),
    ],
)
def test_dates_are_calendar_dates(value: Any, valid: bool) -> None:
    problems = check_schema(certificate(v=vaccination(dt=value))).problems
    assert problems == (() if valid else ("v[0].dt is not a date (YYYY-MM-DD)",))


def test_problems_name_the_field_and_the_rule_never_the_value() -> None:
    name = {"fn": "Chan" * 30, "fnt": "chan<tai man", "gn": "Tai Man", "gnt": "TAI<MAN"}
    record = vaccination(ci="URN:UVCI:01:HK:" + "SECRETNUMBER" * 7, dn=True)
    record[0]["is"] = b"Department of Health"
    verdict = check_schema(certificate("1.3.0", nam=name, dob="19x3-04-05", v=record))
    assert verdict.problems == (
        "nam.fn is longer than 80 characters",
        "nam.fnt does not have the form the schema requires (^[A-Z<]*$)",
        "dob does not have the form the schema requires (^((19|20)\\d\\d(-\\d\\d){0,2}){0,1}$)",
        "v[0].dn is not a whole number",
        "v[0].is is not text",
        "v[0].ci is longer than 80 characters",
    )
    assert verdict.reason is not None
    for value in ("Chan", "chan", "TAI", "19x3", "SECRETNUMBER", "Department"):
        assert value not in verdict.reason


def test_content_that_is_not_a_map_is_refused() -> None:
    assert check_schema(["not", "a", "map"]).problems == ("the certificate content is not a map",)


BROKEN = [
    certificate("1.0.0", dob="1963", t=[{**TEST, "sc": "yesterday", "co": ""}]),
    certificate("1.3.0", nam={"fn": "X" * 81}, v=vaccination(dn=0, tg=5) * 2, r=[{}]),
    certificate(None, dob=None, v=[{"dt": "2026-02-30"}]),
]


@pytest.mark.parametrize("release", sorted(_FILES))
@pytest.mark.parametrize("dcc", BROKEN)
def test_references_looked_up_once_find_what_the_stock_validator_finds(release: str, dcc: Any) -> None:
    fast = _validator(release)
    stock = Draft202012Validator(fast.schema, format_checker=fast.format_checker)
    assert type(fast) is not Draft202012Validator

    def found(validator: Any) -> list[tuple[str, ...]]:
        return sorted(
            (repr(list(error.absolute_path)), error.validator, repr(error.validator_value))
            for error in validator.iter_errors(_json_view(dcc))
        )

    assert found(fast) == found(stock)
    assert found(fast)
