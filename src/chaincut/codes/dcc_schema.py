"""The shape of an EU Digital COVID Certificate's content, checked against the official DCC JSON schemas.

A certificate names its holder (``nam``, ``dob``), states the schema version it was
written to (``ver``) and carries its record: a vaccination (``v``), a test (``t``) or a
recovery (``r``). Its content is validated with ``jsonschema`` against the eHealth
Network's own combined schema for that version, vendored unchanged in ``codes/schemas``
(its README names the release tags and the licence). How:

- **Which schema.** ``ver``'s major and minor version pick it, and the last patch release
  of each minor version is the one held: 1.0.x reads against 1.0.1, 1.1.x against 1.1.0,
  1.2.x against 1.2.1, 1.3.x against 1.3.3. A later 1.x (1.4.0) is read against 1.3.3,
  the newest held, and a refusal says so: a minor version only adds optional fields and
  no 1.x schema refuses a field it does not know, so a newer certificate that keeps the
  1.3 fields still reads. A ``ver`` of another major version (2.0.0) names no schema we
  hold and is refused as such. A missing ``ver``, or one that is not a version, is
  reported and the rest is still read against 1.3.3, so an officer sees every problem.
- **Formats, leniently.** The schemas are JSON Schema 2020-12, where ``format`` is only an
  annotation (the publishers' reference tests do not check it). We check it, cheaply and
  as the schema's FAQ asks of verifiers ("tolerant in what you accept", Postel's law):
  a ``date`` is a calendar date ``YYYY-MM-DD``; a ``date-time`` is a calendar date and a
  time of day with its UTC offset, seconds and their fraction optional, the offset as
  ``Z``, ``+hh``, ``+hhmm`` or ``+hh:mm`` (``2021-05-17T21:28Z``,
  ``2021-05-17T23:28:43.123+02:00``). A CBOR-tagged date or date-time (tags 0, 1, 1004)
  reads as the text it stands for.
- **One record kind.** On top of the schema, the rule the publishers' reference test
  adds and schema 1.3 writes into the schema itself: a certificate holds exactly one of
  ``v``, ``t`` or ``r``. How many entries the array may hold is the schema's to say
  (exactly one from 1.3 on).
- **Problems name the field and the rule, never the value**: a name or a date of birth
  never reaches a log or an error.

How the EU test data's ``EXPECTEDSCHEMAVALIDATION`` is met
(``tests/integration/test_dcc_vectors.py`` checks it vector by vector): ``true`` when
``check_schema`` finds no problem, i.e. the decoded content validates against the schema
its ``ver`` picks, formats as above, and holds exactly one record kind; ``false`` when it
finds at least one. A vector whose envelope cannot be decoded never reaches this check,
which then counts as failed.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, validators

__all__ = ["CERTIFICATE_KINDS", "SCHEMA_RELEASES", "SchemaVerdict", "certificate_kind", "check_schema"]

CERTIFICATE_KINDS = {"v": "vaccination", "t": "test", "r": "recovery"}
# The schema release held for each 1.x minor version: the last patch of each (codes/schemas/README.md).
SCHEMA_RELEASES = {0: "1.0.1", 1: "1.1.0", 2: "1.2.1", 3: "1.3.3"}
_FILES = {
    "1.0.1": "DGC-1.0.1.combined-schema.json",
    "1.1.0": "DGC-1.1.0.combined-schema.json",
    "1.2.1": "DCC-1.2.1.combined-schema.json",
    "1.3.3": "DCC-1.3.3.combined-schema.json",
}
_NEWEST_MINOR = max(SCHEMA_RELEASES)
_NEWEST = SCHEMA_RELEASES[_NEWEST_MINOR]
_HELD = f"1.0 to 1.{_NEWEST_MINOR}"
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:[Zz]|[+-](\d{2})(?::?(\d{2}))?)"
)
# The schemas look three levels deep (v -> entry -> field); deeper content is never read.
_MAX_VIEW_DEPTH = 8
_TYPE_WORDS = {
    "string": "text",
    "array": "an array",
    "object": "a map",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
}
_FORMAT_WORDS = {
    "date": "a date (YYYY-MM-DD)",
    "date-time": "a date and time with its UTC offset (YYYY-MM-DDThh:mm:ssZ)",
}


@dataclass(frozen=True)
class SchemaVerdict:
    """The DCC schema release a certificate's content was read against, and every way it breaks it."""

    release: str | None  # None when ``ver`` names a schema version this verifier does not hold
    problems: tuple[str, ...]

    @property
    def reason(self) -> str | None:
        """One line for the officer, or None when the content conforms."""
        if not self.problems:
            return None
        against = f"DCC schema {self.release}" if self.release else "the DCC schema"
        return f"the content breaks {against}: {'; '.join(self.problems)}"


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True  # a format only speaks of text; the schema's type says what else is allowed
    match = _DATE.fullmatch(value)
    if match is None:
        return False
    try:
        date(*map(int, match.groups()))
    except ValueError:
        return False
    return True


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second, offset_hours, offset_minutes = match.groups()
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return (
        int(hour) < 24
        and int(minute) < 60
        and int(second or 0) <= 60  # 60: a leap second
        and int(offset_hours or 0) < 24
        and int(offset_minutes or 0) < 60
    )


def _with_local_references(schema: Mapping[str, Any]) -> Any:
    """Draft 2020-12, with the schema's own ``#/$defs/...`` references looked up once, not on every use.

    The stock ``$ref`` resolves a JSON pointer for each reference in each certificate, a
    third of the time a validation takes; a reference this map does not hold falls back to it.
    """
    definitions = {f"#/$defs/{name}": target for name, target in schema.get("$defs", {}).items()}
    resolve = Draft202012Validator.VALIDATORS["$ref"]

    def ref(validator: Any, reference: str, instance: Any, here: Any) -> Iterator[Any]:
        target = definitions.get(reference)
        if target is None:
            yield from resolve(validator, reference, instance, here)
        else:
            yield from validator.descend(instance, target)

    return validators.extend(Draft202012Validator, {"$ref": ref})


@functools.cache
def _validator(release: str) -> Any:
    """The compiled validator of one schema release, built once per process."""
    text = resources.files("chaincut.codes").joinpath("schemas", _FILES[release]).read_text(encoding="utf-8")
    schema = json.loads(text)
    cls = _with_local_references(schema)
    cls.check_schema(schema)
    formats = FormatChecker(formats=())
    formats.checks("date")(_is_date)
    formats.checks("date-time")(_is_date_time)
    return cls(schema, format_checker=formats)


def _json_view(value: Any, depth: int = 0) -> Any:
    """The content as JSON data: CBOR-tagged dates and date-times as their ISO text, arrays as lists.

    Anything else that JSON cannot hold (byte strings, unknown tags) is left as it is, so
    the schema refuses it wherever it stands for a field the schema defines.
    """
    if depth > _MAX_VIEW_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {key: _json_view(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_view(item, depth + 1) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _where(path: Iterable[Any]) -> str:
    where = ""
    for part in path:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where or "the certificate"


def _describe(error: Any) -> list[str]:
    """What one schema error means, naming the field and the rule but never the value."""
    where, rule, instance = _where(error.absolute_path), error.validator_value, error.instance
    inside = f"{where}." if error.absolute_path else ""
    match error.validator:
        case "required":
            return [f"{inside}{name} is missing" for name in rule if name not in instance]
        case "oneOf" if not error.absolute_path:
            # Schema 1.3: ver, nam and dob with exactly one of v, t or r. The kinds are
            # reported once, by the rule check_schema adds for every version.
            return [f"{name} is missing" for name in ("ver", "nam", "dob") if name not in instance]
        case "anyOf" if all(isinstance(branch.get("required"), list) for branch in rule):
            needed = [name for branch in rule for name in branch["required"]]
            return [f"{where} needs {' or '.join(needed)}"]
        case "type":
            types = [rule] if isinstance(rule, str) else list(rule)
            return [f"{where} is not {' or '.join(_TYPE_WORDS.get(t, t) for t in types)}"]
        case "maxLength":
            return [f"{where} is longer than {rule} characters"]
        case "minLength":
            return [f"{where} is shorter than {rule} characters"]
        case "pattern":
            return [f"{where} does not have the form the schema requires ({rule})"]
        case "format":
            return [f"{where} is not {_FORMAT_WORDS.get(rule, rule)}"]
        case "minimum":
            return [f"{where} is less than {rule}"]
        case "maximum":
            return [f"{where} is more than {rule}"]
        case "minItems":
            return [f"{where} holds fewer than {rule} entries"]
        case "maxItems":
            return [f"{where} holds more than {rule} {'entry' if rule == 1 else 'entries'}"]
    return [f"{where} breaks the schema's {error.validator} rule"]


def _release_for(ver: Any) -> tuple[str | None, str | None, str | None]:
    """The schema release ``ver`` picks, a problem with ``ver`` itself, and a note on a stand-in schema."""
    if not isinstance(ver, str):
        return _NEWEST, None, None  # missing or not text: the schema itself says so
    match = _VERSION.fullmatch(ver)
    if match is None:
        return _NEWEST, "ver is not a schema version such as 1.3.0", None
    major, minor = int(match[1]), int(match[2])
    if major != 1:
        return None, f"ver {ver} names a DCC schema version this verifier does not hold ({_HELD})", None
    if minor > _NEWEST_MINOR:
        note = f"ver {ver} is newer than the DCC schemas held ({_HELD}), so it was read against {_NEWEST}"
        return _NEWEST, None, note
    return SCHEMA_RELEASES[minor], None, None


def check_schema(dcc: Any) -> SchemaVerdict:
    """Every way a certificate's content breaks the DCC schema its ``ver`` names; none when it conforms."""
    if not isinstance(dcc, Mapping):
        return SchemaVerdict(None, ("the certificate content is not a map",))
    release, problem, note = _release_for(dcc.get("ver"))
    problems = [problem] if problem else []
    if release is None:
        return SchemaVerdict(None, tuple(problems))
    for error in _validator(release).iter_errors(_json_view(dcc)):
        problems += _describe(error)
    kinds = [kind for kind in CERTIFICATE_KINDS if kind in dcc]
    if len(kinds) != 1:
        problems.append(f"a certificate holds exactly one of v, t or r, not {len(kinds)}")
    if problems and note:
        # A stand-in schema is only worth mentioning when the certificate fails it.
        problems.insert(0, note)
    return SchemaVerdict(release, tuple(dict.fromkeys(problems)))


def certificate_kind(dcc: Any) -> str | None:
    """Which kind of record a certificate carries (``v``, ``t`` or ``r``), or None unless exactly one."""
    if not isinstance(dcc, Mapping):
        return None
    present = [kind for kind in CERTIFICATE_KINDS if kind in dcc]
    return present[0] if len(present) == 1 else None
