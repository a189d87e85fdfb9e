"""Registering the people whose whereabouts the authority holds."""

from chaincut.people.registry import PeopleRegistry, PersonDraft

__all__ = ["PeopleRegistry", "PersonDraft"]
