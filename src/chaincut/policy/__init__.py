"""The experts' policy file: schema, loading, validation and diffs."""

from chaincut.policy.loading import default_policy_text, load_policy, parse_policy
from chaincut.policy.model import (
    BookingMode,
    BorderRules,
    CheckpointRule,
    ContactRule,
    ContactsOfContactsRule,
    EncounterRule,
    HouseholdRule,
    InfectiousWindowRule,
    OrderRules,
    Policy,
    RetentionRules,
    SignedCodeRules,
    Tier,
    UploadRules,
    VenueTypeRule,
)

__all__ = [
    "BookingMode",
    "BorderRules",
    "CheckpointRule",
    "ContactRule",
    "ContactsOfContactsRule",
    "EncounterRule",
    "HouseholdRule",
    "InfectiousWindowRule",
    "OrderRules",
    "Policy",
    "RetentionRules",
    "SignedCodeRules",
    "Tier",
    "UploadRules",
    "VenueTypeRule",
    "default_policy_text",
    "load_policy",
    "parse_policy",
]
