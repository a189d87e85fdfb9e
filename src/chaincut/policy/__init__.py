"""The experts' policy file: schema, loading and validation."""

from chaincut.policy.loading import default_policy_text, load_policy, parse_policy
from chaincut.policy.model import Policy, RetentionRules, UploadRules, VenueTypeRule

__all__ = [
    "Policy",
    "RetentionRules",
    "UploadRules",
    "VenueTypeRule",
    "default_policy_text",
    "load_policy",
    "parse_policy",
]
