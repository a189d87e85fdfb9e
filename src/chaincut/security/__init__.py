"""Protection of personal data at rest: keyed hashes and field encryption."""

from chaincut.security.fields import FieldCipher
from chaincut.security.identity import IdentityHasher, normalise_document_number
from chaincut.security.passwords import PasswordVault

__all__ = ["FieldCipher", "IdentityHasher", "PasswordVault", "normalise_document_number"]
