"""The shared language of tracing: people, venues, visits, encounters and cases.

Standard library only. Instants are timezone-aware UTC datetimes.
"""

from chaincut.domain.cases import Case, CaseClassification, CaseStatus
from chaincut.domain.contacts import Contact, Evidence, EvidenceKind, Interval, Tier
from chaincut.domain.orders import ALLOWED_STATUS_CHANGES, FollowUp, Order, OrderKind, OrderStatus, TestResult
from chaincut.domain.people import Household, Person, PersonalDetails
from chaincut.domain.venues import Venue
from chaincut.domain.visits import Encounter, Visit, VisitSource

__all__ = [
    "ALLOWED_STATUS_CHANGES",
    "Case",
    "CaseClassification",
    "CaseStatus",
    "Contact",
    "Encounter",
    "Evidence",
    "EvidenceKind",
    "FollowUp",
    "Household",
    "Interval",
    "Order",
    "OrderKind",
    "OrderStatus",
    "Person",
    "PersonalDetails",
    "TestResult",
    "Tier",
    "Venue",
    "Visit",
    "VisitSource",
]
