"""The shared language of tracing: people, venues, visits, encounters and cases.

Standard library only. Instants are timezone-aware UTC datetimes.
"""

from chaincut.domain.cases import Case, CaseClassification, CaseStatus
from chaincut.domain.people import Household, Person, PersonalDetails
from chaincut.domain.venues import Venue
from chaincut.domain.visits import Encounter, Visit, VisitSource

__all__ = [
    "Case",
    "CaseClassification",
    "CaseStatus",
    "Encounter",
    "Household",
    "Person",
    "PersonalDetails",
    "Venue",
    "Visit",
    "VisitSource",
]
