"""The tables of cluster inference: the building list's case links, and the clusters kept across runs.

- ``buildings``: the Department of Health's building list, one row per building (district and
  name); a building cases visited is also a venue (``venue_id``), one they only lived in is not.
- ``building_cases``: which cases the list relates to each building, by case reference, with no
  times (date-level exposures: the days before the case's onset, under the policy's
  ``[clusters] coarse_exposure_days_before_onset``). Kept by reference so the building list can be
  imported before or after the case list.
- ``inferred_clusters``: clusters as inference found them, under ids that stay stable across runs
  (``merged_into_id`` when another cluster absorbed this one; ``name`` a tracer gave it).
- ``inferred_cluster_members``: each case's current cluster (one at most), with the cluster's
  settings in ``inferred_cluster_settings`` and the evidence of its memberships in
  ``inferred_cluster_evidence``: a run's evidence rows (millions at a fifth wave's height, read
  a cluster at a time) packed as columns, one value per cluster or per million rows of one
  (:mod:`chaincut.store.inferred_clusters` says what the columns are).
- ``cluster_decisions``: a tracer's confirmation or rejection of a case's membership, which wins
  over every later run.
- ``inferred_infectors``: each case's top-ranked candidate infector as the last chains run found
  it (a tracer's confirmed infector is the case's ``linked_case_id`` and always wins), so that a
  cluster's chain graph is read, not inferred, when its page is shown.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)

from chaincut.store.metadata import Id, metadata

__all__ = [
    "building_cases",
    "buildings",
    "cluster_decisions",
    "inferred_cluster_evidence",
    "inferred_cluster_members",
    "inferred_cluster_settings",
    "inferred_clusters",
    "inferred_infectors",
]

buildings = Table(
    "buildings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("district", String(64), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("residential", Boolean, nullable=False),
    Column("venue_id", Id, ForeignKey("venues.id"), index=True),
)

building_cases = Table(
    "building_cases",
    metadata,
    Column("building_id", Id, ForeignKey("buildings.id"), primary_key=True),
    Column("case_ref", String(64), primary_key=True),
    Index("ix_building_cases_case_ref", "case_ref"),
)

inferred_clusters = Table(
    "inferred_clusters",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200)),
    Column("status", String(16), nullable=False),  # active, inactive, merged, dissolved
    Column("size", Integer, nullable=False),
    Column("first_onset", Date),
    Column("last_onset", Date),
    Column("last_reported", Date),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("merged_into_id", Id, ForeignKey("inferred_clusters.id")),
    Index("ix_inferred_clusters_status_size", "status", "size"),
)

inferred_cluster_members = Table(
    "inferred_cluster_members",
    metadata,
    Column("case_id", Id, ForeignKey("cases.id"), primary_key=True),  # one cluster per case
    Column("cluster_id", Id, ForeignKey("inferred_clusters.id"), nullable=False, index=True),
    Column("confirmed", Boolean, nullable=False),  # placed by a tracer's decision, not inferred
)

inferred_cluster_settings = Table(
    "inferred_cluster_settings",
    metadata,
    Column("cluster_id", Id, ForeignKey("inferred_clusters.id"), primary_key=True),
    Column("setting", String(80), primary_key=True),  # venue:<ref> or building:<ref>
)

inferred_cluster_evidence = Table(
    "inferred_cluster_evidence",
    metadata,
    Column("cluster_id", Id, ForeignKey("inferred_clusters.id"), primary_key=True),
    Column("part", Integer, primary_key=True),  # 0, 1, ...: a large cluster's evidence in parts
    Column("rows", Integer, nullable=False),
    Column("digest", String(64), nullable=False),  # SHA-256 of ``columns``: unchanged evidence stays
    Column("columns", LargeBinary, nullable=False),  # packed (chaincut.store.packed_columns)
)

cluster_decisions = Table(
    "cluster_decisions",
    metadata,
    Column("cluster_id", Id, ForeignKey("inferred_clusters.id"), primary_key=True),
    Column("case_id", Id, ForeignKey("cases.id"), primary_key=True),
    Column("decision", String(16), nullable=False),  # confirmed, rejected
    Column("decided_by", String(64), nullable=False),
    Column("decided_at", BigInteger, nullable=False),
    Column("note", String(500)),
)

inferred_infectors = Table(
    "inferred_infectors",
    metadata,
    Column("case_id", Id, ForeignKey("cases.id"), primary_key=True),
    Column("infector_case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("likelihood_ppm", Integer, nullable=False),  # parts per million (backups carry integers)
    Column("computed_at", BigInteger, nullable=False),
)
