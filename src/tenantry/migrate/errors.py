"""Errors of ``tenantize``: each one carries a message meant for a person, not a traceback."""

from __future__ import annotations

from tenantry.errors import TenantryError


class TenantizeError(TenantryError):
    """Base of the errors that stop a conversion; the CLI prints the message and exits 1."""

    code = "tenantize_error"


class MappingError(TenantizeError):
    """The mapping file is unreadable, incomplete or contradicts the database."""

    code = "mapping_error"


class ProblemsFound(TenantizeError):
    """The dry run found data problems the mapping has no policy for."""

    code = "problems_found"


class StuckConversion(TenantizeError):
    """A step cannot finish on the database as it now is: re-running will not help, the
    backup is the way out. The run records it, so the dry run's status says so."""

    code = "stuck_conversion"


class VerificationFailed(TenantizeError):
    """A check after the conversion failed; the backup is the way back."""

    code = "verification_failed"
