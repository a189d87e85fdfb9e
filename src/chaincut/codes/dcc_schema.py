"""The shape of an EU Digital COVID Certificate's content (DCC schema 1.x), checked by hand.

A certificate names its holder (``nam``, ``dob``), states its schema version
(``ver``) and carries exactly one record of exactly one kind: a vaccination
(``v``), a test (``t``) or a recovery (``r``). The fields each kind requires follow
the eHealth Network's DCC JSON schema (versions 1.0.0 to 1.3.x); fields a later
version adds are accepted, not required, so an older certificate still reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

__all__ = ["CERTIFICATE_KINDS", "certificate_kind", "schema_problems"]

CERTIFICATE_KINDS = {"v": "vaccination", "t": "test", "r": "recovery"}

_VERSION = re.compile(r"\d+\.\d+\.\d+")
_STANDARD_NAME = re.compile(r"[A-Z<]*")  # ICAO 9303 transliteration: capitals and fillers only
# The schema allows a year, a year-month or a full date of birth, or none when unknown.
_DATE_OF_BIRTH = re.compile(r"(\d{4}(-\d{2}(-\d{2})?)?)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)")
_MAX_TEXT = 80  # maxLength of names, issuer and certificate identifier in the schema
_MAX_DOSES = 9  # the schema's maximum for dn and sd

Check = Callable[[Any], str | None]


def _text(
    max_length: int | None = None, pattern: re.Pattern[str] | None = None, *, tagged: type | None = None
) -> Check:
    def check(value: Any) -> str | None:
        if tagged is not None and isinstance(value, tagged):
            return None  # a CBOR-tagged date or date-time (tags 0, 1, 1004) reads as the string it stands for
        if not isinstance(value, str):
            return "is not a string"
        if max_length is not None and len(value) > max_length:
            return f"is longer than {max_length} characters"
        if pattern is not None and not pattern.fullmatch(value):
            return "does not have the expected form"
        return None

    return check


def _dose(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "is not an integer"
    if not 1 <= value <= _MAX_DOSES:
        return f"is not between 1 and {_MAX_DOSES}"
    return None


_CODE = _text()
_ID = _text(_MAX_TEXT)
_VACCINATION: dict[str, Check] = {
    "tg": _CODE,
    "vp": _CODE,
    "mp": _CODE,
    "ma": _CODE,
    "dn": _dose,
    "sd": _dose,
    "dt": _text(pattern=_DATE, tagged=date),
    "co": _CODE,
    "is": _ID,
    "ci": _ID,
}
_TEST: dict[str, Check] = {
    "tg": _CODE,
    "tt": _CODE,
    "sc": _text(pattern=_DATE_TIME, tagged=datetime),
    "tr": _CODE,
    "co": _CODE,
    "is": _ID,
    "ci": _ID,
}
_TEST_OPTIONAL: dict[str, Check] = {
    "nm": _CODE,
    "ma": _CODE,
    "tc": _text(50),
    "dr": _text(pattern=_DATE_TIME, tagged=datetime),
}
_RECOVERY: dict[str, Check] = {
    "tg": _CODE,
    "fr": _text(pattern=_DATE, tagged=date),
    "co": _CODE,
    "is": _ID,
    "df": _text(pattern=_DATE, tagged=date),
    "du": _text(pattern=_DATE, tagged=date),
    "ci": _ID,
}
_REQUIRED = {"v": _VACCINATION, "t": _TEST, "r": _RECOVERY}
_OPTIONAL: dict[str, dict[str, Check]] = {"v": {}, "t": _TEST_OPTIONAL, "r": {}}
_NAME_FIELDS: dict[str, Check] = {
    "fn": _text(_MAX_TEXT),
    "gn": _text(_MAX_TEXT),
    "gnt": _text(_MAX_TEXT, _STANDARD_NAME),
}


def _fields(
    record: Mapping[Any, Any], where: str, required: dict[str, Check], optional: dict[str, Check]
) -> list[str]:
    problems: list[str] = []
    for name, check in required.items():
        if name not in record:
            problems.append(f"{where}.{name} is missing")
        elif (problem := check(record[name])) is not None:
            problems.append(f"{where}.{name} {problem}")
    for name, check in optional.items():
        if name in record and record[name] is not None and (problem := check(record[name])) is not None:
            problems.append(f"{where}.{name} {problem}")
    return problems


def certificate_kind(dcc: Any) -> str | None:
    """Which kind of record a certificate carries (``v``, ``t`` or ``r``), or None unless exactly one."""
    if not isinstance(dcc, Mapping):
        return None
    present = [kind for kind in _REQUIRED if kind in dcc]
    return present[0] if len(present) == 1 else None


def schema_problems(dcc: Any) -> list[str]:
    """Every way a certificate's content breaks the DCC 1.x schema; empty when it conforms."""
    if not isinstance(dcc, Mapping):
        return ["the certificate content is not a map"]
    problems: list[str] = []
    if "ver" not in dcc:
        problems.append("ver is missing")
    elif _text(pattern=_VERSION)(dcc["ver"]) is not None:
        problems.append("ver is not a version such as 1.3.0")
    name = dcc.get("nam")
    if not isinstance(name, Mapping):
        problems.append("nam is missing or not a map")
    else:
        problems += _fields(name, "nam", {"fnt": _text(_MAX_TEXT, _STANDARD_NAME)}, _NAME_FIELDS)
    if "dob" not in dcc:
        problems.append("dob is missing")
    elif (problem := _text(pattern=_DATE_OF_BIRTH)(dcc["dob"])) is not None:
        problems.append(f"dob {problem}")
    kinds = [kind for kind in _REQUIRED if kind in dcc]
    if len(kinds) != 1:
        problems.append(f"a certificate holds exactly one of v, t or r, not {len(kinds)}")
    for kind in kinds:
        records = dcc[kind]
        if not isinstance(records, list | tuple) or len(records) != 1:
            problems.append(f"{kind} must hold exactly one record")
            continue
        record = records[0]
        if not isinstance(record, Mapping):
            problems.append(f"{kind}[0] is not a map")
            continue
        problems += _fields(record, f"{kind}[0]", _REQUIRED[kind], _OPTIONAL[kind])
    return problems
