"""Bulk import of people, venues, visits and encounters, and of Hong Kong's open data."""

from chaincut.whereabouts.importing.hk import import_hk_buildings, import_hk_cases, import_hk_clusters
from chaincut.whereabouts.importing.outcome import ImportOptions, ImportReport
from chaincut.whereabouts.importing.readers import ImportFileError
from chaincut.whereabouts.importing.registry import import_people, import_venues
from chaincut.whereabouts.importing.whereabouts import import_encounters, import_visits

__all__ = [
    "ImportFileError",
    "ImportOptions",
    "ImportReport",
    "import_encounters",
    "import_hk_buildings",
    "import_hk_cases",
    "import_hk_clusters",
    "import_people",
    "import_venues",
    "import_visits",
]
