"""Canary personal data: distinctive values the tests plant, so a leak into the logs is found.

Tests register a person with these details and drive every path they can with them;
the session's log scan (``support.log_scan``) then fails the run if any of them, or
any form they could be written in (document number without brackets, phone digits,
URL- or JSON-escaped), appears in a log of the run. No real person has these details.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass

__all__ = [
    "ADDRESS",
    "CANARIES",
    "CHINESE_NAME",
    "EMAIL",
    "ID_DOCUMENT",
    "NAME",
    "PHONE",
    "Canary",
    "hkid_check_digit",
    "needles",
]

NAME = "Zebedee Quillfeather"
CHINESE_NAME = "鍾離雪鷺"
PHONE = "+852 6178 2943"
ADDRESS = "Flat 7Q, 88 Wintergreen Terrace, Tai O"
ID_DOCUMENT = "Z683371(4)"
EMAIL = "tamsin.oakridge@canary.invalid"


def hkid_check_digit(prefix: str, digits: str) -> str:
    """The check digit of a Hong Kong identity card number (weights 9..2, modulus 11)."""
    values = [36] if len(prefix) == 1 else []  # a one-letter prefix counts a leading space
    values += [ord(letter) - ord("A") + 10 for letter in prefix.upper()]
    values += [int(digit) for digit in digits]
    total = sum(value * weight for value, weight in zip(values, range(len(values) + 1, 1, -1), strict=True))
    remainder = (11 - total % 11) % 11
    return "A" if remainder == 10 else str(remainder)


@dataclass(frozen=True)
class Canary:
    """One planted value and every form of it the scan looks for."""

    label: str
    value: str
    forms: tuple[str, ...]


def _escaped(value: str) -> list[str]:
    """How a value reads after URL encoding, JSON escaping or a repr."""
    return [
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        json.dumps(value, ensure_ascii=True)[1:-1],
        value.encode("unicode_escape").decode("ascii"),
    ]


def _forms(label: str, value: str) -> tuple[str, ...]:
    found = [value, *_escaped(value)]
    if label == "name":
        surname = value.split()[-1]
        found += [surname, value.upper(), ", ".join(reversed(value.split()))]
    elif label == "phone":
        digits = re.sub(r"\D", "", value)
        local = digits[-8:]
        found += [digits, local, f"{local[:4]} {local[4:]}", f"{local[:4]}-{local[4:]}"]
    elif label == "address":
        found += [value.split(", ")[1]]  # the street alone
    elif label == "id_document":
        bare = re.sub(r"[\s()\-/]", "", value).upper()
        found += [bare, bare[:-1], value.replace("(", " (")]
    elif label == "email":
        found += [value.split("@")[0]]
    # Case differences are ignored by the scan; only distinct strings are kept.
    unique: dict[str, None] = {}
    for form in found:
        if form:
            unique.setdefault(form.casefold(), None)
    return tuple(unique)


CANARIES: tuple[Canary, ...] = tuple(
    Canary(label, value, _forms(label, value))
    for label, value in (
        ("name", NAME),
        ("chinese_name", CHINESE_NAME),
        ("phone", PHONE),
        ("address", ADDRESS),
        ("id_document", ID_DOCUMENT),
        ("email", EMAIL),
    )
)


def needles() -> list[tuple[str, str]]:
    """Every (label, case-folded form) the log scan searches for."""
    return [(canary.label, form) for canary in CANARIES for form in canary.forms]
