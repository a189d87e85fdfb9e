"""A synthetic Hong Kong-like city for load tests and demonstrations.

``synthesize_city`` writes people, households, venues, visits and encounters
as Parquet files in the layout ``chaincut import`` reads.  Every number in
the model is a synthetic-model choice made for believable data, documented
where it is set; none of it is epidemiological policy.
"""

from chaincut.whereabouts.synth.city import synthesize_city
from chaincut.whereabouts.synth.geography import DISTRICT_NAMES
from chaincut.whereabouts.synth.params import CityParameters, CitySummary, ProgressCallback
from chaincut.whereabouts.synth.venue_types import VENUE_TYPE_NAMES

__all__ = [
    "DISTRICT_NAMES",
    "VENUE_TYPE_NAMES",
    "CityParameters",
    "CitySummary",
    "ProgressCallback",
    "synthesize_city",
]
