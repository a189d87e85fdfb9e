"""Each value of a policy file with the source its experts cited in comments."""

from __future__ import annotations

import tomllib

from chaincut.policy import default_policy_text
from chaincut.policy.sources import policy_values

# Values that name things rather than set a rule: their table's comment is their source, or none.
_NAMES = {"version", "authority", "label_en", "label_zh", "name_en", "name_zh"}


def _sources(text: str) -> dict[str, str | None]:
    return {v.path: v.source for v in policy_values(text)}


def test_a_line_comment_a_block_above_and_a_run_of_keys_each_give_the_source() -> None:
    text = """
[orders]
# CHP, Cap. 599C
quarantine_days = 14
follow_up_days = 14   # CHP surveillance
testing_notice_days = 2

# Cap. 599J
[border.slots]
morning = 10
"quoted key" = 3 # a "quoted" note # with a hash
tags = ["a # not a comment",
  "b",
]
after = 1
"""
    assert _sources(text) == {
        "orders.quarantine_days": "CHP, Cap. 599C",
        "orders.follow_up_days": "CHP surveillance",
        "orders.testing_notice_days": "CHP, Cap. 599C",
        "border.slots.morning": "Cap. 599J",
        'border.slots."quoted key"': 'a "quoted" note # with a hash',
        "border.slots.tags": "Cap. 599J",
        "border.slots.after": "Cap. 599J",
    }


def test_a_blank_line_ends_a_run_and_a_header_starts_afresh() -> None:
    text = """
[a]
# first
x = 1

y = 2
[b]
z = 3
"""
    assert _sources(text) == {"a.x": "first", "a.y": None, "b.z": None}


def test_every_rule_of_the_shipped_policy_cites_a_source_in_file_order() -> None:
    text = default_policy_text()
    values = policy_values(text)
    assert len(values) == sum(1 for _ in _leaves(tomllib.loads(text)))
    missing = [v.path for v in values if v.source is None and v.path.rsplit(".", 1)[-1] not in _NAMES]
    assert missing == []
    by_path = {v.path: v for v in values}
    assert by_path["venue_types.taxi.max_stay_minutes"].source.startswith("chaincut default, a judgement")  # type: ignore[union-attr]
    assert by_path["border.checkpoints.man_kam_to.slots.night"].value == 1000
    assert values[0].path == "policy.version" and values[-1].path == "clusters.building_kinds.airport"


def _leaves(data: dict[str, object]) -> list[object]:
    out: list[object] = []
    for value in data.values():
        out.extend(_leaves(value) if isinstance(value, dict) else [value])  # type: ignore[arg-type]
    return out


def test_multi_line_strings_inline_tables_escapes_and_arrays_of_tables_keep_their_sources() -> None:
    text = '''
[a]
# note a
s = """multi
[orders]
x = 1"""
y = 2  # why
t = { m = 1, n = 2 }  # inline note
arr = ["a\\"[", "b"]
z = 3
[[rows]]
# row note
k = 1
'''
    assert _sources(text) == {
        "a.s": "note a",
        "a.y": "why",
        "a.t.m": "inline note",
        "a.t.n": "inline note",
        "a.arr": "note a",
        "a.z": "note a",
        "rows": None,
    }
