"""The errors chaincut raises, all under one root.

Entrypoints translate them: the API into an HTTP status with a machine-readable
``code`` and, where one is known, the ``field``; the CLI into one clear line and
an exit status. Messages carry ids and field names, never personal data.

    ChaincutError
    ├── ConfigurationError        settings or secrets unusable
    ├── StoreNotReady             database not migrated to the code's revision
    ├── PolicyError               the policy file is invalid
    ├── NotAuthenticated          no valid credentials (or a failed sign-in)
    ├── PermissionDenied          the caller's roles do not allow the operation
    ├── RateLimited               too many requests from one client; retry later
    ├── NotFound                  a person, venue or case that is not there (or not yours)
    ├── JobFailed                 a distributed job (Spark) failed; it wrote nothing
    ├── Conflict                  a duplicate reference or a clashing write
    │   └── BookingRefused        a border booking the quota or the one-a-day rule refuses
    └── InvalidInput              a request or a file that breaks the rules
        ├── InvalidVenueToken     a QR token that is forged, altered or malformed
        ├── UnknownVenueType      a venue type the policy does not define
        ├── InvalidHealthCertificate  a health certificate (EU DCC) that cannot be read or trusted
        │   └── Base45Error       text that is not strict base45 (RFC 9285)
        ├── TrustListError        a trust list or signer certificate file that cannot be used
        ├── BatchRejected         an upload refused as a whole, with per-record errors
        ├── ImportRejected        an import refused as a whole, with line-numbered errors
        ├── WrongPassphrase       a backup whose header the passphrase does not open
        └── BackupDamaged         a backup file that is truncated, reordered or altered
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BackupDamaged",
    "Base45Error",
    "BatchRejected",
    "BookingRefused",
    "ChaincutError",
    "ConfigurationError",
    "Conflict",
    "FieldError",
    "ImportRejected",
    "InvalidHealthCertificate",
    "InvalidInput",
    "InvalidVenueToken",
    "JobFailed",
    "NotAuthenticated",
    "NotFound",
    "PermissionDenied",
    "PolicyError",
    "RateLimited",
    "StoreNotReady",
    "TrustListError",
    "UnknownVenueType",
    "WrongPassphrase",
]


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of one record (``index`` or ``line`` locates the record)."""

    field: str | None
    message: str
    index: int | None = None
    line: int | None = None

    def render(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.index is not None:
            where.append(f"record {self.index}")
        if self.field:
            where.append(self.field)
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class ChaincutError(Exception):
    """Root of every error chaincut raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ConfigurationError(ChaincutError):
    """Settings or secrets are missing, malformed or unsafe for this environment."""

    code = "configuration_error"


class StoreNotReady(ChaincutError):
    """The database schema is not at the revision this code needs."""

    code = "store_not_ready"


class PolicyError(ChaincutError):
    """The policy file breaks its schema; ``problems`` lists each key path and what was expected."""

    code = "invalid_policy"

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class NotAuthenticated(ChaincutError):
    """The caller has no valid credentials, or a sign-in failed (without saying why)."""

    code = "not_authenticated"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class PermissionDenied(ChaincutError):
    """The caller may not do this: its roles lack the permission, or a condition is unmet."""

    code = "forbidden"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message, field=field)
        if code is not None:
            self.code = code


class RateLimited(ChaincutError):
    """Too many requests from one client; ``retry_after`` says how many seconds to wait."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(ChaincutError):
    """A referenced record does not exist (or the caller may not know that it does)."""

    code = "not_found"


class JobFailed(ChaincutError):
    """A distributed job (a Spark trace) that failed; it left no output behind."""

    code = "job_failed"


class Conflict(ChaincutError):
    """The write clashes with what is stored, such as a reference already in use."""

    code = "conflict"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, field=field)
        if code is not None:
            self.code = code


class BookingRefused(Conflict):
    """A border booking refused by what is stored: a full slot, or the traveller's booking that day."""

    code = "booking_refused"

    def __init__(self, message: str, *, code: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.code = code


class InvalidInput(ChaincutError):
    """Input that breaks a rule; ``code`` says which rule and ``field`` where."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, field=field)
        if code is not None:
            self.code = code


class InvalidVenueToken(InvalidInput):
    """A venue QR token that is forged, altered, expired or malformed."""

    code = "invalid_venue_token"

    def __init__(self, reason: str) -> None:
        super().__init__(f"venue QR token refused: {reason}", field="token")
        self.reason = reason


class UnknownVenueType(InvalidInput):
    """A venue type the policy does not define: refused wherever a venue type's rule is needed."""

    code = "unknown_venue_type"

    def __init__(
        self, venue_type: str, known: Sequence[str], *, field: str = "venue_type", context: str = ""
    ) -> None:
        """``field`` names the request's field that led to the type (a check-in's ``token``);
        ``context`` says where it was met, after the type's name."""
        super().__init__(
            f"unknown venue type {venue_type!r}{context}: the policy's venue_types have no such type; "
            f"expected one of {', '.join(known)}",
            field=field,
        )
        self.venue_type = venue_type


class InvalidHealthCertificate(InvalidInput):
    """A health certificate (EU DCC) that cannot be read or trusted; ``step`` names the failed check."""

    code = "invalid_health_certificate"

    def __init__(self, reason: str, *, step: str = "decode") -> None:
        super().__init__(reason, field="qr")
        self.reason = reason
        self.step = step


class Base45Error(InvalidHealthCertificate):
    """Text that is not strict base45 (RFC 9285): a foreign character, a bad length or an overflow."""

    code = "invalid_base45"

    def __init__(self, reason: str) -> None:
        super().__init__(reason, step="b45decode")


class TrustListError(InvalidInput):
    """A trust list or signer certificate file that cannot be read as the documented format."""

    code = "invalid_trust_list"


class BatchRejected(InvalidInput):
    """An uploaded batch refused as a whole; nothing from it was stored."""

    code = "batch_rejected"

    def __init__(self, errors: Sequence[FieldError]) -> None:
        shown = "; ".join(e.render() for e in list(errors)[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"batch refused, nothing stored: {shown}{more}")
        self.errors = list(errors)


class ImportRejected(InvalidInput):
    """An import refused as a whole; nothing from the file was stored."""

    code = "import_rejected"

    def __init__(self, path: str, errors: Sequence[FieldError], total_errors: int) -> None:
        first = errors[0].render() if errors else "unknown problem"
        more = f" ({total_errors - 1} more problems)" if total_errors > 1 else ""
        super().__init__(f"{path}: {first}{more}; nothing was stored")
        self.path = path
        self.errors = list(errors)
        self.total_errors = total_errors


class WrongPassphrase(InvalidInput):
    """A backup that the passphrase does not open: a wrong passphrase, or not a chaincut backup."""

    code = "wrong_passphrase"


class BackupDamaged(InvalidInput):
    """A backup file that fails authentication: truncated, reordered or altered; nothing was restored."""

    code = "backup_damaged"
